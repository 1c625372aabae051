use login_runtime::{request_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

struct ApiKeys;

#[request_loader]
async fn load_from_key(_keys: ApiKeys) -> Option<User> {
    Some(User { id: 1 })
}

fn main() {}
