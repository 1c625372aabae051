//! Support for the code the macros generate. Not public API: no semver guarantees.
//!
//! Besides re-exports, this holds the traits through which the macros let the compiler check
//! the user's types. Each generated check is spanned on the user's own type, and each trait
//! carries a `#[diagnostic::on_unimplemented]` message that says what to write instead.

use std::fmt::Display;
use std::str::FromStr;

pub use crate::guard::{FreshLoginRequired, LoginRequired};
pub use crate::loader::{LoadOutput, RequestLoader, UserLoader};
pub use crate::user::AuthUser;
pub use ::actix_web::FromRequest;
pub use ::core::future::Future;

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

// ---- #[user_loader], #[request_loader], #[login_required] ----

/// The id parameter of a `#[user_loader]`.
#[diagnostic::on_unimplemented(
    message = "the user id type `{Self}` does not implement `FromStr`",
    label = "the first parameter of a `#[user_loader]` is the id, parsed from the session with `FromStr`",
    note = "use the id field's type (`u64`, `String`, `Uuid`...): `AuthUser::get_id` stores it with `to_string()`"
)]
pub trait UserId {}

impl<T: FromStr> UserId for T {}

/// An extractor parameter of a loader or a guarded handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an actix extractor",
    label = "this parameter's type does not implement `FromRequest`",
    note = "a loader's parameters after the id, and a guarded handler's parameters, must be actix extractors such as `HttpRequest`, `web::Data<T>` or `web::Header<T>`"
)]
pub trait Extractor {}

impl<T: FromRequest> Extractor for T {}

/// Checks, at the user's type, that a loader's id parses from a string.
#[inline]
pub const fn require_user_id<T: UserId>() {}

/// Checks, at the user's type, that a parameter is an actix extractor.
#[inline]
pub const fn require_extractor<T: Extractor>() {}
