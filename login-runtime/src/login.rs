//! Logging users in and out: Flask-Login's `login_user`, `logout_user`, `confirm_login`,
//! `login_fresh`, plus reading `next` back safely.

use actix_session::SessionExt;
use actix_web::HttpRequest;
use actix_web::web::Query;

use std::time::Duration;

use crate::error::LoginError;
use crate::events::{LoginEventKind, emit};
use crate::manager::LoginManager;
use crate::reason;
use crate::remember::Token;
use std::rc::Rc;

use crate::listing::{login_info, queue, queue_removal};
use crate::record::{LoginRecord, SessionHashed, client_ident, remove_login};
use crate::registry::{RegistryOp, new_login_id};
use crate::resolve::resolve_login;
use crate::state::{CookieOp, Slot, Source, current_record, remember_cookie, with_state};
use crate::url::is_safe_next;
use crate::user::AuthUser;
use crate::user::SharedUser;

pub(crate) const NEXT_KEY: &str = "_next";

/// How [`login_user_with`] logs a user in (Flask's keyword arguments).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Log in even if the user is not active.
    pub force: bool,
    /// Mark the login fresh (the user just proved who they are). Default `true`.
    pub fresh: bool,
    /// Issue a remember-me cookie (needs [`LoginManager::remember_me`]).
    pub remember: bool,
    /// How long this login's remember cookie lasts, instead of the manager's duration (at most
    /// [`RememberMe::duration`](crate::RememberMe::duration), which caps every cookie).
    pub duration: Option<Duration>,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self { force: false, fresh: true, remember: false, duration: None }
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

    /// Whether to issue a remember-me cookie.
    pub fn remember(mut self, remember: bool) -> Self {
        self.remember = remember;
        self
    }

    /// The remember cookie's lifetime for this login (at most
    /// [`RememberMe::duration`](crate::RememberMe::duration)).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

/// Logs `user` in for this session, fresh, with the defaults of [`LoginOptions`].
///
/// The session id is renewed (a new session token on every login defeats session fixation);
/// the rest of the session is kept. An inactive user is refused with [`LoginError::Inactive`]
/// and nothing is written: unlike Flask-Login's `login_user`, which returns `False`, this is an
/// error, so a handler cannot go on as if the user were logged in by ignoring a `bool` (with
/// `?` it becomes a 403; match it to show your own page). For the rest of this request the current user is `user` (a clone of
/// it): extractors that run after this do not call the loader.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use login_runtime::{AuthUser, login_user};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64 }
///
/// async fn login(req: HttpRequest) -> actix_web::Result<HttpResponse> {
///     let user = User { id: 1 }; // after checking the password
///     login_user(&req, &user)?;
///     Ok(HttpResponse::Ok().body("welcome"))
/// }
/// ```
pub fn login_user<U: AuthUser + Clone>(req: &HttpRequest, user: &U) -> Result<(), LoginError> {
    login_user_with(req, user, LoginOptions::default())
}

/// Logs `user` in with options (Flask's `login_user(user, force=..., fresh=...)`).
pub fn login_user_with<U: AuthUser + Clone>(
    req: &HttpRequest,
    user: &U,
    options: LoginOptions,
) -> Result<(), LoginError> {
    let manager = LoginManager::from_request(req)?;
    if manager.settings().loader.is_none() {
        return Err(LoginError::NoUserLoader);
    }
    if !options.force && !user.is_active() {
        return Err(LoginError::Inactive);
    }
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let settings = manager.settings();
    // With a registry, this login gets an id; the login it replaces is over.
    let (login_id, replaced) = match &settings.registry {
        Some(_) => (Some(new_login_id()), current_record(req)),
        None => (None, None),
    };
    let cookie = match (&settings.remember, options.remember) {
        (Some(remember), true) => {
            // At most the configured duration, which caps every cookie anyway.
            let lifetime = options.duration.map_or(remember.duration, |d| d.min(remember.duration));
            let token = Token {
                user_id: user_id.clone(),
                expires: manager.now().saturating_add(lifetime.as_secs()),
                lifetime: lifetime.as_secs(),
                hash_mac: remember.hash_mac(user.session_hash()),
                login_id,
                key_index: 0,
            };
            Some(CookieOp::Set { value: remember.encode(&token), lifetime })
        }
        (None, true) => {
            tracing::warn!("`remember` asked for, but no `LoginManager::remember_me` is configured: no cookie issued");
            None
        }
        // A remember cookie of an earlier login must not outlive this one.
        (_, false) => remember_cookie(req, manager).map(|_| CookieOp::Clear),
    };
    let record = LoginRecord { login_id, ..LoginRecord::new(req, manager, user.hash_digest(), options.fresh) };
    let session = req.get_session();
    session.renew();
    record.write(&session, &user_id)?;
    reason::forget(&session);
    if let Some(login_id) = login_id {
        if let Some((record, id)) = replaced {
            queue_removal(req, manager, &record, &id);
        }
        let remember_until = match &cookie {
            Some(CookieOp::Set { lifetime, .. }) => Some(manager.now().saturating_add(lifetime.as_secs())),
            _ => None,
        };
        let info = login_info(req, manager, &user_id, login_id, user.hash_digest(), remember_until);
        queue(req, RegistryOp::Add(info));
    }
    // From here on this request's current user is this one, as in Flask-Login: no loader call.
    let shared: SharedUser = Rc::new(user.clone());
    with_state(req, |state| {
        state.slot = Slot::Ready(Some(Rc::clone(&shared)));
        state.record = Some(record);
        state.source = Some(Source::Session);
        state.wrote_login = true;
        state.logged_out = false;
        state.cookie = cookie;
    });
    tracing::info!(user_id, "user logged in");
    emit(&settings.hooks, req, LoginEventKind::LoggedIn, Some(&shared), None);
    Ok(())
}

/// Logs the current user out. Safe to call when nobody is logged in.
///
/// It ends the login it can see from any credential the request carries: the login in the
/// session, and the login of a valid remember cookie (after a browser restart the request may
/// carry only that one). It always clears the remember cookie, with its configured path and
/// domain, whatever path the logout is sent to. Other session data (a flash message written
/// right after, a cart) is kept.
///
/// What copies of the cookies (taken by a thief, or left in another tab) can still do depends
/// on the configuration (SECURITY.md has the whole table):
///
/// - **With a [login registry](LoginManager::login_registry)** the login is removed from it:
///   every copy of the session cookie and of the remember cookie is logged out on its next
///   request, on every store ("logout ends every copy"). The session keeps the ended login's
///   entry until its next request ends it: if the registry cannot record the logout, the
///   response is a 500 that changes nothing (no cookie is changed, the login stays in the
///   session and listed), on the cookie store and on Redis alike, and the user can try again.
///   Other servers behind a [`CachedLoginRegistry`](crate::CachedLoginRegistry) notice the
///   logout within its ttl: a request of this browser, or of a copy, that reaches one of them
///   sooner is still logged in.
/// - **Without a registry** nothing server-side knows the login. The session loses it and
///   gets a new id: with a server-side store (Redis) the old session is deleted, so a copy of
///   the session cookie is worth nothing; with the cookie store a copy still carries the login
///   until the idle or absolute timeout ends it. A copy of the remember cookie logs in until it
///   expires. Changing the user's [session hash](crate::AuthUser::session_hash) ends every
///   copy.
///
/// The [`LoggedOut`](crate::LoginEventKind::LoggedOut) event always carries the user's id, and
/// the user when this request loaded it: take a [`CurrentUser`](crate::CurrentUser) in the
/// logout handler for hooks that need the whole user (this function does not wait for a
/// loader).
pub fn logout_user(req: &HttpRequest) -> Result<(), LoginError> {
    let manager = LoginManager::from_request(req)?;
    let settings = manager.settings();
    let session = req.get_session();
    let record = current_record(req);
    // The login of a valid remember cookie: after a browser restart, the only one to see.
    let token = settings
        .remember
        .as_ref()
        .and_then(|remember| remember.decode(remember_cookie(req, manager)?.value(), manager.now()));
    // With a registry, the session keeps its login until the registry has removed it (a
    // removal that fails then changes nothing); it ends on its next request.
    let mut keep_session_login = false;
    if settings.registry.is_some() {
        if let Some((record, id)) = &record
            && record.login_id.is_some()
        {
            queue_removal(req, manager, record, id);
            keep_session_login = true;
        }
        if let Some(token) = &token
            && let Some(login_id) = token.login_id
            && !record.as_ref().is_some_and(|(r, id)| r.login_id == Some(login_id) && *id == token.user_id)
        {
            queue(req, RegistryOp::Remove { user_id: token.user_id.clone(), login_id });
        }
    }
    if !keep_session_login && remove_login(&session) {
        session.renew();
    }
    let user = with_state(req, |state| {
        state.record = None;
        state.source = None;
        state.wrote_login = false;
        state.logged_out = keep_session_login;
        // Cleared whether or not this request carried it: a cookie scoped to another path
        // is not sent to the logout, and must go all the same.
        state.cookie = settings.remember.is_some().then_some(CookieOp::Clear);
        match std::mem::replace(&mut state.slot, Slot::Ready(None)) {
            Slot::Ready(user) => user,
            _ => None,
        }
    });
    let user_id = record
        .map(|(_, id)| id)
        .or_else(|| user.as_ref().and_then(|u| u.get_id()))
        .or_else(|| token.map(|t| t.user_id));
    if user_id.is_some() {
        tracing::info!(user_id, "user logged out");
        emit(&settings.hooks, req, LoginEventKind::LoggedOut, user.as_ref(), user_id);
    }
    Ok(())
}

/// Marks the current login fresh again after the user re-entered their password (Flask's
/// `confirm_login`), renews the session id and fires
/// [`LoginConfirmed`](crate::LoginEventKind::LoginConfirmed). Does nothing when nobody is
/// logged in, or when the user came from the request loader (which keeps no login).
///
/// It is `async` because it first resolves this request's login, as the extractors do (at
/// most one loader call per request, shared with them): a login that comes back from the
/// remember cookie is confirmed whether or not the handler took the user. A forgotten
/// `.await` does not compile where the result is used (`?`), and is a warning otherwise.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use login_runtime::confirm_login;
///
/// async fn reauthenticate(req: HttpRequest) -> actix_web::Result<HttpResponse> {
///     // ... after checking the password again:
///     confirm_login(&req).await?;
///     Ok(HttpResponse::SeeOther().insert_header(("location", "/")).finish())
/// }
/// ```
pub async fn confirm_login(req: &HttpRequest) -> Result<(), LoginError> {
    let manager = LoginManager::from_request(req)?;
    let user = resolve_login(req).await?;
    let Some((mut record, user_id)) = current_record(req) else {
        return Ok(());
    };
    record.fresh_at = Some(manager.now());
    // The user proved who they are from this client: it is the one to protect from now on.
    record.ident = client_ident(req, manager);
    let session = req.get_session();
    session.renew();
    record.write(&session, &user_id)?;
    with_state(req, |state| {
        state.record = Some(record);
        state.source = Some(Source::Session);
        state.wrote_login = true;
    });
    emit(&manager.settings().hooks, req, LoginEventKind::LoginConfirmed, user.as_ref(), Some(user_id));
    Ok(())
}

/// Whether the login in force is fresh: made by [`login_user`] (or [`confirm_login`]) in this
/// session, not restored from the remember cookie or loaded from the request, and not older
/// than the manager's [`fresh_max_age`](LoginManager::fresh_max_age) if one is set. Like
/// [`confirm_login`], it resolves the login first, so the answer does not depend on what the
/// handler extracted.
pub async fn login_fresh(req: &HttpRequest) -> bool {
    if resolve_login(req).await.is_err() {
        return false;
    }
    let (max_age, now) = LoginManager::from_request(req).map_or((0, 0), |m| (m.settings().fresh_max_age, m.now()));
    current_record(req)
        .and_then(|(r, _)| r.fresh_at)
        .is_some_and(|at| max_age == 0 || now.saturating_sub(at) <= max_age)
}

/// Whether the request carries a valid remember-me cookie for the user logged in now
/// (Flask's `login_remembered`). Like [`confirm_login`], it resolves the login first.
pub async fn login_remembered(req: &HttpRequest) -> bool {
    if resolve_login(req).await.is_err() {
        return false;
    }
    let Ok(manager) = LoginManager::from_request(req) else { return false };
    let (Some(remember), Some(cookie)) = (&manager.settings().remember, remember_cookie(req, manager)) else {
        return false;
    };
    let Some(token) = remember.decode(cookie.value(), manager.now()) else { return false };
    current_record(req).is_some_and(|(_, id)| id == token.user_id)
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
    let field = req.app_data::<LoginManager>().map_or("next", |m| m.settings().next_field.as_str());
    let from_query = Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().into_iter().find(|(k, _)| k == field).map(|(_, v)| v));
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
