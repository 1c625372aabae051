use login_runtime::{user_loader, AuthUser, LoginManager};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[user_loader]
fn load_user(id: u64) -> Option<User> {
    Some(User { id })
}

fn main() {
    // The loader is still generated: no second error here.
    let _ = LoginManager::new(load_user);
}
