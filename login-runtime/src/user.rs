//! The user model: what the login manager needs to know about a user.

use std::any::Any;
use std::rc::Rc;

/// What the login manager needs from the application's user type.
///
/// Usually derived with [`#[derive(AuthUser)]`](macro@crate::AuthUser); the methods mirror
/// Flask-Login's `UserMixin`.
///
/// ```
/// use login_runtime::AuthUser;
///
/// #[derive(AuthUser)]
/// struct User {
///     id: u64,
///     #[auth_user(active)]
///     enabled: bool,
///     #[auth_user(session_hash)]
///     password_hash: String,
/// }
///
/// let user = User { id: 7, enabled: false, password_hash: "$argon2id$...".into() };
/// assert_eq!(user.get_id().as_deref(), Some("7"));
/// assert!(!user.is_active());
/// assert!(!user.is_authenticated());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a login user",
    label = "`{Self}` does not implement `AuthUser`",
    note = "add `#[derive(login_runtime::AuthUser)]` to `{Self}`, or implement `login_runtime::AuthUser` for it"
)]
pub trait AuthUser: 'static {
    /// The stable id stored in the session and handed back to the user loader; `None` only for
    /// anonymous users.
    fn get_id(&self) -> Option<String>;

    /// Whether the account may log in (not suspended, activated...). Inactive users are refused
    /// by [`login_user`](crate::login_user) unless forced.
    fn is_active(&self) -> bool {
        true
    }

    /// Whether this user has proven who they are. As in Flask-Login, a real user is
    /// authenticated while active: deactivating an account locks out its live sessions.
    fn is_authenticated(&self) -> bool {
        self.is_active()
    }

    /// Whether this is the anonymous user.
    fn is_anonymous(&self) -> bool {
        false
    }

    /// A value that changes when the user's credentials change (a password hash, a security
    /// stamp, an epoch counter). Sessions and remember cookies issued before the change stop
    /// working: that is how "log out everywhere" reaches other devices. Only a digest of it is
    /// ever stored.
    fn session_hash(&self) -> Option<&[u8]> {
        None
    }

    /// Whether this user holds `permission`, a value of one of the application's
    /// [`Permission`](crate::Permission) types: `Some` when this user carries permissions of
    /// that type, `None` when it does not (then the manager's
    /// [permission loader](crate::LoginManager::permission_loader) for the type is the source).
    /// Derived from the fields marked `#[auth_user(permissions)]`.
    fn has_permission(&self, permission: &dyn Any) -> Option<bool> {
        let _ = permission;
        None
    }
}

/// The default anonymous user: not authenticated, not active, no id.
///
/// Replace it with [`LoginManager::anonymous_user`](crate::LoginManager::anonymous_user) to
/// give guests their own type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnonymousUser;

impl AuthUser for AnonymousUser {
    fn get_id(&self) -> Option<String> {
        None
    }
    fn is_active(&self) -> bool {
        false
    }
    fn is_authenticated(&self) -> bool {
        false
    }
    fn is_anonymous(&self) -> bool {
        true
    }
}

/// A user of any type, as the runtime carries it between the loader and the extractors.
pub(crate) trait AnyUser: AuthUser {
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn type_name(&self) -> &'static str;
    fn user_type_id(&self) -> std::any::TypeId;
}

impl<U: AuthUser> AnyUser for U {
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<U>()
    }
    fn user_type_id(&self) -> std::any::TypeId {
        std::any::TypeId::of::<U>()
    }
}

pub(crate) type SharedUser = Rc<dyn AnyUser>;

impl dyn AnyUser {
    /// Whether this user is a `U`.
    pub(crate) fn is<U: AuthUser>(&self) -> bool {
        self.user_type_id() == std::any::TypeId::of::<U>()
    }
}

/// Downcasts a loaded user to the type an extractor asks for.
pub(crate) fn downcast<U: AuthUser>(user: &SharedUser) -> Option<Rc<U>> {
    Rc::clone(user).into_any().downcast::<U>().ok()
}
