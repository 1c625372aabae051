use login_runtime::{Permission, login_required};

#[derive(PartialEq, Eq, Hash)]
enum Perm {
    Read,
    Edit,
}
impl Permission for Perm {}

#[login_required(permission = any(Perm::Read, Perm::Edti))]
async fn edit() -> &'static str {
    "edit"
}

fn main() {}
