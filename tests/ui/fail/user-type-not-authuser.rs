use login_runtime::user_loader;

struct NotAUser {
    id: u64,
}

#[user_loader]
async fn load_user(id: u64) -> Option<NotAUser> {
    Some(NotAUser { id })
}

fn main() {}
