//! The login manager: configured once, registered on the `App` as app data, with its
//! middleware for the work done at response time.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use std::future::Future;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::LoginError;
use crate::events::{Hook, LoginEvent, hook};
use crate::loader::{DynRequestLoader, DynUserLoader, RequestLoader, UserLoader};
use crate::registry::{DynLoginRegistry, LoginRegistry, key_fingerprint};
use crate::remember::RememberMe;
use crate::user::{AnonymousUser, AuthUser, SharedUser};

type Handler = Arc<dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync>;
type Translator = Arc<dyn Fn(&str, &HttpRequest) -> String + Send + Sync>;
type AnonymousFactory = Arc<dyn Fn() -> SharedUser + Send + Sync>;

/// A message flashed to the login page, with its category (Flask's `flash(message, category)`).
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) text: String,
    pub(crate) category: String,
    /// `text` as a response body, shared by every plain-text refusal instead of copied.
    pub(crate) body: Bytes,
}

impl Message {
    fn new(text: String, category: String) -> Self {
        Self { body: Bytes::from(text.clone()), text, category }
    }
}

#[derive(Clone)]
pub(crate) struct Settings {
    /// `None` for a manager with only a request loader.
    pub(crate) loader: Option<Arc<dyn DynUserLoader>>,
    pub(crate) request_loader: Option<Arc<dyn DynRequestLoader>>,
    pub(crate) anonymous: AnonymousFactory,
    pub(crate) anonymous_type: &'static str,
    pub(crate) login_view: Option<String>,
    pub(crate) login_message: Option<Message>,
    pub(crate) refresh_view: Option<String>,
    pub(crate) refresh_message: Option<Message>,
    pub(crate) unauthorized_handler: Option<Handler>,
    pub(crate) refresh_handler: Option<Handler>,
    pub(crate) translator: Option<Translator>,
    pub(crate) next_field: String,
    pub(crate) use_session_for_next: bool,
    pub(crate) www_authenticate: Option<HeaderValue>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) remember: Option<RememberMe>,
    pub(crate) protection: SessionProtection,
    /// How many reverse proxies append to `forwarded_for_header`.
    pub(crate) proxy_hops: usize,
    pub(crate) forwarded_for_header: HeaderName,
    /// Flask's `FORCE_HOST_FOR_REDIRECTS`.
    pub(crate) forced_host: Option<String>,
    pub(crate) fresh_max_age: u64,
    pub(crate) idle_timeout: Option<u64>,
    pub(crate) absolute_timeout: Option<u64>,
    pub(crate) activity_interval: Option<u64>,
    pub(crate) hooks: Vec<Hook>,
    /// SipHash keys for the session-protection identifier, from the secret key.
    pub(crate) ident_key: Option<(u64, u64)>,
    /// The fingerprints of the session key and of the secret key, when the manager was given
    /// them: the session side of a login's [key fingerprint](crate::LoginInfo::key_fingerprint).
    pub(crate) session_side: [Option<u32>; 2],
    pub(crate) registry: Option<Arc<dyn DynLoginRegistry>>,
    pub(crate) max_logins: usize,
    pub(crate) authz: crate::permission::AuthzSettings,
}

/// How hard the login manager guards a session against being used from another client
/// (Flask-Login's `session_protection`).
///
/// The client is identified by a digest of its address and user agent, recorded at login. A
/// session without a login never triggers protection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionProtection {
    /// No checks.
    Off,
    /// On a mismatch the login is marked not fresh:
    /// [`#[fresh_login_required]`](macro@crate::fresh_login_required) handlers then ask for
    /// the password again. The default, as in Flask-Login.
    #[default]
    Basic,
    /// On a mismatch the login and the remember cookie are dropped; other session data stays.
    ///
    /// Unlike Flask-Login, there is no exception for permanent sessions (Flask-Login only
    /// marks a permanent session not fresh, as in `Basic`): a long-lived session is the one
    /// most worth stealing, and an application that asks for strong protection expects it on
    /// every session.
    Strong,
}

impl Settings {
    /// The fingerprint of the session side of the keys (session key, secret key); 0 when the
    /// manager knows neither.
    pub(crate) fn session_fingerprint(&self) -> u32 {
        match self.session_side {
            [None, None] => 0,
            [session, secret] => {
                let bytes: Vec<u8> = [session, secret].iter().flat_map(|f| f.unwrap_or(0).to_be_bytes()).collect();
                key_fingerprint("session side", &bytes)
            }
        }
    }
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Set when the middleware is built into an app: extractors refuse to work without it.
    pub(crate) middleware_installed: AtomicBool,
}

/// Remembers who is logged in, loads them once per request, and decides what anonymous users
/// see. Flask-Login's `LoginManager`.
///
/// Build it once with the user loader, then register it on every `App`, as app data and as
/// middleware, outside actix-session's `SessionMiddleware`:
///
/// ```
/// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
/// use actix_web::{App, cookie::Key};
/// use login_runtime::{AuthUser, LoginManager, user_loader};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// #[user_loader]
/// async fn load_user(id: u64) -> Option<User> {
///     (id == 1).then(|| User { id })
/// }
///
/// let manager = LoginManager::new(load_user)
///     .login_view("/login")
///     .login_message("Please log in to see this page.", "info");
/// let key = Key::generate();
/// let app = App::new()
///     .app_data(manager.clone())
///     .wrap(SessionMiddleware::new(CookieSessionStore::default(), key))
///     .wrap(manager.middleware());
/// ```
///
/// Configure it completely before the first clone: a clone is the same manager (what the
/// middleware and every `App` share), and a builder method called on a manager that has been
/// cloned, or after [`middleware`](Self::middleware), panics at start-up instead of making a
/// separate copy that nothing installs (which could only answer 500 at its first request).
/// For two configurations, build two managers, each with its own middleware.
#[derive(Clone)]
pub struct LoginManager {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for LoginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.shared.settings;
        f.debug_struct("LoginManager")
            .field("user", &s.loader.as_ref().map(|l| l.user_type()))
            .field("request_user", &s.request_loader.as_ref().map(|l| l.user_type()))
            .field("anonymous_user", &s.anonymous_type)
            .field("login_view", &s.login_view)
            .field("refresh_view", &s.refresh_view)
            .finish_non_exhaustive()
    }
}

impl LoginManager {
    /// A manager that loads users with `loader` (a [`#[user_loader]`](macro@crate::user_loader)
    /// function).
    ///
    /// Defaults as Flask-Login's: no login view (anonymous users get a 401), the message
    /// "Please log in to access this page." in category `message`, the default
    /// [`AnonymousUser`].
    pub fn new<L: UserLoader>(loader: L) -> Self {
        crate::startup::note_loader(crate::startup::user_loader_type::<L>());
        Self::with_loaders(Some(Arc::new(loader)), None)
    }

    /// A manager for an API that authenticates every request by itself (an API key, a bearer
    /// token) and keeps no login in a session: only a
    /// [`#[request_loader]`](macro@crate::request_loader) function, no user loader.
    ///
    /// Guards, extractors, refusals ([`unauthorized`](crate::unauthorized)) and events work as
    /// with [`new`](Self::new); actix-session's middleware is not needed. The session and the
    /// remember cookie are never read, and [`login_user`](crate::login_user) is an error
    /// ([`LoginError::NoUserLoader`]). Flask-Login needs a user loader even then; here a
    /// dummy one would only be dead code that could be mistaken for a login path.
    ///
    /// ```
    /// use actix_web::{App, HttpRequest, get, http::header};
    /// use login_runtime::{Authenticated, AuthUser, LoginManager, login_required, request_loader};
    ///
    /// #[derive(AuthUser)]
    /// struct Client { id: String }
    ///
    /// #[request_loader]
    /// async fn load_from_token(req: HttpRequest) -> Option<Client> {
    ///     let token = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    ///     (token == "Bearer s3cret").then(|| Client { id: "reporting".into() })
    /// }
    ///
    /// #[get("/api/report")]
    /// #[login_required]
    /// async fn report(client: Authenticated<Client>) -> String {
    ///     format!("report for {}", client.id)
    /// }
    ///
    /// let manager = LoginManager::from_request_loader(load_from_token).www_authenticate("Bearer");
    /// let app = App::new().app_data(manager.clone()).wrap(manager.middleware()).service(report);
    /// ```
    pub fn from_request_loader<L: RequestLoader>(loader: L) -> Self {
        crate::startup::note_loader(crate::startup::request_loader_type::<L>());
        Self::with_loaders(None, Some(Arc::new(loader)))
    }

    fn with_loaders(loader: Option<Arc<dyn DynUserLoader>>, request_loader: Option<Arc<dyn DynRequestLoader>>) -> Self {
        let settings = Settings {
            loader,
            request_loader,
            anonymous: Arc::new(|| Rc::new(AnonymousUser) as SharedUser),
            anonymous_type: std::any::type_name::<AnonymousUser>(),
            login_view: None,
            login_message: Some(Message::new("Please log in to access this page.".into(), "message".into())),
            refresh_view: None,
            refresh_message: Some(Message::new("Please reauthenticate to access this page.".into(), "message".into())),
            unauthorized_handler: None,
            refresh_handler: None,
            translator: None,
            next_field: "next".into(),
            use_session_for_next: false,
            www_authenticate: None,
            clock: Arc::new(SystemClock),
            remember: None,
            protection: SessionProtection::default(),
            proxy_hops: 0,
            forwarded_for_header: HeaderName::from_static("x-forwarded-for"),
            forced_host: None,
            fresh_max_age: 0,
            idle_timeout: None,
            absolute_timeout: None,
            activity_interval: None,
            hooks: Vec::new(),
            ident_key: None,
            session_side: [None; 2],
            registry: None,
            max_logins: Self::DEFAULT_MAX_LOGINS,
            authz: Default::default(),
        };
        Self { shared: Arc::new(Shared { settings, middleware_installed: AtomicBool::new(false) }) }
    }

    pub(crate) fn settings_mut(&mut self) -> &mut Settings {
        // A copy configured on its own would be a second manager that nothing installs: as app
        // data without its middleware it could only answer 500 at request time. Configuring
        // after a clone (or after `middleware()`) is refused here, at start-up.
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => &mut shared.settings,
            None => panic!(
                "a `LoginManager` is configured after it was cloned (or after `middleware()`): \
                 the copy would be a separate manager without its middleware; finish configuring \
                 the manager first, then clone it and call `middleware()` (for two \
                 configurations, build two managers with `LoginManager::new`)"
            ),
        }
    }

    /// Also load users from the request itself (API keys, `Authorization` headers) when the
    /// session holds no login: a [`#[request_loader]`](macro@crate::request_loader) function.
    pub fn request_loader<L: RequestLoader>(mut self, loader: L) -> Self {
        crate::startup::note_loader(crate::startup::request_loader_type::<L>());
        self.settings_mut().request_loader = Some(Arc::new(loader));
        self
    }

    /// Where anonymous users are sent: a path (`/login`) or a full URL. Without one, they get a
    /// 401.
    pub fn login_view(mut self, url: impl Into<String>) -> Self {
        self.settings_mut().login_view = Some(url.into());
        self
    }

    /// The message flashed to the login page, and its category.
    pub fn login_message(mut self, text: impl Into<String>, category: impl Into<String>) -> Self {
        self.settings_mut().login_message = Some(Message::new(text.into(), category.into()));
        self
    }

    /// Flash nothing when redirecting to the login view.
    pub fn without_login_message(mut self) -> Self {
        self.settings_mut().login_message = None;
        self
    }

    /// Where users whose login is not fresh are sent to log in again (for
    /// [`#[fresh_login_required]`](macro@crate::fresh_login_required)). Without one, they get a
    /// 401.
    pub fn refresh_view(mut self, url: impl Into<String>) -> Self {
        self.settings_mut().refresh_view = Some(url.into());
        self
    }

    /// The message flashed to the refresh view, and its category.
    pub fn needs_refresh_message(mut self, text: impl Into<String>, category: impl Into<String>) -> Self {
        self.settings_mut().refresh_message = Some(Message::new(text.into(), category.into()));
        self
    }

    /// Flash nothing when redirecting to the refresh view.
    pub fn without_needs_refresh_message(mut self) -> Self {
        self.settings_mut().refresh_message = None;
        self
    }

    /// Replaces the default [`AnonymousUser`]: `CurrentUser<User, Guest>` then yields a `Guest`
    /// for visitors who are not logged in.
    pub fn anonymous_user<A: AuthUser>(mut self, factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        let settings = self.settings_mut();
        settings.anonymous = Arc::new(move || Rc::new(factory()) as SharedUser);
        settings.anonymous_type = std::any::type_name::<A>();
        self
    }

    /// Answers anonymous users with this response instead of the redirect or 401 (Flask's
    /// `unauthorized_handler`).
    pub fn unauthorized_handler(
        mut self,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().unauthorized_handler = Some(Arc::new(handler));
        self
    }

    /// Answers users whose login is not fresh with this response (Flask's
    /// `needs_refresh_handler`).
    pub fn needs_refresh_handler(
        mut self,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().refresh_handler = Some(Arc::new(handler));
        self
    }

    /// Translates the login and refresh messages (Flask's `localize_callback`); it gets the
    /// message and the request, to find the user's language.
    pub fn message_translator(
        mut self,
        translate: impl Fn(&str, &HttpRequest) -> String + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().translator = Some(Arc::new(translate));
        self
    }

    /// The query parameter that carries the page to return to (default `next`).
    pub fn next_field(mut self, name: impl Into<String>) -> Self {
        self.settings_mut().next_field = name.into();
        self
    }

    /// Keep `next` in the session instead of the login URL's query string (Flask's
    /// `USE_SESSION_FOR_NEXT`). [`next_url`](crate::next_url) reads it from either. A visitor
    /// without a session still gets it in the query: a cookieless request stores nothing.
    pub fn use_session_for_next(mut self, yes: bool) -> Self {
        self.settings_mut().use_session_for_next = yes;
        self
    }

    /// The `WWW-Authenticate` challenge sent with 401 answers, for APIs whose clients log in
    /// with a token through the request loader (e.g. `Bearer realm="api"`).
    ///
    /// # Panics
    /// If `challenge` is not a valid header value: that is a programming error found at
    /// start-up, not a request-time failure.
    pub fn www_authenticate(mut self, challenge: &str) -> Self {
        let value = HeaderValue::from_str(challenge).expect("`www_authenticate` needs a valid header value");
        self.settings_mut().www_authenticate = Some(value);
        self
    }

    /// The clock used for timestamps (fresh logins, timeouts). Tests inject a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings_mut().clock = Arc::new(clock);
        self
    }

    /// Enables remember-me cookies: [`LoginOptions::remember`](crate::LoginOptions::remember)
    /// then issues one, and a request with no login in its session but a valid remember cookie
    /// is logged back in, not fresh.
    pub fn remember_me(mut self, remember: RememberMe) -> Self {
        self.settings_mut().remember = Some(remember);
        self
    }

    /// A secret of at least 32 bytes, the same on every server of the application (load it
    /// from your secrets store; not the session key). It keys the digest that session
    /// protection keeps of each client, which makes that check cheap; without it the digest is
    /// a SHA-256.
    ///
    /// # Panics
    /// If the key is shorter than 32 bytes: a start-up mistake, not a request-time failure.
    pub fn secret_key(mut self, key: impl AsRef<[u8]>) -> Self {
        use hmac::{Hmac, Mac};
        let key = key.as_ref();
        assert!(key.len() >= 32, "the secret key needs at least 32 bytes, got {}", key.len());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(b"login-runtime client identifier");
        let derived = mac.finalize().into_bytes();
        let k0 = u64::from_le_bytes(derived[..8].try_into().expect("32 bytes"));
        let k1 = u64::from_le_bytes(derived[8..16].try_into().expect("32 bytes"));
        let settings = self.settings_mut();
        settings.ident_key = Some((k0, k1));
        settings.session_side[1] = Some(key_fingerprint("secret", key));
        self
    }

    /// Tells the manager the key of actix-session's `SessionMiddleware` (it keeps only a
    /// [fingerprint](crate::LoginInfo::key_fingerprint) of it, nothing that could sign or read a
    /// cookie). With a [login registry](Self::login_registry), which outlives the app's keys
    /// (Redis, a database), the logins made under another session key (before a restart with
    /// new keys) are known to be over: they are no longer listed, and are removed, unless a
    /// remember-me cookie signed with a key still accepted can use them. Without it, and
    /// without a [secret key](Self::secret_key), only their timeouts end them in the registry.
    ///
    /// ```
    /// use actix_session::{SessionMiddleware, storage::CookieSessionStore};
    /// use actix_web::{App, cookie::Key};
    /// use login_runtime::{AuthUser, LoginManager, MemoryLoginRegistry, user_loader};
    ///
    /// #[derive(AuthUser)]
    /// struct User { id: u64 }
    ///
    /// #[user_loader]
    /// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
    ///
    /// let key = Key::generate(); // load it from your secrets store
    /// let manager = LoginManager::new(load_user)
    ///     .session_key(&key)
    ///     .login_registry(MemoryLoginRegistry::new());
    /// let app = App::new()
    ///     .app_data(manager.clone())
    ///     .wrap(SessionMiddleware::new(CookieSessionStore::default(), key))
    ///     .wrap(manager.middleware());
    /// ```
    pub fn session_key(mut self, key: &actix_web::cookie::Key) -> Self {
        self.settings_mut().session_side[0] = Some(key_fingerprint("session", key.master()));
        self
    }

    /// Session protection mode (default [`SessionProtection::Basic`]).
    pub fn session_protection(mut self, mode: SessionProtection) -> Self {
        self.settings_mut().protection = mode;
        self
    }

    /// The number of reverse proxies in front of the application that append the address they
    /// received the request from to `X-Forwarded-For` (default 0: the connection's peer address
    /// is the client's). The client's address is the entry that many from the right; entries
    /// further left came from the client and are never believed, and no other header
    /// (`Forwarded`, `X-Real-IP`) is read. With fewer entries than proxies, the peer address is
    /// used. The same trust applies to `X-Forwarded-Proto` and `X-Forwarded-Host` when the URL of
    /// the refused page is put into `next` for an absolute `login_view`.
    ///
    /// ```
    /// # use login_runtime::{AuthUser, LoginManager, user_loader};
    /// # #[derive(AuthUser)] struct User { #[auth_user(id)] id: u64 }
    /// # #[user_loader] async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
    /// // Behind one nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`
    /// let login = LoginManager::new(load_user).trusted_proxies(1);
    /// ```
    pub fn trusted_proxies(mut self, hops: usize) -> Self {
        self.settings_mut().proxy_hops = hops;
        self
    }

    /// The header [`trusted_proxies`](Self::trusted_proxies) append to (default
    /// `X-Forwarded-For`); name the one your proxy sets, e.g. `X-Real-IP` with one hop.
    ///
    /// # Panics
    /// If `name` is not a valid header name: a start-up mistake.
    pub fn forwarded_for_header(mut self, name: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("`forwarded_for_header`: {name:?} is not a valid header name"));
        self.settings_mut().forwarded_for_header = name;
        self
    }

    /// The host (`example.com` or `example.com:8443`) of the URL put into `next` when
    /// `login_view` or `refresh_view` is absolute (Flask's `FORCE_HOST_FOR_REDIRECTS`), instead
    /// of the request's `Host` header (or, behind [`trusted_proxies`](Self::trusted_proxies),
    /// their `X-Forwarded-Host`).
    pub fn force_host_for_redirects(mut self, host: impl Into<String>) -> Self {
        self.settings_mut().forced_host = Some(host.into());
        self
    }

    /// Treat fresh logins older than this as stale everywhere ("sudo mode"), for the
    /// [`#[fresh_login_required]`](macro@crate::fresh_login_required) handlers without their
    /// own `max_age`.
    pub fn fresh_max_age(mut self, max_age: Duration) -> Self {
        self.settings_mut().fresh_max_age = max_age.as_secs().max(1);
        self
    }

    /// Ends a login after this long without a request (OWASP ASVS 3.3.2). The time of the last
    /// request is written to the session at most once per
    /// [`activity_write_interval`](Self::activity_write_interval), so most requests write
    /// nothing.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings_mut().idle_timeout = Some(timeout.as_secs().max(1));
        self
    }

    /// Ends a login this long after it started, however active (OWASP ASVS 3.3.2). A valid
    /// remember cookie then logs the user back in, not fresh.
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.settings_mut().absolute_timeout = Some(timeout.as_secs().max(1));
        self
    }

    /// How often the time of the last request is written for the idle timeout and the login
    /// registry's [`last_seen`](crate::LoginInfo::last_seen) (default: a tenth of the idle
    /// timeout, at most a minute, never more than half the idle timeout; 5 minutes with a
    /// registry and no idle timeout). The idle timeout is enforced to within this interval: a
    /// user idle for a little less than the timeout may already be logged out. Requests in
    /// between write nothing.
    pub fn activity_write_interval(mut self, interval: Duration) -> Self {
        self.settings_mut().activity_interval = Some(interval.as_secs());
        self
    }

    /// Lists every login in `registry`, so that users can see their sessions and devices and
    /// end them (OWASP ASVS V3.3.4): see [`LoginRegistry`] for what changes. Each request that
    /// loads the user then also asks the registry whether its login is still listed; logins
    /// made before the registry was configured are not, and end.
    ///
    /// ```
    /// use login_runtime::{AuthUser, LoginManager, MemoryLoginRegistry, user_loader};
    ///
    /// #[derive(AuthUser)]
    /// struct User { id: u64 }
    ///
    /// #[user_loader]
    /// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
    ///
    /// let manager = LoginManager::new(load_user).login_registry(MemoryLoginRegistry::new());
    /// ```
    pub fn login_registry(mut self, registry: impl LoginRegistry) -> Self {
        self.settings_mut().registry = Some(Arc::new(registry));
        self
    }

    /// The default of [`max_logins_per_user`](Self::max_logins_per_user): 100 listed logins
    /// per user.
    pub const DEFAULT_MAX_LOGINS: usize = 100;

    /// At most `max` listed logins per user (with a [login registry](Self::login_registry)):
    /// each new login ends the user's oldest ones beyond `max` (they are logged out on their
    /// next request, and their remember cookies stop working). Default:
    /// [`DEFAULT_MAX_LOGINS`](Self::DEFAULT_MAX_LOGINS) (100); `usize::MAX` for no limit. (`0`
    /// counts as 1: the new login itself always stays.)
    ///
    /// Each new login also removes the user's logins that can no longer be used (timed out,
    /// remember cookie expired, made before a change of the session hash), as
    /// [`logins`](crate::logins) does. Together they bound what the registry holds for a
    /// user whose logins are abandoned (a closed browser, a cookie that expired) rather than
    /// logged out.
    ///
    /// ```
    /// # use login_runtime::{AuthUser, LoginManager, MemoryLoginRegistry, user_loader};
    /// # #[derive(AuthUser)]
    /// # struct User { id: u64 }
    /// # #[user_loader]
    /// # async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
    /// let manager = LoginManager::new(load_user)
    ///     .login_registry(MemoryLoginRegistry::new())
    ///     .max_logins_per_user(20);
    /// ```
    pub fn max_logins_per_user(mut self, max: usize) -> Self {
        self.settings_mut().max_logins = max.max(1);
        self
    }

    /// Calls `hook` on each [`LoginEvent`] (logged in, logged out, loaded from the remember
    /// cookie or the request, login confirmed, unauthorized, needs refresh, accessed, session
    /// protected): audit logs, metrics. The hook runs at once up to its first `.await`; the rest
    /// is spawned on the worker.
    pub fn on_event<F, Fut>(mut self, hook_fn: F) -> Self
    where
        F: Fn(LoginEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.settings_mut().hooks.push(hook(hook_fn));
        self
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The user types this manager's loaders produce, for the start-up check.
    pub(crate) fn loaded_user_types(&self) -> Vec<crate::startup::UserType> {
        let settings = self.settings();
        [
            settings.loader.as_ref().map(|loader| (loader.user_type_id(), loader.user_type())),
            settings.request_loader.as_ref().map(|loader| (loader.user_type_id(), loader.user_type())),
        ]
        .into_iter()
        .flatten()
        .map(|(id, name)| crate::startup::UserType::new(id, name))
        .collect()
    }

    pub(crate) fn mark_middleware_installed(&self) {
        self.shared.middleware_installed.store(true, Ordering::Relaxed);
    }

    /// The manager registered on the app serving `req`, checked to be fully installed.
    pub(crate) fn from_request(req: &HttpRequest) -> Result<&LoginManager, LoginError> {
        let manager = req.app_data::<LoginManager>().ok_or(LoginError::ManagerMissing)?;
        if !manager.shared.middleware_installed.load(Ordering::Relaxed) {
            return Err(LoginError::MiddlewareMissing);
        }
        Ok(manager)
    }

    pub(crate) fn now(&self) -> u64 {
        self.shared.settings.clock.now()
    }

    /// The interval at which the last request's time is written, with an idle timeout or a
    /// login registry.
    pub(crate) fn activity_interval(&self) -> Option<u64> {
        let s = &self.shared.settings;
        match s.idle_timeout {
            // At most half the idle timeout, or users active all along would time out.
            Some(idle) => Some(s.activity_interval.unwrap_or((idle / 10).clamp(1, 60)).min(idle / 2)),
            None if s.registry.is_some() => Some(s.activity_interval.unwrap_or(300)),
            None => None,
        }
    }
}
