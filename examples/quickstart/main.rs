//! A small site with a login, built on login-runtime.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! then open <http://127.0.0.1:8080/> and log in as `ada` / `correct horse`.
//!
//! - `users.rs`: the user model, the database (sqlx: SQLite, or PostgreSQL), argon2 password
//!   hashes, the `#[user_loader]` and the `#[request_loader]` (bearer tokens).
//! - `registry.rs`: the login registry (the Devices page) in the same database.
//! - `views.rs`: the pages: `/` (public), `/login`, `/logout` (POST), `/settings`
//!   (`#[login_required]`), `/change-password` (`#[fresh_login_required]`) with its refresh
//!   view `/reauth`, `/devices`, and the JSON endpoint `/api/me`.
//! - `pages.rs` and `templates/`: minijinja templates; every page sees `current_user`.
//! - `csrf.rs`: the CSRF token of every form.
//!
//! Settings, from the environment:
//! - `DATABASE_URL`: default `sqlite://quickstart.db?mode=rwc` (a file in the current
//!   directory, created and migrated on first start, with the demo user); a `postgres://` URL
//!   when built with `--features login-examples/postgres`.
//! - `SESSION_KEY`: the key that encrypts and signs the session cookie, 64 bytes or more,
//!   hex or base64 (line breaks allowed): `openssl rand -hex 64`. Without it a random key is
//!   generated, and sessions end when the server stops.
//! - `REMEMBER_KEY`: the key that authenticates remember-me cookies, a different one of 32
//!   bytes or more: `openssl rand -hex 32`.
//! - `PORT`: default 8080. The server listens on 127.0.0.1 only.
//! - `REDIS_URL` (`redis://127.0.0.1:6379`), when built with the `redis` feature
//!   (`cargo run --example quickstart --features login-examples/redis`): the sessions live in
//!   Redis, the cookie carries only the session's key. Without it, in the cookie.
//! - `RUST_LOG`: a level (`debug`, `info`, ...), default `info`.

mod csrf;
mod pages;
mod registry;
mod users;
mod views;

use std::env::VarError;
use std::io::IsTerminal;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::storage::{CookieSessionStore, SessionStore};
use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use login_runtime::{LoginManager, RememberMe};
use tracing_subscriber::filter::LevelFilter;

use crate::registry::SqlLoginRegistry;
use crate::users::{DEMO_USER, DEMO_USER_NOT_ADMIN, Db, load_roles, load_user, load_user_from_token};

/// The login manager: how users are loaded, where visitors are sent when a page needs a
/// login (or a fresher one), and the remember-me cookie. The messages are flashed to those
/// pages.
fn login_manager(session_key: &Key, remember_key: &[u8], db: &Db) -> LoginManager {
    LoginManager::new(load_user)
        // API clients: `Authorization: Bearer <token>` when the session has no login.
        .request_loader(load_user_from_token)
        .login_view("/login")
        .login_message("Please log in to see this page.", "info")
        .refresh_view("/reauth")
        .needs_refresh_message("Please confirm your password to continue.", "info")
        // Roles from the `user_roles` table, for `#[login_required(permission = Role::Admin)]`;
        // a logged-in user without the role is sent to a page that says so (with a 403).
        .permission_loader(load_roles)
        .forbidden_view("/forbidden")
        .remember_me(
            RememberMe::new(remember_key)
                .duration(Duration::from_secs(14 * 24 * 3600))
                // Plain http on localhost only (see `session_middleware`).
                .secure(false),
        )
        // Every login is listed, so that users can see their devices and end them (the
        // "Devices" page), in the application's database: every instance of the site on the
        // same database sees the same list.
        .login_registry(SqlLoginRegistry::new(db.pool.clone()))
        // The registry outlives the keys: with the session key known, the logins made under
        // other keys (before a restart without SESSION_KEY set) are no longer listed.
        .session_key(session_key)
        // A login lasts 12 hours (a remember cookie then logs the user back in), and a user has
        // at most 20 listed: a new login ends the oldest beyond that, and those past 12 hours.
        .absolute_timeout(Duration::from_secs(12 * 3600))
        .max_logins_per_user(20)
}

/// actix-session with `store`: the cookie store keeps the whole session in an encrypted cookie;
/// the Redis store keeps it in Redis, and the cookie only names it.
fn session_middleware<S: SessionStore>(store: S, key: Key) -> SessionMiddleware<S> {
    SessionMiddleware::builder(store, key)
        // Only because this demo serves plain http on localhost, where browsers drop `Secure`
        // cookies. Behind https, keep the default (`Secure`).
        .cookie_secure(false)
        .build()
}

/// A secret from the environment (hex or base64, at least `min_len` bytes), or a random one,
/// with a warning, when the variable is not set.
fn secret(name: &str, min_len: usize, what_ends: &str) -> Result<Vec<u8>, String> {
    let text = match std::env::var(name) {
        Ok(text) => text,
        Err(VarError::NotPresent) => {
            tracing::warn!(
                "{name} is not set: using a random key, so {what_ends} when the server stops; set \
                 {name} to {min_len} random bytes or more, hex or base64 (`openssl rand -hex {min_len}`)"
            );
            return Ok(Key::generate().master().to_vec());
        }
        Err(VarError::NotUnicode(_)) => return Err(format!("{name} is not valid UTF-8")),
    };
    let bytes = decode_key(&text).ok_or_else(|| format!("{name} is neither hex nor base64"))?;
    if bytes.len() < min_len {
        return Err(format!("{name} must be at least {min_len} bytes once decoded; it is {}", bytes.len()));
    }
    Ok(bytes)
}

/// Hex or base64; whitespace anywhere is ignored (`openssl rand -base64` wraps its output at 64
/// characters).
fn decode_key(text: &str) -> Option<Vec<u8>> {
    let text: String = text.split_whitespace().collect();
    let text = text.as_str();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return text.as_bytes().chunks(2).map(|p| Some(hex(p[0])? << 4 | hex(p[1])?)).collect();
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

/// Where the users live without `DATABASE_URL`: a SQLite file in the current directory,
/// created on first start.
const DEFAULT_DATABASE: &str = "sqlite://quickstart.db?mode=rwc";

/// The database for people: a SQLite file's full path, or the URL without its password.
fn describe_database(url: &str) -> String {
    if let Some(file) = url.strip_prefix("sqlite://").map(|rest| rest.split('?').next().unwrap_or(rest)) {
        let path = std::path::Path::new(file);
        let full = std::env::current_dir().map(|dir| dir.join(path)).unwrap_or_else(|_| path.to_owned());
        return format!("the SQLite file {} (DATABASE_URL to change)", full.display());
    }
    match url.split_once('@').and_then(|(creds, host)| Some((creds.rsplit_once(':')?.0, host))) {
        Some((user, host)) if user.contains("://") && !user.ends_with('/') => format!("{user}:***@{host}"),
        _ => url.to_owned(),
    }
}

/// Friendly HTML pages for the errors handlers answer in plain text.
fn error_pages() -> ErrorHandlers<actix_web::body::BoxBody> {
    [StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN, StatusCode::INTERNAL_SERVER_ERROR]
        .into_iter()
        .fold(ErrorHandlers::new(), |handlers, status| handlers.handler(status, pages::error_page))
}

fn port() -> Result<u16, String> {
    match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|_| format!("PORT must be a port number, not {port:?}")),
        Err(_) => Ok(8080),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let level = std::env::var("RUST_LOG").ok().and_then(|l| l.parse::<LevelFilter>().ok());
    tracing_subscriber::fmt()
        .with_max_level(level.unwrap_or(LevelFilter::INFO))
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let settings = (
        secret("SESSION_KEY", 64, "sessions end"),
        secret("REMEMBER_KEY", 32, "remember-me cookies stop working"),
        port(),
    );
    let (session_key, remember_key, port) = match settings {
        (Ok(session_key), Ok(remember_key), Ok(port)) => (Key::from(&session_key), remember_key, port),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let database_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE.to_owned());
    let (db, seeded) = match Db::open(&database_url).await {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("error: cannot open the database at DATABASE_URL ({database_url}): {error}");
            std::process::exit(2);
        }
    };
    println!("quickstart: users and devices in {}", describe_database(&database_url));
    if seeded {
        println!(
            "quickstart: created the demo users {} / {} (an administrator) and {} / {}",
            DEMO_USER.0, DEMO_USER.1, DEMO_USER_NOT_ADMIN.0, DEMO_USER_NOT_ADMIN.1
        );
    }
    let login = login_manager(&session_key, &remember_key, &db);
    let db = web::Data::new(db);

    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let (server, sessions) = match std::env::var("REDIS_URL") {
        #[cfg(feature = "redis")]
        Ok(url) => {
            // A Redis that does not answer fails the start instead of hanging it.
            let wait = login_runtime::RedisLoginRegistry::TIMEOUT;
            let fail = |error: &dyn std::fmt::Display| -> ! {
                eprintln!("error: cannot reach Redis at REDIS_URL ({url}): {error}");
                std::process::exit(2);
            };
            let store =
                match actix_web::rt::time::timeout(wait, actix_session::storage::RedisSessionStore::new(url.as_str()))
                    .await
                {
                    Ok(Ok(store)) => store,
                    Ok(Err(error)) => fail(&format_args!("{error:#}")),
                    Err(_) => fail(&format_args!("no answer within {} s", wait.as_secs())),
                };
            (serve(move || store.clone(), session_key, login, db, listener)?, "in Redis (REDIS_URL)")
        }
        #[cfg(not(feature = "redis"))]
        Ok(_) => {
            tracing::warn!(
                "REDIS_URL is set, but this build has no Redis store: keeping the sessions in \
                 cookies (build with `--features login-examples/redis`)"
            );
            (serve(CookieSessionStore::default, session_key, login, db, listener)?, "in cookies")
        }
        Err(_) => (serve(CookieSessionStore::default, session_key, login, db, listener)?, "in cookies"),
    };
    println!(
        "quickstart: listening on http://127.0.0.1:{port}/, sessions {sessions}  (log in as {} / {}; Ctrl-C stops)",
        DEMO_USER.0, DEMO_USER.1
    );
    server.await
}

/// The site on `listener`, with the sessions in the store `store()` makes (one per
/// worker; clones of one Redis store share its connection).
fn serve<S: SessionStore + 'static>(
    store: impl Fn() -> S + Clone + Send + 'static,
    session_key: Key,
    login: LoginManager,
    db: web::Data<Db>,
    listener: std::net::TcpListener,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(db.clone())
            // The manager as app data, and its middleware wrapped *after* the session
            // middleware, so that it runs outside it.
            .app_data(login.clone())
            .wrap(session_middleware(store(), session_key.clone()))
            .wrap(login.middleware())
            .wrap(error_pages())
            .configure(views::routes)
            .default_service(web::to(pages::not_found))
    })
    .listen(listener)?;
    Ok(server.run())
}

#[cfg(test)]
mod browser;
#[cfg(test)]
mod cluster;
#[cfg(test)]
mod tests;
