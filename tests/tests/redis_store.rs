//! Sessions in Redis (actix-session's `RedisSessionStore`), where the login state lives once an
//! application outgrows one machine: what is stored and when it is written, and what a
//! server-side store adds to the cookie store: a login, a logout or an ended login deletes the
//! old session, so a cookie captured before it is worth nothing afterwards.
//!
//! Each test starts its own `redis-server` (a random loopback port, no persistence; killed when
//! the test ends, or when the test process dies), serves the `security_*` test app (`support`)
//! with the Redis store on a real `HttpServer`, drives it with the test client over HTTP, and looks into Redis
//! with a small RESP client: the keys and the stored sessions, and `INFO commandstats` to count
//! the writes. Time-dependent behaviour runs on the injected `ManualClock`.
//!
//! Without `redis-server` on `PATH` every test says so on stderr and passes, unless
//! `LOGIN_TESTS_REQUIRE_REDIS=1` (CI) makes that a failure.

mod concurrency;
mod support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use actix_session::SessionMiddleware;
use actix_session::storage::RedisSessionStore;
use actix_web::cookie::{Cookie, CookieJar};
use actix_web::dev::ServerHandle;
use actix_web::test::TestRequest;
use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use login_runtime::test::{TestServer, TestTarget};
use login_runtime::{LoginEventKind, LoginManager, SessionProtection, flash};
use support::{ADA, BOB, CURL, Client, Db, Env, Reply, SESSION, T0, TestResponse, routes, session_key};

// ---- a redis-server of our own ----

const MISSING: &str = "redis-server not found; apt-get install redis-server";

/// Runs `redis-server "$@"` and kills it as soon as this shell's stdin reaches end of file:
/// when the guard closes the pipe, and also when the test process dies without unwinding (the
/// kernel closes the pipe then), so no server outlives the tests. The shell itself ends with
/// the server, which tells the guard that a server died at start.
const WATCHDOG: &str = r#"exec 3<&0 </dev/null
redis-server "$@" 3<&- &
pid=$!
{ read -r _ <&3; kill "$pid" 2>/dev/null; } &
exec 3<&-
wait "$pid""#;

/// A `redis-server` on `127.0.0.1:<port>`, stopped on drop.
struct RedisServer {
    port: u16,
    watchdog: Child,
    log: PathBuf,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`; `None` (after saying so on stderr)
    /// when `redis-server` is not installed, unless `LOGIN_TESTS_REQUIRE_REDIS=1`.
    fn start() -> Option<Self> {
        if !on_path("redis-server") {
            if std::env::var("LOGIN_TESTS_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("{MISSING} (and LOGIN_TESTS_REQUIRE_REDIS=1)");
            }
            // Straight to stderr, past the test harness's capture of `eprintln!`: visible in
            // every run.
            let _ = writeln!(io::stderr(), "skipping: {MISSING}");
            return None;
        }
        let mut failures = Vec::new();
        // A port found free can be taken before the server binds it: then try another.
        for _ in 0..3 {
            let mut server = Self::spawn(free_port());
            match server.wait_for_ping(Duration::from_secs(10)) {
                Ok(()) => return Some(server),
                Err(error) => failures.push(format!("port {}: {error}; log: {}", server.port, server.log_text())),
            }
        }
        panic!("redis-server did not start:\n{}", failures.join("\n"));
    }

    fn spawn(port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("login-tests-redis-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("create the redis-server log file");
        let dir = std::env::temp_dir();
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "redis-watchdog"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file)
            .spawn()
            .expect("run sh");
        Self { port, watchdog, log }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_for_ping(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match Redis::connect(self.port).and_then(|redis| redis.call(&["PING"])) {
                Ok(Resp::Text(pong)) if pong == "PONG" => return Ok(()),
                Ok(other) => last = format!("PING answered {other:?}"),
                Err(error) => last = error.to_string(),
            }
            if let Ok(Some(status)) = self.watchdog.try_wait() {
                return Err(format!("the server exited ({status}; {last})"));
            }
            std::thread::sleep(Duration::from_millis(10)); // polling the start, not a test's clock
        }
        Err(format!("no PONG within {within:?} ({last})"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        drop(self.watchdog.stdin.take()); // end of file: the watchdog kills the server...
        let _ = self.watchdog.wait(); // ...and ends once the server has
        let _ = std::fs::remove_file(&self.log);
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

// ---- looking into Redis: a small RESP client ----

#[derive(Debug, PartialEq)]
enum Resp {
    Nil,
    Text(String),
    Int(i64),
    Array(Vec<Resp>),
}

struct Redis(RefCell<BufReader<TcpStream>>);

impl Redis {
    fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self(RefCell::new(BufReader::new(stream))))
    }

    /// Sends one command, returns its answer (a Redis error is an `Err`).
    fn call(&self, args: &[&str]) -> io::Result<Resp> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let mut reader = self.0.borrow_mut();
        reader.get_mut().write_all(request.as_bytes())?;
        read_resp(&mut reader)
    }

    fn must(&self, args: &[&str]) -> Resp {
        self.call(args).unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// Every key in the database.
    fn keys(&self) -> BTreeSet<String> {
        match self.must(&["KEYS", "*"]) {
            Resp::Array(keys) => keys
                .into_iter()
                .map(|k| match k {
                    Resp::Text(k) => k,
                    other => panic!("a key: {other:?}"),
                })
                .collect(),
            other => panic!("KEYS answered {other:?}"),
        }
    }

    /// The one key in the database.
    fn only_key(&self) -> String {
        let keys = self.keys();
        assert_eq!(keys.len(), 1, "one session stored, not {keys:?}");
        keys.into_iter().next().unwrap()
    }

    fn dbsize(&self) -> i64 {
        match self.must(&["DBSIZE"]) {
            Resp::Int(n) => n,
            other => panic!("DBSIZE answered {other:?}"),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        match self.must(&["GET", key]) {
            Resp::Nil => None,
            Resp::Text(value) => Some(value),
            other => panic!("GET answered {other:?}"),
        }
    }

    fn ttl(&self, key: &str) -> i64 {
        match self.must(&["TTL", key]) {
            Resp::Int(n) => n,
            other => panic!("TTL answered {other:?}"),
        }
    }

    /// The session stored under `key` (actix-session keeps a JSON map of JSON texts).
    fn session(&self, key: &str) -> BTreeMap<String, String> {
        let value = self.get(key).unwrap_or_else(|| panic!("no session under {key}"));
        serde_json::from_str(&value).unwrap_or_else(|e| panic!("not a session ({e}): {value}"))
    }

    /// Calls per command since the server started (`INFO commandstats`), lower case.
    fn command_calls(&self) -> BTreeMap<String, u64> {
        let Resp::Text(info) = self.must(&["INFO", "commandstats"]) else { panic!("INFO answered no text") };
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?.parse().ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }

    /// The calls of the commands that write or expire keys.
    fn writes(&self) -> Writes {
        const WRITES: [&str; 12] = [
            "set", "setex", "psetex", "setnx", "getset", "getex", "getdel", "expire", "pexpire", "expireat", "del",
            "unlink",
        ];
        let calls = self.command_calls();
        Writes(WRITES.iter().map(|&c| (c.to_owned(), calls.get(c).copied().unwrap_or(0))).collect())
    }

    /// `(key, session)` for every session that holds a login.
    fn logins(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.keys().into_iter().map(|k| (k.clone(), self.session(&k))).filter(|(_, s)| login_of(s).is_some()).collect()
    }
}

fn read_resp(reader: &mut BufReader<TcpStream>) -> io::Result<Resp> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "redis closed the connection"));
    }
    let line = line.trim_end_matches("\r\n");
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("not RESP: {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    match kind {
        "+" => Ok(Resp::Text(rest.to_owned())),
        "-" => Err(io::Error::other(format!("redis error: {rest}"))),
        ":" => rest.parse().map(Resp::Int).map_err(|_| bad()),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            let Ok(len) = usize::try_from(len) else { return Ok(Resp::Nil) };
            let mut bytes = vec![0; len + 2];
            reader.read_exact(&mut bytes)?;
            bytes.truncate(len);
            String::from_utf8(bytes).map(Resp::Text).map_err(|_| bad())
        }
        "*" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            let Ok(len) = usize::try_from(len) else { return Ok(Resp::Nil) };
            (0..len).map(|_| read_resp(reader)).collect::<io::Result<_>>().map(Resp::Array)
        }
        _ => Err(bad()),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.borrow().get_ref().shutdown(Shutdown::Both);
    }
}

/// Write-command calls, by command.
#[derive(Clone, Debug, PartialEq)]
struct Writes(BTreeMap<String, u64>);

impl Writes {
    /// The calls made since `before`, of the commands that had any.
    fn since(&self, before: &Writes) -> BTreeMap<String, u64> {
        self.0.iter().map(|(c, n)| (c.clone(), n - before.0[c])).filter(|(_, n)| *n > 0).collect()
    }
}

/// The login entry of a stored session (the runtime keeps it under a `_u:` key), if any.
fn login_of(session: &BTreeMap<String, String>) -> Option<&str> {
    session.keys().find(|k| k.starts_with("_u:")).map(String::as_str)
}

/// The session key a session cookie carries: it is encrypted with the session key (actix's
/// "private" cookies), so decrypting it shows everything the cookie holds. `value` is as sent
/// (percent-encoded).
fn key_in_cookie(value: &str) -> String {
    let cookie = Cookie::parse_encoded(format!("{SESSION}={value}")).expect("a cookie").into_owned();
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let cookie = jar.private(&session_key()).get(SESSION).expect("the session cookie decrypts with the session key");
    cookie.value().to_owned()
}

// ---- the site, on a real server, with the session in Redis ----

/// The `support` app, plus a route that writes the session late (see
/// [`caveat_a_session_write_in_flight_during_logout_resurrects_the_login`]).
struct Site {
    server: TestServer,
    handle: ServerHandle,
    redis: Redis,
    held: web::Data<Held>,
}

impl Site {
    /// Serves the app with one worker on `127.0.0.1:<random port>`, sessions in `redis`.
    async fn start(redis: &RedisServer, login: LoginManager, db: web::Data<Db>) -> Self {
        let store = RedisSessionStore::new(redis.url()).await.expect("connect the session store to redis");
        let held = web::Data::new(Held::default());
        let app_held = held.clone();
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(login.clone())
                .app_data(db.clone())
                .app_data(app_held.clone())
                // `cookie_secure(false)`: plain http on loopback.
                .wrap(SessionMiddleware::builder(store.clone(), session_key()).cookie_secure(false).build())
                .wrap(login.middleware())
                .configure(routes)
                .route("/held-flash", web::post().to(held_flash))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind a loopback port");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let redis = Redis::connect(redis.port).expect("connect to redis");
        Self { server: TestServer(addr), handle, redis, held }
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A latch: `wait` until some thread calls `open`.
#[derive(Clone, Default)]
struct Latch(Arc<Mutex<(bool, Vec<Waker>)>>);

impl Latch {
    fn open(&self) {
        let mut state = self.0.lock().unwrap();
        state.0 = true;
        state.1.drain(..).for_each(Waker::wake);
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// Holds `/held-flash` between loading the session and writing it.
#[derive(Default)]
struct Held {
    entered: Latch,
    release: Latch,
}

/// A request in flight: the session middleware loaded the session before the handler ran; the
/// handler waits for the test, then writes a flash message.
async fn held_flash(req: HttpRequest, held: web::Data<Held>) -> actix_web::Result<HttpResponse> {
    held.entered.open();
    held.release.wait().await;
    flash(&req, "written late", "info")?;
    Ok(HttpResponse::Ok().body("flashed"))
}

// ---- the test client, with what these tests look at ----

impl TestTarget for Site {
    fn respond(&self, req: actix_http::Request) -> Pin<Box<dyn Future<Output = TestResponse> + '_>> {
        self.server.respond(req)
    }
}

/// Whether the response sets (or removes) the session cookie.
fn writes_session_cookie(reply: &Reply) -> bool {
    !reply.set_cookies(SESSION).is_empty()
}

/// What these tests ask of a [`Client`] against a [`Site`].
trait AtSite {
    /// The Redis key this client's session cookie names.
    fn session_key(&self) -> String;
    /// `/secret` (`#[login_required]`) lets us in.
    async fn assert_let_in(&self, site: &Site, user: &str);
    /// `/secret` sends us to the login view, and answers a JSON client 401.
    async fn assert_turned_away(&self, site: &Site);
}

impl AtSite for Client {
    fn session_key(&self) -> String {
        key_in_cookie(&self.cookie(SESSION).expect("a session cookie"))
    }

    async fn assert_let_in(&self, site: &Site, user: &str) {
        let page = self.get(site, "/secret").await;
        assert_eq!((page.status.as_u16(), page.body.as_str()), (200, format!("secret of {user}").as_str()), "{page:?}");
    }

    async fn assert_turned_away(&self, site: &Site) {
        let page = self.get(site, "/secret").await;
        assert_eq!((page.status.as_u16(), page.location()), (302, Some("/login?next=%2Fsecret")), "{page:?}");
        let page =
            self.send(site, TestRequest::get().uri("/secret").insert_header(("accept", "application/json"))).await;
        assert_eq!(page.status.as_u16(), 401, "{page:?}");
    }
}

/// Starts a redis-server, or skips the test (see [`RedisServer::start`]).
macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

// ---- the tests ----

#[actix_web::test]
async fn login_stores_one_session_in_redis_and_the_cookie_carries_only_its_key() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let b = Client::new();

    // A visitor that stores nothing gets no session, in Redis or in a cookie.
    let page = b.get(&site, "/public").await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(!writes_session_cookie(&page), "{page:?}");
    assert_eq!(site.redis.dbsize(), 0);

    let before = site.redis.writes();
    let page = b.login(&site, ADA).await;
    assert!(writes_session_cookie(&page), "{page:?}");
    assert_eq!(site.redis.writes().since(&before), BTreeMap::from([("set".into(), 1)]), "one SET, nothing else");

    // One session in Redis, holding the login of ada, with actix-session's time to live.
    assert_eq!(site.redis.dbsize(), 1);
    let key = site.redis.only_key();
    let session = site.redis.session(&key);
    let login = login_of(&session).unwrap_or_else(|| panic!("no login in {session:?}"));
    assert!(login.ends_with(ADA), "{login}");
    assert_eq!(session.len(), 1, "nothing but the login: {session:?}");
    let ttl = site.redis.ttl(&key);
    assert!((86_000..=86_400).contains(&ttl), "a day, actix-session's default state TTL: {ttl}");

    // The cookie holds that key and nothing else: no user id, no login record.
    let in_cookie = b.session_key();
    assert_eq!(in_cookie, key, "the cookie names the Redis session");
    assert!(in_cookie.bytes().all(|c| c.is_ascii_alphanumeric()), "{in_cookie}");
    assert!(!b.cookie(SESSION).expect("a session cookie").contains(ADA));

    b.assert_let_in(&site, ADA).await;
    assert_eq!(b.whoami(&site).await, "user:ada");
    // Without the cookie, nobody is logged in.
    Client::new().assert_turned_away(&site).await;

    site.stop().await;
}

#[actix_web::test]
async fn read_only_authenticated_requests_write_nothing_to_redis() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let b = Client::new();
    b.login(&site, ADA).await;
    let key = site.redis.only_key();
    let stored = site.redis.get(&key);
    let before = site.redis.writes();
    let gets_before = site.redis.command_calls()["get"];

    for i in 0..50 {
        let (path, body) = [
            ("/secret", "secret of ada"),
            ("/whoami", "user:ada"),
            ("/state", "user:ada fresh:true"),
            ("/fresh", "fresh area of ada"),
            ("/public", "public"),
        ][i % 5];
        env.advance(1);
        let page = b.get(&site, path).await;
        assert_eq!((page.status.as_u16(), page.body.as_str()), (200, body), "request {i}: {page:?}");
        assert!(page.set_cookie_headers().is_empty(), "request {i} to {path} set a cookie: {page:?}");
    }

    assert_eq!(site.redis.command_calls()["get"] - gets_before, 50, "one GET a request: the session load");
    assert_eq!(site.redis.writes().since(&before), BTreeMap::new(), "no SET, EXPIRE or DEL");
    assert_eq!(site.redis.keys(), BTreeSet::from([key.clone()]));
    assert_eq!(site.redis.get(&key), stored, "the stored session is untouched");

    site.stop().await;
}

#[actix_web::test]
async fn login_renews_the_session_key_and_deletes_the_session_from_before() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let b = Client::new();

    // An anonymous visit that stores something: an item in the cart (a refused request of a
    // client without a session stores nothing, issue 14). That session is in Redis, and its
    // cookie is what an attacker would plant (session fixation) or copy before the login.
    let page = b.post(&site, "/cart/book").await;
    assert_eq!(page.status.as_u16(), 200, "{page:?}");
    let anonymous_key = site.redis.only_key();
    assert_eq!(b.session_key(), anonymous_key);
    assert!(site.redis.session(&anonymous_key).contains_key("cart"));
    let planted = b.fork();

    let before = site.redis.writes();
    b.login(&site, ADA).await;
    let writes = site.redis.writes().since(&before);
    assert_eq!(
        writes,
        BTreeMap::from([("del".into(), 1), ("set".into(), 1)]),
        "the old session deleted, a new one saved"
    );

    // The session from before is gone from Redis; the one left holds the login under a new key.
    let key = site.redis.only_key();
    assert_ne!(key, anonymous_key);
    assert_eq!(site.redis.get(&anonymous_key), None);
    assert_eq!(b.session_key(), key);
    let session = site.redis.session(&key);
    assert!(login_of(&session).is_some_and(|l| l.ends_with(ADA)), "{session:?}");
    assert!(session.contains_key("cart"), "renewal keeps the session's data: {session:?}");
    b.assert_let_in(&site, ADA).await;

    // The old cookie is not logged in: it names nothing.
    assert_eq!(planted.whoami(&site).await, "anonymous");
    planted.assert_turned_away(&site).await;
    assert_eq!(site.redis.logins().len(), 1, "only the browser that logged in holds the login");

    site.stop().await;
}

#[actix_web::test]
async fn logout_ends_the_login_server_side_and_a_cookie_captured_before_is_anonymous() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let b = Client::new();
    b.login(&site, ADA).await;
    b.assert_let_in(&site, ADA).await;
    let key = site.redis.only_key();
    // A copy of the cookie taken while logged in: another tab, a proxy log, a thief.
    let captured = b.fork();

    let page = b.post(&site, "/logout").await;
    assert_eq!((page.status.as_u16(), page.body.as_str()), (200, "logged out"));
    assert!(writes_session_cookie(&page), "the browser gets a new session id: {page:?}");
    assert_eq!(site.redis.get(&key), None, "the logged-in session is deleted");
    assert!(site.redis.logins().is_empty(), "no login left in Redis: {:?}", site.redis.logins());
    assert_ne!(b.session_key(), key);
    assert_eq!(b.whoami(&site).await, "anonymous");

    // Replaying the captured cookie: anonymous, refused. (With the cookie store the captured
    // cookie still holds the login: only a session-hash change could end it.)
    assert_eq!(captured.whoami(&site).await, "anonymous");
    captured.assert_turned_away(&site).await;
    assert!(site.redis.logins().is_empty());

    site.stop().await;
}

#[actix_web::test]
async fn a_new_session_hash_logs_out_every_other_session_in_redis() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let (laptop, phone, bob) = (Client::new(), Client::new(), Client::new());
    laptop.login(&site, ADA).await;
    phone.login(&site, ADA).await;
    bob.login(&site, BOB).await;
    assert_eq!(site.redis.logins().len(), 3);
    let (laptop_key, phone_key, bob_key) = (laptop.session_key(), phone.session_key(), bob.session_key());
    let bob_session = site.redis.get(&bob_key);

    // "Log out everywhere": ada's session hash changes.
    env.db.bump_epoch(ADA);

    // Each of ada's sessions ends on its next request: the login is dropped and the session
    // renewed, so the stored login is deleted.
    assert_eq!(laptop.whoami(&site).await, "anonymous");
    assert_eq!(site.redis.get(&laptop_key), None);
    phone.assert_turned_away(&site).await;
    assert_eq!(site.redis.get(&phone_key), None);
    let left: Vec<String> = site.redis.logins().into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, std::slice::from_ref(&bob_key), "only bob's login is left in Redis");

    // Bob is not touched; ada can log in again.
    bob.assert_let_in(&site, BOB).await;
    assert_eq!(site.redis.get(&bob_key), bob_session);
    laptop.login(&site, ADA).await;
    laptop.assert_let_in(&site, ADA).await;
    phone.assert_turned_away(&site).await;

    site.stop().await;
}

#[actix_web::test]
async fn idle_timeout_writes_the_visit_at_most_once_per_interval_and_ends_an_idle_login() {
    const IDLE: u64 = 600;
    const INTERVAL: u64 = 60; // the default: a tenth of the idle timeout, at most a minute
    let redis = redis_or_skip!();
    let env = Env::new();
    let login = env.bare_manager().idle_timeout(Duration::from_secs(IDLE));
    let site = Site::start(&redis, login, env.db.clone()).await;
    let b = Client::new();
    b.login(&site, ADA).await;
    let key = site.redis.only_key();

    // Half an hour of activity, a request every 10 seconds: the visit is written once a minute.
    let before = site.redis.writes();
    let mut written_at = vec![T0];
    for i in 0..180 {
        env.advance(10);
        let stored = site.redis.get(&key);
        let page = b.get(&site, "/whoami").await;
        assert_eq!((page.status.as_u16(), page.body.as_str()), (200, "user:ada"), "request {i}");
        if writes_session_cookie(&page) {
            assert_ne!(site.redis.get(&key), stored, "request {i}: a Set-Cookie, but nothing stored");
            written_at.push(env.clock_secs());
        } else {
            assert_eq!(site.redis.get(&key), stored, "request {i}: stored without a Set-Cookie");
        }
    }
    let gaps: BTreeSet<u64> = written_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, BTreeSet::from([INTERVAL]), "written at {written_at:?}");
    assert_eq!(written_at.len() - 1, 30);
    // Each write is one SET on the same key (actix-session's update): no EXPIRE, no DEL.
    assert_eq!(site.redis.writes().since(&before), BTreeMap::from([("set".into(), 30)]));
    assert_eq!(site.redis.keys(), BTreeSet::from([key.clone()]));

    // Idle for longer than the timeout: the login ends, and the stored login goes with it.
    env.advance(IDLE + 1);
    assert_eq!(b.whoami(&site).await, "anonymous");
    assert_eq!(site.redis.get(&key), None, "the idle session is deleted");
    assert!(site.redis.logins().is_empty(), "{:?}", site.redis.logins());
    b.assert_turned_away(&site).await;

    site.stop().await;
}

#[actix_web::test]
async fn strong_protection_ends_a_login_used_by_another_client_and_keeps_the_other_data() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let login = env.bare_manager().session_protection(SessionProtection::Strong);
    let site = Site::start(&redis, login, env.db.clone()).await;
    let owner = Client::new();
    owner.login(&site, ADA).await;
    assert_eq!(owner.post(&site, "/cart/spoon").await.body, "ok");
    let key = site.redis.only_key();
    let session = site.redis.session(&key);
    assert!(login_of(&session).is_some(), "{session:?}");
    assert_eq!(session.get("cart").map(String::as_str), Some(r#""spoon""#));
    assert_eq!(owner.whoami(&site).await, "user:ada", "the same client keeps its login");

    // The cookie, used by another client (another user agent).
    let thief = owner.fork();
    thief.set_agent(CURL);
    assert_eq!(thief.whoami(&site).await, "anonymous");
    let seen = env.events.of(LoginEventKind::SessionProtected);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].user_id.as_deref(), Some(ADA));

    // The stored session no longer carries the login (it was renewed: the old key is gone),
    // and keeps the rest.
    assert_eq!(site.redis.get(&key), None);
    let renewed = site.redis.only_key();
    assert_eq!(thief.session_key(), renewed);
    let session = site.redis.session(&renewed);
    assert_eq!(login_of(&session), None, "{session:?}");
    assert_eq!(session.get("cart").map(String::as_str), Some(r#""spoon""#), "{session:?}");
    assert_eq!(thief.get(&site, "/cart").await.body, "spoon");
    thief.assert_turned_away(&site).await;

    // With the session in Redis, ending the login ends it for the owner's cookie too (with the
    // cookie store the owner's own cookie would still hold it).
    assert_eq!(owner.whoami(&site).await, "anonymous");
    assert!(site.redis.logins().is_empty());

    site.stop().await;
}

/// The caveat the README documents: a request that loaded the session before a logout and
/// writes it after (a flash here; an idle-timeout visit write likewise) finds its key gone, and
/// actix-session's `update` then saves the whole old state, login included, under a new key.
/// The session-hash check is what ends such a login: a password change or "log out
/// everywhere".
#[actix_web::test]
async fn caveat_a_session_write_in_flight_during_logout_resurrects_the_login() {
    let redis = redis_or_skip!();
    let env = Env::new();
    let site = Site::start(&redis, env.bare_manager(), env.db.clone()).await;
    let b = Client::new();
    b.login(&site, ADA).await;
    let key = site.redis.only_key();

    // A request from another tab is in flight: its session (with the login) is loaded.
    let tab = b.fork();
    let server = site.server;
    let in_flight = actix_web::rt::spawn(async move { tab.post(&server, "/held-flash").await });
    site.held.entered.wait().await;

    // Meanwhile the user logs out: the logged-in session is deleted.
    assert_eq!(b.post(&site, "/logout").await.body, "logged out");
    assert_eq!(site.redis.get(&key), None);
    assert!(site.redis.logins().is_empty());

    // The request in flight writes its session: `update` finds no key and saves a new session,
    // with the login, and the browser takes its cookie.
    site.held.release.open();
    let page = in_flight.await.expect("the request task");
    assert_eq!((page.status.as_u16(), page.body.as_str()), (200, "flashed"), "{page:?}");
    b.set_cookie(SESSION, page.set_cookie(SESSION).expect("a new session cookie").value());
    let logins = site.redis.logins();
    assert_eq!(logins.len(), 1, "the login is back in Redis: {logins:?}");
    assert_ne!(logins[0].0, key, "under a new key");
    assert_eq!(b.session_key(), logins[0].0);
    assert_eq!(b.whoami(&site).await, "user:ada", "logged in again after logging out");

    // A new session hash ends it, as it ends every other session of the user.
    env.db.bump_epoch(ADA);
    assert_eq!(b.whoami(&site).await, "anonymous");
    assert!(site.redis.logins().is_empty());

    site.stop().await;
}

// ---- the login registry in Redis ----

#[actix_web::test]
async fn the_redis_login_registry_is_shared_by_every_server_and_ends_logins_on_all_of_them() {
    use login_runtime::{LoginRegistry, RedisLoginRegistry};
    let redis = redis_or_skip!();
    let env = Env::new();
    let registry = RedisLoginRegistry::new(&redis.url()).await.expect("connect the registry to redis");
    let login = env.bare_manager().login_registry(registry.clone());
    // Two servers of one app: what one lists, the other checks.
    let (one, two) =
        (Site::start(&redis, login.clone(), env.db.clone()).await, Site::start(&redis, login, env.db.clone()).await);
    let (laptop, phone) = (Client::new(), Client::new());
    phone.set_agent(CURL);
    laptop.login(&one, ADA).await;
    phone.login(&two, ADA).await;

    let listed = registry.list(ADA).await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let phone_login = listed.iter().find(|l| l.user_agent.as_deref() == Some(CURL)).expect("the phone's login");
    assert_eq!((phone_login.user_id.as_str(), phone_login.created_at), (ADA, T0));
    // One Redis hash per user, a field per login, forgotten once no login of it can be used:
    // without timeouts or remember cookies, 30 days unseen (and a minute's margin).
    let key = format!("login-registry:{ADA}");
    assert!(site_has_hash(&one, &key, 2));
    let month = 30 * 24 * 3600;
    assert!((month + 50..=month + 60).contains(&one.redis.ttl(&key)), "{}", one.redis.ttl(&key));

    // Read-only requests ask the registry (HEXISTS) and write nothing to it.
    let calls = one.redis.command_calls();
    for _ in 0..5 {
        laptop.assert_let_in(&two, ADA).await;
    }
    let after = one.redis.command_calls();
    let delta = |c: &str| after.get(c).copied().unwrap_or(0) - calls.get(c).copied().unwrap_or(0);
    assert_eq!((delta("hexists"), delta("hset"), delta("hdel")), (5, 0, 0));

    // Once per activity interval (5 minutes) a request records when its login was last seen:
    // one script call (the next request is within the interval), keeping the key alive for 30
    // days from then.
    env.advance(300);
    laptop.assert_let_in(&two, ADA).await;
    laptop.assert_let_in(&one, ADA).await;
    let laptop_login = registry.list(ADA).await.expect("list").into_iter().find(|l| l.id != phone_login.id);
    assert_eq!(laptop_login.map(|l| (l.created_at, l.last_seen)), Some((T0, T0 + 300)));
    assert!(site_has_hash(&one, &key, 3));
    assert_eq!(
        one.redis.command_calls().get("eval").copied().unwrap_or(0) - calls.get("eval").copied().unwrap_or(0),
        1
    );

    // Ending the phone's login (from anywhere) logs it out on every server.
    registry.remove(ADA, phone_login.id).await.expect("remove");
    phone.assert_turned_away(&one).await;
    phone.assert_turned_away(&two).await;
    laptop.assert_let_in(&two, ADA).await;

    // The laptop logs out: its login goes too, and with it the user's hash.
    let page = laptop.post(&one, "/logout").await;
    assert_eq!(page.status.as_u16(), 200, "{page:?}");
    assert!(registry.list(ADA).await.expect("list").is_empty());
    assert!(!one.redis.keys().contains(&key), "{:?}", one.redis.keys());

    one.stop().await;
    two.stop().await;
}

/// A memory registry whose removals fail while `down` is set.
#[derive(Clone, Default)]
struct FailingRemovals {
    inner: login_runtime::MemoryLoginRegistry,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl login_runtime::LoginRegistry for FailingRemovals {
    type Error = &'static str;

    fn add(&self, login: login_runtime::LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let added = self.inner.add(login);
        async move { added.await.map_err(|e| match e {}) }
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        let listed = self.inner.contains(user_id, login_id);
        async move { Ok(listed.await.unwrap_or(false)) }
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let down = self.down.load(std::sync::atomic::Ordering::SeqCst);
        let removed = (!down).then(|| self.inner.remove(user_id, login_id));
        async move {
            match removed {
                Some(removed) => removed.await.map_err(|e| match e {}),
                None => Err("the registry is down"),
            }
        }
    }

    fn list(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<login_runtime::LoginInfo>, Self::Error>> + 'static {
        let listed = self.inner.list(user_id);
        async move { Ok(listed.await.unwrap_or_default()) }
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let touched = self.inner.touch(user_id, login_id, last_seen, expires_at);
        async move { touched.await.map_err(|e| match e {}) }
    }
}

/// Issue 14, hole 6: with Redis sessions a logout whose registry removal failed left the
/// browser logged out, its session deleted and its login listed (its copies alive), while
/// the docs promised the session keeps its login. The promise, on both stores: a logout the
/// registry could not record is a 500 that changes nothing, and the user can try again.
#[actix_web::test]
async fn a_logout_the_registry_cannot_record_changes_nothing_and_can_be_retried() {
    use login_runtime::LoginRegistry;
    let redis = redis_or_skip!();
    let env = Env::new();
    let registry = FailingRemovals::default();
    let site = Site::start(&redis, env.manager().login_registry(registry.clone()), env.db.clone()).await;
    let b = Client::new();
    b.login(&site, ADA).await;
    let (key, copy) = (b.session_key(), b.fork());

    registry.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let page = b.post(&site, "/logout").await;
    assert_eq!(page.status.as_u16(), 500, "{page:?}");
    registry.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(b.whoami(&site).await, format!("user:{ADA}"), "the session lost its login");
    assert_eq!(b.session_key(), key);
    assert_eq!(registry.inner.list(ADA).await.map(|l| l.len()), Ok(1));

    // The retry ends the login, and with it every copy.
    assert_eq!(b.post(&site, "/logout").await.body, "logged out");
    assert_eq!(b.whoami(&site).await, "anonymous");
    assert_eq!(copy.whoami(&site).await, "anonymous");
    assert_eq!(registry.inner.list(ADA).await.map(|l| l.len()), Ok(0));
    site.stop().await;
}

/// Many users at once on the Redis store with the Redis login registry (issue 14): every
/// response is for its own user only, none is a 5xx, and every logout leaves nothing behind.
#[actix_web::test]
async fn many_users_at_once_on_the_redis_store_each_see_only_themselves() {
    use login_runtime::{LoginRegistry, RedisLoginRegistry};
    let redis = redis_or_skip!();
    let env = Env::new();
    for id in concurrency::user_ids() {
        env.db.insert(&id, "pw");
    }
    let registry = RedisLoginRegistry::new(&redis.url()).await.expect("connect the registry to redis");
    let site = Site::start(&redis, env.manager().login_registry(registry.clone()), env.db.clone()).await;
    let requests = concurrency::drive(&format!("http://{}", site.server.0)).await;
    assert_eq!(requests, concurrency::USERS * concurrency::ROUNDS * 6);
    for id in concurrency::user_ids() {
        assert!(registry.list(&id).await.expect("list").is_empty(), "{id}");
    }
    assert!(site.redis.logins().is_empty(), "{:?}", site.redis.logins());
    site.stop().await;
}

#[actix_web::test]
async fn the_redis_login_registry_removes_expired_logins_on_its_own() {
    use login_runtime::{LoginInfo, LoginRegistry, RedisLoginRegistry};
    let redis = redis_or_skip!();
    let registry = RedisLoginRegistry::new(&redis.url()).await.expect("connect the registry to redis");
    let store = Redis::connect(redis.port).expect("connect to redis");
    let key = format!("login-registry:{ADA}");
    let hlen = || match store.must(&["HLEN", &key]) {
        Resp::Int(n) => n,
        other => panic!("HLEN answered {other:?}"),
    };
    let login = |id, at, expires_at| {
        let mut login = LoginInfo::new(id, ADA, at);
        login.expires_at = expires_at;
        login
    };
    registry.add(login(1, 100, 200)).await.expect("add");
    registry.add(login(2, 100, 10_000)).await.expect("add");
    // Seen at 150, login 1 can be used until 300.
    registry.touch(ADA, 1, 150, 300).await.expect("touch");
    registry.add(login(3, 250, 10_000)).await.expect("add");
    assert_eq!(hlen(), 4, "1, its touch, 2 and 3");
    // At 400 it has expired: the next write of the user removes it, unasked.
    registry.touch(ADA, 2, 400, 10_000).await.expect("touch");
    assert_eq!(hlen(), 3, "2, its touch, and 3");
    let mut left: Vec<_> = registry.list(ADA).await.expect("list").into_iter().map(|l| (l.id, l.last_seen)).collect();
    left.sort_unstable();
    assert_eq!(left, [(2, 400), (3, 250)]);
    // The key lives as long as its last usable login needs (and a minute), as of the write
    // that asked for the longest: login 2's at 100.
    assert!((9_900..=9_960).contains(&store.ttl(&key)), "{}", store.ttl(&key));
}

/// Whether `key` is a Redis hash of `fields` fields.
/// Issue 14, hole 5: Redis outlives a restart with new keys, and so did the logins made under
/// the old ones, listed until their timeouts though no cookie could use them. Logins carry a
/// fingerprint of their keys: those of other keys are not listed, and go from the hash.
#[actix_web::test]
async fn after_a_restart_with_new_keys_the_redis_registry_forgets_the_old_logins() {
    use login_runtime::{LoginRegistry, RedisLoginRegistry};
    let redis = redis_or_skip!();
    let env = Env::new();
    let registry = RedisLoginRegistry::new(&redis.url()).await.expect("connect the registry to redis");
    let deployment = |key: u8| {
        env.bare_manager()
            .session_key(&actix_web::cookie::Key::from(&[key; 64]))
            .secret_key([key; 32])
            .remember_me(login_runtime::RememberMe::new([key; 32]).secure(false))
            .login_registry(registry.clone())
    };
    let before = Site::start(&redis, deployment(1), env.db.clone()).await;
    let (laptop, phone) = (Client::new(), Client::new());
    laptop.login(&before, ADA).await;
    phone.login_remembered(&before, ADA).await;
    before.stop().await;
    let key = format!("login-registry:{ADA}");
    assert_eq!(registry.list(ADA).await.expect("list").len(), 2);

    let after = Site::start(&redis, deployment(2), env.db.clone()).await;
    let tablet = Client::new();
    tablet.login(&after, ADA).await;
    let listed = registry.list(ADA).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(site_has_hash(&after, &key, 1));
    after.stop().await;
}

fn site_has_hash(site: &Site, key: &str, fields: i64) -> bool {
    matches!(site.redis.must(&["HLEN", key]), Resp::Int(n) if n == fields)
}

#[actix_web::test]
async fn a_redis_login_registry_that_gets_no_answer_fails_within_its_timeout_instead_of_hanging() {
    use login_runtime::{LoginRegistry, RedisLoginRegistry};
    // A "Redis" that accepts connections and never answers (no redis-server needed).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().filter_map(Result::ok).collect();
        drop(held);
    });
    let started = Instant::now();
    let outcome = match RedisLoginRegistry::new(&url).await {
        Ok(registry) => registry.contains(ADA, 1).await.map(|_| "answered"),
        Err(error) => Err(error),
    };
    let took = started.elapsed();
    assert!(outcome.is_err(), "{outcome:?}");
    // One connection attempt and one retry, each within the timeout (plus the retry's pause).
    assert!(took < RedisLoginRegistry::TIMEOUT * 3, "took {took:?}");
}
