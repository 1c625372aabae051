//! A login registry in Redis (feature `redis`), for apps on several processes or machines.

use std::collections::HashMap;
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
/// user asks it one `HEXISTS`; logins and logouts write one field, and a login's
/// [`last_seen`](LoginInfo::last_seen) is written at most once per activity interval (in
/// field `<id>:seen`). The key expires once the last of its logins can no longer be used
/// ([`LoginInfo::expires_at`]); each write (a login, a touch) also looks at a few of the
/// user's logins (8 fields at random, O(1)) and removes those that expired before it. Needs
/// Redis 6.2 or later (`HRANDFIELD`).
///
/// ```no_run
/// use login_runtime::{AuthUser, LoginManager, RedisLoginRegistry, user_loader};
///
/// #[derive(AuthUser)]
/// struct User { id: u64 }
///
/// #[user_loader]
/// async fn load_user(id: u64) -> Option<User> { Some(User { id }) }
///
/// # async fn run() -> redis::RedisResult<()> {
/// let registry = RedisLoginRegistry::new("redis://127.0.0.1:6379").await?;
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

    /// Keep a user's logins at least this long after their last login or
    /// [touch](LoginRegistry::touch) (default: until the latest of their
    /// [`expires_at`](LoginInfo::expires_at); the key expires then).
    pub fn expire_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    /// The key's time to live once it holds a login usable until `expires_at`, at `now`.
    fn ttl(&self, now: u64, expires_at: u64) -> u64 {
        // A minute's margin for clocks apart; at most a century (Redis refuses huge expiries).
        let ttl = expires_at.saturating_sub(now).saturating_add(60).min(100 * 365 * 24 * 3600);
        self.expire_after.map_or(ttl, |after| ttl.max(after.as_secs())).max(1)
    }

    fn key(&self, user_id: &str) -> String {
        format!("{}{user_id}", self.prefix)
    }
}

/// The end of both scripts: looks at up to 8 random fields of the user's hash (O(1), however
/// many logins the user has) and removes the logins among them that expired before `now`, so
/// expired logins of a user go as the user's other logins are written.
macro_rules! sweep {
    () => {
        r"
for _, field in ipairs(redis.call('HRANDFIELD', KEYS[1], 8)) do
  local id = field
  if string.sub(field, -5) == ':seen' then id = string.sub(field, 1, -6) end
  local json = redis.call('HGET', KEYS[1], id)
  if not json then
    redis.call('HDEL', KEYS[1], field)
  else
    local ok, login = pcall(cjson.decode, json)
    if ok and type(login) == 'table' and type(login.expires_at) == 'number' then
      local expires = login.expires_at
      local seen = redis.call('HGET', KEYS[1], id .. ':seen')
      if seen then
        local until_seen = tonumber(string.match(seen, '%d+$'))
        if until_seen and until_seen > expires then expires = until_seen end
      end
      if expires < now then redis.call('HDEL', KEYS[1], id, id .. ':seen') end
    end
  end
end
return 0
"
    };
}

/// Lists a login (ARGV: id, JSON, time to live, now): its JSON in field `<id>`, any earlier
/// touch of the same id forgotten, and the key kept alive at least that long.
const ADD: &str = concat!(
    r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1] .. ':seen')
local ttl = tonumber(ARGV[3])
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
local now = tonumber(ARGV[4])
",
    sweep!()
);

/// Touches a listed login (ARGV: id, last seen, expires at, time to live): field `<id>:seen`
/// holds `<last seen> <expires at>`, the latter only ever raised.
const TOUCH: &str = concat!(
    r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local field = ARGV[1] .. ':seen'
local expires = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], field)
if old then
  local was = tonumber(string.match(old, '%d+$'))
  if was and was > expires then expires = was end
end
redis.call('HSET', KEYS[1], field, ARGV[2] .. ' ' .. string.format('%d', expires))
local ttl = tonumber(ARGV[4])
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
local now = tonumber(ARGV[2])
",
    sweep!()
);

/// Times above this are kept as this (a Lua number holds it exactly; the year 36812).
const MAX_TIME: u64 = 1 << 40;

impl LoginRegistry for RedisLoginRegistry {
    type Error = redis::RedisError;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(&login.user_id);
        let ttl = self.ttl(login.last_seen, login.expires_at);
        let login = LoginInfo { expires_at: login.expires_at.min(MAX_TIME), ..login };
        let json = serde_json::to_string(&login);
        async move {
            let json =
                json.map_err(|e| redis::RedisError::from((redis::ErrorKind::TypeError, "JSON", e.to_string())))?;
            let now = login.created_at.max(login.last_seen).min(MAX_TIME);
            let mut eval = redis::cmd("EVAL");
            eval.arg(ADD).arg(1).arg(&key).arg(login.id).arg(json).arg(ttl).arg(now);
            eval.query_async(&mut conn).await
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
        async move { conn.hdel::<_, _, ()>(key, &[login_id.to_string(), format!("{login_id}:seen")]).await }
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(user_id);
        async move {
            let fields: HashMap<String, String> = conn.hgetall(&key).await?;
            Ok(fields
                .iter()
                .filter(|(field, _)| !field.ends_with(":seen"))
                .filter_map(|(field, json)| match serde_json::from_str::<LoginInfo>(json) {
                    Ok(mut login) => {
                        if login.last_seen == 0 {
                            // Listed by a version that did not record it.
                            login.last_seen = login.created_at;
                        }
                        if let Some((seen, expires)) =
                            fields.get(&format!("{field}:seen")).and_then(|s| s.split_once(' '))
                            && let (Ok(seen), Ok(expires)) = (seen.parse::<u64>(), expires.parse::<u64>())
                        {
                            login.last_seen = seen;
                            login.expires_at = login.expires_at.max(expires);
                        }
                        Some(login)
                    }
                    Err(error) => {
                        // Not ours, or from a later version: not a login this one can show.
                        tracing::warn!(%error, key, "ignoring an unreadable login in the registry");
                        None
                    }
                })
                .collect())
        }
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let mut conn = self.conn.clone();
        let key = self.key(user_id);
        let ttl = self.ttl(last_seen, expires_at);
        let (last_seen, expires_at) = (last_seen.min(MAX_TIME), expires_at.min(MAX_TIME));
        async move {
            redis::cmd("EVAL")
                .arg(TOUCH)
                .arg(1)
                .arg(&key)
                .arg(login_id)
                .arg(last_seen)
                .arg(expires_at)
                .arg(ttl)
                .query_async::<()>(&mut conn)
                .await
        }
    }
}
