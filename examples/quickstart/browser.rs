//! The quickstart in a real browser: headless Debian `chromium`, driven through `chromedriver`
//! (W3C WebDriver: JSON over HTTP, spoken here with reqwest), against the site on a real
//! `HttpServer` on a random loopback port. Each step saves a screenshot under
//! `target/quickstart-browser/` (the path is printed).
//!
//! Without `chromium` and `chromedriver` on `PATH` the test says so and passes as skipped;
//! `LOGIN_TESTS_REQUIRE_BROWSER=1` (as in `.ci/run`) makes that a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_session::storage::CookieSessionStore;
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};

use super::{login_manager, serve};
use crate::users::Db;

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// `chromedriver` as a child process, ended when dropped, and the browser's profile
/// directory, removed then (also when a step fails).
struct Driver(Child, PathBuf);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One browser session.
struct Browser {
    http: reqwest::Client,
    base: String,
    shots: PathBuf,
    step: u32,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = res.status();
        let value: Value = res.json().await.unwrap();
        assert!(status.is_success(), "webdriver {method} {path}: {status} {value}");
        value["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// The page's visible text.
    async fn text(&self) -> String {
        let body = self.find("body").await;
        self.call(reqwest::Method::GET, &format!("/element/{body}/text"), None).await.as_str().unwrap().to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text }))).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Clicks a button that submits a form, and waits until the next page has loaded (a click
    /// may return before the navigation it starts is over).
    async fn submit(&self, css: &str) {
        self.script("window.__before_submit = true").await;
        self.click(css).await;
        let started = Instant::now();
        loop {
            let done = self.script("return !window.__before_submit && document.readyState === 'complete'").await;
            if done == true {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no page after clicking {css}");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn cookies(&self) -> Vec<String> {
        let all = self.call(reqwest::Method::GET, "/cookie", None).await;
        all.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    }

    async fn delete_cookie(&self, name: &str) {
        self.call(reqwest::Method::DELETE, &format!("/cookie/{name}"), None).await;
    }

    /// Saves a screenshot of the page as the next step's PNG.
    async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

/// A second device: a plain HTTP client with its own cookies, logging in through the form.
async fn log_in_elsewhere(site: &str, password: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{site}/login")).send().await.unwrap().text().await.unwrap();
    let token = page.split(r#"name="csrf_token" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let form = [("csrf_token", token.as_str()), ("username", "ada"), ("password", password)];
    let res = client.post(format!("{site}/login")).form(&form).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/", "the second device's login");
    client
}

async fn logged_in(client: &reqwest::Client, site: &str) -> bool {
    client.get(format!("{site}/api/me")).send().await.unwrap().status().is_success()
}

#[actix_web::test]
async fn the_quickstart_in_headless_chromium() {
    let required = std::env::var_os("LOGIN_TESTS_REQUIRE_BROWSER").is_some_and(|v| v == "1");
    if !(on_path("chromium") && on_path("chromedriver")) {
        assert!(!required, "LOGIN_TESTS_REQUIRE_BROWSER=1 but chromium or chromedriver is not on PATH");
        eprintln!(
            "SKIPPED the_quickstart_in_headless_chromium: chromium and chromedriver are not both on PATH \
             (apt-get install chromium chromium-driver; .ci/run does, and requires this test)"
        );
        return;
    }

    // The site, as `main` serves it, on a random port, with a fresh database.
    let (db, _) = Db::open("sqlite::memory:").await.unwrap();
    let key = Key::generate();
    let login = login_manager(&key, &[9; 64], &db);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let site = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = serve(CookieSessionStore::default, key, login, web::Data::new(db), listener).unwrap();
    actix_web::rt::spawn(server);

    // Another site (another origin) whose page posts the attacker's credentials to the login.
    let evil_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let evil = format!("http://localhost:{}", evil_listener.local_addr().unwrap().port());
    let forged = format!(
        r#"<!doctype html><title>Win a prize</title><form id="f" method="post" action="{site}/login">
<input name="username" value="ada"><input name="password" value="correct horse"></form>
<script>document.getElementById('f').submit()</script>"#
    );
    let evil_server = HttpServer::new(move || {
        let forged = forged.clone();
        App::new().default_service(web::to(move || {
            let forged = forged.clone();
            async move { HttpResponse::Ok().content_type("text/html").body(forged) }
        }))
    })
    .workers(1)
    .listen(evil_listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(evil_server);

    // chromedriver on a random port, and a browser with a fresh profile.
    let port = free_port();
    let profile = std::env::temp_dir().join(format!("quickstart-chromium-{}-{port}", std::process::id()));
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
        profile.clone(),
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let driver = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{driver}/status")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not answer within 30 s");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1000,700",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args }
    }}});
    let session: Value = http.post(format!("{driver}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
    let id = session["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {session}"));
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/quickstart-browser");
    std::fs::create_dir_all(&shots).unwrap();
    let mut b = Browser { http: http.clone(), base: format!("{driver}/session/{id}"), shots, step: 0 };

    // 1. An anonymous visit to a guarded page lands on the login page, with the message.
    b.go(&format!("{site}/settings")).await;
    assert_eq!(b.url().await, format!("{site}/login?next=%2Fsettings"));
    assert!(b.text().await.contains("Please log in to see this page."));
    b.shot("login-required").await;

    // 2. A wrong password: back to the form, with the username kept.
    b.fill("#username", "ada").await;
    b.fill("#password", "wrong").await;
    b.submit("button.primary").await;
    assert!(b.text().await.contains("Wrong username or password."));
    let kept = b.find("#username").await;
    let value = b.call(reqwest::Method::GET, &format!("/element/{kept}/property/value"), None).await;
    assert_eq!(value, "ada");
    b.shot("wrong-password").await;

    // 3. Log in with "remember me": back on the page first asked for.
    b.fill("#password", "correct horse").await;
    b.click("#remember").await;
    b.submit("button.primary").await;
    assert_eq!(b.url().await, format!("{site}/settings"));
    let text = b.text().await;
    assert!(text.contains("Welcome back, Ada Lovelace!") && text.contains("This login is fresh"), "{text}");
    assert!(b.cookies().await.contains(&"remember_token".to_owned()));
    b.shot("logged-in").await;

    // 3b. Ada is an administrator: the header's "Users" link shows the user list.
    b.submit("header a[href='/admin']").await;
    assert_eq!(b.url().await, format!("{site}/admin"));
    let text = b.text().await;
    assert!(text.contains("Grace Hopper") && text.contains("Ada Lovelace"), "{text}");
    b.shot("admin-page").await;

    // 4. A browser restart (the session cookie goes, the remember cookie stays): still logged
    // in, but not fresh.
    b.delete_cookie("id").await;
    b.go(&format!("{site}/settings")).await;
    assert!(b.text().await.contains("This login is not fresh"));
    b.shot("remembered-not-fresh").await;

    // 5. Changing the password asks for the password again, then works.
    let phone = log_in_elsewhere(&site, "correct horse").await;
    b.go(&format!("{site}/change-password")).await;
    assert_eq!(b.url().await, format!("{site}/reauth?next=%2Fchange-password"));
    assert!(b.text().await.contains("Please confirm your password to continue."));
    b.shot("reauth").await;
    b.fill("#password", "correct horse").await;
    b.submit("button.primary").await;
    assert_eq!(b.url().await, format!("{site}/change-password"));
    b.fill("#password", "battery staple").await;
    b.fill("#confirm", "battery staple").await;
    b.submit("button.primary").await;
    assert!(b.text().await.contains("Password changed."));
    assert!(!logged_in(&phone, &site).await, "the other device survived the password change");
    b.shot("password-changed").await;

    // 6. Ending another device from a stale login: the password first, then it is over.
    let phone = log_in_elsewhere(&site, "battery staple").await;
    b.delete_cookie("id").await;
    b.go(&format!("{site}/devices")).await;
    let text = b.text().await;
    assert!(text.contains("Safari on iOS") && text.contains("This device"), "{text}");
    b.shot("devices").await;
    b.submit("tr.device:not(.current) button.danger").await;
    assert!(b.url().await.starts_with(&format!("{site}/reauth")), "{}", b.url().await);
    b.fill("#password", "battery staple").await;
    b.submit("button.primary").await;
    assert_eq!(b.url().await, format!("{site}/devices"));
    assert!(logged_in(&phone, &site).await);
    b.submit("tr.device:not(.current) button.danger").await;
    assert!(b.text().await.contains("That device has been logged out."));
    assert!(!logged_in(&phone, &site).await, "the ended device is still logged in");
    b.shot("device-ended").await;

    // 7. Logout (a POST from the header's button).
    b.submit("header button").await;
    assert!(b.text().await.contains("You have been logged out."));
    b.shot("logged-out").await;

    // 7b. Grace is not an administrator: the same link lands on the 403 page, and she stays
    // logged in; then she logs out too.
    b.go(&format!("{site}/login")).await;
    b.fill("#username", "grace").await;
    b.fill("#password", "cobol rules").await;
    b.submit("button.primary").await;
    b.submit("header a[href='/admin']").await;
    assert_eq!(b.url().await, format!("{site}/forbidden"));
    let text = b.text().await;
    assert!(text.contains("This page is for administrators.") && text.contains("Grace Hopper"), "{text}");
    assert!(!text.contains("Ada Lovelace"), "the user list leaked to a non-administrator: {text}");
    b.shot("forbidden").await;
    b.submit("header button").await;
    assert!(b.text().await.contains("You have been logged out."));

    // 8. A page on another site auto-posts the login form with the attacker's account: refused,
    // and the browser stays logged out.
    b.go(&format!("{evil}/prize")).await;
    let started = Instant::now();
    while !b.url().await.starts_with(&site) {
        assert!(started.elapsed() < Duration::from_secs(10), "the forged form was not posted");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.text().await.contains("Form refused"));
    b.shot("cross-site-login-refused").await;
    b.go(&format!("{site}/")).await;
    assert!(b.text().await.contains("Hello, stranger!"));

    b.call(reqwest::Method::DELETE, "", None).await;
}
