//! Test support: start a request logged in, without going through a login form (Flask-Login's
//! `FlaskLoginClient`).
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

use crate::state::{RequestState, SessionHashed, TestLogin};
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
