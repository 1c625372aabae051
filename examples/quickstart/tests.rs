//! The flows the example demonstrates, checked through `actix_web::test` (`cargo test`
//! runs them).

use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Cookie, Key};
use actix_web::http::{StatusCode, header};
use actix_web::{App, test, web};
use login_runtime::test::TestLoginExt;

use super::{login_manager, session_middleware, views};
use crate::users::Db;

/// The app as `main` builds it, with a fresh database and a random key.
macro_rules! app {
    () => {{
        let login = login_manager(&[7; 64]);
        test::init_service(
            App::new()
                .app_data(web::Data::new(Db::demo()))
                .app_data(login.clone())
                .wrap(session_middleware(CookieSessionStore::default(), Key::generate()))
                .wrap(login.middleware())
                .configure(views::routes),
        )
        .await
    }};
}

/// A browser's cookie jar: the session cookie (`id`) and the remember-me cookie.
#[derive(Default)]
struct Jar(Vec<Cookie<'static>>);

impl Jar {
    fn attach(&self, mut req: test::TestRequest) -> test::TestRequest {
        for cookie in &self.0 {
            req = req.cookie(cookie.clone());
        }
        req
    }

    fn keep<B>(&mut self, res: &actix_web::dev::ServiceResponse<B>) {
        for cookie in res.response().cookies() {
            self.0.retain(|c| c.name() != cookie.name());
            let removal = cookie.max_age().is_some_and(|age| age.is_zero()) || cookie.value().is_empty();
            if !removal {
                self.0.push(cookie.into_owned());
            }
        }
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name() == name)
    }
}

/// Sends a `TestRequest` with the session cookie kept in `$jar`, like a browser, and keeps the
/// cookie the response sets.
macro_rules! send {
    ($app:expr, $jar:expr, $req:expr) => {{
        let res = test::call_service(&$app, $jar.attach($req).to_request()).await;
        $jar.keep(&res);
        res
    }};
}

fn location<B>(res: &actix_web::dev::ServiceResponse<B>) -> &str {
    res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn login_form(username: &str, password: &str, next: &str) -> test::TestRequest {
    test::TestRequest::post().uri("/login").set_form([("username", username), ("password", password), ("next", next)])
}

fn login_form_remember(username: &str, password: &str) -> test::TestRequest {
    test::TestRequest::post().uri("/login").set_form([
        ("username", username),
        ("password", password),
        ("remember", "on"),
    ])
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

async fn body<B: actix_web::body::MessageBody>(res: actix_web::dev::ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn anonymous_visitors_are_sent_to_the_login_page_with_next_and_a_message() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login?next=%2Fsettings");

    let res = send!(app, jar, get("/login?next=%2Fsettings"));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("Please log in to see this page."), "{page}");
    assert!(page.contains(r#"<input type="hidden" name="next" value="/settings">"#), "{page}");
}

#[actix_web::test]
async fn log_in_see_settings_log_out() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, login_form("ada", "correct horse", "/settings"));
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/settings");

    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("Ada Lovelace") && page.contains("Welcome back"), "{page}");

    let res = send!(app, jar, test::TestRequest::post().uri("/logout"));
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let page = body(send!(app, jar, get("/"))).await;
    assert!(page.contains("You have been logged out.") && page.contains("Hello, stranger"), "{page}");

    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn wrong_passwords_and_disabled_accounts_are_refused() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, login_form("ada", "wrong", "/settings"));
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=%2Fsettings");
    assert!(body(send!(app, jar, get("/login"))).await.contains("Wrong username or password."));

    let res = send!(app, jar, login_form("bob", "hunter2", ""));
    assert_eq!(location(&res), "/login");
    assert!(body(send!(app, jar, get("/login"))).await.contains("This account is disabled."));
    assert_eq!(send!(app, jar, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn next_never_leaves_the_site() {
    let app = app!();
    for evil in ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
        let mut jar = Jar::default();
        let res = send!(app, jar, login_form("ada", "correct horse", evil));
        assert_eq!(location(&res), "/", "{evil}");
        // Nor from the query string, nor into the form.
        let page = body(send!(app, jar, get(&format!("/login?next={evil}")))).await;
        assert!(!page.contains("evil.example"), "{page}");
    }
}

#[actix_web::test]
async fn api_clients_get_a_json_401() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, get("/api/me").insert_header((header::ACCEPT, "application/json")));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(json["error"], "unauthorized");
    assert_eq!(json["login_url"], "/login?next=%2Fapi%2Fme");

    send!(app, jar, login_form("ada", "correct horse", ""));
    let res = send!(app, jar, get("/api/me").insert_header((header::ACCEPT, "application/json")));
    assert_eq!(res.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(json["username"], "ada");
    assert_eq!(json["fresh"], true);
}

#[actix_web::test]
async fn a_stale_login_confirms_the_password_before_changing_it() {
    let app = app!();
    let ada = Db::demo().get(1).unwrap();
    // A login that is not fresh (as if restored from a remember cookie, or too old).
    let req = get("/change-password").to_request().with_stale_login(&ada);
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/reauth?next=%2Fchange-password");
    let mut jar = Jar::default();
    jar.keep(&res);
    assert!(jar.has("id"));

    let page = body(send!(app, jar, get("/reauth?next=%2Fchange-password"))).await;
    assert!(page.contains("Please confirm your password to continue."), "{page}");

    let reauth = |password: &'static str| {
        test::TestRequest::post().uri("/reauth").set_form([("password", password), ("next", "/change-password")])
    };
    let res = send!(app, jar, reauth("wrong"));
    assert_eq!(location(&res), "/reauth?next=%2Fchange-password");
    assert_eq!(send!(app, jar, get("/change-password")).status(), StatusCode::FOUND);

    let res = send!(app, jar, reauth("correct horse"));
    assert_eq!(location(&res), "/change-password");
    assert_eq!(send!(app, jar, get("/change-password")).status(), StatusCode::OK);
}

#[actix_web::test]
async fn changing_the_password_logs_out_the_other_sessions() {
    let app = app!();
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    send!(app, laptop, login_form("ada", "correct horse", ""));
    send!(app, phone, login_form_remember("ada", "correct horse"));
    assert_eq!(send!(app, phone, get("/settings")).status(), StatusCode::OK);
    let phone_remember: Vec<_> = phone.0.iter().filter(|c| c.name() == "remember_token").cloned().collect();
    assert_eq!(phone_remember.len(), 1);

    let change = test::TestRequest::post()
        .uri("/change-password")
        .set_form([("password", "battery staple"), ("confirm", "battery staple")]);
    let res = send!(app, laptop, change);
    assert_eq!(location(&res), "/settings");
    assert_eq!(send!(app, laptop, get("/settings")).status(), StatusCode::OK);
    assert_eq!(send!(app, phone, get("/settings")).status(), StatusCode::FOUND);
    // The phone's remember-me cookie was issued with the old password: it is refused too.
    let mut remembered = Jar(phone_remember);
    assert_eq!(send!(app, remembered, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn remember_me_logs_back_in_but_not_fresh() {
    let app = app!();
    let mut jar = Jar::default();
    send!(app, jar, login_form_remember("ada", "correct horse"));
    assert!(jar.has("remember_token"), "no remember-me cookie");

    // The browser was closed: the session cookie is gone, the remember-me cookie is not.
    jar.0.retain(|c| c.name() == "remember_token");
    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await.contains("not fresh"));
    let res = send!(app, jar, get("/change-password"));
    assert_eq!(location(&res), "/reauth?next=%2Fchange-password");

    // Logging out ends the remember-me cookie too.
    send!(app, jar, test::TestRequest::post().uri("/logout"));
    assert!(!jar.has("remember_token"));
    jar.0.clear();
    assert_eq!(send!(app, jar, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn without_the_checkbox_there_is_no_remember_me_cookie() {
    let app = app!();
    let mut jar = Jar::default();
    send!(app, jar, login_form("ada", "correct horse", ""));
    assert!(jar.has("id") && !jar.has("remember_token"));
}

#[actix_web::test]
async fn the_devices_page_lists_logins_and_ends_another_one() {
    let app = app!();
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    // Each browser sends its own user agent with every request (session protection checks it).
    let from_laptop = |req: test::TestRequest| req.insert_header((header::USER_AGENT, "Laptop/1.0"));
    let from_phone = |req: test::TestRequest| req.insert_header((header::USER_AGENT, "Phone/2.0"));
    send!(app, laptop, from_laptop(login_form("ada", "correct horse", "/")));
    send!(app, phone, from_phone(login_form("ada", "correct horse", "/")));
    let res = send!(app, laptop, from_laptop(get("/devices")));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("Laptop/1.0") && page.contains("Phone/2.0"), "{page}");
    assert!(page.contains("<em>this browser</em>"), "{page}");
    // The phone's "Log out" form is the only one with an id.
    let action = page.split(r#"action="/devices/"#).nth(1).unwrap().split('"').next().unwrap();
    assert!(action.ends_with("/end") && action != "others/end", "{action}");
    let res = send!(app, laptop, from_laptop(test::TestRequest::post().uri(&format!("/devices/{action}"))));
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/devices"));
    // The phone is logged out; the laptop is not.
    let res = send!(app, phone, from_phone(get("/settings")));
    assert_eq!((res.status(), location(&res)), (StatusCode::FOUND, "/login?next=%2Fsettings"));
    let res = send!(app, laptop, from_laptop(get("/devices")));
    let page = body(res).await;
    assert!(page.contains("device has been logged out") && !page.contains("Phone/2.0"), "{page}");
}
