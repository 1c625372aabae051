//! What the session records about a login, and the per-request state that loads the user at
//! most once, lazily.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use actix_session::{Session, SessionExt};
use actix_web::{HttpMessage, HttpRequest};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::LoginError;
use crate::loader::LoadFuture;
use crate::manager::LoginManager;
use crate::user::{AuthUser, SharedUser};

/// The one session key that holds a login. Other keys the runtime uses: `_flashes` (messages)
/// and `_next` (with `use_session_for_next`).
pub(crate) const AUTH_KEY: &str = "_auth";

/// A login as the session stores it: short names, since a cookie session has 4 KB in all.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LoginRecord {
    /// The user's id.
    #[serde(rename = "u")]
    pub(crate) user_id: String,
    /// When the user last proved who they are (a fresh login); absent once the login is stale.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub(crate) fresh_at: Option<u64>,
    /// When this login started.
    #[serde(rename = "t", default)]
    pub(crate) login_at: u64,
    /// A digest of the user's session hash at login (never the hash itself).
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub(crate) hash: Option<String>,
}

impl LoginRecord {
    pub(crate) fn new(user_id: String, user: &dyn SessionHashed, now: u64, fresh: bool) -> Self {
        Self {
            user_id,
            fresh_at: fresh.then_some(now),
            login_at: now,
            hash: user.hash_digest(),
        }
    }

    pub(crate) fn read(session: &Session) -> Result<Option<Self>, LoginError> {
        match session.get::<LoginRecord>(AUTH_KEY) {
            Ok(record) => Ok(record),
            // A record this version cannot read is no login, not a server error.
            Err(error) => {
                tracing::warn!(%error, "ignoring an unreadable login record");
                Ok(None)
            }
        }
    }

    pub(crate) fn write(&self, session: &Session) -> Result<(), LoginError> {
        session
            .insert(AUTH_KEY, self)
            .map_err(|e| LoginError::Session(e.to_string()))
    }
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

/// Where this request's user came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Session,
    Request,
}

pub(crate) enum Slot {
    Unresolved,
    Loading(Vec<Waker>),
    Ready(Option<SharedUser>),
    Failed(LoginError),
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
    pub(crate) test_login: Option<TestLogin>,
}

impl RequestState {
    pub(crate) fn new() -> Self {
        Self {
            slot: Slot::Unresolved,
            record: None,
            source: None,
            wrote_login: false,
            test_login: None,
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

/// Resolves the current user: from the per-request cache, or by starting the one load of this
/// request, or by waiting for a load another extractor started.
pub(crate) enum UserFuture {
    Ready(Option<UserResult>),
    Leader {
        load: LoadFuture,
        req: HttpRequest,
        source: Source,
    },
    Follower {
        req: HttpRequest,
    },
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
        match Self::start(req, manager, test_login) {
            Ok(Some((load, source, record))) => {
                with_state(req, |state| {
                    state.slot = Slot::Loading(Vec::new());
                    state.record = record;
                    state.source = Some(source);
                });
                Self::Leader {
                    load,
                    req: req.clone(),
                    source,
                }
            }
            // Nothing to load: anonymous, decided without any async work. Not cached, since
            // finding that out again is as cheap as a cache.
            Ok(None) => Self::Ready(Some(Ok(None))),
            Err(error) => Self::Ready(Some(Err(error))),
        }
    }

    #[allow(clippy::type_complexity)]
    fn start(
        req: &HttpRequest,
        manager: &LoginManager,
        test_login: Option<TestLogin>,
    ) -> Result<Option<(LoadFuture, Source, Option<LoginRecord>)>, LoginError> {
        let settings = manager.settings();
        let session = req.get_session();
        let mut record = LoginRecord::read(&session)?;
        if let (None, Some(test)) = (&record, test_login) {
            let now = manager.now();
            let written = LoginRecord {
                user_id: test.user_id,
                fresh_at: test.fresh.then_some(now),
                login_at: now,
                hash: test.hash,
            };
            written.write(&session)?;
            record = Some(written);
        }
        if let Some(record) = record {
            let load = settings.loader.load(&record.user_id, req);
            return Ok(Some((load, Source::Session, Some(record))));
        }
        if let Some(loader) = &settings.request_loader {
            return Ok(Some((loader.load(req), Source::Request, None)));
        }
        Ok(None)
    }
}

impl Future for UserFuture {
    type Output = UserResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<UserResult> {
        let this = self.get_mut();
        match this {
            Self::Ready(result) => {
                Poll::Ready(result.take().expect("UserFuture polled after completion"))
            }
            Self::Leader { load, req, source } => {
                let result = match load.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                };
                let result = result.and_then(|user| accept(req, *source, user));
                let waiters = {
                    let mut ext = req.extensions_mut();
                    let state = ext
                        .get_mut::<RequestState>()
                        .expect("the leader inserted the state");
                    let slot = match &result {
                        Ok(user) => Slot::Ready(user.clone()),
                        Err(error) => Slot::Failed(error.clone()),
                    };
                    match std::mem::replace(&mut state.slot, slot) {
                        Slot::Loading(waiters) => waiters,
                        _ => Vec::new(),
                    }
                };
                waiters.into_iter().for_each(Waker::wake);
                Poll::Ready(result)
            }
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

/// Checks a freshly loaded user against the login record; a user that vanished or whose
/// session hash changed logs this session out.
fn accept(req: &HttpRequest, source: Source, user: Option<SharedUser>) -> UserResult {
    if source != Source::Session {
        return Ok(user);
    }
    let record = req
        .extensions()
        .get::<RequestState>()
        .and_then(|s| s.record.clone());
    let valid = match (&user, &record) {
        (Some(user), Some(record)) => hash_matches(record, user),
        _ => false,
    };
    if valid {
        return Ok(user);
    }
    tracing::info!(
        user_id = record.as_ref().map(|r| r.user_id.as_str()),
        "ending a login whose user no longer exists or whose session hash changed"
    );
    req.get_session().remove(AUTH_KEY);
    with_state(req, |state| state.record = None);
    Ok(None)
}

/// The login record in force for this request, as the session has it now.
pub(crate) fn current_record(req: &HttpRequest) -> Result<Option<LoginRecord>, LoginError> {
    LoginRecord::read(&req.get_session())
}
