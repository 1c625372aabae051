//! The application's users: a model, an in-memory "database", and the user loader.
//!
//! login-runtime never sees a password: the application checks credentials itself and then
//! calls `login_user`.

use std::collections::HashMap;
use std::sync::RwLock;

use actix_web::web;
use login_runtime::{AuthUser, user_loader};
use subtle::ConstantTimeEq;

#[derive(Clone, Debug, AuthUser)]
pub struct User {
    /// What the session stores, and what the loader gets back.
    pub id: u32,
    pub username: String,
    pub display_name: String,
    /// Inactive users cannot log in, and their live sessions stop being authenticated.
    #[auth_user(active)]
    pub active: bool,
    /// Changes whenever the password changes: every session (on any device) that was opened
    /// with the old value is logged out on its next request. Only a digest of it goes into
    /// the session.
    #[auth_user(session_hash)]
    pub security_stamp: String,
    /// DEMO ONLY: a real application stores an argon2id hash here (the `argon2` crate) and
    /// verifies it with `PasswordHash`/`verify_password`, never the password itself.
    password: String,
}

impl User {
    fn new(id: u32, username: &str, display_name: &str, password: &str, active: bool) -> Self {
        Self {
            id,
            username: username.into(),
            display_name: display_name.into(),
            active,
            security_stamp: "1".into(),
            password: password.into(),
        }
    }

    /// Whether `candidate` is this user's password, compared in constant time.
    pub fn check_password(&self, candidate: &str) -> bool {
        password_matches(&self.password, candidate)
    }
}

/// A constant-time comparison: the time taken does not reveal how many leading bytes of the
/// guess were right (it does reveal whether the lengths differ, which a hash would hide).
fn password_matches(stored: &str, candidate: &str) -> bool {
    stored.as_bytes().ct_eq(candidate.as_bytes()).into()
}

/// The users, kept in memory: shared by every worker as `web::Data<Db>`.
pub struct Db {
    users: RwLock<HashMap<u32, User>>,
}

impl Db {
    /// Two demo accounts: `ada` / `correct horse`, and `bob` / `hunter2`, whose account is
    /// disabled.
    pub fn demo() -> Self {
        let users = [
            User::new(1, "ada", "Ada Lovelace", "correct horse", true),
            User::new(2, "bob", "Bob (disabled)", "hunter2", false),
        ];
        Self { users: RwLock::new(users.into_iter().map(|u| (u.id, u)).collect()) }
    }

    pub fn get(&self, id: u32) -> Option<User> {
        self.users.read().unwrap().get(&id).cloned()
    }

    /// The user with these credentials, if they are right (active or not: the caller decides).
    pub fn authenticate(&self, username: &str, password: &str) -> Option<User> {
        let users = self.users.read().unwrap();
        match users.values().find(|u| u.username == username) {
            Some(user) => user.check_password(password).then(|| user.clone()),
            None => {
                // Spend the same time on unknown names, so timing does not list the users.
                password_matches("not a real password", password);
                None
            }
        }
    }

    /// Sets a new password and a new security stamp, which logs out the user's other sessions.
    pub fn set_password(&self, id: u32, password: &str) -> Option<User> {
        let mut users = self.users.write().unwrap();
        let user = users.get_mut(&id)?;
        user.password = password.into();
        let version: u64 = user.security_stamp.parse().unwrap_or(0);
        user.security_stamp = (version + 1).to_string();
        Some(user.clone())
    }
}

/// Called (at most once per request, and only when a handler asks for the user) with the id
/// that `login_user` stored in the session. `None` means "no such user": the request is
/// anonymous. A real loader queries the database and returns `Result<Option<User>, E>`; an
/// `Err` becomes a logged 500.
#[user_loader]
pub async fn load_user(id: u32, db: web::Data<Db>) -> Option<User> {
    db.get(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let db = Db::demo();
        assert_eq!(db.authenticate("ada", "correct horse").map(|u| u.id), Some(1));
        assert!(db.authenticate("ada", "correct horse ").is_none());
        assert!(db.authenticate("ada", "").is_none());
        assert!(db.authenticate("nobody", "correct horse").is_none());
        let bob = db.authenticate("bob", "hunter2").unwrap();
        assert!(!bob.is_active());
    }

    #[test]
    fn password_change_changes_the_session_hash() {
        let db = Db::demo();
        let before = db.get(1).unwrap();
        let after = db.set_password(1, "battery staple").unwrap();
        assert_ne!(before.session_hash(), after.session_hash());
        assert!(db.authenticate("ada", "battery staple").is_some());
        assert!(db.authenticate("ada", "correct horse").is_none());
    }
}
