use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

struct Users;

impl Users {
    #[user_loader]
    async fn load_user(id: u64) -> Option<User> {
        Some(User { id })
    }
}

fn main() {}

// rustc's own errors, with its "move it out to a nearby module scope": an attribute macro cannot
// see that its function is inside an impl, and the loader is a struct, which must be at module
// level.
