use actix_web::{web, App};
use login_runtime::login_required;

#[login_required]
fn index() -> &'static str {
    "hello"
}

fn main() {
    // The handler is still guarded (as if `async`): no second error here.
    let _app = App::new().route("/", web::get().to(index));
}
