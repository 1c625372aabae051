//! What the session records about a login, and the per-request state that loads the user at
//! most once, lazily.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use actix_session::{Session, SessionExt};
use actix_web::{HttpMessage, HttpRequest};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use actix_web::cookie::Cookie;

use crate::error::LoginError;
use crate::events::{LoginEventKind, emit};
use crate::loader::LoadFuture;
use crate::manager::{LoginManager, SessionProtection};
use crate::remember::Token;
use crate::user::{AuthUser, SharedUser};

/// The one session key that holds a login. Other keys the runtime uses: `_flashes` (messages)
/// and `_next` (with `use_session_for_next`).
pub(crate) const AUTH_KEY: &str = "_u";

/// A login as the session stores it. It is read on every request and, with the cookie store,
/// every byte of it is decrypted on every request: so it is one short string with nothing to
/// escape, parsed by hand:
/// `1:<login at>:<fresh at>:<seen at>:<hash digest>:<client ident>:<user id>`, times in base 36
/// (fresh and seen as offsets from the login), empty fields for what is absent, the id last
/// since it may contain anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoginRecord {
    /// The user's id.
    pub(crate) user_id: String,
    /// When the user last proved who they are (a fresh login); absent once the login is stale.
    pub(crate) fresh_at: Option<u64>,
    /// When this login started.
    pub(crate) login_at: u64,
    /// When the last request was recorded (only kept with an idle timeout).
    pub(crate) seen_at: Option<u64>,
    /// A digest of the user's session hash at login (never the hash itself).
    pub(crate) hash: Option<String>,
    /// Digest of the client's address and user agent, for session protection.
    pub(crate) ident: Option<u64>,
}

impl LoginRecord {
    /// A login starting now, for this request's client.
    pub(crate) fn new(
        req: &HttpRequest,
        manager: &LoginManager,
        user_id: String,
        hash: Option<String>,
        fresh: bool,
    ) -> Self {
        let now = manager.now();
        Self {
            user_id,
            fresh_at: fresh.then_some(now),
            login_at: now,
            hash,
            seen_at: manager.activity_interval().map(|_| now),
            ident: client_ident(req, manager),
        }
    }

    pub(crate) fn read(session: &Session) -> Result<Option<Self>, LoginError> {
        let entries = session.entries();
        let Some(raw) = entries.get(AUTH_KEY) else { return Ok(None) };
        // The value is a JSON string; without escapes it is the text between the quotes.
        let record = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).filter(|r| !r.contains('\\')) {
            Some(text) => Self::decode(text),
            None => serde_json::from_str::<String>(raw).ok().and_then(|text| Self::decode(&text)),
        };
        if record.is_none() {
            // A record this version cannot read is no login, not a server error.
            tracing::warn!("ignoring an unreadable login record");
        }
        Ok(record)
    }

    pub(crate) fn write(&self, session: &Session) -> Result<(), LoginError> {
        session.insert(AUTH_KEY, self.encode()).map_err(|e| LoginError::Session(e.to_string()))
    }

    fn encode(&self) -> String {
        let mut out = String::with_capacity(32 + self.user_id.len());
        out.push_str("1:");
        push_base36(&mut out, self.login_at);
        out.push(':');
        if let Some(at) = self.fresh_at {
            push_base36(&mut out, at.saturating_sub(self.login_at));
        }
        out.push(':');
        if let Some(at) = self.seen_at {
            push_base36(&mut out, at.saturating_sub(self.login_at));
        }
        out.push(':');
        out.push_str(self.hash.as_deref().unwrap_or_default());
        out.push(':');
        if let Some(ident) = self.ident {
            push_base36(&mut out, ident);
        }
        out.push(':');
        out.push_str(&self.user_id);
        out
    }

    fn decode(text: &str) -> Option<Self> {
        // Six fields before the id; a byte scan is cheaper than `str::splitn` here.
        let mut fields = [""; 6];
        let mut rest = text;
        for field in &mut fields {
            let end = rest.bytes().position(|b| b == b':')?;
            *field = &rest[..end];
            rest = &rest[end + 1..];
        }
        let [version, login_at, fresh_at, seen_at, hash, ident] = fields;
        if version != "1" || rest.is_empty() {
            return None;
        }
        let login_at = parse_base36(login_at)?;
        let offset = |s: &str| -> Option<Option<u64>> {
            if s.is_empty() { Some(None) } else { parse_base36(s).map(|d| Some(login_at.saturating_add(d))) }
        };
        Some(Self {
            user_id: rest.to_owned(),
            fresh_at: offset(fresh_at)?,
            login_at,
            seen_at: offset(seen_at)?,
            hash: (!hash.is_empty()).then(|| hash.to_owned()),
            ident: if ident.is_empty() { None } else { Some(parse_base36(ident)?) },
        })
    }
}

fn push_base36(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 13];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

fn parse_base36(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 13 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            _ => return None,
        };
        n.checked_mul(36)?.checked_add(u64::from(d))
    })
}

/// The digest of a session hash, as stored in the session: 128 bits of SHA-256.
pub(crate) trait SessionHashed {
    fn hash_digest(&self) -> Option<String>;
}

impl<U: AuthUser + ?Sized> SessionHashed for U {
    fn hash_digest(&self) -> Option<String> {
        self.session_hash().map(|h| {
            let digest = Sha256::digest(h);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
        })
    }
}

/// Whether the user still has the session hash the login recorded (constant-time).
fn hash_matches(record: &LoginRecord, user: &SharedUser) -> bool {
    match (&record.hash, user.hash_digest()) {
        (None, None) => true,
        (Some(a), Some(b)) => a.as_bytes().ct_eq(b.as_bytes()).into(),
        _ => false,
    }
}

/// The session-protection digest of the client's address and user agent, 64 bits: SipHash-2-4
/// keyed with the manager's [secret key](LoginManager::secret_key), or SHA-256 without one.
/// Either way a thief who knows the victim's address and user agent cannot craft a user agent
/// that passes for the victim's client from elsewhere.
pub(crate) fn client_ident(req: &HttpRequest, manager: &LoginManager) -> Option<u64> {
    let settings = manager.settings();
    if settings.protection == SessionProtection::Off {
        return None;
    }
    let forwarded;
    let mut octets = [0u8; 16];
    let addr: &[u8] = if settings.trust_forwarded_for {
        forwarded = req.connection_info().realip_remote_addr().unwrap_or_default().to_owned();
        forwarded.as_bytes()
    } else {
        match req.peer_addr().map(|a| a.ip()) {
            Some(std::net::IpAddr::V4(ip)) => {
                octets[..4].copy_from_slice(&ip.octets());
                &octets[..4]
            }
            Some(std::net::IpAddr::V6(ip)) => {
                octets = ip.octets();
                &octets
            }
            None => b"",
        }
    };
    let agent = req.headers().get(actix_web::http::header::USER_AGENT).map_or(&b""[..], |v| v.as_bytes());
    Some(match settings.ident_key {
        Some((k0, k1)) => {
            use std::hash::Hasher;
            let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
            h.write(addr);
            h.write_u8(b'|');
            h.write(agent);
            h.finish()
        }
        None => {
            let mut h = Sha256::new();
            h.update(b"login-runtime client\0");
            h.update(addr);
            h.update(b"|");
            h.update(agent);
            u64::from_be_bytes(h.finalize()[..8].try_into().expect("SHA-256 has 32 bytes"))
        }
    })
}

/// Where this request's user came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Session,
    Remember(Box<Token>),
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
    pub(crate) hash: Option<String>,
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
    pub(crate) test_login: Option<TestLogin>,
}

impl RequestState {
    pub(crate) fn new() -> Self {
        Self { slot: Slot::Unresolved, record: None, source: None, wrote_login: false, cookie: None, test_login: None }
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

/// Ends the login in this session (timeouts, protection, a vanished user, a changed session
/// hash): the login key goes, the session id is renewed, other data stays.
fn end_login(req: &HttpRequest, session: &Session, why: &str) {
    tracing::info!(reason = why, "ending a login");
    session.remove(AUTH_KEY);
    session.renew();
    with_state(req, |state| state.record = None);
}

/// A load to run, or the answer without one.
enum Start {
    Load { load: LoadFuture, source: Source, record: Option<LoginRecord> },
    Anonymous,
}

/// Resolves the current user: from the per-request cache, or by starting the one load of this
/// request, or by waiting for a load another extractor started.
pub(crate) enum UserFuture {
    Ready(Option<UserResult>),
    Leader { load: LoadFuture, req: HttpRequest, source: Source, finished: bool },
    Follower { req: HttpRequest },
}

impl UserFuture {
    pub(crate) fn new(req: &HttpRequest, manager: &LoginManager) -> Self {
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
        emit(&manager.settings().hooks, req, LoginEventKind::Accessed, None, None);
        match start(req, manager, test_login) {
            Ok(Start::Load { load, source, record }) => {
                with_state(req, |state| {
                    state.slot = Slot::Loading(Vec::new());
                    state.record = record;
                    state.source = Some(source.clone());
                });
                Self::Leader { load, req: req.clone(), source, finished: false }
            }
            // Anonymous, decided without any async work. Not cached: finding that out again
            // is as cheap as a cache.
            Ok(Start::Anonymous) => Self::Ready(Some(Ok(None))),
            Err(error) => Self::Ready(Some(Err(error))),
        }
    }
}

/// The synchronous part of loading: read the session, enforce timeouts and session
/// protection, and pick the loader to run, if any.
fn start(req: &HttpRequest, manager: &LoginManager, test_login: Option<TestLogin>) -> Result<Start, LoginError> {
    let settings = manager.settings();
    let session = req.get_session();
    let mut record = LoginRecord::read(&session)?;
    if let (None, Some(test)) = (&record, test_login) {
        let written = LoginRecord::new(req, manager, test.user_id, test.hash, test.fresh);
        written.write(&session)?;
        record = Some(written);
    }
    if let Some(mut rec) = record {
        let now = manager.now();
        let seen_at = rec.seen_at.unwrap_or(rec.login_at);
        if settings.absolute_timeout.is_some_and(|t| now.saturating_sub(rec.login_at) > t) {
            end_login(req, &session, "absolute timeout");
        } else if settings.idle_timeout.is_some_and(|t| now.saturating_sub(seen_at) > t) {
            end_login(req, &session, "idle timeout");
        } else {
            let mut changed = false;
            if let Some(recorded) = rec.ident
                && client_ident(req, manager).is_some_and(|current| current != recorded)
            {
                match settings.protection {
                    SessionProtection::Off => {}
                    SessionProtection::Basic => {
                        if rec.fresh_at.take().is_some() {
                            changed = true;
                        }
                        emit(&settings.hooks, req, LoginEventKind::SessionProtected, None, Some(rec.user_id.clone()));
                    }
                    SessionProtection::Strong => {
                        end_login(req, &session, "session protection");
                        emit(&settings.hooks, req, LoginEventKind::SessionProtected, None, Some(rec.user_id.clone()));
                        if remember_cookie(req, manager).is_some() {
                            with_state(req, |state| state.cookie = Some(CookieOp::Clear));
                        }
                        return next_source(req, manager, false);
                    }
                }
            }
            if let Some(interval) = manager.activity_interval()
                && now.saturating_sub(seen_at) >= interval
            {
                rec.seen_at = Some(now);
                changed = true;
            }
            if changed {
                rec.write(&session)?;
            }
            let load = settings.loader.load(&rec.user_id, req);
            return Ok(Start::Load { load, source: Source::Session, record: Some(rec) });
        }
    }
    next_source(req, manager, true)
}

/// No login in the session: the remember cookie, then the request loader.
fn next_source(req: &HttpRequest, manager: &LoginManager, remember_allowed: bool) -> Result<Start, LoginError> {
    let settings = manager.settings();
    if remember_allowed
        && let Some(remember) = &settings.remember
        && let Some(cookie) = req.cookie(&remember.name)
    {
        match remember.decode(cookie.value(), manager.now()) {
            Some(token) => {
                let load = settings.loader.load(&token.user_id, req);
                return Ok(Start::Load { load, source: Source::Remember(Box::new(token)), record: None });
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
        Some(loader) => Start::Load { load: loader.load(req), source: Source::Request, record: None },
        None => Start::Anonymous,
    })
}

impl Future for UserFuture {
    type Output = UserResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<UserResult> {
        let this = self.get_mut();
        match this {
            Self::Ready(result) => Poll::Ready(result.take().expect("UserFuture polled after completion")),
            Self::Leader { load, req, source, finished } => loop {
                let result = match load.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                };
                let result = match result.and_then(|user| accept(req, source, user)) {
                    // A session login or a remember cookie that did not work does not stop the
                    // next source: the remember cookie, then the request loader (Flask-Login
                    // #901).
                    Ok(None) if *source != Source::Request => {
                        let manager = LoginManager::from_request(req)?;
                        let next = match source {
                            Source::Session => next_source(req, manager, true)?,
                            _ => request_loader(req, manager)?,
                        };
                        if let Start::Load { load: next, source: next_source, record } = next {
                            *load = next;
                            *source = next_source.clone();
                            with_state(req, |state| {
                                state.source = Some(next_source);
                                state.record = record;
                            });
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
    fn drop(&mut self) {
        if let Self::Leader { req, finished: false, .. } = self {
            let waiters = with_state(req, |state| match std::mem::replace(&mut state.slot, Slot::Unresolved) {
                Slot::Loading(waiters) => waiters,
                other => {
                    state.slot = other;
                    Vec::new()
                }
            });
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

/// Checks a freshly loaded user against where it came from.
fn accept(req: &HttpRequest, source: &Source, user: Option<SharedUser>) -> UserResult {
    let result = accept_from(req, source, user);
    // The request's span (e.g. tracing-actix-web's root span, declared with
    // `user_id = tracing::field::Empty`) carries the user id from here on.
    if let Ok(Some(user)) = &result {
        let span = tracing::Span::current();
        if !span.is_disabled()
            && let Some(id) = user.get_id()
        {
            span.record("user_id", id.as_str());
        }
    }
    result
}

fn accept_from(req: &HttpRequest, source: &Source, user: Option<SharedUser>) -> UserResult {
    let manager = LoginManager::from_request(req)?;
    let settings = manager.settings();
    match source {
        Source::Request => {
            if let Some(user) = &user {
                emit(&settings.hooks, req, LoginEventKind::LoadedFromRequest, Some(user), None);
            }
            Ok(user)
        }
        Source::Session => {
            let valid = |user: &SharedUser| {
                let ext = req.extensions();
                ext.get::<RequestState>().and_then(|s| s.record.as_ref()).is_some_and(|r| hash_matches(r, user))
            };
            match user {
                Some(user) if valid(&user) => {
                    refresh_remember_cookie(req, manager, &user);
                    Ok(Some(user))
                }
                _ => {
                    // The user vanished, or their session hash changed (a password change, a
                    // "log out everywhere"): this login is over.
                    end_login(req, &req.get_session(), "user gone or session hash changed");
                    Ok(None)
                }
            }
        }
        Source::Remember(token) => {
            let remember = settings.remember.as_ref().expect("a remember source needs remember-me settings");
            // An inactive account cannot log in, from a form or from a cookie.
            let Some(user) = user.filter(|u| u.is_active() && remember.hash_matches(token, u.session_hash())) else {
                tracing::info!("clearing a remember cookie whose user is gone, inactive, or has a new session hash");
                with_state(req, |state| state.cookie = Some(CookieOp::Clear));
                return Ok(None);
            };
            // A new login, not fresh, with a new session id; the client identifier is stored
            // so that strong protection keeps this session (Flask-Login #248, #685).
            let record = LoginRecord::new(req, manager, token.user_id.clone(), user.hash_digest(), false);
            let session = req.get_session();
            session.renew();
            record.write(&session)?;
            with_state(req, |state| state.record = Some(record));
            emit(&settings.hooks, req, LoginEventKind::LoadedFromCookie, Some(&user), None);
            refresh_remember_cookie(req, manager, &user);
            Ok(Some(user))
        }
    }
}

/// With `refresh_each_request`, re-issues a valid remember cookie the request carried (and
/// only then: Flask-Login #424 gave everyone a year-long cookie).
fn refresh_remember_cookie(req: &HttpRequest, manager: &LoginManager, user: &SharedUser) {
    let Some(remember) = manager.settings().remember.as_ref().filter(|r| r.refresh_each_request) else { return };
    let Some(cookie) = req.cookie(&remember.name) else { return };
    let now = manager.now();
    let Some(token) = remember.decode(cookie.value(), now) else { return };
    if user.get_id().as_deref() != Some(token.user_id.as_str()) || !remember.hash_matches(&token, user.session_hash()) {
        return;
    }
    // The login's own lifetime: "remember me for an hour" stays an hour.
    let lifetime = token.lifetime;
    let value = remember.encode(&Token { expires: now.saturating_add(lifetime), ..token });
    with_state(req, |state| {
        if state.cookie.is_none() {
            state.cookie = Some(CookieOp::Set { value, lifetime: std::time::Duration::from_secs(lifetime) });
        }
    });
}

/// The login record in force for this request, as the session has it now.
pub(crate) fn current_record(req: &HttpRequest) -> Result<Option<LoginRecord>, LoginError> {
    LoginRecord::read(&req.get_session())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        for record in [
            LoginRecord {
                user_id: "42".into(),
                fresh_at: Some(1_764_000_100),
                login_at: 1_764_000_000,
                seen_at: Some(1_764_000_200),
                hash: Some("abc-_".into()),
                ident: Some(u64::MAX),
            },
            LoginRecord {
                user_id: "zoë:ünï:\"x\"".into(),
                fresh_at: None,
                login_at: 0,
                seen_at: None,
                hash: None,
                ident: None,
            },
        ] {
            let text = record.encode();
            assert_eq!(LoginRecord::decode(&text), Some(record.clone()), "{text}");
        }
        let compact = LoginRecord {
            user_id: "1".into(),
            fresh_at: Some(1_764_000_000),
            login_at: 1_764_000_000,
            seen_at: None,
            hash: None,
            ident: Some(7),
        };
        assert_eq!(compact.encode(), "1:t68n40:0:::7:1");
    }

    #[test]
    fn record_rejects_garbage() {
        for text in [
            "",
            "1",
            "2:a:::::1",
            "1:!:::::1",
            "1:a:::::",
            "1:a:::::"[..5].into(),
            "1:zzzzzzzzzzzzzz:::::1",
            "1:a::::zzzzzzzzzzzzzz:1",
        ] {
            assert_eq!(LoginRecord::decode(text), None, "{text}");
        }
    }
}
