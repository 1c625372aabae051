//! The login middleware: response-time work (checking that a login was saved, the remember
//! cookie, the login registry).

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_core::future::LocalBoxFuture;
use pin_project_lite::pin_project;

use crate::error::LoginError;
use crate::listing::add_login;
use crate::manager::LoginManager;
use crate::record::{has_login, remove_login};
use crate::registry::RegistryOp;
use crate::state::{CookieOp, RequestState};

/// The middleware half of a [`LoginManager`]; get it from [`LoginManager::middleware`] and
/// wrap it around the app after actix-session's `SessionMiddleware`, so that it runs outside
/// it.
#[derive(Clone, Debug)]
pub struct LoginMiddleware {
    manager: LoginManager,
}

impl LoginManager {
    /// The middleware to wrap around the `App`, after actix-session's `SessionMiddleware`
    /// (so that it runs outside it).
    ///
    /// Without it, extractors and [`login_user`](crate::login_user) answer 500 with a log line
    /// naming the fix. The check is made per manager, at no cost per request: a manager shared
    /// by several `App`s counts as installed once any of them wraps its middleware.
    pub fn middleware(&self) -> LoginMiddleware {
        LoginMiddleware { manager: self.clone() }
    }
}

impl<S, B> Transform<S, ServiceRequest> for LoginMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = LoginService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    /// Fails when a guarded handler asks for a user type no loader produces (logged: see
    /// `startup`).
    fn new_transform(&self, service: S) -> Self::Future {
        self.manager.mark_middleware_installed();
        ready(crate::startup::check(&self.manager.loaded_user_types()).map(|()| LoginService { service }))
    }
}

#[doc(hidden)]
pub struct LoginService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for LoginService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LoginResponse<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        LoginResponse { fut: self.service.call(req), registry: None }
    }
}

type Finishing<B> = LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>;

pin_project! {
    #[doc(hidden)]
    pub struct LoginResponse<F, B> {
        #[pin]
        fut: F,
        // The login registry's changes, then the response.
        registry: Option<Finishing<B>>,
    }
}

impl<F, B> Future for LoginResponse<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: 'static,
{
    type Output = Result<ServiceResponse<B>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(finishing) = this.registry {
            return finishing.as_mut().poll(cx);
        }
        let mut res = ready!(this.fut.poll(cx))?;
        let state = res
            .request()
            .extensions_mut()
            .get_mut::<RequestState>()
            .map(|s| (s.wrote_login, s.cookie.take(), std::mem::take(&mut s.registry), s.clear_message_cookie));
        let Some((wrote_login, cookie, ops, clear_message)) = state else {
            return Poll::Ready(Ok(res));
        };
        // actix-session takes the session's state when it saves it: a login still in the
        // session now was never saved.
        if wrote_login && has_login(&res.request().get_session()) {
            return Poll::Ready(Err(unsaved_login(&res)));
        }
        if let Some(op) = cookie {
            set_remember_cookie(&mut res, op);
        }
        if clear_message && let Err(error) = res.response_mut().add_cookie(&crate::flash::message_cookie_removal()) {
            tracing::error!(%error, "could not clear the login message cookie");
        }
        if ops.is_empty() {
            return Poll::Ready(Ok(res));
        }
        let Some(manager) =
            res.request().app_data::<LoginManager>().filter(|m| m.settings().registry.is_some()).cloned()
        else {
            return Poll::Ready(Ok(res));
        };
        let mut finishing = Box::pin(apply(manager, ops, res));
        let poll = finishing.as_mut().poll(cx);
        *this.registry = Some(finishing);
        poll
    }
}

/// Makes the login registry's changes of this request, in order, then lets the response go.
/// A failure is a logged 500: a login that could not be listed, or a logout that could not be
/// recorded, must not look done.
async fn apply<B>(
    manager: LoginManager,
    ops: Vec<RegistryOp>,
    res: ServiceResponse<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let Some(registry) = manager.settings().registry.as_deref() else { return Ok(res) };
    for op in ops {
        let done = match op {
            RegistryOp::Add(login) => add_login(registry, &manager, login).await,
            RegistryOp::Remove { user_id, login_id } => registry.remove(&user_id, login_id).await,
            RegistryOp::Touch { user_id, login_id, last_seen, expires_at } => {
                // Only the login's last-seen time is lost: the next interval writes it again.
                if let Err(error) = registry.touch(&user_id, login_id, last_seen, expires_at).await {
                    tracing::warn!(%error, "could not record when a login was last seen");
                }
                Ok(())
            }
        };
        if let Err(error) = done {
            tracing::error!(%error, "login error");
            return Err(error.into());
        }
    }
    Ok(res)
}

/// Sets or clears the remember cookie on the response.
fn set_remember_cookie<B>(res: &mut ServiceResponse<B>, op: CookieOp) {
    let manager = res.request().app_data::<LoginManager>().cloned();
    if let Some(remember) = manager.as_ref().and_then(|m| m.settings().remember.as_ref()) {
        let cookie = match op {
            CookieOp::Set { value, lifetime } => remember.set_cookie(value, lifetime),
            CookieOp::Clear => remember.clear_cookie(),
        };
        if let Err(error) = res.response_mut().add_cookie(&cookie) {
            tracing::error!(%error, "could not set the remember cookie");
        }
    }
}

/// The error answering a request whose login the session middleware did not save.
#[cold]
fn unsaved_login<B>(res: &ServiceResponse<B>) -> actix_web::Error {
    // Registered in the wrong order, the session middleware still runs after this: the
    // refused login must not reach it.
    remove_login(&res.request().get_session());
    let error = LoginError::SessionMiddlewareMissing;
    tracing::error!(%error, "login error");
    error.into()
}
