use login_runtime::fresh_login_required;

#[fresh_login_required(max_age = "15 minutes")]
async fn index() -> &'static str {
    "hello"
}

fn main() {}
