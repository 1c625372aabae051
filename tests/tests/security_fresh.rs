//! Fresh logins (issue 3): `#[fresh_login_required]` after a login, after a remember-me
//! restore (until `confirm_login`), with a maximum age on the guard or on the manager, and the
//! needs-refresh flow (refresh view, `next`, flashed message; 401 without a refresh view).

mod support;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use login_runtime::LoginEventKind;
use support::*;

#[actix_web::test]
async fn fresh_login_required_passes_right_after_login() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "fresh area of ada");
    assert_eq!(c.get(&app, "/fresh-60").await.body, "fresh-60 area of ada");
}

#[actix_web::test]
async fn anonymous_users_get_the_login_flow_not_the_refresh_flow() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.location(), Some("/login?next=%2Ffresh"));
    assert_eq!(env.events.count(LoginEventKind::NeedsRefresh), 0);
    assert_eq!(env.events.count(LoginEventKind::Unauthorized), 1);
}

#[actix_web::test]
async fn remember_restore_is_refused_until_confirm_login() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);

    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh"));
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    // Every later request of the restored session too.
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::FOUND);
    assert_eq!(c.get(&app, "/secret").await.status, StatusCode::OK);

    let reply = c.post(&app, "/confirm").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(reply.sets(SESSION), "confirm_login writes the session: {:?}", reply.set_cookie_headers());
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    assert_eq!(c.get(&app, "/fresh").await.body, "fresh area of ada");
    let confirmed = env.events.of(LoginEventKind::LoginConfirmed);
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].user_id.as_deref(), Some(ADA));
}

#[actix_web::test]
async fn login_with_fresh_false_is_not_fresh() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.post(&app, "/login-as?user=ada&fresh=false").await;
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
}

#[actix_web::test]
async fn needs_refresh_redirects_to_the_refresh_view_with_next_and_its_message() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let reply = c.get(&app, "/fresh-60?tab=2&x=a%20b").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let location = reply.location().unwrap().to_owned();
    assert_eq!(location, "/reauth?next=%2Ffresh-60%3Ftab%3D2%26x%3Da%2520b");
    let page = c.get(&app, &location).await;
    assert_eq!(page.body, format!("reauth page\n[{REFRESH_CATEGORY}] {REFRESH_MESSAGE}\n"));
    // Shown once.
    assert_eq!(c.get(&app, &location).await.body, "reauth page\n");
    let refresh = env.events.of(LoginEventKind::NeedsRefresh);
    assert_eq!(refresh.len(), 1);
    assert_eq!(env.events.count(LoginEventKind::Unauthorized), 0);
}

#[actix_web::test]
async fn json_clients_needing_refresh_get_a_401_with_the_refresh_url() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.post(&app, "/login-as?user=ada&fresh=false").await;

    let reply = c.send(&app, TestRequest::get().uri("/fresh").insert_header(("accept", "application/json"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "reauthentication_required");
    assert_eq!(body["refresh_url"], "/reauth?next=%2Ffresh");
    assert_eq!(body["message"], REFRESH_MESSAGE);
}

#[actix_web::test]
async fn without_a_refresh_view_needs_refresh_is_a_401() {
    let env = Env::new();
    let login = login_runtime::LoginManager::new(load_user)
        .clock(env.clock.clone())
        .remember_me(remember())
        .login_view("/login");
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert!(reply.location().is_none());
}

#[actix_web::test]
async fn guard_max_age_refuses_after_61_seconds() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(60);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::OK, "60 s is still fresh enough");
    env.advance(1);
    let reply = c.get(&app, "/fresh-60").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh-60"));
    // The plain fresh guard has no maximum age.
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    // Re-authentication restarts the clock of the fresh login.
    assert_eq!(c.post(&app, "/confirm").await.status, StatusCode::OK);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::OK);
    env.advance(61);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::FOUND);
}

#[actix_web::test]
async fn manager_fresh_max_age_applies_to_guards_without_their_own() {
    let env = Env::new();
    let login = env.manager().fresh_max_age(Duration::from_secs(120));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(61);
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK, "the manager allows 120 s");
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::FOUND, "the guard's own 60 s wins");
    env.advance(59); // 120 s
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    env.advance(1); // 121 s
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh"));
    // Logged in all along: only freshness is gone.
    assert_eq!(c.get(&app, "/secret").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn login_fresh_agrees_with_the_manager_max_age() {
    let env = Env::new();
    let login = env.manager().fresh_max_age(Duration::from_secs(120));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(120);
    assert_eq!(c.get(&app, "/state").await.body, "user:ada fresh:true");
    env.advance(1);
    assert_eq!(c.get(&app, "/state").await.body, "user:ada fresh:false");
}

#[actix_web::test]
async fn guard_max_age_wins_over_a_stricter_manager_max_age() {
    let env = Env::new();
    let login = env.manager().fresh_max_age(Duration::from_secs(30));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(45);
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND, "the manager's 30 s");
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::OK, "the guard's own 60 s");
}

#[actix_web::test]
async fn a_stale_login_is_still_a_login_for_login_required() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(3600);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::FOUND);
    assert_eq!(c.get(&app, "/secret").await.body, "secret of ada");
    assert_eq!(c.whoami(&app).await, "user:ada");
}

#[actix_web::test]
async fn confirm_login_without_a_login_does_nothing() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    // `/confirm` is guarded: an anonymous user is sent to the login page, nothing confirmed.
    let reply = c.post(&app, "/confirm").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(env.events.count(LoginEventKind::LoginConfirmed), 0);
}
