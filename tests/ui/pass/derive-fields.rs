// Every supported field type, a marked id, and a generic user.
use login_runtime::AuthUser;

#[derive(AuthUser)]
struct ByConvention {
    id: u64,
}

#[derive(AuthUser)]
struct Marked {
    #[auth_user(id)]
    email: String,
    #[auth_user(active)]
    enabled: bool,
    #[auth_user(session_hash)]
    password_hash: String,
}

#[derive(AuthUser)]
struct Bytes {
    id: i32,
    #[auth_user(session_hash)]
    stamp: [u8; 16],
}

#[derive(AuthUser)]
struct Optional {
    id: String,
    #[auth_user(session_hash)]
    hash: Option<Vec<u8>>,
}

#[derive(AuthUser)]
struct Boxed {
    id: char,
    #[auth_user(session_hash)]
    hash: Option<Box<[u8]>>,
}

#[derive(AuthUser)]
struct Generic<Id, H>
where
    H: Clone,
{
    id: Id,
    #[auth_user(session_hash)]
    hash: H,
}

fn main() {
    assert_eq!(ByConvention { id: 3 }.get_id().as_deref(), Some("3"));
    let marked = Marked { email: "a@b.c".into(), enabled: false, password_hash: "x".into() };
    assert_eq!(marked.get_id().as_deref(), Some("a@b.c"));
    assert!(!marked.is_active() && !marked.is_authenticated());
    assert_eq!(marked.session_hash(), Some(&b"x"[..]));
    assert_eq!(Bytes { id: -1, stamp: [7; 16] }.session_hash(), Some(&[7u8; 16][..]));
    assert_eq!(Optional { id: "u".into(), hash: None }.session_hash(), None);
    assert_eq!(Boxed { id: 'c', hash: Some(Box::new([1])) }.session_hash(), Some(&[1u8][..]));
    let generic = Generic { id: 9u8, hash: vec![1u8] };
    assert_eq!((generic.get_id().as_deref(), generic.session_hash()), (Some("9"), Some(&[1u8][..])));
    let borrowed = Borrowed { id: "static", hash: "h".into() };
    assert_eq!((borrowed.get_id().as_deref(), borrowed.session_hash()), (Some("static"), Some(&b"h"[..])));
}

#[derive(AuthUser)]
struct Borrowed<'a> {
    id: &'a str,
    #[auth_user(session_hash)]
    hash: std::sync::Arc<str>,
}

