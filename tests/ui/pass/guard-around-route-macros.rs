// A guard works above and below actix's route macros, keeping their attributes, the
// handler's docs, visibility and return type.
use actix_web::{get, post, route, web, App, HttpRequest, HttpResponse, Responder};
use login_runtime::{fresh_login_required, login_required, AuthUser, Authenticated};

#[derive(AuthUser)]
struct User {
    id: u64,
}

/// Above `#[get]`.
#[login_required]
#[get("/above")]
async fn above(req: HttpRequest) -> impl Responder {
    HttpResponse::Ok().body(req.path().to_owned())
}

/// Below `#[get]`.
#[get("/below")]
#[login_required]
pub async fn below(user: Authenticated<User>) -> String {
    user.get_id().unwrap_or_default()
}

#[fresh_login_required(max_age = "15m")]
#[post("/fresh-above")]
pub(crate) async fn fresh_above(body: web::Bytes) -> actix_web::Result<HttpResponse> {
    Ok(HttpResponse::Ok().body(body))
}

#[route("/fresh-below", method = "GET", method = "POST")]
#[fresh_login_required(max_age = 300)]
async fn fresh_below() -> &'static str {
    "fresh"
}

#[get("/no-params")]
#[login_required(crate = "login_runtime")]
async fn no_params() -> impl Responder {
    "ok"
}

fn main() {
    let _app = App::new()
        .service(above)
        .service(below)
        .service(fresh_above)
        .service(fresh_below)
        .service(no_params);
}
