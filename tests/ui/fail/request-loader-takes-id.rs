use login_runtime::{request_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[request_loader]
async fn load_from_key(id: u64) -> Option<User> {
    Some(User { id })
}

fn main() {}
