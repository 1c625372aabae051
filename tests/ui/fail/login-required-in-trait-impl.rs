use login_runtime::login_required;

trait Pages {
    async fn index() -> &'static str;
}

struct Site;

impl Pages for Site {
    #[login_required]
    async fn index() -> &'static str {
        "hello"
    }
}

fn main() {}
