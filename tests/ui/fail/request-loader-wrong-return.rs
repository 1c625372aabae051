use actix_web::HttpRequest;
use login_runtime::{request_loader, AuthUser};

#[derive(AuthUser)]
struct User {
    id: u64,
}

#[request_loader]
async fn load_from_header(req: HttpRequest) -> Result<User, String> {
    let _ = req;
    Ok(User { id: 1 })
}

fn main() {}
