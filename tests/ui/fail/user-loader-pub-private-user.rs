// A `pub` loader of a private user type compiles (ui/pass/loader-pub-private-user.rs); using
// it outside the user's module is the error, where it is used, as for a `pub fn` returning it
// (rustc reports the path and the call).
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
