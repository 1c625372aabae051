//! `login_runtime::test::TestClient` (issue 15): a browser's cookie jar, logging in without the
//! form (fresh or not, remembered or not, with the client identity session protection
//! expects), the messages flashed to its session, over `actix_web::test` and a real server.

mod support;

use actix_web::cookie::Cookie;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::{HttpResponse, HttpServer, web};
use login_runtime::test::{TestClient, TestServer, TestTarget};
use login_runtime::{LoginEventKind, LoginOptions, MemoryLoginRegistry, SessionProtection};
use support::{ADA, AWAY_IP, Client, Env, REMEMBER, SESSION, app, start, start_with};

const LOGIN_MESSAGE: &str = "Please log in to access this page.";

#[actix_web::test]
async fn login_as_logs_in_without_the_form_fresh_or_not_remembered_or_not() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let ada = env.db.get(ADA).unwrap();

    let fresh = Client::new();
    fresh.login_as(&ada);
    assert!(fresh.login_pending());
    assert_eq!(fresh.state(&app).await, "user:ada fresh:true");
    assert!(!fresh.login_pending(), "made on the first request that looked for the user");
    assert!(!fresh.has_cookie(REMEMBER));
    assert_eq!(env.events.count(LoginEventKind::LoggedIn), 1, "a real login: its event is sent");

    let stale = Client::new();
    stale.login_as_with(&ada, LoginOptions::new().fresh(false));
    assert_eq!(stale.state(&app).await, "user:ada fresh:false");
    assert_eq!(stale.get(&app, "/fresh").await.location(), Some("/reauth?next=%2Ffresh"));

    let remembered = Client::new();
    remembered.login_as_with(&ada, LoginOptions::new().remember(true));
    assert_eq!(remembered.state(&app).await, "user:ada fresh:true");
    assert!(remembered.has_cookie(REMEMBER));
    remembered.close_browser();
    assert_eq!(remembered.cookie_names(), [REMEMBER], "the session cookie lasts as long as the browser");
    assert_eq!(remembered.state(&app).await, "user:ada fresh:false", "restored from the remember cookie");
}

#[actix_web::test]
async fn a_login_waits_for_a_request_that_looks_for_the_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let client = Client::new();
    client.login_as(&env.db.get(ADA).unwrap());
    assert_eq!(client.get(&app, "/public").await.body, "public");
    assert!(client.login_pending());
    assert_eq!(client.whoami(&app).await, "user:ada");
    // Another client is not logged in by it.
    assert_eq!(Client::new().whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn login_as_has_the_client_identity_strong_protection_expects_and_is_listed() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().session_protection(SessionProtection::Strong).login_registry(registry.clone());
    let app = start(&login, &env.db).await;
    let client = Client::new();
    client.login_as(&env.db.get(ADA).unwrap());
    assert_eq!(client.whoami(&app).await, "user:ada");
    assert_eq!(client.whoami(&app).await, "user:ada", "the same client keeps its login");
    let listed = login_runtime::LoginRegistry::list(&registry, ADA).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].address.as_deref(), Some(login_runtime::test::CLIENT_IP));

    // The session cookie used from another address: strong protection ends the login.
    let thief = client.fork();
    thief.set_ip(AWAY_IP);
    assert_eq!(thief.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn flashes_show_what_the_session_holds_until_a_page_takes_them() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let client = Client::new();
    assert!(client.flashes().is_empty());
    let reply = client.get(&app, "/secret").await;
    assert_eq!(reply.location(), Some("/login?next=%2Fsecret"));
    let flashes = client.flashes();
    assert_eq!(flashes.len(), 1, "{flashes:?}");
    assert_eq!((flashes[0].category.as_str(), flashes[0].message.as_str()), ("message", LOGIN_MESSAGE));
    // Flashes belong to a session: another client has none.
    assert!(Client::new().flashes().is_empty());
    // The login page shows them, and they are gone.
    let page = client.get(&app, "/login").await;
    assert!(page.body.contains(LOGIN_MESSAGE), "{}", page.body);
    assert!(client.flashes().is_empty());
}

/// Cookies with what a browser must honour: a path, removals by `Max-Age=0` and by a past
/// `Expires`, and values that must go back byte-for-byte.
fn cookie_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/jar/set",
        web::get().to(|| async {
            HttpResponse::Ok()
                .cookie(Cookie::build("scoped", "under-a").path("/jar/a").finish())
                .cookie(Cookie::build("raw", "\"q\"%2Fa=b+c/").path("/").finish())
                .cookie(Cookie::build("short", "lived").path("/").max_age(CookieDuration::hours(1)).finish())
                .finish()
        }),
    )
    .route(
        "/jar/remove",
        web::get().to(|| async {
            let mut gone = Cookie::build("raw", "").path("/").finish();
            gone.make_removal();
            let mut past = Cookie::build("short", "x").path("/").finish();
            past.set_expires(actix_web::cookie::time::OffsetDateTime::UNIX_EPOCH);
            HttpResponse::Ok().cookie(gone).cookie(past).finish()
        }),
    )
    .route("/jar/a/echo", web::get().to(|req: actix_web::HttpRequest| async move { header_of(&req) }))
    .route("/jar/echo", web::get().to(|req: actix_web::HttpRequest| async move { header_of(&req) }));
}

fn header_of(req: &actix_web::HttpRequest) -> String {
    req.headers().get("cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn check_the_jar(app: &impl TestTarget) {
    let client = TestClient::new();
    client.get(app, "/jar/set").await;
    assert_eq!(client.cookie("raw").as_deref(), Some("\"q\"%2Fa=b+c/"), "the value as sent");
    let everywhere = client.get(app, "/jar/echo").await.text();
    assert!(everywhere.contains("raw=\"q\"%2Fa=b+c/"), "sent back unchanged: {everywhere}");
    assert!(!everywhere.contains("scoped"), "Path=/jar/a is not sent to /jar/echo: {everywhere}");
    let under = client.get(app, "/jar/a/echo").await.text();
    assert!(under.starts_with("scoped=under-a"), "sent under its path, first: {under}");
    client.get(app, "/jar/remove").await;
    assert_eq!(client.cookie_names(), ["scoped"], "Max-Age=0 and a past Expires remove");
}

#[actix_web::test]
async fn the_jar_honours_paths_removals_and_keeps_values_unchanged() {
    let env = Env::new();
    check_the_jar(&start_with(&env.manager(), &env.db, cookie_routes).await).await;
}

#[actix_web::test]
async fn the_same_client_over_a_real_http_server() {
    let env = Env::new();
    let login = env.manager();
    let db = env.db.clone();
    let server = HttpServer::new(move || app(&login, &db).configure(cookie_routes))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind a loopback port");
    let server_at = TestServer(server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    check_the_jar(&server_at).await;
    let client = TestClient::new();
    assert_eq!(client.get(&server_at, "/secret").await.location(), Some("/login?next=%2Fsecret"));
    assert_eq!(client.flashes()[0].message, LOGIN_MESSAGE);
    assert!(client.get(&server_at, "/login").await.text().contains(LOGIN_MESSAGE));
    assert!(client.flashes().is_empty());
    client.login_as_with(&env.db.get(ADA).unwrap(), LoginOptions::new().fresh(false).remember(true));
    assert_eq!(client.get(&server_at, "/state").await.text(), "user:ada fresh:false");
    assert!(client.cookie(SESSION).is_some() && client.cookie(REMEMBER).is_some());
    client.close_browser();
    assert_eq!(client.get(&server_at, "/secret").await.text(), "secret of ada");
    handle.stop(true).await;
}
