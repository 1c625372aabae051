use login_runtime::AuthUser;

#[derive(AuthUser)]
struct User {
    #[auth_user(id)]
    uuid: String,
    #[auth_user(id)]
    email: String,
}

fn main() {}
