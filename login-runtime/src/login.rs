//! Logging users in and out: Flask-Login's `login_user`, `logout_user`, `confirm_login`,
//! `login_fresh`, plus reading `next` back safely.

use actix_session::SessionExt;
use actix_web::HttpRequest;
use actix_web::web::Query;

use crate::AUTH_KEY;
use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::state::{LoginRecord, Slot, current_record, with_state};
use crate::url::is_safe_next;
use crate::user::AuthUser;

pub(crate) const NEXT_KEY: &str = "_next";

/// How [`login_user_with`] logs a user in (Flask's keyword arguments).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Log in even if the user is not active.
    pub force: bool,
    /// Mark the login fresh (the user just proved who they are). Default `true`.
    pub fresh: bool,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            force: false,
            fresh: true,
        }
    }
}

impl LoginOptions {
    /// The defaults: not forced, fresh.
    pub fn new() -> Self {
        Self::default()
    }

    /// Log in even an inactive user.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Whether the login counts as fresh.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }
}

/// Logs `user` in for this session, fresh, with the defaults of [`LoginOptions`].
///
/// The session id is renewed (a new session token on every login defeats session fixation);
/// the rest of the session is kept. An inactive user is refused with [`LoginError::Inactive`]
/// and nothing is written.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use login_runtime::{AuthUser, login_user};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// async fn login(req: HttpRequest) -> actix_web::Result<HttpResponse> {
///     let user = User { id: 1 }; // after checking the password
///     login_user(&req, &user)?;
///     Ok(HttpResponse::Ok().body("welcome"))
/// }
/// ```
pub fn login_user<U: AuthUser>(req: &HttpRequest, user: &U) -> Result<(), LoginError> {
    login_user_with(req, user, LoginOptions::default())
}

/// Logs `user` in with options (Flask's `login_user(user, force=..., fresh=...)`).
pub fn login_user_with<U: AuthUser>(
    req: &HttpRequest,
    user: &U,
    options: LoginOptions,
) -> Result<(), LoginError> {
    let manager = LoginManager::from_request(req)?;
    if !options.force && !user.is_active() {
        return Err(LoginError::Inactive);
    }
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let record = LoginRecord::new(user_id, user, manager.now(), options.fresh);
    let session = req.get_session();
    session.renew();
    record.write(&session)?;
    with_state(req, |state| {
        // The next extractor loads the new user through the loader.
        state.slot = Slot::Unresolved;
        state.record = Some(record);
        state.wrote_login = true;
    });
    tracing::debug!(user_id = user.get_id(), "user logged in");
    Ok(())
}

/// Logs the current user out: removes the login from the session and renews its id. Other
/// session data (a flash message written right after, a cart) is kept. Safe to call when
/// nobody is logged in.
pub fn logout_user(req: &HttpRequest) -> Result<(), LoginError> {
    LoginManager::from_request(req)?;
    let session = req.get_session();
    if session.remove(AUTH_KEY).is_some() {
        session.renew();
    }
    with_state(req, |state| {
        state.slot = Slot::Ready(None);
        state.record = None;
        state.source = None;
        state.wrote_login = false;
    });
    Ok(())
}

/// Marks the current login fresh again after the user re-entered their password (Flask's
/// `confirm_login`), and renews the session id. Does nothing without a login in the session.
pub fn confirm_login(req: &HttpRequest) -> Result<(), LoginError> {
    let manager = LoginManager::from_request(req)?;
    let Some(mut record) = current_record(req)? else {
        return Ok(());
    };
    record.fresh_at = Some(manager.now());
    let session = req.get_session();
    session.renew();
    record.write(&session)?;
    with_state(req, |state| state.record = Some(record));
    Ok(())
}

/// Whether the login in this session is fresh: made by [`login_user`] (or
/// [`confirm_login`]) in this session, not restored from elsewhere.
pub fn login_fresh(req: &HttpRequest) -> bool {
    current_record(req)
        .ok()
        .flatten()
        .is_some_and(|r| r.fresh_at.is_some())
}

/// The page to return to after logging in: the `next` query parameter (or the one kept in the
/// session with [`LoginManager::use_session_for_next`]), when it is a safe local path
/// ([`is_safe_next`]); `None` otherwise.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, http::header};
/// use login_runtime::next_url;
///
/// async fn after_login(req: HttpRequest) -> HttpResponse {
///     let to = next_url(&req).unwrap_or_else(|| "/".to_owned());
///     HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
/// }
/// ```
pub fn next_url(req: &HttpRequest) -> Option<String> {
    let field = req
        .app_data::<LoginManager>()
        .map_or("next", |m| m.settings().next_field.as_str());
    let from_query = Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| {
            q.into_inner()
                .into_iter()
                .find(|(k, _)| k == field)
                .map(|(_, v)| v)
        });
    let next = match from_query {
        Some(next) => Some(next),
        None => {
            let session = req.get_session();
            if session.contains_key(NEXT_KEY) {
                session.remove_as::<String>(NEXT_KEY).and_then(Result::ok)
            } else {
                None
            }
        }
    };
    next.filter(|n| is_safe_next(n))
}
