//! Permissions: every combinator, both guards, above and below route macros, `.to()`, the
//! derive option on several fields, a permission loader with extractors, `Permissions<P>`.
use std::collections::{BTreeSet, HashSet};

use actix_web::{App, get, web};
use login_runtime::{
    AuthUser, LoginManager, Permission, Permissions, fresh_login_required, login_required, permission_loader,
    user_loader,
};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Perm {
    Read,
    Edit,
}
impl Permission for Perm {}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    Admin,
    Banned,
}
impl Permission for Role {}

#[derive(AuthUser)]
pub struct User {
    id: u64,
    #[auth_user(permissions)]
    perms: BTreeSet<Perm>,
    #[auth_user(permissions)]
    roles: Vec<Role>,
}

#[user_loader]
async fn load_user(id: u64) -> Option<User> {
    Some(User { id, perms: BTreeSet::new(), roles: Vec::new() })
}

pub struct Db;

#[permission_loader]
async fn load_roles(user: &User, _db: web::Data<Db>) -> Result<HashSet<Role>, std::io::Error> {
    Ok(if user.id == 1 { HashSet::from([Role::Admin]) } else { HashSet::new() })
}

#[get("/a")]
#[login_required(permission = Perm::Edit)]
pub async fn above(path: web::Path<String>) -> String {
    path.into_inner()
}

#[login_required(permission = all(Perm::Read, any(Role::Admin, not(Role::Banned))), crate = login_runtime)]
#[get("/b")]
async fn below() -> &'static str {
    "b"
}

#[fresh_login_required(max_age = "15m", permission = not(Role::Banned))]
async fn to_handler(roles: Permissions<Role>) -> String {
    format!("{}", roles.has(&Role::Admin))
}

fn main() {
    let manager = LoginManager::new(load_user).permission_loader(load_roles);
    let _ = App::new()
        .app_data(manager.clone())
        .wrap(manager.middleware())
        .service(above)
        .service(below)
        .route("/c", web::get().to(to_handler));
}
