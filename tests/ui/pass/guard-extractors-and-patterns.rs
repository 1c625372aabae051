// Parameter patterns survive the guard, and a handler may take the full 16 extractors.
use actix_web::{web, HttpRequest, HttpResponse};
use login_runtime::{fresh_login_required, login_required};

#[derive(serde::Deserialize)]
struct Query {
    page: u32,
}

#[login_required]
async fn patterns(
    mut req: HttpRequest,
    web::Json((user, post)): web::Json<(String, u32)>,
    web::Query(Query { page }): web::Query<Query>,
    _: web::Data<u8>,
    (a, b): (HttpRequest, web::Data<u16>),
) -> HttpResponse {
    req = a;
    let _ = (req, user, post, page, b);
    HttpResponse::Ok().finish()
}

#[fresh_login_required]
async fn sixteen(
    _a1: HttpRequest, _a2: HttpRequest, _a3: HttpRequest, _a4: HttpRequest,
    _a5: HttpRequest, _a6: HttpRequest, _a7: HttpRequest, _a8: HttpRequest,
    _a9: HttpRequest, _a10: HttpRequest, _a11: HttpRequest, _a12: HttpRequest,
    _a13: HttpRequest, _a14: HttpRequest, _a15: HttpRequest, _a16: HttpRequest,
) -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _app = actix_web::App::new()
        .route("/{user}/{post}", web::get().to(patterns))
        .route("/sixteen", web::get().to(sixteen));
}
