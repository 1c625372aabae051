use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[user_loader]
async fn load_user(id: u64) -> Option<User>
where
    u64: Copy,
{
    Some(User { id })
}

fn main() {}
