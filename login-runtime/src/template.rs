//! `current_user` in templates (Flask-Login's context processor).
//!
//! [`CurrentUser`] is serde-serializable when the user type is: give it to the template engine
//! as `current_user`, and every template can write `{% if current_user.is_authenticated %}` and
//! `{{ current_user.username }}`, as in a Flask app. It serializes as the user's own fields
//! (when someone is logged in, or loaded but inactive) plus `is_authenticated`, `is_active`,
//! `is_anonymous`. Mark
//! fields the templates must not see (a password hash) `#[serde(skip)]`.
//!
//! ```
//! use login_runtime::{AuthUser, CurrentUser};
//! use serde::Serialize;
//!
//! #[derive(AuthUser, Serialize)]
//! struct User {
//!     id: u64,
//!     username: String,
//!     #[serde(skip)]
//!     password_hash: String,
//! }
//!
//! let ada = CurrentUser::<User>::User(std::rc::Rc::new(User {
//!     id: 1,
//!     username: "ada".into(),
//!     password_hash: "$argon2id$...".into(),
//! }));
//! let seen = serde_json::to_value(&ada).unwrap();
//! assert_eq!(seen["username"], "ada");
//! assert_eq!(seen["is_authenticated"], true);
//! assert_eq!(seen["id"], 1);
//! assert!(seen.get("password_hash").is_none());
//!
//! let nobody = CurrentUser::<User>::Anonymous(Default::default());
//! let seen = serde_json::to_value(&nobody).unwrap();
//! assert_eq!((seen["is_authenticated"].as_bool(), seen["is_anonymous"].as_bool()), (Some(false), Some(true)));
//! assert!(seen.get("username").is_none());
//! ```
//!
//! With each engine, in a handler that takes `user: CurrentUser<User>`:
//!
//! - **minijinja**: `template.render(minijinja::context! { current_user => user, ... })`; or once
//!   for every page, a render helper of the app that adds `current_user` to each context.
//! - **tera**: `let mut ctx = tera::Context::new(); ctx.insert("current_user", &user);`.
//! - **askama** (templates compiled with the app, no serde): put `current_user: CurrentUser<User>`
//!   in the template struct and write `{% if current_user.is_authenticated() %}` and
//!   `{{ current_user.user().unwrap().username }}`, or a `Option<&User>` field set from
//!   [`authenticated`](CurrentUser::authenticated).

use serde::{Serialize, Serializer};

use crate::extract::CurrentUser;
use crate::user::AuthUser;

#[derive(Serialize)]
struct View<'a, U> {
    #[serde(flatten)]
    user: Option<&'a U>,
    is_authenticated: bool,
    is_active: bool,
    is_anonymous: bool,
}

impl<U: AuthUser + Serialize, A: AuthUser> Serialize for CurrentUser<U, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        View {
            user: self.user(),
            is_authenticated: self.is_authenticated(),
            is_active: self.is_active(),
            is_anonymous: self.is_anonymous(),
        }
        .serialize(serializer)
    }
}
