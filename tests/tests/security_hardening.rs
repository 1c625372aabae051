//! Issue 14, holes 1, 2, 4 and 7: `OPTIONS` on guarded handlers, bounded flashes and
//! cookieless refusals, forwarded addresses under a number of trusted hops, and remember
//! cookies capped by the current configuration with key rotation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::{HttpResponse, route, web};
use login_runtime::{CurrentUser, fresh_login_required, login_required};
use support::*;

// ---- hole 1: OPTIONS ----

/// How many times a guarded handler below ran.
static RAN: AtomicUsize = AtomicUsize::new(0);

/// The user a handler saw: the handlers take no `Authenticated`, so only the guard protects them.
fn who(user: &CurrentUser<User>) -> String {
    user.get_id().unwrap_or_else(|| "anonymous".to_owned())
}

#[login_required]
async fn guarded_any(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the work of {}", who(&user)))
}

#[fresh_login_required]
async fn fresh_any(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the fresh work of {}", who(&user)))
}

#[route("/options-route", method = "OPTIONS", method = "GET")]
#[login_required]
async fn options_route(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the work of {}", who(&user)))
}

fn option_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/any", web::route().to(guarded_any))
        .service(web::resource("/to").to(guarded_any))
        .route("/fresh-any", web::route().to(fresh_any))
        .service(options_route);
}

async fn options(c: &Client, app: &TestApp, path: &str) -> support::Reply {
    c.send(app, TestRequest::default().method(actix_web::http::Method::OPTIONS).uri(path)).await
}

#[actix_web::test]
async fn options_never_runs_a_guarded_handler_without_the_login() {
    let env = Env::new();
    let app = start_with(&env.manager(), &env.db, option_routes).await;
    let before = RAN.load(Ordering::SeqCst);

    let anonymous = Client::new();
    for path in ["/any", "/to", "/options-route", "/fresh-any"] {
        let reply = options(&anonymous, &app, path).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}: {reply:?}");
        assert_eq!(reply.body, "", "{path}");
        assert!(reply.set_cookie_headers().is_empty(), "{path}: {:?}", reply.set_cookie_headers());
    }
    // A stale (remembered) login does not pass the fresh check either.
    let stale = Client::new();
    stale.login_remembered(&app, ADA).await;
    stale.keep_only(&[REMEMBER]);
    let reply = options(&stale, &app, "/fresh-any").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert_eq!(RAN.load(Ordering::SeqCst), before, "a guarded handler ran without its login");

    // With the login it requires, the handler answers OPTIONS itself.
    let fresh = Client::new();
    fresh.login(&app, ADA).await;
    assert_eq!(options(&fresh, &app, "/any").await.body, "did the work of ada");
    assert_eq!(options(&fresh, &app, "/fresh-any").await.body, "did the fresh work of ada");
    assert_eq!(options(&stale, &app, "/any").await.body, "did the work of ada");
}

// ---- hole 7: remember cookies capped by the configuration; key rotation ----

const HOUR: u64 = 3600;
const NEW_KEY: [u8; 64] = [9u8; 64];

/// The default remember-me settings with another duration.
fn remember_for(secs: u64) -> login_runtime::RememberMe {
    remember().duration(std::time::Duration::from_secs(secs))
}

#[actix_web::test]
async fn a_shorter_configured_duration_caps_cookies_issued_before_it() {
    let env = Env::new();
    let year_app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&year_app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let year_cookie = c.cookie(REMEMBER).expect("a remember cookie");

    // The app now remembers logins for an hour, refreshed on each request.
    let hour_app = start(&env.bare_manager().remember_me(remember_for(HOUR).refresh_each_request(true)), &env.db).await;
    env.advance(HOUR / 2);
    let reply = c.get(&hour_app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    let reissued = reply.set_cookie(REMEMBER).expect("re-issued on each request");
    assert_eq!(reissued.max_age(), Some(actix_web::cookie::time::Duration::seconds(HOUR as i64)));

    // Two hours after its login, the year-long cookie no longer works, and is cleared.
    env.advance(HOUR + HOUR / 2);
    let stale = Client::new();
    stale.set_cookie(REMEMBER, &year_cookie);
    let reply = stale.get(&hour_app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn a_login_cannot_choose_a_longer_cookie_than_the_configuration() {
    let env = Env::new();
    let app = start(&env.bare_manager().remember_me(remember_for(HOUR)), &env.db).await;
    let c = Client::new();
    let reply = c.post(&app, &format!("/login-as?user={ADA}&remember=true&duration={}", 365 * 24 * HOUR)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let cookie = reply.set_cookie(REMEMBER).expect("a remember cookie");
    assert_eq!(cookie.max_age(), Some(actix_web::cookie::time::Duration::seconds(HOUR as i64)));
    c.keep_only(&[REMEMBER]);
    env.advance(HOUR);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn rotated_keys_accept_old_cookies_and_re_sign_them_with_the_current_key() {
    let env = Env::new();
    let old_app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&old_app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let old_cookie = c.cookie(REMEMBER).expect("a remember cookie");

    let new_only =
        start(&env.bare_manager().remember_me(login_runtime::RememberMe::new(NEW_KEY).secure(false)), &env.db).await;
    let rotated = start(
        &env.bare_manager()
            .remember_me(login_runtime::RememberMe::new(NEW_KEY).previous_key(REMEMBER_KEY).secure(false)),
        &env.db,
    )
    .await;

    // Without the old key, the old cookie is refused.
    let other = Client::new();
    other.set_cookie(REMEMBER, &old_cookie);
    assert_eq!(other.whoami(&new_only).await, "anonymous");

    // With it, the cookie logs in and comes back signed with the new key, same expiry.
    env.advance(HOUR);
    let reply = c.get(&rotated, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    let resigned = reply.set_cookie(REMEMBER).expect("re-signed with the current key");
    assert_ne!(resigned.value(), old_cookie);
    let left = 365 * 24 * HOUR - HOUR;
    assert_eq!(resigned.max_age(), Some(actix_web::cookie::time::Duration::seconds(left as i64)));
    // ...which the app without the old key accepts.
    let fresh_browser = Client::new();
    fresh_browser.set_cookie(REMEMBER, resigned.value());
    assert_eq!(fresh_browser.whoami(&new_only).await, "user:ada");
    // A cookie of the current key is not re-issued on every request.
    fresh_browser.keep_only(&[REMEMBER]);
    assert!(!fresh_browser.get(&rotated, "/whoami").await.sets(REMEMBER));
}

// ---- hole 4: forwarded addresses ----

const VICTIM_IP: &str = "192.0.2.10";
const THIEF_IP: &str = "198.51.100.66";
const PROXY_IP: &str = "10.0.0.2";

/// Behind one proxy that appends the connecting address to `X-Forwarded-For`, strong
/// protection: a cookie thief claiming the victim's address, in `X-Forwarded-For` or in a
/// `Forwarded` header the proxy does not set, is still seen at their own address.
#[actix_web::test]
async fn a_thief_cannot_claim_the_victims_forwarded_address() {
    let env = Env::new();
    let login = env.manager().trusted_proxies(1).session_protection(login_runtime::SessionProtection::Strong);
    let app = start(&login, &env.db).await;
    let victim = Client::new();
    victim.set_ip(PROXY_IP);
    victim.set_header("x-forwarded-for", VICTIM_IP);
    victim.login(&app, ADA).await;
    assert_eq!(victim.whoami(&app).await, "user:ada");

    for (header, claim) in
        [("x-forwarded-for", format!("{VICTIM_IP}, {THIEF_IP}")), ("forwarded", format!("for={VICTIM_IP}"))]
    {
        let thief = victim.fork();
        thief.keep_only(&[SESSION]);
        thief.remove_header("x-forwarded-for");
        thief.set_header("x-forwarded-for", THIEF_IP);
        thief.set_header(header, &claim);
        assert_eq!(thief.whoami(&app).await, "anonymous", "{header}: {claim}");
    }
}

#[actix_web::test]
async fn the_registry_stores_the_trusted_address_bounded() {
    use login_runtime::{LoginRegistry, MemoryLoginRegistry};
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let app = start(&env.manager().trusted_proxies(1).login_registry(registry.clone()), &env.db).await;
    let c = Client::new();
    c.set_ip(PROXY_IP);
    // The client's own entries (64 KB of them) come first; the proxy appended the last.
    c.set_header("x-forwarded-for", &format!("{}, {THIEF_IP}", "x".repeat(64 * 1024)));
    c.login(&app, ADA).await;
    let logins = LoginRegistry::list(&registry, ADA).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].address.as_deref(), Some(THIEF_IP));

    // Without trusted proxies, the peer address: the headers are not read at all.
    let registry = MemoryLoginRegistry::new();
    let app = start(&env.manager().login_registry(registry.clone()), &env.db).await;
    c.login(&app, BOB).await;
    assert_eq!(LoginRegistry::list(&registry, BOB).await.unwrap()[0].address.as_deref(), Some(PROXY_IP));
}

/// With an absolute login view, the URL put into `next` names this site: a client's
/// `X-Forwarded-Host` or `Forwarded` header counts only behind trusted proxies, and a
/// configured host wins over everything.
#[actix_web::test]
async fn the_host_in_next_comes_from_the_request_only_under_trust() {
    let env = Env::new();
    let next_of = |reply: &support::Reply| {
        let location = reply.location().expect("a redirect").to_owned();
        let next = location.split_once("next=").expect("a next").1.to_owned();
        next.replace("%3A", ":").replace("%2F", "/")
    };
    let view = "https://login.example.org/login";
    let spoofing = Client::new();
    spoofing.set_header("host", "app.example.com");
    spoofing.set_header("x-forwarded-host", "evil.example");
    spoofing.set_header("x-forwarded-proto", "https");
    spoofing.set_header("forwarded", "host=evil.example;proto=https");

    let app = start(&env.manager().login_view(view), &env.db).await;
    assert_eq!(next_of(&spoofing.get(&app, "/secret").await), "http://app.example.com/secret");

    let app = start(&env.manager().login_view(view).trusted_proxies(1), &env.db).await;
    assert_eq!(next_of(&spoofing.get(&app, "/secret").await), "https://evil.example/secret");

    let app = start(&env.manager().login_view(view).force_host_for_redirects("app.example.com"), &env.db).await;
    assert_eq!(next_of(&spoofing.get(&app, "/secret").await), "http://app.example.com/secret");
}

// ---- hole 2: bounded flashes, cookieless refusals store nothing ----

/// The login page as the support app renders it, with the default login message.
const LOGIN_PAGE_WITH_MESSAGE: &str = "login page\n[message] Please log in to access this page.\n";

#[actix_web::test]
async fn two_thousand_refusals_keep_the_session_small() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.post(&app, "/cart/apple").await;
    for i in 0..2_000 {
        let reply = c.get(&app, "/secret").await;
        assert_eq!(reply.status, StatusCode::FOUND, "refusal {i}: {reply:?}");
    }
    let session = c.cookie(SESSION).expect("the session cookie");
    assert!(session.len() < 512, "the session grew to {} bytes", session.len());
    assert_eq!(c.get(&app, "/login").await.body, LOGIN_PAGE_WITH_MESSAGE, "the message, once");
    assert_eq!(c.get(&app, "/cart").await.body, "apple");
}

/// A session store that counts what it is asked to write, in front of the cookie store.
#[derive(Clone, Default)]
struct CountingStore {
    writes: std::sync::Arc<AtomicUsize>,
    inner: std::sync::Arc<actix_session::storage::CookieSessionStore>,
}

impl actix_session::storage::SessionStore for CountingStore {
    async fn load(
        &self,
        key: &actix_session::storage::SessionKey,
    ) -> Result<Option<std::collections::HashMap<String, String>>, actix_session::storage::LoadError> {
        self.inner.load(key).await
    }

    async fn save(
        &self,
        state: std::collections::HashMap<String, String>,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<actix_session::storage::SessionKey, actix_session::storage::SaveError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.save(state, ttl).await
    }

    async fn update(
        &self,
        key: actix_session::storage::SessionKey,
        state: std::collections::HashMap<String, String>,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<actix_session::storage::SessionKey, actix_session::storage::UpdateError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update(key, state, ttl).await
    }

    async fn update_ttl(
        &self,
        key: &actix_session::storage::SessionKey,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update_ttl(key, ttl).await
    }

    async fn delete(&self, key: &actix_session::storage::SessionKey) -> Result<(), anyhow::Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }
}

#[actix_web::test]
async fn cookieless_refusals_store_nothing_and_the_login_page_still_shows_the_message() {
    use actix_web::dev::Service;
    let env = Env::new();
    for login in [env.manager(), env.manager().use_session_for_next(true)] {
        let store = CountingStore::default();
        let app = actix_web::test::init_service(
            actix_web::App::new()
                .app_data(login.clone())
                .app_data(env.db.clone())
                .wrap(
                    actix_session::SessionMiddleware::builder(store.clone(), session_key())
                        .cookie_secure(false)
                        .build(),
                )
                .wrap(login.middleware())
                .configure(routes),
        )
        .await;
        for (post, path) in [(false, "/secret"), (false, "/fresh"), (true, "/confirm")] {
            for _ in 0..200 {
                let req = if post { TestRequest::post() } else { TestRequest::get() };
                let res = app.call(req.uri(path).to_request()).await;
                let res = res.unwrap_or_else(|e| {
                    actix_web::dev::ServiceResponse::new(TestRequest::default().to_http_request(), e.error_response())
                });
                assert!(res.status().is_redirection(), "{path}: {}", res.status());
                assert!(res.response().cookies().all(|c| c.name() != SESSION), "{path}: a session cookie");
            }
        }
        assert_eq!(store.writes.load(Ordering::SeqCst), 0, "600 cookieless refusals wrote to the session store");
    }

    // A browser (which keeps cookies) still sees the message on the login page, once.
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    let reply = c.get(&app, "/secret").await;
    assert_eq!(reply.location(), Some("/login?next=%2Fsecret"));
    assert!(!reply.sets(SESSION), "{:?}", reply.set_cookie_headers());
    assert_eq!(c.get(&app, "/login?next=%2Fsecret").await.body, LOGIN_PAGE_WITH_MESSAGE);
    assert_eq!(c.get(&app, "/login").await.body, "login page\n", "shown once");
}
