//! Typed hooks for Flask-Login's nine signals.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix_web::HttpRequest;

use crate::user::{AuthUser, SharedUser, downcast};

/// Which event happened (Flask-Login's signals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginEventKind {
    /// [`login_user`](crate::login_user) logged a user in (`user_logged_in`).
    LoggedIn,
    /// [`logout_user`](crate::logout_user) ended a login (`user_logged_out`).
    LoggedOut,
    /// A user was logged back in from the remember cookie (`user_loaded_from_cookie`).
    LoadedFromCookie,
    /// The request loader identified a user (`user_loaded_from_request`).
    LoadedFromRequest,
    /// [`confirm_login`](crate::confirm_login) made a login fresh (`user_login_confirmed`).
    LoginConfirmed,
    /// An anonymous user was refused (`user_unauthorized`).
    Unauthorized,
    /// A user whose login is not fresh was refused (`user_needs_refresh`).
    NeedsRefresh,
    /// A logged-in user was refused for lacking a permission ([`forbidden`](crate::forbidden)).
    Forbidden,
    /// The current user was looked up for this request (`user_accessed`).
    Accessed,
    /// Session protection saw the session move to another client (`session_protected`).
    SessionProtected,
}

/// An event, with the user where Flask-Login passes one, and the request.
#[derive(Clone)]
pub struct LoginEvent {
    kind: LoginEventKind,
    user: Option<SharedUser>,
    user_id: Option<String>,
    request: HttpRequest,
}

impl std::fmt::Debug for LoginEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginEvent").field("kind", &self.kind).field("user_id", &self.user_id).finish_non_exhaustive()
    }
}

impl LoginEvent {
    /// Which event this is.
    pub fn kind(&self) -> LoginEventKind {
        self.kind
    }

    /// The user's id, where the event concerns a user.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The user, if the event carries one and it is a `U`.
    pub fn user<U: AuthUser>(&self) -> Option<Rc<U>> {
        self.user.as_ref().and_then(downcast::<U>)
    }

    /// The request the event happened in (for the client address, the user agent...).
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }
}

pub(crate) type Hook = Arc<dyn Fn(LoginEvent) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

pub(crate) fn hook<F, Fut>(f: F) -> Hook
where
    F: Fn(LoginEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Arc::new(move |event| Box::pin(f(event)))
}

/// Runs the hooks: each runs at once up to its first wait, and the rest of it (if any) is
/// spawned on the worker, so a hook that only records something is done before the response.
#[inline]
pub(crate) fn emit(
    hooks: &[Hook],
    req: &HttpRequest,
    kind: LoginEventKind,
    user: Option<&SharedUser>,
    user_id: Option<String>,
) {
    if !hooks.is_empty() {
        emit_to(hooks, req, kind, user, user_id);
    }
}

#[inline(never)]
fn emit_to(
    hooks: &[Hook],
    req: &HttpRequest,
    kind: LoginEventKind,
    user: Option<&SharedUser>,
    user_id: Option<String>,
) {
    let user_id = user_id.or_else(|| user.and_then(|u| u.get_id()));
    tracing::debug!(event = ?kind, user_id = user_id.as_deref(), "login event");
    let event = LoginEvent { kind, user: user.cloned(), user_id, request: req.clone() };
    for hook in hooks {
        let mut fut = hook(event.clone());
        if fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) == Poll::Pending {
            actix_web::rt::spawn(fut);
        }
    }
}
