//! The extractors behind [`#[login_required]`](macro@crate::login_required) and
//! [`#[fresh_login_required]`](macro@crate::fresh_login_required).
//!
//! The macros wrap a handler's extractors in one of these: the login is checked first, and
//! only then are the handler's own extractors run, so a refused request never has its body
//! read. Every method is checked, `OPTIONS` included: without the login, `OPTIONS` gets an empty
//! 204 that never reaches the handler.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use pin_project_lite::pin_project;

use crate::authz::{Anyone, CheckFn, CheckFuture, Checked, PermissionCheck, check, refuse_forbidden};
use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::resolve::UserFuture;
use crate::respond::{Refusal, refuse};
use crate::state::{RequestState, Source};
use crate::user::SharedUser;

/// The extractors `T`, behind a login check (and, with `FRESH`, a fresh-login check whose
/// maximum age is `MAX_AGE` seconds, 0 for none), then the permission rule `C`.
pub struct Guarded<T, const FRESH: bool, const MAX_AGE: u64, C = Anyone>(T, PhantomData<fn() -> C>);

/// `T` behind `#[login_required]` (with `permission = ..`, rule `C`).
pub type LoginRequired<T, C = Anyone> = Guarded<T, false, 0, C>;

/// `T` behind `#[fresh_login_required]` (with `permission = ..`, rule `C`).
pub type FreshLoginRequired<T, const MAX_AGE: u64, C = Anyone> = Guarded<T, true, MAX_AGE, C>;

impl<T, const FRESH: bool, const MAX_AGE: u64, C> Guarded<T, FRESH, MAX_AGE, C> {
    /// The handler's own extractors.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// What a guard requires, as a type (the future below cannot carry const parameters).
#[doc(hidden)]
pub struct Need<const FRESH: bool, const MAX_AGE: u64>;

#[doc(hidden)]
pub trait Requirement {
    const FRESH: bool;
    const MAX_AGE: u64;
}

impl<const FRESH: bool, const MAX_AGE: u64> Requirement for Need<FRESH, MAX_AGE> {
    const FRESH: bool = FRESH;
    const MAX_AGE: u64 = MAX_AGE;
}

pin_project! {
    /// The guard's work, generic over the extractors and the login requirement only: the
    /// permission rule is a function pointer, so 300 handlers with 300 rules share one copy
    /// of it (a type parameter would instantiate it per handler: twice the build time).
    #[doc(hidden)]
    pub struct GuardFuture<T: FromRequest, R> {
        req: HttpRequest,
        payload: Payload,
        rule: Option<CheckFn>,
        #[pin]
        stage: Stage<T::Future>,
        need: PhantomData<R>,
    }
}

pin_project! {
    /// Where the guard is. The user's resolution, the permission check and the handler's
    /// extractors never run at the same time, so the guard's future holds one of them at a
    /// time and is as large as the largest (for one `CurrentUser`: 120 bytes, 240 side by
    /// side; the permission check is boxed so that it never sets the size): actix moves it
    /// twice, and a move that small is a few inline copies instead of a `memcpy` call (rows 4
    /// and 5: −0.1 k each, measured).
    #[project = StageProj]
    enum Stage<F> {
        Refused { error: Option<actix_web::Error> },
        Check { user: UserFuture },
        Authorize { wait: Box<CheckFuture> },
        Extract { #[pin] fut: F },
    }
}

pin_project! {
    /// [`GuardFuture`] with its output named for the rule `C`.
    #[doc(hidden)]
    pub struct GuardedFuture<T: FromRequest, R, C> {
        #[pin]
        inner: GuardFuture<T, R>,
        rule: PhantomData<fn() -> C>,
    }
}

/// Whether the login in force is fresh enough.
fn is_fresh(req: &HttpRequest, manager: &LoginManager, max_age: u64) -> bool {
    let ext = req.extensions();
    let Some(state) = ext.get::<RequestState>() else {
        return false;
    };
    if state.source != Some(Source::Session) {
        return false;
    }
    let max_age = if max_age == 0 { manager.settings().fresh_max_age } else { max_age };
    match state.record.as_ref().and_then(|r| r.fresh_at) {
        None => false,
        Some(_) if max_age == 0 => true,
        Some(at) => manager.now().saturating_sub(at) <= max_age,
    }
}

/// What the guard does once the user is known.
enum Verdict {
    Pass,
    Refuse(actix_web::Error),
    Wait(Box<CheckFuture>),
}

/// Flask-Login lets OPTIONS through because Flask answers it itself; actix would call the
/// handler. An OPTIONS request without the login (or the permission) gets an empty 204
/// instead: no redirect, no flash, no handler (CORS preflights are `actix-cors`'s job).
#[inline]
fn refuse_options(req: &HttpRequest) -> Option<actix_web::Error> {
    (req.method() == Method::OPTIONS)
        .then(|| InternalError::from_response("options", HttpResponse::NoContent().finish()).into())
}

/// The permission rule's answer: `None` to let the request through.
fn permitted(req: &HttpRequest, user: &SharedUser, allowed: Result<bool, LoginError>) -> Option<actix_web::Error> {
    match allowed {
        Ok(true) => None,
        Err(error) => Some(error.into()),
        Ok(false) => Some(refuse_options(req).unwrap_or_else(|| match LoginManager::from_request(req) {
            Ok(manager) => refuse_forbidden(req, manager, Some(user)),
            Err(error) => error.into(),
        })),
    }
}

impl<T: FromRequest, R: Requirement> GuardFuture<T, R> {
    /// The verdict once the user is known; `manager`, when the caller has looked it up already.
    fn verdict(
        req: &HttpRequest,
        manager: Option<&LoginManager>,
        rule: Option<CheckFn>,
        user: Result<Option<SharedUser>, LoginError>,
    ) -> Verdict {
        let (refusal, user) = match user {
            Err(error) => return Verdict::Refuse(error.into()),
            Ok(Some(user)) if user.is_authenticated() => {
                if !R::FRESH {
                    return authorize(req, rule, &user);
                }
                (Refusal::NeedsRefresh, Some(user))
            }
            Ok(_) => (Refusal::Unauthorized, None),
        };
        let manager = match manager.map_or_else(|| LoginManager::from_request(req), Ok) {
            Ok(manager) => manager,
            Err(error) => return Verdict::Refuse(error.into()),
        };
        match (refusal, user) {
            (Refusal::NeedsRefresh, Some(user)) if is_fresh(req, manager, R::MAX_AGE) => authorize(req, rule, &user),
            _ => Verdict::Refuse(refuse_options(req).unwrap_or_else(|| refuse(req, manager, refusal))),
        }
    }
}

/// The permission rule, for a user whose login passed.
fn authorize(req: &HttpRequest, rule: Option<CheckFn>, user: &SharedUser) -> Verdict {
    let Some(rule) = rule else { return Verdict::Pass };
    match check(req, user, rule) {
        Checked::Done(allowed) => match permitted(req, user, allowed) {
            None => Verdict::Pass,
            Some(error) => Verdict::Refuse(error),
        },
        Checked::Pending(wait) => Verdict::Wait(Box::new(wait)),
    }
}

impl<T: FromRequest, const FRESH: bool, const MAX_AGE: u64, C: PermissionCheck> FromRequest
    for Guarded<T, FRESH, MAX_AGE, C>
{
    type Error = actix_web::Error;
    type Future = GuardedFuture<T, Need<FRESH, MAX_AGE>, C>;

    #[inline]
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        GuardedFuture { inner: GuardFuture::new(req, payload, C::rule()), rule: PhantomData }
    }
}

impl<T: FromRequest, R: Requirement> GuardFuture<T, R> {
    fn new(req: &HttpRequest, payload: &mut Payload, rule: Option<CheckFn>) -> Self {
        let fut = |payload: Payload, stage| GuardFuture { req: req.clone(), payload, rule, stage, need: PhantomData };
        let manager = match LoginManager::from_request(req) {
            Ok(manager) => manager,
            Err(error) => return fut(Payload::None, Stage::Refused { error: Some(error.into()) }),
        };
        let mut user = UserFuture::for_guard(req, manager);
        // Usually the answer is known now (no login, or already loaded): decide at once.
        if let UserFuture::Ready(result) = &mut user {
            let result = result.take().expect("a fresh UserFuture");
            return match Self::verdict(req, Some(manager), rule, result) {
                Verdict::Refuse(error) => fut(Payload::None, Stage::Refused { error: Some(error) }),
                Verdict::Pass => fut(Payload::None, Stage::Extract { fut: T::from_request(req, payload) }),
                Verdict::Wait(wait) => fut(payload.take(), Stage::Authorize { wait }),
            };
        }
        fut(payload.take(), Stage::Check { user })
    }
}

impl<T: FromRequest, const FRESH: bool, const MAX_AGE: u64, C> Future for GuardedFuture<T, Need<FRESH, MAX_AGE>, C> {
    type Output = Result<Guarded<T, FRESH, MAX_AGE, C>, actix_web::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.map(|t| Guarded(t, PhantomData)))
    }
}

impl<T: FromRequest, R: Requirement> Future for GuardFuture<T, R> {
    type Output = Result<T, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.stage.as_mut().project() {
                StageProj::Refused { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .unwrap_or_else(|| LoginError::Session("guard polled after completion".into()).into())));
                }
                StageProj::Check { user } => {
                    let user = ready!(Pin::new(user).poll(cx));
                    match Self::verdict(this.req, None, *this.rule, user) {
                        Verdict::Refuse(error) => Stage::Refused { error: Some(error) },
                        Verdict::Pass => Stage::Extract { fut: T::from_request(this.req, this.payload) },
                        Verdict::Wait(wait) => Stage::Authorize { wait },
                    }
                }
                StageProj::Authorize { wait } => {
                    let allowed = ready!(Pin::new(&mut **wait).poll(cx));
                    match permitted(this.req, wait.user(), allowed) {
                        Some(error) => Stage::Refused { error: Some(error) },
                        None => Stage::Extract { fut: T::from_request(this.req, this.payload) },
                    }
                }
                StageProj::Extract { fut } => return fut.poll(cx).map_err(Into::into),
            };
            this.stage.set(next);
        }
    }
}
