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

// rustc's own E0050, pointing at the guard: an attribute macro cannot see that its function is
// inside a trait impl (an inherent impl's associated fn is a fine handler), so it cannot say more.
