use login_runtime::fresh_login_required;

trait Pages {
    #[fresh_login_required]
    async fn settings() -> &'static str {
        "settings"
    }
}

fn main() {}
