//! What the macros generate, exercised through `actix_web::test`: guards above and below
//! `#[get]` and behind `.to()`, parameter patterns, fresh logins with a maximum age, and
//! loaders with extractors. A correct app using every macro is clean under `clippy::pedantic`,
//! expansions included (`.ci/run` denies warnings).

#![warn(clippy::pedantic)]

use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Cookie, Key};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, test, web};
use login_runtime::test::TestLoginExt;
use login_runtime::{
    AuthUser, Authenticated, LoginManager, ManualClock, Permission, Permissions, fresh_login_required, login_required,
    login_user, permission_loader, request_loader, user_loader,
};

#[derive(Clone, Debug, AuthUser)]
struct User {
    id: u64,
    name: String,
    #[auth_user(active)]
    active: bool,
}

/// The users, keyed by id; the loader takes it as an extractor.
struct Users(Vec<User>);

#[user_loader]
async fn load_user(id: u64, users: web::Data<Users>) -> Result<Option<User>, String> {
    if id == 500 {
        return Err("database down".to_owned());
    }
    Ok(users.0.iter().find(|user| user.id == id).cloned())
}

#[request_loader]
async fn load_from_api_key(req: HttpRequest, users: web::Data<Users>) -> Option<User> {
    let key = req.headers().get("x-api-key")?.to_str().ok()?;
    users.0.iter().find(|user| format!("key-{}", user.id) == key).cloned()
}

#[login_required]
#[get("/above")]
async fn above(user: Authenticated<User>) -> String {
    format!("above {}", user.name)
}

#[get("/below/{word}")]
#[login_required]
async fn below(path: web::Path<String>, mut req: HttpRequest) -> String {
    req = req.clone();
    format!("below {} {}", path.into_inner(), req.method())
}

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
}

#[login_required]
async fn patterns(
    web::Query(Page { page }): web::Query<Page>,
    web::Json((a, b)): web::Json<(u32, u32)>,
    _: HttpRequest,
) -> HttpResponse {
    HttpResponse::Ok().body(format!("{page} {}", a + b))
}

#[post("/fresh")]
#[fresh_login_required]
async fn fresh() -> &'static str {
    "fresh"
}

#[fresh_login_required(max_age = "10m")]
#[get("/recent")]
async fn recent() -> &'static str {
    "recent"
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Role {
    Admin,
    Banned,
}
impl Permission for Role {}

#[permission_loader]
async fn load_roles(user: &User, _users: web::Data<Users>) -> std::collections::HashSet<Role> {
    if user.id == 1 { std::collections::HashSet::from([Role::Admin]) } else { std::collections::HashSet::new() }
}

#[get("/admin")]
#[login_required(permission = all(Role::Admin, not(Role::Banned)))]
async fn admin(roles: Permissions<Role>) -> String {
    format!("admin {}", roles.has(&Role::Admin))
}

#[get("/login/{id}")]
async fn login(req: HttpRequest, id: web::Path<u64>, users: web::Data<Users>) -> actix_web::Result<HttpResponse> {
    let user = users.0.iter().find(|user| user.id == *id).cloned();
    let user = user.ok_or_else(|| actix_web::error::ErrorNotFound("no such user"))?;
    login_user(&req, &user).map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().finish())
}

fn users() -> Users {
    Users(vec![User { id: 1, name: "ada".into(), active: true }, User { id: 2, name: "bob".into(), active: false }])
}

macro_rules! app {
    ($clock:expr) => {{
        let manager =
            LoginManager::new(load_user).request_loader(load_from_api_key).permission_loader(load_roles).clock($clock);
        test::init_service(
            actix_web::App::new()
                .app_data(web::Data::new(users()))
                .app_data(manager.clone())
                .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::from(&[7; 64])))
                .wrap(manager.middleware())
                .service(above)
                .service(below)
                .service(fresh)
                .service(recent)
                .service(login)
                .service(admin)
                .route("/patterns", web::post().to(patterns)),
        )
        .await
    }};
}

fn ada() -> User {
    users().0.remove(0)
}

#[actix_web::test]
async fn guards_refuse_anonymous_requests_and_pass_logged_in_ones() {
    let app = app!(ManualClock::new(1_000));
    for uri in ["/above", "/below/x"] {
        let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    let req = test::TestRequest::get().uri("/above").to_request().with_login(&ada());
    assert_eq!(test::call_and_read_body(&app, req).await, "above ada");
    let req = test::TestRequest::get().uri("/below/word").to_request().with_login(&ada());
    assert_eq!(test::call_and_read_body(&app, req).await, "below word GET");
}

#[actix_web::test]
async fn a_permission_guard_lets_the_holder_in() {
    let app = app!(ManualClock::new(1_000));
    let req = test::TestRequest::get().uri("/admin").to_request().with_login(&ada());
    assert_eq!(test::call_and_read_body(&app, req).await, "admin true");
}

#[actix_web::test]
async fn an_inactive_user_is_refused() {
    let app = app!(ManualClock::new(1_000));
    let bob = users().0.remove(1);
    let req = test::TestRequest::get().uri("/above").to_request().with_login(&bob);
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn parameter_patterns_are_kept_and_the_body_is_read_only_after_the_check() {
    let app = app!(ManualClock::new(1_000));
    let req = test::TestRequest::post().uri("/patterns?page=3").set_json((4, 5)).to_request().with_login(&ada());
    assert_eq!(test::call_and_read_body(&app, req).await, "3 9");
    // Refused before the extractors run: an invalid body is never looked at.
    let req = test::TestRequest::post().uri("/patterns?page=x").set_payload("not json").to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn fresh_guard_refuses_a_stale_login() {
    let app = app!(ManualClock::new(1_000));
    let req = test::TestRequest::post().uri("/fresh").to_request().with_login(&ada());
    assert_eq!(test::call_and_read_body(&app, req).await, "fresh");
    let req = test::TestRequest::post().uri("/fresh").to_request().with_stale_login(&ada());
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn fresh_guard_with_max_age_refuses_an_old_login() {
    let clock = ManualClock::new(1_000);
    let app = app!(clock.clone());
    let res = test::call_service(&app, test::TestRequest::get().uri("/login/1").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie: Cookie<'static> = res.response().cookies().next().expect("a session cookie").into_owned();

    let request = || test::TestRequest::get().uri("/recent").cookie(cookie.clone()).to_request();
    clock.advance(Duration::from_secs(9 * 60));
    assert_eq!(test::call_and_read_body(&app, request()).await, "recent");
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(test::call_service(&app, request()).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn loaders_get_their_extractors() {
    let app = app!(ManualClock::new(1_000));
    let req = test::TestRequest::get().uri("/above").insert_header(("x-api-key", "key-1")).to_request();
    assert_eq!(test::call_and_read_body(&app, req).await, "above ada");
    let req = test::TestRequest::get().uri("/above").insert_header(("x-api-key", "nope")).to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_loader_error_is_a_server_error() {
    let app = app!(ManualClock::new(1_000));
    let failing = User { id: 500, name: String::new(), active: true };
    let req = test::TestRequest::get().uri("/above").to_request().with_login(&failing);
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
