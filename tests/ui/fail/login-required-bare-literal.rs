use login_runtime::login_required;

#[login_required("/login")]
async fn index() -> &'static str {
    "hello"
}

fn main() {}
