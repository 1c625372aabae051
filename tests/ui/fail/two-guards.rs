use actix_web::{get, web, App};
use login_runtime::{fresh_login_required, login_required};

#[login_required]
#[get("/")]
#[login_runtime::fresh_login_required]
async fn index() -> &'static str {
    "hello"
}

#[fresh_login_required(max_age = 60)]
#[login_required]
async fn other() -> &'static str {
    "hello"
}

fn main() {
    let _app = App::new().service(index).route("/other", web::get().to(other));
}
