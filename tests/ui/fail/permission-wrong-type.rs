use login_runtime::login_required;

#[login_required(permission = "admin")]
async fn admin() -> &'static str {
    "admin"
}

fn main() {}
