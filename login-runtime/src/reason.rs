//! Why a login ended without the user logging out, so that the login page can say so ("You
//! were logged out from another device", "Your session expired").

use actix_session::{Session, SessionExt};
use actix_web::HttpRequest;

/// The session key of the reason, until the login page reads it or the user logs in again.
pub(crate) const REASON_KEY: &str = "_why";

/// Why the login of this browser ended, other than by logging out here: read it on the login
/// page with [`logout_reason`]. Unauthorized answers to JSON clients carry it as `"reason"`
/// ([`as_str`](LogoutReason::as_str)).
///
/// Flask-Login has no such thing: there a login that ended elsewhere only ever looks like
/// "Please log in".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogoutReason {
    /// The login was ended from elsewhere: [`revoke_login`](crate::revoke_login),
    /// [`revoke_other_logins`](crate::revoke_other_logins), or a logout in another browser
    /// holding a copy of this login (needs a [login registry](crate::LoginManager::login_registry)).
    Revoked,
    /// The user's [session hash](crate::AuthUser::session_hash) changed: a password change,
    /// or "log out everywhere".
    SessionHashChanged,
    /// The user loader no longer finds the user (a deleted account).
    UserGone,
    /// [Strong session protection](crate::SessionProtection::Strong): the login was used from
    /// another client.
    SessionProtection,
    /// No request for longer than the [idle timeout](crate::LoginManager::idle_timeout) (or
    /// for 30 days, with a login registry).
    IdleTimeout,
    /// The login is older than the [absolute timeout](crate::LoginManager::absolute_timeout).
    AbsoluteTimeout,
}

impl LogoutReason {
    /// A stable, machine-readable name: `revoked`, `session_hash_changed`, `user_gone`,
    /// `session_protection`, `idle_timeout`, `absolute_timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::SessionHashChanged => "session_hash_changed",
            Self::UserGone => "user_gone",
            Self::SessionProtection => "session_protection",
            Self::IdleTimeout => "idle_timeout",
            Self::AbsoluteTimeout => "absolute_timeout",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Revoked,
            Self::SessionHashChanged,
            Self::UserGone,
            Self::SessionProtection,
            Self::IdleTimeout,
            Self::AbsoluteTimeout,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// An English sentence for the user, e.g. "You were logged out from another device."
impl std::fmt::Display for LogoutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Revoked => "You were logged out from another device.",
            Self::SessionHashChanged => "Your password or security settings changed: please log in again.",
            Self::UserGone => "Your account is no longer available.",
            Self::SessionProtection => "You were logged out because your session was used from another device.",
            Self::IdleTimeout => "Your session expired after a period of inactivity.",
            Self::AbsoluteTimeout => "Your session expired: please log in again.",
        })
    }
}

/// Why this browser's login ended, if it ended without a logout here (timeouts, revocation,
/// a password change, session protection) and the user has not logged in since. The reason is
/// shown once: this takes it out of the session.
///
/// ```
/// use actix_web::HttpRequest;
/// use login_runtime::{FlashMessages, logout_reason};
///
/// async fn login_page(req: HttpRequest, flashes: FlashMessages) -> String {
///     let mut page = String::new();
///     if let Some(reason) = logout_reason(&req) {
///         page += &format!("<p class=\"warning\">{reason}</p>");
///     }
///     for message in flashes.iter() {
///         page += &format!("<p class=\"{}\">{}</p>", message.category, message.message);
///     }
///     page + "<form method=\"post\">...</form>"
/// }
/// ```
pub fn logout_reason(req: &HttpRequest) -> Option<LogoutReason> {
    let session = req.get_session();
    if !session.contains_key(REASON_KEY) {
        return None;
    }
    let name = session.remove_as::<String>(REASON_KEY)?.ok()?;
    LogoutReason::parse(&name)
}

/// The reason kept in the session, left there.
pub(crate) fn peek(session: &Session) -> Option<LogoutReason> {
    LogoutReason::parse(&session.get::<String>(REASON_KEY).ok()??)
}

/// Keeps `reason` for the login page.
pub(crate) fn record(session: &Session, reason: LogoutReason) {
    if let Err(error) = session.insert(REASON_KEY, reason.as_str()) {
        tracing::warn!(%error, "could not keep why the login ended");
    }
}

/// Forgets the reason: the user is logged in again.
pub(crate) fn forget(session: &Session) {
    if session.contains_key(REASON_KEY) {
        session.remove(REASON_KEY);
    }
}
