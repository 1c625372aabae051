// A `pub` loader of a private user type compiles, as a `pub fn` returning it does: its impl is
// only as visible as the types it names, so there is no hard E0446 for its `type Output`.

mod auth {
    use login_runtime::{user_loader, AuthUser, LoginManager};

    #[derive(AuthUser)]
    struct User {
        id: u64,
    }

    #[user_loader]
    pub async fn load_user(id: u64) -> Option<User> {
        Some(User { id })
    }

    pub fn manager() -> LoginManager {
        LoginManager::new(load_user)
    }
}

fn main() {
    let _ = auth::manager();
}
