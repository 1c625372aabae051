use actix_web::{web, App, HttpRequest};
use login_runtime::login_required;

struct Settings;

#[login_required]
async fn index(_req: HttpRequest, _settings: Settings) -> &'static str {
    "hello"
}

fn main() {
    let _app = App::new().route("/", web::get().to(index));
}
