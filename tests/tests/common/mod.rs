//! The test application shared by the `core_*` integration tests: a user model, an in-memory
//! user database that counts its loads, the loaders, the routes, and
//! `login_runtime::test::TestClient` with this suite's shorthands.
#![allow(dead_code)] // each test file uses a different part of it

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_session::storage::{CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, get, post, test, web};
use login_runtime::test::{TestClient, TestResponse, TestTarget, is_removal};
use login_runtime::{
    AuthUser, Authenticated, CurrentUser, FlashMessages, LoginManager, LoginOptions, confirm_login, flash,
    fresh_login_required, login_fresh, login_required, login_user_with, logout_user, next_url, request_loader,
    user_loader,
};
use serde::{Deserialize, Serialize};

// ---- users and their database ----

#[derive(Clone, Debug, AuthUser)]
pub struct User {
    pub id: u64,
    pub name: String,
    #[auth_user(active)]
    pub active: bool,
    #[auth_user(session_hash)]
    pub password_hash: String,
}

/// A stand-in for a password hash: enough to tell passwords apart.
pub fn hash(password: &str) -> String {
    format!("hash:{password}")
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
    users: Mutex<HashMap<u64, User>>,
    /// API tokens for the request loader: token → user id.
    tokens: Mutex<HashMap<String, u64>>,
    /// Calls of the user loader.
    pub loads: AtomicUsize,
    /// Calls of the request loader.
    pub request_loads: AtomicUsize,
    /// When set, the user loader fails.
    pub failing: AtomicBool,
}

pub const ADA: u64 = 1;
pub const BOB: u64 = 2;
/// An account that is not active.
pub const EVE: u64 = 3;

impl Db {
    /// Ada (password "lovelace", token "ada-token"), Bob ("builder"), and inactive Eve ("eve").
    pub fn seeded() -> web::Data<Db> {
        let db = Db::default();
        for (id, name, active, password) in
            [(ADA, "ada", true, "lovelace"), (BOB, "bob", true, "builder"), (EVE, "eve", false, "eve")]
        {
            db.insert(User { id, name: name.into(), active, password_hash: hash(password) });
        }
        db.tokens.lock().unwrap().insert("ada-token".into(), ADA);
        web::Data::new(db)
    }

    pub fn insert(&self, user: User) {
        self.users.lock().unwrap().insert(user.id, user);
    }

    pub fn remove(&self, id: u64) -> Option<User> {
        self.users.lock().unwrap().remove(&id)
    }

    pub fn get(&self, id: u64) -> Option<User> {
        self.users.lock().unwrap().get(&id).cloned()
    }

    pub fn user(&self, id: u64) -> User {
        self.get(id).expect("a seeded user")
    }

    pub fn by_name(&self, name: &str) -> Option<User> {
        self.users.lock().unwrap().values().find(|u| u.name == name).cloned()
    }

    pub fn set_password(&self, id: u64, password: &str) {
        let mut users = self.users.lock().unwrap();
        users.get_mut(&id).expect("a seeded user").password_hash = hash(password);
    }

    pub fn set_active(&self, id: u64, active: bool) {
        let mut users = self.users.lock().unwrap();
        users.get_mut(&id).expect("a seeded user").active = active;
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    pub fn request_loads(&self) -> usize {
        self.request_loads.load(Ordering::SeqCst)
    }
}

#[user_loader]
pub async fn load_user(id: u64, db: web::Data<Db>) -> Result<Option<User>, DbError> {
    db.loads.fetch_add(1, Ordering::SeqCst);
    if db.failing.load(Ordering::SeqCst) {
        return Err(DbError);
    }
    Ok(db.get(id))
}

/// `Authorization: Bearer <token>`.
#[request_loader]
pub async fn load_from_token(req: HttpRequest, db: web::Data<Db>) -> Option<User> {
    db.request_loads.fetch_add(1, Ordering::SeqCst);
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let id = *db.tokens.lock().unwrap().get(token)?;
    db.get(id)
}

// ---- the login manager and the app ----

pub const LOGIN_MESSAGE: &str = "Please log in to access this page.";
pub const REFRESH_MESSAGE: &str = "Please confirm your password to continue.";

/// The manager most tests start from: a login view, the login message in category `info`.
pub fn manager() -> LoginManager {
    LoginManager::new(load_user).login_view("/login").login_message(LOGIN_MESSAGE, "info")
}

/// A fixed session key: tests are deterministic.
pub fn key() -> Key {
    Key::from(&[7u8; 64])
}

/// The app with the session in a cookie.
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

/// The app with the session in `store`, registered the documented way.
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
        // `cookie_secure(false)`: the real-server tests speak plain http.
        .wrap(SessionMiddleware::builder(store, key()).cookie_secure(false).build())
        .wrap(login.middleware())
        .configure(routes)
}

/// Every route of the test app.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(whoami)
        .service(secret)
        .service(secret_guard_above)
        .service(all_at_once)
        .service(fresh)
        .service(fresh_60)
        .service(create_item)
        .service(login_page)
        .service(login_submit)
        .service(logout)
        .service(confirm)
        .service(freshness)
        .service(put_cart)
        .service(get_cart)
        .service(change_password)
        .service(
            web::resource("/to-handler")
                .route(web::get().to(to_handler))
                .route(web::method(Method::OPTIONS).to(to_handler)),
        );
}

fn text(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body.into())
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

fn render_flashes(flashes: &FlashMessages) -> String {
    flashes.iter().map(|f| format!("[{}] {}\n", f.category, f.message)).collect()
}

/// Public, and never asks for the user: the loader must not run here.
#[get("/")]
async fn home(flashes: FlashMessages) -> HttpResponse {
    text(format!("home\n{}", render_flashes(&flashes)))
}

#[get("/whoami")]
async fn whoami(user: CurrentUser<User>) -> HttpResponse {
    text(match &user {
        CurrentUser::User(u) => format!("user:{}", u.name),
        CurrentUser::Anonymous(_) => "anonymous".to_owned(),
    })
}

// The guard below the route macro...
#[get("/secret")]
#[login_required]
async fn secret(user: Authenticated<User>) -> HttpResponse {
    text(format!("secret of {}", user.name))
}

// ...and above it.
#[login_required]
#[get("/secret-above")]
async fn secret_guard_above(user: CurrentUser<User>) -> HttpResponse {
    text(format!("secret of {}", user.user().map_or("?", |u| &u.name)))
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
    text(format!("fresh area of {}", user.name))
}

#[get("/fresh-60")]
#[fresh_login_required(max_age = 60)]
async fn fresh_60(user: Authenticated<User>) -> HttpResponse {
    text(format!("fresh-60 area of {}", user.name))
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Item {
    pub name: String,
}

/// A JSON body behind the guard: invalid JSON is a 400, but only for logged-in users.
#[post("/api/items")]
#[login_required]
async fn create_item(user: Authenticated<User>, item: web::Json<Item>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({ "owner": user.name, "name": item.name }))
}

/// Registered with `.to()`, for GET and OPTIONS.
#[login_required]
async fn to_handler(req: HttpRequest, user: CurrentUser<User>) -> HttpResponse {
    text(format!("{} by {}", req.method(), user.user().map_or("anonymous", |u| &u.name)))
}

/// The login page shows the flashed messages.
#[get("/login")]
async fn login_page(flashes: FlashMessages) -> HttpResponse {
    text(format!("login page\n{}", render_flashes(&flashes)))
}

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

/// Checks the password, logs in, and goes back to `next` (when it is safe) or `/`.
#[post("/login")]
async fn login_submit(
    req: HttpRequest,
    db: web::Data<Db>,
    form: web::Form<LoginForm>,
) -> actix_web::Result<HttpResponse> {
    let Some(user) = db.by_name(&form.name).filter(|u| u.password_hash == hash(&form.password)) else {
        return Ok(HttpResponse::Unauthorized().body("invalid credentials"));
    };
    login_user_with(&req, &user, LoginOptions::new().force(form.force).fresh(form.fresh))?;
    Ok(see_other(&next_url(&req).unwrap_or_else(|| "/".into())))
}

#[post("/logout")]
async fn logout(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    logout_user(&req)?;
    flash(&req, "You have been logged out.", "info")?;
    Ok(see_other("/"))
}

/// Re-authentication: the password again, then `confirm_login`.
#[post("/confirm")]
#[login_required]
async fn confirm(
    req: HttpRequest,
    user: Authenticated<User>,
    form: web::Form<LoginForm>,
) -> actix_web::Result<HttpResponse> {
    if user.password_hash != hash(&form.password) {
        return Ok(HttpResponse::Unauthorized().body("invalid credentials"));
    }
    confirm_login(&req).await?;
    Ok(see_other(&next_url(&req).unwrap_or_else(|| "/".into())))
}

#[get("/freshness")]
async fn freshness(req: HttpRequest) -> HttpResponse {
    text(if login_fresh(&req).await { "fresh" } else { "not fresh" })
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

#[derive(Deserialize, Serialize)]
pub struct NewPassword {
    pub password: String,
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
    db.set_password(user.id, &form.password);
    login_user_with(&req, &db.user(user.id), LoginOptions::new())?;
    Ok(text("password changed"))
}

// ---- the client: `login_runtime::test::TestClient` ----

/// A response, read: the body as text, and the cookies the response set, by name (value ""
/// for a removal).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub set_cookies: HashMap<String, String>,
}

impl Reply {
    fn new(res: TestResponse) -> Self {
        let set_cookies = res
            .set_cookie_headers()
            .into_iter()
            .filter_map(|h| Cookie::parse(h).ok())
            .map(|c| (c.name().to_owned(), if is_removal(&c) { String::new() } else { c.value().to_owned() }))
            .collect();
        Self { status: res.status, body: res.text(), headers: res.headers, set_cookies }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// [`TestClient`] with this suite's shorthands.
#[derive(Default)]
pub struct Browser(pub TestClient);

impl std::ops::Deref for Browser {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.0
    }
}

impl Browser {
    pub fn new() -> Self {
        Self(TestClient::new())
    }

    /// A browser holding the same cookies (a stolen cookie, a second tab).
    pub fn fork(&self) -> Self {
        Self(self.0.fork())
    }

    pub async fn send(&self, app: &impl TestTarget, req: test::TestRequest) -> Reply {
        Reply::new(self.0.send(app, req).await)
    }

    /// Sends a request already built (e.g. with `TestLoginExt`).
    pub async fn call(&self, app: &impl TestTarget, req: actix_http::Request) -> Reply {
        Reply::new(self.0.send_request(app, req).await)
    }

    pub async fn get(&self, app: &impl TestTarget, uri: &str) -> Reply {
        self.send(app, test::TestRequest::get().uri(uri)).await
    }

    pub async fn post(&self, app: &impl TestTarget, uri: &str) -> Reply {
        self.send(app, test::TestRequest::post().uri(uri)).await
    }

    /// POSTs the login form to `uri` (`/login`, `/login?next=..`).
    pub async fn login(&self, app: &impl TestTarget, uri: &str, form: &LoginForm) -> Reply {
        self.send(app, test::TestRequest::post().uri(uri).set_form(form)).await
    }
}

/// The session cookie's name (actix-session's default).
pub const SESSION_COOKIE: &str = "id";

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
