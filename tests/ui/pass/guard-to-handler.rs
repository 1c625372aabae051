// Guarded handlers registered with `.to()`: generic, fallible, with attributes and `?`, and an
// inherent impl's associated function (`Self` in a parameter type).
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

struct Pages;

impl Pages {
    #[login_required]
    async fn index(title: web::Data<String>) -> String {
        Self::render(&title)
    }

    fn render(title: &str) -> String {
        format!("<h1>{title}</h1>")
    }
}

struct Counter;

impl Counter {
    #[login_required]
    async fn show(counter: web::Data<Self>) -> String {
        let _ = counter;
        String::new()
    }
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
        .route("/echo", web::post().to(nested::handler))
        .route("/", web::get().to(Pages::index))
        .route("/count", web::get().to(Counter::show));
}
