//! A process-local cache of a login registry's "still listed" answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::registry::{LoginInfo, LoginRegistry};

/// A [`LoginRegistry`] that remembers, for `ttl`, that a login is listed, so that the requests
/// of a logged-in user do not each ask the registry behind it.
///
/// Every request that loads the user asks the registry whether its login is still listed:
/// with `RedisLoginRegistry` (feature `redis`) one `HEXISTS` round trip, about as
/// much work again as reading the session from Redis (BENCHMARKS.md, rows 7b, 7r, 7c). With
/// this cache in front, a login found listed is not asked about again for `ttl`.
///
/// The price: a login ended **by another process** (another server of the app, or a script
/// writing the registry) is noticed by this process up to `ttl` later. Logins ended through
/// this process (a logout, a timeout, [`revoke_login`](crate::revoke_login) on this server)
/// leave the cache at once. Keep `ttl` short: seconds, not minutes. "Not listed" answers are
/// not cached (such a login ends on the request that asks).
///
/// ```no_run
/// use std::time::Duration;
/// use login_runtime::{AuthUser, CachedLoginRegistry, LoginManager, user_loader};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// #[user_loader]
/// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// # #[cfg(feature = "redis")]
/// # async fn run() -> redis::RedisResult<()> {
/// # use login_runtime::RedisLoginRegistry;
/// let redis = RedisLoginRegistry::new("redis://127.0.0.1:6379").await?;
/// let manager = LoginManager::new(load_user)
///     .login_registry(CachedLoginRegistry::new(redis, Duration::from_secs(5)));
/// # Ok(()) }
/// ```
pub struct CachedLoginRegistry<R> {
    inner: R,
    ttl: u64,
    clock: Arc<dyn Clock>,
    listed: Arc<Mutex<Listed>>,
}

/// Login id -> (its user, when the answer expires). Ids are random, so one map serves every
/// user; the user is compared on each hit.
#[derive(Default)]
struct Listed {
    logins: HashMap<u64, (Box<str>, u64)>,
    /// How many removals this process has made: an answer asked for before one of them may
    /// predate it, and is not kept.
    removals: u64,
}

impl Listed {
    /// How many answers the cache holds before it drops the expired ones (and, if that is not
    /// enough, all of them).
    const MAX: usize = 100_000;

    fn contains(&self, user_id: &str, login_id: u64, now: u64) -> bool {
        self.logins.get(&login_id).is_some_and(|(user, until)| &**user == user_id && now < *until)
    }

    /// Keeps "listed" for login `login_id` of `user_id` until `until`, unless a removal was made
    /// since `asked` (the count of removals when the answer was asked for).
    fn insert(&mut self, user_id: &str, login_id: u64, until: u64, now: u64, asked: u64) {
        if self.removals != asked {
            return;
        }
        if self.logins.len() >= Self::MAX {
            self.logins.retain(|_, (_, until)| now < *until);
            if self.logins.len() >= Self::MAX {
                self.logins.clear();
            }
        }
        self.logins.insert(login_id, (user_id.into(), until));
    }

    fn remove(&mut self, login_id: u64) {
        self.logins.remove(&login_id);
        self.removals += 1;
    }
}

impl<R> CachedLoginRegistry<R> {
    /// `inner`, with its "listed" answers kept for `ttl` (whole seconds; less than a second
    /// counts as one).
    pub fn new(inner: R, ttl: Duration) -> Self {
        Self { inner, ttl: ttl.as_secs().max(1), clock: Arc::new(SystemClock), listed: Arc::default() }
    }

    /// The clock that ages the answers (default: the system clock); a
    /// [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

fn lock(listed: &Mutex<Listed>) -> MutexGuard<'_, Listed> {
    // A panic elsewhere while holding the lock leaves a cache that is still consistent.
    listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<R: Clone> Clone for CachedLoginRegistry<R> {
    /// A clone shares the cache.
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), ttl: self.ttl, clock: self.clock.clone(), listed: self.listed.clone() }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for CachedLoginRegistry<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedLoginRegistry")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<R: LoginRegistry> LoginRegistry for CachedLoginRegistry<R> {
    type Error = R::Error;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        // Listed once the registry has it: not before, in case adding fails.
        let (user_id, login_id) = (login.user_id.clone(), login.id);
        let asked = lock(&self.listed).removals;
        let added = self.inner.add(login);
        let (listed, clock, ttl) = (self.listed.clone(), self.clock.clone(), self.ttl);
        async move {
            added.await?;
            let now = clock.now();
            lock(&listed).insert(&user_id, login_id, now.saturating_add(ttl), now, asked);
            Ok(())
        }
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        let now = self.clock.now();
        let (known, removals) = {
            let listed = lock(&self.listed);
            (listed.contains(user_id, login_id, now), listed.removals)
        };
        let ask = (!known).then(|| (self.inner.contains(user_id, login_id), self.listed.clone(), user_id.to_owned()));
        let until = now.saturating_add(self.ttl);
        async move {
            let Some((answer, listed, user_id)) = ask else { return Ok(true) };
            let answer = answer.await?;
            if answer {
                lock(&listed).insert(&user_id, login_id, until, now, removals);
            }
            Ok(answer)
        }
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        // Forgotten here first: from now on this process asks the registry.
        lock(&self.listed).remove(login_id);
        self.inner.remove(user_id, login_id)
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        self.inner.list(user_id)
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        self.inner.touch(user_id, login_id, last_seen, expires_at)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::registry::MemoryLoginRegistry;

    /// A memory registry that counts the `contains` calls that reach it.
    #[derive(Clone, Default)]
    struct Counted {
        inner: MemoryLoginRegistry,
        asked: Arc<AtomicUsize>,
    }

    impl LoginRegistry for Counted {
        type Error = std::convert::Infallible;
        fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
            self.inner.add(login)
        }
        fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
            self.asked.fetch_add(1, Ordering::SeqCst);
            self.inner.contains(user_id, login_id)
        }
        fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
            self.inner.remove(user_id, login_id)
        }
        fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
            self.inner.list(user_id)
        }
        fn touch(
            &self,
            user_id: &str,
            login_id: u64,
            last_seen: u64,
            expires_at: u64,
        ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
            self.inner.touch(user_id, login_id, last_seen, expires_at)
        }
    }

    fn info(user_id: &str, id: u64) -> LoginInfo {
        LoginInfo::new(id, user_id, 1)
    }

    #[actix_web::test]
    async fn listed_answers_are_kept_for_the_ttl_and_removals_here_forget_them_at_once() {
        let clock = ManualClock::new(1_000);
        let behind = Counted::default();
        let cached = CachedLoginRegistry::new(behind.clone(), Duration::from_secs(5)).clock(clock.clone());
        let asked = || behind.asked.load(Ordering::SeqCst);

        // Unknown logins are asked about every time ("not listed" is not kept).
        assert!(!cached.contains("ada", 1).await.unwrap());
        assert!(!cached.contains("ada", 1).await.unwrap());
        assert_eq!(asked(), 2);

        // A login added through the cache is listed without asking.
        cached.add(info("ada", 1)).await.unwrap();
        assert!(cached.contains("ada", 1).await.unwrap());
        assert_eq!(asked(), 2);
        // The answer is for that user only.
        assert!(!cached.contains("bob", 1).await.unwrap());
        assert_eq!(asked(), 3);

        // Another process ends the login: noticed once the answer is older than the ttl.
        behind.inner.remove("ada", 1).await.unwrap();
        clock.advance(Duration::from_secs(4));
        assert!(cached.contains("ada", 1).await.unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(!cached.contains("ada", 1).await.unwrap());
        assert_eq!(asked(), 4);

        // A login found listed is kept too; ended through the cache, it is gone at once.
        behind.inner.add(info("ada", 2)).await.unwrap();
        assert!(cached.contains("ada", 2).await.unwrap());
        assert!(cached.contains("ada", 2).await.unwrap());
        assert_eq!(asked(), 5);
        cached.remove("ada", 2).await.unwrap();
        assert!(!cached.contains("ada", 2).await.unwrap());
        assert_eq!(asked(), 6);
        assert!(cached.list("ada").await.unwrap().is_empty());
    }

    #[actix_web::test]
    async fn an_answer_asked_for_before_a_removal_here_is_not_kept() {
        let clock = ManualClock::new(1_000);
        let behind = MemoryLoginRegistry::new();
        let cached = CachedLoginRegistry::new(behind.clone(), Duration::from_secs(5)).clock(clock);
        behind.add(info("ada", 1)).await.unwrap();
        // The memory registry answers when asked: "listed", delivered after the removal.
        let in_flight = cached.contains("ada", 1);
        cached.remove("ada", 1).await.unwrap();
        assert!(in_flight.await.unwrap());
        assert!(!cached.contains("ada", 1).await.unwrap(), "the removal made here must hold at once");
    }

    #[test]
    fn a_full_cache_drops_expired_answers_first_then_everything() {
        let mut listed = Listed::default();
        for id in 0..Listed::MAX as u64 {
            listed.insert("ada", id, if id == 0 { 20 } else { 10 }, 0, 0);
        }
        // At 15 all but login 0 have expired: they go, login 0 stays.
        listed.insert("ada", u64::MAX, 30, 15, 0);
        assert_eq!(listed.logins.len(), 2);
        assert!(listed.contains("ada", 0, 15) && listed.contains("ada", u64::MAX, 15));
        // Full of live answers: all go but the new one.
        let mut listed = Listed::default();
        for id in 0..Listed::MAX as u64 {
            listed.insert("ada", id, 100, 0, 0);
        }
        listed.insert("ada", u64::MAX, 100, 0, 0);
        assert_eq!(listed.logins.len(), 1);
    }
}
