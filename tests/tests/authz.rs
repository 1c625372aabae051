//! Authorization (issue 17): the guards' `permission = ..` rules with `all`, `any` and `not`,
//! permissions from the user model and from a permission loader (once per request, only when
//! asked), `Permissions<P>`, object-level checks, and the forbidden flow for every client,
//! through real requests to an `actix_web::test` service.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_session::{SessionMiddleware, storage::CookieSessionStore};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, get, post, test, web};
use login_runtime::test::{TestApp, TestClient};
use login_runtime::{
    AuthUser, Authenticated, LoginEventKind, LoginManager, LoginOptions, Permission, Permissions, forbidden,
    fresh_login_required, login_required, permission_loader, user_loader,
};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Perm {
    Read,
    Edit,
    Publish,
}
impl Permission for Perm {}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Role {
    Admin,
    Banned,
}
impl Permission for Role {}

/// A permission type nothing provides.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Plan {
    Pro,
}
impl Permission for Plan {}

#[derive(Clone, Debug, AuthUser)]
struct User {
    id: u64,
    #[auth_user(permissions)]
    permissions: HashSet<Perm>,
}

/// ada reads, edits and is an admin; bob reads; eve reads and is banned; ivy has nothing;
/// 99 makes the role loader fail.
fn user(id: u64) -> Option<User> {
    let permissions = match id {
        1 => HashSet::from([Perm::Read, Perm::Edit]),
        2 | 3 | 99 => HashSet::from([Perm::Read]),
        4 => HashSet::new(),
        _ => return None,
    };
    Some(User { id, permissions })
}
const ADA: u64 = 1;
const BOB: u64 = 2;
const EVE: u64 = 3;
const IVY: u64 = 4;
const BROKEN: u64 = 99;

fn u(id: u64) -> User {
    user(id).unwrap()
}

#[user_loader]
async fn load_user(id: u64) -> Option<User> {
    user(id)
}

/// Counts the role loads, to show one per request at most, and none unless asked.
struct RoleLoads(AtomicUsize);

#[permission_loader]
async fn load_roles(user: &User, loads: web::Data<RoleLoads>) -> Result<HashSet<Role>, String> {
    loads.0.fetch_add(1, Ordering::SeqCst);
    match user.id {
        ADA => Ok(HashSet::from([Role::Admin])),
        EVE => Ok(HashSet::from([Role::Banned])),
        BROKEN => Err("the roles table is locked".into()),
        _ => Ok(HashSet::new()),
    }
}

// ---- handlers: above and below the route macros, and with `.to()` ----

#[get("/edit")]
#[login_required(permission = Perm::Edit)]
async fn edit() -> &'static str {
    "edit"
}

#[login_required(permission = Role::Admin)]
#[get("/admin")]
async fn admin(user: Authenticated<User>) -> String {
    format!("admin {}", user.id)
}

#[fresh_login_required(permission = all(Perm::Read, any(Role::Admin, not(Role::Banned))))]
async fn mixed() -> &'static str {
    "mixed"
}

#[login_required(permission = any(Perm::Publish, Role::Admin))]
async fn publish() -> &'static str {
    "publish"
}

#[login_required(permission = not(Role::Banned))]
async fn not_banned() -> &'static str {
    "not banned"
}

#[login_required(permission = Plan::Pro)]
async fn pro() -> &'static str {
    "pro"
}

#[derive(serde::Deserialize)]
struct Comment {
    #[allow(dead_code)]
    text: String,
}

#[post("/comment")]
#[login_required(permission = Perm::Edit)]
async fn comment(_: web::Json<Comment>) -> &'static str {
    "commented"
}

/// The guard and the extractor both ask for roles: one load.
#[login_required(permission = any(Role::Admin, Perm::Read))]
async fn roles(roles: Permissions<Role>, perms: Permissions<Perm>) -> String {
    format!("admin:{} edit:{}", roles.has(&Role::Admin), perms.has(&Perm::Edit))
}

/// An object-level check: authors edit their own posts, `Perm::Edit` any post.
#[login_required]
async fn edit_post(
    req: HttpRequest,
    user: Authenticated<User>,
    perms: Permissions<Perm>,
    author: web::Path<u64>,
) -> actix_web::Result<String> {
    if *author != user.id && !perms.has(&Perm::Edit) {
        return Err(forbidden(&req));
    }
    Ok(format!("post of {author} edited"))
}

async fn public(perms: Permissions<Perm>) -> String {
    format!("read:{}", perms.has(&Perm::Read))
}

type Events = Arc<Mutex<Vec<(LoginEventKind, Option<String>)>>>;

struct Env {
    loads: web::Data<RoleLoads>,
    events: Events,
}

impl Env {
    fn new() -> Self {
        Self { loads: web::Data::new(RoleLoads(AtomicUsize::new(0))), events: Events::default() }
    }

    fn loads(&self) -> usize {
        self.loads.0.swap(0, Ordering::SeqCst)
    }

    fn forbidden_events(&self) -> Vec<Option<String>> {
        let events = self.events.lock().unwrap();
        events.iter().filter(|(kind, _)| *kind == LoginEventKind::Forbidden).map(|(_, id)| id.clone()).collect()
    }

    fn manager(&self) -> LoginManager {
        let events = Arc::clone(&self.events);
        LoginManager::new(load_user).login_view("/login").permission_loader(load_roles).on_event(move |event| {
            events.lock().unwrap().push((event.kind(), event.user_id().map(str::to_owned)));
            async {}
        })
    }

    async fn start(&self, manager: LoginManager) -> TestApp {
        let loads = self.loads.clone();
        app_with(&manager, |cfg| {
            cfg.app_data(loads)
                .service(edit)
                .service(admin)
                .service(comment)
                .route("/mixed", web::get().to(mixed))
                .route("/publish", web::get().to(publish))
                .route("/publish-any-method", web::route().to(publish))
                .route("/not-banned", web::get().to(not_banned))
                .route("/pro", web::get().to(pro))
                .route("/roles", web::get().to(roles))
                .route("/posts/{author}", web::get().to(edit_post))
                .route("/public", web::get().to(public));
        })
        .await
    }
}

/// An app with `manager` (as app data, with the session and login middleware) and `routes`.
async fn app_with(manager: &LoginManager, routes: impl FnOnce(&mut web::ServiceConfig)) -> TestApp {
    TestApp::service(
        test::init_service(
            App::new()
                .app_data(manager.clone())
                .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::from(&[7; 64])))
                .wrap(manager.middleware())
                .configure(routes),
        )
        .await,
    )
}

fn client_of(id: u64) -> TestClient {
    let client = TestClient::new();
    client.login_as(&u(id));
    client
}

#[actix_web::test]
async fn a_permission_from_the_user_model_lets_holders_in_and_refuses_others_with_403() {
    let env = Env::new();
    let app = env.start(env.manager()).await;

    let res = client_of(ADA).get(&app, "/edit").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "edit".into()));

    let res = client_of(BOB).get(&app, "/edit").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.text(), "Forbidden");
    assert_eq!(res.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(env.forbidden_events(), [Some(BOB.to_string())], "the Forbidden event names the user");
    assert_eq!(env.loads(), 0, "a `Perm` check never runs the role loader");
}

#[actix_web::test]
async fn anonymous_visitors_get_the_login_flow_not_a_403() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let res = TestClient::new().get(&app, "/admin").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some("/login?next=%2Fadmin"));
    assert!(env.forbidden_events().is_empty());
    assert_eq!(env.loads(), 0, "no user, no roles loaded");
}

#[actix_web::test]
async fn every_combinator_on_every_user() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    // (path, [ada, bob, eve, ivy]): ada Read+Edit+Admin, bob Read, eve Read+Banned, ivy nothing.
    let table = [
        ("/admin", [200, 403, 403, 403]),
        ("/publish", [200, 403, 403, 403]),
        ("/not-banned", [200, 200, 403, 200]),
        ("/mixed", [200, 200, 403, 403]),
    ];
    for (path, expected) in table {
        for (id, status) in [ADA, BOB, EVE, IVY].into_iter().zip(expected) {
            let res = client_of(id).get(&app, path).await;
            assert_eq!(res.status, status, "user {id} on {path}: {}", res.text());
        }
    }
}

#[actix_web::test]
async fn the_loader_runs_at_most_once_per_request_and_only_when_asked() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let ada = client_of(ADA);
    assert_eq!(ada.get(&app, "/roles").await.text(), "admin:true edit:true");
    assert_eq!(env.loads(), 1, "guard and extractor share one load");
    assert_eq!(ada.get(&app, "/roles").await.text(), "admin:true edit:true");
    assert_eq!(env.loads(), 1, "and the next request loads again: roles may have changed");
    assert_eq!(ada.get(&app, "/public").await.text(), "read:true");
    assert_eq!(ada.get(&app, "/edit").await.status, 200);
    assert_eq!(env.loads(), 0, "routes that never ask for roles never load them");
    // `any` short-circuits on a permission from the model: no load for bob's `Perm::Read`?
    // No: `Role::Admin` comes first in `/roles`' rule, so it is loaded.
    assert_eq!(client_of(BOB).get(&app, "/roles").await.text(), "admin:false edit:false");
    assert_eq!(env.loads(), 1);
    // `any(Perm::Publish, Role::Admin)`: ivy lacks Publish, so roles are loaded, once.
    assert_eq!(client_of(IVY).get(&app, "/publish").await.status, 403);
    assert_eq!(env.loads(), 1);
}

#[actix_web::test]
async fn a_failing_loader_is_a_500_not_a_refusal_or_a_pass() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let res = client_of(BROKEN).get(&app, "/admin").await;
    assert_eq!(res.status, 500);
    assert!(!res.text().contains("locked"), "the error is logged, not shown");
    assert!(env.forbidden_events().is_empty());
}

#[actix_web::test]
async fn a_permission_type_nothing_provides_is_a_500() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let res = client_of(ADA).get(&app, "/pro").await;
    assert_eq!(res.status, 500);
    let message = login_runtime::LoginError::NoPermissionSource { permission: "authz::Plan", user: "authz::User" };
    assert!(message.to_string().contains("#[auth_user(permissions)]"), "{message}");
}

#[actix_web::test]
async fn the_refusal_comes_before_the_body_is_read() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let not_json = || test::TestRequest::post().uri("/comment").insert_header(("content-type", "application/json"));
    // With the permission, the (broken) body is read and refused by the extractor: 400.
    let res = client_of(ADA).send(&app, not_json().set_payload("{not json")).await;
    assert_eq!(res.status, 400);
    // Without it, the body is never read: 403.
    let res = client_of(BOB).send(&app, not_json().set_payload("{not json")).await;
    assert_eq!(res.status, 403);
    let res = client_of(ADA).send(&app, not_json().set_payload(r#"{"text":"hi"}"#)).await;
    assert_eq!(res.text(), "commented");
}

#[actix_web::test]
async fn the_forbidden_answer_fits_the_client() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let bob = client_of(BOB);

    bob.set_header("accept", "application/json");
    let res = bob.get(&app, "/admin").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json::<serde_json::Value>().unwrap(), serde_json::json!({ "error": "forbidden" }));
    bob.remove_header("accept");

    bob.set_header("hx-request", "true");
    let res = bob.get(&app, "/admin").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("hx-redirect"), None);
    bob.remove_header("hx-request");

    // OPTIONS never reaches the handler: an empty 204, as for a missing login.
    let res = bob
        .send(&app, test::TestRequest::default().method(actix_web::http::Method::OPTIONS).uri("/publish-any-method"))
        .await;
    assert_eq!((res.status.as_u16(), res.text()), (204, String::new()));
}

#[actix_web::test]
async fn a_forbidden_view_and_a_forbidden_handler() {
    let env = Env::new();
    let app = env.start(env.manager().forbidden_view("/no-access")).await;
    let bob = client_of(BOB);
    let res = bob.get(&app, "/admin").await;
    assert_eq!((res.status.as_u16(), res.location()), (302, Some("/no-access")));
    bob.set_header("hx-request", "true");
    let res = bob.get(&app, "/admin").await;
    assert_eq!((res.status.as_u16(), res.header("hx-redirect")), (403, Some("/no-access")));
    bob.remove_header("hx-request");
    bob.set_header("accept", "application/json");
    let res = bob.get(&app, "/admin").await;
    assert_eq!(
        res.json::<serde_json::Value>().unwrap(),
        serde_json::json!({ "error": "forbidden", "forbidden_url": "/no-access" })
    );

    let env = Env::new();
    let manager =
        env.manager().forbidden_handler(|req| HttpResponse::Forbidden().body(format!("not for you: {}", req.path())));
    let app = env.start(manager).await;
    let res = client_of(BOB).get(&app, "/admin").await;
    assert_eq!((res.status.as_u16(), res.text()), (403, "not for you: /admin".into()));
    assert_eq!(env.forbidden_events().len(), 1);
}

#[actix_web::test]
async fn object_level_checks_refuse_through_the_same_flow() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let bob = client_of(BOB);
    assert_eq!(bob.get(&app, &format!("/posts/{BOB}")).await.text(), "post of 2 edited");
    let res = bob.get(&app, &format!("/posts/{ADA}")).await;
    assert_eq!((res.status.as_u16(), res.text()), (403, "Forbidden".into()));
    assert_eq!(env.forbidden_events(), [Some(BOB.to_string())], "a refusal from the app's own code names the user too");
    assert_eq!(client_of(ADA).get(&app, &format!("/posts/{BOB}")).await.text(), "post of 2 edited");
    // Anonymous: the login flow, from `Authenticated`.
    assert_eq!(TestClient::new().get(&app, "/posts/1").await.status, 302);
}

#[actix_web::test]
async fn a_fresh_guard_asks_for_the_password_before_checking_permissions() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let stale = TestClient::new();
    stale.login_as_with(&u(EVE), LoginOptions::new().fresh(false));
    let res = stale.get(&app, "/mixed").await;
    assert_eq!(res.status, 401, "needs refresh (no refresh view: a 401), not a 403");
    assert_eq!(env.loads(), 0);
}

#[actix_web::test]
async fn the_test_client_logs_in_with_given_permissions() {
    let env = Env::new();
    let app = env.start(env.manager()).await;
    let ivy = TestClient::new();
    ivy.login_with_permissions(&u(IVY), [Role::Admin]);
    assert_eq!(ivy.get(&app, "/admin").await.text(), "admin 4");
    assert_eq!(env.loads(), 0, "the granted roles replace the loader");
    ivy.grant([Perm::Edit]);
    assert_eq!(ivy.get(&app, "/edit").await.status, 200, "and the user's own fields");
    ivy.grant(Vec::<Role>::new());
    assert_eq!(ivy.get(&app, "/admin").await.status, 403);
    assert_eq!(TestClient::new().get(&app, "/public").await.text(), "read:false", "anonymous holds nothing");
}

// ---- equal rules share one type (issue 17, compile cost); the same tokens elsewhere do not ----

/// Two permission types whose values are written alike: `Level::Gold`.
mod levels {
    use login_runtime::Permission;

    pub mod a {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Level {
            Gold,
        }
        impl super::Permission for Level {}
    }

    pub mod b {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Level {
            Gold,
        }
        impl super::Permission for Level {}
    }
}

mod gold_a {
    use super::levels::a::Level;
    use login_runtime::login_required;

    #[login_required(permission = Level::Gold)]
    pub async fn gold() -> &'static str {
        "a"
    }

    #[login_required(permission = Level::Gold)]
    pub async fn gold_too() -> &'static str {
        "a too"
    }
}

mod gold_b {
    use super::levels::b::Level;
    use login_runtime::login_required;

    #[login_required(permission = Level::Gold)]
    pub async fn gold() -> &'static str {
        "b"
    }
}

/// A handler in a function body, where `Level` is the body's own import: one module, the same
/// tokens as in `gold_in_body_b`, another permission.
fn gold_in_body_a() -> (actix_web::Route, std::any::TypeId) {
    use levels::a::Level;
    #[login_required(permission = Level::Gold)]
    async fn gold() -> &'static str {
        "body a"
    }
    (web::get().to(gold), args_of(gold))
}

fn gold_in_body_b() -> (actix_web::Route, std::any::TypeId) {
    use levels::b::Level;
    #[login_required(permission = Level::Gold)]
    async fn gold() -> &'static str {
        "body b"
    }
    (web::get().to(gold), args_of(gold))
}

/// The type of a handler's arguments: what actix instantiates its extraction for.
fn args_of<F: actix_web::Handler<A>, A: 'static>(_: F) -> std::any::TypeId {
    std::any::TypeId::of::<A>()
}

#[actix_web::test]
async fn equal_rules_of_a_module_share_one_extractor_type_and_no_other_rule_does() {
    assert_eq!(args_of(gold_a::gold), args_of(gold_a::gold_too), "one module, one rule: one type");
    assert_ne!(args_of(gold_a::gold), args_of(gold_b::gold), "the same tokens in another module");
    assert_ne!(gold_in_body_a().1, gold_in_body_b().1, "the same tokens in two function bodies of one module");
    assert_ne!(gold_in_body_a().1, args_of(gold_a::gold));
}

#[actix_web::test]
async fn the_same_tokens_in_other_scopes_check_their_own_permission() {
    let manager = LoginManager::new(load_user);
    let app = app_with(&manager, |cfg| {
        cfg.route("/gold-a", web::get().to(gold_a::gold))
            .route("/gold-a-too", web::get().to(gold_a::gold_too))
            .route("/gold-b", web::get().to(gold_b::gold))
            .route("/body-a", gold_in_body_a().0)
            .route("/body-b", gold_in_body_b().0);
    })
    .await;
    let a = TestClient::new();
    a.login_with_permissions(&u(IVY), [levels::a::Level::Gold]);
    a.grant(Vec::<levels::b::Level>::new());
    let b = TestClient::new();
    b.login_with_permissions(&u(IVY), [levels::b::Level::Gold]);
    b.grant(Vec::<levels::a::Level>::new());
    for (path, holder, body) in [
        ("/gold-a", &a, "a"),
        ("/gold-a-too", &a, "a too"),
        ("/gold-b", &b, "b"),
        ("/body-a", &a, "body a"),
        ("/body-b", &b, "body b"),
    ] {
        let res = holder.get(&app, path).await;
        assert_eq!((res.status.as_u16(), res.text()), (200, body.to_owned()), "{path}");
        let other = if std::ptr::eq(holder, &a) { &b } else { &a };
        assert_eq!(other.get(&app, path).await.status, 403, "{path}: the other `Level::Gold`");
    }
}

// Twice on purpose: the case under test.
#[allow(clippy::duplicate_mod)]
#[path = "authz_twice/handlers.rs"]
mod twice_a;
#[allow(clippy::duplicate_mod)]
#[path = "authz_twice/handlers.rs"]
mod twice_b;

#[actix_web::test]
async fn one_file_in_two_modules_has_each_module_s_rule() {
    assert_eq!(args_of(twice_a::first), args_of(twice_a::second));
    assert_ne!(args_of(twice_a::first), args_of(twice_b::first), "two modules, two ids");
    let manager = LoginManager::new(load_user);
    let app = app_with(&manager, |cfg| {
        cfg.route("/a/first", web::get().to(twice_a::first))
            .route("/a/second", web::get().to(twice_a::second))
            .route("/b/first", web::get().to(twice_b::first))
            .route("/b/second", web::get().to(twice_b::second));
    })
    .await;
    for path in ["/a/first", "/a/second", "/b/first", "/b/second"] {
        assert_eq!(client_of(ADA).get(&app, path).await.status, 200, "{path}");
        assert_eq!(client_of(BOB).get(&app, path).await.status, 403, "{path}");
    }
}

/// What the macros never produce: a guard whose rule id has no entry in the link-time table,
/// and one whose id two different rules claim.
mod forged {
    use login_runtime::__private::{Grants, LoginRequired, RuleEntry, SharedRule, Unresolved, linkme};

    use super::Perm;

    fn read(grants: &Grants<'_>) -> Result<bool, Unresolved> {
        grants.has(&Perm::Read)
    }

    fn edit(grants: &Grants<'_>) -> Result<bool, Unresolved> {
        grants.has(&Perm::Edit)
    }

    #[linkme::distributed_slice(login_runtime::__private::LOGIN_PERMISSION_RULES)]
    #[linkme(crate = login_runtime::__private::linkme)]
    static READ: RuleEntry = RuleEntry::new(0xbad, read);

    #[linkme::distributed_slice(login_runtime::__private::LOGIN_PERMISSION_RULES)]
    #[linkme(crate = login_runtime::__private::linkme)]
    static EDIT: RuleEntry = RuleEntry::new(0xbad, edit);

    pub async fn contradictory(_: LoginRequired<(), SharedRule<0xbad>>) -> &'static str {
        "passed"
    }

    pub async fn missing(_: LoginRequired<(), SharedRule<0x0dd>>) -> &'static str {
        "passed"
    }
}

#[actix_web::test]
async fn a_rule_id_without_its_rule_or_with_two_rules_is_a_500_never_a_pass() {
    let manager = LoginManager::new(load_user).login_view("/login");
    let app = app_with(&manager, |cfg| {
        cfg.route("/contradictory", web::get().to(forged::contradictory))
            .route("/missing", web::get().to(forged::missing));
    })
    .await;
    for path in ["/contradictory", "/missing"] {
        let res = client_of(ADA).get(&app, path).await;
        assert_eq!(res.status, 500, "{path}: ada holds both permissions, yet no rule can be trusted");
        assert_eq!(res.text(), "Internal Server Error", "{path}");
        assert_eq!(TestClient::new().get(&app, path).await.status, 302, "{path}: anonymous visitors log in first");
    }
}

/// Handlers as associated functions of an inherent `impl`, which cannot hold the rule's
/// items: they go in the handler's body.
struct Pages;

impl Pages {
    #[login_required(permission = Perm::Edit)]
    async fn edit() -> &'static str {
        "pages edit"
    }

    #[fresh_login_required(permission = any(Role::Admin, Perm::Publish))]
    async fn admin() -> &'static str {
        "pages admin"
    }
}

#[actix_web::test]
async fn a_permission_guard_on_an_associated_function() {
    let env = Env::new();
    let manager = env.manager();
    let app = app_with(&manager, |cfg| {
        cfg.app_data(env.loads.clone())
            .route("/pages/edit", web::get().to(Pages::edit))
            .route("/pages/admin", web::get().to(Pages::admin));
    })
    .await;
    let res = client_of(ADA).get(&app, "/pages/edit").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "pages edit".to_owned()));
    assert_eq!(client_of(BOB).get(&app, "/pages/edit").await.status, 403);
    let res = client_of(ADA).get(&app, "/pages/admin").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "pages admin".to_owned()), "ada is an admin");
    assert_eq!(client_of(BOB).get(&app, "/pages/admin").await.status, 403);
}
