//! Login for actix-web, the way Flask-Login does it for Flask.
//!
//! `login-runtime` remembers who is logged in (in actix-session), loads that user at most once
//! per request, and guards handlers with [`#[login_required]`](macro@login_required) and
//! [`#[fresh_login_required]`](macro@fresh_login_required). It does not store users or check
//! passwords: the application brings its own user model and a function that loads a user.
//!
//! # A complete application, step by step
//!
//! **1. The user model.** Derive [`AuthUser`]: the `id` field (or the one marked
//! `#[auth_user(id)]`) is what the session stores.
//!
//! ```
//! use login_runtime::AuthUser;
//!
//! #[derive(Clone, AuthUser)]
//! struct User {
//!     id: u64,
//!     name: String,
//!     #[auth_user(active)]
//!     active: bool,
//! }
//! ```
//!
//! **2. The user loader.** An `async fn` taking the id (any `FromStr` type), then any actix
//! extractors; it returns `Option<User>` or `Result<Option<User>, E>`. An `Err` is a logged 500,
//! never a silent logout.
//!
//! ```
//! # use login_runtime::AuthUser;
//! # #[derive(Clone, AuthUser)] struct User { id: u64, name: String }
//! use std::collections::HashMap;
//! use actix_web::web;
//! use login_runtime::user_loader;
//!
//! struct Db(HashMap<u64, User>);
//!
//! #[user_loader]
//! async fn load_user(id: u64, db: web::Data<Db>) -> Option<User> {
//!     db.0.get(&id).cloned()
//! }
//! ```
//!
//! **3. Guarded handlers and the current user.** [`#[login_required]`](macro@login_required)
//! sends anonymous visitors to the login view (or answers 401); [`CurrentUser`] is the user or
//! the anonymous one, [`Authenticated`] insists on a logged-in user.
//!
//! ```
//! # use login_runtime::AuthUser;
//! # #[derive(Clone, AuthUser)] struct User { id: u64, name: String }
//! # #[login_runtime::user_loader] async fn load_user(id: u64) -> Option<User> { None } // step 2's
//! use actix_web::get;
//! use login_runtime::{Authenticated, CurrentUser, login_required};
//!
//! #[get("/")]
//! async fn index(user: CurrentUser<User>) -> String {
//!     match user.authenticated() {
//!         Some(user) => format!("Hello {}!", user.name),
//!         None => "You are not logged in!".into(),
//!     }
//! }
//!
//! #[get("/settings")]
//! #[login_required]
//! async fn settings(user: Authenticated<User>) -> String {
//!     format!("{}'s settings", user.name)
//! }
//! ```
//!
//! **4. Logging in and out.** Check the credentials yourself, then call [`login_user`];
//! [`logout_user`] ends the login (and, with a login registry, every copy of it). A login
//! renews the session id. [`next_url`] gives back the page the user was sent away from, if it
//! is a safe local path.
//!
//! ```
//! # use login_runtime::AuthUser;
//! # #[derive(Clone, AuthUser)] struct User { id: u64, name: String }
//! use actix_web::{HttpRequest, HttpResponse, http::header, post};
//! use login_runtime::{flash, login_user, logout_user, next_url};
//!
//! #[post("/login")]
//! async fn login(req: HttpRequest) -> actix_web::Result<HttpResponse> {
//!     let user = User { id: 1, name: "ada".into() }; // after checking the password
//!     login_user(&req, &user)?;
//!     let to = next_url(&req).unwrap_or_else(|| "/".into());
//!     Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish())
//! }
//!
//! #[post("/logout")]
//! async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
//!     logout_user(&req)?;
//!     flash(&req, "Logged out.", "info")?;
//!     Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, "/")).finish())
//! }
//! ```
//!
//! **5. The login manager.** Configure it once, then register it on the `App` as app data
//! and as middleware, wrapped after actix-session's `SessionMiddleware` (so it runs outside
//! it). The login message is flashed into the session (or, for a visitor without a session,
//! named in a short-lived cookie, so that cookieless requests store nothing on the server); the
//! login page reads it with [`FlashMessages`]. Finish configuring it before
//! the first clone: a clone is the same manager, and configuring one panics at start-up
//! (Flask-Login has one manager per app; a configured copy here would be a second manager
//! without its middleware).
//!
//! ```no_run
//! # use login_runtime::AuthUser;
//! # #[derive(Clone, AuthUser)] struct User { id: u64, name: String }
//! # #[login_runtime::user_loader] async fn load_user(id: u64) -> Option<User> { None }
//! use actix_session::{SessionMiddleware, storage::CookieSessionStore};
//! use actix_web::{App, HttpServer, cookie::Key};
//! use login_runtime::LoginManager;
//!
//! # async fn run() -> std::io::Result<()> {
//! let manager = LoginManager::new(load_user)
//!     .login_view("/login")
//!     .login_message("Please log in to access this page.", "info");
//! let key = Key::generate(); // load a fixed key in production
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(manager.clone())
//!         .wrap(SessionMiddleware::new(CookieSessionStore::default(), key.clone()))
//!         .wrap(manager.middleware())
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! # What anonymous visitors get
//!
//! A guarded handler refuses anonymous requests before any of its extractors run (its body is
//! never read). Every method is checked: an `OPTIONS` request without the login gets an empty 204
//! and never reaches the handler (Flask answers `OPTIONS` itself, actix calls the handler; CORS
//! preflights are [`actix-cors`](https://docs.rs/actix-cors)'s job, in front of the guard). With
//! an [`unauthorized_handler`](LoginManager::unauthorized_handler), its response; without a
//! [`login_view`](LoginManager::login_view), a 401; otherwise the login message is flashed and
//! a browser is redirected (302, or 303 after a `POST`) to `login_view?next=/the/page`. Clients
//! that asked for JSON (`Accept: application/json` or `X-Requested-With: XMLHttpRequest`) get a
//! 401 with a JSON body naming the login URL; htmx requests get a 401 with `HX-Redirect`.
//! Users whose login is not fresh get the same from the refresh view under
//! [`#[fresh_login_required]`](macro@fresh_login_required).
//!
//! A refused request other than `GET`/`HEAD` (a form's `POST`) cannot be replayed by a
//! redirect: its `next` is the page the form was on, when `Referer` names a page of this site
//! (and `Origin`, if sent, is this site), else there is none and the login view's default
//! applies. Flask-Login puts the POST's own path in `next`, which after logging in the browser
//! `GET`s into a 404 or 405.
//!
//! The app's own checks refuse the same way with [`unauthorized`] and [`needs_refresh`]
//! (Flask's `login_manager.unauthorized()` and `needs_refresh()`), from a handler, an
//! extractor or a middleware.
//!
//! When a login ended without a logout in this browser (a device ended from another, a
//! password change, strong session protection, the idle or absolute timeout), the login page
//! can say why with [`logout_reason`], and JSON clients find it as `"reason"` in the 401.
//! Flask-Login has no equivalent: there such a user only sees "Please log in".
//!
//! [`login_fresh`], [`login_remembered`] and [`confirm_login`] are `async`: each resolves the
//! request's login first (sharing the one load with the extractors), so they answer the same
//! whatever the handler extracted, and `confirm_login` confirms a login restored from the
//! remember cookie. In Flask they read `session` directly, which the remember cookie fills in
//! before any view runs.
//!
//! # Permissions and roles
//!
//! "May this user do this?" is checked with the application's own types: an enum of
//! permissions, one of roles, any `Eq + Hash` type that implements [`Permission`]. A guard's
//! `permission = ..` names them as Rust values, combined with `all(..)`, `any(..)` and
//! `not(..)`, which nest; a typo is a compile error on the typo, and a value that is not a
//! permission (a string) is a compile error that says what to write. They come from the user
//! model (fields marked `#[auth_user(permissions)]`: a `HashSet`, `BTreeSet` or `Vec`) or from
//! a [`#[permission_loader]`](macro@permission_loader), an `async fn` that may query the
//! database, run at most once per request and only when something asks for its type.
//!
//! ```
//! use std::collections::HashSet;
//! use actix_session::{SessionMiddleware, storage::CookieSessionStore};
//! use actix_web::{App, HttpRequest, cookie::Key, get, test, web};
//! use login_runtime::test::TestLoginExt;
//! use login_runtime::{
//!     Authenticated, AuthUser, LoginManager, Permission, Permissions, forbidden, login_required,
//!     permission_loader, user_loader,
//! };
//!
//! #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! enum Perm { Read, Edit }
//! impl Permission for Perm {}
//!
//! #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! enum Role { Admin, Banned }
//! impl Permission for Role {}
//!
//! #[derive(Clone, AuthUser)]
//! struct User {
//!     id: u64,
//!     #[auth_user(permissions)]
//!     permissions: HashSet<Perm>,
//! }
//!
//! #[user_loader]
//! async fn load_user(id: u64) -> Option<User> {
//!     let permissions = if id == 1 { HashSet::from([Perm::Read, Perm::Edit]) } else { HashSet::from([Perm::Read]) };
//!     Some(User { id, permissions })
//! }
//!
//! // Roles from the database; here user 1 is the admin.
//! #[permission_loader]
//! async fn load_roles(user: &User) -> HashSet<Role> {
//!     if user.id == 1 { HashSet::from([Role::Admin]) } else { HashSet::new() }
//! }
//!
//! #[get("/admin")]
//! #[login_required(permission = Role::Admin)]
//! async fn admin() -> &'static str {
//!     "admin"
//! }
//!
//! #[get("/articles/{id}/edit")]
//! #[login_required(permission = all(Perm::Edit, not(Role::Banned)))]
//! async fn edit_article(id: web::Path<u64>) -> String {
//!     format!("editing {id}")
//! }
//!
//! // An object-level check: authors edit their own comments, `Perm::Edit` any comment.
//! #[get("/comments/{author}/edit")]
//! #[login_required]
//! async fn edit_comment(
//!     req: HttpRequest,
//!     user: Authenticated<User>,
//!     permissions: Permissions<Perm>,
//!     author: web::Path<u64>,
//! ) -> actix_web::Result<&'static str> {
//!     if *author != user.id && !permissions.has(&Perm::Edit) {
//!         return Err(forbidden(&req));
//!     }
//!     Ok("editing the comment")
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let manager = LoginManager::new(load_user).permission_loader(load_roles);
//! let app = test::init_service(
//!     App::new()
//!         .app_data(manager.clone())
//!         .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
//!         .wrap(manager.middleware())
//!         .service(admin)
//!         .service(edit_article)
//!         .service(edit_comment),
//! )
//! .await;
//! let status = |uri: &'static str, user: u64| {
//!     let user = User { id: user, permissions: HashSet::new() }; // only the id is stored
//!     let req = test::TestRequest::get().uri(uri).to_request().with_login(&user);
//!     async { test::call_service(&app, req).await.status().as_u16() }
//! };
//! assert_eq!(status("/admin", 1).await, 200);
//! assert_eq!(status("/admin", 2).await, 403);
//! assert_eq!(status("/articles/7/edit", 1).await, 200);
//! assert_eq!(status("/articles/7/edit", 2).await, 403);
//! assert_eq!(status("/comments/2/edit", 2).await, 200);
//! assert_eq!(status("/comments/1/edit", 2).await, 403);
//! # });
//! ```
//!
//! A visitor who is not logged in gets the unauthorized flow as before (the login page, with
//! `next`); a logged-in user without the permission the forbidden flow: a 403 (a JSON body for
//! JSON clients), or the [`forbidden_handler`](LoginManager::forbidden_handler)'s response, or
//! a redirect to the [`forbidden_view`](LoginManager::forbidden_view) (`HX-Redirect` for
//! htmx), and the [`Forbidden`](LoginEventKind::Forbidden) event. The refusal comes before
//! any of the handler's extractors run, so no body is read, and an `OPTIONS` request gets the
//! empty 204. Under [`#[fresh_login_required]`](macro@fresh_login_required) the fresh login is
//! asked for first. [`forbidden`] refuses the same way from the application's own code, and
//! [`test::TestClient::login_with_permissions`] logs a test client in with given permissions.
//!
//! A permission loader for a type takes precedence over the user's fields of that type. A
//! guard that asks for a type nothing provides is a configuration error (a logged 500), never a
//! silent pass or refusal.
//!
//! # A token-only API
//!
//! A service that authenticates every request by an API key or a bearer token, with no
//! sessions, builds its manager with [`LoginManager::from_request_loader`]: no user loader, no
//! session middleware; the guards, extractors, refusals and events are the same.
//!
//! # Going to production
//!
//! - Load the session key (actix-session), the [`RememberMe`] key and the manager's
//!   [`secret_key`](LoginManager::secret_key) from your secrets store: the same on every
//!   server, distinct from each other. Minimum lengths: the session key 64 bytes (actix's
//!   `Key`), the remember-me key and the secret key 32 bytes each. Generate them with
//!   `openssl rand -hex 64` and `openssl rand -hex 32` (hex is one line; `openssl rand -base64`
//!   wraps its output at 64 characters, so strip the line breaks before decoding it, or use
//!   `-base64 -A`). Keys generated at start log everyone out on each restart. With a
//!   [login registry](LoginManager::login_registry) give the manager the session key too
//!   ([`session_key`](LoginManager::session_key)): the logins made under other keys are then no
//!   longer listed after a restart with new keys.
//! - Keep actix-session's `cookie_secure(true)` (its default) and the remember cookie's
//!   `Secure` attribute: both cookies are bearer credentials.
//! - Give the user type a [`session_hash`](AuthUser::session_hash) (a password hash or a
//!   security stamp): changing it is how a password change or "log out everywhere" reaches
//!   the other sessions and remember cookies of that user, even with the cookie store.
//! - Pick the [`SessionProtection`] mode, and the [idle](LoginManager::idle_timeout) and
//!   [absolute](LoginManager::absolute_timeout) timeouts your application needs; guard
//!   sensitive operations with [`#[fresh_login_required]`](macro@fresh_login_required).
//! - To let users see their sessions and devices and end them (OWASP ASVS V3.3.4), give the
//!   manager a [`LoginRegistry`] ([`MemoryLoginRegistry`] on one process, Redis or your
//!   database on several, a [`CachedLoginRegistry`] in front to spare a lookup per request)
//!   and offer [`logins`], [`revoke_login`] and [`revoke_other_logins`] behind
//!   [`#[fresh_login_required]`](macro@fresh_login_required); bound what it keeps with
//!   [`max_logins_per_user`](LoginManager::max_logins_per_user).
//! - Behind reverse proxies, tell the manager how many of them append to `X-Forwarded-For`
//!   with [`trusted_proxies`](LoginManager::trusted_proxies): the client is the entry that
//!   many from the right; no other header (nor the client's own entries) is believed. With an
//!   absolute `login_view`, pin the host put into `next` with
//!   [`force_host_for_redirects`](LoginManager::force_host_for_redirects).
//!
//! # Testing an application
//!
//! [`test::TestClient`] (feature `test-client`, for `[dev-dependencies]`) is Flask-Login's
//! `FlaskLoginClient`: a browser that keeps cookies, logs in as a user without the login form
//! (fresh or not, remembered or not), and shows the messages flashed to its session, over an
//! `actix_web::test` service or a real `HttpServer`. [`test::TestLoginExt`] logs a single test
//! request in.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authz;
mod cached_registry;
mod clock;
mod error;
mod events;
mod extract;
mod flash;
mod guard;
mod listing;
pub mod loader;
mod login;
mod logins;
mod manager;
mod middleware;
mod permission;
#[cfg(test)]
mod proptests;
mod proxy;
mod reason;
mod record;
#[cfg(feature = "redis")]
mod redis_registry;
mod registry;
mod remember;
mod resolve;
mod respond;
mod rules;
mod startup;
mod state;
pub mod template;
pub mod test;
mod url;
mod user;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use authz::{Permissions, forbidden};
pub use cached_registry::CachedLoginRegistry;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::LoginError;
pub use events::{LoginEvent, LoginEventKind};
pub use extract::{Authenticated, CurrentUser};
pub use flash::{FlashMessage, FlashMessages, MAX_FLASHES, flash};
pub use loader::{RequestLoader, UserLoader};
pub use login::{
    LoginOptions, confirm_login, login_fresh, login_remembered, login_user, login_user_with, logout_user, next_url,
};
pub use logins::{login_id, logins, revoke_login, revoke_other_logins};
pub use manager::{LoginManager, SessionProtection};
pub use middleware::LoginMiddleware;
pub use permission::{Permission, PermissionLoader, PermissionOutput};
pub use reason::{LogoutReason, logout_reason};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_registry::RedisLoginRegistry;
pub use registry::{LoginInfo, LoginRegistry, MemoryLoginRegistry};
pub use remember::RememberMe;
pub use respond::{needs_refresh, unauthorized};
pub use url::{is_safe_next, login_url, make_next_param};
pub use user::{AnonymousUser, AuthUser};

#[cfg(feature = "macros")]
pub use login_macros::*;
