//! Guarded handlers and what refused requests get: the redirect to the login view with `next`,
//! the flashed message, JSON/XHR/htmx answers, custom handlers, the needs-refresh flow, safe
//! `next` values, and the request loader.

mod support;

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, HttpResponse, test, web};
use login_runtime::test::TestLoginExt;
use login_runtime::{LoginManager, login_required, next_url};
use support::{ADA, Client, Db, LOGIN_MESSAGE, LoginForm, REFRESH_MESSAGE, app, manager};

fn ada() -> LoginForm {
    LoginForm::new("ada", "lovelace")
}

/// Percent-encodes everything but letters and digits (a query value).
fn quote(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

// ---- guards ----

#[actix_web::test]
async fn guard_below_and_above_the_route_macro() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    for (path, location) in [("/secret", "/login?next=%2Fsecret"), ("/secret-above", "/login?next=%2Fsecret-above")] {
        let res = browser.get(&app, path).await;
        assert_eq!(res.status, 302, "{path}");
        assert_eq!(res.location(), Some(location));
    }
    browser.login_form(&app, "/login", &ada()).await;
    for path in ["/secret", "/secret-above"] {
        let res = browser.get(&app, path).await;
        assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "secret of ada"), "{path}");
    }
}

#[actix_web::test]
async fn guard_on_a_handler_registered_with_to() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.get(&app, "/to-handler").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login?next=%2Fto-handler"));
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/to-handler").await.body, "GET by ada");
}

#[actix_web::test]
async fn anonymous_options_requests_get_204_without_the_handler() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let res = Client::new().send(&app, test::TestRequest::default().method(Method::OPTIONS).uri("/to-handler")).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (204, ""));
}

#[actix_web::test]
async fn refused_post_is_refused_before_its_json_body_is_read() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let bad_json = || {
        test::TestRequest::post()
            .uri("/api/items")
            .insert_header(("content-type", "application/json"))
            .set_payload("{ not json")
    };

    // A browser: 303 to the login page (never 307, which would re-send the body), not 400.
    let res = browser.send(&app, bad_json()).await;
    assert_eq!(res.status, 303);
    // Not `next=/api/items`: the browser would GET a path that only takes a POST (issue 15).
    assert_eq!(res.location(), Some("/login"));
    // An API client: 401, not 400.
    let res = browser.send(&app, bad_json().insert_header(("accept", "application/json"))).await;
    assert_eq!(res.status, 401);

    // Logged in, the body is read: invalid JSON is the extractor's 400, valid JSON works.
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.send(&app, bad_json()).await.status, 400);
    let res = browser
        .send(&app, test::TestRequest::post().uri("/api/items").set_json(support::Item { name: "pen".into() }))
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json(), serde_json::json!({ "owner": "ada", "name": "pen" }));
}

/// An extractor that counts how often it runs.
struct Probe;

static PROBES: AtomicUsize = AtomicUsize::new(0);

impl FromRequest for Probe {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;
    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        PROBES.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Probe))
    }
}

#[login_required]
async fn probed(_probe: Probe, body: String) -> String {
    format!("got {body}")
}

#[actix_web::test]
async fn refused_request_runs_none_of_the_handlers_extractors() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route("/probed", web::post().to(probed))).await;
    let browser = Client::new();
    let before = PROBES.load(Ordering::SeqCst);
    let res = browser.send(&app, test::TestRequest::post().uri("/probed").set_payload("data")).await;
    assert_eq!(res.status, 303);
    assert_eq!(PROBES.load(Ordering::SeqCst), before, "no extractor ran");

    browser.login_form(&app, "/login", &ada()).await;
    let res = browser.send(&app, test::TestRequest::post().uri("/probed").set_payload("data")).await;
    assert_eq!(res.body, "got data");
    assert_eq!(PROBES.load(Ordering::SeqCst), before + 1);
}

#[actix_web::test]
async fn authenticated_extractor_refuses_like_the_guard() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route(
        "/unguarded",
        web::get().to(|user: login_runtime::Authenticated<support::User>| async move { user.id.clone() }),
    ))
    .await;
    let browser = Client::new();
    let res = browser.get(&app, "/unguarded").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login?next=%2Funguarded"));
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/unguarded").await.body, "ada");
}

#[actix_web::test]
async fn head_requests_are_redirected_with_302() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db).route("/head-secret", web::head().to(probed_head))).await;
    let res = Client::new().send(&app, test::TestRequest::default().method(Method::HEAD).uri("/head-secret")).await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login?next=%2Fhead-secret"));
}

#[login_required]
async fn probed_head() -> HttpResponse {
    HttpResponse::Ok().finish()
}

// ---- the unauthorized flow ----

#[actix_web::test]
async fn without_a_login_view_anonymous_users_get_401() {
    let db = Db::seeded();
    let app = test::init_service(app(&LoginManager::new(support::load_user), &db)).await;
    let res = Client::new().get(&app, "/secret").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.location(), None);
    assert!(res.set_cookie_headers().is_empty(), "nothing flashed: {:?}", res.set_cookie_headers());
    assert_eq!(res.header("www-authenticate"), None);
}

#[actix_web::test]
async fn get_redirects_with_302_and_post_with_303() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.get(&app, "/secret").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login?next=%2Fsecret"));

    let res = browser.send(&app, test::TestRequest::post().uri("/password").set_form([("password", "x")])).await;
    assert_eq!(res.status, 303);
    // A POST goes back to the page its form was on (see tests/tests/parity.rs), never to itself.
    assert_eq!(res.location(), Some("/login"));
}

#[actix_web::test]
async fn next_keeps_the_query_of_the_refused_page() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let res = Client::new().get(&app, "/secret?a=1&b=2").await;
    assert_eq!(res.location(), Some("/login?next=%2Fsecret%3Fa%3D1%26b%3D2"));
}

#[actix_web::test]
async fn login_view_keeps_its_own_query() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().login_view("/login?lang=fr"), &db)).await;
    let res = Client::new().get(&app, "/secret").await;
    assert_eq!(res.location(), Some("/login?lang=fr&next=%2Fsecret"));
}

#[actix_web::test]
async fn login_view_on_another_host_gets_the_full_url() {
    let db = Db::seeded();
    let login = manager().login_view("https://auth.example.com/login");
    let app = test::init_service(app(&login, &db)).await;
    let res = Client::new()
        .send(&app, test::TestRequest::get().uri("/secret?a=1").insert_header(("host", "shop.example.com")))
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.location(),
        Some("https://auth.example.com/login?next=http%3A%2F%2Fshop.example.com%2Fsecret%3Fa%3D1")
    );
}

#[actix_web::test]
async fn absolute_login_view_on_the_same_host_gets_the_path() {
    let db = Db::seeded();
    let login = manager().login_view("http://shop.example.com/login");
    let app = test::init_service(app(&login, &db)).await;
    let res = Client::new()
        .send(&app, test::TestRequest::get().uri("/secret?a=1").insert_header(("host", "shop.example.com")))
        .await;
    assert_eq!(res.location(), Some("http://shop.example.com/login?next=%2Fsecret%3Fa%3D1"));
}

#[actix_web::test]
async fn next_field_renames_the_parameter() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().next_field("return_to"), &db)).await;
    let browser = Client::new();
    let res = browser.get(&app, "/secret").await;
    assert_eq!(res.location(), Some("/login?return_to=%2Fsecret"));

    // `next_url` reads the renamed field (and ignores `next`).
    let res = browser.login_form(&app, "/login?next=%2Fcart&return_to=%2Fsecret", &ada()).await;
    assert_eq!(res.location(), Some("/secret"));
}

#[actix_web::test]
async fn use_session_for_next_keeps_next_out_of_the_url() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().use_session_for_next(true), &db)).await;
    let browser = Client::new();
    // A visitor without a session keeps `next` in the query: a cookieless request stores nothing.
    let res = browser.get(&app, "/secret?a=1").await;
    assert_eq!(res.location(), Some("/login?next=%2Fsecret%3Fa%3D1"));
    // With a session (a cart), `next` goes into it.
    browser.post(&app, "/cart/apple").await;
    let res = browser.get(&app, "/secret?a=1").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login"), "exactly the login view");
    let page = browser.get(&app, "/login").await;
    assert_eq!(page.body, format!("login page\n[info] {LOGIN_MESSAGE}\n"));

    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), Some("/secret?a=1"), "next_url read it from the session");

    // It was taken out of the session: the next login goes home.
    browser.post(&app, "/logout-flash").await;
    let res = browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(res.location(), Some("/"));
}

#[actix_web::test]
async fn json_clients_get_401_with_the_login_url() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser
        .send(&app, test::TestRequest::get().uri("/secret?a=1").insert_header(("accept", "application/json")))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.location(), None);
    assert!(res.header("content-type").unwrap().starts_with("application/json"));
    let body = res.json();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["login_url"], "/login?next=%2Fsecret%3Fa%3D1");
    assert_eq!(body["message"], LOGIN_MESSAGE);
    // Nothing was flashed for a page this client will never show.
    assert_eq!(browser.get(&app, "/login").await.body, "login page\n");
}

#[actix_web::test]
async fn xhr_clients_get_401_json() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let res = Client::new()
        .send(&app, test::TestRequest::get().uri("/secret").insert_header(("x-requested-with", "XMLHttpRequest")))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["login_url"], "/login?next=%2Fsecret");
}

#[actix_web::test]
async fn browsers_accepting_html_and_json_are_redirected() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let res = Client::new()
        .send(
            &app,
            test::TestRequest::get()
                .uri("/secret")
                .insert_header(("accept", "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8")),
        )
        .await;
    assert_eq!(res.status, 302);
}

#[actix_web::test]
async fn htmx_requests_get_401_with_hx_redirect() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.send(&app, test::TestRequest::get().uri("/secret").insert_header(("hx-request", "true"))).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("hx-redirect"), Some("/login?next=%2Fsecret"));
    assert_eq!(res.location(), None);
    // htmx follows HX-Redirect with a full page load: the message is waiting there.
    let page = browser.get(&app, "/login?next=%2Fsecret").await;
    assert_eq!(page.body, format!("login page\n[info] {LOGIN_MESSAGE}\n"));
}

#[actix_web::test]
async fn custom_unauthorized_handler_wins() {
    let db = Db::seeded();
    let login =
        manager().unauthorized_handler(|req| HttpResponse::ImATeapot().body(format!("no entry to {}", req.path())));
    let app = test::init_service(app(&login, &db)).await;
    let browser = Client::new();
    for accept in ["text/html", "application/json"] {
        let res = browser.send(&app, test::TestRequest::get().uri("/secret").insert_header(("accept", accept))).await;
        assert_eq!((res.status.as_u16(), res.body.as_str()), (418, "no entry to /secret"));
    }
    // Logged in, the handler is not involved.
    browser.login_form(&app, "/login", &ada()).await;
    assert_eq!(browser.get(&app, "/secret").await.status, 200);
}

#[actix_web::test]
async fn www_authenticate_challenge_on_401() {
    let db = Db::seeded();
    let login = LoginManager::new(support::load_user).www_authenticate("Bearer realm=\"api\"");
    let app = test::init_service(app(&login, &db)).await;
    let res = Client::new().get(&app, "/secret").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer realm=\"api\""));

    // Also on the JSON 401 of an app with a login view.
    let login = manager().www_authenticate("Bearer");
    let app2 = test::init_service(support::app(&login, &db)).await;
    let res = Client::new()
        .send(&app2, test::TestRequest::get().uri("/secret").insert_header(("accept", "application/json")))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
}

#[actix_web::test]
async fn login_message_is_shown_once_on_the_login_page() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = Client::new();
    let res = browser.get(&app, "/secret").await;
    let location = res.location().unwrap().to_owned();
    let page = browser.get(&app, &location).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body, format!("login page\n[info] {LOGIN_MESSAGE}\n"));
    // Flashed messages are shown once.
    assert_eq!(browser.get(&app, &location).await.body, "login page\n");
}

#[actix_web::test]
async fn default_login_message_and_category() {
    let db = Db::seeded();
    let app = test::init_service(app(&LoginManager::new(support::load_user).login_view("/login"), &db)).await;
    let browser = Client::new();
    browser.get(&app, "/secret").await;
    assert_eq!(browser.get(&app, "/login").await.body, "login page\n[message] Please log in to access this page.\n");
}

#[actix_web::test]
async fn message_translator_translates_the_login_message() {
    let db = Db::seeded();
    let login = manager().message_translator(|message, req| {
        let french = req.headers().get("accept-language").is_some_and(|l| l.as_bytes().starts_with(b"fr"));
        match (french, message) {
            (true, LOGIN_MESSAGE) => "Veuillez vous connecter.".to_owned(),
            _ => message.to_owned(),
        }
    });
    let app = test::init_service(app(&login, &db)).await;
    let browser = Client::new();
    let french = |uri| test::TestRequest::get().uri(uri).insert_header(("accept-language", "fr-FR"));
    browser.send(&app, french("/secret")).await;
    assert_eq!(browser.send(&app, french("/login")).await.body, "login page\n[info] Veuillez vous connecter.\n");
    let res = browser
        .send(
            &app,
            test::TestRequest::get()
                .uri("/secret")
                .insert_header(("accept-language", "fr"))
                .insert_header(("accept", "application/json")),
        )
        .await;
    assert_eq!(res.json()["message"], "Veuillez vous connecter.");
    // Other languages keep the message.
    browser.get(&app, "/secret").await;
    assert_eq!(browser.get(&app, "/login").await.body, format!("login page\n[info] {LOGIN_MESSAGE}\n"));
}

#[actix_web::test]
async fn without_login_message_nothing_is_flashed() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().without_login_message(), &db)).await;
    let browser = Client::new();
    let res = browser.get(&app, "/secret").await;
    assert_eq!(res.status, 302);
    assert_eq!(browser.get(&app, "/login").await.body, "login page\n");
    let res =
        browser.send(&app, test::TestRequest::get().uri("/secret").insert_header(("accept", "application/json"))).await;
    assert_eq!(res.json().get("message"), None);
}

// ---- needs refresh ----

/// Ada, logged in without a fresh login.
async fn stale_ada<S, B>(app: &S) -> Client
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let browser = Client::new();
    let mut form = ada();
    form.fresh = false;
    assert_eq!(browser.login_form(app, "/login", &form).await.status, 303);
    browser
}

#[actix_web::test]
async fn stale_login_is_sent_to_the_refresh_view_with_its_message() {
    let db = Db::seeded();
    let login = manager().refresh_view("/reauth").needs_refresh_message(REFRESH_MESSAGE, "warning");
    let app = test::init_service(app(&login, &db)).await;
    let browser = stale_ada(&app).await;
    let res = browser.get(&app, "/fresh?x=1").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/reauth?next=%2Ffresh%3Fx%3D1"));
    assert_eq!(browser.get(&app, "/login").await.body, format!("login page\n[warning] {REFRESH_MESSAGE}\n"));
    // A refused POST is a 303 here too.
    let res = browser.send(&app, test::TestRequest::post().uri("/password").set_form([("password", "x")])).await;
    assert_eq!(res.status, 303);
    assert_eq!(db.password(ADA), "lovelace", "not changed");

    // An anonymous visitor of a fresh-only page is unauthorized, not "needs refresh".
    let res = Client::new().get(&app, "/fresh").await;
    assert_eq!(res.location(), Some("/login?next=%2Ffresh"));
}

#[actix_web::test]
async fn stale_login_without_a_refresh_view_gets_401() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let browser = stale_ada(&app).await;
    let res = browser.get(&app, "/fresh").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.location(), None);
    // The login itself stands.
    assert_eq!(browser.get(&app, "/secret").await.status, 200);
}

#[actix_web::test]
async fn stale_json_client_gets_401_with_the_refresh_url() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().refresh_view("/reauth"), &db)).await;
    let browser = stale_ada(&app).await;
    let res =
        browser.send(&app, test::TestRequest::get().uri("/fresh").insert_header(("accept", "application/json"))).await;
    assert_eq!(res.status, 401);
    let body = res.json();
    assert_eq!(body["error"], "reauthentication_required");
    assert_eq!(body["refresh_url"], "/reauth?next=%2Ffresh");
}

#[actix_web::test]
async fn stale_htmx_request_gets_hx_redirect_to_the_refresh_view() {
    let db = Db::seeded();
    let app = test::init_service(app(&manager().refresh_view("/reauth"), &db)).await;
    let browser = stale_ada(&app).await;
    let res = browser.send(&app, test::TestRequest::get().uri("/fresh").insert_header(("hx-request", "true"))).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("hx-redirect"), Some("/reauth?next=%2Ffresh"));
}

#[actix_web::test]
async fn message_translator_translates_the_refresh_message() {
    let db = Db::seeded();
    let login = manager()
        .refresh_view("/reauth")
        .needs_refresh_message(REFRESH_MESSAGE, "warning")
        .message_translator(|message, _| format!("(fr) {message}"));
    let app = test::init_service(app(&login, &db)).await;
    let browser = stale_ada(&app).await;
    assert_eq!(browser.get(&app, "/fresh").await.status, 302);
    assert_eq!(browser.get(&app, "/login").await.body, format!("login page\n[warning] (fr) {REFRESH_MESSAGE}\n"));
}

#[actix_web::test]
async fn custom_needs_refresh_handler() {
    let db = Db::seeded();
    let login = manager()
        .refresh_view("/reauth")
        .needs_refresh_handler(|_| HttpResponse::Forbidden().body("confirm your password first"));
    let app = test::init_service(app(&login, &db)).await;
    let browser = stale_ada(&app).await;
    let res = browser.get(&app, "/fresh").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (403, "confirm your password first"));
    // It is not the unauthorized handler: anonymous users still go to the login view.
    assert_eq!(Client::new().get(&app, "/fresh").await.status, 302);
}

// ---- next_url ----

async fn login_with_next(next: &str) -> Option<String> {
    let db = Db::seeded();
    let app = test::init_service(app(&manager(), &db)).await;
    let res = Client::new().login_form(&app, &format!("/login?next={}", quote(next)), &ada()).await;
    assert_eq!(res.status, 303, "{next:?}");
    res.location().map(str::to_owned)
}

#[actix_web::test]
async fn next_url_accepts_local_paths() {
    for next in ["/secret", "/secret?a=1&b=2", "/a/b/c#top", "/caf%C3%A9"] {
        assert_eq!(login_with_next(next).await.as_deref(), Some(next), "{next:?}");
    }
}

#[actix_web::test]
async fn next_url_refuses_other_hosts_and_schemes() {
    for next in [
        "//evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https://evil.com",
        "http:evil.com",
        "https:/evil.com",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/\t/evil.com",
        " //evil.com",
        "///evil.com",
        "evil.com",
    ] {
        assert_eq!(login_with_next(next).await.as_deref(), Some("/"), "{next:?}");
    }
}

#[actix_web::test]
async fn next_url_in_a_handler() {
    // Straight from the request, as an application's own login handler would use it.
    let db = Db::seeded();
    let app = test::init_service(
        app(&manager(), &db)
            .route("/where", web::get().to(|req: HttpRequest| async move { format!("{:?}", next_url(&req)) })),
    )
    .await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/where?next=%2Fok").await.body, "Some(\"/ok\")");
    assert_eq!(browser.get(&app, "/where?next=%2F%2Fevil.com").await.body, "None");
    assert_eq!(browser.get(&app, "/where").await.body, "None");
}

// ---- the request loader ----

fn with_token(path: &str, token: &str) -> test::TestRequest {
    test::TestRequest::get().uri(path).insert_header(("authorization", format!("Bearer {token}")))
}

#[actix_web::test]
async fn request_loader_logs_in_from_the_request_without_writing_the_session() {
    let db = Db::seeded();
    let login = manager().request_loader(support::load_from_token);
    let app = test::init_service(app(&login, &db)).await;
    let browser = Client::new();

    let res = browser.send(&app, with_token("/whoami", "ada-token")).await;
    assert_eq!(res.body, "user:ada");
    assert!(res.set_cookie_headers().is_empty(), "no session written: {:?}", res.set_cookie_headers());
    assert_eq!(res.header("set-cookie"), None);
    let res = browser.send(&app, with_token("/secret", "ada-token")).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "secret of ada"));
    assert_eq!(res.header("set-cookie"), None);

    // Without the header, the next request is anonymous: nothing was remembered.
    assert_eq!(browser.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(browser.cookie(support::SESSION), None);
    // A wrong token is anonymous too.
    let res = browser.send(&app, with_token("/secret", "guess")).await;
    assert_eq!(res.status, 302);
}

#[actix_web::test]
async fn request_loaded_users_are_never_fresh() {
    let db = Db::seeded();
    let login = manager().request_loader(support::load_from_token).refresh_view("/reauth");
    let app = test::init_service(app(&login, &db)).await;
    let res = Client::new().send(&app, with_token("/fresh", "ada-token")).await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/reauth?next=%2Ffresh"));
    let res = Client::new().send(&app, with_token("/freshness", "ada-token")).await;
    assert_eq!(res.body, "not fresh");
}

#[actix_web::test]
async fn request_loader_is_not_asked_when_the_session_has_a_login() {
    let db = Db::seeded();
    let login = manager().request_loader(support::load_from_token);
    let app = test::init_service(app(&login, &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &LoginForm::new("bob", "builder")).await;
    // Bob's session wins over Ada's token; the request loader is not even called.
    let res = browser.send(&app, with_token("/whoami", "ada-token")).await;
    assert_eq!(res.body, "user:bob");
    assert_eq!(db.request_loads(), 0);
    // It runs once per anonymous request that asks for the user, and not otherwise.
    let anonymous = Client::new();
    anonymous.send(&app, with_token("/all-at-once", "ada-token")).await;
    assert_eq!(db.request_loads(), 1);
    anonymous.send(&app, with_token("/", "ada-token")).await;
    assert_eq!(db.request_loads(), 1);
}

#[actix_web::test]
async fn request_loader_with_a_test_login() {
    // `with_login` wins over the request loader, as a session login does.
    let db = Db::seeded();
    let login = manager().request_loader(support::load_from_token);
    let app = test::init_service(app(&login, &db)).await;
    let req = with_token("/whoami", "ada-token").to_request().with_login(&db.user(support::BOB));
    let res = test::call_service(&app, req).await;
    assert_eq!(test::read_body(res).await, "user:bob");
}
