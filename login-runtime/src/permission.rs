//! Permissions as configuration: the [`Permission`] trait, permission loaders, and the
//! manager's authorization settings. The per-request checks are in `authz`.

use std::any::{Any, TypeId};
use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_core::future::LocalBoxFuture;

use crate::error::LoginError;
use crate::user::{AuthUser, SharedUser, downcast};

/// A permission, a role, or anything else a user may hold: a type of the application's
/// (usually an enum), checked by the guards' `permission = ..` option and by [`Permissions`](crate::Permissions).
///
/// Implementing it is one line, and it is what makes a guard that names something else a
/// compile error:
///
/// ```
/// use login_runtime::Permission;
///
/// #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// enum Perm { Read, Edit, Publish }
///
/// impl Permission for Perm {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a permission type",
    label = "a guard's `permission` names values of the application's permission types",
    note = "permissions are values of the application's own types, not strings: an enum such as `enum Perm {{ Edit }}` with `impl login_runtime::Permission for Perm {{}}`, written `permission = Perm::Edit`"
)]
pub trait Permission: Eq + Hash + 'static {}

/// Loads the permissions of one type for a logged-in user (roles from the database, the
/// permissions of the user's groups...): what [`#[permission_loader]`](macro@crate::permission_loader)
/// implements. It runs at most once per request, and only when something asks for permissions
/// of its type.
pub trait PermissionLoader: Clone + Send + Sync + 'static {
    /// The user type, as the user loader produces it.
    type User: AuthUser;
    /// Extractors handed to the loader after the user (`web::Data<Pool>`...), run with no body.
    type Args: FromRequest + 'static;
    /// `HashSet<P>` or `Result<HashSet<P>, E>`.
    type Output: PermissionOutput;

    /// Loads `user`'s permissions.
    fn call(&self, user: Rc<Self::User>, args: Self::Args) -> impl Future<Output = Self::Output> + 'static;
}

/// What a permission loader may return: `HashSet<P>` or `Result<HashSet<P>, E>` with
/// `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a permission loader must return `HashSet<P>` or `Result<HashSet<P>, E>`, not `{Self}`",
    label = "this return type is not a permission loader result",
    note = "`P` implements `login_runtime::Permission`, and `E` implements `Display`"
)]
pub trait PermissionOutput: 'static {
    /// The permission type.
    type Permission: Permission;
    /// `Err` is a failure that becomes a logged 500.
    fn into_result(self) -> Result<HashSet<Self::Permission>, String>;
}

impl<P: Permission> PermissionOutput for HashSet<P> {
    type Permission = P;
    fn into_result(self) -> Result<HashSet<P>, String> {
        Ok(self)
    }
}

impl<P: Permission, E: Display + 'static> PermissionOutput for Result<HashSet<P>, E> {
    type Permission = P;
    fn into_result(self) -> Result<HashSet<P>, String> {
        self.map_err(|e| e.to_string())
    }
}

pub(crate) type SetFuture = LocalBoxFuture<'static, Result<Rc<dyn Any>, LoginError>>;

/// A permission loader with its types erased, as the manager stores it.
pub(crate) trait DynPermissionLoader: Send + Sync {
    fn load(&self, req: &HttpRequest, user: &SharedUser) -> SetFuture;
}

impl<L: PermissionLoader> DynPermissionLoader for L {
    fn load(&self, req: &HttpRequest, user: &SharedUser) -> SetFuture {
        let Some(user) = downcast::<L::User>(user) else {
            let error = LoginError::UserType { expected: std::any::type_name::<L::User>(), found: user.type_name() };
            return Box::pin(std::future::ready(Err(error)));
        };
        let args = L::Args::from_request(req, &mut Payload::None);
        let loader = self.clone();
        Box::pin(async move {
            let args = args.await.map_err(|e| {
                LoginError::Loader(format!("a permission loader argument could not be extracted: {}", e.into()))
            })?;
            match loader.call(user, args).await.into_result() {
                Ok(set) => Ok(Rc::new(set) as Rc<dyn Any>),
                Err(error) => Err(LoginError::Loader(format!("the permission loader failed: {error}"))),
            }
        })
    }
}

pub(crate) type Handler = Arc<dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync>;

/// The manager's authorization settings.
#[derive(Clone, Default)]
pub(crate) struct AuthzSettings {
    /// One loader per permission type.
    pub(crate) loaders: Vec<(TypeId, Arc<dyn DynPermissionLoader>)>,
    pub(crate) handler: Option<Handler>,
    pub(crate) view: Option<String>,
}
