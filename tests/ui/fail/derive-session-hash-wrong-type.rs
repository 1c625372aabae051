use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User {
    id: u64,
    #[auth_user(session_hash)]
    password_changed_at: u64,
}

fn main() {}
