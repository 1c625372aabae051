use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User;

fn main() {}
