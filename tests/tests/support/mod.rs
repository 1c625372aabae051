//! Shared helpers of the `security_*` integration tests (issue 3: remember-me, fresh logins,
//! session protection, timeouts, revocation, events): a user model whose session hash is
//! `password#epoch`, an in-memory user database, the loaders, an event recorder, an app with
//! every route the tests need, and `login_runtime::test::TestClient` with this suite's
//! shorthands.
#![allow(dead_code)] // each test file uses a different part of it

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_session::{Session, SessionMiddleware, storage::CookieSessionStore};
use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest, HttpResponse, get, post, web};
use login_runtime::test::TestClient;
use login_runtime::{
    AuthUser, Authenticated, CurrentUser, FlashMessages, LoginEvent, LoginEventKind, LoginManager, LoginOptions,
    ManualClock, RememberMe, confirm_login, fresh_login_required, login_fresh, login_required, login_user_with,
    logout_user, request_loader, user_loader,
};
use serde::Deserialize;

// ---- users ----

/// A user whose session hash is `password#epoch`: a password change or an epoch bump ("log
/// out everywhere") changes it.
#[derive(Clone, Debug, AuthUser)]
pub struct User {
    pub id: String,
    pub name: String,
    #[auth_user(active)]
    pub active: bool,
    #[auth_user(session_hash)]
    pub stamp: String,
}

struct Account {
    user: User,
    password: String,
    epoch: u32,
}

impl Account {
    fn restamp(&mut self) {
        self.user.stamp = format!("{}#{}", self.password, self.epoch);
    }
}

/// The users, shared by the app (as `web::Data<Db>`) and the test.
#[derive(Default)]
pub struct Db {
    accounts: Mutex<HashMap<String, Account>>,
    /// API tokens for the request loader: token → user id.
    tokens: Mutex<HashMap<String, String>>,
    /// Calls of the user loader.
    pub loads: AtomicUsize,
    /// Calls of the request loader.
    pub request_loads: AtomicUsize,
}

pub const ADA: &str = "ada";
pub const BOB: &str = "bob";
/// A non-ASCII id.
pub const ZOE: &str = "zoë";
/// Bob's API token (request loader).
pub const BOB_TOKEN: &str = "bob-token";

impl Db {
    /// Ada, Bob and Zoë, all active; Bob has the API token [`BOB_TOKEN`].
    pub fn seeded() -> web::Data<Db> {
        let db = Db::default();
        for id in [ADA, BOB, ZOE] {
            db.insert(id, &format!("pw-{id}"));
        }
        db.tokens.lock().unwrap().insert(BOB_TOKEN.into(), BOB.into());
        web::Data::new(db)
    }

    pub fn insert(&self, id: &str, password: &str) {
        let mut account = Account {
            user: User { id: id.into(), name: format!("name of {id}"), active: true, stamp: String::new() },
            password: password.into(),
            epoch: 0,
        };
        account.restamp();
        self.accounts.lock().unwrap().insert(id.into(), account);
    }

    pub fn get(&self, id: &str) -> Option<User> {
        self.accounts.lock().unwrap().get(id).map(|a| a.user.clone())
    }

    pub fn remove(&self, id: &str) {
        self.accounts.lock().unwrap().remove(id);
    }

    /// A password change: the session hash changes.
    pub fn set_password(&self, id: &str, password: &str) {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(id).expect("a seeded user");
        account.password = password.into();
        account.restamp();
    }

    /// "Log out everywhere": the epoch is bumped, the session hash changes.
    pub fn bump_epoch(&self, id: &str) {
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(id).expect("a seeded user");
        account.epoch += 1;
        account.restamp();
    }

    /// Suspends (or reactivates) an account.
    pub fn set_active(&self, id: &str, active: bool) {
        let mut accounts = self.accounts.lock().unwrap();
        accounts.get_mut(id).expect("a seeded user").user.active = active;
    }

    /// A change that leaves the session hash alone (the display name).
    pub fn rename(&self, id: &str, name: &str) {
        let mut accounts = self.accounts.lock().unwrap();
        accounts.get_mut(id).expect("a seeded user").user.name = name.into();
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    pub fn request_loads(&self) -> usize {
        self.request_loads.load(Ordering::SeqCst)
    }
}

#[user_loader]
pub async fn load_user(id: String, db: web::Data<Db>) -> Option<User> {
    db.loads.fetch_add(1, Ordering::SeqCst);
    db.get(&id)
}

/// `Authorization: Bearer <token>`.
#[request_loader]
pub async fn load_from_token(req: HttpRequest, db: web::Data<Db>) -> Option<User> {
    db.request_loads.fetch_add(1, Ordering::SeqCst);
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let id = db.tokens.lock().unwrap().get(token)?.clone();
    db.get(&id)
}

// ---- events ----

/// One observed [`LoginEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: LoginEventKind,
    pub user_id: Option<String>,
    /// `event.user::<User>()`'s name, when the event carries a typed `User`.
    pub typed_user: Option<String>,
}

/// Records every event the manager emits.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Seen>>>);

impl Events {
    pub fn record(&self, event: &LoginEvent) {
        self.0.lock().unwrap().push(Seen {
            kind: event.kind(),
            user_id: event.user_id().map(str::to_owned),
            typed_user: event.user::<User>().map(|u| u.name.clone()),
        });
    }

    /// Everything seen so far, emptying the record.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn of(&self, kind: LoginEventKind) -> Vec<Seen> {
        self.all().into_iter().filter(|s| s.kind == kind).collect()
    }

    pub fn count(&self, kind: LoginEventKind) -> usize {
        self.of(kind).len()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

// ---- the environment: clock, events, users ----

/// The remember-me key of the tests.
pub const REMEMBER_KEY: [u8; 64] = [0u8; 64];
pub const REFRESH_MESSAGE: &str = "Please confirm your password to continue.";
pub const REFRESH_CATEGORY: &str = "warning";
/// The clock's start (seconds since the epoch).
pub const T0: u64 = 1_000_000;

/// Remember-me with the defaults but `Secure` off (the real-server tests speak plain http).
pub fn remember() -> RememberMe {
    RememberMe::new(REMEMBER_KEY).secure(false)
}

/// What a test controls: the clock, the recorded events, the user database.
pub struct Env {
    pub clock: ManualClock,
    pub events: Events,
    pub db: web::Data<Db>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Self {
        Self { clock: ManualClock::new(T0), events: Events::default(), db: Db::seeded() }
    }

    /// A manager with the manual clock, the event recorder, a login view (`/login`), a refresh
    /// view (`/reauth`, message [`REFRESH_MESSAGE`]), the token request loader, and no
    /// remember-me, timeouts or protection settings beyond the defaults.
    pub fn bare_manager(&self) -> LoginManager {
        let events = self.events.clone();
        LoginManager::new(load_user)
            .clock(self.clock.clone())
            .on_event(move |e: LoginEvent| {
                events.record(&e);
                async {}
            })
            .request_loader(load_from_token)
            .login_view("/login")
            .refresh_view("/reauth")
            .needs_refresh_message(REFRESH_MESSAGE, REFRESH_CATEGORY)
    }

    /// [`Env::bare_manager`] with remember-me ([`remember`]).
    pub fn manager(&self) -> LoginManager {
        self.bare_manager().remember_me(remember())
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// The manual clock's time, in seconds since the epoch.
    pub fn clock_secs(&self) -> u64 {
        login_runtime::Clock::now(&self.clock)
    }
}

// ---- the app ----

/// A fixed session key: tests are deterministic.
pub fn session_key() -> Key {
    Key::from(&[7u8; 64])
}

/// The app, registered the documented way (login middleware outermost), with the session in
/// a cookie named `id` (not `Secure`: the real-server test speaks plain http).
pub fn app(
    login: LoginManager,
    db: web::Data<Db>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(login.clone())
        .app_data(db)
        .wrap(SessionMiddleware::builder(CookieSessionStore::default(), session_key()).cookie_secure(false).build())
        .wrap(login.middleware())
        .configure(routes)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.service(public)
        .service(whoami)
        .service(state)
        .service(secret)
        .service(fresh)
        .service(fresh_60)
        .service(login)
        .service(logout)
        .service(logout_loaded)
        .service(confirm)
        .service(put_cart)
        .service(get_cart)
        .service(login_page)
        .service(reauth_page);
}

/// The handlers, in their own module: the route macros make unit structs named after them.
mod handlers {
    use super::*;

    fn text(body: impl Into<String>) -> HttpResponse {
        HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body.into())
    }

    fn render_flashes(flashes: &FlashMessages) -> String {
        flashes.iter().map(|f| format!("[{}] {}\n", f.category, f.message)).collect()
    }

    /// Never asks for the user.
    #[get("/public")]
    async fn public() -> HttpResponse {
        text("public")
    }

    #[get("/whoami")]
    async fn whoami(user: CurrentUser<User>) -> HttpResponse {
        text(match user.authenticated() {
            Some(u) => format!("user:{}", u.id),
            None => "anonymous".to_owned(),
        })
    }

    /// `user:<id> fresh:<bool>` or `anonymous fresh:<bool>`.
    #[get("/state")]
    async fn state(req: HttpRequest, user: CurrentUser<User>) -> HttpResponse {
        let who = match user.authenticated() {
            Some(u) => format!("user:{}", u.id),
            None => "anonymous".to_owned(),
        };
        text(format!("{who} fresh:{}", login_fresh(&req).await))
    }

    #[get("/secret")]
    #[login_required]
    async fn secret(user: Authenticated<User>) -> HttpResponse {
        text(format!("secret of {}", user.id))
    }

    #[get("/fresh")]
    #[fresh_login_required]
    async fn fresh(user: Authenticated<User>) -> HttpResponse {
        text(format!("fresh area of {}", user.id))
    }

    #[get("/fresh-60")]
    #[fresh_login_required(max_age = 60)]
    async fn fresh_60(user: Authenticated<User>) -> HttpResponse {
        text(format!("fresh-60 area of {}", user.id))
    }

    #[derive(Deserialize)]
    pub(super) struct LoginQuery {
        pub user: String,
        #[serde(default)]
        pub remember: bool,
        /// The remember cookie's lifetime for this login, in seconds.
        pub duration: Option<u64>,
        #[serde(default = "yes")]
        pub fresh: bool,
    }

    fn yes() -> bool {
        true
    }

    /// Logs `?user=` in (the password check is not what these tests are about), with
    /// `remember`, `duration` (seconds) and `fresh` from the query.
    #[post("/login")]
    async fn login(req: HttpRequest, db: web::Data<Db>, q: web::Query<LoginQuery>) -> actix_web::Result<HttpResponse> {
        let Some(user) = db.get(&q.user) else {
            return Ok(HttpResponse::Unauthorized().body("no such user"));
        };
        let mut options = LoginOptions::new().remember(q.remember).fresh(q.fresh);
        if let Some(secs) = q.duration {
            options = options.duration(Duration::from_secs(secs));
        }
        login_user_with(&req, &user, options)?;
        Ok(text("logged in"))
    }

    /// Logs out after the user was loaded (and, with `refresh_each_request`, the remember
    /// cookie re-issued) in the same request.
    #[post("/logout-loaded")]
    async fn logout_loaded(req: HttpRequest, user: CurrentUser<User>) -> actix_web::Result<HttpResponse> {
        logout_user(&req)?;
        Ok(text(format!("logged out {}", user.get_id().unwrap_or_default())))
    }

    #[post("/logout")]
    async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
        logout_user(&req)?;
        Ok(text("logged out"))
    }

    /// Re-authentication (the password check is elided): `confirm_login`.
    #[post("/confirm")]
    #[login_required]
    async fn confirm(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
        confirm_login(&req).await?;
        Ok(text(format!("confirmed {}", user.id)))
    }

    /// Session data that is not the login's.
    #[post("/cart/{item}")]
    async fn put_cart(session: Session, item: web::Path<String>) -> actix_web::Result<HttpResponse> {
        session.insert("cart", item.into_inner())?;
        Ok(text("ok"))
    }

    #[get("/cart")]
    async fn get_cart(session: Session) -> actix_web::Result<HttpResponse> {
        Ok(text(session.get::<String>("cart")?.unwrap_or_else(|| "empty".into())))
    }

    #[get("/login")]
    async fn login_page(flashes: FlashMessages) -> HttpResponse {
        text(format!("login page\n{}", render_flashes(&flashes)))
    }

    #[get("/reauth")]
    async fn reauth_page(flashes: FlashMessages) -> HttpResponse {
        text(format!("reauth page\n{}", render_flashes(&flashes)))
    }
}

// ---- the app under `actix_web::test`, and the client: `login_runtime::test` ----

#[allow(unused_imports)] // each test file uses a different part of it
pub use login_runtime::test::{TestApp, TestResponse, is_removal};

/// Builds [`app`] with this manager and `actix_web::test::init_service`s it.
pub async fn start(login: &LoginManager, db: &web::Data<Db>) -> TestApp {
    start_with(login, db, |_| {}).await
}

/// [`start`], with more routes.
pub async fn start_with(login: &LoginManager, db: &web::Data<Db>, more: fn(&mut web::ServiceConfig)) -> TestApp {
    TestApp::service(test::init_service(app(login.clone(), db.clone()).configure(more)).await)
}

/// A response, read, with its body as text.
#[derive(Debug)]
pub struct Reply {
    pub body: String,
    pub res: TestResponse,
}

impl std::ops::Deref for Reply {
    type Target = TestResponse;
    fn deref(&self) -> &TestResponse {
        &self.res
    }
}

pub const HOME_IP: &str = login_runtime::test::CLIENT_IP;
pub const AWAY_IP: &str = "198.51.100.9";
pub const FIREFOX: &str = login_runtime::test::USER_AGENT;
pub const CURL: &str = "curl/8.5.0";

/// [`login_runtime::test::TestClient`] with this suite's shorthands: addresses as text, and
/// logins through the app's `/login` route.
#[derive(Default)]
pub struct Client(pub TestClient);

impl std::ops::Deref for Client {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.0
    }
}

impl Client {
    /// A client at [`HOME_IP`] with the [`FIREFOX`] user agent and no cookies.
    pub fn new() -> Self {
        Self(TestClient::new())
    }

    pub fn set_ip(&self, ip: &str) {
        self.0.set_ip(ip.parse().expect("an IP address"));
    }

    pub fn set_agent(&self, agent: &str) {
        self.0.set_agent(Some(agent));
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookie(name).is_some()
    }

    pub fn fork(&self) -> Self {
        Self(self.0.fork())
    }

    pub async fn send(&self, app: &TestApp, req: TestRequest) -> Reply {
        let res = self.0.send(app, req).await;
        Reply { body: res.text(), res }
    }

    pub async fn get(&self, app: &TestApp, uri: &str) -> Reply {
        self.send(app, TestRequest::get().uri(uri)).await
    }

    pub async fn post(&self, app: &TestApp, uri: &str) -> Reply {
        self.send(app, TestRequest::post().uri(uri)).await
    }

    /// Logs `user` in (fresh, no remember cookie), asserting it worked.
    pub async fn login(&self, app: &TestApp, user: &str) -> Reply {
        let reply = self.post(app, &format!("/login?user={}", encode(user))).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {reply:?}");
        reply
    }

    /// Logs `user` in with a remember cookie, asserting it was issued.
    pub async fn login_remembered(&self, app: &TestApp, user: &str) -> Reply {
        let reply = self.post(app, &format!("/login?user={}&remember=true", encode(user))).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {reply:?}");
        assert!(reply.sets(REMEMBER), "no remember cookie issued: {:?}", reply.set_cookie_headers());
        reply
    }

    /// `GET /whoami`'s body: `user:<id>` or `anonymous`.
    pub async fn whoami(&self, app: &TestApp) -> String {
        let reply = self.get(app, "/whoami").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.body
    }

    /// `GET /state`'s body: `user:<id> fresh:<bool>` or `anonymous fresh:false`.
    pub async fn state(&self, app: &TestApp) -> String {
        let reply = self.get(app, "/state").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.body
    }
}

/// The remember cookie's default name.
pub const REMEMBER: &str = "remember_token";
/// The session cookie's name (actix-session's default).
pub const SESSION: &str = "id";

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `value` with one character changed (in the middle, so base64 and the MAC both notice).
pub fn tamper(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let i = chars.len() / 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
