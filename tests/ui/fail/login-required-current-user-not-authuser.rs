use actix_web::get;
use login_runtime::{login_required, CurrentUser};

struct NotAUser;

#[get("/")]
#[login_required]
async fn index(user: CurrentUser<NotAUser>) -> &'static str {
    let _ = user;
    "hello"
}

fn main() {}
