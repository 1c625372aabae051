//! Procedural macros for [`login-runtime`](https://docs.rs/login-runtime).
//!
//! This crate is an implementation detail: depend on `login-runtime`, which re-exports every
//! macro here (behind its default `macros` feature) and documents them with runnable examples.
//! The generated code reaches the runtime only through `::login_runtime::__private`, or through
//! the path given with the `crate = "..."` option when the dependency is renamed.
//!
//! | macro | on | becomes |
//! |---|---|---|
//! | [`#[derive(AuthUser)]`](derive@AuthUser) | the user struct | an `AuthUser` impl |
//! | [`#[user_loader]`](macro@user_loader) | `async fn(id, extractors..) -> Option<User>` | a `UserLoader` value |
//! | [`#[request_loader]`](macro@request_loader) | `async fn(extractors..) -> Option<User>` | a `RequestLoader` value |
//! | [`#[login_required]`](macro@login_required) | an actix handler | the same handler, guarded |
//! | [`#[fresh_login_required]`](macro@fresh_login_required) | an actix handler | the same handler, guarded by a fresh login |

mod attr;
mod context;
mod derive;
mod guard;
mod loader;
mod permission;

use proc_macro::TokenStream;

/// Implements `login_runtime::AuthUser` for a struct with named fields (Flask-Login's
/// `UserMixin`).
///
/// - **id**: the field named `id`, or the one marked `#[auth_user(id)]`; any type that
///   implements `Display`. `get_id` returns its string form, which is what the session stores
///   and what the user loader gets back (parsed with `FromStr`).
/// - **`#[auth_user(active)]`** (optional): a `bool` field that becomes `is_active`;
///   without it every user is active. An inactive user cannot log in and is not authenticated.
/// - **`#[auth_user(session_hash)]`** (optional): a field that changes when the credentials
///   change (`String`, `Vec<u8>`, `[u8; N]`, `Box<[u8]>`, `Arc<str>`, a reference, or an
///   `Option` of one):
///   sessions and remember cookies issued before a change stop working.
/// - **`#[auth_user(crate = "path")]`** on the struct: the path of `login_runtime` when the
///   dependency is renamed.
///
/// Generic structs are supported; the impl requires the parameters to be `'static`, as
/// `AuthUser` is.
///
/// ```
/// use login_runtime::AuthUser;
///
/// #[derive(AuthUser)]
/// struct User {
///     id: u64,
///     name: String,
///     #[auth_user(active)]
///     enabled: bool,
///     #[auth_user(session_hash)]
///     password_hash: String,
/// }
///
/// let user = User { id: 7, name: "ada".into(), enabled: true, password_hash: "$argon2id$..".into() };
/// assert_eq!(user.get_id().as_deref(), Some("7"));
/// assert!(user.is_authenticated());
/// assert_eq!(user.session_hash(), Some("$argon2id$..".as_bytes()));
/// ```
#[proc_macro_derive(AuthUser, attributes(auth_user))]
pub fn derive_auth_user(input: TokenStream) -> TokenStream {
    derive::expand(input.into()).into()
}

/// Turns `async fn load_user(id: Id, extractors..) -> Option<User>` into a user loader
/// (Flask-Login's `user_loader`).
///
/// The function, written at module level (not inside an `impl` block), becomes a constant of the
/// same name and visibility whose type implements `login_runtime::UserLoader` (as actix-web's
/// `#[get]` turns a handler into a value); hand that value to the login manager. The login
/// manager calls it at most once per request, and only when something asks for the user.
///
/// - The first parameter is the id stored in the session, parsed with `FromStr`, and taken by
///   value. For a user that derives `AuthUser` it must be the id field's type (or `String`,
///   which accepts any id): anything else is a compile error at the parameter, since the
///   stored ids would never parse. With a hand-written `AuthUser` the compiler cannot know the
///   id's type: an id that does not parse is an unknown user, and the first one is logged as
///   an error.
/// - Further parameters are actix extractors (`web::Data<Pool>`, `HttpRequest`, ...), at most
///   16; they run without the request body. Patterns (`web::Data(pool): web::Data<Pool>`,
///   `mut x: X`) work as in any function.
/// - The return type is `Option<User>` or `Result<Option<User>, E>` with `E: Display`; `None`
///   is "no such user" (the request is anonymous), `Err` is a failure (a logged 500, never
///   anonymous).
///
/// The constant keeps the function's docs, `#[cfg]` and lint attributes; other attributes
/// (`#[tracing::instrument]`, ...) stay on the function that runs the body. A `pub` loader of
/// a private user type is what a `pub fn` returning it would be: usable where the user type is
/// visible.
///
/// One manager, one user loader: `LoginManager::new` takes exactly one, so two
/// `#[user_loader]`s for the same user type are not an error. They are two values (one per
/// app, or one for tests); only the one given to the manager ever runs.
///
/// The extractors ask for a user type too (`CurrentUser<User>`, `Authenticated<User>`). One
/// that no loader produces (`Authenticated<Admin>` while the loader returns `User`) cannot be
/// a compile error: handlers and loader may live in different crates and meet only in the
/// app. Under a guard ([`#[login_required]`](macro@login_required),
/// [`#[fresh_login_required]`](macro@fresh_login_required)) it fails the app's start: each
/// guard records the user types its handler's parameters extract, each loader macro the type
/// it returns, and the login middleware, as actix builds the app (each worker's, or
/// `actix_web::test::init_service`'s), logs an error naming the handler, its file and line,
/// the type and the fix, and fails: `HttpServer::run` returns an error, `init_service`
/// panics. These stay a 500 at the first request that reaches the extractor, logged in or
/// not, with both types and the fix in the log:
/// - an extractor in a handler without a guard;
/// - a parameter the guard cannot record: in a generic handler or one in an `impl` block, a
///   type with `impl Trait` or `Self`, an extractor inside a tuple or an `Option`;
/// - a type that another loader of the program produces (a program with several managers, a
///   test binary: the check cannot see which app serves which handler), logged at debug level.
///   A loader that implements `UserLoader` by hand counts once its manager is built.
///
/// The check covers every guarded handler linked into the program, mounted or not. Edition
/// 2024 runs a crate's doctests as one program: a doc example that guards a handler should
/// also have a loader of its user type (a hidden `# #[user_loader] async fn load(id: u64) ->
/// Option<User> { None }` line), or be marked `standalone_crate`, or the other examples that
/// start an app fail to start.
///
/// Option: `#[user_loader(crate = "path")]` (or `crate = path`) when `login_runtime` is
/// renamed.
///
/// ```
/// use actix_web::web;
/// use login_runtime::{AuthUser, LoginManager, user_loader};
/// # use std::collections::HashMap;
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64, name: String }
///
/// struct Db { users: HashMap<u64, User> }
///
/// #[derive(Debug)]
/// struct DbError;
///
/// impl std::fmt::Display for DbError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("the database is down")
///     }
/// }
///
/// impl Db {
///     async fn find_user(&self, id: u64) -> Result<Option<User>, DbError> {
///         Ok(self.users.get(&id).cloned())
///     }
/// }
///
/// #[user_loader]
/// async fn load_user(id: u64, db: web::Data<Db>) -> Result<Option<User>, DbError> {
///     db.find_user(id).await
/// }
///
/// let manager = LoginManager::new(load_user);
/// ```
#[proc_macro_attribute]
pub fn user_loader(args: TokenStream, input: TokenStream) -> TokenStream {
    loader::expand(loader::Loader::User, args.into(), input.into(), &context::of_call_site()).into()
}

/// Turns `async fn load(extractors..) -> Option<User>` into a request loader (Flask-Login's
/// `request_loader`): it loads a user from the request itself (an API key, an
/// `Authorization` header) when the session holds no login.
///
/// Like [`#[user_loader]`](macro@user_loader) but without the id: every parameter is an actix
/// extractor. A request loader never writes the session, and the users it loads are never
/// fresh.
///
/// Option: `#[request_loader(crate = "path")]` (or `crate = path`) when `login_runtime` is
/// renamed.
///
/// ```
/// use actix_web::{HttpRequest, web};
/// use login_runtime::{AuthUser, LoginManager, request_loader, user_loader};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64 }
///
/// struct Db;
///
/// impl Db {
///     fn user_by_api_key(&self, key: &str) -> Option<User> {
///         (key == "secret-key").then_some(User { id: 1 })
///     }
/// }
///
/// #[request_loader]
/// async fn load_from_api_key(req: HttpRequest, db: web::Data<Db>) -> Option<User> {
///     let key = req.headers().get("x-api-key")?.to_str().ok()?;
///     db.user_by_api_key(key)
/// }
/// # #[user_loader]
/// # async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// let manager = LoginManager::new(load_user).request_loader(load_from_api_key);
/// ```
#[proc_macro_attribute]
pub fn request_loader(args: TokenStream, input: TokenStream) -> TokenStream {
    loader::expand(loader::Loader::Request, args.into(), input.into(), &context::of_call_site()).into()
}

/// Requires a logged-in user to run an actix handler (Flask-Login's `login_required`).
///
/// An anonymous request gets the login manager's "unauthorized" response (a redirect to the
/// login view for browsers, a 401 for API clients) before any extractor runs, so no request
/// body is read. Every method is checked: an `OPTIONS` request without the login gets an empty
/// 204 and never reaches the handler (Flask-Login can let `OPTIONS` pass because Flask answers it
/// itself; actix calls the handler). Answer CORS preflights with `actix-cors`.
///
/// The handler keeps its name, visibility, attributes and return type; its parameters are
/// folded into one injected extractor that checks the login first. It works above or below
/// actix's route macros (`#[get]`, `#[post]`, `#[route]`) and on handlers registered with
/// `.to(handler)`. A handler takes at most 16 extractors, and one login guard. Attribute
/// macros that read the parameter names (`#[tracing::instrument(skip(db))]`) go above it.
///
/// It guards an `async fn` at module level or in an inherent `impl`: not `main`, not a `const`,
/// `unsafe` or `extern` fn, and not a method of a trait or of a trait impl, whose parameters the
/// trait fixes (guard a free handler that calls the method).
///
/// Options:
/// - `permission = ..`: the logged-in user must also hold this permission, a value of one of
///   the application's [`Permission`](../login_runtime/trait.Permission.html) types
///   (`permission = Perm::Edit`), or pass a rule built with `all(..)`, `any(..)` and `not(..)`,
///   which nest: `permission = any(Role::Admin, all(Perm::Edit, not(Role::Banned)))`. Every
///   permission is a Rust expression, type-checked where it is written. A logged-in user who
///   fails the rule gets the manager's "forbidden" response (a 403, see
///   `login_runtime::forbidden`) before any extractor runs; an anonymous one the
///   "unauthorized" response, as without it. The handlers of a module that write the same
///   rule share its compiled check (a handler in a function body, or a rule with a macro call,
///   `self`, `super` or `Self`, gets one of its own), so permissions on hundreds of handlers
///   cost little more build time than the guards alone.
/// - `crate = "path"` (or `crate = path`) when `login_runtime` is renamed.
///
/// `Authenticated<User>` is the logged-in user (it derefs to `User`); `CurrentUser<User>`
/// is the user or the anonymous user, for pages that are not guarded. A guarded handler that
/// asks for a user type no loader of the program produces fails the app's start, with the
/// handler, its file and line and the fix in the log (see [`#[user_loader]`](macro@user_loader)).
///
/// ```
/// use actix_web::{HttpResponse, get, web};
/// use login_runtime::{AuthUser, Authenticated, login_required};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64, name: String }
///
/// struct Db;
///
/// #[get("/settings")]
/// #[login_required]
/// async fn settings(user: Authenticated<User>, db: web::Data<Db>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("hello {}", user.name))
/// }
///
/// // App::new().service(settings)
/// ```
#[proc_macro_attribute]
pub fn login_required(args: TokenStream, input: TokenStream) -> TokenStream {
    guard::expand(guard::Guard::Login, args.into(), input.into(), &context::of_call_site()).into()
}

/// Requires a fresh login to run an actix handler (Flask-Login's `fresh_login_required`):
/// a login made with the password in this session, not restored from a remember cookie.
///
/// An anonymous request gets the "unauthorized" response; a logged-in but stale one gets the
/// "needs refresh" response (a redirect to the refresh view), so the user re-authenticates
/// before a sensitive operation (OWASP ASVS V3.7.1). An `OPTIONS` request without a fresh
/// enough login gets an empty 204 and never reaches the handler.
///
/// Options:
/// - `max_age = 300` (seconds) or `max_age = "15m"` (units `s`, `m`, `h`, `d`, combinable as
///   `"1h30m"`): also require the fresh login to be at most this old.
/// - `permission = ..`: also require a permission or a rule of them, checked after the fresh
///   login, as for [`#[login_required]`](macro@login_required).
/// - `crate = "path"` (or `crate = path`) when `login_runtime` is renamed.
///
/// Everything else is as for [`#[login_required]`](macro@login_required).
///
/// ```
/// use actix_web::{HttpResponse, post, web};
/// use login_runtime::{AuthUser, Authenticated, fresh_login_required};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64 }
///
/// #[derive(serde::Deserialize)]
/// struct NewPassword { password: String }
///
/// #[post("/account/password")]
/// #[fresh_login_required(max_age = "15m")]
/// async fn change_password(user: Authenticated<User>, form: web::Form<NewPassword>) -> HttpResponse {
///     // ... store a hash of form.password for user.id ...
///     HttpResponse::Ok().finish()
/// }
///
/// // App::new().service(change_password)
/// ```
#[proc_macro_attribute]
pub fn fresh_login_required(args: TokenStream, input: TokenStream) -> TokenStream {
    guard::expand(guard::Guard::FreshLogin, args.into(), input.into(), &context::of_call_site()).into()
}

/// Turns an `async fn` into a permission loader: the permissions of one type that a
/// logged-in user holds, loaded from the database (roles, groups...), at most once per request
/// and only when a guard's `permission = ..` or a `Permissions<P>` extractor asks for them.
///
/// The first parameter is the user, by reference; then any actix extractors. It returns
/// `HashSet<P>` or `Result<HashSet<P>, E>` (`E: Display`; an `Err` is a logged 500), where `P`
/// implements `login_runtime::Permission`. Register it with
/// `LoginManager::permission_loader`.
///
/// ```
/// use std::collections::HashSet;
/// use actix_web::web;
/// use login_runtime::{AuthUser, LoginManager, Permission, permission_loader, user_loader};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64 }
///
/// #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// enum Role { Admin, Editor }
/// impl Permission for Role {}
///
/// struct Db;
/// impl Db {
///     fn roles_of(&self, user: u64) -> Result<HashSet<Role>, String> {
///         Ok(if user == 1 { HashSet::from([Role::Admin]) } else { HashSet::new() })
///     }
/// }
///
/// #[permission_loader]
/// async fn load_roles(user: &User, db: web::Data<Db>) -> Result<HashSet<Role>, String> {
///     db.roles_of(user.id)
/// }
/// # #[user_loader]
/// # async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// let manager = LoginManager::new(load_user).permission_loader(load_roles);
/// ```
#[proc_macro_attribute]
pub fn permission_loader(args: TokenStream, input: TokenStream) -> TokenStream {
    permission::expand_loader(args.into(), input.into()).into()
}
