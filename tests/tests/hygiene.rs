//! The generated code must not depend on what the user's scope calls `Option`, `Result`,
//! `String`... nor trip `unused_qualifications` (serde's `test_gen.rs`, thiserror's
//! `test_lints.rs`, the proc-macro-workshop's redefined prelude).

#![deny(warnings, unused_qualifications)]
// The permission rules' link-time table (linkme) must not need `unsafe` from the user.
#![forbid(unsafe_code)]
#![allow(non_camel_case_types, dead_code, clippy::all)]

mod shadowed {
    // Every name a careless expansion might use unqualified.
    struct Option;
    struct Some;
    struct None;
    struct Result;
    struct Ok;
    struct Err;
    struct String;
    struct Box;
    struct Vec;
    struct bool;
    struct u8;
    struct u64;
    struct Clone;
    struct Copy;
    struct Debug;
    struct Future;
    fn drop() {}
    fn unreachable() {}
    mod core {}
    mod std {}
    mod login_runtime {}

    use ::actix_web::{HttpRequest, HttpResponse, get, web};
    use ::login_runtime::{
        AuthUser, Permission, fresh_login_required, login_required, permission_loader, request_loader, user_loader,
    };

    #[derive(PartialEq, Eq, Hash)]
    pub enum Perm {
        Read,
        Edit,
    }
    impl Permission for Perm {}

    #[derive(AuthUser)]
    pub struct User {
        pub id: ::core::primitive::u64,
        #[auth_user(active)]
        pub active: ::core::primitive::bool,
        #[auth_user(session_hash)]
        pub hash: ::std::string::String,
        #[auth_user(permissions)]
        pub perms: ::std::vec::Vec<Perm>,
    }

    #[derive(AuthUser)]
    pub struct Generic<T: ::core::fmt::Display> {
        #[auth_user(id)]
        pub key: T,
        #[auth_user(session_hash)]
        pub hash: ::core::option::Option<::std::vec::Vec<::core::primitive::u8>>,
    }

    #[user_loader]
    pub async fn load_user(
        id: ::core::primitive::u64,
        _req: HttpRequest,
    ) -> ::core::result::Result<::core::option::Option<User>, ::std::string::String> {
        ::core::result::Result::Ok(::core::option::Option::Some(User {
            id,
            active: true,
            hash: ::std::string::String::new(),
            perms: ::std::vec::Vec::new(),
        }))
    }

    #[permission_loader]
    pub async fn load_perms(
        _user: &User,
        _req: HttpRequest,
    ) -> ::core::result::Result<::std::collections::HashSet<Perm>, ::std::string::String> {
        ::core::result::Result::Ok(::std::collections::HashSet::new())
    }

    #[login_required(permission = all(Perm::Read, any(Perm::Edit, not(Perm::Read))))]
    pub async fn permitted(_req: HttpRequest) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[fresh_login_required(permission = Perm::Edit)]
    pub async fn fresh_permitted() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    pub struct Pages;

    impl Pages {
        #[login_required(permission = Perm::Edit)]
        pub async fn edit() -> HttpResponse {
            HttpResponse::Ok().finish()
        }
    }

    #[request_loader]
    pub async fn load_from_request(_req: HttpRequest) -> ::core::option::Option<User> {
        ::core::option::Option::None
    }

    #[get("/")]
    #[login_required]
    pub async fn index(_req: HttpRequest, _data: web::Data<::core::primitive::u8>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[fresh_login_required(max_age = "10m")]
    pub async fn fresh(body: ::std::string::String) -> ::std::string::String {
        body
    }

    pub fn app() -> ::actix_web::App<
        impl ::actix_web::dev::ServiceFactory<
            ::actix_web::dev::ServiceRequest,
            Config = (),
            Response = ::actix_web::dev::ServiceResponse,
            Error = ::actix_web::Error,
            InitError = (),
        >,
    > {
        let manager = ::login_runtime::LoginManager::new(load_user)
            .request_loader(load_from_request)
            .permission_loader(load_perms);
        ::actix_web::App::new()
            .app_data(manager)
            .service(index)
            .route("/fresh", web::post().to(fresh))
            .route("/permitted", web::get().to(permitted))
            .route("/fresh-permitted", web::get().to(fresh_permitted))
            .route("/pages-edit", web::get().to(Pages::edit))
    }
}

#[test]
fn expansions_ignore_shadowed_names() {
    use ::login_runtime::AuthUser as _;

    let user = shadowed::User { id: 5, active: false, hash: "h".to_owned(), perms: vec![shadowed::Perm::Edit] };
    assert_eq!(user.get_id().as_deref(), Some("5"));
    assert!(!user.is_active());
    assert_eq!(user.session_hash(), Some(&b"h"[..]));
    assert_eq!(user.has_permission(&shadowed::Perm::Edit), Some(true));
    assert_eq!(user.has_permission(&shadowed::Perm::Read), Some(false));
    assert_eq!(user.has_permission(&"edit"), None, "not a type this user holds");

    let generic = shadowed::Generic { key: "k", hash: None };
    assert_eq!(generic.get_id().as_deref(), Some("k"));
    assert_eq!(generic.session_hash(), None);

    let _app = shadowed::app();
}
