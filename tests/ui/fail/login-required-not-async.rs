use login_runtime::login_required;

#[login_required]
fn index() -> &'static str {
    "hello"
}

fn main() {}
