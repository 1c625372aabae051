//! A login registry in Redis (feature `redis`), for apps on several processes or machines.

use std::future::Future;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::registry::{LoginInfo, LoginRegistry};

/// A [`LoginRegistry`] in Redis (feature `redis`): every process of the app sees the same
/// logins. Each user's logins are one Redis hash, `<prefix><user id>`, a field per login (its
/// id) holding the login as JSON.
///
/// It can share the Redis of actix-session's `RedisSessionStore`. Each request that loads the
/// user asks it one `HEXISTS`; logins and logouts write one field.
///
/// ```no_run
/// use std::time::Duration;
/// use login_runtime::{AuthUser, LoginManager, RedisLoginRegistry, user_loader};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// #[user_loader]
/// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// # async fn run() -> redis::RedisResult<()> {
/// let registry = RedisLoginRegistry::new("redis://127.0.0.1:6379")
///     .await?
///     .expire_after(Duration::from_secs(400 * 24 * 3600)); // longer than any remember cookie
/// let manager = LoginManager::new(load_user).login_registry(registry);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisLoginRegistry {
    conn: ConnectionManager,
    prefix: String,
    expire_after: Option<Duration>,
}

impl std::fmt::Debug for RedisLoginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLoginRegistry")
            .field("prefix", &self.prefix)
            .field("expire_after", &self.expire_after)
            .finish_non_exhaustive()
    }
}

impl RedisLoginRegistry {
    /// Connects to the Redis at `url` (`redis://host:port/db`); the connection reconnects by
    /// itself when Redis goes away.
    ///
    /// Connecting and every command time out after [`TIMEOUT`](Self::TIMEOUT): a Redis that
    /// stops answering fails the requests that need it (a logged 500) instead of holding them
    /// forever. For other settings, make the connection yourself and hand it to
    /// [`with_connection`](Self::with_connection).
    ///
    /// # Errors
    /// An invalid URL, or no Redis answering there within the timeout.
    pub async fn new(url: &str) -> redis::RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Self::TIMEOUT)
            .set_response_timeout(Self::TIMEOUT)
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(redis::Client::open(url)?, config).await?;
        Ok(Self::with_connection(conn))
    }

    /// How long [`new`](Self::new)'s connection waits to connect, and for each answer.
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// Uses an existing connection.
    pub fn with_connection(conn: ConnectionManager) -> Self {
        Self { conn, prefix: "login-registry:".into(), expire_after: None }
    }

    /// The prefix of the registry's keys (default `login-registry:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Forget a user's logins this long after their last login (default: never). Make it
    /// longer than the longest remember cookie and absolute timeout: a login the registry has
    /// forgotten ends.
    pub fn expire_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    fn key(&self, user_id: &str) -> String {
        format!("{}{user_id}", self.prefix)
    }
}

impl LoginRegistry for RedisLoginRegistry {
    type Error = redis::RedisError;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(&login.user_id);
        let expire = self.expire_after.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1));
        let json = serde_json::to_string(&login);
        async move {
            let json =
                json.map_err(|e| redis::RedisError::from((redis::ErrorKind::TypeError, "JSON", e.to_string())))?;
            let mut pipe = redis::pipe();
            pipe.atomic().hset(&key, login.id, json).ignore();
            if let Some(secs) = expire {
                pipe.expire(&key, secs).ignore();
            }
            pipe.query_async::<()>(&mut conn).await
        }
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(user_id);
        async move { conn.hexists(key, login_id).await }
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(user_id);
        async move { conn.hdel::<_, _, ()>(key, login_id).await }
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(user_id);
        async move {
            let values: Vec<String> = conn.hvals(&key).await?;
            Ok(values
                .iter()
                .filter_map(|json| match serde_json::from_str(json) {
                    Ok(login) => Some(login),
                    Err(error) => {
                        // Not ours, or from a later version: not a login this one can show.
                        tracing::warn!(%error, key, "ignoring an unreadable login in the registry");
                        None
                    }
                })
                .collect())
        }
    }
}
