use login_runtime::fresh_login_required;

#[fresh_login_required(max_age = 300, max_age = "1h")]
async fn index() -> &'static str {
    "hello"
}

fn main() {}
