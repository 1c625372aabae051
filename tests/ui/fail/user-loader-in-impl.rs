use login_runtime::{request_loader, user_loader, AuthUser};

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

trait Keys {
    async fn load_from_key(req: actix_web::HttpRequest) -> Option<User>;
}

impl Keys for Users {
    #[request_loader]
    async fn load_from_key(_req: actix_web::HttpRequest) -> Option<User> {
        None
    }
}

fn main() {}
