use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User {
    id: u64,
    #[auth_user(active, active)]
    enabled: bool,
}

fn main() {}
