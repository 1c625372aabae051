use std::future::Future;

use login_runtime::{user_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[user_loader]
fn load_user(id: u64) -> impl Future<Output = Option<User>> {
    async move { Some(User { id }) }
}

fn main() {}
