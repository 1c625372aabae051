//! Rendering pages with minijinja. Every page gets `current_user` (login-runtime's
//! `CurrentUser` serializes for templates, like Flask-Login's context processor), the flashed
//! messages and the CSRF token; the templates are in `templates/`, compiled into the binary.

use actix_session::SessionExt;
use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use login_runtime::{CurrentUser, FlashMessages};
use minijinja::{Environment, Value, context};

use crate::users::User;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("login.html", include_str!("templates/login.html")),
    ("settings.html", include_str!("templates/settings.html")),
    ("change_password.html", include_str!("templates/change_password.html")),
    ("reauth.html", include_str!("templates/reauth.html")),
    ("devices.html", include_str!("templates/devices.html")),
    ("error.html", include_str!("templates/error.html")),
    ("admin.html", include_str!("templates/admin.html")),
];

pub const STYLE: &str = include_str!("templates/style.css");

/// The templates, parsed once (HTML-escaping every `{{ value }}`, by the `.html` names).
fn env() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("the quickstart's templates parse");
        }
        env
    })
}

/// Renders template `name` with `ctx` plus what every page sees: `current_user`, `flashes`
/// (taken: shown once) and `csrf_token`.
pub async fn render(req: &HttpRequest, name: &str, ctx: Value) -> actix_web::Result<HttpResponse> {
    render_with_status(req, StatusCode::OK, name, ctx).await
}

pub async fn render_with_status(
    req: &HttpRequest,
    status: StatusCode,
    name: &str,
    ctx: Value,
) -> actix_web::Result<HttpResponse> {
    let current_user = CurrentUser::<User>::extract(req).await?;
    let flashes = FlashMessages::extract(req).await?;
    let csrf_token = crate::csrf::token(&req.get_session())?;
    let html = env()
        .get_template(name)
        .and_then(|t| {
            t.render(context! { current_user, flashes => flashes.iter().collect::<Vec<_>>(), csrf_token, ..ctx })
        })
        .map_err(|error| {
            tracing::error!(%error, "template {name}");
            actix_web::error::ErrorInternalServerError("template error")
        })?;
    Ok(HttpResponse::build(status).content_type(ContentType::html()).body(html))
}

/// The 404 page (the app's default service).
pub async fn not_found(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let ctx = context! { title => "Page not found", message => "There is no page at this address." };
    render_with_status(&req, StatusCode::NOT_FOUND, "error.html", ctx).await
}

/// A friendly page for the errors that handlers return as plain text (a refused form, a bad
/// request, a server error): the status stays, the body becomes the error page. JSON answers
/// (the API's) and pages already rendered (`/forbidden`) are left alone.
pub fn error_page(res: ServiceResponse<BoxBody>) -> actix_web::Result<ErrorHandlerResponse<BoxBody>> {
    let content_type = res.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes).unwrap_or_default();
    if content_type.starts_with(b"application/json") || content_type.starts_with(b"text/html") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (title, message) = match status {
        StatusCode::FORBIDDEN => {
            ("Form refused", "The form expired or came from another site. Go back, reload the page and try again.")
        }
        StatusCode::BAD_REQUEST => ("Bad request", "The form was incomplete or malformed."),
        _ => ("Something went wrong", "The server could not answer this request. Please try again later."),
    };
    // Rendered without the session (the error may be the session's): anonymous header.
    let ctx = context! { title, message, current_user => context! { is_authenticated => false }, flashes => Vec::<()>::new() };
    let html = env().get_template("error.html").and_then(|t| t.render(ctx)).unwrap_or_else(|_| message.to_owned());
    let (req, mut res) = res.into_parts();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    let res = res.set_body(html).map_into_boxed_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, res).map_into_right_body()))
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar;
/// Howard Hinnant's days-to-civil algorithm).
pub fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3_600, rest % 3_600 / 60)
}

/// A browser and an operating system, in words, from a `User-Agent` (the common ones; the
/// order matters, as Edge says "Chrome" and Chrome says "Safari").
pub fn describe_agent(agent: Option<&str>) -> (&'static str, &'static str) {
    let Some(agent) = agent else { return ("Unknown browser", "an unknown system") };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Chrome (headless)"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map_or("Unknown browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| agent.contains(needle))
    .map_or("an unknown system", |(_, name)| name);
    (browser, os)
}

#[cfg(test)]
mod tests {
    use super::{describe_agent, utc};

    #[test]
    fn formats_unix_times_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_282_618), "2026-12-03 07:23 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59 UTC");
    }

    #[test]
    fn names_browsers_and_systems() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(describe_agent(Some(chrome)), ("Chrome", "Linux"));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(describe_agent(Some(edge)), ("Edge", "Windows"));
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(Some(iphone)), ("Safari", "iOS"));
        assert_eq!(describe_agent(Some("Firefox/1 (Android 14)")), ("Firefox", "Android"));
        assert_eq!(describe_agent(None), ("Unknown browser", "an unknown system"));
    }
}
