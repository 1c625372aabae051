use login_runtime::{Permission, fresh_login_required};

#[derive(PartialEq, Eq, Hash)]
enum Role {
    Admin,
}
impl Permission for Role {}

#[fresh_login_required(permission = all(Role::Admin, any()))]
async fn admin() -> &'static str {
    "admin"
}

fn main() {}
