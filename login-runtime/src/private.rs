//! Support for the code the macros generate. Not public API: no semver guarantees.
//!
//! Besides re-exports, this holds the traits through which the macros let the compiler check
//! the user's types. Each generated check is spanned on the user's own type, and each trait
//! carries a `#[diagnostic::on_unimplemented]` message that says what to write instead.

use std::fmt::Display;
use std::marker::PhantomData;
use std::str::FromStr;

pub use crate::authz::{Anyone, CheckFn, Grants, PermissionCheck, Unresolved};
pub use crate::guard::{FreshLoginRequired, LoginRequired};
pub use crate::loader::{LoadOutput, RequestLoader, UserLoader};
pub use crate::permission::PermissionLoader;
pub use crate::rules::{LOGIN_PERMISSION_RULES, RuleEntry, SharedRule, rule_id};
pub use crate::startup::{
    GUARDED_HANDLERS, GuardedHandler, LOADED_USERS, UserType, request_loader_type, user_loader_type,
};
pub use crate::user::AuthUser;
pub use ::actix_web::FromRequest;
pub use ::core::future::Future;
pub use ::linkme;

// ---- #[derive(AuthUser)] ----

/// The id field of a `#[derive(AuthUser)]` struct: anything `Display`.
#[diagnostic::on_unimplemented(
    message = "the user id `{Self}` does not implement `Display`",
    label = "the id field's type must implement `Display`",
    note = "`get_id` stores the id's `to_string()` in the session: use a type such as `u64`, `String` or `Uuid`, or mark another field with `#[auth_user(id)]`"
)]
pub trait UserIdField {
    fn user_id_string(&self) -> String;
}

impl<T: Display + ?Sized> UserIdField for T {
    #[inline]
    fn user_id_string(&self) -> String {
        self.to_string()
    }
}

/// A field marked `#[auth_user(active)]`: a `bool`.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(active)]` marks a `bool` field, not `{Self}`",
    label = "expected `bool`",
    note = "`is_active` returns this field: make it a `bool`, or implement `AuthUser::is_active` by hand"
)]
pub trait ActiveField {
    fn active_flag(&self) -> bool;
}

impl ActiveField for bool {
    #[inline]
    fn active_flag(&self) -> bool {
        *self
    }
}

/// A field marked `#[auth_user(session_hash)]`: bytes that change with the credentials.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(session_hash)]` cannot be used on a field of type `{Self}`",
    label = "expected `String`, `Vec<u8>`, `[u8; N]`, `Box<[u8]>`, or an `Option` of one",
    note = "the session hash is a password hash, a security stamp or a counter's bytes; implement `AuthUser::session_hash` by hand for other types"
)]
pub trait SessionHashField {
    fn session_hash_bytes(&self) -> Option<&[u8]>;
}

impl SessionHashField for str {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl SessionHashField for [u8] {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl<const N: usize> SessionHashField for [u8; N] {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl SessionHashField for String {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl SessionHashField for Vec<u8> {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl<T: SessionHashField + ?Sized> SessionHashField for Box<T> {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        T::session_hash_bytes(self)
    }
}

impl<T: SessionHashField + ?Sized> SessionHashField for std::sync::Arc<T> {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        T::session_hash_bytes(self)
    }
}

impl<T: SessionHashField + ?Sized> SessionHashField for &T {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        T::session_hash_bytes(self)
    }
}

impl<T: SessionHashField> SessionHashField for Option<T> {
    #[inline]
    fn session_hash_bytes(&self) -> Option<&[u8]> {
        self.as_ref().and_then(T::session_hash_bytes)
    }
}

/// A field marked `#[auth_user(permissions)]`: a set of permissions of one type.
#[diagnostic::on_unimplemented(
    message = "`#[auth_user(permissions)]` marks a set of permissions, not `{Self}`",
    label = "expected `HashSet<P>`, `BTreeSet<P>` or `Vec<P>` (or one in a `Box`, `Rc` or `Arc`), where `P` implements `login_runtime::Permission`",
    note = "the guards' `permission = ..` and `Permissions<P>` ask this field whether the user holds a `P`"
)]
pub trait PermissionField {
    /// The permission type.
    type Item: crate::Permission;
    /// Whether `permission` is in the set.
    fn holds(&self, permission: &Self::Item) -> bool;
}

impl<P: crate::Permission, S: std::hash::BuildHasher> PermissionField for std::collections::HashSet<P, S> {
    type Item = P;
    #[inline]
    fn holds(&self, permission: &P) -> bool {
        self.contains(permission)
    }
}

impl<P: crate::Permission + Ord> PermissionField for std::collections::BTreeSet<P> {
    type Item = P;
    #[inline]
    fn holds(&self, permission: &P) -> bool {
        self.contains(permission)
    }
}

impl<P: crate::Permission> PermissionField for Vec<P> {
    type Item = P;
    #[inline]
    fn holds(&self, permission: &P) -> bool {
        self.contains(permission)
    }
}

impl<T: PermissionField + ?Sized> PermissionField for Box<T> {
    type Item = T::Item;
    #[inline]
    fn holds(&self, permission: &T::Item) -> bool {
        T::holds(self, permission)
    }
}

impl<T: PermissionField + ?Sized> PermissionField for std::rc::Rc<T> {
    type Item = T::Item;
    #[inline]
    fn holds(&self, permission: &T::Item) -> bool {
        T::holds(self, permission)
    }
}

impl<T: PermissionField + ?Sized> PermissionField for std::sync::Arc<T> {
    type Item = T::Item;
    #[inline]
    fn holds(&self, permission: &T::Item) -> bool {
        T::holds(self, permission)
    }
}

// ---- #[user_loader], #[request_loader], #[login_required] ----

/// The id parameter of a `#[user_loader]`.
#[diagnostic::on_unimplemented(
    message = "the user id type `{Self}` does not implement `FromStr`",
    label = "the first parameter of a `#[user_loader]` is the id, parsed from the session with `FromStr`",
    note = "use the id field's type (`u64`, `String`, `Uuid`...): `AuthUser::get_id` stores it with `to_string()`"
)]
pub trait UserId {}

impl<T: FromStr> UserId for T {}

/// Checks, at the user's type, that a loader's id parses from a string.
#[inline]
pub const fn require_user_id<T: UserId>() {}

/// An extractor parameter of a loader or a guarded handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an actix extractor",
    label = "this parameter's type does not implement `FromRequest`",
    note = "a loader's parameters after the id, and a guarded handler's parameters, must be actix extractors such as `HttpRequest`, `web::Data<T>` or `web::Header<T>`"
)]
pub trait Extractor {}

impl<T: FromRequest> Extractor for T {}

/// A parameter of a `#[request_loader]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an actix extractor: a `#[request_loader]` takes extractors only",
    label = "this parameter's type does not implement `FromRequest`",
    note = "a request loader reads the request through extractors such as `HttpRequest`, `web::Header<T>` or `web::Data<T>`; to load a user from the id stored in the session, use `#[user_loader]`, whose first parameter is the id"
)]
pub trait RequestExtractor {}

impl<T: FromRequest> RequestExtractor for T {}

/// `Self`, once the checks in the length of the array `C` compile: the macros write a tuple of
/// extractors as `<(A, B,) as Checked<[(); { require_extractor::<A>(); ..; 0 }]>>::Type`. When a
/// check fails, rustc reports it at the user's type, and the array, and so this type, become an
/// error type: the mistake is not reported a second time where the tuple must be an extractor
/// (actix's `.to(handler)`, a loader's `Args` bound).
pub trait Checked<C> {
    /// `Self`.
    type Type: ?Sized;
}

impl<T: ?Sized, C> Checked<C> for T {
    type Type = T;
}

/// Checks, at the user's type, that a permission loader's user is a login user.
#[inline]
pub const fn require_auth_user<T: AuthUser>() {}

/// Checks, at the user's type, that a parameter is an actix extractor.
#[inline]
pub const fn require_extractor<T: Extractor>() {}

/// Checks, at the user's type, that a parameter of a request loader is an actix extractor.
#[inline]
pub const fn require_request_extractor<T: RequestExtractor>() {}

// ---- the loader's id against the user's id ----

/// The type of the id field of a `#[derive(AuthUser)]` user.
pub trait UserIdType {
    /// The id field's type.
    type Id;
}

/// What user loader `L` with id `I` is checked against: the id field's type when its user
/// derives `AuthUser` ([`DerivedId`]), `I` itself otherwise ([`AnyId`]). The impl on `IdCheck`
/// is preferred by method resolution (`(&IdCheck::NEW).expected_id()`); the one on `&IdCheck`
/// is the fallback, for a hand-written `AuthUser`, and for a loader with another mistake
/// (reported on its own).
pub struct IdCheck<L, I>(PhantomData<fn() -> (L, I)>);

impl<L, I> IdCheck<L, I> {
    /// The check.
    pub const NEW: Self = Self(PhantomData);
}

/// The id a derived user stores.
pub trait DerivedId {
    /// The id field's type.
    type Id;
    /// Names it.
    fn expected_id(&self) -> ExpectedId<Self::Id> {
        ExpectedId(PhantomData)
    }
}

impl<L: UserLoader, I: FromStr> DerivedId for IdCheck<L, I>
where
    <L::Output as LoadOutput>::User: UserIdType,
{
    type Id = <<L::Output as LoadOutput>::User as UserIdType>::Id;
}

/// Any id, for a user whose `AuthUser` is written by hand.
pub trait AnyId {
    /// The loader's id type.
    type Id;
    /// Names it.
    fn expected_id(&self) -> ExpectedId<Self::Id> {
        ExpectedId(PhantomData)
    }
}

impl<L, I> AnyId for &IdCheck<L, I> {
    type Id = I;
}

/// The loader's id type `Self` is the user's id type `UserId`.
#[diagnostic::on_unimplemented(
    message = "this user loader parses the id as `{Self}`, but the user's id field is a `{UserId}`",
    label = "expected `{UserId}`, the type of the user's id field",
    note = "the session stores the id field's `to_string()`, and the loader parses it back: a `{Self}` would fail to parse at run time and log every user out; take `id: {UserId}` (a loader that takes `id: String` accepts any id)"
)]
pub trait SameId<UserId> {}

impl<T> SameId<T> for T {}

/// The id type a `#[user_loader]` must take.
pub struct ExpectedId<U>(PhantomData<U>);

impl<U> ExpectedId<U> {
    /// Checks, at the loader's id parameter, that it is `U`.
    #[inline]
    pub const fn loader_id<I: SameId<U>>(self) {}
}

// ---- the start-up check's registrations (`crate::startup`) ----

/// Which user type the extractor `T` asks for: `UserProbe::<T>::USER` is `Some` when `T` is a
/// [`CurrentUser`](crate::CurrentUser) or an [`Authenticated`](crate::Authenticated) of a login
/// user (an inherent constant, which path resolution prefers), `None` for any other type (the
/// constant of [`NoUserType`], in scope where the guard uses it). Resolved by the compiler, so
/// a type alias or a renamed import is seen through, and, being constants, it costs the
/// expansion no function of its own.
pub struct UserProbe<T>(PhantomData<fn() -> T>);

impl<U: AuthUser, A> UserProbe<crate::CurrentUser<U, A>> {
    /// `U`.
    pub const USER: Option<fn() -> UserType> = Some(UserType::of::<U>);
}

impl<U: AuthUser> UserProbe<crate::Authenticated<U>> {
    /// `U`.
    pub const USER: Option<fn() -> UserType> = Some(UserType::of::<U>);
}

/// The fallback of [`UserProbe`]: no user type.
pub trait NoUserType {
    /// None.
    const USER: Option<fn() -> UserType> = None;
}

impl<T> NoUserType for UserProbe<T> {}
