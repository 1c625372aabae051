use login_runtime::login_required;

#[login_required(crate = "login_runtim")]
async fn index() -> &'static str {
    "hello"
}

fn main() {}
