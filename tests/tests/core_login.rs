//! The user loader, the current user, logging in and out, fresh logins, and the test helpers,
//! through `actix_web::test` with cookies carried from one request to the next.

mod support;

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, test, web};
use login_runtime::test::TestLoginExt;
use login_runtime::{
    AnonymousUser, AuthUser, Authenticated, CurrentUser, LoginError, LoginManager, ManualClock, login_user, user_loader,
};
use support::{
    ADA, BOB, Client, Db, EVE, LoginForm, MemoryStore, SESSION, TestApp, User, app, app_with_store, manager,
};

fn ada() -> LoginForm {
    LoginForm::new("ada", "lovelace")
}

/// `CurrentUser` as the handler sees it.
async fn describe(user: CurrentUser<User>) -> HttpResponse {
    HttpResponse::Ok().body(format!(
        "anonymous={} authenticated={} active={} id={:?} name={:?}",
        user.is_anonymous(),
        user.is_authenticated(),
        user.is_active(),
        user.get_id(),
        user.user().map(|u| u.name.clone()),
    ))
}

// ---- the user loader ----

#[actix_web::test]
async fn loader_runs_only_when_something_asks_for_the_user() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();

    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(res.status, 303);
    assert_eq!(db.loads(), 0, "logging in does not load the user");

    for _ in 0..3 {
        let res = browser.get(&app, "/").await;
        assert_eq!(res.status, 200);
        assert!(res.body.starts_with("home"));
    }
    assert_eq!(db.loads(), 0, "a public route never loads the user");

    let res = browser.get(&app, "/whoami").await;
    assert_eq!(res.body, "user:ada");
    assert_eq!(db.loads(), 1);
}

#[actix_web::test]
async fn loader_runs_once_per_request_for_guard_current_user_and_authenticated() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;

    let res = browser.get(&app, "/all-at-once").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "ada ada"));
    assert_eq!(db.loads(), 1, "guard + CurrentUser + Authenticated share one load");

    // Once per request, not once per session.
    browser.get(&app, "/all-at-once").await;
    assert_eq!(db.loads(), 2);
}

#[actix_web::test]
async fn anonymous_requests_never_call_the_loader() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
    assert_eq!(db.loads(), 0);
}

#[actix_web::test]
async fn loader_error_is_a_500_not_an_anonymous_user() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;

    db.set_failing(true);
    let res = browser.get(&app, "/whoami").await;
    assert_eq!(res.status, 500);
    assert!(!res.body.contains("database"), "the error stays in the log: {}", res.body);
    let res = browser.get(&app, "/secret").await;
    assert_eq!(res.status, 500, "a failing loader is no reason to redirect to the login page");

    // The login survived the outage.
    db.set_failing(false);
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:ada");
}

#[actix_web::test]
async fn loader_returning_none_ends_the_login() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;

    db.remove(ADA);
    let res = browser.get(&app, "/whoami").await;
    assert_eq!(res.body, "anonymous");
    assert!(!res.set_cookies(SESSION).is_empty(), "the session drops the login");
    let loads = db.loads();

    // The user comes back: the session no longer names them.
    db.insert(ADA, "lovelace");
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
    assert_eq!(db.loads(), loads, "no login left to load");
}

#[actix_web::test]
async fn loader_extractor_failure_is_a_500() {
    // The loader takes `web::Data<Db>`: an app without it cannot load anyone.
    let db = Db::seeded();
    let login = manager();
    let app = test::init_service(
        actix_web::App::new()
            .app_data(login.clone())
            .wrap(actix_session::SessionMiddleware::new(
                actix_session::storage::CookieSessionStore::default(),
                support::session_key(),
            ))
            .wrap(login.middleware())
            .configure(support::routes),
    )
    .await;
    let req = test::TestRequest::get().uri("/whoami").to_request().with_login(&db.user(ADA));
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 500);
}

#[derive(Clone, Debug, AuthUser)]
struct Member {
    id: String,
}

#[user_loader]
async fn load_member(id: String) -> Option<Member> {
    id.ends_with("@example.com").then_some(Member { id })
}

async fn member_login(req: HttpRequest, id: web::Path<String>) -> actix_web::Result<HttpResponse> {
    login_user(&req, &Member { id: id.into_inner() })?;
    Ok(HttpResponse::Ok().body("logged in"))
}

/// An app with only `login`, the session, the user database, `/login/{id}` (logs a [`Member`]
/// in) and the routes `more` adds.
async fn member_app(login: &LoginManager, db: &web::Data<Db>, more: fn(&mut web::ServiceConfig)) -> TestApp {
    TestApp::service(
        test::init_service(
            actix_web::App::new()
                .app_data(login.clone())
                .app_data(db.clone())
                .wrap(actix_session::SessionMiddleware::new(
                    actix_session::storage::CookieSessionStore::default(),
                    support::session_key(),
                ))
                .wrap(login.middleware())
                .route("/login/{id}", web::post().to(member_login))
                .configure(more),
        )
        .await,
    )
}

/// `GET /whoami` for a user of type `U`: the id, or `anonymous`.
fn whoami_of<U: AuthUser + Clone + 'static>(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/whoami",
        web::get().to(|user: CurrentUser<U>| async move { user.get_id().unwrap_or_else(|| "anonymous".into()) }),
    );
}

#[actix_web::test]
async fn loader_with_a_string_id() {
    let app = member_app(&LoginManager::new(load_member), &Db::seeded(), whoami_of::<Member>).await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    let res = browser.post(&app, "/login/ada%20l@example.com").await;
    assert_eq!(res.status, 200);
    assert_eq!(browser.get(&app, "/whoami").await.body, "ada l@example.com");
}

/// A user whose id is a number: its loader parses the stored id as a `u64`.
#[derive(Clone, Debug, AuthUser)]
struct Numbered {
    id: u64,
}

#[user_loader]
async fn load_numbered(id: u64, db: web::Data<Db>) -> Option<Numbered> {
    db.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Some(Numbered { id })
}

#[actix_web::test]
async fn stored_id_that_does_not_parse_is_anonymous() {
    // The loader takes a `u64`; a login stored as "not-a-number" names nobody.
    let db = Db::seeded();
    let app = member_app(&LoginManager::new(load_numbered).login_view("/login"), &db, |cfg| {
        whoami_of::<Numbered>(cfg);
        cfg.route("/secret", web::get().to(|user: Authenticated<Numbered>| async move { user.id.to_string() }));
    })
    .await;
    let browser = Client::new();
    let res = browser.post(&app, "/login/not-a-number").await;
    assert_eq!(res.status, 200);
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
    assert_eq!(db.loads(), 0, "an id that does not parse is not looked up");

    // Sanity: a parsable id is looked up.
    let browser = Client::new();
    browser.post(&app, "/login/2").await;
    assert_eq!(browser.get(&app, "/whoami").await.body, "2");
    assert_eq!(browser.get(&app, "/secret").await.body, "2");
    assert_eq!(db.loads(), 2);
}

// ---- the current user ----

#[actix_web::test]
async fn current_user_is_the_anonymous_user_when_nobody_is_logged_in() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route("/describe", web::get().to(describe))).await;
    let browser = Client::new();
    let res = browser.get(&app, "/describe").await;
    assert_eq!(res.body, "anonymous=true authenticated=false active=false id=None name=None");

    browser.login_form(&app, "/login", &ada()).await;
    let res = browser.get(&app, "/describe").await;
    assert_eq!(res.body, "anonymous=false authenticated=true active=true id=Some(\"ada\") name=Some(\"name of ada\")");
}

#[actix_web::test]
async fn anonymous_user_type_is_the_default_one() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/anon",
        web::get().to(|user: CurrentUser<User, AnonymousUser>| async move { format!("{:?}", user.anonymous()) }),
    ))
    .await;
    assert_eq!(Client::new().get(&app, "/anon").await.body, "Some(AnonymousUser)");
}

#[derive(Clone, Debug)]
struct Guest {
    name: String,
}

impl AuthUser for Guest {
    fn get_id(&self) -> Option<String> {
        None
    }
    fn is_authenticated(&self) -> bool {
        false
    }
    fn is_anonymous(&self) -> bool {
        true
    }
}

async fn greet_guest(user: CurrentUser<User, Guest>) -> String {
    match &user {
        CurrentUser::User(u) => format!("hello {}", u.name),
        CurrentUser::Anonymous(g) => format!("hello {} (anonymous={})", g.name, user.is_anonymous()),
    }
}

#[actix_web::test]
async fn custom_anonymous_user() {
    let db = Db::seeded();
    let login = manager().anonymous_user(|| Guest { name: "guest".into() });
    let app = test::init_service(app(&login, &db).route("/greet", web::get().to(greet_guest))).await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/greet").await.body, "hello guest (anonymous=true)");
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/greet").await.body, "hello name of ada");
}

#[actix_web::test]
async fn asking_for_the_wrong_user_type_is_a_500() {
    let db = Db::seeded();
    let app = test::init_service(
        app(&manager(), &db)
            .route("/member", web::get().to(|user: CurrentUser<Member>| async move { format!("{user:?}") }))
            .route("/member-auth", web::get().to(|user: Authenticated<Member>| async move { user.id.clone() }))
            // The manager's anonymous user is `AnonymousUser`, not `Guest`.
            .route("/greet", web::get().to(greet_guest)),
    )
    .await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/greet").await.status, 500);

    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/member").await.status, 500);
    assert_eq!(browser.get(&app, "/member-auth").await.status, 500);
    // The right type still works in the same session.
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:ada");
}

#[actix_web::test]
async fn deactivated_user_is_loaded_but_not_authenticated() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route("/describe", web::get().to(describe))).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/secret").await.status, 200);

    db.set_active(ADA, false);
    let res = browser.get(&app, "/describe").await;
    assert_eq!(
        res.body,
        "anonymous=false authenticated=false active=false id=Some(\"ada\") name=Some(\"name of ada\")"
    );
    let res = browser.get(&app, "/secret").await;
    assert_eq!(res.status, 302, "an inactive user is locked out of guarded pages");
}

// ---- login_user / logout_user ----

#[actix_web::test]
async fn login_refuses_an_inactive_user_and_writes_nothing() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    browser.post(&app, "/cart/book").await;
    let cookie = browser.cookie(SESSION).unwrap();

    let res = browser.login_form(&app, "/login", &LoginForm::new("eve", "eve")).await;
    assert_eq!(res.status, 403, "`LoginError::Inactive` through `?`");
    assert!(res.set_cookie_headers().is_empty(), "nothing written: {:?}", res.set_cookie_headers());
    assert_eq!(browser.cookie(SESSION).unwrap(), cookie);
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/cart").await.body, "book");
}

#[actix_web::test]
async fn login_user_returns_the_inactive_error() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/login-eve",
        web::post().to(|req: HttpRequest, db: web::Data<Db>| async move {
            match login_user(&req, &db.user(EVE)) {
                Err(LoginError::Inactive) => "refused: inactive".to_owned(),
                other => format!("unexpected: {other:?}"),
            }
        }),
    ))
    .await;
    let res = Client::new().post(&app, "/login-eve").await;
    assert_eq!(res.body, "refused: inactive");
}

#[actix_web::test]
async fn forced_login_of_an_inactive_user() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route("/describe", web::get().to(describe))).await;
    let browser = Client::new();
    let mut form = LoginForm::new("eve", "eve");
    form.force = true;
    let res = browser.login_form(&app, "/login", &form).await;
    assert_eq!(res.status, 303);
    assert!(!res.set_cookies(SESSION).is_empty());
    // Logged in, but an inactive user is not authenticated (as Flask-Login's `UserMixin`).
    let res = browser.get(&app, "/describe").await;
    assert_eq!(
        res.body,
        "anonymous=false authenticated=false active=false id=Some(\"eve\") name=Some(\"name of eve\")"
    );
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
}

#[actix_web::test]
async fn wrong_password_does_not_log_in() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.login_form(&app, "/login", &LoginForm::new("ada", "nope")).await;
    assert_eq!(res.status, 401);
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
}

#[actix_web::test]
async fn login_renews_the_session_key_against_fixation() {
    let db = Db::seeded();
    let store = MemoryStore::new();
    let app = test::init_service(app_with_store(&manager(), &db, store.clone())).await;
    let browser = Client::new();

    // An anonymous session, as an attacker could plant it.
    browser.post(&app, "/cart/book").await;
    let planted_key = store.only_key();
    let planted_cookie = browser.cookie(SESSION).unwrap();

    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(res.status, 303);
    let login_key = store.only_key();
    assert_ne!(login_key, planted_key, "logging in gives a new session key");
    assert!(store.was_deleted(&planted_key), "the old key is gone");
    assert_ne!(browser.cookie(SESSION).unwrap(), planted_cookie);
    // The rest of the session moved along.
    assert_eq!(browser.get(&app, "/cart").await.body, "book");
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:ada");

    // The attacker's copy of the planted cookie is worth nothing.
    let attacker = Client::new();
    attacker.set_cookie(SESSION, &planted_cookie);
    assert_eq!(attacker.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(attacker.get(&app, "/cart").await.body, "empty");

    // Every login renews, also over an existing login.
    let res = browser.login_form(&app, "/login", &LoginForm::new("bob", "builder")).await;
    assert_eq!(res.status, 303);
    let second_key = store.only_key();
    assert_ne!(second_key, login_key);
    assert!(store.was_deleted(&login_key));
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:bob");
}

#[actix_web::test]
async fn logout_removes_the_login_keeps_other_data_and_renews_the_key() {
    let db = Db::seeded();
    let store = MemoryStore::new();
    let app = test::init_service(app_with_store(&manager(), &db, store.clone())).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    browser.post(&app, "/cart/book").await;
    let logged_in_key = store.only_key();
    let stolen = browser.fork();

    let res = browser.post(&app, "/logout-flash").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), Some("/"));
    // The flash written right after the logout reaches the next page.
    let res = browser.get(&app, "/").await;
    assert_eq!(res.body, "home\n[info] You have been logged out.\n");
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/cart").await.body, "book");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);

    assert!(store.was_deleted(&logged_in_key), "logout renews the session key");
    assert!(!store.keys().contains(&logged_in_key));
    // A copy of the logged-in cookie taken before the logout no longer works.
    assert_eq!(stolen.get(&app, "/whoami").await.body, "anonymous");
}

#[actix_web::test]
async fn logout_keeps_other_data_with_the_cookie_store() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    browser.post(&app, "/cart/book").await;
    assert_eq!(browser.post(&app, "/logout-flash").await.status, 303);
    assert_eq!(browser.get(&app, "/").await.body, "home\n[info] You have been logged out.\n");
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/cart").await.body, "book");
}

#[actix_web::test]
async fn logout_when_not_logged_in_is_fine() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.post(&app, "/logout-flash").await;
    assert_eq!(res.status, 303);
    assert_eq!(browser.get(&app, "/").await.body, "home\n[info] You have been logged out.\n");
}

// ---- fresh logins ----

#[actix_web::test]
async fn login_is_fresh_unless_asked_otherwise() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;

    let browser = Client::new();
    assert_eq!(browser.get(&app, "/freshness").await.body, "not fresh");
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/freshness").await.body, "fresh");
    assert_eq!(browser.get(&app, "/fresh").await.body, "fresh area of ada");

    let browser = Client::new();
    let mut form = ada();
    form.fresh = false;
    assert_eq!(browser.login_form(&app, "/login", &form).await.status, 303);
    assert_eq!(browser.get(&app, "/freshness").await.body, "not fresh");
    assert_eq!(browser.get(&app, "/secret").await.status, 200);
    let res = browser.get(&app, "/fresh").await;
    assert_eq!(res.status, 401, "needs refresh, and no refresh view: {}", res.body);
}

#[actix_web::test]
async fn confirm_login_makes_a_stale_login_fresh_and_renews_the_key() {
    let db = Db::seeded();
    let store = MemoryStore::new();
    let login = manager().refresh_view("/reauth");
    let app = test::init_service(app_with_store(&login, &db, store.clone())).await;
    let browser = Client::new();
    let mut form = ada();
    form.fresh = false;
    browser.login_form(&app, "/login", &form).await;

    let res = browser.get(&app, "/fresh").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/reauth?next=%2Ffresh"));
    let stale_key = store.only_key();

    let res =
        browser.send(&app, test::TestRequest::post().uri("/confirm-password?next=%2Ffresh").set_form(ada())).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), Some("/fresh"));
    assert_eq!(browser.get(&app, "/freshness").await.body, "fresh");
    assert_eq!(browser.get(&app, "/fresh").await.body, "fresh area of ada");
    assert!(store.was_deleted(&stale_key), "re-authentication renews the session key");
}

#[actix_web::test]
async fn fresh_login_max_age_follows_the_clock() {
    let db = Db::seeded();
    let clock = ManualClock::new(1_000_000);
    let login = manager()
        .refresh_view("/reauth")
        .needs_refresh_message(support::REFRESH_MESSAGE, "warning")
        .clock(clock.clone());
    let app = test::init_service(app(&login, &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;

    clock.advance(Duration::from_secs(60));
    assert_eq!(browser.get(&app, "/fresh-60").await.status, 200, "60 s is still fresh");

    clock.advance(Duration::from_secs(1));
    let res = browser.get(&app, "/fresh-60").await;
    assert_eq!(res.status, 302, "61 s is too old");
    assert_eq!(res.location(), Some("/reauth?next=%2Ffresh-60"));
    let page = browser.get(&app, "/login").await;
    assert_eq!(page.body, format!("login page\n[warning] {}\n", support::REFRESH_MESSAGE));
    // Without a max age the same login is fresh enough, and the login itself stands.
    assert_eq!(browser.get(&app, "/fresh").await.status, 200);
    assert_eq!(browser.get(&app, "/secret").await.status, 200);

    let res = browser.send(&app, test::TestRequest::post().uri("/confirm-password").set_form(ada())).await;
    assert_eq!(res.status, 303);
    assert_eq!(browser.get(&app, "/fresh-60").await.status, 200);
    clock.advance(Duration::from_secs(61));
    assert_eq!(browser.get(&app, "/fresh-60").await.status, 302);
}

// ---- test support ----

#[actix_web::test]
async fn with_login_logs_a_test_request_in() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;

    let req = test::TestRequest::get().uri("/secret").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 302, "without the helper: refused");

    let req = test::TestRequest::get().uri("/secret").to_request().with_login(&db.user(BOB));
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(test::read_body(res).await, "secret of bob");

    let req = test::TestRequest::get().uri("/fresh").to_request().with_login(&db.user(BOB));
    assert_eq!(test::call_service(&app, req).await.status(), 200);
}

#[actix_web::test]
async fn with_stale_login_is_refused_by_fresh_guards() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().refresh_view("/reauth"), &db)).await;

    let req = test::TestRequest::get().uri("/secret").to_request().with_stale_login(&db.user(ADA));
    assert_eq!(test::call_service(&app, req).await.status(), 200);

    let req = test::TestRequest::get().uri("/fresh").to_request().with_stale_login(&db.user(ADA));
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers().get("location").unwrap(), "/reauth?next=%2Ffresh");
}

#[actix_web::test]
async fn with_login_carries_on_through_the_session_cookie() {
    // The helper writes a real login into the session: the next request, with the cookie,
    // is still logged in.
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let req = test::TestRequest::get().uri("/whoami").to_request().with_login(&db.user(ADA));
    assert_eq!(browser.call(&app, req).await.body, "user:ada");
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:ada");
}

#[actix_web::test]
async fn with_login_of_a_user_whose_password_changed_is_refused() {
    // The helper records the user's session hash as `login_user` would.
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let before = db.user(ADA);
    db.set_password(ADA, "new password");
    let req = test::TestRequest::get().uri("/secret").to_request().with_login(&before);
    assert_eq!(test::call_service(&app, req).await.status(), 302);
}

// ---- a loader that really waits ----

/// Pending once, as a loader awaiting a database does.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[user_loader]
async fn load_user_slowly(id: String, db: web::Data<Db>) -> Result<Option<User>, support::DbError> {
    YieldOnce(false).await;
    db.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    YieldOnce(false).await;
    if db.failing.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(support::DbError);
    }
    Ok(db.get(&id))
}

fn slow_manager() -> LoginManager {
    LoginManager::new(load_user_slowly).login_view("/login")
}

/// Two extractors polled side by side: the second waits for the load the first started.
async fn two_extractors(a: CurrentUser<User>, b: Authenticated<User>) -> String {
    format!("{:?} {}", a.get_id(), b.name)
}

#[actix_web::test]
async fn extractors_waiting_on_one_pending_load_share_it() {
    let db = Db::seeded();
    let app = test::init_service(app(&slow_manager(), &db).route("/two", web::get().to(two_extractors))).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/two").await.body, "Some(\"ada\") name of ada");
    assert_eq!(db.loads(), 1);
    assert_eq!(browser.get(&app, "/all-at-once").await.body, "ada ada");
    assert_eq!(db.loads(), 2);

    // A failure reaches every waiting extractor: a 500, not a hang, not anonymous.
    db.set_failing(true);
    assert_eq!(browser.get(&app, "/two").await.status, 500);
    assert_eq!(browser.get(&app, "/secret").await.status, 500);
}

#[actix_web::test]
async fn guard_with_a_pending_load_still_hands_the_body_to_the_handler() {
    let db = Db::seeded();
    let app = test::init_service(app(&slow_manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    let res = browser
        .send(&app, test::TestRequest::post().uri("/api/items").set_json(support::Item { name: "ink".into() }))
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json(), serde_json::json!({ "owner": "ada", "name": "ink" }));
}

// ---- the session is written only when something changed ----

#[actix_web::test]
async fn reading_the_login_never_rewrites_the_session_cookie() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    for path in ["/", "/whoami", "/login", "/freshness"] {
        let res = browser.get(&app, path).await;
        assert!(res.set_cookie_headers().is_empty(), "anonymous {path}: {:?}", res.set_cookie_headers());
    }
    let res = browser.login_form(&app, "/login", &ada()).await;
    assert!(!res.set_cookies(SESSION).is_empty());
    for path in ["/", "/whoami", "/secret", "/all-at-once", "/fresh", "/freshness", "/login"] {
        let res = browser.get(&app, path).await;
        assert_eq!(res.status, 200, "{path}");
        assert!(res.set_cookie_headers().is_empty(), "logged in {path}: {:?}", res.set_cookie_headers());
    }
}

#[actix_web::test]
async fn unreadable_login_record_is_no_login_not_an_error() {
    // A session written by another version of the app (or another app on the same key).
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/garble",
        // Every entry the runtime keeps, whatever its name, becomes something it cannot read:
        // its value, and its key after the first four characters.
        web::post().to(|session: actix_session::Session| async move {
            let keys: Vec<String> = session.entries().keys().cloned().collect();
            for key in &keys {
                session.remove(key);
                let head: String = key.chars().take(4).collect();
                session.insert(format!("{head}~garbled"), serde_json::json!({ "unexpected": [1, 2, 3] }))?;
            }
            Ok::<_, actix_web::Error>(format!("garbled {}", keys.len()))
        }),
    ))
    .await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    let res = browser.post(&app, "/garble").await;
    assert!(res.body.starts_with("garbled ") && res.body != "garbled 0", "{}", res.body);
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.get(&app, "/secret").await.status, 302);
    assert_eq!(db.loads(), 0);
    // Logging in again replaces it.
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/whoami").await.body, "user:ada");
}

#[login_runtime::fresh_login_required(max_age = "1m30s")]
async fn fresh_90(user: Authenticated<User>) -> String {
    format!("fresh-90 area of {}", user.name)
}

#[actix_web::test]
async fn fresh_login_max_age_as_a_duration_string() {
    let db = Db::seeded();
    let clock = ManualClock::new(5_000);
    let login = manager().refresh_view("/reauth").clock(clock.clone());
    let app = test::init_service(app(&login, &db).route("/fresh-90", web::get().to(fresh_90))).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &ada()).await;
    clock.advance(Duration::from_secs(90));
    assert_eq!(browser.get(&app, "/fresh-90").await.body, "fresh-90 area of name of ada");
    clock.advance(Duration::from_secs(1));
    let res = browser.get(&app, "/fresh-90").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/reauth?next=%2Ffresh-90"));
}

#[actix_web::test]
async fn a_user_without_an_id_cannot_log_in() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/login-nobody",
        web::post().to(|req: HttpRequest| async move {
            let forced = login_runtime::LoginOptions::new().force(true);
            match login_runtime::login_user_with(&req, &AnonymousUser, forced) {
                Err(LoginError::NoId) => "refused: no id".to_owned(),
                other => format!("unexpected: {other:?}"),
            }
        }),
    ))
    .await;
    let browser = Client::new();
    let res = browser.post(&app, "/login-nobody").await;
    assert_eq!(res.body, "refused: no id");
    assert!(res.set_cookie_headers().is_empty());
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
}

#[actix_web::test]
async fn confirm_login_without_a_login_does_nothing() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/confirm-anyway",
        web::post().to(|req: HttpRequest| async move {
            login_runtime::confirm_login(&req).await.map(|()| "confirmed nothing")
        }),
    ))
    .await;
    let browser = Client::new();
    let res = browser.post(&app, "/confirm-anyway").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "confirmed nothing"));
    assert!(res.set_cookie_headers().is_empty(), "{:?}", res.set_cookie_headers());
    assert_eq!(browser.get(&app, "/freshness").await.body, "not fresh");
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
}
