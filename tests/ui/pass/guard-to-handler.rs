// Guarded handlers registered with `.to()`: generic, fallible, with attributes and `?`.
use actix_web::{web, App, HttpResponse};
use login_runtime::login_required;

trait Greeting: 'static {
    const TEXT: &'static str;
}

struct Hello;

impl Greeting for Hello {
    const TEXT: &'static str = "hello";
}

#[login_required]
#[allow(clippy::unused_async)]
#[must_use = "handlers return responses"]
async fn greet<G: Greeting>(name: web::Path<String>) -> Result<HttpResponse, actix_web::Error> {
    let count: u32 = name.len().try_into().map_err(actix_web::error::ErrorBadRequest)?;
    if count == 0 {
        return Ok(HttpResponse::BadRequest().finish());
    }
    Ok(HttpResponse::Ok().body(format!("{} {name}", G::TEXT)))
}

mod nested {
    #[login_runtime::login_required]
    pub(crate) async fn handler(body: String) -> String {
        body
    }
}

fn main() {
    let _app = App::new()
        .route("/greet/{name}", web::get().to(greet::<Hello>))
        .route("/echo", web::post().to(nested::handler));
}
