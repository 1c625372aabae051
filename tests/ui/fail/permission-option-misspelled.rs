use login_runtime::{Permission, login_required};

#[derive(PartialEq, Eq, Hash)]
enum Role {
    Admin,
}
impl Permission for Role {}

#[login_required(permissions = Role::Admin)]
async fn admin() -> &'static str {
    "admin"
}

fn main() {}
