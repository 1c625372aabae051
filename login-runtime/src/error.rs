//! Errors of the login runtime.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Something went wrong in the login machinery. Every variant but [`LoginError::Inactive`] is a
/// server-side mistake: it is logged and answered with a bare 500, never turned into
/// "anonymous".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// [`login_user`](crate::login_user) refused an inactive user (pass `force` to log them in
    /// anyway). Nothing was written.
    Inactive,
    /// The user has no id (`get_id()` returned `None`): anonymous users cannot log in.
    NoId,
    /// No [`LoginManager`](crate::LoginManager) is registered as app data.
    ManagerMissing,
    /// The [`LoginMiddleware`](crate::LoginMiddleware) is not wrapped around the app.
    MiddlewareMissing,
    /// actix-session's `SessionMiddleware` did not persist a login: it is missing, or it is
    /// wrapped outside the login middleware.
    SessionMiddlewareMissing,
    /// The user loader failed (its `Err`, or an extractor it asked for).
    Loader(String),
    /// An extractor asked for a user type the loader does not produce.
    UserType {
        /// The type the extractor asked for.
        expected: &'static str,
        /// The type the loader (or anonymous factory) produced.
        found: &'static str,
    },
    /// Reading or writing the session failed.
    Session(String),
    /// The [login registry](crate::LoginRegistry) failed.
    Registry(String),
    /// [`login_user`](crate::login_user) was called on a manager built with
    /// [`LoginManager::from_request_loader`](crate::LoginManager::from_request_loader), which
    /// keeps no logins.
    NoUserLoader,
    /// A function of the login registry was called, but the manager has no
    /// [`login_registry`](crate::LoginManager::login_registry).
    RegistryMissing,
    /// A guard asked whether the user holds a permission of a type that neither a
    /// [permission loader](crate::LoginManager::permission_loader) nor the user's
    /// `#[auth_user(permissions)]` fields provide.
    NoPermissionSource {
        /// The permission type asked for.
        permission: &'static str,
        /// The user type.
        user: &'static str,
    },
    /// A guard's `permission = ..` rule is missing from the program's table of rules, or two
    /// different rules claim its id (a bug of this crate, or of the build: please report it).
    PermissionRule(&'static str),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inactive => f.write_str("the user is not active"),
            Self::NoId => f.write_str("the user has no id (`AuthUser::get_id` returned `None`)"),
            Self::ManagerMissing => {
                f.write_str("no `LoginManager` is registered: add `.app_data(manager.clone())` to the `App`")
            }
            Self::MiddlewareMissing => {
                f.write_str("the login middleware is not registered: add `.wrap(manager.middleware())` to the `App`")
            }
            Self::SessionMiddlewareMissing => f.write_str(
                "the login was not saved: actix-session's `SessionMiddleware` is missing or wrapped \
                 outside the login middleware; register it first: \
                 `App::new().wrap(SessionMiddleware::new(..)).wrap(manager.middleware())`",
            ),
            Self::Loader(e) => write!(f, "the user loader failed: {e}"),
            Self::UserType { expected, found } => {
                write!(
                    f,
                    "an extractor asked for a `{expected}` but the login manager produces `{found}`: \
                     take `{found}` in the extractor, or make the user loader return `{expected}`"
                )
            }
            Self::Session(e) => write!(f, "the session could not be used: {e}"),
            Self::Registry(e) => write!(f, "the login registry failed: {e}"),
            Self::NoUserLoader => f.write_str(
                "`login_user` needs a user loader: this manager only has a request loader; \
                 build it with `LoginManager::new(user_loader).request_loader(..)`",
            ),
            Self::RegistryMissing => {
                f.write_str("no login registry is configured: add `.login_registry(..)` to the `LoginManager`")
            }
            Self::NoPermissionSource { permission, user } => write!(
                f,
                "nothing provides the `{permission}` permissions of a `{user}`: mark a `HashSet<{permission}>` \
                 field of the user `#[auth_user(permissions)]`, or give the manager a \
                 `.permission_loader(..)` returning `HashSet<{permission}>`"
            ),
            Self::PermissionRule(e) => write!(f, "the permission rule failed: {e}"),
        }
    }
}

impl std::error::Error for LoginError {}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Inactive => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Details go to the log, whichever way the error left (an extractor, or `?` in a
        // handler): a 500 body must not describe the server's setup.
        if !matches!(self, Self::Inactive) {
            tracing::error!(error = %self, "login error");
        }
        let status = self.status_code();
        HttpResponse::build(status).body(status.canonical_reason().unwrap_or_default())
    }
}
