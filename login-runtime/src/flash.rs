//! Flashed messages: a small store in the session, so the login message reaches the login page.
//!
//! The store is bounded: a message already waiting is not queued again, and at most
//! [`MAX_FLASHES`] wait (the oldest are dropped). A refused request whose session is empty (a
//! client that sent no session cookie) stores nothing on the server: the login message is named
//! in a short-lived cookie (`login_message=unauthorized` or `=reauthentication_required`, five
//! minutes, `HttpOnly`), which [`FlashMessages`] turns back into the configured message and
//! clears.

use std::future::{Ready, ready};

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};

use actix_web::cookie::{Cookie, SameSite, time};

use crate::error::LoginError;
use crate::manager::LoginManager;

pub(crate) const FLASH_KEY: &str = "_flashes";

/// The cookie that names the login or needs-refresh message for the login view when the
/// refused request had no session to flash it into.
pub(crate) const MESSAGE_COOKIE: &str = "login_message";

/// The cookie naming the message of refusal `kind`; cleared by [`FlashMessages`].
pub(crate) fn message_cookie(kind: &str, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::new(MESSAGE_COOKIE, kind.to_owned());
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_secure(secure);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::minutes(5));
    cookie
}

/// The removal of [`message_cookie`].
pub(crate) fn message_cookie_removal() -> Cookie<'static> {
    let mut cookie = Cookie::new(MESSAGE_COOKIE, "");
    cookie.set_path("/");
    cookie.make_removal();
    cookie
}

/// The most messages waiting in a session; flashing another drops the oldest.
pub const MAX_FLASHES: usize = 8;

/// One flashed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashMessage {
    /// The category (`message`, `info`, `error`, ...).
    pub category: String,
    /// The text.
    pub message: String,
}

/// Stores a message for the next page the user sees (Flask's `flash`). A message already
/// waiting is not queued twice, and at most [`MAX_FLASHES`] wait: the oldest are dropped.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, http::header};
/// use login_runtime::{flash, logout_user};
///
/// async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
///     logout_user(&req)?;
///     flash(&req, "You have been logged out.", "info")?;
///     Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, "/")).finish())
/// }
/// ```
pub fn flash(req: &HttpRequest, message: impl Into<String>, category: impl Into<String>) -> Result<(), LoginError> {
    let session = req.get_session();
    let mut messages: Vec<FlashMessage> = session.get(FLASH_KEY).ok().flatten().unwrap_or_default();
    let message = FlashMessage { category: category.into(), message: message.into() };
    #[cfg(feature = "test-client")]
    crate::test::flashed(req, &message);
    if messages.contains(&message) {
        return Ok(());
    }
    messages.push(message);
    let excess = messages.len().saturating_sub(MAX_FLASHES);
    messages.drain(..excess);
    session.insert(FLASH_KEY, messages).map_err(|e| LoginError::Session(e.to_string()))
}

/// The flashed messages, taken out of the session (Flask's `get_flashed_messages`): they are
/// shown once. On the login (or refresh) view, they include the configured login (or
/// needs-refresh) message when the refused request had no session to flash it into.
///
/// ```
/// use login_runtime::FlashMessages;
///
/// async fn login_page(flashes: FlashMessages) -> String {
///     flashes.iter().map(|f| format!("[{}] {}\n", f.category, f.message)).collect()
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashMessages(Vec<FlashMessage>);

impl FlashMessages {
    /// The messages, oldest first.
    pub fn iter(&self) -> std::slice::Iter<'_, FlashMessage> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages, as a vector.
    pub fn into_inner(self) -> Vec<FlashMessage> {
        self.0
    }

    /// Takes the messages out of the session, and adds the login message the message cookie
    /// names (then cleared by the login middleware).
    pub fn take(req: &HttpRequest) -> Self {
        let session = req.get_session();
        #[cfg(feature = "test-client")]
        crate::test::flashes_taken(req);
        let mut messages = match session.contains_key(FLASH_KEY).then(|| session.remove_as(FLASH_KEY)).flatten() {
            Some(Ok(messages)) => messages,
            _ => Vec::new(),
        };
        if let Some(message) = message_from_cookie(req)
            && !messages.contains(&message)
        {
            messages.push(message);
        }
        Self(messages)
    }
}

/// The configured message the message cookie names, translated: only the configuration's
/// text, never the cookie's.
fn message_from_cookie(req: &HttpRequest) -> Option<FlashMessage> {
    let cookie = req.cookie(MESSAGE_COOKIE)?;
    crate::state::with_state(req, |state| state.clear_message_cookie = true);
    let kind = cookie.value();
    let settings = LoginManager::from_request(req).ok()?.settings();
    let message = match kind {
        "unauthorized" => settings.login_message.as_ref(),
        "reauthentication_required" => settings.refresh_message.as_ref(),
        _ => None,
    }?;
    let text = match &settings.translator {
        Some(translate) => translate(&message.text, req),
        None => message.text.clone(),
    };
    Some(FlashMessage { category: message.category.clone(), message: text })
}

impl<'a> IntoIterator for &'a FlashMessages {
    type Item = &'a FlashMessage;
    type IntoIter = std::slice::Iter<'a, FlashMessage>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromRequest for FlashMessages {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::take(req)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_store_keeps_one_copy_of_each_message_and_the_newest_few() {
        let req = TestRequest::default().to_http_request();
        for _ in 0..3 {
            flash(&req, "once", "info").unwrap();
        }
        for i in 0..2 * MAX_FLASHES {
            flash(&req, format!("message {i}"), "info").unwrap();
        }
        let kept: Vec<String> = FlashMessages::take(&req).into_inner().into_iter().map(|f| f.message).collect();
        let newest: Vec<String> = (MAX_FLASHES..2 * MAX_FLASHES).map(|i| format!("message {i}")).collect();
        assert_eq!(kept, newest);
    }
}
