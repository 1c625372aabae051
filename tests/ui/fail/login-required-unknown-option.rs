use login_runtime::login_required;

#[login_required(max_age = 300)]
async fn index() -> &'static str {
    "hello"
}

fn main() {}
