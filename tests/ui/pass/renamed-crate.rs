// `crate = "..."` for a renamed dependency. Cargo refuses one package under two names, so the
// rename is made with `extern crate`, which puts `lr` in the extern prelude just as
// `lr = { package = "login-runtime" }` in Cargo.toml would.
extern crate login_runtime as lr;

use lr::{fresh_login_required, login_required, request_loader, user_loader, AuthUser};

#[derive(AuthUser)]
#[auth_user(crate = "lr")]
struct User {
    id: u64,
}

#[user_loader(crate = "lr")]
async fn load_user(id: u64) -> Option<User> {
    Some(User { id })
}

#[request_loader(crate = "::lr")]
async fn by_request(_req: actix_web::HttpRequest) -> Option<User> {
    None
}

#[login_required(crate = "lr")]
async fn guarded() -> &'static str {
    "ok"
}

#[fresh_login_required(crate = "lr", max_age = "1h")]
async fn fresh() -> &'static str {
    "ok"
}

// rustc suggests the unquoted form when a quoted path does not resolve: both are accepted.
#[login_required(crate = lr)]
async fn unquoted() -> &'static str {
    "ok"
}

#[fresh_login_required(max_age = 60, crate = ::lr)]
async fn unquoted_fresh() -> &'static str {
    "ok"
}

fn main() {
    let _ = lr::LoginManager::new(load_user).request_loader(by_request);
    let _app = actix_web::App::new()
        .route("/", actix_web::web::get().to(guarded))
        .route("/fresh", actix_web::web::get().to(fresh))
        .route("/unquoted", actix_web::web::get().to(unquoted))
        .route("/unquoted-fresh", actix_web::web::get().to(unquoted_fresh));
}
