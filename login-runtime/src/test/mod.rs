//! Test support (Flask-Login's `FlaskLoginClient`): a browser for tests that logs in as a user
//! without the login form, and a way to log a single test request in.
//!
//! [`TestClient`] (feature `test-client`, for `[dev-dependencies]`) keeps cookies as a browser
//! does, poses as a client for session protection, logs in as a user (fresh or not, remembered
//! or not) on its next request, and shows the messages flashed to its session; the same client
//! talks to an `actix_web::test` service or to a real `HttpServer` ([`TestTarget`]):
//!
//! ```
//! # #[cfg(feature = "test-client")] {
//! use actix_session::{SessionMiddleware, storage::CookieSessionStore};
//! use actix_web::{App, HttpResponse, cookie::Key, test, web};
//! use login_runtime::test::TestClient;
//! use login_runtime::{AuthUser, LoginManager, LoginOptions, RememberMe, login_required, user_loader};
//!
//! #[derive(Clone, AuthUser)]
//! struct User { id: u64 }
//!
//! #[user_loader]
//! async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
//!
//! #[login_required]
//! async fn secret(user: login_runtime::Authenticated<User>) -> String { format!("secret of {}", user.id) }
//!
//! async fn login_page(flashes: login_runtime::FlashMessages) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("{} message(s)", flashes.iter().count()))
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let manager = LoginManager::new(load_user)
//!     .login_view("/login")
//!     .remember_me(RememberMe::new([7u8; 64]));
//! let app = test::init_service(
//!     App::new()
//!         .app_data(manager.clone())
//!         .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
//!         .wrap(manager.middleware())
//!         .route("/secret", web::get().to(secret))
//!         .route("/login", web::get().to(login_page)),
//! )
//! .await;
//!
//! // Anonymous: sent to the login page, with the login message flashed.
//! let client = TestClient::new();
//! let res = client.get(&app, "/secret").await;
//! assert_eq!(res.location(), Some("/login?next=%2Fsecret"));
//! assert_eq!(client.flashes()[0].message, "Please log in to access this page.");
//!
//! // Logged in as user 1 (not fresh, with a remember cookie) without the form.
//! client.login_as_with(&User { id: 1 }, LoginOptions::new().fresh(false).remember(true));
//! let res = client.get(&app, "/secret").await;
//! assert_eq!(res.text(), "secret of 1");
//! assert!(client.cookie("remember_token").is_some());
//!
//! // The browser restarts: the remember cookie logs the user back in.
//! client.close_browser();
//! assert_eq!(client.get(&app, "/secret").await.text(), "secret of 1");
//! # });
//! # }
//! ```
//!
//! Over a real server, send to [`TestServer`]`(addr)` instead (see its example).
//!
//! [`TestLoginExt`] logs one `actix_web::test` request in, with no client:
//!
//! ```
//! use actix_session::{SessionMiddleware, storage::CookieSessionStore};
//! use actix_web::{App, cookie::Key, test, web};
//! use login_runtime::test::TestLoginExt;
//! use login_runtime::{AuthUser, LoginManager, login_required, user_loader};
//!
//! #[derive(AuthUser)]
//! struct User { id: u64 }
//!
//! #[user_loader]
//! async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
//!
//! #[login_required]
//! async fn secret() -> &'static str { "secret" }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let manager = LoginManager::new(load_user);
//! let app = test::init_service(
//!     App::new()
//!         .app_data(manager.clone())
//!         .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
//!         .wrap(manager.middleware())
//!         .route("/secret", web::get().to(secret)),
//! )
//! .await;
//! let req = test::TestRequest::get().uri("/secret").to_request().with_login(&User { id: 1 });
//! let res = test::call_service(&app, req).await;
//! assert_eq!(res.status(), 200);
//! # });
//! ```

use actix_web::HttpMessage;

// Always in the docs (`cfg(doc)`), marked with its feature on docs.rs.
#[cfg(any(feature = "test-client", doc))]
mod client;
#[cfg(any(feature = "test-client", doc))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-client")))]
pub use client::{CLIENT_IP, TestApp, TestClient, TestResponse, TestServer, TestTarget, USER_AGENT, is_removal};
#[cfg(feature = "test-client")]
pub(crate) use client::{apply_pending_login, flashed, flashes_taken, granted};

use crate::record::SessionHashed;
use crate::state::{RequestState, TestLogin};
use crate::user::AuthUser;

/// Logs a test request in as a user: the login is written into the request's session when the
/// request first looks for the user, as if [`login_user`](crate::login_user) had run on an
/// earlier request. Works on `actix_web::test::TestRequest::to_request()` requests.
pub trait TestLoginExt: Sized {
    /// Logged in as `user`, fresh.
    fn with_login<U: AuthUser>(self, user: &U) -> Self;
    /// Logged in as `user`, not fresh (as if restored from a remember cookie).
    fn with_stale_login<U: AuthUser>(self, user: &U) -> Self;
}

fn insert<M: HttpMessage, U: AuthUser>(msg: &M, user: &U, fresh: bool) {
    let mut state = RequestState::new();
    state.test_login = Some(Box::new(TestLogin {
        user_id: user.get_id().expect("a test login needs a user with an id"),
        hash: user.hash_digest(),
        fresh,
    }));
    msg.extensions_mut().insert(state);
}

impl<M: HttpMessage> TestLoginExt for M {
    fn with_login<U: AuthUser>(self, user: &U) -> Self {
        insert(&self, user, true);
        self
    }

    fn with_stale_login<U: AuthUser>(self, user: &U) -> Self {
        insert(&self, user, false);
        self
    }
}
