//! The per-request login state: one value in the request's extensions, holding everything the
//! runtime learns or decides about the login during one request (the user once loaded, where
//! it came from, what the middleware must do at response time).
//!
//! Per-request cached data belongs here, as a field of [`RequestState`]: it is made on the
//! request's first look at the login, and dropped with the request.

use std::any::{Any, TypeId};
use std::rc::Rc;
use std::task::Waker;

use actix_session::SessionExt;
use actix_web::cookie::Cookie;
use actix_web::{HttpMessage, HttpRequest};

use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::record::LoginRecord;
use crate::registry::RegistryOp;
use crate::user::SharedUser;

/// Where this request's user came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Session,
    Remember,
    Request,
}

pub(crate) enum Slot {
    Unresolved,
    Loading(Vec<Waker>),
    Ready(Option<SharedUser>),
    Failed(LoginError),
}

/// What the login middleware does to the remember cookie at response time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CookieOp {
    Set { value: String, lifetime: std::time::Duration },
    Clear,
}

/// A login that a test asked for (see [`crate::test`]), written into the session when the
/// request first looks at it.
pub(crate) struct TestLogin {
    pub(crate) user_id: String,
    pub(crate) hash: Option<u64>,
    pub(crate) fresh: bool,
}

/// Per-request login state, kept in the request's extensions.
pub(crate) struct RequestState {
    pub(crate) slot: Slot,
    /// The login record in force for this request, if the user came from the session.
    pub(crate) record: Option<LoginRecord>,
    pub(crate) source: Option<Source>,
    /// `login_user` ran: the middleware checks that the session middleware saved it.
    pub(crate) wrote_login: bool,
    pub(crate) cookie: Option<CookieOp>,
    pub(crate) test_login: Option<Box<TestLogin>>,
    /// Changes to the login registry, made by the middleware once the handler is done.
    pub(crate) registry: Vec<RegistryOp>,
    /// `logout_user` ended the session's login, which stays in the session until the registry
    /// has removed it: it is no login for the rest of this request.
    pub(crate) logged_out: bool,
    /// [`FlashMessages`](crate::FlashMessages) read the login message cookie: clear it.
    pub(crate) clear_message_cookie: bool,
    /// The permission sets loaded for this request (`HashSet<P>`), by permission type: each
    /// permission loader runs at most once per request.
    pub(crate) permissions: Vec<(TypeId, Rc<dyn Any>)>,
}

impl RequestState {
    pub(crate) fn new() -> Self {
        Self {
            slot: Slot::Unresolved,
            record: None,
            source: None,
            wrote_login: false,
            cookie: None,
            test_login: None,
            registry: Vec::new(),
            logged_out: false,
            clear_message_cookie: false,
            permissions: Vec::new(),
        }
    }
}

pub(crate) fn with_state<R>(req: &HttpRequest, f: impl FnOnce(&mut RequestState) -> R) -> R {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<RequestState>() {
        Some(state) => f(state),
        None => {
            let mut state = RequestState::new();
            let out = f(&mut state);
            ext.insert(state);
            out
        }
    }
}

pub(crate) type UserResult = Result<Option<SharedUser>, LoginError>;

/// The remember cookie this request carried, if remember-me is on.
pub(crate) fn remember_cookie(req: &HttpRequest, manager: &LoginManager) -> Option<Cookie<'static>> {
    manager.settings().remember.as_ref().and_then(|r| req.cookie(&r.name))
}

/// The login in force for this request, as the session has it now (none once logged out), and
/// its user id.
pub(crate) fn current_record(req: &HttpRequest) -> Option<(LoginRecord, String)> {
    if req.extensions().get::<RequestState>().is_some_and(|state| state.logged_out) {
        return None;
    }
    LoginRecord::read(&req.get_session())
}
