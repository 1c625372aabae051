// User and request loaders: extractors, patterns, `Option` and `Result` outputs, docs.
use std::collections::HashMap;
use std::fmt;

use actix_web::{web, HttpRequest};
use login_runtime::{request_loader, user_loader, AuthUser, LoginManager};

#[derive(Clone, AuthUser)]
pub struct User {
    id: u64,
}

// Types in a public loader's signature must be public: they appear in its `UserLoader` impl.
pub struct Db(HashMap<u64, User>);

#[derive(serde::Deserialize)]
pub struct Tenant {
    tenant: String,
}

#[derive(Debug)]
pub struct DbError;

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("database unavailable")
    }
}

/// Loads a user from the database.
#[user_loader]
pub async fn load_user(
    id: u64,
    db: web::Data<Db>,
    web::Query(Tenant { tenant }): web::Query<Tenant>,
    mut _req: HttpRequest,
) -> Result<Option<User>, DbError> {
    if id == 0 || tenant.is_empty() {
        return Err(DbError);
    }
    Ok(db.0.get(&id).cloned())
}

#[user_loader]
async fn load_by_name(name: String) -> Option<User> {
    name.parse().ok().map(|id| User { id })
}

#[request_loader]
pub(crate) async fn load_from_api_key(req: HttpRequest) -> Option<User> {
    let key = req.headers().get("x-api-key")?.to_str().ok()?;
    Some(User { id: key.parse().ok()? })
}

#[request_loader]
async fn load_nobody() -> Option<User> {
    None
}

// A hand-written `AuthUser` says nothing of its id's type: the loader's id is not checked
// against it (a derived user's is, see ui/fail/user-loader-id-type-mismatch.rs).
struct Member(i64);

impl AuthUser for Member {
    fn get_id(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

#[user_loader]
async fn load_member(id: i64) -> Option<Member> {
    Some(Member(id))
}

fn main() {
    let _ = LoginManager::new(load_user).request_loader(load_from_api_key);
    let _ = LoginManager::new(load_by_name).request_loader(load_nobody);
    let _ = LoginManager::new(load_member);
    // The loader is a `Copy` value with the function's name.
    let copy = load_user;
    let _ = (copy, load_user, format!("{copy:?}"));
}
