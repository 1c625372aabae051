//! Authorization, per request: may this logged-in user do this? The guards' permission rules
//! are checked here, [`Permissions`] hands a user's permissions to a handler, and
//! [`forbidden`] refuses in the form the client understands.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};

use crate::error::LoginError;
use crate::events::{LoginEventKind, emit};
use crate::manager::LoginManager;
use crate::permission::{DynPermissionLoader, Permission, PermissionLoader, PermissionOutput, SetFuture};
use crate::resolve::UserFuture;
use crate::respond::{Client, HX_REDIRECT, TEXT_PLAIN, client};
use crate::state::{RequestState, Slot, with_state};
use crate::user::SharedUser;

impl LoginManager {
    /// Loads the permissions of one type with `loader`, a
    /// [`#[permission_loader]`](macro@crate::permission_loader) function: at most once per
    /// request, and only when a guard or a [`Permissions`] extractor asks for that type. A
    /// loader takes precedence over the user's `#[auth_user(permissions)]` fields of the same
    /// type. One loader per permission type: a second for the same type replaces the first.
    pub fn permission_loader<L: PermissionLoader>(mut self, loader: L) -> Self {
        let loaders = &mut self.settings_mut().authz.loaders;
        let type_id = TypeId::of::<<L::Output as PermissionOutput>::Permission>();
        loaders.retain(|(id, _)| *id != type_id);
        loaders.push((type_id, Arc::new(loader)));
        self
    }

    /// Answers logged-in users who lack a permission with this response instead of the 403
    /// (a page of the application's own, rendered from its templates).
    pub fn forbidden_handler(mut self, handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static) -> Self {
        self.settings_mut().authz.handler = Some(Arc::new(handler));
        self
    }

    /// Sends browsers that lack a permission to this page (a path or a full URL) instead of
    /// answering 403; htmx requests get a 403 with `HX-Redirect` to it, JSON clients their
    /// 403 with `"forbidden_url"`.
    pub fn forbidden_view(mut self, url: impl Into<String>) -> Self {
        self.settings_mut().authz.view = Some(url.into());
        self
    }
}

// ---- the permission sets of this request, cached on its state ----

fn cached(req: &HttpRequest, type_id: TypeId) -> Option<Rc<dyn Any>> {
    let ext = req.extensions();
    let state = ext.get::<RequestState>()?;
    state.permissions.iter().find(|(id, _)| *id == type_id).map(|(_, set)| Rc::clone(set))
}

fn store(req: &HttpRequest, type_id: TypeId, set: Rc<dyn Any>) {
    with_state(req, |state| state.permissions.push((type_id, set)));
}

/// The set of `P` already known for this request: loaded earlier, or given by a test client.
fn known_set(req: &HttpRequest, type_id: TypeId) -> Option<Rc<dyn Any>> {
    if let Some(set) = cached(req, type_id) {
        return Some(set);
    }
    #[cfg(feature = "test-client")]
    if let Some(set) = crate::test::granted(req, type_id) {
        store(req, type_id, Rc::clone(&set));
        return Some(set);
    }
    None
}

fn contains<P: Permission>(set: &dyn Any, permission: &P) -> bool {
    set.downcast_ref::<HashSet<P>>().is_some_and(|set| set.contains(permission))
}

// ---- checking ----

/// A check that cannot be answered yet: a permission loader must run first, or no source
/// holds permissions of the asked type.
#[doc(hidden)]
pub struct Unresolved(Need);

impl Unresolved {
    /// A check that fails with `error` (a 500).
    pub(crate) fn error(error: LoginError) -> Self {
        Unresolved(Need::Error(error))
    }
}

/// The answers a [`Grants`] in probe mode gives, and what the rule asked.
pub(crate) struct Probe {
    /// The answers to give, in the order the rule asks; `false` after them.
    pub(crate) script: Vec<bool>,
    /// Each permission asked: a hash of its type and value.
    pub(crate) asked: Vec<u64>,
}

impl Probe {
    pub(crate) fn answer<P: Permission>(&mut self, permission: &P) -> bool {
        let mut hasher = DefaultHasher::new();
        TypeId::of::<P>().hash(&mut hasher);
        permission.hash(&mut hasher);
        let answer = self.script.get(self.asked.len()).copied().unwrap_or(false);
        self.asked.push(hasher.finish());
        answer
    }
}

enum Need {
    Load(Arc<dyn DynPermissionLoader>, TypeId),
    Error(LoginError),
}

/// The permissions of the request's user, as a guard's generated check sees them.
#[doc(hidden)]
pub struct Grants<'a>(Source<'a>);

enum Source<'a> {
    Request {
        req: &'a HttpRequest,
        user: &'a SharedUser,
    },
    /// Scripted answers, for the fingerprint of a shared rule (`rules`).
    Probe(&'a RefCell<Probe>),
}

impl<'a> Grants<'a> {
    pub(crate) fn probe(probe: &'a RefCell<Probe>) -> Self {
        Grants(Source::Probe(probe))
    }
}

impl Grants<'_> {
    /// Whether the user holds `permission`: from this request's known sets, else the loader
    /// of its type (`Err` until it has run), else the user's own fields.
    pub fn has<P: Permission>(&self, permission: &P) -> Result<bool, Unresolved> {
        let (req, user) = match &self.0 {
            Source::Request { req, user } => (*req, *user),
            Source::Probe(probe) => return Ok(probe.borrow_mut().answer(permission)),
        };
        let type_id = TypeId::of::<P>();
        if let Some(set) = known_set(req, type_id) {
            return Ok(contains(&*set, permission));
        }
        if let Some(loader) = loader_for(req, type_id)
            && !user.is_anonymous()
        {
            return Err(Unresolved(Need::Load(loader, type_id)));
        }
        match user.has_permission(permission) {
            Some(yes) => Ok(yes),
            None if user.is_anonymous() => Ok(false),
            None => Err(Unresolved(Need::Error(LoginError::NoPermissionSource {
                permission: std::any::type_name::<P>(),
                user: user.type_name(),
            }))),
        }
    }
}

fn loader_for(req: &HttpRequest, type_id: TypeId) -> Option<Arc<dyn DynPermissionLoader>> {
    let manager = LoginManager::from_request(req).ok()?;
    manager.settings().authz.loaders.iter().find(|(id, _)| *id == type_id).map(|(_, loader)| Arc::clone(loader))
}

/// A guard's permission rule (`permission = all(..)` compiled into a function).
#[doc(hidden)]
pub trait PermissionCheck: 'static {
    /// The rule, evaluated with short-circuits (`Err` when a loader must run first); `None`
    /// for [`Anyone`]: the guard skips the check.
    fn rule() -> Option<CheckFn>;
}

/// No permission rule: any logged-in user.
#[doc(hidden)]
pub struct Anyone;

impl PermissionCheck for Anyone {
    #[inline]
    fn rule() -> Option<CheckFn> {
        None
    }
}

/// A rule's verdict, or the loads it is waiting for.
pub(crate) enum Checked {
    Done(Result<bool, LoginError>),
    Pending(CheckFuture),
}

/// A rule, as the guard carries it.
#[doc(hidden)]
pub type CheckFn = fn(&Grants<'_>) -> Result<bool, Unresolved>;

/// Evaluates `rule` for `user`: at once when every permission it reaches is known.
pub(crate) fn check(req: &HttpRequest, user: &SharedUser, rule: CheckFn) -> Checked {
    match rule(&Grants(Source::Request { req, user })) {
        Ok(allowed) => Checked::Done(Ok(allowed)),
        Err(Unresolved(Need::Error(error))) => Checked::Done(Err(error)),
        Err(Unresolved(Need::Load(loader, type_id))) => Checked::Pending(CheckFuture {
            loading: Some((type_id, loader.load(req, user))),
            req: req.clone(),
            user: Rc::clone(user),
            check: rule,
        }),
    }
}

/// A rule waiting for the permission loaders it reaches (each runs once).
pub(crate) struct CheckFuture {
    req: HttpRequest,
    user: SharedUser,
    check: CheckFn,
    loading: Option<(TypeId, SetFuture)>,
}

impl CheckFuture {
    pub(crate) fn user(&self) -> &SharedUser {
        &self.user
    }
}

impl Future for CheckFuture {
    type Output = Result<bool, LoginError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some((type_id, load)) = &mut this.loading {
                let set = ready!(load.as_mut().poll(cx))?;
                store(&this.req, *type_id, set);
                this.loading = None;
            }
            match (this.check)(&Grants(Source::Request { req: &this.req, user: &this.user })) {
                Ok(allowed) => return Poll::Ready(Ok(allowed)),
                Err(Unresolved(Need::Error(error))) => return Poll::Ready(Err(error)),
                Err(Unresolved(Need::Load(loader, type_id))) => {
                    this.loading = Some((type_id, loader.load(&this.req, &this.user)));
                }
            }
        }
    }
}

// ---- the extractor ----

/// The current user's permissions of type `P`, for checks a guard cannot express: "may this
/// user edit *this* post?". Refuse with [`forbidden`].
///
/// They come from the manager's [permission loader](LoginManager::permission_loader) for `P`
/// (run at most once per request, shared with the guards), else from the user's
/// `#[auth_user(permissions)]` fields. Taking it never refuses a request: anonymous visitors
/// hold what the anonymous user holds (nothing, by default).
///
/// ```
/// use std::collections::HashSet;
/// use actix_web::{HttpRequest, web};
/// use login_runtime::{Authenticated, AuthUser, Permission, Permissions, forbidden, login_required};
///
/// #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// enum Perm { EditAnyPost }
/// impl Permission for Perm {}
///
/// #[derive(AuthUser)]
/// struct User { id: u64, #[auth_user(permissions)] permissions: HashSet<Perm> }
/// # #[login_runtime::user_loader] async fn load_user(id: u64) -> Option<User> { None }
///
/// struct Post { author: u64 }
///
/// #[login_required]
/// async fn edit_post(
///     req: HttpRequest,
///     user: Authenticated<User>,
///     permissions: Permissions<Perm>,
///     post: web::Path<u64>,
/// ) -> actix_web::Result<String> {
///     let post = Post { author: post.into_inner() }; // loaded from the database
///     if post.author != user.id && !permissions.has(&Perm::EditAnyPost) {
///         return Err(forbidden(&req));
///     }
///     Ok("edited".into())
/// }
/// ```
pub struct Permissions<P> {
    grants: Held,
    _permission: PhantomData<fn() -> P>,
}

enum Held {
    User(SharedUser),
    Set(Rc<dyn Any>),
}

impl<P: Permission> Permissions<P> {
    /// Whether the user holds `permission`.
    pub fn has(&self, permission: &P) -> bool {
        match &self.grants {
            Held::User(user) => user.has_permission(permission).unwrap_or(false),
            Held::Set(set) => contains(&**set, permission),
        }
    }

    /// Whether the user holds every one of `permissions`.
    pub fn has_all<'p>(&self, permissions: impl IntoIterator<Item = &'p P>) -> bool {
        permissions.into_iter().all(|p| self.has(p))
    }

    /// Whether the user holds at least one of `permissions`.
    pub fn has_any<'p>(&self, permissions: impl IntoIterator<Item = &'p P>) -> bool {
        permissions.into_iter().any(|p| self.has(p))
    }
}

impl<P> std::fmt::Debug for Permissions<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permissions").field("type", &std::any::type_name::<P>()).finish_non_exhaustive()
    }
}

/// The future of [`Permissions`].
#[doc(hidden)]
pub struct PermissionsFuture<P> {
    req: HttpRequest,
    user: Option<UserFuture>,
    loading: Option<SetFuture>,
    _permission: PhantomData<fn() -> P>,
}

impl<P: Permission> Future for PermissionsFuture<P> {
    type Output = Result<Permissions<P>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let held = |grants| Poll::Ready(Ok(Permissions { grants, _permission: PhantomData }));
        let type_id = TypeId::of::<P>();
        if let Some(load) = &mut this.loading {
            let set = ready!(load.as_mut().poll(cx))?;
            store(&this.req, type_id, Rc::clone(&set));
            return held(Held::Set(set));
        }
        let Some(user) = &mut this.user else {
            return Poll::Ready(Err(LoginError::Session("permissions polled after completion".into()).into()));
        };
        let user = ready!(Pin::new(user).poll(cx))?;
        this.user = None;
        let user = match user {
            Some(user) => user,
            None => (LoginManager::from_request(&this.req)?.settings().anonymous)(),
        };
        if let Some(set) = known_set(&this.req, type_id) {
            return held(Held::Set(set));
        }
        match loader_for(&this.req, type_id) {
            Some(loader) if !user.is_anonymous() => {
                this.loading = Some(loader.load(&this.req, &user));
                Pin::new(this).poll(cx)
            }
            _ => held(Held::User(user)),
        }
    }
}

impl<P: Permission> FromRequest for Permissions<P> {
    type Error = actix_web::Error;
    type Future = PermissionsFuture<P>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        PermissionsFuture {
            req: req.clone(),
            user: Some(UserFuture::new(req)),
            loading: None,
            _permission: PhantomData,
        }
    }
}

// ---- refusing ----

/// Answers this request the way a guard's `permission` option answers a logged-in user who
/// lacks the permission: the [`Forbidden`](crate::LoginEventKind::Forbidden) event, then the
/// [custom handler](LoginManager::forbidden_handler)'s response, or a redirect to the
/// [forbidden view](LoginManager::forbidden_view), or a 403 (a JSON body for JSON clients).
///
/// Return it as the error of a handler or an extractor, as [`unauthorized`](crate::unauthorized)
/// (which is the answer for a visitor who is not logged in at all). Without a login manager
/// installed, it is that configuration error (a 500).
///
/// ```
/// use actix_web::HttpRequest;
/// use login_runtime::{Authenticated, AuthUser, forbidden};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// async fn own_profile(req: HttpRequest, user: Authenticated<User>, id: actix_web::web::Path<u64>) -> actix_web::Result<String> {
///     if *id != user.id {
///         return Err(forbidden(&req));
///     }
///     Ok("your profile".into())
/// }
/// ```
pub fn forbidden(req: &HttpRequest) -> actix_web::Error {
    // The event names the user, when this request has loaded one.
    let user = req.extensions().get::<RequestState>().and_then(|state| match &state.slot {
        Slot::Ready(user) => user.clone(),
        _ => None,
    });
    match LoginManager::from_request(req) {
        Ok(manager) => refuse_forbidden(req, manager, user.as_ref()),
        Err(error) => error.into(),
    }
}

/// Builds the 403 as an error whose response is ready.
pub(crate) fn refuse_forbidden(
    req: &HttpRequest,
    manager: &LoginManager,
    user: Option<&SharedUser>,
) -> actix_web::Error {
    const KIND: &str = "forbidden";
    let settings = manager.settings();
    emit(&settings.hooks, req, LoginEventKind::Forbidden, user, None);
    if let Some(handler) = &settings.authz.handler {
        return InternalError::from_response(KIND, handler(req)).into();
    }
    let view = settings.authz.view.as_deref();
    let response = match (client(req), view) {
        (Client::Browser, Some(view)) => {
            let status = if matches!(*req.method(), Method::GET | Method::HEAD) {
                StatusCode::FOUND
            } else {
                StatusCode::SEE_OTHER
            };
            HttpResponse::build(status).insert_header((header::LOCATION, view)).finish()
        }
        (Client::Json, view) => {
            let mut body = serde_json::json!({ "error": KIND });
            if let Some(view) = view {
                body["forbidden_url"] = view.into();
            }
            HttpResponse::Forbidden().json(body)
        }
        (client, view) => {
            let mut res = HttpResponse::Forbidden();
            if let (Client::Htmx, Some(view)) = (client, view)
                && let Ok(value) = header::HeaderValue::from_str(view)
            {
                res.insert_header((HX_REDIRECT, value));
            }
            res.content_type(TEXT_PLAIN).body("Forbidden")
        }
    };
    InternalError::from_response(KIND, response).into()
}
