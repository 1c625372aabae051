//! The login registry in the application's database: every login of every user, for the
//! Devices page, shared by every instance of the site on the same database. Copy this file
//! into your application (it is the whole `LoginRegistry` contract on sqlx).

use std::future::Future;

use login_runtime::{LoginInfo, LoginRegistry};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// The logins' table (same SQL on SQLite and PostgreSQL). The ids and digests are `u64`s
/// stored bit for bit in a signed `BIGINT`; times are seconds since the Unix epoch.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS logins (
        user_id TEXT NOT NULL,
        id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        session_hash BIGINT,
        key_fingerprint BIGINT,
        remembered BIGINT NOT NULL,
        address TEXT,
        user_agent TEXT,
        PRIMARY KEY (user_id, id)
    )",
    "CREATE INDEX IF NOT EXISTS logins_expires_at ON logins (expires_at)",
];

/// Adds what a `logins` table made by an earlier version lacks: the `key_fingerprint` column.
pub async fn upgrade(pool: &AnyPool) -> Result<(), sqlx::Error> {
    if sqlx::query("SELECT key_fingerprint FROM logins LIMIT 1").fetch_optional(pool).await.is_err() {
        sqlx::query("ALTER TABLE logins ADD COLUMN key_fingerprint BIGINT").execute(pool).await?;
    }
    Ok(())
}

/// A [`LoginRegistry`] on a sqlx pool. Clones share the pool.
#[derive(Clone)]
pub struct SqlLoginRegistry {
    pool: AnyPool,
}

impl SqlLoginRegistry {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }
}

/// A time for a signed column: "never" (`u64::MAX`) is the largest `BIGINT`.
fn time(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn login(row: &AnyRow) -> Result<LoginInfo, sqlx::Error> {
    let mut info = LoginInfo::new(
        row.try_get::<i64, _>("id")? as u64,
        row.try_get::<String, _>("user_id")?,
        row.try_get::<i64, _>("created_at")? as u64,
    );
    info.last_seen = row.try_get::<i64, _>("last_seen")? as u64;
    info.expires_at = match row.try_get::<i64, _>("expires_at")? {
        i64::MAX => u64::MAX,
        secs => secs as u64,
    };
    info.session_hash = row.try_get::<Option<i64>, _>("session_hash")?.map(|h| h as u64);
    info.key_fingerprint = row.try_get::<Option<i64>, _>("key_fingerprint")?.map(|f| f as u64);
    info.remembered = row.try_get::<i64, _>("remembered")? != 0;
    info.address = row.try_get("address")?;
    info.user_agent = row.try_get("user_agent")?;
    Ok(info)
}

/// Forgets the logins that can no longer be used (on each write, so no job is needed).
async fn sweep(pool: &AnyPool, now: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM logins WHERE expires_at < $1").bind(time(now)).execute(pool).await.map(drop)
}

impl LoginRegistry for SqlLoginRegistry {
    type Error = sqlx::Error;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let pool = self.pool.clone();
        async move {
            sweep(&pool, login.created_at).await?;
            sqlx::query(
                "INSERT INTO logins (user_id, id, created_at, last_seen, expires_at, session_hash, key_fingerprint,
                   remembered, address, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (user_id, id) DO UPDATE SET created_at = excluded.created_at,
                   last_seen = excluded.last_seen, expires_at = excluded.expires_at,
                   session_hash = excluded.session_hash, key_fingerprint = excluded.key_fingerprint,
                   remembered = excluded.remembered, address = excluded.address, user_agent = excluded.user_agent",
            )
            .bind(login.user_id)
            .bind(login.id as i64)
            .bind(time(login.created_at))
            .bind(time(login.last_seen))
            .bind(time(login.expires_at))
            .bind(login.session_hash.map(|h| h as i64))
            .bind(login.key_fingerprint.map(|f| f as i64))
            .bind(i64::from(login.remembered))
            .bind(login.address)
            .bind(login.user_agent)
            .execute(&pool)
            .await
            .map(drop)
        }
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        let (pool, user_id) = (self.pool.clone(), user_id.to_owned());
        async move {
            let row = sqlx::query("SELECT 1 FROM logins WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(login_id as i64)
                .fetch_optional(&pool)
                .await?;
            Ok(row.is_some())
        }
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let (pool, user_id) = (self.pool.clone(), user_id.to_owned());
        async move {
            sqlx::query("DELETE FROM logins WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(login_id as i64)
                .execute(&pool)
                .await
                .map(drop)
        }
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        let (pool, user_id) = (self.pool.clone(), user_id.to_owned());
        async move {
            let rows = sqlx::query(
                "SELECT user_id, id, created_at, last_seen, expires_at, session_hash, key_fingerprint, remembered,
                   address, user_agent
                 FROM logins WHERE user_id = $1 ORDER BY created_at",
            )
            .bind(user_id)
            .fetch_all(&pool)
            .await?;
            rows.iter().map(login).collect()
        }
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let (pool, user_id) = (self.pool.clone(), user_id.to_owned());
        async move {
            sweep(&pool, last_seen).await?;
            sqlx::query(
                "UPDATE logins SET last_seen = $1,
                   expires_at = CASE WHEN expires_at < $2 THEN $2 ELSE expires_at END
                 WHERE user_id = $3 AND id = $4",
            )
            .bind(time(last_seen))
            .bind(time(expires_at))
            .bind(user_id)
            .bind(login_id as i64)
            .execute(&pool)
            .await
            .map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Db;

    #[actix_web::test]
    async fn a_table_of_an_earlier_version_is_upgraded() {
        let (db, _) = Db::open("sqlite::memory:").await.unwrap();
        sqlx::query("DROP TABLE logins").execute(&db.pool).await.unwrap();
        let earlier = SCHEMA[0].replace("key_fingerprint BIGINT,", "");
        sqlx::query(&earlier).execute(&db.pool).await.unwrap();
        upgrade(&db.pool).await.unwrap();
        upgrade(&db.pool).await.unwrap();
        let mut info = LoginInfo::new(1, "1", 100);
        info.key_fingerprint = Some(42);
        let registry = SqlLoginRegistry::new(db.pool.clone());
        registry.add(info.clone()).await.unwrap();
        assert_eq!(registry.list("1").await.unwrap(), vec![info]);
    }

    #[actix_web::test]
    async fn adds_lists_touches_and_removes() {
        let (db, _) = Db::open("sqlite::memory:").await.unwrap();
        let registry = SqlLoginRegistry::new(db.pool.clone());
        let mut info = LoginInfo::new(u64::MAX - 3, "1", 100);
        info.session_hash = Some(u64::MAX);
        info.key_fingerprint = Some(u64::MAX - 1);
        info.remembered = true;
        info.user_agent = Some("Firefox".into());
        registry.add(info.clone()).await.unwrap();
        let mut other = LoginInfo::new(7, "1", 200);
        other.expires_at = 300;
        registry.add(other.clone()).await.unwrap();
        assert_eq!(registry.list("1").await.unwrap(), vec![info.clone(), other.clone()]);
        assert!(registry.contains("1", u64::MAX - 3).await.unwrap());
        assert!(!registry.contains("2", 7).await.unwrap());

        registry.touch("1", 7, 250, 400).await.unwrap();
        other.last_seen = 250;
        other.expires_at = 400;
        assert_eq!(registry.list("1").await.unwrap()[1], other);
        // A write past its expiry forgets it.
        registry.touch("1", u64::MAX - 3, 500, 600).await.unwrap();
        assert!(!registry.contains("1", 7).await.unwrap());
        registry.remove("1", u64::MAX - 3).await.unwrap();
        assert!(registry.list("1").await.unwrap().is_empty());
    }
}
