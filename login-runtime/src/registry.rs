//! The login registry: every login of every user, listed server-side (OWASP ASVS V3.3.4).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::future::{Future, ready};
use std::sync::{Arc, Mutex};

use futures_core::future::LocalBoxFuture;

use crate::error::LoginError;

/// One login of a user, as the registry keeps it.
///
/// A registry of your own stores every field and gives them back from
/// [`list`](LoginRegistry::list) (the struct is serde-serializable, or build it with
/// [`LoginInfo::new`] and set the fields).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct LoginInfo {
    /// The login's id: random, unique among the user's logins.
    pub id: u64,
    /// The user's id ([`AuthUser::get_id`](crate::AuthUser::get_id)).
    pub user_id: String,
    /// When the login was made (seconds since the Unix epoch, by the manager's clock).
    pub created_at: u64,
    /// When a request last used the login (seconds since the Unix epoch). Written at most once
    /// per [`activity_write_interval`](crate::LoginManager::activity_write_interval) (default: 5
    /// minutes without an idle timeout), so it may be that much behind.
    #[serde(default)]
    pub last_seen: u64,
    /// After this time (seconds since the Unix epoch) the login can no longer be used unless
    /// it is seen again: its timeouts have passed and its remember cookie has expired. A
    /// registry may forget it from then on; the runtime no longer lists it.
    #[serde(default = "never")]
    pub expires_at: u64,
    /// A digest of the user's [session hash](crate::AuthUser::session_hash) when the login was made
    /// (opaque): a login whose user's session hash changed since (a password change) is over,
    /// and no longer listed.
    #[serde(default)]
    pub session_hash: Option<u64>,
    /// A fingerprint of the keys the login can be used under (opaque): the session side (the
    /// manager's [`session_key`](crate::LoginManager::session_key) and
    /// [`secret_key`](crate::LoginManager::secret_key)) and, for a remembered login, the
    /// [remember-me key](crate::RememberMe) that signs its cookie. A login whose session side is
    /// no longer the manager's and whose cookie no key still accepted can check (after a
    /// restart with new keys) is over, and no longer listed. `None` when the manager knew none
    /// of these keys (and in entries written before this field existed): such a login is
    /// judged on its other fields only.
    #[serde(default)]
    pub key_fingerprint: Option<u64>,
    /// Whether it came with a remember-me cookie (it may outlive its session).
    pub remembered: bool,
    /// The client's address when the login was made, if known.
    pub address: Option<String>,
    /// The client's `User-Agent` when the login was made, if it sent one.
    pub user_agent: Option<String>,
}

fn never() -> u64 {
    u64::MAX
}

impl LoginInfo {
    /// Login `id` of user `user_id`, made at `created_at` and last seen then, that never
    /// expires, with no session hash, no key fingerprint, no remember cookie, no address and no
    /// user agent: set the other fields on the result.
    pub fn new(id: u64, user_id: impl Into<String>, created_at: u64) -> Self {
        Self {
            id,
            user_id: user_id.into(),
            created_at,
            last_seen: created_at,
            expires_at: never(),
            session_hash: None,
            key_fingerprint: None,
            remembered: false,
            address: None,
            user_agent: None,
        }
    }

    /// Whether the login can no longer be used at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.expires_at
    }
}

/// Where the logins of every user are listed, server-side, so that users can see their sessions
/// and devices and end any of them (OWASP ASVS V3.3.4). Implement it on your database (or Redis)
/// when the app runs on more than one process; [`MemoryLoginRegistry`] keeps them in this
/// process.
///
/// Without a registry a login lives only in its session (and its remember cookie): nothing
/// can list it, and only a change of the user's session hash can end it from elsewhere. With
/// one ([`LoginManager::login_registry`](crate::LoginManager::login_registry)), each login gets an id, stored in the session next to
/// the login and in its remember cookie, and:
///
/// - [`login_user`](crate::login_user) *adds* the login (a restore from its remember cookie
///   continues it: one device, one login); [`logout_user`](crate::logout_user), the timeouts
///   and session protection *remove* it (once the handler is done, before the response
///   leaves);
/// - every request that loads the user asks the registry whether its login is still listed: a
///   login that is not (revoked from another device, or made before the registry was
///   configured) ends there, and its remember cookie no longer logs anyone in;
/// - [`logins`](crate::logins) lists a user's logins, [`revoke_login`](crate::revoke_login) and
///   [`revoke_other_logins`](crate::revoke_other_logins) end them.
///
/// A registry outlives the app's keys. Each entry records a
/// [fingerprint of the keys](LoginInfo::key_fingerprint) that can use the login, so that after a
/// restart with new keys the logins made under the old ones are not listed and are removed
/// (give the manager the session key, [`LoginManager::session_key`](crate::LoginManager::session_key),
/// for the logins without a remember cookie).
///
/// ASVS asks that ending sessions follows a re-entered password: guard the handlers that call
/// [`revoke_login`](crate::revoke_login) with [`#[fresh_login_required]`](macro@crate::fresh_login_required).
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, post, web};
/// use login_runtime::{Authenticated, AuthUser, fresh_login_required, revoke_login};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
/// # #[login_runtime::user_loader] async fn load_user(id: u64) -> Option<User> { None }
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

    /// Lists a new login (replacing a listed login with the same user and id).
    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static;

    /// Whether login `login_id` of user `user_id` is listed. This is asked on every request
    /// that loads the user: keep it cheap.
    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static;

    /// Removes a login; removing one that is not listed is not an error.
    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static;

    /// Every listed login of user `user_id`, in any order (expired ones may be among them:
    /// the runtime leaves them out and removes them).
    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static;

    /// Records that login `login_id` of `user_id` was used at `last_seen` and can be used
    /// until at least `expires_at`: sets its [`last_seen`](LoginInfo::last_seen), and raises
    /// its [`expires_at`](LoginInfo::expires_at) to `expires_at` if that is later. Does
    /// nothing to a login that is not listed. Called at most once per login per
    /// [`activity_write_interval`](crate::LoginManager::activity_write_interval), never on every
    /// request.
    ///
    /// A registry should also forget, on its own, the logins whose `expires_at` has passed
    /// (a key expiry, a periodic `DELETE ... WHERE expires_at < now`, or as
    /// [`MemoryLoginRegistry`] does, on the way of later calls).
    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static;
}

/// A [`LoginRegistry`] in this process's memory: for apps on one process, and for tests.
/// Clones share the same list.
///
/// Each operation on a user's login costs O(1) (a hash map per user), plus O(log n) to keep
/// the logins in order of expiry: each [`add`](LoginRegistry::add) and
/// [`touch`](LoginRegistry::touch) also forgets a few logins of any user whose
/// [`expires_at`](LoginInfo::expires_at) is past (by the time of the login added or
/// touched), so expired logins go without anyone asking.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoginRegistry {
    logins: Arc<Mutex<MemoryLogins>>,
}

#[derive(Debug, Default)]
struct MemoryLogins {
    by_user: HashMap<String, HashMap<u64, LoginInfo>>,
    /// (expires at, user, login id) of every listed login.
    by_expiry: BTreeSet<(u64, String, u64)>,
}

impl MemoryLogins {
    /// How many expired logins one call forgets at most (the rest go on later calls).
    const SWEEP: usize = 16;

    fn remove(&mut self, user_id: &str, login_id: u64) -> Option<LoginInfo> {
        let list = self.by_user.get_mut(user_id)?;
        let removed = list.remove(&login_id)?;
        if list.is_empty() {
            self.by_user.remove(user_id);
        }
        self.by_expiry.remove(&(removed.expires_at, removed.user_id.clone(), login_id));
        Some(removed)
    }

    fn insert(&mut self, login: LoginInfo) {
        self.remove(&login.user_id, login.id);
        self.by_expiry.insert((login.expires_at, login.user_id.clone(), login.id));
        self.by_user.entry(login.user_id.clone()).or_default().insert(login.id, login);
    }

    /// Forgets up to [`Self::SWEEP`] logins that expired before `now`.
    fn sweep(&mut self, now: u64) {
        for _ in 0..Self::SWEEP {
            match self.by_expiry.first() {
                Some((expires_at, user_id, login_id)) if *expires_at < now => {
                    let (user_id, login_id) = (user_id.clone(), *login_id);
                    self.remove(&user_id, login_id);
                }
                _ => break,
            }
        }
    }
}

impl MemoryLoginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemoryLogins) -> R) -> R {
        // A panic elsewhere while holding the lock leaves a list that is still consistent.
        let mut logins = self.logins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut logins)
    }
}

impl LoginRegistry for MemoryLoginRegistry {
    type Error = std::convert::Infallible;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.with(|logins| {
            logins.sweep(login.created_at.max(login.last_seen));
            logins.insert(login);
        });
        ready(Ok(()))
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        ready(Ok(self.with(|logins| logins.by_user.get(user_id).is_some_and(|list| list.contains_key(&login_id)))))
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.with(|logins| logins.remove(user_id, login_id));
        ready(Ok(()))
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        ready(Ok(self.with(|logins| {
            logins.by_user.get(user_id).map(|list| list.values().cloned().collect()).unwrap_or_default()
        })))
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.with(|logins| {
            let login = logins.remove(user_id, login_id);
            logins.sweep(last_seen);
            if let Some(mut login) = login {
                login.last_seen = last_seen;
                login.expires_at = login.expires_at.max(expires_at);
                logins.insert(login);
            }
        });
        ready(Ok(()))
    }
}

pub(crate) type RegistryFuture<T> = LocalBoxFuture<'static, Result<T, LoginError>>;

/// A registry with its types erased, as the manager stores it.
pub(crate) trait DynLoginRegistry: Send + Sync {
    fn add(&self, login: LoginInfo) -> RegistryFuture<()>;
    fn contains(&self, user_id: &str, login_id: u64) -> RegistryFuture<bool>;
    fn remove(&self, user_id: &str, login_id: u64) -> RegistryFuture<()>;
    fn list(&self, user_id: &str) -> RegistryFuture<Vec<LoginInfo>>;
    fn touch(&self, user_id: &str, login_id: u64, last_seen: u64, expires_at: u64) -> RegistryFuture<()>;
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
    fn touch(&self, user_id: &str, login_id: u64, last_seen: u64, expires_at: u64) -> RegistryFuture<()> {
        erased(LoginRegistry::touch(self, user_id, login_id, last_seen, expires_at))
    }
}

/// A change to the registry that the login middleware makes once the handler is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegistryOp {
    Add(LoginInfo),
    Remove { user_id: String, login_id: u64 },
    Touch { user_id: String, login_id: u64, last_seen: u64, expires_at: u64 },
}

/// With a registry, a login not seen for this long ends (and is forgotten), whatever the
/// timeouts: 30 days, the longest OWASP ASVS 3.3.2 allows between authentications at level 1.
/// A remember cookie that lasts longer logs the user back in, as the same login.
pub(crate) const FORGET_UNSEEN: u64 = 30 * 24 * 3600;

/// The fingerprint of `key` (for `purpose`) in a [`LoginInfo::key_fingerprint`]: 32 bits of
/// SHA-256, never 0 (0 stands for no key known). It tells keys apart and reveals nothing of
/// them.
pub(crate) fn key_fingerprint(purpose: &str, key: &[u8]) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"login-runtime key fingerprint\0")
        .chain_update(purpose)
        .chain_update(b"\0")
        .chain_update(key)
        .finalize();
    u32::from_be_bytes(digest[..4].try_into().expect("SHA-256 has 32 bytes")).max(1)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(user_id: &str, id: u64) -> LoginInfo {
        LoginInfo::new(id, user_id, 1)
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

    #[actix_web::test]
    async fn memory_registry_touches_and_forgets_expired_logins_on_its_own() {
        let registry = MemoryLoginRegistry::new();
        let login = |user: &str, id, at, expires_at| LoginInfo { expires_at, ..LoginInfo::new(id, user, at) };
        LoginRegistry::add(&registry, login("ada", 1, 10, 100)).await.unwrap();
        LoginRegistry::add(&registry, login("bob", 2, 10, 50)).await.unwrap();
        // A touch moves last_seen and only ever raises expires_at.
        LoginRegistry::touch(&registry, "ada", 1, 40, 200).await.unwrap();
        LoginRegistry::touch(&registry, "ada", 1, 45, 150).await.unwrap();
        let ada = LoginRegistry::list(&registry, "ada").await.unwrap();
        assert_eq!((ada[0].last_seen, ada[0].expires_at), (45, 200));
        // Touching what is not listed lists nothing.
        LoginRegistry::touch(&registry, "ada", 9, 45, 150).await.unwrap();
        assert!(!LoginRegistry::contains(&registry, "ada", 9).await.unwrap());
        // Bob's login expired at 50: a later call of anyone forgets it.
        assert!(LoginRegistry::contains(&registry, "bob", 2).await.unwrap());
        LoginRegistry::add(&registry, login("cy", 3, 60, 500)).await.unwrap();
        assert!(!LoginRegistry::contains(&registry, "bob", 2).await.unwrap());
        assert!(LoginRegistry::list(&registry, "bob").await.unwrap().is_empty());
        // Ada's, touched until 200, stays past its first expiry.
        LoginRegistry::add(&registry, login("cy", 4, 150, 500)).await.unwrap();
        assert!(LoginRegistry::contains(&registry, "ada", 1).await.unwrap());
        LoginRegistry::add(&registry, login("cy", 5, 201, 500)).await.unwrap();
        assert!(!LoginRegistry::contains(&registry, "ada", 1).await.unwrap());
        let state = registry.logins.lock().unwrap();
        assert_eq!((state.by_user.len(), state.by_expiry.len()), (1, 3));
    }

    #[actix_web::test]
    async fn memory_registry_per_user_operations_do_not_grow_with_the_user_s_logins() {
        // 20,000 logins of one user: ~0.2 s here (debug build); the list per user of before, O(n)
        // per operation, took 5.9 s.
        let registry = MemoryLoginRegistry::new();
        let started = std::time::Instant::now();
        for id in 1..=20_000 {
            LoginRegistry::add(&registry, LoginInfo::new(id, "ada", 1)).await.unwrap();
            LoginRegistry::touch(&registry, "ada", id, 2, 10).await.unwrap();
            assert!(LoginRegistry::contains(&registry, "ada", id).await.unwrap());
        }
        for id in 1..=20_000 {
            LoginRegistry::remove(&registry, "ada", id).await.unwrap();
        }
        assert!(LoginRegistry::list(&registry, "ada").await.unwrap().is_empty());
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn login_ids_are_random_nonzero_and_40_bits() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| new_login_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id > 0 && id < (1 << 40)));
    }
}
