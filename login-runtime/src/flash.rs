//! Flashed messages: a small store in the session, so the login message reaches the login page.

use std::future::{Ready, ready};

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};

use crate::error::LoginError;

pub(crate) const FLASH_KEY: &str = "_flashes";

/// One flashed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashMessage {
    /// The category (`message`, `info`, `error`, ...).
    pub category: String,
    /// The text.
    pub message: String,
}

/// Stores a message for the next page the user sees (Flask's `flash`).
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
    messages.push(message);
    session.insert(FLASH_KEY, messages).map_err(|e| LoginError::Session(e.to_string()))
}

/// The flashed messages, taken out of the session (Flask's `get_flashed_messages`): they are
/// shown once.
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

    /// Takes the messages out of the session.
    pub fn take(req: &HttpRequest) -> Self {
        let session = req.get_session();
        #[cfg(feature = "test-client")]
        crate::test::flashes_taken(req);
        if !session.contains_key(FLASH_KEY) {
            return Self::default();
        }
        match session.remove_as::<Vec<FlashMessage>>(FLASH_KEY) {
            Some(Ok(messages)) => Self(messages),
            _ => Self::default(),
        }
    }
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
