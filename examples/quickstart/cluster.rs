//! Two instances of the site on two ports, sharing a PostgreSQL database (users and devices)
//! and a Redis (sessions), as on two machines behind a load balancer: a login on one is a
//! login on the other; ending a device or changing the password on one is over on both.
//!
//! The test starts its own throwaway servers: a PostgreSQL cluster (`initdb`/`pg_ctl` from
//! `/usr/lib/postgresql/*/bin`, in a temporary directory, on a random port; as the `postgres`
//! user when run as root) and a `redis-server` on a random port. It needs the `postgres`
//! feature (`cargo test -p login-examples --features postgres --example quickstart
//! two_instances`). Without the feature or the servers it says why and passes as skipped;
//! `LOGIN_TESTS_REQUIRE_POSTGRES=1` (as in `.ci/run`) makes that a failure.

// Without the `postgres` feature only the skipping test is built.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Skips (or, when required, fails) with `why`.
fn skip(why: &str) {
    let required = std::env::var_os("LOGIN_TESTS_REQUIRE_POSTGRES").is_some_and(|v| v == "1");
    assert!(!required, "LOGIN_TESTS_REQUIRE_POSTGRES=1 but {why}");
    eprintln!("SKIPPED two_instances_share_logins_devices_and_password_changes: {why}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A throwaway PostgreSQL cluster, stopped and removed when dropped.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    as_root: bool,
    port: u16,
}

impl Postgres {
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_root {
            // PostgreSQL refuses to run as root: run it as the `postgres` user.
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start(bin: PathBuf) -> Result<Self, String> {
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
        let dir = std::env::temp_dir().join(format!("quickstart-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if as_root {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err("cannot give the cluster's directory to the postgres user".into());
            }
        }
        let pg = Self { bin, dir, as_root, port: free_port() };
        let data = pg.dir.join("data");
        let run = |command: &mut Command, what: &str| -> Result<(), String> {
            let out = command.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)))
            }
        };
        run(pg.command("initdb").args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"]).arg(&data), "initdb")?;
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.dir.display());
        run(
            pg.command("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(pg.dir.join("log"))
                .arg("start"),
            "pg_ctl start",
        )?;
        Ok(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.command("pg_ctl").args(["-D"]).arg(&data).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A throwaway `redis-server`, ended when dropped.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Result<Self, String> {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("redis-server did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self(child, port))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(not(feature = "postgres"))]
#[test]
fn two_instances_share_logins_devices_and_password_changes() {
    skip("this build has no PostgreSQL driver (run with `--features postgres`, as .ci/run does)");
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn two_instances_share_logins_devices_and_password_changes() {
    use actix_session::storage::RedisSessionStore;
    use actix_web::cookie::Key;
    use actix_web::web;

    use super::{login_manager, serve};
    use crate::users::Db;

    let Some(bin) = postgres_bin() else {
        return skip("PostgreSQL's server programs are not in /usr/lib/postgresql/*/bin (apt-get install postgresql)");
    };
    if !on_path("redis-server") {
        return skip("redis-server is not on PATH (apt-get install redis-server)");
    }
    let pg = match Postgres::start(bin) {
        Ok(pg) => pg,
        Err(error) => return skip(&format!("cannot start a PostgreSQL cluster: {error}")),
    };
    let redis = Redis::start().unwrap();
    let redis_url = format!("redis://127.0.0.1:{}", redis.1);

    // Two instances, as two machines would run them: their own pools, managers and Redis
    // connections, the same keys, database and Redis.
    let session_key = Key::generate();
    let mut sites = Vec::new();
    for _ in 0..2 {
        let (db, _) = Db::open(&pg.url()).await.unwrap();
        let login = login_manager(&session_key, &[5; 64], &db);
        let store = RedisSessionStore::new(redis_url.as_str()).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        sites.push(format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port()));
        let server = serve(move || store.clone(), session_key.clone(), login, web::Data::new(db), listener).unwrap();
        actix_web::rt::spawn(server);
    }
    let (a, b) = (&sites[0], &sites[1]);

    // A browser: cookies go to both ports (cookies are per host, not per port), as they go to
    // both machines behind one name.
    let browser =
        || reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    async fn token(client: &reqwest::Client, site: &str) -> String {
        let page = client.get(format!("{site}/login")).send().await.unwrap().text().await.unwrap();
        page.split(r#"name="csrf_token" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned()
    }
    async fn post(client: &reqwest::Client, site: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = token(client, site).await;
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        client.post(format!("{site}{path}")).form(&form).send().await.unwrap()
    }
    async fn me(client: &reqwest::Client, site: &str) -> u16 {
        client.get(format!("{site}/api/me")).send().await.unwrap().status().as_u16()
    }
    // Logged in on A, logged in on B.
    let laptop = browser();
    let res = post(&laptop, a, "/login", &[("username", "ada"), ("password", "correct horse")]).await;
    assert_eq!(res.headers()["location"], "/");
    assert_eq!(me(&laptop, b).await, 200);

    // A second device logs in on B; the laptop, on A, sees it and ends it: over on both.
    let phone = browser();
    post(&phone, b, "/login", &[("username", "ada"), ("password", "correct horse")]).await;
    assert_eq!((me(&phone, a).await, me(&phone, b).await), (200, 200));
    let devices = laptop.get(format!("{a}/devices")).send().await.unwrap().text().await.unwrap();
    assert_eq!(devices.matches(r#"<tr class="device"#).count(), 2, "{devices}");
    let action = devices.split(r#"action="/devices/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let res = post(&laptop, a, &format!("/devices/{action}"), &[]).await;
    assert_eq!(res.headers()["location"], "/devices");
    assert_eq!((me(&phone, a).await, me(&phone, b).await), (401, 401));

    // A third device on A; the password changes on B: the third is over on both, the laptop
    // (which changed it) goes on.
    let tablet = browser();
    post(&tablet, a, "/login", &[("username", "ada"), ("password", "correct horse")]).await;
    assert_eq!(me(&tablet, b).await, 200);
    let change = [("password", "battery staple"), ("confirm", "battery staple")];
    let res = post(&laptop, b, "/change-password", &change).await;
    assert_eq!(res.headers()["location"], "/settings");
    assert_eq!((me(&tablet, a).await, me(&tablet, b).await), (401, 401));
    assert_eq!((me(&laptop, a).await, me(&laptop, b).await), (200, 200));
    let res = post(&browser(), a, "/login", &[("username", "ada"), ("password", "battery staple")]).await;
    assert_eq!(res.headers()["location"], "/");
    drop(redis);
}
