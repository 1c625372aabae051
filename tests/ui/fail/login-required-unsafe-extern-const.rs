use actix_web::{web, App};
use login_runtime::login_required;

#[login_required]
async unsafe fn a() -> &'static str {
    "a"
}

#[login_required]
async extern "C" fn b() -> &'static str {
    "b"
}

#[login_required]
const async fn c() -> &'static str {
    "c"
}

fn main() {
    // Each mistake is reported once, on the handler: nothing more here.
    let _app = App::new().route("/a", web::get().to(a)).route("/b", web::get().to(b)).route("/c", web::get().to(c));
}
