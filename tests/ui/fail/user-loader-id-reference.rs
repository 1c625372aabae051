use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: String,
}

#[user_loader]
async fn load_user(id: &str) -> Option<User> {
    Some(User { id: id.to_owned() })
}

fn main() {}
