//! Extractors for the current user.

use std::any::TypeId;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::resolve::UserFuture;
use crate::respond::{Refusal, refuse};
use crate::user::{AnonymousUser, AuthUser, SharedUser, downcast};

/// The current user: the logged-in user, or the anonymous one (Flask's `current_user`).
///
/// Taking it never refuses a request; it loads the user (at most once per request, however
/// many extractors ask). `A` is the anonymous user type, [`AnonymousUser`] unless the manager
/// was given another with [`LoginManager::anonymous_user`].
///
/// ```
/// use login_runtime::{AuthUser, CurrentUser};
///
/// #[derive(AuthUser)]
/// struct User { id: u64, name: String }
///
/// async fn index(user: CurrentUser<User>) -> String {
///     match user.user() {
///         Some(user) if user.is_authenticated() => format!("Hello {}!", user.name),
///         _ => "You are not logged in!".to_owned(),
///     }
/// }
/// ```
pub enum CurrentUser<U, A = AnonymousUser> {
    /// A user loaded by the user loader or the request loader. Check
    /// [`is_authenticated`](CurrentUser::is_authenticated): a deactivated user is loaded but
    /// not authenticated.
    User(Rc<U>),
    /// Nobody is logged in.
    Anonymous(Rc<A>),
}

impl<U: AuthUser, A: AuthUser> Clone for CurrentUser<U, A> {
    fn clone(&self) -> Self {
        match self {
            Self::User(u) => Self::User(Rc::clone(u)),
            Self::Anonymous(a) => Self::Anonymous(Rc::clone(a)),
        }
    }
}

impl<U: AuthUser, A: AuthUser> CurrentUser<U, A> {
    /// The loaded user, if any.
    pub fn user(&self) -> Option<&U> {
        match self {
            Self::User(u) => Some(u),
            Self::Anonymous(_) => None,
        }
    }

    /// The loaded user if they are authenticated.
    pub fn authenticated(&self) -> Option<&U> {
        self.user().filter(|u| u.is_authenticated())
    }

    /// The anonymous user, if nobody is logged in.
    pub fn anonymous(&self) -> Option<&A> {
        match self {
            Self::User(_) => None,
            Self::Anonymous(a) => Some(a),
        }
    }

    fn as_dyn(&self) -> &dyn AuthUser {
        match self {
            Self::User(u) => &**u,
            Self::Anonymous(a) => &**a,
        }
    }

    /// Whether the current user is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.as_dyn().is_authenticated()
    }

    /// Whether the current user is active.
    pub fn is_active(&self) -> bool {
        self.as_dyn().is_active()
    }

    /// Whether the current user is the anonymous one.
    pub fn is_anonymous(&self) -> bool {
        self.as_dyn().is_anonymous()
    }

    /// The current user's id (`None` when anonymous).
    pub fn get_id(&self) -> Option<String> {
        self.as_dyn().get_id()
    }
}

impl<U: AuthUser + std::fmt::Debug, A: AuthUser + std::fmt::Debug> std::fmt::Debug for CurrentUser<U, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(u) => f.debug_tuple("User").field(u).finish(),
            Self::Anonymous(a) => f.debug_tuple("Anonymous").field(a).finish(),
        }
    }
}

fn typed<U: AuthUser>(user: &SharedUser) -> Result<Rc<U>, LoginError> {
    downcast::<U>(user)
        .ok_or_else(|| LoginError::UserType { expected: std::any::type_name::<U>(), found: user.type_name() })
}

/// That one of the manager's loaders produces a `U`: an extractor for another type could never
/// hold a user. Checked at every request, logged in or not, so that the mistake is a 500 with
/// both types in the log from the first request that reaches the extractor, not only once
/// someone logs in. (Actix shows a handler's extractor types to nobody until a request runs
/// them: only a guarded handler's are checked earlier, at start-up, see `startup`.) Without a
/// manager, resolving the user reports that.
fn check_user_type<U: AuthUser>(req: &HttpRequest) -> Result<(), LoginError> {
    let Ok(manager) = LoginManager::from_request(req) else {
        return Ok(());
    };
    let settings = manager.settings();
    let loaders = [
        settings.loader.as_ref().map(|loader| (loader.user_type_id(), loader.user_type())),
        settings.request_loader.as_ref().map(|loader| (loader.user_type_id(), loader.user_type())),
    ];
    let mut produced = loaders.into_iter().flatten();
    if produced.clone().any(|(id, _)| id == TypeId::of::<U>()) {
        return Ok(());
    }
    match produced.next() {
        Some((_, found)) => Err(LoginError::UserType { expected: std::any::type_name::<U>(), found }),
        None => Ok(()),
    }
}

/// The future of [`CurrentUser`] and [`Authenticated`].
#[doc(hidden)]
pub struct UserExtract<T> {
    user: UserFuture,
    req: HttpRequest,
    _out: PhantomData<fn() -> T>,
}

impl<T> UserExtract<T> {
    /// The user of this request, once checked that the manager can produce a `U`.
    fn new<U: AuthUser>(req: &HttpRequest) -> Self {
        // A `U` loaded already (behind a guard, usually): a loader produces `U`.
        let user = UserFuture::loaded::<U>(req).unwrap_or_else(|| match check_user_type::<U>(req) {
            Ok(()) => UserFuture::new(req),
            Err(error) => UserFuture::Ready(Some(Err(error))),
        });
        Self { user, req: req.clone(), _out: PhantomData }
    }

    fn poll_user(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<SharedUser>, LoginError>> {
        Pin::new(&mut self.user).poll(cx)
    }
}

impl<U: AuthUser, A: AuthUser> Future for UserExtract<CurrentUser<U, A>> {
    type Output = Result<CurrentUser<U, A>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let user = match this.poll_user(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(user) => user,
        };
        let current = user.and_then(|user| match user {
            Some(user) => typed::<U>(&user).map(CurrentUser::User),
            None => {
                let manager = LoginManager::from_request(&this.req)?;
                typed::<A>(&(manager.settings().anonymous)()).map(CurrentUser::Anonymous)
            }
        });
        Poll::Ready(current.map_err(actix_web::Error::from))
    }
}

impl<U: AuthUser, A: AuthUser> FromRequest for CurrentUser<U, A> {
    type Error = actix_web::Error;
    type Future = UserExtract<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        UserExtract::new::<U>(req)
    }
}

/// The logged-in user; anonymous visitors are refused as by
/// [`#[login_required]`](macro@crate::login_required) (redirected to the login view, or 401).
///
/// ```
/// use login_runtime::{Authenticated, AuthUser};
///
/// #[derive(AuthUser)]
/// struct User { id: u64, name: String }
///
/// async fn settings(user: Authenticated<User>) -> String {
///     format!("settings of {}", user.name)
/// }
/// ```
pub struct Authenticated<U>(Rc<U>);

impl<U: AuthUser> Authenticated<U> {
    /// The user, shared.
    pub fn into_inner(self) -> Rc<U> {
        self.0
    }
}

impl<U: AuthUser> Clone for Authenticated<U> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

impl<U: AuthUser> Deref for Authenticated<U> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.0
    }
}

impl<U: AuthUser + std::fmt::Debug> std::fmt::Debug for Authenticated<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authenticated").field(&self.0).finish()
    }
}

impl<U: AuthUser> Future for UserExtract<Authenticated<U>> {
    type Output = Result<Authenticated<U>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Poll::Ready(match this.poll_user(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => Err(error.into()),
            Poll::Ready(Ok(Some(user))) if user.is_authenticated() => {
                typed::<U>(&user).map(Authenticated).map_err(actix_web::Error::from)
            }
            Poll::Ready(Ok(_)) => match LoginManager::from_request(&this.req) {
                Ok(manager) => Err(refuse(&this.req, manager, Refusal::Unauthorized)),
                Err(error) => Err(error.into()),
            },
        })
    }
}

impl<U: AuthUser> FromRequest for Authenticated<U> {
    type Error = actix_web::Error;
    type Future = UserExtract<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        UserExtract::new::<U>(req)
    }
}
