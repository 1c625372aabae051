//! What the session records about a login, and the per-request state that loads the user at
//! most once, lazily.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use actix_session::{Session, SessionExt};
use actix_web::{HttpMessage, HttpRequest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use actix_web::cookie::Cookie;

use crate::error::LoginError;
use crate::events::{LoginEventKind, emit};
use crate::loader::{LoadFuture, Unlisted};
use crate::manager::{LoginManager, SessionProtection};
use crate::reason::{self, LogoutReason};
use crate::registry::{FORGET_UNSEEN, RegistryOp, login_info, new_login_id, queue, queue_removal, usable_until};
use crate::remember::Token;
use crate::user::{AuthUser, SharedUser};

/// The session key of a login starts with this; the rest of the key is the login record (see
/// [`LoginRecord`]). Other keys the runtime uses: `_flashes` (messages) and `_next` (with
/// `use_session_for_next`).
pub(crate) const LOGIN_PREFIX: &str = "_u:";

/// A login as the session stores it, next to the user's id.
///
/// It is read on every request, and with the cookie store every byte of the session is
/// decrypted, base64- and percent-decoded and JSON-parsed on every request (about 90
/// instructions a byte, measured): so the record is short, and it is the session *key*, with
/// the number `0` as its value. A session value is a JSON text kept in a JSON string (a string
/// value costs four escaped bytes and serde's slow path); a key is a plain JSON string, which
/// this text never needs to escape (unless the user id does).
///
/// The text: a flags digit, then fixed-width base64url fields (only those the flags announce),
/// then the user id: `<flags><login at: 6><fresh at: 6>?<seen at: 6>?<hash digest: 8>?
/// <client ident: 8 or 11>?<id>`. The flags: bits 0-1 freshness (0 stale, 1 fresh since the
/// login, 2 fresh since `fresh at`), bit 2 `seen at`, bit 3 the session-hash digest, bits 4-5
/// the client identifier (1: 48 bits, keyed; 2: 64 bits, unkeyed). The value 3 in either
/// two-bit group is unused: a later format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoginRecord {
    /// When this login started (seconds).
    pub(crate) login_at: u64,
    /// When the user last proved who they are (a fresh login); absent once the login is stale.
    pub(crate) fresh_at: Option<u64>,
    /// When the last request was recorded (only kept with an idle timeout).
    pub(crate) seen_at: Option<u64>,
    /// A digest of the user's session hash at login (never the hash itself).
    pub(crate) hash: Option<u64>,
    /// Digest of the client's address and user agent, for session protection.
    pub(crate) ident: Option<Ident>,
    /// The login's id in the [login registry](crate::LoginRegistry), if one is configured. It
    /// is the session entry's value (a JSON number; `0` without one), not part of the key.
    pub(crate) login_id: Option<u64>,
}

/// The session-protection digest of a client: 48 bits when keyed with the manager's secret key
/// (it can only be guessed online), 64 bits when not (an unkeyed digest can be searched
/// offline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ident {
    Keyed(u64),
    Unkeyed(u64),
}

const FRESH_SINCE_LOGIN: u8 = 1;
const FRESH_SINCE: u8 = 2;
const SEEN_AT: u8 = 4;
const HASH: u8 = 8;
const IDENT_KEYED: u8 = 16;
const IDENT_UNKEYED: u8 = 32;
/// Width of a time field: 36 bits, enough until the year 4147.
const TIME_DIGITS: usize = 6;
/// Width of a 48-bit digest field.
const SHORT_DIGITS: usize = 8;
/// Width of a 64-bit digest field.
const LONG_DIGITS: usize = 11;

impl LoginRecord {
    /// A login starting now, for this request's client.
    pub(crate) fn new(req: &HttpRequest, manager: &LoginManager, hash: Option<u64>, fresh: bool) -> Self {
        let now = manager.now();
        Self {
            login_at: now,
            fresh_at: fresh.then_some(now),
            seen_at: manager.activity_interval().map(|_| now),
            hash,
            ident: client_ident(req, manager),
            login_id: None,
        }
    }

    /// The login in the session and the user id it is for; `None` without one.
    pub(crate) fn read(session: &Session) -> Option<(Self, String)> {
        let entries = session.entries();
        let (text, value) = find_login(&entries)?;
        let found = Self::decode(text).map(|(record, id)| (record.with_login_id(value), id.to_owned()));
        if found.is_none() {
            unreadable();
        }
        found
    }

    /// Makes this the session's login (replacing any other).
    pub(crate) fn write(&self, session: &Session, user_id: &str) -> Result<(), LoginError> {
        remove_login(session);
        session
            .insert(format!("{LOGIN_PREFIX}{}", self.encode(user_id)), self.login_id.unwrap_or(0))
            .map_err(|e| LoginError::Session(e.to_string()))
    }

    /// The record with the login id of the session entry's `value`.
    fn with_login_id(self, value: &str) -> Self {
        let login_id = if value == "0" { None } else { value.parse().ok().filter(|&id| id != 0) };
        Self { login_id, ..self }
    }

    fn encode(&self, user_id: &str) -> String {
        let mut out = String::with_capacity(1 + TIME_DIGITS * 3 + SHORT_DIGITS + LONG_DIGITS + user_id.len());
        let fresh_since_login = self.fresh_at == Some(self.login_at);
        let fresh_since = self.fresh_at.filter(|_| !fresh_since_login);
        let mut flags = 0;
        for (present, flag) in [
            (fresh_since_login, FRESH_SINCE_LOGIN),
            (fresh_since.is_some(), FRESH_SINCE),
            (self.seen_at.is_some(), SEEN_AT),
            (self.hash.is_some(), HASH),
            (matches!(self.ident, Some(Ident::Keyed(_))), IDENT_KEYED),
            (matches!(self.ident, Some(Ident::Unkeyed(_))), IDENT_UNKEYED),
        ] {
            if present {
                flags |= flag;
            }
        }
        out.push(char::from(B64_DIGITS[usize::from(flags)]));
        push_digits(&mut out, self.login_at, TIME_DIGITS);
        let ident = match self.ident {
            Some(Ident::Keyed(value)) => Some((value, SHORT_DIGITS)),
            Some(Ident::Unkeyed(value)) => Some((value, LONG_DIGITS)),
            None => None,
        };
        for (value, digits) in [
            fresh_since.map(|at| (at, TIME_DIGITS)),
            self.seen_at.map(|at| (at, TIME_DIGITS)),
            self.hash.map(|hash| (hash, SHORT_DIGITS)),
            ident,
        ]
        .into_iter()
        .flatten()
        {
            push_digits(&mut out, value, digits);
        }
        out.push_str(user_id);
        out
    }

    /// The record and the user id in `text`.
    fn decode(text: &str) -> Option<(Self, &str)> {
        let bytes = text.as_bytes();
        let flags = digit_value(*bytes.first()?)?;
        let both = |a: u8, b: u8| flags & (a | b) == a | b;
        if both(FRESH_SINCE_LOGIN, FRESH_SINCE) || both(IDENT_KEYED, IDENT_UNKEYED) {
            return None;
        }
        let mut at = 1;
        let mut field = |digits: usize| -> Option<u64> {
            let value = parse_digits(bytes.get(at..at + digits)?)?;
            at += digits;
            Some(value)
        };
        let login_at = field(TIME_DIGITS)?;
        let fresh_since = if flags & FRESH_SINCE != 0 { Some(field(TIME_DIGITS)?) } else { None };
        let seen_at = if flags & SEEN_AT != 0 { Some(field(TIME_DIGITS)?) } else { None };
        let hash = if flags & HASH != 0 { Some(field(SHORT_DIGITS)?) } else { None };
        let ident = if flags & IDENT_KEYED != 0 {
            Some(Ident::Keyed(field(SHORT_DIGITS)?))
        } else if flags & IDENT_UNKEYED != 0 {
            Some(Ident::Unkeyed(field(LONG_DIGITS)?))
        } else {
            None
        };
        let fresh_at = if flags & FRESH_SINCE_LOGIN != 0 { Some(login_at) } else { fresh_since };
        // Every byte before `at` is an ASCII digit, so `at` is a character boundary.
        let id = text.get(at..).filter(|id| !id.is_empty())?;
        Some((Self { login_at, fresh_at, seen_at, hash, ident, login_id: None }, id))
    }
}

/// The record text of the session's login and the entry's value, if it has one.
fn find_login(entries: &HashMap<String, String>) -> Option<(&str, &str)> {
    // A handful of entries: a scan costs less than hashing the key for a lookup would.
    entries.iter().find_map(|(key, value)| Some((key.strip_prefix(LOGIN_PREFIX)?, value.as_str())))
}

/// Whether the session holds a login.
pub(crate) fn has_login(session: &Session) -> bool {
    find_login(&session.entries()).is_some()
}

/// Removes the session's login; whether there was one.
pub(crate) fn remove_login(session: &Session) -> bool {
    let keys: Vec<String> = session.entries().keys().filter(|k| k.starts_with(LOGIN_PREFIX)).cloned().collect();
    for key in &keys {
        session.remove(key);
    }
    !keys.is_empty()
}

#[cold]
fn unreadable() {
    // A record this version cannot read is no login, not a server error.
    tracing::warn!("ignoring an unreadable login record");
}

const B64_DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each base64url digit, 255 for bytes that are not one.
const DIGIT_VALUES: [u8; 256] = {
    let mut values = [255u8; 256];
    let mut i = 0;
    while i < 64 {
        values[B64_DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    values
};

fn digit_value(b: u8) -> Option<u8> {
    let value = DIGIT_VALUES[usize::from(b)];
    (value < 64).then_some(value)
}

/// `n` as `digits` base64url digits, most significant first (saturated to what fits).
fn push_digits(out: &mut String, n: u64, digits: usize) {
    let n = if digits * 6 < 64 { n.min((1 << (digits * 6)) - 1) } else { n };
    for i in (0..digits).rev() {
        out.push(char::from(B64_DIGITS[((n >> (6 * i)) & 63) as usize]));
    }
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    // One test for the whole field: a byte that is no digit has the value 255.
    let (mut n, mut seen) = (0u64, 0u8);
    for &b in digits {
        let value = DIGIT_VALUES[usize::from(b)];
        seen |= value;
        n = (n << 6) | u64::from(value & 63);
    }
    // 11 digits hold 66 bits: the first of them carries at most 4.
    let overflows = digits.len() * 6 > 64 && digits.first().is_some_and(|&b| DIGIT_VALUES[usize::from(b)] >= 16);
    (seen < 64 && !overflows).then_some(n)
}

/// The digest of a session hash, as stored in the session: 48 bits of SHA-256. It only has to
/// change when the hash does (a change goes unnoticed with odds of 2^-48).
pub(crate) trait SessionHashed {
    fn hash_digest(&self) -> Option<u64>;
}

impl<U: AuthUser + ?Sized> SessionHashed for U {
    fn hash_digest(&self) -> Option<u64> {
        self.session_hash().map(|h| {
            let digest = Sha256::digest(h);
            u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes")) >> 16
        })
    }
}

/// Whether the user still has the session hash the login recorded (constant-time).
fn hash_matches(recorded: Option<u64>, user: &SharedUser) -> bool {
    match (recorded, user.hash_digest()) {
        (None, None) => true,
        (Some(a), Some(b)) => a.to_be_bytes().ct_eq(&b.to_be_bytes()).into(),
        _ => false,
    }
}

/// The session-protection digest of the client's address and user agent: 48 bits of SipHash-2-4
/// keyed with the manager's [secret key](LoginManager::secret_key), or 64 bits of SHA-256
/// without one.
/// Either way a thief who knows the victim's address and user agent cannot craft a user agent
/// that passes for the victim's client from elsewhere.
pub(crate) fn client_ident(req: &HttpRequest, manager: &LoginManager) -> Option<Ident> {
    let settings = manager.settings();
    if settings.protection == SessionProtection::Off {
        return None;
    }
    let mut octets = [0u8; 16];
    let addr: &[u8] = match crate::proxy::client_ip(req, settings) {
        Some(std::net::IpAddr::V4(ip)) => {
            octets[..4].copy_from_slice(&ip.octets());
            &octets[..4]
        }
        Some(std::net::IpAddr::V6(ip)) => {
            octets = ip.octets();
            &octets
        }
        None => b"",
    };
    let agent = req.headers().get(actix_web::http::header::USER_AGENT).map_or(&b""[..], |v| v.as_bytes());
    Some(match settings.ident_key {
        Some((k0, k1)) => {
            use std::hash::Hasher;
            let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
            h.write(addr);
            h.write_u8(b'|');
            h.write(agent);
            Ident::Keyed(h.finish() >> 16)
        }
        None => {
            let mut h = Sha256::new();
            h.update(b"login-runtime client\0");
            h.update(addr);
            h.update(b"|");
            h.update(agent);
            Ident::Unkeyed(u64::from_be_bytes(h.finalize()[..8].try_into().expect("SHA-256 has 32 bytes")))
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
    Load { load: LoadFuture, source: Source, record: Option<LoginRecord> },
    Anonymous,
}

/// Resolves the current user: from the per-request cache, or by starting the one load of this
/// request, or by waiting for a load another extractor started.
pub(crate) enum UserFuture {
    Ready(Option<UserResult>),
    Leader {
        load: LoadFuture,
        req: HttpRequest,
        manager: LoginManager,
        source: Source,
        /// The session-hash digest of the login record, for a user from the session.
        hash: Option<u64>,
        finished: bool,
    },
    Follower {
        req: HttpRequest,
    },
}

impl UserFuture {
    pub(crate) fn new(req: &HttpRequest) -> Self {
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
        let manager = match LoginManager::from_request(req) {
            Ok(manager) => manager,
            Err(error) => return Self::Ready(Some(Err(error))),
        };
        emit(&manager.settings().hooks, req, LoginEventKind::Accessed, None, None);
        match start(req, manager, test_login) {
            Ok(Start::Load { load, source, record }) => {
                with_state(req, |state| {
                    state.slot = Slot::Loading(Vec::new());
                    state.record = record;
                    state.source = Some(source.clone());
                });
                let hash = record.and_then(|r| r.hash);
                Self::Leader { load, req: req.clone(), manager: manager.clone(), source, hash, finished: false }
            }
            // Anonymous, decided without any async work. Not cached: finding that out again
            // is as cheap as a cache.
            Ok(Start::Anonymous) => Self::Ready(Some(Ok(None))),
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
        match find_login(&entries) {
            None => Verdict::NoLogin,
            Some((text, value)) => match LoginRecord::decode(text) {
                None => {
                    unreadable();
                    Verdict::NoLogin
                }
                Some((record, id)) => check(req, manager, record.with_login_id(value), id, listed_now),
            },
        }
    };
    match verdict {
        Verdict::NoLogin => {}
        Verdict::Ended(why) => end_login(req, manager, &session, why),
        Verdict::Load { load, record, write } => {
            if let Some(id) = write {
                record.write(&session, &id)?;
            }
            return Ok(Start::Load { load, source: Source::Session, record: Some(record) });
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
                    return Ok(Start::Load { load, source: Source::Remember(Box::new(token)), record: None });
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
            Self::Leader { load, req, manager, source, hash, finished } => loop {
                let result = match load.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                };
                let accepted = result.and_then(|user| accept(req, manager, source, *hash, user));
                record_user_span(&accepted);
                let result = match accepted {
                    // A session login or a remember cookie that did not work does not stop the
                    // next source: the remember cookie, then the request loader (Flask-Login
                    // #901).
                    Ok(None) if *source != Source::Request => {
                        let next = match source {
                            Source::Session => next_source(req, manager, true)?,
                            _ => request_loader(req, manager)?,
                        };
                        if let Start::Load { load: next, source: next_source, record } = next {
                            *load = next;
                            *source = next_source.clone();
                            *hash = record.and_then(|r| r.hash);
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
    source: &Source,
    hash: Option<u64>,
    user: Option<SharedUser>,
) -> UserResult {
    let settings = manager.settings();
    match source {
        Source::Request => {
            if let Some(user) = &user {
                emit(&settings.hooks, req, LoginEventKind::LoadedFromRequest, Some(user), None);
            }
            Ok(user)
        }
        Source::Session => {
            match user {
                Some(user) if hash_matches(hash, &user) => {
                    refresh_remember_cookie(req, manager, &user);
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
        Source::Remember(token) => {
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
            refresh_remember_cookie(req, manager, &user);
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
/// key signed it, signed with the current key and the same expiry.
fn refresh_remember_cookie(req: &HttpRequest, manager: &LoginManager, user: &SharedUser) {
    let Some(remember) = manager.settings().remember.as_ref() else { return };
    let Some(cookie) = req.cookie(&remember.name) else { return };
    let now = manager.now();
    let Some(token) = remember.decode(cookie.value(), now) else { return };
    if !remember.refresh_each_request && token.key_index == 0 {
        return;
    }
    if user.get_id().as_deref() != Some(token.user_id.as_str()) || !remember.hash_matches(&token, user.session_hash()) {
        return;
    }
    // The login's own lifetime: "remember me for an hour" stays an hour.
    let expires = if remember.refresh_each_request { now.saturating_add(token.lifetime) } else { token.expires };
    let hash_mac = remember.hash_mac(user.session_hash());
    let value = remember.encode(&Token { expires, hash_mac, key_index: 0, ..token });
    let lifetime = std::time::Duration::from_secs(expires.saturating_sub(now));
    with_state(req, |state| {
        if state.cookie.is_none() {
            state.cookie = Some(CookieOp::Set { value, lifetime });
        }
    });
}

/// The login in force for this request, as the session has it now (none once logged out), and
/// its user id.
pub(crate) fn current_record(req: &HttpRequest) -> Option<(LoginRecord, String)> {
    if req.extensions().get::<RequestState>().is_some_and(|state| state.logged_out) {
        return None;
    }
    LoginRecord::read(&req.get_session())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let full = LoginRecord {
            login_at: 1_764_000_000,
            fresh_at: Some(1_764_000_100),
            seen_at: Some(1_764_000_200),
            hash: Some((1 << 48) - 1),
            ident: Some(Ident::Unkeyed(u64::MAX)),
            login_id: None,
        };
        let empty = LoginRecord { login_at: 0, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let fresh = LoginRecord { fresh_at: Some(1_764_000_000), ident: Some(Ident::Keyed(12_345)), ..full };
        for record in [full, empty, fresh, LoginRecord { ident: None, ..full }] {
            for id in ["42", "zoë:ünï:\"x\"", "a"] {
                let text = record.encode(id);
                assert_eq!(LoginRecord::decode(&text), Some((record, id)), "{text}");
            }
        }
    }

    #[test]
    fn record_is_compact() {
        // A fresh login with (keyed) session protection: flags, login time, client digest, id.
        let record = LoginRecord {
            login_at: 1_764_000_000,
            fresh_at: Some(1_764_000_000),
            seen_at: None,
            hash: None,
            ident: Some(Ident::Keyed(7)),
            login_id: None,
        };
        assert_eq!(record.encode("1"), "RBpJIEAAAAAAAAH1");
    }

    #[test]
    fn the_login_is_the_key_of_its_entry() {
        let record =
            LoginRecord { login_at: 1, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let mut entries = HashMap::new();
        entries.insert("_user".to_owned(), "1".to_owned());
        assert_eq!(find_login(&entries), None);
        entries.insert(format!("{LOGIN_PREFIX}{}", record.encode("ada")), "0".to_owned());
        let (text, value) = find_login(&entries).unwrap();
        assert_eq!((LoginRecord::decode(text), value), (Some((record, "ada")), "0"));
        // As the cookie store writes it: nothing escaped.
        let json = serde_json::to_string(&entries).unwrap();
        assert!(json.contains(r#""_u:AAAAAABada":"0""#), "{json}");
    }

    #[test]
    fn record_rejects_garbage() {
        for text in [
            "",
            "R",
            "RBpJIE",              // no id
            "DBpJIEBpJIE1",        // fresh since login and since another time
            "wBpJIEAAAAAAAAH1",    // both kinds of client digest
            "RBpJ!EAAAAAAAAH1",    // not a digit
            "gBpJIEA_AAAAAAAAAA1", // a digest over 64 bits
            "RBpJIEAAAAAAAAH",     // no id after the digest
            "1:t68n40:0:::7:1",    // the first format
        ] {
            assert_eq!(LoginRecord::decode(text), None, "{text}");
        }
    }

    #[test]
    fn the_login_id_is_the_entry_s_value() {
        let record =
            LoginRecord { login_at: 1, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        assert_eq!(record.with_login_id("0").login_id, None);
        assert_eq!(record.with_login_id("9007199254740991").login_id, Some((1 << 53) - 1));
        for junk in ["", "-1", "1.5", "\"7\"", "abc", "99999999999999999999999"] {
            assert_eq!(record.with_login_id(junk).login_id, None, "{junk}");
        }
    }

    #[test]
    fn times_saturate_at_36_bits() {
        let record =
            LoginRecord { login_at: u64::MAX, fresh_at: None, seen_at: None, hash: None, ident: None, login_id: None };
        let text = record.encode("1");
        assert_eq!(LoginRecord::decode(&text).map(|(r, _)| r.login_at), Some((1 << 36) - 1));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn ident() -> impl Strategy<Value = Option<Ident>> {
        prop_oneof![
            Just(None),
            (0u64..1 << 48).prop_map(|v| Some(Ident::Keyed(v))),
            any::<u64>().prop_map(|v| Some(Ident::Unkeyed(v))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_login_record_decoder_survives_anything(text in ".{0,80}") {
            let _ = LoginRecord::decode(&text);
        }

        #[test]
        fn login_records_round_trip(
            login_at in 0u64..1 << 36,
            fresh in prop_oneof![Just(0u8), Just(1), Just(2)],
            fresh_since in 0u64..1 << 36,
            seen_at in proptest::option::of(0u64..1 << 36),
            hash in proptest::option::of(0u64..1 << 48),
            ident in ident(),
            user_id in ".{1,30}",
        ) {
            let fresh_at = match fresh { 0 => None, 1 => Some(login_at), _ => Some(fresh_since) };
            let record = LoginRecord { login_at, fresh_at, seen_at, hash, ident, login_id: None };
            let text = record.encode(&user_id);
            let decoded = LoginRecord::decode(&text);
            prop_assert!(decoded.is_some(), "{text:?}");
            let (back, id) = decoded.unwrap();
            prop_assert_eq!(id, user_id.as_str());
            prop_assert_eq!(back, record);
        }
    }
}
