//! The application's users: a model, the database (SQLite by default, PostgreSQL when
//! `DATABASE_URL` is a Postgres URL and the `postgres` feature is on), argon2 password hashes,
//! and the loaders.
//!
//! login-runtime never sees a password: the application checks credentials itself and then
//! calls `login_user`.

use std::collections::HashSet;
use std::sync::OnceLock;

use actix_web::{HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use login_runtime::{AuthUser, Permission, permission_loader, request_loader, user_loader};
use serde::Serialize;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};

#[derive(Clone, Debug, AuthUser, Serialize)]
pub struct User {
    /// What the session stores, and what the loader gets back.
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// Inactive users cannot log in, and their live sessions stop being authenticated.
    #[auth_user(active)]
    pub active: bool,
    /// Changes whenever the password changes: every session and remember-me cookie (on any
    /// device) that was opened with the old value is logged out on its next request. Only a
    /// digest of it goes into the session.
    #[auth_user(session_hash)]
    #[serde(skip)]
    pub security_stamp: String,
    /// The user's API token (`Authorization: Bearer ...`), shown on the profile page.
    #[serde(skip)]
    pub api_token: String,
    /// The argon2id hash of the password (PHC string), never the password.
    #[serde(skip)]
    password_hash: String,
}

/// What a user may do beyond their own pages, granted in the `user_roles` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sees the user list (`/admin`).
    Admin,
}

impl Permission for Role {}

impl Role {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The users' and roles' tables. The same SQL runs on SQLite and PostgreSQL (`$1` parameters,
/// `BIGINT`).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        active BIGINT NOT NULL,
        security_stamp TEXT NOT NULL,
        api_token TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS user_roles (
        user_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (user_id, role)
    )",
];

/// A query for one user, by the condition `$where` on `$1`.
macro_rules! select_user {
    ($where:literal) => {
        concat!(
            "SELECT id, username, display_name, active, security_stamp, api_token, password_hash FROM users WHERE ",
            $where
        )
    };
}

/// The demo account seeded on first start (printed by `main`), an administrator.
pub const DEMO_USER: (&str, &str) = ("ada", "correct horse");

/// A second demo account, not an administrator: `/admin` refuses her.
pub const DEMO_USER_NOT_ADMIN: (&str, &str) = ("grace", "cobol rules");

/// The database: a pool of connections, shared by every worker as `web::Data<Db>`.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
}

/// Random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0; bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `sqlite::memory:`, or `postgres://...`),
    /// creates the tables that are missing, and seeds the demo users into an empty database.
    /// Returns the database and whether it seeded.
    pub async fn open(url: &str) -> Result<(Self, bool), sqlx::Error> {
        sqlx::any::install_default_drivers();
        let mut options = AnyPoolOptions::new();
        if url.contains(":memory:") {
            // Each SQLite connection to `:memory:` is its own database: keep exactly one.
            options = options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        let db = Self { pool: options.connect(url).await? };
        for statement in SCHEMA.iter().chain(crate::registry::SCHEMA) {
            sqlx::query(statement).execute(&db.pool).await?;
        }
        crate::registry::upgrade(&db.pool).await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM users").fetch_one(&db.pool).await?.try_get(0)?;
        if count > 0 {
            return Ok((db, false));
        }
        db.insert(1, DEMO_USER.0, "Ada Lovelace", DEMO_USER.1, true).await?;
        db.insert(2, "bob", "Bob (disabled)", "hunter2", false).await?;
        db.insert(3, DEMO_USER_NOT_ADMIN.0, "Grace Hopper", DEMO_USER_NOT_ADMIN.1, true).await?;
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (1, 'admin')").execute(&db.pool).await?;
        Ok((db, true))
    }

    async fn insert(
        &self,
        id: i64,
        username: &str,
        name: &str,
        password: &str,
        active: bool,
    ) -> Result<(), sqlx::Error> {
        let hash = hash_password(password.to_owned()).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query(
            "INSERT INTO users (id, username, display_name, active, security_stamp, api_token, password_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(username)
        .bind(name)
        .bind(i64::from(active))
        .bind(random_hex(16))
        .bind(random_hex(24))
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn one<'q>(&self, query: Query<'q, Any, AnyArguments<'q>>) -> Result<Option<User>, sqlx::Error> {
        query.fetch_optional(&self.pool).await?.map(|row| user(&row)).transpose()
    }

    pub async fn get(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        self.one(sqlx::query(select_user!("id = $1")).bind(id)).await
    }

    /// Every user, by id (the admin page).
    pub async fn all(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows = sqlx::query(select_user!("1 = 1 ORDER BY id")).fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    /// The roles of user `id` (names this version does not know are ignored).
    pub async fn roles(&self, id: i64) -> Result<HashSet<Role>, sqlx::Error> {
        let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1").bind(id).fetch_all(&self.pool).await?;
        let mut roles = HashSet::new();
        for row in rows {
            roles.extend(Role::from_name(&row.try_get::<String, _>("role")?));
        }
        Ok(roles)
    }

    pub async fn by_api_token(&self, token: &str) -> Result<Option<User>, sqlx::Error> {
        self.one(sqlx::query(select_user!("api_token = $1")).bind(token.to_owned())).await
    }

    /// The user with these credentials, if they are right (active or not: the caller decides).
    /// An unknown name costs the same time as a wrong password (a dummy hash is verified), so
    /// timing does not tell which names exist.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, sqlx::Error> {
        let user = self.one(sqlx::query(select_user!("username = $1")).bind(username.to_owned())).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = verify_password(hash, password.to_owned()).await;
        Ok(user.filter(|_| ok))
    }

    /// Sets a new password and a new security stamp, which ends every session and remember-me
    /// cookie of the user (the login registry drops their logins too: see `views`).
    pub async fn set_password(&self, id: i64, password: &str) -> Result<Option<User>, sqlx::Error> {
        let hash = hash_password(password.to_owned()).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query("UPDATE users SET password_hash = $1, security_stamp = $2 WHERE id = $3")
            .bind(hash)
            .bind(random_hex(16))
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.get(id).await
    }
}

fn user(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        active: row.try_get::<i64, _>("active")? != 0,
        security_stamp: row.try_get("security_stamp")?,
        api_token: row.try_get("api_token")?,
        password_hash: row.try_get("password_hash")?,
    })
}

/// An argon2id hash (the crate's default parameters, OWASP's minimum), computed on the
/// blocking thread pool: hashing takes tens of milliseconds and would stall the async worker.
pub async fn hash_password(password: String) -> Result<String, argon2::password_hash::Error> {
    web::block(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await
    .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Whether `password` matches `hash`; `None` (no such user) verifies against a dummy hash, so
/// it takes the same time and then says no. Off the async worker, like hashing.
pub async fn verify_password(hash: Option<String>, password: String) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    web::block(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    Argon2::default().hash_password(random_hex(16).as_bytes(), &salt).unwrap().to_string()
                })
                .clone()
        });
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known
    })
    .await
    .unwrap_or(false)
}

/// Called (at most once per request, and only when a handler asks for the user) with the id
/// that `login_user` stored in the session. `Ok(None)` means "no such user": the request is
/// anonymous; an `Err` is a logged 500.
#[user_loader]
pub async fn load_user(id: i64, db: web::Data<Db>) -> Result<Option<User>, sqlx::Error> {
    db.get(id).await
}

/// For requests without a login in the session: an API client's `Authorization: Bearer
/// <token>` header (the token is on the profile page). Such a user is never fresh.
#[request_loader]
pub async fn load_user_from_token(req: HttpRequest, db: web::Data<Db>) -> Result<Option<User>, sqlx::Error> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) {
        Some(token) if !token.is_empty() => db.by_api_token(token).await,
        _ => Ok(None),
    }
}

/// Called only on requests whose guard (or `Permissions<Role>` extractor) asks for roles, at
/// most once per request.
#[permission_loader]
pub async fn load_roles(user: &User, db: web::Data<Db>) -> Result<HashSet<Role>, sqlx::Error> {
    db.roles(user.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn passwords() {
        let (db, seeded) = Db::open("sqlite::memory:").await.unwrap();
        assert!(seeded);
        assert_eq!(db.authenticate("ada", "correct horse").await.unwrap().map(|u| u.id), Some(1));
        assert!(db.authenticate("ada", "correct horse ").await.unwrap().is_none());
        assert!(db.authenticate("ada", "").await.unwrap().is_none());
        assert!(db.authenticate("nobody", "correct horse").await.unwrap().is_none());
        let bob = db.authenticate("bob", "hunter2").await.unwrap().unwrap();
        assert!(!bob.is_active());
        // Hashes, never the password.
        assert!(bob.password_hash.starts_with("$argon2id$") && !bob.password_hash.contains("hunter2"));
    }

    #[actix_web::test]
    async fn password_change_changes_the_session_hash() {
        let (db, _) = Db::open("sqlite::memory:").await.unwrap();
        let before = db.get(1).await.unwrap().unwrap();
        let after = db.set_password(1, "battery staple").await.unwrap().unwrap();
        assert_ne!(before.session_hash(), after.session_hash());
        assert!(db.authenticate("ada", "battery staple").await.unwrap().is_some());
        assert!(db.authenticate("ada", "correct horse").await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn an_unknown_user_costs_a_password_check() {
        let (db, _) = Db::open("sqlite::memory:").await.unwrap();
        // Warm up (the dummy hash is made once), then time both.
        db.authenticate("nobody", "x").await.unwrap();
        let time = |name: &'static str| {
            let db = db.clone();
            async move {
                let start = std::time::Instant::now();
                for _ in 0..3 {
                    db.authenticate(name, "wrong").await.unwrap();
                }
                start.elapsed()
            }
        };
        let (known, unknown) = (time("ada").await, time("nobody").await);
        let ratio = known.as_secs_f64() / unknown.as_secs_f64();
        assert!((0.25..4.0).contains(&ratio), "wrong password {known:?}, unknown user {unknown:?}");
    }
}
