use login_runtime::{fresh_login_required, user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[fresh_login_required(max_age)]
async fn index() -> &'static str {
    "hello"
}

#[user_loader(crate)]
async fn load_user(id: u64) -> Option<User> {
    Some(User { id })
}

fn main() {}
