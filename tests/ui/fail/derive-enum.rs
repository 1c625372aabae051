use login_runtime::AuthUser;

#[derive(AuthUser)]
enum User {
    Admin { id: u64 },
    Guest,
}

fn main() {}
