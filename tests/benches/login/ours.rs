//! ===========================================================================
//! SLOT FOR OUR RUNTIME (rows 4, 5, 6, 7b) — compiled only with
//! `--features bench-ours` (which also links `login-runtime`).
//! ===========================================================================
//!
//! Contract with the driver (driver.rs `rows()`), for server kinds "ours"
//! (CookieSessionStore) and "ours-redis" (RedisSessionStore at `redis_url`):
//!
//! * ONE worker: use `crate::servers::run_actix` / `run_actix_in_system`
//!   (they bind nothing themselves: they take the listener, set workers(1) and
//!   print `LISTENING <port>`).
//! * `GET /login`            -> `login_user(user1)`, 200; sets the session cookie.
//! * `GET /login?remember=1` -> `login_user(user1, remember = true)`, 200; sets the
//!                              session cookie AND the remember cookie named
//!                              [`REMEMBER_COOKIE`] (row 6 keeps only that one).
//! * `GET /protected`        -> `#[login_required]` handler that takes the
//!                              current-user extractor and answers 200
//!                              `hello user1`; anonymous -> 401 (or a redirect
//!                              to the login view: both count as a rejection).
//! * The user loader is in memory: a `HashMap<String, User>` behind an `Arc`
//!   (one entry, "user1"), same as the axum-login backend in servers.rs.
//! * Session middleware: `SessionMiddleware::builder(store, crate::servers::session_key())
//!   .cookie_secure(false).build()` — same settings as rows 2 and 7a.
//!
//! Row 4  = `/protected` with the cookies of `/login`.            (Set-Cookie must be 0)
//! Row 5  = `/protected` without cookies.                         (rejection path)
//! Row 6  = `/protected` with only the remember cookie of `/login?remember=1`
//!          (the restore re-creates the session each time, so Set-Cookie > 0 is expected).
//! Row 7b = row 4 on "ours-redis".                                (Set-Cookie must be 0)
//!
//! Until this is filled, `serve` exits with a message and the driver fails
//! fast on these rows; without the feature they are printed as "pending".

use std::net::TcpListener;

/// Name of our remember-me cookie (row 6 keeps only this cookie from `/login?remember=1`).
/// TODO(lead): set to the runtime's default remember cookie name.
pub const REMEMBER_COOKIE: &str = "remember_token";

pub fn serve(kind: &str, listener: TcpListener, port: u16, redis_url: Option<String>) {
    let _ = (listener, port, &redis_url);
    match kind {
        // TODO(lead): fill in, e.g.
        //
        // "ours" => crate::servers::run_actix(listener, port, || {
        //     let login = LoginManager::new(load_user);          // in-memory loader
        //     App::new()
        //         .app_data(login.clone())                       // (or however the runtime wants it)
        //         .wrap(SessionMiddleware::builder(CookieSessionStore::default(),
        //                 crate::servers::session_key()).cookie_secure(false).build())
        //         .wrap(login.middleware())
        //         .route("/login", web::get().to(login_route))
        //         .route("/protected", web::get().to(protected))
        // }),
        // "ours-redis" => actix_web::rt::System::new().block_on(async move {
        //     let store = actix_session::storage::RedisSessionStore::new(redis_url.unwrap()).await.unwrap();
        //     crate::servers::run_actix_in_system(listener, port, move || /* same App with store.clone() */).await
        // }),
        //
        // #[login_required]
        // async fn protected(user: CurrentUser<User>) -> String { format!("hello {}", user.id) }
        "ours" | "ours-redis" => {
            crate::die(&format!("server kind {kind:?}: our routes are not filled in yet (tests/benches/login/ours.rs)"))
        }
        other => crate::die(&format!("unknown server kind {other:?}")),
    }
}
