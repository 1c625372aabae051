use login_runtime::AuthUser;

struct UserId(u64);

#[derive(AuthUser)]
struct User {
    id: UserId,
}

fn main() {}
