use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User {
    user_id: u64,
    name: String,
}

// The fallback impl keeps this from adding an error of its own.
fn takes_user(_: impl AuthUser) {}

fn main() {
    takes_user(User { user_id: 1, name: String::new() });
}
