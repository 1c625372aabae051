use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[user_loader]
async fn load_user<Id: Into<u64>>(id: Id) -> Option<User> {
    Some(User { id: id.into() })
}

fn main() {}
