//! The login flow against a real `HttpServer` on a random loopback port, with a client that
//! keeps cookies like a browser and does not follow redirects (so each hop is checked).

mod support;

use actix_web::dev::ServerHandle;
use actix_web::{HttpServer, web};
use login_runtime::LoginManager;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use support::{ADA, Db, LOGIN_MESSAGE, manager};

struct Server {
    base: String,
    handle: ServerHandle,
}

impl Server {
    /// Serves the test app with one worker on `127.0.0.1:<random port>`.
    fn start(login: LoginManager, db: web::Data<Db>) -> Self {
        let server = HttpServer::new(move || support::app(&login, &db))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind a loopback port");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { base: format!("http://{addr}"), handle }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A browser: keeps cookies, shows each redirect instead of following it.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("a client")
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).expect("a Location header").to_str().unwrap().to_owned()
}

async fn log_in(server: &Server, client: &reqwest::Client, password: &str) -> reqwest::Response {
    client.post(server.url("/login")).form(&[("name", "ada"), ("password", password)]).send().await.unwrap()
}

#[actix_web::test]
async fn browser_flow_login_page_login_secret_logout() {
    let db = Db::seeded();
    let server = Server::start(manager(), db.clone());
    let client = browser();

    // The guarded page sends us to the login page...
    let res = client.get(server.url("/secret?tab=2")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let login_page = location(&res);
    assert_eq!(login_page, "/login?next=%2Fsecret%3Ftab%3D2");

    // ...which shows the flashed message, once.
    let res = client.get(server.url(&login_page)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), format!("login page\n[info] {LOGIN_MESSAGE}\n"));

    // The form posts back to the same URL (with its `next`): 303 to the page we wanted.
    let res =
        client.post(server.url(&login_page)).form(&[("name", "ada"), ("password", "lovelace")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/secret?tab=2");

    let res = client.get(server.url("/secret?tab=2")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "secret of ada");
    let res = client.get(server.url("/fresh")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a password login is fresh");

    // Log out: back to the home page with a message, and the secret is closed again.
    let res = client.post(server.url("/logout-flash")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let res = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "home\n[info] You have been logged out.\n");
    let res = client.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login?next=%2Fsecret");

    server.stop().await;
}

#[actix_web::test]
async fn a_refused_form_post_is_redirected_with_303_and_its_body_dropped() {
    let db = Db::seeded();
    let server = Server::start(manager(), db.clone());
    let client = browser();
    let res = client.post(server.url("/password")).form(&[("password", "hijacked")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Never the POST-only path in `next`: the form's page when the request names it (issue 15).
    assert_eq!(location(&res), "/login");
    let res = client
        .post(server.url("/password"))
        .header("referer", server.url("/settings?tab=security"))
        .form(&[("password", "hijacked")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?next=%2Fsettings%3Ftab%3Dsecurity");
    assert_eq!(db.password(ADA), "lovelace");
    server.stop().await;
}

#[actix_web::test]
async fn a_password_change_logs_out_the_other_sessions() {
    let db = Db::seeded();
    let server = Server::start(manager(), db.clone());
    let laptop = browser();
    let phone = browser();
    assert_eq!(log_in(&server, &laptop, "lovelace").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(log_in(&server, &phone, "lovelace").await.status(), StatusCode::SEE_OTHER);
    for client in [&laptop, &phone] {
        let res = client.get(server.url("/secret")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    // The phone changes the password (its own session is renewed with the new hash).
    let res = phone.post(server.url("/password")).form(&[("password", "analytical engine")]).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "password changed");
    let res = phone.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the session that changed it stays");

    // The laptop's session was issued for the old password: it is over.
    let res = laptop.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let res = laptop.get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "anonymous");
    assert_eq!(log_in(&server, &laptop, "lovelace").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(log_in(&server, &laptop, "analytical engine").await.status(), StatusCode::SEE_OTHER);
    let res = laptop.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    server.stop().await;
}

#[actix_web::test]
async fn a_password_changed_in_the_database_logs_the_user_out() {
    // An administrator resets the password behind the app's back.
    let db = Db::seeded();
    let server = Server::start(manager(), db.clone());
    let client = browser();
    log_in(&server, &client, "lovelace").await;
    let res = client.get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "user:ada");

    db.set_password(ADA, "reset by admin");
    let res = client.get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "anonymous");
    // Putting the old password back does not bring the login back: it was removed.
    db.set_password(ADA, "lovelace");
    let res = client.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);

    server.stop().await;
}

#[actix_web::test]
async fn api_clients_use_the_request_loader_and_get_no_cookie() {
    let db = Db::seeded();
    let server = Server::start(manager().request_loader(support::load_from_token), db.clone());
    let client = browser();

    let res = client.get(server.url("/secret")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["login_url"], "/login?next=%2Fsecret");

    let res = client.get(server.url("/secret")).bearer_auth("ada-token").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(res.text().await.unwrap(), "secret of ada");

    server.stop().await;
}
