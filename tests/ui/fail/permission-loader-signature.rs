use std::collections::HashSet;

use login_runtime::{AuthUser, Permission, permission_loader};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[derive(PartialEq, Eq, Hash)]
enum Role {
    Admin,
}
impl Permission for Role {}

// The user is taken by value: a loader borrows it.
#[permission_loader]
async fn load_roles(_user: User) -> HashSet<Role> {
    HashSet::from([Role::Admin])
}

// Returns a list, not a set.
#[permission_loader]
async fn load_more_roles(_user: &User) -> Vec<Role> {
    vec![Role::Admin]
}

fn main() {}
