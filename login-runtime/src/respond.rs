//! What anonymous users (and users whose login is not fresh) get: Flask-Login's
//! `unauthorized()` and `needs_refresh()`, answered in the form the client understands.

use actix_session::SessionExt;
use actix_web::error::InternalError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};

use crate::events::{LoginEventKind, emit};
use crate::flash::flash;
use crate::manager::{LoginManager, Message};
use crate::url::{login_url, make_next_param};

/// Which refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unauthorized,
    NeedsRefresh,
}

/// What kind of client asked, which decides the form of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Browser,
    Json,
    Htmx,
}

fn client(req: &HttpRequest) -> Client {
    let headers = req.headers();
    if headers.contains_key("hx-request") {
        return Client::Htmx;
    }
    let xhr = headers.get("x-requested-with").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    if xhr || wants_json { Client::Json } else { Client::Browser }
}

/// The current URL: path and query, or in full when the view is on another host.
fn current_url(req: &HttpRequest, view: &str) -> String {
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    if view.starts_with('/') && !view.starts_with("//") {
        return path.to_owned();
    }
    let info = req.connection_info();
    format!("{}://{}{}", info.scheme(), info.host(), path)
}

/// Builds the refusal as an error whose response is ready.
pub(crate) fn refuse(req: &HttpRequest, manager: &LoginManager, refusal: Refusal) -> actix_web::Error {
    let settings = manager.settings();
    let (handler, view, message, kind) = match refusal {
        Refusal::Unauthorized => {
            (&settings.unauthorized_handler, &settings.login_view, &settings.login_message, "unauthorized")
        }
        Refusal::NeedsRefresh => {
            (&settings.refresh_handler, &settings.refresh_view, &settings.refresh_message, "reauthentication_required")
        }
    };
    let event = match refusal {
        Refusal::Unauthorized => LoginEventKind::Unauthorized,
        Refusal::NeedsRefresh => LoginEventKind::NeedsRefresh,
    };
    emit(&settings.hooks, req, event, None, None);
    if let Some(handler) = handler {
        return InternalError::from_response(kind, handler(req)).into();
    }
    let client = client(req);
    let text = message.as_ref().map(|Message { text, .. }| match &settings.translator {
        Some(translate) => translate(text, req),
        None => text.clone(),
    });

    let Some(view) = view else {
        return InternalError::from_response(kind, status_401(manager, client, kind, text.as_deref(), None)).into();
    };

    if let (Client::Browser | Client::Htmx, Some(text), Some(Message { category, .. })) = (client, &text, message)
        && let Err(error) = flash(req, text.clone(), category.clone())
    {
        tracing::error!(%error, "could not flash the login message");
    }

    let current = current_url(req, view);
    let target = if settings.use_session_for_next {
        if let Err(error) = req.get_session().insert(crate::login::NEXT_KEY, make_next_param(view, &current)) {
            tracing::error!(%error, "could not store `next` in the session");
        }
        view.clone()
    } else {
        login_url(view, Some(&current), &settings.next_field)
    };

    let response = match client {
        Client::Browser => {
            // 303 turns a refused POST into a GET of the login page; 307 would re-send the body.
            let status = if matches!(*req.method(), Method::GET | Method::HEAD) {
                StatusCode::FOUND
            } else {
                StatusCode::SEE_OTHER
            };
            HttpResponse::build(status).insert_header((header::LOCATION, target)).finish()
        }
        Client::Htmx => {
            let mut res = status_401(manager, client, kind, None, None);
            if let Ok(value) = header::HeaderValue::from_str(&target) {
                res.headers_mut().insert(header::HeaderName::from_static("hx-redirect"), value);
            }
            res
        }
        Client::Json => status_401(manager, client, kind, text.as_deref(), Some(&target)),
    };
    InternalError::from_response(kind, response).into()
}

fn status_401(
    manager: &LoginManager,
    client: Client,
    kind: &str,
    message: Option<&str>,
    url: Option<&str>,
) -> HttpResponse {
    let mut res = HttpResponse::Unauthorized();
    if let Some(challenge) = &manager.settings().www_authenticate {
        res.insert_header((header::WWW_AUTHENTICATE, challenge.clone()));
    }
    if client == Client::Json {
        let mut body = serde_json::json!({ "error": kind });
        if let Some(message) = message {
            body["message"] = message.into();
        }
        if let Some(url) = url {
            body[if kind == "unauthorized" { "login_url" } else { "refresh_url" }] = url.into();
        }
        return res.json(body);
    }
    res.content_type("text/plain; charset=utf-8").body(message.unwrap_or("Unauthorized").to_owned())
}
