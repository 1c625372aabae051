use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

struct UserId(u64);

#[user_loader]
async fn load_user(id: UserId) -> Option<User> {
    Some(User { id: id.0 })
}

fn main() {}
