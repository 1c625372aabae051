//! The test client: a browser's cookie jar and identity, over `actix_web::test` or a real server.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix_http::Request;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::Cookie;
use actix_web::cookie::time::{Duration as CookieDuration, OffsetDateTime};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest};
use futures_core::Stream;

use crate::error::LoginError;
use crate::flash::FlashMessage;
use crate::login::{LoginOptions, login_user_with};
use crate::permission::Permission;
use crate::user::AuthUser;

// ---- what the runtime sees of a client: its pending login and the flashes of its session ----

/// The header that names the client a request comes from. The runtime only acts on it for a
/// client alive in this process (a random 128-bit name), so it means nothing to a server
/// without one.
const CLIENT_HEADER: &str = "x-login-runtime-test-client";

type PendingLogin = Box<dyn FnOnce(&HttpRequest) -> Result<(), LoginError> + Send>;

/// A permission set a client's user holds, by permission type; makes the `HashSet<P>` the
/// runtime caches per request.
type Grant = (TypeId, Box<dyn Fn() -> Rc<dyn Any> + Send>);

#[derive(Default)]
struct Shared {
    login: Option<PendingLogin>,
    flashes: Vec<FlashMessage>,
    grants: Vec<Grant>,
}

type Registry = Mutex<HashMap<String, Arc<Mutex<Shared>>>>;

fn registry() -> &'static Registry {
    static CLIENTS: OnceLock<Registry> = OnceLock::new();
    CLIENTS.get_or_init(Registry::default)
}

/// How many clients are alive: with none (every real application), the hooks below return at
/// once without looking at the request (the check inlined where they are called).
static LIVE: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn shared_of(req: &HttpRequest) -> Option<Arc<Mutex<Shared>>> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    client_of(req)
}

fn client_of(req: &HttpRequest) -> Option<Arc<Mutex<Shared>>> {
    let name = req.headers().get(CLIENT_HEADER)?.to_str().ok()?;
    registry().lock().ok()?.get(name).cloned()
}

/// Runs the login a client asked for, if this request is from such a client (called where the
/// request first looks for its user).
#[inline]
pub(crate) fn apply_pending_login(req: &HttpRequest) -> Result<(), LoginError> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    run_pending_login(req)
}

fn run_pending_login(req: &HttpRequest) -> Result<(), LoginError> {
    let Some(shared) = client_of(req) else { return Ok(()) };
    let login = shared.lock().map(|mut s| s.login.take()).unwrap_or_default();
    match login {
        Some(login) => login(req),
        None => Ok(()),
    }
}

/// The permissions of type `type_id` a client's user was given with
/// [`TestClient::grant`], if this request is from such a client.
pub(crate) fn granted(req: &HttpRequest, type_id: TypeId) -> Option<Rc<dyn Any>> {
    let shared = shared_of(req)?;
    let shared = shared.lock().ok()?;
    shared.grants.iter().find(|(id, _)| *id == type_id).map(|(_, make)| make())
}

/// `flash` ran on a request from a client.
pub(crate) fn flashed(req: &HttpRequest, message: &FlashMessage) {
    if let Some(shared) = shared_of(req)
        && let Ok(mut shared) = shared.lock()
    {
        shared.flashes.push(message.clone());
    }
}

/// The flashes of a client's session were taken (shown).
pub(crate) fn flashes_taken(req: &HttpRequest) {
    if let Some(shared) = shared_of(req)
        && let Ok(mut shared) = shared.lock()
    {
        shared.flashes.clear();
    }
}

/// A client's entry in the registry, removed when the client is dropped.
struct Entry {
    name: String,
    shared: Arc<Mutex<Shared>>,
}

impl Entry {
    fn new() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the system's random number generator");
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let shared = Arc::new(Mutex::new(Shared::default()));
        registry().lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), Arc::clone(&shared));
        LIVE.fetch_add(1, Ordering::Relaxed);
        Self { name, shared }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        registry().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.name);
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

// ---- the application under test ----

/// What a [`TestClient`] sends requests to: an `actix_web::test` service (what
/// `test::init_service` returns, or a [`TestApp`]) or a real server ([`TestServer`]).
pub trait TestTarget {
    /// Answers one request, read whole. An error from a service becomes its response, as
    /// actix-http's dispatcher does.
    fn respond(&self, req: Request) -> Pin<Box<dyn Future<Output = TestResponse> + '_>>;
}

impl<S, B> TestTarget for S
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    fn respond(&self, req: Request) -> Pin<Box<dyn Future<Output = TestResponse> + '_>> {
        Box::pin(async move {
            match self.call(req).await {
                Ok(res) => read(res.into_parts().1).await,
                Err(error) => read(error.error_response()).await,
            }
        })
    }
}

async fn read<B: MessageBody>(res: actix_web::HttpResponse<B>) -> TestResponse {
    let status = res.status();
    let headers = res.headers().clone();
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
    TestResponse { status, headers, body }
}

type Called = Pin<Box<dyn Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>>>;

/// An `actix_web::test` service with its type erased, for test helpers that build an app and
/// must name what they return. Cheap to clone.
#[derive(Clone)]
pub struct TestApp(Rc<dyn Fn(Request) -> Called>);

impl TestApp {
    /// An initialised `actix_web::test` service (`test::init_service(App::new()...).await`).
    pub fn service<S, B>(service: S) -> Self
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
        B: MessageBody + 'static,
    {
        let service = Rc::new(service);
        Self(Rc::new(move |req| {
            let service = Rc::clone(&service);
            Box::pin(async move { service.call(req).await.map(ServiceResponse::map_into_boxed_body) })
        }))
    }
}

impl Service<Request> for TestApp {
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Called;

    actix_web::dev::always_ready!();

    fn call(&self, req: Request) -> Called {
        (self.0)(req)
    }
}

/// A real server listening at an address (plain HTTP/1.1, one connection per request): an
/// `HttpServer` bound to a random loopback port.
///
/// ```
/// # #[cfg(feature = "test-client")] {
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::{App, HttpServer, cookie::Key, web};
/// use login_runtime::test::{TestClient, TestServer};
/// use login_runtime::{AuthUser, CurrentUser, LoginManager, user_loader};
///
/// #[derive(Clone, AuthUser)]
/// struct User { id: u64 }
///
/// #[user_loader]
/// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// async fn whoami(user: CurrentUser<User>) -> String {
///     user.get_id().unwrap_or_else(|| "anonymous".into())
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let manager = LoginManager::new(load_user);
/// let key = Key::generate();
/// let server = HttpServer::new(move || {
///     App::new()
///         .app_data(manager.clone())
///         // Not `Secure`-only: the test speaks plain http (the client would send it anyway).
///         .wrap(SessionMiddleware::builder(CookieSessionStore::default(), key.clone()).cookie_secure(false).build())
///         .wrap(manager.middleware())
///         .route("/whoami", web::get().to(whoami))
/// })
/// .workers(1)
/// .bind(("127.0.0.1", 0))
/// .unwrap();
/// let app = TestServer(server.addrs()[0]);
/// let server = server.run();
/// let handle = server.handle();
/// actix_web::rt::spawn(server);
///
/// let client = TestClient::new();
/// client.login_as(&User { id: 7 });
/// assert_eq!(client.get(&app, "/whoami").await.text(), "7");
/// assert_eq!(TestClient::new().get(&app, "/whoami").await.text(), "anonymous");
/// handle.stop(true).await;
/// # });
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TestServer(pub SocketAddr);

impl TestTarget for TestServer {
    fn respond(&self, req: Request) -> Pin<Box<dyn Future<Output = TestResponse> + '_>> {
        Box::pin(over_http(self.0, req))
    }
}

/// Sends `req` to `addr` over HTTP/1.1 (one connection per request, as `Connection: close`).
async fn over_http(addr: SocketAddr, mut req: Request) -> TestResponse {
    let mut payload = req.take_payload();
    let mut body = Vec::new();
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        body.extend_from_slice(&chunk.expect("a test request's body"));
    }
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        req.method(),
        req.uri().path_and_query().map_or("/", |p| p.as_str()),
        body.len()
    );
    for (name, value) in req.headers() {
        if name != header::HOST && name != header::CONNECTION && name != header::CONTENT_LENGTH {
            head.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
        }
    }
    head.push_str("\r\n");
    let head_request = req.method() == Method::HEAD;
    let raw = actix_web::rt::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Ok(raw)
    })
    .await
    .expect("the HTTP exchange's thread")
    .unwrap_or_else(|e| panic!("HTTP request to {addr} failed: {e}"));
    parse_response(&raw, head_request).unwrap_or_else(|| panic!("not an HTTP response from {addr}: {raw:?}"))
}

fn parse_response(raw: &[u8], head_request: bool) -> Option<TestResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(HeaderName::try_from(name.trim()).ok()?, HeaderValue::from_str(value.trim()).ok()?);
    }
    let rest = &raw[end + 4..];
    let body = if head_request {
        Vec::new()
    } else if headers.get(header::TRANSFER_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked")) {
        dechunk(rest)?
    } else {
        match headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
            Some(len) => rest.get(..len)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(TestResponse { status: StatusCode::from_u16(status).ok()?, headers, body: Bytes::from(body) })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

// ---- the cookie jar ----

/// A cookie as a browser keeps it.
#[derive(Clone, Debug)]
struct Kept {
    name: String,
    /// The value exactly as the server sent it.
    value: String,
    path: String,
    expires: Option<OffsetDateTime>,
}

impl Kept {
    fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// RFC 6265 5.1.4: the cookie's path is the request's path or a directory above it.
    fn matches(&self, request_path: &str) -> bool {
        request_path == self.path
            || request_path.starts_with(&self.path)
                && (self.path.ends_with('/') || request_path[self.path.len()..].starts_with('/'))
    }
}

/// RFC 6265 5.1.4's default path: the request path up to its last `/`.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path[..i].to_owned(),
    }
}

/// Whether a cookie from a `Set-Cookie` header removes the cookie: `Max-Age` of zero or
/// less, or an `Expires` that has passed.
pub fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie.max_age().is_some_and(|age| age <= CookieDuration::ZERO)
        || cookie.expires_datetime().is_some_and(|at| at <= OffsetDateTime::now_utc())
}

// ---- the client ----

/// The default client address of a [`TestClient`] over an `actix_web::test` service.
pub const CLIENT_IP: &str = "203.0.113.7";
/// The default user agent of a [`TestClient`].
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A browser for tests (Flask-Login's `FlaskLoginClient`): it keeps cookies as a browser does,
/// poses as one client (an address, a user agent, extra headers), logs in as a user without
/// the login form, and shows the messages flashed to its session.
///
/// The cookie jar follows RFC 6265 for one host: a `Set-Cookie` replaces the cookie of the same
/// name and path, `Max-Age` and `Expires` remove or expire it (against the system time, as a
/// browser would), a cookie goes only to paths under its `Path`, and values go back
/// byte-for-byte as the server sent them. `Secure` cookies are sent over plain http, as
/// browsers do for `localhost`: a test server is on loopback. `Domain` is not checked.
///
/// The same client works over an `actix_web::test` service and over a real `HttpServer`
/// ([`TestTarget`]). Over a real server the client's address is the real loopback address:
/// [`set_ip`](Self::set_ip) applies to `actix_web::test` services only.
///
/// Needs the `test-client` feature (a dev-dependency feature:
/// `login-runtime = { version = "0.1", features = ["test-client"] }` under
/// `[dev-dependencies]`).
pub struct TestClient {
    cookies: RefCell<Vec<Kept>>,
    peer: RefCell<SocketAddr>,
    agent: RefCell<Option<String>>,
    headers: RefCell<Vec<(String, String)>>,
    entry: Entry,
}

impl Default for TestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClient {
    /// A client at [`CLIENT_IP`] with the [`USER_AGENT`] of a desktop browser and no cookies.
    pub fn new() -> Self {
        Self {
            cookies: RefCell::default(),
            peer: RefCell::new(SocketAddr::new(CLIENT_IP.parse().expect("an IP address"), 40_000)),
            agent: RefCell::new(Some(USER_AGENT.to_owned())),
            headers: RefCell::default(),
            entry: Entry::new(),
        }
    }

    /// Another client with the same cookies and identity (a stolen cookie, a second tab). Its
    /// flashed messages and pending login are its own from here on.
    pub fn fork(&self) -> Self {
        Self {
            cookies: RefCell::new(self.cookies.borrow().clone()),
            peer: RefCell::new(*self.peer.borrow()),
            agent: RefCell::new(self.agent.borrow().clone()),
            headers: RefCell::new(self.headers.borrow().clone()),
            entry: Entry::new(),
        }
    }

    // ---- logging in without the form ----

    /// Logs in as `user`, fresh and without a remember cookie, on the next request that looks
    /// for its user (Flask-Login's `client(user=u)`).
    pub fn login_as<U: AuthUser + Clone + Send + 'static>(&self, user: &U) {
        self.login_as_with(user, LoginOptions::new());
    }

    /// Logs in as `user` with `options` (`fresh(false)` for a login as if restored from a
    /// remember cookie, `remember(true)` for a remember cookie), on the next request of this
    /// client that looks for its user: [`login_user_with`] runs on that request, as if the
    /// login form had been posted just before, so the login has the client identity session
    /// protection expects, is listed in the login registry, and sends its events. Replaces a
    /// login asked for earlier and not made yet.
    pub fn login_as_with<U: AuthUser + Clone + Send + 'static>(&self, user: &U, options: LoginOptions) {
        let user = user.clone();
        self.entry.shared().login = Some(Box::new(move |req| login_user_with(req, &user, options)));
    }

    /// Gives the logged-in user of this client exactly these permissions of type `P`, on this
    /// client's requests from now on, whatever the application's sources (its
    /// [permission loader](crate::LoginManager::permission_loader), the user's
    /// `#[auth_user(permissions)]` fields) say. Replaces an earlier grant of the same type;
    /// an empty list is "none of them".
    ///
    /// ```
    /// # #[cfg(feature = "test-client")] {
    /// use login_runtime::Permission;
    /// use login_runtime::test::TestClient;
    ///
    /// #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    /// enum Role { Admin }
    /// impl Permission for Role {}
    ///
    /// let client = TestClient::new();
    /// client.grant([Role::Admin]); // with `login_as(&user)`, a logged-in admin
    /// # }
    /// ```
    pub fn grant<P: Permission + Clone + Send + Sync>(&self, permissions: impl IntoIterator<Item = P>) {
        let set: HashSet<P> = permissions.into_iter().collect();
        let type_id = TypeId::of::<P>();
        let mut shared = self.entry.shared();
        shared.grants.retain(|(id, _)| *id != type_id);
        shared.grants.push((type_id, Box::new(move || Rc::new(set.clone()) as Rc<dyn Any>)));
    }

    /// [`login_as`](Self::login_as) `user`, holding exactly `permissions` (see
    /// [`grant`](Self::grant)).
    pub fn login_with_permissions<U, P>(&self, user: &U, permissions: impl IntoIterator<Item = P>)
    where
        U: AuthUser + Clone + Send + 'static,
        P: Permission + Clone + Send + Sync,
    {
        self.login_as(user);
        self.grant(permissions);
    }

    /// Whether a login asked for with [`login_as`](Self::login_as) is still waiting for a
    /// request that looks for the user.
    pub fn login_pending(&self) -> bool {
        self.entry.shared().login.is_some()
    }

    // ---- flashed messages ----

    /// The messages flashed to this client's session and not shown yet (Flask's
    /// `get_flashed_messages` without taking them).
    pub fn flashes(&self) -> Vec<FlashMessage> {
        self.entry.shared().flashes.clone()
    }

    // ---- identity ----

    /// The client's address (over `actix_web::test` services; a real server sees loopback).
    pub fn set_ip(&self, ip: IpAddr) {
        self.peer.borrow_mut().set_ip(ip);
    }

    /// The `User-Agent` header sent, or none.
    pub fn set_agent(&self, agent: Option<&str>) {
        *self.agent.borrow_mut() = agent.map(str::to_owned);
    }

    /// Sends this header with every request from now on (replacing an earlier value).
    pub fn set_header(&self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.borrow_mut().push((name.to_owned(), value.to_owned()));
    }

    /// Stops sending a header set with [`set_header`](Self::set_header).
    pub fn remove_header(&self, name: &str) {
        self.headers.borrow_mut().retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    // ---- cookies ----

    /// The value of a live cookie the client holds (of the longest path, if several).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let now = OffsetDateTime::now_utc();
        let cookies = self.cookies.borrow();
        let mut found: Vec<_> = cookies.iter().filter(|c| c.name == name && !c.expired(now)).collect();
        found.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        found.first().map(|c| c.value.clone())
    }

    /// The names of the live cookies the client holds, sorted.
    pub fn cookie_names(&self) -> Vec<String> {
        let now = OffsetDateTime::now_utc();
        let mut names: Vec<_> =
            self.cookies.borrow().iter().filter(|c| !c.expired(now)).map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Sets a cookie (path `/`, no expiry), as if a server had.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.store(Kept { name: name.into(), value: value.into(), path: "/".into(), expires: None });
    }

    /// Forgets a cookie, whatever its path.
    pub fn remove_cookie(&self, name: &str) {
        self.cookies.borrow_mut().retain(|c| c.name != name);
    }

    /// Keeps only these cookies (e.g. only the remember cookie: the browser was closed, which
    /// is also what [`close_browser`](Self::close_browser) does).
    pub fn keep_only(&self, names: &[&str]) {
        self.cookies.borrow_mut().retain(|c| names.contains(&c.name.as_str()));
    }

    /// Closes the browser: session cookies (those without `Max-Age` or `Expires`) go.
    pub fn close_browser(&self) {
        self.cookies.borrow_mut().retain(|c| c.expires.is_some());
    }

    fn store(&self, cookie: Kept) {
        let mut cookies = self.cookies.borrow_mut();
        cookies.retain(|c| !(c.name == cookie.name && c.path == cookie.path));
        cookies.push(cookie);
    }

    fn keep(&self, res: &TestResponse, request_path: &str) {
        let now = OffsetDateTime::now_utc();
        for value in res.headers.get_all(header::SET_COOKIE) {
            let Some(cookie) = value.to_str().ok().and_then(|v| Cookie::parse(v.to_owned()).ok()) else { continue };
            let path = match cookie.path() {
                Some(path) if path.starts_with('/') => path.to_owned(),
                _ => default_path(request_path),
            };
            if is_removal(&cookie) {
                self.cookies.borrow_mut().retain(|c| !(c.name == cookie.name() && c.path == path));
                continue;
            }
            // Max-Age wins over Expires (RFC 6265 5.3 step 3).
            let expires = match cookie.max_age() {
                Some(age) => Some(now.saturating_add(age)),
                None => cookie.expires_datetime(),
            };
            self.store(Kept { name: cookie.name().to_owned(), value: cookie.value().to_owned(), path, expires });
        }
    }

    // ---- requests ----

    /// Adds the cookies for the request's path, the client's identity and extra headers.
    fn prepare(&self, req: &mut Request) {
        req.head_mut().peer_addr = Some(*self.peer.borrow());
        let headers = req.headers_mut();
        let mut put = |name: &str, value: &str| match (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => headers.insert(name, value),
            _ => panic!("not a valid header: {name}: {value:?}"),
        };
        if let Some(agent) = self.agent.borrow().as_deref() {
            put("user-agent", agent);
        }
        for (name, value) in self.headers.borrow().iter() {
            put(name, value);
        }
        put(CLIENT_HEADER, &self.entry.name);
        let now = OffsetDateTime::now_utc();
        self.cookies.borrow_mut().retain(|c| !c.expired(now));
        let path = req.path().to_owned();
        let mut cookies: Vec<_> = self.cookies.borrow().iter().filter(|c| c.matches(&path)).cloned().collect();
        // RFC 6265 5.4: longer paths first.
        cookies.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        if !cookies.is_empty() {
            let pairs: Vec<_> = cookies.iter().map(|c| format!("{}={}", c.name, c.value)).collect();
            req.headers_mut().insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).expect("cookie values"));
        }
    }

    /// Sends `req` (built with `actix_web::test::TestRequest`: method, uri, body, headers) to
    /// `app` with the client's cookies and identity, and keeps the cookies the response sets.
    /// Redirects are not followed.
    pub async fn send(&self, app: &impl TestTarget, req: TestRequest) -> TestResponse {
        self.send_request(app, req.to_request()).await
    }

    /// [`send`](Self::send) for a request already built (`TestRequest::to_request()`, e.g.
    /// with [`TestLoginExt`](super::TestLoginExt)).
    pub async fn send_request(&self, app: &impl TestTarget, mut req: Request) -> TestResponse {
        self.prepare(&mut req);
        let path = req.path().to_owned();
        let res = app.respond(req).await;
        self.keep(&res, &path);
        res
    }

    /// `GET uri`.
    pub async fn get(&self, app: &impl TestTarget, uri: &str) -> TestResponse {
        self.send(app, TestRequest::get().uri(uri)).await
    }

    /// `POST uri` with no body.
    pub async fn post(&self, app: &impl TestTarget, uri: &str) -> TestResponse {
        self.send(app, TestRequest::post().uri(uri)).await
    }

    /// `POST uri` with a form body.
    pub async fn post_form<T: serde::Serialize>(&self, app: &impl TestTarget, uri: &str, form: &T) -> TestResponse {
        self.send(app, TestRequest::post().uri(uri).set_form(form)).await
    }
}

/// A response a [`TestClient`] received, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The raw `Set-Cookie` headers.
    pub fn set_cookie_headers(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    /// The `Set-Cookie` headers for the cookie `name`, parsed.
    pub fn set_cookies(&self, name: &str) -> Vec<Cookie<'static>> {
        self.set_cookie_headers()
            .into_iter()
            .filter_map(|h| Cookie::parse(h).ok())
            .filter(|c| c.name() == name)
            .collect()
    }

    /// The one `Set-Cookie` for `name`, if any (panics if there are several).
    pub fn set_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        let mut all = self.set_cookies(name);
        assert!(all.len() <= 1, "several Set-Cookie for {name}: {:?}", self.set_cookie_headers());
        all.pop()
    }

    /// The raw `Set-Cookie` header for `name`, exactly as sent.
    pub fn raw_set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookie_headers().into_iter().find(|h| h.split_once('=').is_some_and(|(n, _)| n.trim() == name))
    }

    /// Whether the response removes the cookie `name`.
    pub fn clears(&self, name: &str) -> bool {
        self.set_cookies(name).iter().any(is_removal)
    }

    /// Whether the response sets the cookie `name` to a value (not a removal).
    pub fn sets(&self, name: &str) -> bool {
        self.set_cookies(name).iter().any(|c| !is_removal(c))
    }
}
