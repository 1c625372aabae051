use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

struct Pool;

#[user_loader]
async fn load_user(id: u64, _pool: Pool) -> Option<User> {
    Some(User { id })
}

fn main() {}
