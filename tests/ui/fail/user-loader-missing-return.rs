use login_runtime::user_loader;

#[user_loader]
async fn load_user(id: u64) {
    let _ = id;
}

fn main() {}
