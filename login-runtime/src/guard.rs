//! The extractors behind [`#[login_required]`](macro@crate::login_required) and
//! [`#[fresh_login_required]`](macro@crate::fresh_login_required).
//!
//! The macros wrap a handler's extractors in one of these: the login is checked first, and
//! only then are the handler's own extractors run, so a refused request never has its body
//! read. Every method is checked, `OPTIONS` included: without the login, `OPTIONS` gets an empty
//! 204 that never reaches the handler.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use pin_project_lite::pin_project;

use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::resolve::UserFuture;
use crate::respond::{Refusal, refuse};
use crate::state::{RequestState, Source};

/// The extractors `T`, behind a login check (and, with `FRESH`, a fresh-login check whose
/// maximum age is `MAX_AGE` seconds, 0 for none).
pub struct Guarded<T, const FRESH: bool, const MAX_AGE: u64>(T);

/// `T` behind `#[login_required]`.
pub type LoginRequired<T> = Guarded<T, false, 0>;

/// `T` behind `#[fresh_login_required]`.
pub type FreshLoginRequired<T, const MAX_AGE: u64> = Guarded<T, true, MAX_AGE>;

impl<T, const FRESH: bool, const MAX_AGE: u64> Guarded<T, FRESH, MAX_AGE> {
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
    #[doc(hidden)]
    pub struct GuardFuture<T: FromRequest, R> {
        req: HttpRequest,
        payload: Payload,
        check: Option<UserFuture>,
        refused: Option<actix_web::Error>,
        #[pin]
        extract: Option<T::Future>,
        need: std::marker::PhantomData<R>,
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

impl<T: FromRequest, R: Requirement> GuardFuture<T, R> {
    /// The verdict once the user is known: `None` to let the request through.
    fn verdict(
        req: &HttpRequest,
        user: Result<Option<crate::user::SharedUser>, LoginError>,
    ) -> Option<actix_web::Error> {
        let refusal = match user {
            Err(error) => return Some(error.into()),
            Ok(Some(user)) if user.is_authenticated() => {
                if !R::FRESH {
                    return None;
                }
                Refusal::NeedsRefresh
            }
            Ok(_) => Refusal::Unauthorized,
        };
        let manager = match LoginManager::from_request(req) {
            Ok(manager) => manager,
            Err(error) => return Some(error.into()),
        };
        match refusal {
            Refusal::NeedsRefresh if is_fresh(req, manager, R::MAX_AGE) => None,
            // Flask-Login lets OPTIONS through because Flask answers it itself; actix would call
            // the handler. An OPTIONS request without the login gets an empty 204 instead: no
            // redirect, no flash, no handler (CORS preflights are `actix-cors`'s job).
            _ if req.method() == Method::OPTIONS => {
                Some(InternalError::from_response("options", HttpResponse::NoContent().finish()).into())
            }
            refusal => Some(refuse(req, manager, refusal)),
        }
    }
}

impl<T: FromRequest, const FRESH: bool, const MAX_AGE: u64> FromRequest for Guarded<T, FRESH, MAX_AGE> {
    type Error = actix_web::Error;
    type Future = GuardFuture<T, Need<FRESH, MAX_AGE>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut fut = GuardFuture {
            req: req.clone(),
            payload: Payload::None,
            check: None,
            refused: None,
            extract: None,
            need: std::marker::PhantomData,
        };
        let mut user = UserFuture::new(req);
        // Usually the answer is known now (no login, or already loaded): decide at once.
        if let UserFuture::Ready(result) = &mut user {
            let result = result.take().expect("a fresh UserFuture");
            match Self::Future::verdict(req, result) {
                Some(error) => fut.refused = Some(error),
                None => fut.extract = Some(T::from_request(req, payload)),
            }
            return fut;
        }
        fut.payload = payload.take();
        fut.check = Some(user);
        fut
    }
}

impl<T: FromRequest, const FRESH: bool, const MAX_AGE: u64> Future for GuardFuture<T, Need<FRESH, MAX_AGE>> {
    type Output = Result<Guarded<T, FRESH, MAX_AGE>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(error) = this.refused.take() {
            return Poll::Ready(Err(error));
        }
        if let Some(check) = this.check.as_mut() {
            let user = ready!(Pin::new(check).poll(cx));
            *this.check = None;
            if let Some(error) = Self::verdict(this.req, user) {
                return Poll::Ready(Err(error));
            }
            this.extract.set(Some(T::from_request(this.req, this.payload)));
        }
        match this.extract.as_pin_mut() {
            Some(extract) => extract.poll(cx).map(|r| r.map(Guarded).map_err(Into::into)),
            None => Poll::Ready(Err(LoginError::Session("guard polled after completion".into()).into())),
        }
    }
}
