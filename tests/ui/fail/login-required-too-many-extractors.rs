use actix_web::HttpRequest;
use login_runtime::login_required;

#[login_required]
async fn index(
    _a1: HttpRequest, _a2: HttpRequest, _a3: HttpRequest, _a4: HttpRequest,
    _a5: HttpRequest, _a6: HttpRequest, _a7: HttpRequest, _a8: HttpRequest,
    _a9: HttpRequest, _a10: HttpRequest, _a11: HttpRequest, _a12: HttpRequest,
    _a13: HttpRequest, _a14: HttpRequest, _a15: HttpRequest, _a16: HttpRequest,
    _a17: HttpRequest,
) -> &'static str {
    "hello"
}

fn main() {}
