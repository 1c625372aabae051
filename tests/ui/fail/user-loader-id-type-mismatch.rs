use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

// The session stores `User::id` (a `u64`): a `bool` never parses from it.
#[user_loader]
async fn load_user(id: bool) -> Option<User> {
    id.then_some(User { id: 1 })
}

#[derive(AuthUser)]
struct Admin {
    id: String,
}

#[user_loader]
async fn load_admin(id: u64) -> Option<Admin> {
    Some(Admin { id: id.to_string() })
}

fn main() {}
