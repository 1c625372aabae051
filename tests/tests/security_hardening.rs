//! Issue 14, holes 1, 2, 4 and 7: `OPTIONS` on guarded handlers, bounded flashes and
//! cookieless refusals, forwarded addresses under a number of trusted hops, and remember
//! cookies capped by the current configuration with key rotation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::{HttpResponse, route, web};
use login_runtime::{CurrentUser, fresh_login_required, login_required};
use support::*;

// ---- hole 1: OPTIONS ----

/// How many times a guarded handler below ran.
static RAN: AtomicUsize = AtomicUsize::new(0);

/// The user a handler saw: the handlers take no `Authenticated`, so only the guard protects them.
fn who(user: &CurrentUser<User>) -> String {
    user.get_id().unwrap_or_else(|| "anonymous".to_owned())
}

#[login_required]
async fn guarded_any(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the work of {}", who(&user)))
}

#[fresh_login_required]
async fn fresh_any(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the fresh work of {}", who(&user)))
}

#[route("/options-route", method = "OPTIONS", method = "GET")]
#[login_required]
async fn options_route(user: CurrentUser<User>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body(format!("did the work of {}", who(&user)))
}

fn option_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/any", web::route().to(guarded_any))
        .service(web::resource("/to").to(guarded_any))
        .route("/fresh-any", web::route().to(fresh_any))
        .service(options_route);
}

async fn options(c: &Client, app: &TestApp, path: &str) -> support::Reply {
    c.send(app, TestRequest::default().method(actix_web::http::Method::OPTIONS).uri(path)).await
}

#[actix_web::test]
async fn options_never_runs_a_guarded_handler_without_the_login() {
    let env = Env::new();
    let app = start_with(&env.manager(), &env.db, option_routes).await;
    let before = RAN.load(Ordering::SeqCst);

    let anonymous = Client::new();
    for path in ["/any", "/to", "/options-route", "/fresh-any"] {
        let reply = options(&anonymous, &app, path).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}: {reply:?}");
        assert_eq!(reply.body, "", "{path}");
        assert!(reply.set_cookie_headers().is_empty(), "{path}: {:?}", reply.set_cookie_headers());
    }
    // A stale (remembered) login does not pass the fresh check either.
    let stale = Client::new();
    stale.login_remembered(&app, ADA).await;
    stale.keep_only(&[REMEMBER]);
    let reply = options(&stale, &app, "/fresh-any").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert_eq!(RAN.load(Ordering::SeqCst), before, "a guarded handler ran without its login");

    // With the login it requires, the handler answers OPTIONS itself.
    let fresh = Client::new();
    fresh.login(&app, ADA).await;
    assert_eq!(options(&fresh, &app, "/any").await.body, "did the work of ada");
    assert_eq!(options(&fresh, &app, "/fresh-any").await.body, "did the fresh work of ada");
    assert_eq!(options(&stale, &app, "/any").await.body, "did the work of ada");
}
