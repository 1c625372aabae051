//! User loaders: how the login manager turns a stored id (or a request) into a user.
//!
//! These traits are implemented by [`#[user_loader]`](macro@crate::user_loader) and
//! [`#[request_loader]`](macro@crate::request_loader); implement them by hand only when a
//! macro does not fit.

use std::fmt::Display;
use std::future::Future;
use std::rc::Rc;
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::{Instrument, Span};

use crate::error::LoginError;
use crate::registry::RegistryFuture;
use crate::user::{AuthUser, SharedUser};

/// Loads a user from the id stored in the session (Flask-Login's `user_loader`).
///
/// `Args` are actix extractors (`web::Data<Pool>`, ...) run against the request, with no body.
pub trait UserLoader: Clone + Send + Sync + 'static {
    /// The id's type: the stored string is parsed with [`FromStr`]; an id that does not parse
    /// is an unknown user.
    type Id: FromStr;
    /// Extractors handed to the loader after the id.
    type Args: FromRequest + 'static;
    /// `Option<User>` or `Result<Option<User>, E>`.
    type Output: LoadOutput;

    /// Loads the user with this id; `None` when there is no such user.
    fn call(&self, id: Self::Id, args: Self::Args) -> impl Future<Output = Self::Output> + 'static;
}

/// Loads a user from the request itself (an API key, an `Authorization` header) when the
/// session holds no login (Flask-Login's `request_loader`). It never writes the session, and a
/// user it loads is never fresh.
pub trait RequestLoader: Clone + Send + Sync + 'static {
    /// Extractors handed to the loader (`HttpRequest`, `web::Header<..>`, `web::Data<..>`), run
    /// with no body.
    type Args: FromRequest + 'static;
    /// `Option<User>` or `Result<Option<User>, E>`.
    type Output: LoadOutput;

    /// Loads the user this request identifies, if any.
    fn call(&self, args: Self::Args) -> impl Future<Output = Self::Output> + 'static;
}

/// What a loader may return: `Option<User>` or `Result<Option<User>, E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a user loader must return `Option<User>` or `Result<Option<User>, E>`, not `{Self}`",
    label = "this return type is not a loader result",
    note = "`User` implements `login_runtime::AuthUser` (derive it), and `E` implements `Display`"
)]
pub trait LoadOutput: 'static {
    /// The user type this loader produces.
    type User: AuthUser;
    /// `Ok(None)` is "no such user"; `Err` is a failure that becomes a logged 500.
    fn into_result(self) -> Result<Option<Self::User>, String>;
}

impl<U: AuthUser> LoadOutput for Option<U> {
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        Ok(self)
    }
}

impl<U: AuthUser, E: Display + 'static> LoadOutput for Result<Option<U>, E> {
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Marks a request whose login the registry no longer lists (it was revoked), to tell that
/// apart from a user the loader did not find.
pub(crate) struct Unlisted;

pub(crate) type LoadFuture = futures_core::future::LocalBoxFuture<'static, Result<Option<SharedUser>, LoginError>>;

/// A user loader with its types erased, as the manager stores it.
pub(crate) trait DynUserLoader: Send + Sync {
    /// Loads user `id`; with `listed`, only once the login registry says the login is still
    /// listed (`Ok(None)`, no such user, when it is not).
    fn load(&self, id: &str, req: &HttpRequest, listed: Option<RegistryFuture<bool>>) -> LoadFuture;
    fn user_type(&self) -> &'static str;
    fn user_type_id(&self) -> std::any::TypeId;
}

pub(crate) trait DynRequestLoader: Send + Sync {
    fn load(&self, req: &HttpRequest) -> LoadFuture;
    fn user_type(&self) -> &'static str;
    fn user_type_id(&self) -> std::any::TypeId;
}

fn finish<O: LoadOutput>(out: O) -> Result<Option<SharedUser>, LoginError> {
    match out.into_result() {
        Ok(user) => Ok(user.map(|u| Rc::new(u) as SharedUser)),
        Err(error) => Err(LoginError::Loader(error)),
    }
}

fn args_error(error: actix_web::Error) -> LoginError {
    LoginError::Loader(format!("a loader argument could not be extracted: {error}"))
}

/// Boxes a load, inside `span` when a subscriber wants it. Without a subscriber no span is
/// made: with tracing's `log` feature (which actix-web turns on) even a disabled span costs a
/// few hundred instructions per request.
fn boxed(
    load: impl Future<Output = Result<Option<SharedUser>, LoginError>> + 'static,
    span: fn(&str) -> Span,
    id: &str,
) -> LoadFuture {
    if tracing::dispatcher::has_been_set() {
        let span = span(id);
        if !span.is_disabled() {
            return Box::pin(load.instrument(span));
        }
    }
    Box::pin(load)
}

impl<L: UserLoader> DynUserLoader for L {
    fn load(&self, raw_id: &str, req: &HttpRequest, listed: Option<RegistryFuture<bool>>) -> LoadFuture {
        let Ok(id) = raw_id.parse::<L::Id>() else {
            // An id this loader cannot even parse names no user of it. Sessions are signed, so
            // it was stored by `login_user` from a user whose id does not parse as the loader's
            // (caught at compile time for a derived `AuthUser`): say so once, loudly.
            unparsable_id::<L>(raw_id);
            return Box::pin(std::future::ready(Ok(None)));
        };
        let loader = self.clone();
        let req = req.clone();
        // The extractors run when the load is first polled: the caller may still be reading
        // the session now.
        let load = async move {
            // In the same boxed future as the load: a registry costs no allocation of its own.
            if let Some(listed) = listed
                && !listed.await?
            {
                tracing::info!("the login was revoked");
                req.extensions_mut().insert(Unlisted);
                return Ok(None);
            }
            let args = L::Args::from_request(&req, &mut Payload::None).await.map_err(|e| args_error(e.into()))?;
            drop(req);
            finish(loader.call(id, args).await)
        };
        boxed(load, |id| tracing::debug_span!("load_user", user_id = id), raw_id)
    }

    fn user_type(&self) -> &'static str {
        std::any::type_name::<<L::Output as LoadOutput>::User>()
    }

    fn user_type_id(&self) -> std::any::TypeId {
        std::any::TypeId::of::<<L::Output as LoadOutput>::User>()
    }
}

/// Logs, the first time only, that a stored id does not parse as the loader's id type: every
/// login of such a user is silently anonymous otherwise.
#[cold]
fn unparsable_id<L: UserLoader>(raw_id: &str) {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::error!(
            user_id = raw_id,
            "the session's user id does not parse as `{}`, the id type of the user loader: \
             every such login is treated as anonymous. Make the loader take the type `{}::get_id` \
             returns the id of (or `String`). Logged once.",
            std::any::type_name::<L::Id>(),
            std::any::type_name::<<L::Output as LoadOutput>::User>(),
        );
    }
}

impl<L: RequestLoader> DynRequestLoader for L {
    fn load(&self, req: &HttpRequest) -> LoadFuture {
        let args = L::Args::from_request(req, &mut Payload::None);
        let loader = self.clone();
        let load = async move {
            let args = args.await.map_err(|e| args_error(e.into()))?;
            finish(loader.call(args).await)
        };
        boxed(load, |_| tracing::debug_span!("request_loader"), "")
    }

    fn user_type(&self) -> &'static str {
        std::any::type_name::<<L::Output as LoadOutput>::User>()
    }

    fn user_type_id(&self) -> std::any::TypeId {
        std::any::TypeId::of::<<L::Output as LoadOutput>::User>()
    }
}
