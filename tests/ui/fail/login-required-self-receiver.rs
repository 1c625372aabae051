use login_runtime::login_required;

struct Site;

impl Site {
    #[login_required]
    async fn index(&self) -> &'static str {
        "hello"
    }
}

fn main() {}
