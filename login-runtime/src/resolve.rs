//! Resolving the current user: at most one load per request, lazily, from the session's login,
//! the remember cookie or the request loader, with the timeouts, session protection and the
//! login registry enforced on the way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use actix_session::{Session, SessionExt};
use actix_web::{HttpMessage, HttpRequest};

use crate::error::LoginError;
use crate::events::{LoginEventKind, emit};
use crate::listing::{login_info, queue, queue_removal, usable_until};
use crate::loader::{LoadFuture, Unlisted};
use crate::manager::{LoginManager, SessionProtection};
use crate::reason::{self, LogoutReason};
use crate::record::{LoginRecord, SessionHashed, client_ident, has_login, hash_matches, remove_login};
use crate::registry::{FORGET_UNSEEN, RegistryOp, new_login_id};
use crate::remember::Token;
use crate::state::{CookieOp, RequestState, Slot, Source, TestLogin, UserResult, remember_cookie, with_state};
use crate::user::{AuthUser, SharedUser};

/// Ends the login in this session (timeouts, protection, a vanished user, a changed session
/// hash): the login key goes, the session id is renewed, other data stays.
#[cold]
fn end_login(req: &HttpRequest, manager: &LoginManager, session: &Session, why: LogoutReason) {
    tracing::info!(reason = why.as_str(), "ending a login");
    if manager.settings().registry.is_some()
        && let Some((record, id)) = LoginRecord::read(session)
    {
        queue_removal(req, manager, &record, &id);
    }
    remove_login(session);
    session.renew();
    reason::record(session, why);
    with_state(req, |state| state.record = None);
}

/// A load to run, or the answer without one.
enum Start {
    Load { load: LoadFuture, origin: Origin, record: Option<LoginRecord> },
    Anonymous,
}

/// Where the user being loaded comes from, with what the check of the loaded user needs.
pub(crate) enum Origin {
    Session,
    Remember(Box<Token>),
    Request,
}

impl Origin {
    fn source(&self) -> Source {
        match self {
            Self::Session => Source::Session,
            Self::Remember(_) => Source::Remember,
            Self::Request => Source::Request,
        }
    }
}

/// Resolves the current user: from the per-request cache, or by starting the one load of this
/// request, or by waiting for a load another extractor started.
pub(crate) enum UserFuture {
    Ready(Option<UserResult>),
    Leader {
        load: LoadFuture,
        req: HttpRequest,
        manager: LoginManager,
        origin: Origin,
        /// The session-hash digest of the login record, for a user from the session.
        hash: Option<u64>,
        finished: bool,
    },
    Follower {
        req: HttpRequest,
    },
}

impl UserFuture {
    /// Resolves the current user for an extractor or a helper.
    pub(crate) fn new(req: &HttpRequest) -> Self {
        Self::resolve(req, None, true)
    }

    /// Resolves the current user for a guard. A guard refuses an anonymous request, and after
    /// a refusal nothing looks at the user again: "anonymous" is not cached (which would cost
    /// the request's state an entry in the extensions on the rejection path, for nothing).
    pub(crate) fn for_guard(req: &HttpRequest, manager: &LoginManager) -> Self {
        Self::resolve(req, Some(manager), false)
    }

    /// The user this request has loaded already, if it is a `U`: an extractor of a `U` then
    /// needs no check that a loader produces one.
    pub(crate) fn loaded<U: AuthUser>(req: &HttpRequest) -> Option<Self> {
        let ext = req.extensions();
        match &ext.get::<RequestState>()?.slot {
            Slot::Ready(Some(user)) if user.is::<U>() => Some(Self::Ready(Some(Ok(Some(user.clone()))))),
            _ => None,
        }
    }

    fn resolve(req: &HttpRequest, manager: Option<&LoginManager>, cache_anonymous: bool) -> Self {
        // A login a `test::TestClient` asked for is made where its request first looks for the
        // user, as if the login form had been posted just before.
        #[cfg(feature = "test-client")]
        if let Err(error) = crate::test::apply_pending_login(req) {
            return Self::Ready(Some(Err(error)));
        }
        let test_login = {
            let mut ext = req.extensions_mut();
            match ext.get_mut::<RequestState>() {
                None => None,
                Some(state) => match &state.slot {
                    Slot::Ready(user) => return Self::Ready(Some(Ok(user.clone()))),
                    Slot::Failed(error) => return Self::Ready(Some(Err(error.clone()))),
                    Slot::Loading(_) => return Self::Follower { req: req.clone() },
                    Slot::Unresolved => state.test_login.take(),
                },
            }
        };
        let manager = match manager.map_or_else(|| LoginManager::from_request(req), Ok) {
            Ok(manager) => manager,
            Err(error) => return Self::Ready(Some(Err(error))),
        };
        emit(&manager.settings().hooks, req, LoginEventKind::Accessed, None, None);
        match start(req, manager, test_login) {
            Ok(Start::Load { load, origin, record }) => {
                with_state(req, |state| {
                    state.slot = Slot::Loading(Vec::new());
                    state.record = record;
                    state.source = Some(origin.source());
                });
                let hash = record.and_then(|r| r.hash);
                Self::Leader { load, req: req.clone(), manager: manager.clone(), origin, hash, finished: false }
            }
            // Anonymous, decided without any async work: cached all the same (but for a guard,
            // which refuses it), so that the request's other looks at the user neither read the
            // session again nor tell the hooks again.
            Ok(Start::Anonymous) => {
                if cache_anonymous {
                    with_state(req, |state| state.slot = Slot::Ready(None));
                }
                Self::Ready(Some(Ok(None)))
            }
            Err(error) => Self::Ready(Some(Err(error))),
        }
    }
}

/// Resolves this request's login (session, remember cookie, request loader) the way the
/// extractors do, sharing their one load: the helpers that answer about the login call this
/// first, so their answer does not depend on what the handler extracted.
pub(crate) async fn resolve_login(req: &HttpRequest) -> UserResult {
    UserFuture::new(req).await
}

/// What the session's login says, decided while the session is borrowed.
enum Verdict {
    /// No login (or one this version cannot read): try the next source.
    NoLogin,
    /// The login timed out: end it, then try the next source.
    Ended(LogoutReason),
    /// Strong protection ended the login (the user id is for the event).
    Protected(String),
    /// Load the user; `write` holds the id when the record changed and must be written back.
    Load { load: LoadFuture, record: LoginRecord, write: Option<String> },
}

/// The synchronous part of loading: read the session, enforce timeouts and session
/// protection, and pick the loader to run, if any.
fn start(req: &HttpRequest, manager: &LoginManager, test_login: Option<Box<TestLogin>>) -> Result<Start, LoginError> {
    let settings = manager.settings();
    // A manager with only a request loader keeps no logins: the session is not even read.
    if settings.loader.is_none() {
        return request_loader(req, manager);
    }
    let session = req.get_session();
    // A test login is listed in the registry as this request ends, as if an earlier request
    // had made it: this request does not ask the registry about it.
    let mut listed_now = false;
    if let Some(test) = test_login
        && !has_login(&session)
    {
        let mut record = LoginRecord::new(req, manager, test.hash, test.fresh);
        if settings.registry.is_some() {
            let login_id = new_login_id();
            record.login_id = Some(login_id);
            queue(req, RegistryOp::Add(login_info(req, manager, &test.user_id, login_id, test.hash, None)));
            listed_now = true;
        }
        record.write(&session, &test.user_id)?;
    }
    let verdict = {
        let entries = session.entries();
        match LoginRecord::find(&entries) {
            None => Verdict::NoLogin,
            Some((record, id)) => check(req, manager, record, id, listed_now),
        }
    };
    match verdict {
        Verdict::NoLogin => {}
        Verdict::Ended(why) => end_login(req, manager, &session, why),
        Verdict::Load { load, record, write } => {
            if let Some(id) = write {
                record.write(&session, &id)?;
            }
            return Ok(Start::Load { load, origin: Origin::Session, record: Some(record) });
        }
        Verdict::Protected(user_id) => {
            end_login(req, manager, &session, LogoutReason::SessionProtection);
            emit(&settings.hooks, req, LoginEventKind::SessionProtected, None, Some(user_id));
            if remember_cookie(req, manager).is_some() {
                with_state(req, |state| state.cookie = Some(CookieOp::Clear));
            }
            return next_source(req, manager, false);
        }
    }
    next_source(req, manager, true)
}

/// Timeouts, session protection and the login registry for the login `record` of user `id`
/// (`listed_now`: a login this request lists, which the registry does not know yet).
fn check(req: &HttpRequest, manager: &LoginManager, mut record: LoginRecord, id: &str, listed_now: bool) -> Verdict {
    let settings = manager.settings();
    if settings.absolute_timeout.is_some() || settings.idle_timeout.is_some() || settings.registry.is_some() {
        let now = manager.now();
        let seen_at = record.seen_at.unwrap_or(record.login_at);
        if settings.absolute_timeout.is_some_and(|t| now.saturating_sub(record.login_at) > t) {
            return Verdict::Ended(LogoutReason::AbsoluteTimeout);
        }
        if settings.idle_timeout.is_some_and(|t| now.saturating_sub(seen_at) > t) {
            return Verdict::Ended(LogoutReason::IdleTimeout);
        }
        // The registry forgets such a login: it ends here, whether or not it is forgotten yet.
        if settings.registry.is_some() && now.saturating_sub(seen_at) > FORGET_UNSEEN {
            return Verdict::Ended(LogoutReason::IdleTimeout);
        }
    }
    let mut changed = false;
    // Basic protection only takes freshness away, and tells the hooks: a stale login with no
    // hook to tell has nothing to lose, and skips the digest.
    let protects =
        settings.protection == SessionProtection::Strong || record.fresh_at.is_some() || !settings.hooks.is_empty();
    if let Some(recorded) = record.ident
        && protects
        && client_ident(req, manager).is_some_and(|current| current != recorded)
    {
        match settings.protection {
            SessionProtection::Off => {}
            SessionProtection::Basic => {
                changed |= record.fresh_at.take().is_some();
                emit(&settings.hooks, req, LoginEventKind::SessionProtected, None, Some(id.to_owned()));
            }
            SessionProtection::Strong => return Verdict::Protected(id.to_owned()),
        }
    }
    if let Some(interval) = manager.activity_interval() {
        let now = manager.now();
        if now.saturating_sub(record.seen_at.unwrap_or(record.login_at)) >= interval {
            record.seen_at = Some(now);
            changed = true;
            if settings.registry.is_some()
                && let Some(login_id) = record.login_id
            {
                let until = usable_until(manager, record.login_at, now, remember_until(req, manager, id, login_id));
                queue(req, touch(id, login_id, now, until));
            }
        }
    }
    // The loader parses the id now and runs its extractors when first polled, after the
    // session is no longer borrowed.
    let listed = match &settings.registry {
        Some(registry) if !listed_now => match record.login_id {
            Some(login_id) => Some(registry.contains(id, login_id)),
            None => return Verdict::Ended(LogoutReason::Revoked),
        },
        _ => None,
    };
    let Some(loader) = &settings.loader else { return Verdict::NoLogin };
    let load = loader.load(id, req, listed);
    Verdict::Load { load, record, write: changed.then(|| id.to_owned()) }
}

/// No login in the session: the remember cookie, then the request loader.
fn next_source(req: &HttpRequest, manager: &LoginManager, remember_allowed: bool) -> Result<Start, LoginError> {
    let settings = manager.settings();
    if remember_allowed
        && let Some(remember) = &settings.remember
        && let Some(cookie) = req.cookie(&remember.name)
    {
        // With a registry, a remember cookie logs in only while its login is listed.
        let token = remember.decode(cookie.value(), manager.now()).and_then(|token| match &settings.registry {
            None => Some((token, None)),
            Some(registry) => token.login_id.map(|login_id| {
                let listed = registry.contains(&token.user_id, login_id);
                (token, Some(listed))
            }),
        });
        match token {
            Some((token, listed)) => {
                if let Some(loader) = &settings.loader {
                    let load = loader.load(&token.user_id, req, listed);
                    return Ok(Start::Load { load, origin: Origin::Remember(Box::new(token)), record: None });
                }
            }
            None => {
                tracing::info!("clearing an invalid or expired remember cookie");
                with_state(req, |state| state.cookie = Some(CookieOp::Clear));
            }
        }
    }
    request_loader(req, manager)
}

fn request_loader(req: &HttpRequest, manager: &LoginManager) -> Result<Start, LoginError> {
    Ok(match &manager.settings().request_loader {
        Some(loader) => Start::Load { load: loader.load(req), origin: Origin::Request, record: None },
        None => Start::Anonymous,
    })
}

impl Future for UserFuture {
    type Output = UserResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<UserResult> {
        let this = self.get_mut();
        match this {
            Self::Ready(result) => Poll::Ready(result.take().expect("UserFuture polled after completion")),
            Self::Leader { load, req, manager, origin, hash, finished } => loop {
                let result = match load.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                };
                let accepted = result.and_then(|user| accept(req, manager, origin, *hash, user));
                record_user_span(&accepted);
                let result = match accepted {
                    // A session login or a remember cookie that did not work does not stop the
                    // next source: the remember cookie, then the request loader (Flask-Login
                    // #901).
                    Ok(None) if !matches!(origin, Origin::Request) => {
                        let next = match origin {
                            Origin::Session => next_source(req, manager, true)?,
                            _ => request_loader(req, manager)?,
                        };
                        if let Start::Load { load: next, origin: next_origin, record } = next {
                            *load = next;
                            *hash = record.and_then(|r| r.hash);
                            with_state(req, |state| {
                                state.source = Some(next_origin.source());
                                state.record = record;
                            });
                            *origin = next_origin;
                            continue;
                        }
                        Ok(None)
                    }
                    other => other,
                };
                let waiters = with_state(req, |state| {
                    let slot = match &result {
                        Ok(user) => Slot::Ready(user.clone()),
                        Err(error) => Slot::Failed(error.clone()),
                    };
                    match std::mem::replace(&mut state.slot, slot) {
                        Slot::Loading(waiters) => waiters,
                        _ => Vec::new(),
                    }
                });
                waiters.into_iter().for_each(Waker::wake);
                *finished = true;
                return Poll::Ready(result);
            },
            Self::Follower { req } => {
                let mut ext = req.extensions_mut();
                let Some(state) = ext.get_mut::<RequestState>() else {
                    return Poll::Ready(Ok(None));
                };
                match &mut state.slot {
                    Slot::Loading(waiters) => {
                        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                            waiters.push(cx.waker().clone());
                        }
                        Poll::Pending
                    }
                    Slot::Ready(user) => Poll::Ready(Ok(user.clone())),
                    Slot::Failed(error) => Poll::Ready(Err(error.clone())),
                    // The login changed while this extractor waited: the new one is anonymous
                    // until the next request loads it.
                    Slot::Unresolved => Poll::Ready(Ok(None)),
                }
            }
        }
    }
}

impl Drop for UserFuture {
    /// A load dropped half-way (its request was cancelled) must not leave other extractors
    /// waiting on it.
    #[inline]
    fn drop(&mut self) {
        if let Self::Leader { req, finished: false, .. } = self {
            wake_waiters(req);
        }
    }
}

fn wake_waiters(req: &HttpRequest) {
    let waiters = with_state(req, |state| match std::mem::replace(&mut state.slot, Slot::Unresolved) {
        Slot::Loading(waiters) => waiters,
        other => {
            state.slot = other;
            Vec::new()
        }
    });
    waiters.into_iter().for_each(Waker::wake);
}

/// The request's span (e.g. tracing-actix-web's root span, declared with
/// `user_id = tracing::field::Empty`) carries the user id from here on. Without a subscriber
/// there is no span to look for.
fn record_user_span(result: &UserResult) {
    if let Ok(Some(user)) = result
        && tracing::dispatcher::has_been_set()
    {
        let span = tracing::Span::current();
        if !span.is_disabled()
            && let Some(id) = user.get_id()
        {
            span.record("user_id", id.as_str());
        }
    }
}

/// Checks a freshly loaded user against where it came from.
fn accept(
    req: &HttpRequest,
    manager: &LoginManager,
    origin: &Origin,
    hash: Option<u64>,
    user: Option<SharedUser>,
) -> UserResult {
    let settings = manager.settings();
    match origin {
        Origin::Request => {
            if let Some(user) = &user {
                emit(&settings.hooks, req, LoginEventKind::LoadedFromRequest, Some(user), None);
            }
            Ok(user)
        }
        Origin::Session => {
            match user {
                Some(user) if hash_matches(hash, &user) => {
                    refresh_remember_cookie(req, manager, &user, None);
                    Ok(Some(user))
                }
                user => {
                    // The user vanished, their session hash changed (a password change, a
                    // "log out everywhere"), or the login was revoked: this login is over.
                    end_login(req, manager, &req.get_session(), lost_reason(req, user.is_some()));
                    Ok(None)
                }
            }
        }
        Origin::Remember(token) => {
            let remember = settings.remember.as_ref().expect("a remember source needs remember-me settings");
            // An inactive account cannot log in, from a form or from a cookie.
            // An inactive user is refused with no reason to show: nothing ended elsewhere.
            let lost = match &user {
                Some(u) if !u.is_active() => None,
                Some(u) if remember.hash_matches(token, u.session_hash()) => None,
                found => Some(lost_reason(req, found.is_some())),
            };
            let Some(user) = user.filter(|u| u.is_active() && lost.is_none()) else {
                tracing::info!("clearing a remember cookie whose user is gone, inactive, or has a new session hash");
                with_state(req, |state| state.cookie = Some(CookieOp::Clear));
                if let Some(lost) = lost {
                    reason::record(&req.get_session(), lost);
                }
                return Ok(None);
            };
            // A new login, not fresh, with a new session id; the client identifier is stored
            // so that strong protection keeps this session (Flask-Login #248, #685).
            // The same login as the cookie's, in the registry too: a device stays one login.
            let record =
                LoginRecord { login_id: token.login_id, ..LoginRecord::new(req, manager, user.hash_digest(), false) };
            let session = req.get_session();
            session.renew();
            record.write(&session, &token.user_id)?;
            // A session login that ended on this request is continued: nothing to explain.
            reason::forget(&session);
            let now = manager.now();
            let until = usable_until(manager, now, now, Some(remembered_until(manager, token, now)));
            with_state(req, |state| {
                state.record = Some(record);
                // A session login that timed out on this request is continued here, not over.
                if let Some(id) = token.login_id {
                    state.registry.retain(|op| !matches!(op, RegistryOp::Remove { login_id, .. } if *login_id == id));
                    state.registry.push(touch(&token.user_id, id, now, until));
                }
            });
            emit(&settings.hooks, req, LoginEventKind::LoadedFromCookie, Some(&user), None);
            refresh_remember_cookie(req, manager, &user, Some(token));
            Ok(Some(user))
        }
    }
}

/// Why a login whose user the loader did not give back (or gave back with another session
/// hash, `found`) is over.
fn lost_reason(req: &HttpRequest, found: bool) -> LogoutReason {
    if found {
        LogoutReason::SessionHashChanged
    } else if req.extensions().contains::<Unlisted>() {
        LogoutReason::Revoked
    } else {
        LogoutReason::UserGone
    }
}

/// The registry's record that login `login_id` of `user_id` was seen at `now` and can be used
/// until `until`.
fn touch(user_id: &str, login_id: u64, now: u64, until: u64) -> RegistryOp {
    RegistryOp::Touch { user_id: user_id.to_owned(), login_id, last_seen: now, expires_at: until }
}

/// Until when the remember cookie of `token`, seen at `now`, logs in. A cookie re-issued on
/// each request lasts its lifetime from the last request, which may come up to an activity
/// interval after this one is recorded.
fn remembered_until(manager: &LoginManager, token: &Token, now: u64) -> u64 {
    match &manager.settings().remember {
        Some(remember) if remember.refresh_each_request => {
            now.saturating_add(token.lifetime).saturating_add(manager.activity_interval().unwrap_or(0))
        }
        _ => token.expires,
    }
}

/// Until when the remember cookie this request carries for login `login_id` of `user_id` logs
/// in, if it carries a valid one.
fn remember_until(req: &HttpRequest, manager: &LoginManager, user_id: &str, login_id: u64) -> Option<u64> {
    let remember = manager.settings().remember.as_ref()?;
    let now = manager.now();
    let token = remember.decode(req.cookie(&remember.name)?.value(), now)?;
    (token.user_id == user_id && token.login_id == Some(login_id)).then(|| remembered_until(manager, &token, now))
}

/// Re-issues a valid remember cookie the request carried (and only then: Flask-Login #424 gave
/// everyone a year-long cookie): with `refresh_each_request`, with a new expiry; when a previous
/// key signed it, signed with the current key and the same expiry. `token` is the cookie's,
/// when the caller has decoded it already.
fn refresh_remember_cookie(req: &HttpRequest, manager: &LoginManager, user: &SharedUser, token: Option<&Token>) {
    let Some(remember) = manager.settings().remember.as_ref() else { return };
    // Without refreshes and previous keys no cookie is ever re-issued: not even looked at.
    if !remember.refresh_each_request && !remember.has_previous_keys() {
        return;
    }
    let now = manager.now();
    let decoded;
    let token = match token {
        Some(token) => token,
        None => {
            let Some(cookie) = req.cookie(&remember.name) else { return };
            let Some(token) = remember.decode(cookie.value(), now) else { return };
            decoded = token;
            &decoded
        }
    };
    if !remember.refresh_each_request && token.key_index == 0 {
        return;
    }
    if user.get_id().as_deref() != Some(token.user_id.as_str()) || !remember.hash_matches(token, user.session_hash()) {
        return;
    }
    // The login's own lifetime: "remember me for an hour" stays an hour.
    let expires = if remember.refresh_each_request { now.saturating_add(token.lifetime) } else { token.expires };
    let hash_mac = remember.hash_mac(user.session_hash());
    let value = remember.encode(&Token { expires, hash_mac, key_index: 0, ..token.clone() });
    let lifetime = std::time::Duration::from_secs(expires.saturating_sub(now));
    with_state(req, |state| {
        if state.cookie.is_none() {
            state.cookie = Some(CookieOp::Set { value, lifetime });
        }
    });
}
