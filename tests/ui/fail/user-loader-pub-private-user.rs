mod auth {
    use login_runtime::{user_loader, AuthUser};

    #[derive(AuthUser)]
    struct User {
        id: u64,
    }

    #[user_loader]
    pub async fn load_user(id: u64) -> Option<User> {
        Some(User { id })
    }
}

fn main() {
    let _ = login_runtime::LoginManager::new(auth::load_user);
}

// A hard E0446 where a plain `pub fn` only warns: the loader is a `pub` struct whose
// `UserLoader` impl names `User` in `type Output`. Make the user type as visible as the loader
// (or the loader as private as the user).
