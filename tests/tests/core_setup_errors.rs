//! Mistakes in registering the login manager: each is a 500 with a message in the log that
//! says what to write, never a panic, never a silent "anonymous".

mod support;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::{App, test};
use support::logs::capture_thread;
use support::{Client, Db, LoginForm, manager, routes, session_key};

fn ada() -> LoginForm {
    LoginForm::new("ada", "lovelace")
}

/// A 500 that tells the client nothing about the server's setup.
fn assert_bare_500(res: &support::Reply, what: &str) {
    assert_eq!(res.status, 500, "{what}: {}", res.body);
    assert_eq!(res.body, "Internal Server Error", "{what}");
}

#[actix_web::test]
async fn without_the_manager_as_app_data() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        App::new()
            .app_data(db.clone())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), session_key()))
            .wrap(login.middleware())
            .configure(routes),
    )
    .await;
    let browser = Client::new();
    assert_bare_500(&browser.get(&app, "/whoami").await, "CurrentUser");
    assert_bare_500(&browser.get(&app, "/secret").await, "#[login_required]");
    assert_bare_500(&browser.login_form(&app, "/login", &ada()).await, "login_user");
    assert_bare_500(&browser.post(&app, "/logout-flash").await, "logout_user");
    assert!(logs.has_error("no `LoginManager` is registered: add `.app_data(manager.clone())`"), "{:#?}", logs.lines());
    // Routes that do not use the login still work.
    assert_eq!(browser.get(&app, "/").await.status, 200);
}

#[actix_web::test]
async fn without_the_login_middleware() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        App::new()
            .app_data(login.clone())
            .app_data(db.clone())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), session_key()))
            .configure(routes),
    )
    .await;
    let browser = Client::new();
    assert_bare_500(&browser.get(&app, "/whoami").await, "CurrentUser");
    assert_bare_500(&browser.get(&app, "/secret").await, "#[login_required]");
    assert_bare_500(&browser.login_form(&app, "/login", &ada()).await, "login_user");
    assert!(
        logs.has_error("the login middleware is not registered: add `.wrap(manager.middleware())`"),
        "{:#?}",
        logs.lines()
    );
    assert_eq!(browser.get(&app, "/").await.status, 200);
}

/// `SessionMiddleware` wrapped after the login middleware runs outside it.
#[actix_web::test]
async fn login_middleware_inside_the_session_middleware() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        App::new()
            .app_data(login.clone())
            .app_data(db.clone())
            .wrap(login.middleware())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), session_key()))
            .configure(routes),
    )
    .await;
    let browser = Client::new();
    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_bare_500(&res, "login in the wrong order");
    assert!(
        logs.has_error("the login was not saved: actix-session's `SessionMiddleware` is missing"),
        "{:#?}",
        logs.lines()
    );
    assert!(
        logs.has_error("`App::new().wrap(SessionMiddleware::new(..)).wrap(manager.middleware())`"),
        "the message says how to register them"
    );
}

#[actix_web::test]
async fn login_refused_for_the_wrong_order_is_not_saved_either() {
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        App::new()
            .app_data(login.clone())
            .app_data(db.clone())
            .wrap(login.middleware())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), session_key()))
            .configure(routes),
    )
    .await;
    let browser = Client::new();
    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(res.status, 500);
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous", "a login answered with 500 must not be in force");
}

#[actix_web::test]
async fn without_any_session_middleware() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        App::new().app_data(login.clone()).app_data(db.clone()).wrap(login.middleware()).configure(routes),
    )
    .await;
    let browser = Client::new();
    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_bare_500(&res, "login without sessions");
    assert!(res.set_cookie_headers().is_empty());
    assert!(logs.has_error("the login was not saved"), "{:#?}", logs.lines());
    // Nobody can be logged in, so everybody is anonymous: that part is no error.
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
}

#[actix_web::test]
async fn user_loader_errors_are_logged() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let app = test::init_service(support::app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    db.set_failing(true);
    assert_bare_500(&browser.get(&app, "/whoami").await, "failing loader");
    assert!(logs.has_error("the user loader failed: the user database is down"), "{:#?}", logs.lines());
}

#[actix_web::test]
async fn wrong_user_type_is_logged_with_both_types() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let app = test::init_service(support::app(&manager(), &db).route(
        "/typo",
        actix_web::web::get().to(|user: login_runtime::CurrentUser<login_runtime::AnonymousUser>| async move {
            format!("{:?}", user.get_id())
        }),
    ))
    .await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    assert_bare_500(&browser.get(&app, "/typo").await, "wrong user type");
    assert!(
        logs.has_error("an extractor asked for a `login_runtime::user::AnonymousUser`")
            && logs.has_error("support::User"),
        "{:#?}",
        logs.lines()
    );
}

/// A user type that no loader of [`manager`] produces.
#[derive(login_runtime::AuthUser)]
struct Admin {
    id: u64,
}

/// An extractor for a user type that no loader produces (`Authenticated<Admin>` while the
/// loader loads `User`) is a 500 naming both types from the first request that reaches it,
/// anonymous included: not a page that works until the first login (issue 19).
#[actix_web::test]
async fn an_extractor_for_a_type_no_loader_produces_fails_at_the_first_request() {
    let (logs, _guard) = capture_thread();
    let db = Db::seeded();
    let app = test::init_service(
        support::app(&manager(), &db)
            .route(
                "/admin",
                actix_web::web::get()
                    .to(|admin: login_runtime::Authenticated<Admin>| async move { admin.id.to_string() }),
            )
            .route(
                "/admin/maybe",
                actix_web::web::get()
                    .to(|admin: login_runtime::CurrentUser<Admin>| async move { format!("{:?}", admin.get_id()) }),
            ),
    )
    .await;
    let browser = Client::new();
    assert_bare_500(&browser.get(&app, "/admin").await, "Authenticated<Admin>, anonymous");
    assert_bare_500(&browser.get(&app, "/admin/maybe").await, "CurrentUser<Admin>, anonymous");
    assert!(
        logs.has_error("an extractor asked for a `core_setup_errors::Admin` but the login manager produces `core_setup_errors::support::User`: take `core_setup_errors::support::User` in the extractor"),
        "{:#?}",
        logs.lines()
    );
    // The pages of the loader's type work.
    assert_eq!(browser.get(&app, "/whoami").await.status, 200);
    browser.login_form(&app, "/login", &ada()).await;
    assert_bare_500(&browser.get(&app, "/admin").await, "Authenticated<Admin>, logged in");
    assert_eq!(browser.get(&app, "/whoami").await.status, 200);
}
