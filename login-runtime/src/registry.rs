//! The login registry: every login of every user, listed server-side (OWASP ASVS V3.3.4).

use std::collections::HashMap;
use std::fmt::Display;
use std::future::{Future, ready};
use std::sync::{Arc, Mutex};

use actix_web::HttpRequest;
use futures_core::future::LocalBoxFuture;

use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::state::{LoginRecord, current_record, with_state};
use crate::user::AuthUser;

/// One login of a user, as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct LoginInfo {
    /// The login's id: random, unique among the user's logins.
    pub id: u64,
    /// The user's id ([`AuthUser::get_id`]).
    pub user_id: String,
    /// When the login was made (seconds since the Unix epoch, by the manager's clock).
    pub created_at: u64,
    /// Whether it came with a remember-me cookie (it may outlive its session).
    pub remembered: bool,
    /// The client's address when the login was made, if known.
    pub address: Option<String>,
    /// The client's `User-Agent` when the login was made, if it sent one.
    pub user_agent: Option<String>,
}

/// Where the logins of every user are listed, server-side, so that users can see their sessions
/// and devices and end any of them (OWASP ASVS V3.3.4). Implement it on your database (or Redis)
/// when the app runs on more than one process; [`MemoryLoginRegistry`] keeps them in this
/// process.
///
/// Without a registry a login lives only in its session (and its remember cookie): nothing
/// can list it, and only a change of the user's session hash can end it from elsewhere. With
/// one ([`LoginManager::login_registry`]), each login gets an id, stored in the session next to
/// the login and in its remember cookie, and:
///
/// - [`login_user`](crate::login_user) *adds* the login (a restore from its remember cookie
///   continues it: one device, one login); [`logout_user`](crate::logout_user), the timeouts
///   and session protection *remove* it (once the handler is done, before the response
///   leaves);
/// - every request that loads the user asks the registry whether its login is still listed: a
///   login that is not (revoked from another device, or made before the registry was
///   configured) ends there, and its remember cookie no longer logs anyone in;
/// - [`logins`] lists a user's logins, [`revoke_login`] and [`revoke_other_logins`] end them.
///
/// ASVS asks that ending sessions follows a re-entered password: guard the handlers that call
/// [`revoke_login`] with [`#[fresh_login_required]`](macro@crate::fresh_login_required).
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, post, web};
/// use login_runtime::{Authenticated, AuthUser, fresh_login_required, revoke_login};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// #[post("/account/logins/{id}/end")]
/// #[fresh_login_required]
/// async fn end(req: HttpRequest, user: Authenticated<User>, id: web::Path<u64>)
///     -> actix_web::Result<HttpResponse> {
///     revoke_login(&req, &*user, id.into_inner()).await?;
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/account/logins")).finish())
/// }
/// ```
///
/// The futures are awaited on the request's worker and need not be `Send`. An `Err` is a logged
/// 500: a login that could not be listed does not happen, a login that cannot be checked is not
/// let through, and a logout that could not be recorded is answered with the error (the session
/// keeps its login, so the user can try again).
pub trait LoginRegistry: Send + Sync + 'static {
    /// What a failed call returns.
    type Error: Display + 'static;

    /// Lists a new login.
    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static;

    /// Whether login `login_id` of user `user_id` is listed.
    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static;

    /// Removes a login; removing one that is not listed is not an error.
    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static;

    /// Every listed login of user `user_id`, in any order.
    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static;
}

/// A [`LoginRegistry`] in this process's memory: for apps on one process, and for tests.
/// Clones share the same list.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoginRegistry {
    logins: Arc<Mutex<HashMap<String, Vec<LoginInfo>>>>,
}

impl MemoryLoginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Vec<LoginInfo>>) -> R) -> R {
        // A panic elsewhere while holding the lock leaves a list that is still consistent.
        let mut logins = self.logins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut logins)
    }
}

impl LoginRegistry for MemoryLoginRegistry {
    type Error = std::convert::Infallible;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.with(|logins| {
            let list = logins.entry(login.user_id.clone()).or_default();
            list.retain(|l| l.id != login.id);
            list.push(login);
        });
        ready(Ok(()))
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        ready(Ok(self.with(|logins| logins.get(user_id).is_some_and(|list| list.iter().any(|l| l.id == login_id)))))
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.with(|logins| {
            if let Some(list) = logins.get_mut(user_id) {
                list.retain(|l| l.id != login_id);
                if list.is_empty() {
                    logins.remove(user_id);
                }
            }
        });
        ready(Ok(()))
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        ready(Ok(self.with(|logins| logins.get(user_id).cloned().unwrap_or_default())))
    }
}

pub(crate) type RegistryFuture<T> = LocalBoxFuture<'static, Result<T, LoginError>>;

/// A registry with its types erased, as the manager stores it.
pub(crate) trait DynLoginRegistry: Send + Sync {
    fn add(&self, login: LoginInfo) -> RegistryFuture<()>;
    fn contains(&self, user_id: &str, login_id: u64) -> RegistryFuture<bool>;
    fn remove(&self, user_id: &str, login_id: u64) -> RegistryFuture<()>;
    fn list(&self, user_id: &str) -> RegistryFuture<Vec<LoginInfo>>;
}

fn erased<T, E: Display>(fut: impl Future<Output = Result<T, E>> + 'static) -> RegistryFuture<T> {
    Box::pin(async move { fut.await.map_err(|e| LoginError::Registry(e.to_string())) })
}

impl<R: LoginRegistry> DynLoginRegistry for R {
    fn add(&self, login: LoginInfo) -> RegistryFuture<()> {
        erased(LoginRegistry::add(self, login))
    }
    fn contains(&self, user_id: &str, login_id: u64) -> RegistryFuture<bool> {
        erased(LoginRegistry::contains(self, user_id, login_id))
    }
    fn remove(&self, user_id: &str, login_id: u64) -> RegistryFuture<()> {
        erased(LoginRegistry::remove(self, user_id, login_id))
    }
    fn list(&self, user_id: &str) -> RegistryFuture<Vec<LoginInfo>> {
        erased(LoginRegistry::list(self, user_id))
    }
}

/// A change to the registry that the login middleware makes once the handler is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegistryOp {
    Add(LoginInfo),
    Remove { user_id: String, login_id: u64 },
}

/// A new login id: 40 random bits, never 0 (no id). It only has to be unique among one user's
/// logins (a user with 10,000 listed logins has odds of 1 in 20,000 of a clash), and the session
/// carries it on every request: at 13 digits it costs ~3 bytes less a request than 53 bits
/// (the most a JSON number keeps exact, which ids made by earlier versions use; they still
/// work).
pub(crate) fn new_login_id() -> u64 {
    let mut bytes = [0u8; 8];
    if let Err(error) = getrandom::fill(&mut bytes) {
        // The OS random source is gone: no login can be made safely without it.
        panic!("the operating system's random number generator failed: {error}");
    }
    (u64::from_le_bytes(bytes) >> 24).max(1)
}

/// The registry entry of a login made now on this request.
pub(crate) fn login_info(
    req: &HttpRequest,
    manager: &LoginManager,
    user_id: &str,
    id: u64,
    remembered: bool,
) -> LoginInfo {
    let address = if manager.settings().trust_forwarded_for {
        req.connection_info().realip_remote_addr().map(str::to_owned)
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    LoginInfo { id, user_id: user_id.to_owned(), created_at: manager.now(), remembered, address, user_agent }
}

/// Queues a change for the middleware.
pub(crate) fn queue(req: &HttpRequest, op: RegistryOp) {
    with_state(req, |state| state.registry.push(op));
}

/// Queues the removal of the login in `record`, if it has an id and a registry is configured.
pub(crate) fn queue_removal(req: &HttpRequest, manager: &LoginManager, record: &LoginRecord, user_id: &str) {
    if manager.settings().registry.is_some()
        && let Some(login_id) = record.login_id
    {
        queue(req, RegistryOp::Remove { user_id: user_id.to_owned(), login_id });
    }
}

fn registry(manager: &LoginManager) -> Result<&dyn DynLoginRegistry, LoginError> {
    manager.settings().registry.as_deref().ok_or(LoginError::RegistryMissing)
}

/// The id of the login in force for this request, if it has one (to mark "this device" in a
/// list of [`logins`]). `None` without a login, or without a registry.
pub fn login_id(req: &HttpRequest) -> Option<u64> {
    current_record(req).and_then(|(record, _)| record.login_id)
}

/// Every login of `user` that the registry lists, oldest first. Logins past the manager's
/// [absolute timeout](LoginManager::absolute_timeout) are removed on the way, unless they came
/// with a remember cookie (which logs them back in after the timeout, as the same login).
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn logins<U: AuthUser + ?Sized>(req: &HttpRequest, user: &U) -> Result<Vec<LoginInfo>, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    live_logins(registry, manager, &user_id).await
}

/// The listed logins of `user_id`, oldest first, once those past the absolute timeout (and
/// not remembered) are removed.
async fn live_logins(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    user_id: &str,
) -> Result<Vec<LoginInfo>, LoginError> {
    let (mut live, expired): (Vec<_>, Vec<_>) =
        registry.list(user_id).await?.into_iter().partition(|l| !expired(manager, l));
    for login in expired {
        registry.remove(user_id, login.id).await?;
    }
    live.sort_by_key(|l| (l.created_at, l.id));
    Ok(live)
}

/// Whether `login` is past the absolute timeout and has no remember cookie to outlive it.
fn expired(manager: &LoginManager, login: &LoginInfo) -> bool {
    manager
        .settings()
        .absolute_timeout
        .is_some_and(|timeout| !login.remembered && manager.now().saturating_sub(login.created_at) > timeout)
}

/// Lists the new login `login`, then ends the user's expired logins and, beyond
/// [`LoginManager::max_logins_per_user`], the oldest others. Only the listing can fail the
/// login: the clean-up is tried again at the next login.
pub(crate) async fn add_login(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    login: LoginInfo,
) -> Result<(), LoginError> {
    let (user_id, new_id) = (login.user_id.clone(), login.id);
    registry.add(login).await?;
    if let Err(error) = prune(registry, manager, &user_id, new_id).await {
        tracing::warn!(%error, "could not remove a user's old logins from the login registry");
    }
    Ok(())
}

async fn prune(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    user_id: &str,
    new_id: u64,
) -> Result<(), LoginError> {
    let max = manager.settings().max_logins;
    if max.is_none() && manager.settings().absolute_timeout.is_none() {
        return Ok(());
    }
    let mut others = live_logins(registry, manager, user_id).await?;
    others.retain(|l| l.id != new_id);
    if let Some(max) = max {
        let over = others.len().saturating_sub(max - 1);
        for login in others.drain(..over) {
            registry.remove(user_id, login.id).await?;
        }
    }
    Ok(())
}

/// Ends login `login_id` of `user`, wherever it is: its session is logged out on its next
/// request, and its remember cookie no longer works. Ending this request's own login logs it
/// out now ([`logout_user`](crate::logout_user)). Returns whether the login was listed.
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn revoke_login<U: AuthUser + ?Sized>(
    req: &HttpRequest,
    user: &U,
    login_id: u64,
) -> Result<bool, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let listed = registry.contains(&user_id, login_id).await?;
    registry.remove(&user_id, login_id).await?;
    if current_record(req).is_some_and(|(record, id)| id == user_id && record.login_id == Some(login_id)) {
        crate::logout_user(req)?;
    }
    Ok(listed)
}

/// Ends every login of `user` but this request's own ("log out my other devices"). Returns how
/// many were ended.
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn revoke_other_logins<U: AuthUser + ?Sized>(req: &HttpRequest, user: &U) -> Result<usize, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let current = current_record(req).filter(|(_, id)| *id == user_id).and_then(|(record, _)| record.login_id);
    let mut ended = 0;
    for login in registry.list(&user_id).await? {
        if Some(login.id) != current {
            registry.remove(&user_id, login.id).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(user_id: &str, id: u64) -> LoginInfo {
        LoginInfo { id, user_id: user_id.into(), created_at: 1, remembered: false, address: None, user_agent: None }
    }

    #[actix_web::test]
    async fn memory_registry_adds_lists_and_removes() {
        let registry = MemoryLoginRegistry::new();
        let shared = registry.clone();
        LoginRegistry::add(&registry, info("ada", 1)).await.unwrap();
        LoginRegistry::add(&registry, info("ada", 2)).await.unwrap();
        LoginRegistry::add(&registry, info("bob", 1)).await.unwrap();
        // The same login added twice is listed once.
        LoginRegistry::add(&registry, info("ada", 2)).await.unwrap();
        assert_eq!(LoginRegistry::list(&shared, "ada").await.unwrap().len(), 2);
        assert!(LoginRegistry::contains(&shared, "bob", 1).await.unwrap());
        assert!(!LoginRegistry::contains(&shared, "bob", 2).await.unwrap());
        LoginRegistry::remove(&registry, "ada", 1).await.unwrap();
        LoginRegistry::remove(&registry, "ada", 99).await.unwrap();
        assert_eq!(LoginRegistry::list(&shared, "ada").await.unwrap(), vec![info("ada", 2)]);
        assert!(LoginRegistry::contains(&shared, "bob", 1).await.unwrap());
        assert!(LoginRegistry::list(&shared, "nobody").await.unwrap().is_empty());
    }

    #[test]
    fn login_ids_are_random_nonzero_and_40_bits() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| new_login_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id > 0 && id < (1 << 40)));
    }
}
