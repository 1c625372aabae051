use login_runtime::login_required;

#[login_required]
struct Index;

fn main() {}
