//! The flows the example demonstrates, checked through `actix_web::test` (`cargo test`
//! runs them).

use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Cookie, Key};
use actix_web::http::{StatusCode, header};
use actix_web::{App, test, web};
use login_runtime::test::TestLoginExt;

use super::{describe_database, error_pages, login_manager, pages, session_middleware, views};
use crate::users::Db;

/// The app as `main` builds it, with a fresh in-memory database and a random key.
macro_rules! app {
    () => {{
        let (db, _) = Db::open("sqlite::memory:").await.unwrap();
        app!(db)
    }};
    ($db:expr) => {{
        let db: Db = $db;
        let key = Key::generate();
        let login = login_manager(&key, &[7; 64], &db);
        test::init_service(
            App::new()
                .app_data(web::Data::new(db))
                .app_data(login.clone())
                .wrap(session_middleware(CookieSessionStore::default(), key))
                .wrap(login.middleware())
                .wrap(error_pages())
                .configure(views::routes)
                .default_service(web::to(pages::not_found)),
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

/// The session's CSRF token, as a browser reads it from a form (GET /login; it shows the
/// pending flashes, so take it before the request that flashes).
macro_rules! token {
    ($app:expr, $jar:expr) => {{
        let page = body(send!($app, $jar, get("/login"))).await;
        page.split(r#"name="csrf_token" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned()
    }};
}

/// A POST of `fields` plus the session's CSRF token (both requests through `$wrap`, which adds
/// a browser's headers).
macro_rules! post {
    ($app:expr, $jar:expr, $uri:expr, $fields:expr) => {
        post!($app, $jar, $uri, $fields, |req| req)
    };
    ($app:expr, $jar:expr, $uri:expr, $fields:expr, $wrap:expr) => {{
        let page = body(send!($app, $jar, $wrap(get("/login")))).await;
        let token = page.split(r#"name="csrf_token" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
        let mut fields: Vec<(&str, &str)> = $fields.to_vec();
        fields.push(("csrf_token", &token));
        send!($app, $jar, $wrap(test::TestRequest::post().uri($uri).set_form(&fields)))
    }};
}

fn location<B>(res: &actix_web::dev::ServiceResponse<B>) -> &str {
    res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
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
    // minijinja escapes `/` too: the browser reads `/settings`.
    assert!(page.contains(r#"<input type="hidden" name="next" value="&#x2f;settings">"#), "{page}");
}

#[actix_web::test]
async fn log_in_see_settings_log_out() {
    let app = app!();
    let mut jar = Jar::default();
    let res = post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse"), ("next", "/settings")]);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/settings");

    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("Ada Lovelace") && page.contains("Welcome back"), "{page}");

    let res = post!(app, jar, "/logout", []);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let page = body(send!(app, jar, get("/"))).await;
    assert!(page.contains("You have been logged out.") && page.contains("Hello, stranger"), "{page}");

    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn only_administrators_see_the_user_list_others_get_a_403_page() {
    let app = app!();
    // Anonymous: the login page, as for any guarded page.
    let res = send!(app, Jar::default(), get("/admin"));
    assert_eq!((res.status(), location(&res)), (StatusCode::FOUND, "/login?next=%2Fadmin"));

    let mut ada = Jar::default();
    post!(app, ada, "/login", [("username", "ada"), ("password", "correct horse")]);
    let res = send!(app, ada, get("/admin"));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("Grace Hopper") && page.contains("Bob (disabled)"), "{page}");

    let mut grace = Jar::default();
    post!(app, grace, "/login", [("username", "grace"), ("password", "cobol rules")]);
    let res = send!(app, grace, get("/admin"));
    assert_eq!((res.status(), location(&res)), (StatusCode::FOUND, "/forbidden"));
    let res = send!(app, grace, get("/forbidden"));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = body(res).await;
    assert!(page.contains("This page is for administrators") && page.contains("Grace Hopper"), "{page}");
    assert!(!page.contains("Bob (disabled)"), "{page}");

    // An API client without the role: a JSON 403.
    let res = send!(app, grace, get("/admin").insert_header((header::ACCEPT, "application/json")));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, r#"{"error":"forbidden","forbidden_url":"/forbidden"}"#);
}

#[actix_web::test]
async fn wrong_passwords_and_disabled_accounts_are_refused() {
    let app = app!();
    let mut jar = Jar::default();
    let res = post!(app, jar, "/login", [("username", "ada"), ("password", "wrong"), ("next", "/settings")]);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=%2Fsettings&username=ada");
    assert!(body(send!(app, jar, get("/login"))).await.contains("Wrong username or password."));

    let res = post!(app, jar, "/login", [("username", "bob"), ("password", "hunter2")]);
    assert_eq!(location(&res), "/login?username=bob");
    assert!(body(send!(app, jar, get("/login"))).await.contains("This account is disabled."));
    assert_eq!(send!(app, jar, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn next_never_leaves_the_site() {
    let app = app!();
    for evil in ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
        let mut jar = Jar::default();
        let res = post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse"), ("next", evil)]);
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
    assert_eq!(json["login_url"], "/login");

    post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse")]);
    let res = send!(app, jar, get("/api/me").insert_header((header::ACCEPT, "application/json")));
    assert_eq!(res.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(json["username"], "ada");
    assert_eq!(json["fresh"], true);
}

#[actix_web::test]
async fn a_stale_login_confirms_the_password_before_changing_it() {
    let (db, _) = Db::open("sqlite::memory:").await.unwrap();
    let app = app!(db.clone());
    let ada = db.get(1).await.unwrap().unwrap();
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

    let res = post!(app, jar, "/reauth", [("password", "wrong"), ("next", "/change-password")]);
    assert_eq!(location(&res), "/reauth?next=%2Fchange-password");
    assert_eq!(send!(app, jar, get("/change-password")).status(), StatusCode::FOUND);

    let res = post!(app, jar, "/reauth", [("password", "correct horse"), ("next", "/change-password")]);
    assert_eq!(location(&res), "/change-password");
    assert_eq!(send!(app, jar, get("/change-password")).status(), StatusCode::OK);
}

#[actix_web::test]
async fn changing_the_password_logs_out_the_other_sessions_and_devices() {
    let app = app!();
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    post!(app, laptop, "/login", [("username", "ada"), ("password", "correct horse")]);
    post!(app, phone, "/login", [("username", "ada"), ("password", "correct horse"), ("remember", "on")]);
    assert_eq!(send!(app, phone, get("/settings")).status(), StatusCode::OK);
    let phone_remember: Vec<_> = phone.0.iter().filter(|c| c.name() == "remember_token").cloned().collect();
    assert_eq!(phone_remember.len(), 1);

    let res = post!(app, laptop, "/change-password", [("password", "battery staple"), ("confirm", "battery staple")]);
    assert_eq!(location(&res), "/settings");
    assert_eq!(send!(app, laptop, get("/settings")).status(), StatusCode::OK);
    assert_eq!(send!(app, phone, get("/settings")).status(), StatusCode::FOUND);
    // The phone's remember-me cookie was issued with the old password: it is refused too.
    let mut remembered = Jar(phone_remember);
    assert_eq!(send!(app, remembered, get("/settings")).status(), StatusCode::FOUND);
    // The devices list has this browser only.
    let page = body(send!(app, laptop, get("/devices"))).await;
    assert_eq!(page.matches(r#"<tr class="device"#).count(), 1, "{page}");
    // The new password works, the old one does not.
    let mut again = Jar::default();
    let res = post!(app, again, "/login", [("username", "ada"), ("password", "correct horse")]);
    assert_eq!(location(&res), "/login?username=ada");
    let res = post!(app, again, "/login", [("username", "ada"), ("password", "battery staple")]);
    assert_eq!(location(&res), "/");
}

#[actix_web::test]
async fn remember_me_logs_back_in_but_not_fresh() {
    let app = app!();
    let mut jar = Jar::default();
    post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse"), ("remember", "on")]);
    assert!(jar.has("remember_token"), "no remember-me cookie");

    // The browser was closed: the session cookie is gone, the remember-me cookie is not.
    jar.0.retain(|c| c.name() == "remember_token");
    let res = send!(app, jar, get("/settings"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await.contains("not fresh"));
    let res = send!(app, jar, get("/change-password"));
    assert_eq!(location(&res), "/reauth?next=%2Fchange-password");

    // Logging out ends the remember-me cookie too.
    post!(app, jar, "/logout", []);
    assert!(!jar.has("remember_token"));
    jar.0.clear();
    assert_eq!(send!(app, jar, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn without_the_checkbox_there_is_no_remember_me_cookie() {
    let app = app!();
    let mut jar = Jar::default();
    post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse")]);
    assert!(jar.has("id") && !jar.has("remember_token"));
}

#[actix_web::test]
async fn the_devices_page_lists_logins_in_words_and_ends_another_one() {
    let app = app!();
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    // Each browser sends its own user agent with every request (session protection checks it).
    let from_laptop = |req: test::TestRequest| {
        req.insert_header((header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"))
    };
    let from_phone = |req: test::TestRequest| {
        req.insert_header((header::USER_AGENT, "Mozilla/5.0 (Linux; Android 14) Chrome/120.0 Mobile Safari/537.36"))
    };
    post!(app, laptop, "/login", [("username", "ada"), ("password", "correct horse")], from_laptop);
    post!(app, phone, "/login", [("username", "ada"), ("password", "correct horse")], from_phone);
    let res = send!(app, laptop, from_laptop(get("/devices")));
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(
        page.contains("<strong>Firefox</strong> on Linux") && page.contains("<strong>Chrome</strong> on Android"),
        "{page}"
    );
    assert!(page.contains("This device"), "{page}");
    // The phone's "Log out" form is the only one with an id.
    let action = page.split(r#"action="/devices/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(action.ends_with("/end") && action != "others/end", "{action}");
    // Without the CSRF token, nothing happens.
    let forged = test::TestRequest::post().uri(&format!("/devices/{action}")).set_form([("csrf_token", "")]);
    assert_eq!(send!(app, laptop, from_laptop(forged)).status(), StatusCode::FORBIDDEN);
    let res = post!(app, laptop, &format!("/devices/{action}"), [], from_laptop);
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/devices"));
    // The phone is logged out; the laptop is not.
    let res = send!(app, phone, from_phone(get("/settings")));
    assert_eq!((res.status(), location(&res)), (StatusCode::FOUND, "/login?next=%2Fsettings"));
    let res = send!(app, laptop, from_laptop(get("/devices")));
    let page = body(res).await;
    assert!(page.contains("device has been logged out") && !page.contains("Android"), "{page}");
}

#[actix_web::test]
async fn a_cross_site_form_post_to_the_login_is_refused() {
    let app = app!();
    // The attacker's page posts its own credentials: the browser has no session here yet (or a
    // session whose token the attacker cannot read).
    let mut victim = Jar::default();
    let forged = [("username", "ada"), ("password", "correct horse"), ("csrf_token", "guessed")];
    let res = send!(app, victim, test::TestRequest::post().uri("/login").set_form(forged));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(body(res).await.contains("Form refused"));
    assert_eq!(send!(app, victim, get("/settings")).status(), StatusCode::FOUND);
    // Even with a session of this site, a wrong token is refused.
    let _ = token!(app, victim);
    let res = send!(app, victim, test::TestRequest::post().uri("/login").set_form(forged));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(send!(app, victim, get("/settings")).status(), StatusCode::FOUND);
}

#[actix_web::test]
async fn a_failed_login_keeps_the_username() {
    let app = app!();
    let mut jar = Jar::default();
    let res = post!(app, jar, "/login", [("username", "ada <b>"), ("password", "wrong")]);
    assert_eq!(location(&res), "/login?username=ada+%3Cb%3E");
    let page = body(send!(app, jar, get(location(&res)))).await;
    assert!(page.contains(r#"value="ada &lt;b&gt;""#) && page.contains("Wrong username or password."), "{page}");
}

#[actix_web::test]
async fn the_api_takes_a_bearer_token_and_answers_anonymous_with_a_json_401() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, get("/api/me"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers().get(header::WWW_AUTHENTICATE).unwrap(), r#"Bearer realm="quickstart""#);
    let res = send!(app, jar, get("/api/me").insert_header((header::AUTHORIZATION, "Bearer not-a-token")));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse")]);
    let page = body(send!(app, jar, get("/settings"))).await;
    let token = page.split(r#"<code id="api-token">"#).nth(1).unwrap().split('<').next().unwrap().to_owned();
    let mut api = Jar::default();
    let res = send!(app, api, get("/api/me").insert_header((header::AUTHORIZATION, format!("Bearer {token}"))));
    assert_eq!(res.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!((json["username"].as_str(), json["fresh"].as_bool()), (Some("ada"), Some(false)));
    // A token never opens a session.
    assert!(!api.has("id"));
}

#[actix_web::test]
async fn friendly_404_and_logout_only_by_post() {
    let app = app!();
    let mut jar = Jar::default();
    let res = send!(app, jar, get("/no-such-page"));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body(res).await.contains("Page not found"));
    post!(app, jar, "/login", [("username", "ada"), ("password", "correct horse")]);
    assert_eq!(send!(app, jar, get("/logout")).status(), StatusCode::NOT_FOUND);
    // Every page shows the current user (the templates' `current_user`).
    let page = body(send!(app, jar, get("/"))).await;
    assert!(page.contains(r#"<a href="/settings">Ada Lovelace</a>"#), "{page}");
}

/// What `openssl rand -base64 64` prints: 88 characters wrapped at 64 (issue 15).
#[::core::prelude::v1::test]
fn keys_pasted_from_openssl_decode_wrapped_or_not() {
    use base64::Engine;
    let bytes: Vec<u8> = (0..64).collect();
    let base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let wrapped = format!("{}\n{}\n", &base64[..64], &base64[64..]);
    assert_eq!(super::decode_key(&wrapped).as_deref(), Some(&bytes[..]));
    assert_eq!(super::decode_key(&base64).as_deref(), Some(&bytes[..]));
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(super::decode_key(&hex).as_deref(), Some(&bytes[..]));
    assert_eq!(super::decode_key("not a key!"), None);
}

#[actix_web::test]
async fn the_database_is_described_without_its_password() {
    let here = std::env::current_dir().unwrap().join("quickstart.db");
    assert!(describe_database("sqlite://quickstart.db?mode=rwc").contains(&here.display().to_string()));
    assert_eq!(describe_database("postgres://app:s3cret@db:5432/app"), "postgres://app:***@db:5432/app");
    assert_eq!(describe_database("postgres://app@db/app"), "postgres://app@db/app");
}

#[actix_web::test]
async fn a_device_is_ended_from_a_stale_login_and_is_told_why() {
    let app = app!();
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    // The laptop's forms are on the Devices page: its browser says so in `Referer`.
    let from_laptop = |req: test::TestRequest| {
        req.insert_header((header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"))
            .insert_header((header::REFERER, "http://localhost:8080/devices"))
    };
    let from_phone = |req: test::TestRequest| {
        req.insert_header((header::USER_AGENT, "Mozilla/5.0 (Linux; Android 14) Chrome/120.0 Mobile Safari/537.36"))
    };
    let ada = [("username", "ada"), ("password", "correct horse"), ("remember", "on")];
    post!(app, laptop, "/login", ada, from_laptop);
    post!(app, phone, "/login", ada[..2], from_phone);
    // The laptop's browser restarted: only the remember-me cookie is left, the login is stale.
    laptop.0.retain(|c| c.name() == "remember_token");
    let page = body(send!(app, laptop, from_laptop(get("/devices")))).await;
    let action = page.split(r#"action="/devices/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let end = format!("/devices/{action}");
    // Ending a device asks for the password first, then comes back to the Devices page (the
    // form's page), not to the POST-only action.
    let res = post!(app, laptop, &end, [], from_laptop);
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/reauth?next=%2Fdevices"));
    let res = post!(app, laptop, "/reauth", [("password", "correct horse"), ("next", "/devices")], from_laptop);
    assert_eq!(location(&res), "/devices");
    assert_eq!(send!(app, laptop, from_laptop(get("/devices"))).status(), StatusCode::OK);
    let res = post!(app, laptop, &end, [], from_laptop);
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/devices"));
    // The phone is sent to the login page, which says why.
    let res = send!(app, phone, from_phone(get("/settings")));
    assert_eq!(location(&res), "/login?next=%2Fsettings");
    let page = body(send!(app, phone, from_phone(get("/login?next=%2Fsettings")))).await;
    assert!(page.contains("You were logged out from another device."), "{page}");
}
