//! Included twice by `authz.rs` with `#[path]`, as the modules `twice_a` and `twice_b`: one
//! file, two modules, so two rule ids, each of which needs its entry in the rules' table.

use super::Perm;
use login_runtime::login_required;

#[login_required(permission = Perm::Edit)]
pub async fn first() -> &'static str {
    "first"
}

#[login_required(permission = Perm::Edit)]
pub async fn second() -> &'static str {
    "second"
}
