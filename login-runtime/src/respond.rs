//! What anonymous users (and users whose login is not fresh) get: Flask-Login's
//! `unauthorized()` and `needs_refresh()`, answered in the form the client understands.

use actix_session::SessionExt;
use actix_web::body::BoxBody;
use actix_web::error::InternalError;
use std::borrow::Cow;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::events::{LoginEventKind, emit};
use crate::flash::{flash, message_cookie};
use crate::manager::{LoginManager, Message};
use crate::reason::{self, LogoutReason};
use crate::url::{is_safe_next, login_url, make_next_param};

/// Which refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unauthorized,
    NeedsRefresh,
}

/// What kind of client asked, which decides the form of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    Browser,
    Json,
    Htmx,
}

/// Header names as constants: a lookup by a string parses (and may allocate) the name each time.
const HX_REQUEST: HeaderName = HeaderName::from_static("hx-request");
pub(crate) const HX_REDIRECT: HeaderName = HeaderName::from_static("hx-redirect");
const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

#[inline]
pub(crate) fn client(req: &HttpRequest) -> Client {
    let headers = req.headers();
    if headers.contains_key(HX_REQUEST) {
        return Client::Htmx;
    }
    let xhr = headers.get(X_REQUESTED_WITH).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    if xhr || wants_json { Client::Json } else { Client::Browser }
}

/// The page to come back to after logging in: path and query, or in full when the view is on
/// another host.
///
/// For `GET` and `HEAD`, the page asked for. Any other method cannot be replayed by a
/// redirect (the browser would `GET` a path that may only take a `POST`): the page the form
/// was on, when the `Referer` names a page of this site (and `Origin`, if sent, is this
/// site), else none, and the login view's own default applies.
///
/// The scheme and host are the configured or trusted ones ([`crate::proxy::origin`]), never a
/// `Forwarded` or `X-Forwarded-Host` header no trusted proxy set.
fn return_to(req: &HttpRequest, manager: &LoginManager, view: &str) -> Option<String> {
    let (scheme, host) = crate::proxy::origin(req, manager.settings());
    let origin = format!("{scheme}://{host}");
    let path = if matches!(*req.method(), Method::GET | Method::HEAD) {
        req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned()
    } else {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        if header(header::ORIGIN).is_some_and(|o| o != origin) {
            return None;
        }
        let path = header(header::REFERER)?.strip_prefix(origin.as_str())?;
        let path = path.split('#').next().unwrap_or_default();
        if !path.starts_with('/') || !is_safe_next(path) {
            return None;
        }
        path.to_owned()
    };
    if view.starts_with('/') && !view.starts_with("//") { Some(path) } else { Some(origin + &path) }
}

/// Answers this request the way [`#[login_required]`](macro@crate::login_required) answers an
/// anonymous user (Flask-Login's `login_manager.unauthorized()`): the
/// [`Unauthorized`](crate::LoginEventKind::Unauthorized) event, then the
/// [custom handler](LoginManager::unauthorized_handler)'s response, or the login message
/// flashed and a redirect to the login view with `next` (a JSON 401 or `HX-Redirect` for the
/// clients that want those), or a 401.
///
/// Return it as the error of a handler or an extractor. In a middleware, answer with its
/// response, `Ok(req.error_response(unauthorized(req.request())))`: an `Err` leaving a
/// middleware skips actix-session's save, and the flashed message with it. Without a login
/// manager installed, it is that configuration error (a 500).
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use login_runtime::{AuthUser, CurrentUser, unauthorized};
///
/// #[derive(AuthUser)]
/// struct User { id: u64, admin: bool }
///
/// async fn admin(req: HttpRequest, user: CurrentUser<User>) -> actix_web::Result<HttpResponse> {
///     match user.authenticated() {
///         Some(user) if user.admin => Ok(HttpResponse::Ok().body("admin")),
///         _ => Err(unauthorized(&req)),
///     }
/// }
/// ```
pub fn unauthorized(req: &HttpRequest) -> actix_web::Error {
    refusal(req, Refusal::Unauthorized)
}

/// Answers this request the way [`#[fresh_login_required]`](macro@crate::fresh_login_required)
/// answers a login that is not fresh (Flask-Login's `login_manager.needs_refresh()`): the
/// [`NeedsRefresh`](crate::LoginEventKind::NeedsRefresh) event, then the
/// [custom handler](LoginManager::needs_refresh_handler)'s response, or a redirect to the
/// [refresh view](LoginManager::refresh_view), or a 401. Use it as [`unauthorized`].
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use login_runtime::{login_fresh, needs_refresh};
///
/// async fn change_email(req: HttpRequest) -> actix_web::Result<HttpResponse> {
///     if !login_fresh(&req).await {
///         return Err(needs_refresh(&req));
///     }
///     Ok(HttpResponse::Ok().body("email changed"))
/// }
/// ```
pub fn needs_refresh(req: &HttpRequest) -> actix_web::Error {
    refusal(req, Refusal::NeedsRefresh)
}

fn refusal(req: &HttpRequest, refusal: Refusal) -> actix_web::Error {
    match LoginManager::from_request(req) {
        Ok(manager) => refuse(req, manager, refusal),
        Err(error) => error.into(),
    }
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
    let text: Option<Cow<'_, str>> = message.as_ref().map(|Message { text, .. }| match &settings.translator {
        Some(translate) => Cow::Owned(translate(text, req)),
        None => Cow::Borrowed(text.as_str()),
    });

    // Why an earlier login ended, for JSON clients, the ones whose answer says it (the login
    // page reads it with `logout_reason`).
    let reason = (client == Client::Json && refusal == Refusal::Unauthorized)
        .then(|| reason::peek(&req.get_session()))
        .flatten();
    let Some(view) = view else {
        let plain = match (&text, message) {
            (Some(Cow::Borrowed(_)), Some(message)) => message.body.clone(),
            (Some(text), _) => Bytes::copy_from_slice(text.as_bytes()),
            (None, _) => Bytes::from_static(b"Unauthorized"),
        };
        let response = status_401(manager, client, kind, text.as_deref(), plain, None, reason);
        return InternalError::from_response(kind, response).into();
    };

    // A request without a session (no cookie, or nothing in it) makes the server store
    // nothing: the message is named in a short-lived cookie instead, and `next` stays in the
    // query.
    let stateless = req.get_session().entries().is_empty();
    let mut flag = false;
    if let (Client::Browser | Client::Htmx, Some(text), Some(Message { category, .. })) = (client, &text, message) {
        if stateless {
            flag = true;
            #[cfg(feature = "test-client")]
            crate::test::flashed(req, &crate::FlashMessage { category: category.clone(), message: text.to_string() });
        } else if let Err(error) = flash(req, text.to_string(), category.clone()) {
            tracing::error!(%error, "could not flash the login message");
        }
    }

    let current = return_to(req, manager, view);
    let target = match current {
        Some(current) if settings.use_session_for_next && !stateless => {
            if let Err(error) = req.get_session().insert(crate::login::NEXT_KEY, make_next_param(view, &current)) {
                tracing::error!(%error, "could not store `next` in the session");
            }
            view.clone()
        }
        current => login_url(view, current.as_deref(), &settings.next_field),
    };

    let mut response = match client {
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
            let mut res = status_401(manager, client, kind, None, Bytes::from_static(b"Unauthorized"), None, reason);
            if let Ok(value) = header::HeaderValue::from_str(&target) {
                res.headers_mut().insert(HX_REDIRECT, value);
            }
            res
        }
        Client::Json => status_401(manager, client, kind, text.as_deref(), Bytes::new(), Some(&target), reason),
    };
    if flag {
        let secure = crate::proxy::origin(req, settings).0 == "https";
        if let Err(error) = response.add_cookie(&message_cookie(kind, secure)) {
            tracing::error!(%error, "could not set the login message cookie");
        }
    }
    InternalError::from_response(kind, response).into()
}

/// The 401 answer: JSON for JSON clients, else `plain` as text.
fn status_401(
    manager: &LoginManager,
    client: Client,
    kind: &str,
    message: Option<&str>,
    plain: Bytes,
    url: Option<&str>,
    reason: Option<LogoutReason>,
) -> HttpResponse {
    let mut res = if client == Client::Json {
        let mut body = serde_json::json!({ "error": kind });
        if let Some(message) = message {
            body["message"] = message.into();
        }
        if let Some(reason) = reason {
            body["reason"] = reason.as_str().into();
        }
        if let Some(url) = url {
            body[if kind == "unauthorized" { "login_url" } else { "refresh_url" }] = url.into();
        }
        HttpResponse::Unauthorized().json(body)
    } else {
        // Boxed as it is made: `map_into_boxed_body` would take the response apart again.
        let mut res = HttpResponse::with_body(StatusCode::UNAUTHORIZED, BoxBody::new(plain));
        res.headers_mut().insert(header::CONTENT_TYPE, TEXT_PLAIN);
        res
    };
    if let Some(challenge) = &manager.settings().www_authenticate {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, challenge.clone());
    }
    res
}

#[cfg(test)]
mod proptests {
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any Accept / HX-Request / X-Requested-With header: no panic, htmx exactly when
        /// `HX-Request` is present, JSON only when asked for without HTML.
        #[test]
        fn the_client_kind_follows_the_headers(
            accept in proptest::option::of("[ -~]{0,60}"),
            hx in proptest::option::of("[ -~]{0,10}"),
            xhr in proptest::option::of("[ -~]{0,20}"),
        ) {
            let mut req = TestRequest::default();
            for (name, value) in [("accept", &accept), ("hx-request", &hx), ("x-requested-with", &xhr)] {
                if let Some(value) = value {
                    req = req.insert_header((name, value.as_str()));
                }
            }
            let kind = client(&req.to_http_request());
            let wants_json = accept.as_deref().is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
            let is_xhr = xhr.as_deref().is_some_and(|x| x.eq_ignore_ascii_case("XMLHttpRequest"));
            if hx.is_some() {
                prop_assert_eq!(kind, Client::Htmx);
            } else if wants_json || is_xhr {
                prop_assert_eq!(kind, Client::Json);
            } else {
                prop_assert_eq!(kind, Client::Browser);
            }
        }
    }
}
