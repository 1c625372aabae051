use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User(u64, String);

fn main() {}
