//! ===========================================================================
//! OUR RUNTIME'S ROWS (4, 5, 6, 7b) — compiled only with `--features bench`
//! (which links `login-runtime`; `--features bench-baselines` does not, and
//! prints these rows as "pending"). Adjust here when the runtime's API moves.
//! ===========================================================================
//!
//! Contract with the driver (driver.rs `rows()`), for server kinds "ours"
//! (CookieSessionStore) and "ours-redis" (RedisSessionStore at `redis_url`):
//!
//! * ONE worker: use `crate::servers::run_actix` / `run_actix_in_system`
//!   (they bind nothing themselves: they take the listener, set workers(1) and
//!   print `LISTENING <port>`).
//! * `GET /login` -> `login_user(user1)`, 200; sets the session cookie.
//! * `GET /login?remember=1` -> `login_user(user1, remember = true)`, 200; sets
//!   the session cookie AND the remember cookie named [`REMEMBER_COOKIE`]
//!   (row 6 keeps only that one).
//! * `GET /protected` -> `#[login_required]` handler that takes the
//!   current-user extractor and answers 200 `hello user1`; anonymous -> 401
//!   (or a redirect to the login view: both count as a rejection).
//! * The user loader is in memory: a `HashMap<String, User>` in `web::Data`
//!   (one entry, "user1"), like the axum-login backend in servers.rs.
//! * Session middleware: `SessionMiddleware::builder(store, crate::servers::session_key())
//!   .cookie_secure(false).build()` — same settings as rows 2 and 7a.
//!
//! Row 4  = `/protected` with the cookies of `/login`.            (Set-Cookie must be 0)
//! Row 5  = `/protected` without cookies.                         (rejection path)
//! Row 6  = `/protected` with only the remember cookie of `/login?remember=1`
//!          (the restore re-creates the session each time, so Set-Cookie > 0 is expected).
//! `GET /__loads` answers the number of user-loader calls so far (the driver checks
//! `loads_per_req`: 1 on rows 4, 4r, 6, 7b, 7r, 7c; 0 on rows 4p and 5).
//! Row 7b = row 4 on "ours-redis".                                (Set-Cookie must be 0)
//! Row 4r = row 4 on "ours-registry": the same app with a `MemoryLoginRegistry`.
//! Row 7r = row 7b on "ours-redis-registry": with a `RedisLoginRegistry` on the same Redis.
//! Row 7c = row 7r on "ours-redis-cached": the registry behind a 5 s `CachedLoginRegistry`.
//! Row 4a = row 4 on `/admin`: the same guard with `permission = Perm::Admin`, held in the
//!          user's in-memory set (`#[auth_user(permissions)]`).

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_web::{App, HttpRequest, HttpResponse, web};
use login_runtime::{
    AuthUser, CachedLoginRegistry, CurrentUser, LoginManager, LoginOptions, MemoryLoginRegistry, Permission,
    RedisLoginRegistry, RememberMe, SessionProtection, login_required, user_loader,
};

use crate::servers::{USER, run_actix, run_actix_in_system, session_key};

/// Name of our remember-me cookie (row 6 keeps only this cookie from `/login?remember=1`).
pub const REMEMBER_COOKIE: &str = "remember_token";

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Perm {
    Admin,
}

impl Permission for Perm {}

#[derive(Clone, AuthUser)]
struct User {
    id: String,
    name: String,
    /// Row 4a's permission (shared: a loaded user is a clone of the table's).
    #[auth_user(permissions)]
    permissions: Arc<HashSet<Perm>>,
}

fn user1() -> User {
    User { id: USER.to_owned(), name: USER.to_owned(), permissions: Arc::new(HashSet::from([Perm::Admin])) }
}

/// The in-memory user table (one user), shared by every request.
struct Users(HashMap<String, User>);

/// User-loader calls, served at `/__loads`: the driver checks one per request that uses the
/// user, none on requests that do not.
static LOADS: AtomicU64 = AtomicU64::new(0);

#[user_loader]
async fn load_user(id: String, users: web::Data<Users>) -> Option<User> {
    LOADS.fetch_add(1, Ordering::Relaxed);
    users.0.get(&id).cloned()
}

async fn loads() -> String {
    LOADS.load(Ordering::Relaxed).to_string()
}

async fn login(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let user = user1();
    let mut options = LoginOptions::default();
    options.remember = req.query_string().contains("remember=1");
    login_runtime::login_user_with(&req, &user, options)?;
    Ok(HttpResponse::Ok().body("logged in"))
}

/// Rows 4-7b: the guarded handler with the current-user extractor.
#[login_required]
async fn protected(user: CurrentUser<User>) -> HttpResponse {
    match user.authenticated() {
        Some(u) => HttpResponse::Ok().body(format!("hello {}", u.name)),
        None => HttpResponse::InternalServerError().body("guard let an anonymous user through"),
    }
}

/// Row 4a: row 4's handler behind one permission.
#[login_required(permission = Perm::Admin)]
async fn admin(user: CurrentUser<User>) -> HttpResponse {
    match user.authenticated() {
        Some(u) => HttpResponse::Ok().body(format!("hello {}", u.name)),
        None => HttpResponse::InternalServerError().body("guard let an anonymous user through"),
    }
}

fn app<St: SessionStore + 'static>(
    store: St,
    users: web::Data<Users>,
    manager: LoginManager,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(users)
        .app_data(manager.clone())
        .wrap(SessionMiddleware::builder(store, session_key()).cookie_secure(false).build())
        .wrap(manager.middleware())
        .route("/login", web::get().to(login))
        .route("/protected", web::get().to(protected))
        .route("/admin", web::get().to(admin))
        .route("/__loads", web::get().to(loads))
        .route("/plain", web::get().to(|| async { "hello" }))
}

fn shared() -> (web::Data<Users>, LoginManager) {
    let mut users = HashMap::new();
    users.insert(USER.to_owned(), user1());
    // A production configuration: a secret key (it keys the session-protection digest) and
    // remember-me; session protection is Flask's default, basic.
    // With a login registry, a login's last-seen time is written once per activity interval
    // (5 minutes by default): a full run lasts longer, and its read-only rows must write
    // nothing, so the interval is a day here.
    // `LOGIN_BENCH_PROTECTION=off` in the driver's environment: the same app without session
    // protection, to tell what it costs.
    let protection = match std::env::var("LOGIN_BENCH_PROTECTION").as_deref() {
        Ok("off") => SessionProtection::Off,
        _ => SessionProtection::Basic,
    };
    let manager = LoginManager::new(load_user)
        .session_protection(protection)
        .secret_key([8u8; 64])
        .remember_me(RememberMe::new([9u8; 64]).name(REMEMBER_COOKIE).secure(false))
        .activity_write_interval(Duration::from_secs(24 * 3600));
    (web::Data::new(Users(users)), manager)
}

pub fn serve(kind: &str, listener: TcpListener, port: u16, redis_url: Option<String>) {
    let (users, manager) = shared();
    match kind {
        "ours" => run_actix(listener, port, move || app(CookieSessionStore::default(), users.clone(), manager.clone())),
        "ours-registry" => {
            let manager = manager.login_registry(MemoryLoginRegistry::new());
            run_actix(listener, port, move || app(CookieSessionStore::default(), users.clone(), manager.clone()))
        }
        "ours-redis" | "ours-redis-registry" | "ours-redis-cached" => {
            let url = redis_url.unwrap_or_else(|| crate::die("the redis servers need --redis URL"));
            actix_web::rt::System::new().block_on(async move {
                let store = RedisSessionStore::new(url.as_str()).await.expect("connect to redis");
                let manager = match kind {
                    "ours-redis" => manager,
                    _ => {
                        let registry = RedisLoginRegistry::new(&url).await.expect("connect the registry to redis");
                        if kind == "ours-redis-cached" {
                            manager.login_registry(CachedLoginRegistry::new(registry, Duration::from_secs(5)))
                        } else {
                            manager.login_registry(registry)
                        }
                    }
                };
                run_actix_in_system(listener, port, move || app(store.clone(), users.clone(), manager.clone())).await
            })
        }
        other => crate::die(&format!("unknown server kind {other:?}")),
    }
}
