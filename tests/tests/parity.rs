//! Behaviour Flask-Login users expect (issue 15): helpers whose answer does not depend on what
//! the handler extracted, refusing from the app's own checks, re-authentication in the middle
//! of a POST, a manager with only a request loader, configuring an uninstalled copy, and why a
//! login ended.

mod support;

use std::time::Duration;

use actix_web::dev::Service;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest, HttpResponse, get, post, web};
use login_runtime::{
    Authenticated, CurrentUser, LoginEvent, LoginEventKind, LoginManager, MemoryLoginRegistry, SessionProtection,
    confirm_login, fresh_login_required, login_fresh, login_id, login_remembered, login_required, logout_reason,
    needs_refresh, revoke_login, unauthorized,
};
use support::*;

// ---- routes ----

/// The three helpers, called without extracting the user, in the order of `?order=`.
#[get("/flags")]
async fn flags(req: HttpRequest, q: web::Query<Vec<(String, String)>>) -> HttpResponse {
    let reversed = q.iter().any(|(k, v)| k == "order" && v == "fresh-first");
    let (remembered, fresh) = if reversed {
        let fresh = login_fresh(&req).await;
        (login_remembered(&req).await, fresh)
    } else {
        let remembered = login_remembered(&req).await;
        (remembered, login_fresh(&req).await)
    };
    HttpResponse::Ok().body(format!("remembered:{remembered} fresh:{fresh}"))
}

/// Re-authentication that checks the password (elided) and never extracts the user.
#[post("/confirm-bare")]
async fn reauth(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    confirm_login(&req).await?;
    Ok(HttpResponse::Ok().body("confirmed"))
}

/// The app's own check, refusing the configured way.
#[get("/admin")]
async fn admin(req: HttpRequest, user: CurrentUser<User>) -> actix_web::Result<HttpResponse> {
    match user.authenticated() {
        Some(user) if user.id == BOB => Ok(HttpResponse::Ok().body("admin")),
        _ => Err(unauthorized(&req)),
    }
}

#[get("/email")]
async fn email(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    if !login_fresh(&req).await {
        return Err(needs_refresh(&req));
    }
    Ok(HttpResponse::Ok().body("email form"))
}

/// The page with the devices' forms.
#[get("/devices")]
#[login_required]
async fn devices(req: HttpRequest, _user: Authenticated<User>) -> HttpResponse {
    HttpResponse::Ok().body(format!("devices; this one is {}", login_id(&req).unwrap_or_default()))
}

/// A POST-only action behind a fresh login.
#[post("/devices/{id}/end")]
#[fresh_login_required]
async fn end_device(
    req: HttpRequest,
    user: Authenticated<User>,
    id: web::Path<u64>,
) -> actix_web::Result<HttpResponse> {
    let listed = revoke_login(&req, &*user, id.into_inner()).await?;
    Ok(HttpResponse::Ok().body(format!("ended:{listed}")))
}

/// What a login page shows about why the login ended.
#[get("/why")]
async fn why(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().body(logout_reason(&req).map_or("none", |r| r.as_str()))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(flags)
        .service(reauth)
        .service(admin)
        .service(email)
        .service(devices)
        .service(end_device)
        .service(why)
        // A middleware that refuses requests without `x-api-ok` the configured way.
        .service(
            web::scope("/mw")
                .wrap_fn(|req, srv| {
                    // Answered as a response, not an `Err`: the session middleware then saves
                    // the flashed message.
                    let (called, refused) = if req.headers().contains_key("x-api-ok") {
                        (Some(srv.call(req)), None)
                    } else {
                        let refusal = unauthorized(req.request());
                        (None, Some(req.error_response(refusal)))
                    };
                    async move {
                        match (called, refused) {
                            (Some(called), _) => called.await,
                            (_, refused) => Ok(refused.expect("refused when not called")),
                        }
                    }
                })
                .route("/data", web::get().to(|| async { "data" })),
        );
}

/// Ada, logged in from the remember cookie only (a browser restart): a stale login.
async fn restored(env: &Env, login: &login_runtime::LoginManager) -> (TestApp, Client) {
    let app = start_with(login, &env.db, routes).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    (app, c)
}

/// The id of the client's login, from the devices page.
async fn this_login(app: &TestApp, c: &Client) -> u64 {
    c.get(app, "/devices").await.body.rsplit(' ').next().unwrap().parse().unwrap()
}

// ---- 1. order-independent helpers ----

#[actix_web::test]
async fn helpers_answer_the_same_whatever_was_extracted_and_in_any_order() {
    for order in ["remembered-first", "fresh-first"] {
        let env = Env::new();
        let (app, c) = restored(&env, &env.manager()).await;
        let reply = c.get(&app, &format!("/flags?order={order}")).await;
        assert_eq!(reply.body, "remembered:true fresh:false", "{order}");
        assert_eq!(c.get(&app, &format!("/flags?order={order}")).await.body, "remembered:true fresh:false");
        assert_eq!(env.db.loads(), 2, "one load per request, shared with the helpers");
    }
}

#[actix_web::test]
async fn confirm_login_without_extracting_the_user_makes_a_restored_login_fresh() {
    let env = Env::new();
    let (app, c) = restored(&env, &env.manager()).await;
    let reply = c.post(&app, "/confirm-bare").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "confirmed"));
    assert_eq!(c.get(&app, "/flags").await.body, "remembered:true fresh:true");
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    let confirmed = env.events.of(LoginEventKind::LoginConfirmed);
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].user_id.as_deref(), Some(ADA));
}

// ---- 2. the configured refusals, from the app's own code ----

#[actix_web::test]
async fn unauthorized_from_a_handler_is_the_configured_refusal() {
    let env = Env::new();
    let app = start_with(&env.manager(), &env.db, routes).await;
    let c = Client::new();
    let reply = c.get(&app, "/admin?tab=1").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/login?next=%2Fadmin%3Ftab%3D1"));
    assert!(c.get(&app, "/login").await.body.contains("Please log in to access this page."));
    assert_eq!(env.events.count(LoginEventKind::Unauthorized), 1);
    // A JSON client gets the JSON 401, as from a guard.
    let reply = c.send(&app, TestRequest::get().uri("/admin").insert_header(("accept", "application/json"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["login_url"], "/login?next=%2Fadmin");
    // A logged-in user who fails the app's check is refused the same way.
    c.login(&app, ADA).await;
    assert_eq!(c.get(&app, "/admin").await.status, StatusCode::FOUND);
    assert_eq!(Client::new().get(&app, "/admin").await.status, StatusCode::FOUND);
}

#[actix_web::test]
async fn needs_refresh_from_a_handler_is_the_configured_refusal() {
    let env = Env::new();
    let (app, c) = restored(&env, &env.manager()).await;
    let reply = c.get(&app, "/email").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Femail"));
    assert_eq!(env.events.count(LoginEventKind::NeedsRefresh), 1);
    c.post(&app, "/confirm-bare").await;
    assert_eq!(c.get(&app, "/email").await.body, "email form");
}

#[actix_web::test]
async fn unauthorized_from_a_middleware_is_the_configured_refusal() {
    let env = Env::new();
    let app = start_with(&env.manager(), &env.db, routes).await;
    let c = Client::new();
    let reply = c.get(&app, "/mw/data").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/login?next=%2Fmw%2Fdata"));
    assert!(c.get(&app, "/login").await.body.contains("Please log in"), "the message was flashed");
    c.set_header("x-api-ok", "1");
    assert_eq!(c.get(&app, "/mw/data").await.body, "data");
}

// ---- 3. re-authentication in the middle of a POST ----

/// The origin `actix_web::test` requests have.
const ORIGIN: &str = "http://localhost:8080";

#[actix_web::test]
async fn a_refused_post_returns_to_the_page_its_form_was_on() {
    let env = Env::new();
    let login = env.manager().login_registry(MemoryLoginRegistry::new());
    let (app, c) = restored(&env, &login).await;
    let phone = Client::new();
    phone.set_ip(AWAY_IP);
    phone.login(&app, ADA).await;
    let phone_login = this_login(&app, &phone).await;

    let end = format!("/devices/{phone_login}/end");
    c.set_header("referer", &format!("{ORIGIN}/devices"));
    let reply = c.post(&app, &end).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Fdevices"), "never the POST-only path");
    // The user re-authenticates, follows `next` back to the page, and ends the device.
    c.post(&app, "/confirm-bare").await;
    assert_eq!(c.get(&app, "/devices").await.status, StatusCode::OK);
    assert_eq!(c.post(&app, &end).await.body, "ended:true");
    assert_eq!(phone.get(&app, "/whoami").await.body, "anonymous");
}

#[actix_web::test]
async fn a_refused_post_from_elsewhere_goes_to_the_plain_view() {
    let env = Env::new();
    let (app, c) = restored(&env, &env.manager().login_registry(MemoryLoginRegistry::new())).await;
    for (referer, origin) in [
        (None, None),
        (Some("https://evil.example/devices"), None),
        (Some("http://localhost:8080.evil.example/devices"), None),
        (Some(&*format!("{ORIGIN}/devices")), Some("https://evil.example")),
        (Some(&*format!("{ORIGIN}//evil.example/x")), None),
        (Some("/devices"), None),
    ] {
        let mut req = TestRequest::post().uri("/devices/1/end");
        if let Some(referer) = referer {
            req = req.insert_header(("referer", referer));
        }
        if let Some(origin) = origin {
            req = req.insert_header(("origin", origin));
        }
        let reply = c.send(&app, req).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), Some("/reauth"), "{referer:?} {origin:?}");
    }
    // Anonymous, the same on the login view; a same-origin `Origin` is fine.
    let reply = Client::new()
        .send(
            &app,
            TestRequest::post()
                .uri("/devices/1/end")
                .insert_header(("referer", format!("{ORIGIN}/devices?page=2#list")))
                .insert_header(("origin", ORIGIN)),
        )
        .await;
    assert_eq!(reply.location(), Some("/login?next=%2Fdevices%3Fpage%3D2"));
}

// ---- 6. why a login ended ----

#[actix_web::test]
async fn a_revoked_device_is_told_why() {
    let env = Env::new();
    let app = start_with(&env.manager().login_registry(MemoryLoginRegistry::new()), &env.db, routes).await;
    let (laptop, phone) = (Client::new(), Client::new());
    laptop.login(&app, ADA).await;
    phone.login(&app, ADA).await;
    let phone_login = this_login(&app, &phone).await;
    assert_eq!(laptop.post(&app, &format!("/devices/{phone_login}/end")).await.body, "ended:true");

    let reply = phone.get(&app, "/secret").await;
    assert_eq!(reply.location(), Some("/login?next=%2Fsecret"));
    assert_eq!(phone.get(&app, "/why").await.body, "revoked");
    assert_eq!(phone.get(&app, "/why").await.body, "none", "shown once");
    assert_eq!(laptop.get(&app, "/why").await.body, "none");
}

#[actix_web::test]
async fn a_revoked_remember_cookie_is_told_why() {
    let env = Env::new();
    let app = start_with(&env.manager().login_registry(MemoryLoginRegistry::new()), &env.db, routes).await;
    let (laptop, phone) = (Client::new(), Client::new());
    laptop.login(&app, ADA).await;
    phone.login_remembered(&app, ADA).await;
    let phone_login = this_login(&app, &phone).await;
    phone.keep_only(&[REMEMBER]);
    laptop.post(&app, &format!("/devices/{phone_login}/end")).await;
    assert_eq!(phone.get(&app, "/whoami").await.body, "anonymous");
    assert_eq!(phone.get(&app, "/why").await.body, "revoked");
}

#[actix_web::test]
async fn each_way_a_login_ends_has_its_reason() {
    const IDLE: u64 = 600;
    const ABSOLUTE: u64 = 3600;
    type End = fn(&Env, &Client);
    let cases: [(&str, End); 5] = [
        ("session_hash_changed", |env, _| env.db.set_password(ADA, "new")),
        ("user_gone", |env, _| env.db.remove(ADA)),
        ("idle_timeout", |env, _| env.advance(IDLE + 1)),
        // Kept active until then, below.
        ("absolute_timeout", |_, _| {}),
        ("session_protection", |_, c| c.set_ip(AWAY_IP)),
    ];
    for (expected, end) in cases {
        let env = Env::new();
        let login = env
            .bare_manager()
            .idle_timeout(Duration::from_secs(IDLE))
            .absolute_timeout(Duration::from_secs(ABSOLUTE))
            .session_protection(SessionProtection::Strong);
        let app = start_with(&login, &env.db, routes).await;
        let c = Client::new();
        c.login(&app, ADA).await;
        if expected == "absolute_timeout" {
            // Active all along, until the absolute timeout.
            while env.clock_secs() - T0 <= ABSOLUTE {
                assert_eq!(c.whoami(&app).await, "user:ada", "{expected}");
                env.advance(IDLE - 1);
            }
        } else {
            end(&env, &c);
        }
        // A JSON client reads the reason in the 401; the login page reads it after a redirect.
        let reply = c.send(&app, TestRequest::get().uri("/secret").insert_header(("accept", "application/json"))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{expected}");
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["reason"], expected);
        assert_eq!(c.get(&app, "/secret").await.status, StatusCode::FOUND);
        assert_eq!(c.get(&app, "/why").await.body, expected);
        assert_eq!(c.get(&app, "/why").await.body, "none");
    }
}

#[actix_web::test]
async fn logging_in_again_forgets_the_reason() {
    let env = Env::new();
    let app = start_with(&env.bare_manager().idle_timeout(Duration::from_secs(60)), &env.db, routes).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(61);
    assert_eq!(c.whoami(&app).await, "anonymous");
    c.login(&app, ADA).await;
    assert_eq!(c.get(&app, "/why").await.body, "none");
    // Nobody was logged in: nothing to tell.
    assert_eq!(Client::new().get(&app, "/why").await.body, "none");
}

// ---- 4. a manager with only a request loader ----

#[actix_web::test]
async fn a_manager_with_only_a_request_loader_guards_extracts_and_refuses() {
    let env = Env::new();
    let events = env.events.clone();
    let login = LoginManager::from_request_loader(load_from_token)
        .on_event(move |e: LoginEvent| {
            events.record(&e);
            async {}
        })
        .www_authenticate("Bearer realm=\"api\"");
    // No session middleware at all: a token-only API keeps no sessions.
    let app = test::init_service(
        App::new()
            .app_data(login.clone())
            .app_data(env.db.clone())
            .wrap(login.middleware())
            .configure(support::routes)
            .configure(routes),
    )
    .await;
    let call = |uri: &str, token: bool| {
        let mut req = TestRequest::get().uri(uri);
        if token {
            req = req.insert_header(("authorization", format!("Bearer {BOB_TOKEN}")));
        }
        req.to_request()
    };
    for uri in ["/secret", "/admin", "/fresh"] {
        let res = test::call_service(&app, call(uri, false)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer realm=\"api\"");
    }
    assert_eq!(env.events.count(LoginEventKind::Unauthorized), 3);
    let body = |res| async { String::from_utf8(test::read_body(res).await.to_vec()).unwrap() };
    assert_eq!(body(test::call_service(&app, call("/secret", true)).await).await, "secret of bob");
    assert_eq!(body(test::call_service(&app, call("/whoami", true)).await).await, "user:bob");
    assert_eq!(body(test::call_service(&app, call("/whoami", false)).await).await, "anonymous");
    assert_eq!(body(test::call_service(&app, call("/admin", true)).await).await, "admin");
    // Request-loaded users are never fresh.
    assert_eq!(test::call_service(&app, call("/fresh", true)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(env.events.count(LoginEventKind::LoadedFromRequest), 4);
    // Logging in needs a user loader: a clear 500, not a login nobody can load.
    let res = test::call_service(&app, TestRequest::post().uri("/login-as?user=ada").to_request()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(env.db.loads(), 0);
}

// ---- 5. configuring a copy ----

#[test]
fn configuring_a_manager_after_cloning_it_is_refused_at_start_up() {
    let panics = |configure: fn(LoginManager) -> LoginManager| {
        let env = Env::new();
        let manager = env.manager();
        let installed = manager.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| configure(manager)));
        drop(installed);
        let message = *result.expect_err("refused").downcast::<&str>().unwrap();
        assert!(message.contains("configured after it was cloned"), "{message}");
    };
    panics(|m| m.clone().login_view("/elsewhere"));
    panics(|m| m.clone().refresh_view("/elsewhere"));
    panics(|m| {
        let _middleware = m.middleware();
        m.login_view("/elsewhere")
    });
    // Configured first, then cloned: one manager.
    let env = Env::new();
    let manager = env.manager().login_view("/signin");
    let _copies = (manager.clone(), manager.middleware());
}
