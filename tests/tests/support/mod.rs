//! The test application every integration test shares: a user model whose session hash is
//! `password#epoch`, an in-memory user database that counts its loads (and can fail), the
//! loaders, an event recorder, a manual clock, one app with every route the tests need, a
//! server-side session store that shows its keys, and `login_runtime::test::TestClient` with
//! this suite's shorthands.
#![allow(dead_code)] // each test file uses a different part of it

pub mod logs;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_session::storage::{CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest, HttpResponse, get, post, web};
use login_runtime::test::{TestClient, TestTarget};
use login_runtime::{
    AuthUser, Authenticated, CurrentUser, FlashMessages, LoginEvent, LoginEventKind, LoginManager, LoginOptions,
    ManualClock, RememberMe, confirm_login, flash, fresh_login_required, login_fresh, login_required, login_user_with,
    logout_user, next_url, request_loader, user_loader,
};
use serde::{Deserialize, Serialize};

#[allow(unused_imports)] // each test file uses a different part of it
pub use login_runtime::test::{TestApp, TestResponse, is_removal};

// ---- users and their database ----

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

#[derive(Debug)]
pub struct DbError;

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the user database is down")
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
    /// When set, the user loader fails.
    pub failing: AtomicBool,
}

pub const ADA: &str = "ada";
pub const BOB: &str = "bob";
/// A non-ASCII id.
pub const ZOE: &str = "zoë";
/// An account that is not active.
pub const EVE: &str = "eve";
/// Ada's API token (request loader).
pub const ADA_TOKEN: &str = "ada-token";
/// Bob's API token (request loader).
pub const BOB_TOKEN: &str = "bob-token";

impl Db {
    /// Ada (password "lovelace", token [`ADA_TOKEN`]), Bob ("builder", token [`BOB_TOKEN`]),
    /// Zoë ("zoë"), all active, and inactive Eve ("eve").
    pub fn seeded() -> web::Data<Db> {
        let db = Db::default();
        for (id, password) in [(ADA, "lovelace"), (BOB, "builder"), (ZOE, "zoë"), (EVE, "eve")] {
            db.insert(id, password);
        }
        db.set_active(EVE, false);
        let mut tokens = db.tokens.lock().unwrap();
        tokens.insert(ADA_TOKEN.into(), ADA.into());
        tokens.insert(BOB_TOKEN.into(), BOB.into());
        drop(tokens);
        web::Data::new(db)
    }

    /// An active user named `name of <id>`.
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

    pub fn user(&self, id: &str) -> User {
        self.get(id).expect("a seeded user")
    }

    pub fn remove(&self, id: &str) {
        self.accounts.lock().unwrap().remove(id);
    }

    /// The user whose id and password these are.
    pub fn check(&self, id: &str, password: &str) -> Option<User> {
        self.accounts.lock().unwrap().get(id).filter(|a| a.password == password).map(|a| a.user.clone())
    }

    pub fn password(&self, id: &str) -> String {
        self.accounts.lock().unwrap().get(id).expect("a seeded user").password.clone()
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

    /// Makes the user loader fail (or work again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    pub fn request_loads(&self) -> usize {
        self.request_loads.load(Ordering::SeqCst)
    }
}

#[user_loader]
pub async fn load_user(id: String, db: web::Data<Db>) -> Result<Option<User>, DbError> {
    db.loads.fetch_add(1, Ordering::SeqCst);
    if db.failing.load(Ordering::SeqCst) {
        return Err(DbError);
    }
    Ok(db.get(&id))
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

// ---- the managers: clock, events, users ----

pub const LOGIN_MESSAGE: &str = "Please log in to access this page.";
pub const REFRESH_MESSAGE: &str = "Please confirm your password to continue.";
pub const REFRESH_CATEGORY: &str = "warning";
/// The remember-me key of the tests.
pub const REMEMBER_KEY: [u8; 64] = [0u8; 64];
/// The clock's start (seconds since the epoch).
pub const T0: u64 = 1_000_000;

/// The simplest manager: the user loader, a login view (`/login`), the login message in
/// category `info`; the system clock, no events, no request loader, no remember-me.
pub fn manager() -> LoginManager {
    LoginManager::new(load_user).login_view("/login").login_message(LOGIN_MESSAGE, "info")
}

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

/// The app with the session in a cookie named `id`.
pub fn app(
    login: &LoginManager,
    db: &web::Data<Db>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    app_with_store(login, db, CookieSessionStore::default())
}

/// The app with the session in `store`, registered the documented way (login middleware
/// outermost; the session cookie not `Secure`: the real-server tests speak plain http).
pub fn app_with_store<S: SessionStore + 'static>(
    login: &LoginManager,
    db: &web::Data<Db>,
    store: S,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<S>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<S>,
> {
    App::new()
        .app_data(login.clone())
        .app_data(db.clone())
        .wrap(SessionMiddleware::builder(store, session_key()).cookie_secure(false).build())
        .wrap(login.middleware())
        .configure(routes)
}

/// Builds [`app`] with this manager and `actix_web::test::init_service`s it.
pub async fn start(login: &LoginManager, db: &web::Data<Db>) -> TestApp {
    start_with(login, db, |_| {}).await
}

/// [`start`], with more routes.
pub async fn start_with(login: &LoginManager, db: &web::Data<Db>, more: fn(&mut web::ServiceConfig)) -> TestApp {
    TestApp::service(test::init_service(app(login, db).configure(more)).await)
}

/// Every route of the test app.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.service(home)
        .service(public)
        .service(whoami)
        .service(state)
        .service(freshness)
        .service(secret)
        .service(secret_guard_above)
        .service(all_at_once)
        .service(fresh)
        .service(fresh_60)
        .service(create_item)
        .service(login_page)
        .service(login_form)
        .service(login_as)
        .service(logout)
        .service(logout_flash)
        .service(logout_loaded)
        .service(reauth_page)
        .service(confirm)
        .service(confirm_password)
        .service(put_cart)
        .service(get_cart)
        .service(change_password)
        .service(
            web::resource("/to-handler")
                .route(web::get().to(to_handler))
                .route(web::method(Method::OPTIONS).to(to_handler)),
        );
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Item {
    pub name: String,
}

/// The login form of `POST /login`.
#[derive(Deserialize, Serialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub force: bool,
    #[serde(default = "yes")]
    pub fresh: bool,
}

fn yes() -> bool {
    true
}

impl LoginForm {
    pub fn new(name: &str, password: &str) -> Self {
        Self { name: name.into(), password: password.into(), force: false, fresh: true }
    }
}

#[derive(Deserialize, Serialize)]
pub struct NewPassword {
    pub password: String,
}

/// The handlers, in their own module: the route macros make unit structs named after them.
mod handlers {
    use super::*;

    fn text(body: impl Into<String>) -> HttpResponse {
        HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body.into())
    }

    fn see_other(to: &str) -> HttpResponse {
        HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
    }

    fn render_flashes(flashes: &FlashMessages) -> String {
        flashes.iter().map(|f| format!("[{}] {}\n", f.category, f.message)).collect()
    }

    fn who(user: &CurrentUser<User>) -> String {
        match user.authenticated() {
            Some(u) => format!("user:{}", u.id),
            None => "anonymous".to_owned(),
        }
    }

    /// Never asks for the user (the loader must not run here): `home` and the flashed
    /// messages.
    #[get("/")]
    async fn home(flashes: FlashMessages) -> HttpResponse {
        text(format!("home\n{}", render_flashes(&flashes)))
    }

    /// Never asks for the user, nor anything else: `public`.
    #[get("/public")]
    async fn public() -> HttpResponse {
        text("public")
    }

    /// `user:<id>` or `anonymous`.
    #[get("/whoami")]
    async fn whoami(user: CurrentUser<User>) -> HttpResponse {
        text(who(&user))
    }

    /// `user:<id> fresh:<bool>` or `anonymous fresh:<bool>`.
    #[get("/state")]
    async fn state(req: HttpRequest, user: CurrentUser<User>) -> HttpResponse {
        text(format!("{} fresh:{}", who(&user), login_fresh(&req).await))
    }

    /// `fresh` or `not fresh`, without extracting the user.
    #[get("/freshness")]
    async fn freshness(req: HttpRequest) -> HttpResponse {
        text(if login_fresh(&req).await { "fresh" } else { "not fresh" })
    }

    // The guard below the route macro...
    #[get("/secret")]
    #[login_required]
    async fn secret(user: Authenticated<User>) -> HttpResponse {
        text(format!("secret of {}", user.id))
    }

    // ...and above it.
    #[login_required]
    #[get("/secret-above")]
    async fn secret_guard_above(user: CurrentUser<User>) -> HttpResponse {
        text(format!("secret of {}", user.user().map_or("?", |u| &u.id)))
    }

    /// Asks for the user three times: guard, `CurrentUser`, `Authenticated`.
    #[get("/all-at-once")]
    #[login_required]
    async fn all_at_once(current: CurrentUser<User>, user: Authenticated<User>) -> HttpResponse {
        text(format!("{} {}", current.get_id().unwrap_or_default(), user.get_id().unwrap_or_default()))
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

    /// A JSON body behind the guard: invalid JSON is a 400, but only for logged-in users.
    #[post("/api/items")]
    #[login_required]
    async fn create_item(user: Authenticated<User>, item: web::Json<Item>) -> HttpResponse {
        HttpResponse::Created().json(serde_json::json!({ "owner": user.id, "name": item.name }))
    }

    /// Registered with `.to()`, for GET and OPTIONS.
    #[login_required]
    pub(super) async fn to_handler(req: HttpRequest, user: CurrentUser<User>) -> HttpResponse {
        text(format!("{} by {}", req.method(), user.user().map_or("anonymous", |u| &u.id)))
    }

    /// The login page shows the flashed messages.
    #[get("/login")]
    async fn login_page(flashes: FlashMessages) -> HttpResponse {
        text(format!("login page\n{}", render_flashes(&flashes)))
    }

    /// The login form ([`LoginForm`]): checks the password, logs in, and goes back to `next`
    /// (when it is safe) or `/`.
    #[post("/login")]
    async fn login_form(
        req: HttpRequest,
        db: web::Data<Db>,
        form: web::Form<LoginForm>,
    ) -> actix_web::Result<HttpResponse> {
        let Some(user) = db.check(&form.name, &form.password) else {
            return Ok(HttpResponse::Unauthorized().body("invalid credentials"));
        };
        login_user_with(&req, &user, LoginOptions::new().force(form.force).fresh(form.fresh))?;
        Ok(see_other(&next_url(&req).unwrap_or_else(|| "/".into())))
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

    /// Logs `?user=` in without a password (what the tests of remember-me, sessions and the
    /// registry are about is what comes after), with `remember`, `duration` (seconds) and
    /// `fresh` from the query: `logged in`.
    #[post("/login-as")]
    async fn login_as(
        req: HttpRequest,
        db: web::Data<Db>,
        q: web::Query<LoginQuery>,
    ) -> actix_web::Result<HttpResponse> {
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

    /// `logged out`.
    #[post("/logout")]
    async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
        logout_user(&req)?;
        Ok(text("logged out"))
    }

    /// Logs out, flashes "You have been logged out." and goes home.
    #[post("/logout-flash")]
    async fn logout_flash(req: HttpRequest) -> actix_web::Result<HttpResponse> {
        logout_user(&req)?;
        flash(&req, "You have been logged out.", "info")?;
        Ok(see_other("/"))
    }

    /// Logs out after the user was loaded (and, with `refresh_each_request`, the remember
    /// cookie re-issued) in the same request.
    #[post("/logout-loaded")]
    async fn logout_loaded(req: HttpRequest, user: CurrentUser<User>) -> actix_web::Result<HttpResponse> {
        logout_user(&req)?;
        Ok(text(format!("logged out {}", user.get_id().unwrap_or_default())))
    }

    #[get("/reauth")]
    async fn reauth_page(flashes: FlashMessages) -> HttpResponse {
        text(format!("reauth page\n{}", render_flashes(&flashes)))
    }

    /// Re-authentication with the password check elided: `confirm_login`, `confirmed <id>`.
    #[post("/confirm")]
    #[login_required]
    async fn confirm(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
        confirm_login(&req).await?;
        Ok(text(format!("confirmed {}", user.id)))
    }

    /// Re-authentication: the password again (a [`LoginForm`]), then `confirm_login` and back
    /// to `next` or `/`.
    #[post("/confirm-password")]
    #[login_required]
    async fn confirm_password(
        req: HttpRequest,
        user: Authenticated<User>,
        db: web::Data<Db>,
        form: web::Form<LoginForm>,
    ) -> actix_web::Result<HttpResponse> {
        if db.check(&user.id, &form.password).is_none() {
            return Ok(HttpResponse::Unauthorized().body("invalid credentials"));
        }
        confirm_login(&req).await?;
        Ok(see_other(&next_url(&req).unwrap_or_else(|| "/".into())))
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

    /// Changes the password (and so the session hash), keeping this session logged in: every
    /// other session of the user ends.
    #[post("/password")]
    #[fresh_login_required]
    async fn change_password(
        req: HttpRequest,
        user: Authenticated<User>,
        db: web::Data<Db>,
        form: web::Form<NewPassword>,
    ) -> actix_web::Result<HttpResponse> {
        db.set_password(&user.id, &form.password);
        login_user_with(&req, &db.user(&user.id), LoginOptions::new())?;
        Ok(text("password changed"))
    }
}

// ---- the client: `login_runtime::test::TestClient` ----

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

impl Reply {
    fn new(res: TestResponse) -> Self {
        Self { body: res.text(), res }
    }

    /// The body as JSON (panics, saying what it is, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub const HOME_IP: &str = login_runtime::test::CLIENT_IP;
pub const AWAY_IP: &str = "198.51.100.9";
pub const FIREFOX: &str = login_runtime::test::USER_AGENT;
pub const CURL: &str = "curl/8.5.0";

/// [`TestClient`] with this suite's shorthands: addresses as text, replies read, and logins
/// through the app's `/login` (the form) and `/login-as` (no password) routes.
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

    /// A client holding the same cookies (a stolen cookie, a second tab).
    pub fn fork(&self) -> Self {
        Self(self.0.fork())
    }

    pub async fn send(&self, app: &impl TestTarget, req: TestRequest) -> Reply {
        Reply::new(self.0.send(app, req).await)
    }

    /// Sends a request already built (e.g. with `TestLoginExt`).
    pub async fn call(&self, app: &impl TestTarget, req: actix_http::Request) -> Reply {
        Reply::new(self.0.send_request(app, req).await)
    }

    pub async fn get(&self, app: &impl TestTarget, uri: &str) -> Reply {
        self.send(app, TestRequest::get().uri(uri)).await
    }

    pub async fn post(&self, app: &impl TestTarget, uri: &str) -> Reply {
        self.send(app, TestRequest::post().uri(uri)).await
    }

    /// POSTs the login form to `uri` (`/login`, `/login?next=..`).
    pub async fn login_form(&self, app: &impl TestTarget, uri: &str, form: &LoginForm) -> Reply {
        self.send(app, TestRequest::post().uri(uri).set_form(form)).await
    }

    /// Logs `user` in (fresh, no remember cookie) through `/login-as`, asserting it worked.
    pub async fn login(&self, app: &impl TestTarget, user: &str) -> Reply {
        let reply = self.post(app, &format!("/login-as?user={}", encode(user))).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {reply:?}");
        reply
    }

    /// Logs `user` in with a remember cookie, asserting it was issued.
    pub async fn login_remembered(&self, app: &impl TestTarget, user: &str) -> Reply {
        let reply = self.post(app, &format!("/login-as?user={}&remember=true", encode(user))).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {reply:?}");
        assert!(reply.sets(REMEMBER), "no remember cookie issued: {:?}", reply.set_cookie_headers());
        reply
    }

    /// `GET /whoami`'s body: `user:<id>` or `anonymous`.
    pub async fn whoami(&self, app: &impl TestTarget) -> String {
        let reply = self.get(app, "/whoami").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.body
    }

    /// `GET /state`'s body: `user:<id> fresh:<bool>` or `anonymous fresh:false`.
    pub async fn state(&self, app: &impl TestTarget) -> String {
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

// ---- a server-side session store that shows its keys ----

/// An in-memory `SessionStore` that records which session keys exist and which were deleted,
/// to observe session renewal (fixation defence), which a cookie store cannot show.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Default)]
struct MemoryInner {
    sessions: HashMap<String, HashMap<String, String>>,
    deleted: HashSet<String>,
    next: u64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys of the live sessions.
    pub fn keys(&self) -> HashSet<String> {
        self.inner.lock().unwrap().sessions.keys().cloned().collect()
    }

    pub fn was_deleted(&self, key: &str) -> bool {
        self.inner.lock().unwrap().deleted.contains(key)
    }

    /// The only live session's key.
    pub fn only_key(&self) -> String {
        let keys = self.keys();
        assert_eq!(keys.len(), 1, "expected exactly one live session: {keys:?}");
        keys.into_iter().next().unwrap()
    }

    /// The state of a session, by key.
    pub fn state(&self, key: &str) -> Option<HashMap<String, String>> {
        self.inner.lock().unwrap().sessions.get(key).cloned()
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        Ok(self.inner.lock().unwrap().sessions.get(key.as_ref()).cloned())
    }

    async fn save(&self, state: HashMap<String, String>, _ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let mut inner = self.inner.lock().unwrap();
        inner.next += 1;
        // Session keys must be long: actix-session rejects short ones.
        let key = format!("session-{:0>60}", inner.next);
        inner.sessions.insert(key.clone(), state);
        Ok(SessionKey::try_from(key).expect("a valid session key"))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some(slot) = inner.sessions.get_mut(key.as_ref()) {
                *slot = state;
                return Ok(key);
            }
        }
        // As actix-session's stores do: a vanished key is saved anew.
        match self.save(state, ttl).await {
            Ok(key) => Ok(key),
            Err(_) => unreachable!("saving in memory does not fail"),
        }
    }

    async fn update_ttl(&self, _key: &SessionKey, _ttl: &CookieDuration) -> Result<(), anyhow::Error> {
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let mut inner = self.inner.lock().unwrap();
        inner.sessions.remove(key.as_ref());
        inner.deleted.insert(key.as_ref().to_owned());
        Ok(())
    }
}
