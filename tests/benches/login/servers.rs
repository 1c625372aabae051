//! The servers under test. Each runs in its own process with exactly one
//! worker (actix: `workers(1)`; axum: a current-thread tokio runtime), bound to
//! 127.0.0.1:0, and prints `LISTENING <port>` once it accepts connections.
//!
//! Every authenticated server exposes:
//!   GET /login -> logs "user1" in (sets the session cookie), 200
//!   GET /me    -> the measured read-only route: 200 "hello user1", 401 if anonymous
//! Plain servers expose GET /plain -> 200 "hello".

use std::io::Write;
use std::net::TcpListener;

use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, cookie::Key, web};

pub const USER: &str = "user1";

pub fn serve(kind: &str, redis: Option<String>) {
    // The driver keeps our stdin open; EOF means it is gone: exit with it.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::Read::read(&mut std::io::stdin(), &mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    match kind {
        "actix-plain" => run_actix(listener, port, || App::new().route("/plain", web::get().to(|| async { "hello" }))),
        "actix-session" => run_actix(listener, port, actix_session_app::cookie),
        "actix-session-redis" => {
            let url = redis.unwrap_or_else(|| crate::die("actix-session-redis needs --redis URL"));
            actix_web::rt::System::new().block_on(async move {
                let store = actix_session::storage::RedisSessionStore::new(url).await.expect("connect to redis");
                run_actix_in_system(listener, port, move || actix_session_app::redis(store.clone())).await
            })
        }
        "actix-identity" => run_actix(listener, port, actix_identity_app),
        "axum-plain" => axum_apps::run(listener, port, axum_apps::plain()),
        "axum-login" => axum_apps::run(listener, port, axum_apps::login()),
        #[cfg(feature = "bench")]
        k if k.starts_with("ours") => crate::ours::serve(k, listener, port, redis),
        other => crate::die(&format!("unknown server kind {other:?}")),
    }
}

/// Signal readiness to the driver (it reads our stdout).
pub fn announce(port: u16) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {port}").unwrap();
    out.flush().unwrap();
}

/// Run an actix-web app with ONE worker on `listener`, in a fresh actix System.
pub fn run_actix<F, T, B>(listener: TcpListener, port: u16, factory: F)
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    actix_web::rt::System::new().block_on(run_actix_in_system(listener, port, factory))
}

/// Same as [`run_actix`], for callers that need async set-up (e.g. a redis store) first.
pub async fn run_actix_in_system<F, T, B>(listener: TcpListener, port: u16, factory: F)
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let server = HttpServer::new(factory).workers(1).disable_signals().listen(listener).expect("listen").run();
    announce(port);
    server.await.expect("server")
}

/// A fixed key so every process (and every repetition) signs cookies the same way.
pub fn session_key() -> Key {
    Key::from(&[7u8; 64])
}

mod actix_session_app {
    use super::*;
    use actix_session::{
        Session, SessionMiddleware,
        storage::{CookieSessionStore, RedisSessionStore, SessionStore},
    };

    async fn login(session: Session) -> actix_web::Result<HttpResponse> {
        session.insert("user_id", USER)?;
        Ok(HttpResponse::Ok().body("logged in"))
    }

    /// Row 2 / 7a: read ONE key from the session.
    async fn me(session: Session) -> actix_web::Result<HttpResponse> {
        Ok(match session.get::<String>("user_id")? {
            Some(id) => HttpResponse::Ok().body(format!("hello {id}")),
            None => HttpResponse::Unauthorized().finish(),
        })
    }

    fn app<St: SessionStore + 'static>(
        store: St,
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
            .wrap(SessionMiddleware::builder(store, session_key()).cookie_secure(false).build())
            .route("/login", web::get().to(login))
            .route("/me", web::get().to(me))
            .route("/plain", web::get().to(|| async { "hello" }))
    }

    pub fn cookie() -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        app(CookieSessionStore::default())
    }

    pub fn redis(
        store: RedisSessionStore,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        app(store)
    }
}

/// Row 3: actix-identity 0.9 on top of a CookieSessionStore session.
fn actix_identity_app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use actix_identity::{Identity, IdentityMiddleware};
    use actix_session::{SessionMiddleware, storage::CookieSessionStore};

    async fn login(req: HttpRequest) -> actix_web::Result<HttpResponse> {
        Identity::login(&req.extensions(), USER.to_owned())?;
        Ok(HttpResponse::Ok().body("logged in"))
    }
    async fn me(id: Identity) -> actix_web::Result<HttpResponse> {
        Ok(HttpResponse::Ok().body(format!("hello {}", id.id()?)))
    }

    /// Row 3u: what an actix-identity user writes to get a user, not an id: the same
    /// in-memory lookup as row 4's `#[user_loader]` (a `HashMap<String, User>` in
    /// `web::Data`, the user cloned out of it), by hand in the handler.
    #[derive(Clone)]
    struct User {
        #[allow(dead_code)] // the same shape as row 4's user: an id and a name
        id: String,
        name: String,
    }
    struct Users(std::collections::HashMap<String, User>);

    async fn me_user(id: Identity, users: web::Data<Users>) -> actix_web::Result<HttpResponse> {
        let id = id.id()?;
        Ok(match users.0.get(&id).cloned() {
            Some(user) => HttpResponse::Ok().body(format!("hello {}", user.name)),
            None => HttpResponse::Unauthorized().finish(),
        })
    }

    let users =
        std::collections::HashMap::from([(USER.to_owned(), User { id: USER.to_owned(), name: USER.to_owned() })]);

    App::new()
        .app_data(web::Data::new(Users(users)))
        // Order matters: identity must run inside the session middleware.
        .wrap(IdentityMiddleware::default())
        .wrap(SessionMiddleware::builder(CookieSessionStore::default(), session_key()).cookie_secure(false).build())
        .route("/login", web::get().to(login))
        .route("/me", web::get().to(me))
        .route("/me-user", web::get().to(me_user))
}

/// Row 8: axum 0.8 + axum-login 0.18 + tower-sessions 0.14 MemoryStore.
mod axum_apps {
    use super::USER;
    use std::collections::HashMap;
    use std::sync::Arc;

    use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
    use axum_login::{AuthManagerLayerBuilder, AuthUser, AuthnBackend, UserId, login_required};
    use tower_sessions::{MemoryStore, SessionManagerLayer};

    #[derive(Clone, Debug)]
    pub struct User {
        id: String,
        auth_hash: Vec<u8>,
    }

    impl AuthUser for User {
        type Id = String;
        fn id(&self) -> String {
            self.id.clone()
        }
        fn session_auth_hash(&self) -> &[u8] {
            &self.auth_hash
        }
    }

    /// In-memory user loader (a HashMap behind an Arc), like row 4's loader.
    #[derive(Clone)]
    pub struct Backend {
        users: Arc<HashMap<String, User>>,
    }

    impl AuthnBackend for Backend {
        type User = User;
        type Credentials = String;
        type Error = std::convert::Infallible;

        async fn authenticate(&self, id: String) -> Result<Option<User>, Self::Error> {
            Ok(self.users.get(&id).cloned())
        }
        async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
            Ok(self.users.get(id).cloned())
        }
    }

    type AuthSession = axum_login::AuthSession<Backend>;

    pub fn plain() -> Router {
        Router::new().route("/plain", get(|| async { "hello" }))
    }

    pub fn login() -> Router {
        let mut users = HashMap::new();
        users.insert(USER.to_owned(), User { id: USER.to_owned(), auth_hash: b"pw-hash-of-user1".to_vec() });
        let backend = Backend { users: Arc::new(users) };
        let session_layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
        let auth_layer = AuthManagerLayerBuilder::new(backend, session_layer).build();

        async fn do_login(mut auth: AuthSession) -> impl IntoResponse {
            let Ok(Some(user)) = auth.authenticate(USER.to_owned()).await else {
                return StatusCode::UNAUTHORIZED.into_response();
            };
            if auth.login(&user).await.is_err() {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            "logged in".into_response()
        }
        // The protected handler also reads the current user (like our
        // `#[login_required]` + current-user extractor in row 4).
        async fn me(auth: AuthSession) -> impl IntoResponse {
            match auth.user {
                Some(u) => format!("hello {}", u.id).into_response(),
                None => StatusCode::UNAUTHORIZED.into_response(),
            }
        }

        Router::new()
            .route("/me", get(me))
            .route_layer(login_required!(Backend))
            .route("/login", get(do_login))
            .layer(auth_layer)
    }

    pub fn run(listener: std::net::TcpListener, port: u16, app: Router) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            super::announce(port);
            axum::serve(listener, app).await.unwrap();
        })
    }
}
