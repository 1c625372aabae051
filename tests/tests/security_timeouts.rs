//! Idle and absolute timeouts of a login (issue 3, OWASP ASVS V3.3.2): the idle timeout keeps
//! active logins and ends idle ones; the time of the last request is written at most once per
//! `activity_write_interval` (and never without an idle timeout); the absolute timeout ends a
//! login however active, after which a valid remember cookie logs the user back in, not fresh.

mod support;

use std::time::Duration;

use actix_web::http::StatusCode;
use login_runtime::{LoginEventKind, LoginManager};
use support::*;

const IDLE: u64 = 600;

fn idle_manager(env: &Env) -> LoginManager {
    env.manager().idle_timeout(Duration::from_secs(IDLE))
}

/// How many `Set-Cookie` headers for the session cookie a response carried.
fn session_writes(reply: &Reply) -> usize {
    reply.set_cookies(SESSION).len()
}

#[actix_web::test]
async fn idle_timeout_keeps_an_active_login_and_ends_an_idle_one() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(IDLE - 1);
    assert_eq!(c.whoami(&app).await, "user:ada");
    env.advance(IDLE);
    assert_eq!(c.whoami(&app).await, "user:ada", "exactly the idle timeout is still in time");
    env.advance(IDLE + 1);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.sets(SESSION), "the login is removed from the session: {:?}", reply.set_cookie_headers());
    // Gone for good, even when the user comes back at once.
    assert_eq!(c.whoami(&app).await, "anonymous");
    let reply = c.get(&app, "/secret").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.location(), Some("/login?next=%2Fsecret"));
}

#[actix_web::test]
async fn idle_timeout_cannot_be_dodged_by_replaying_an_older_session_cookie() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    let copy = c.fork();
    env.advance(IDLE + 1);
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(copy.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn idle_timeout_keeps_other_session_data() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.post(&app, "/cart/spoon").await;
    env.advance(IDLE + 1);
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(c.get(&app, "/cart").await.body, "spoon");
}

#[actix_web::test]
async fn activity_is_written_at_most_once_per_default_interval() {
    // Default interval: a tenth of the idle timeout, at most a minute: 60 s here.
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;

    // Within the first interval: nothing is written.
    for _ in 0..5 {
        env.advance(10);
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "user:ada");
        assert_eq!(session_writes(&reply), 0, "{:?}", reply.set_cookie_headers());
    }
    // The interval is over: the first request writes, the next ones within the interval don't.
    env.advance(10);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(session_writes(&reply), 1, "{:?}", reply.set_cookie_headers());
    let mut writes = 0;
    for _ in 0..5 {
        env.advance(10);
        let reply = c.get(&app, "/state").await;
        assert_eq!(reply.body, "user:ada fresh:true");
        writes += session_writes(&reply);
    }
    assert_eq!(writes, 0);
    env.advance(10);
    assert_eq!(session_writes(&c.get(&app, "/whoami").await), 1);
}

#[actix_web::test]
async fn activity_write_interval_is_configurable() {
    let env = Env::new();
    let login = idle_manager(&env).activity_write_interval(Duration::from_secs(300));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    let mut writes = 0;
    for _ in 0..29 {
        env.advance(10);
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "user:ada");
        writes += session_writes(&reply);
    }
    assert_eq!(writes, 0, "290 s: within the interval");
    env.advance(10);
    assert_eq!(session_writes(&c.get(&app, "/whoami").await), 1, "300 s");
    let mut writes = 0;
    for _ in 0..29 {
        env.advance(10);
        writes += session_writes(&c.get(&app, "/whoami").await);
    }
    assert_eq!(writes, 0);
    // The write at 300 s keeps the login alive past the idle timeout counted from the login.
    env.advance(20);
    assert!(env.clock_secs() - T0 > IDLE);
    assert_eq!(c.whoami(&app).await, "user:ada");
}

#[actix_web::test]
async fn the_written_activity_is_what_the_idle_timeout_counts_from() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    // Active for 30 minutes, a request every 5 minutes (each one past the write interval).
    for _ in 0..6 {
        env.advance(300);
        assert_eq!(c.whoami(&app).await, "user:ada");
    }
    env.advance(IDLE + 1);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn without_an_idle_timeout_read_only_requests_write_nothing() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    for uri in ["/fresh-60", "/whoami", "/state", "/secret", "/fresh", "/public", "/cart"] {
        for _ in 0..3 {
            env.advance(20);
            let reply = c.get(&app, uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {reply:?}");
            assert!(reply.set_cookie_headers().is_empty(), "{uri}: {:?}", reply.set_cookie_headers());
        }
    }
    // A day later, still nothing written.
    env.advance(24 * 3600);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn with_an_idle_timeout_requests_that_never_load_the_user_write_nothing() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(120);
    let reply = c.get(&app, "/public").await;
    assert_eq!(reply.body, "public");
    assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn absolute_timeout_ends_the_login_even_when_active() {
    let env = Env::new();
    let login = idle_manager(&env).absolute_timeout(Duration::from_secs(1000));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    for _ in 0..3 {
        env.advance(300);
        assert_eq!(c.whoami(&app).await, "user:ada");
    }
    env.advance(100); // 1000 s: still within
    assert_eq!(c.whoami(&app).await, "user:ada");
    env.advance(1); // 1001 s
    assert_eq!(c.whoami(&app).await, "anonymous");
    // A new login starts a new absolute window.
    c.login(&app, ADA).await;
    env.advance(500);
    assert_eq!(c.whoami(&app).await, "user:ada");
    env.advance(500);
    assert_eq!(c.whoami(&app).await, "user:ada");
    env.advance(1);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn absolute_timeout_alone_without_an_idle_timeout() {
    let env = Env::new();
    let login = env.manager().absolute_timeout(Duration::from_secs(3600));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.advance(3600);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert!(reply.set_cookie_headers().is_empty(), "no activity writes without an idle timeout");
    env.advance(1);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn after_an_absolute_timeout_the_remember_cookie_logs_the_user_back_in_not_fresh() {
    let env = Env::new();
    let login = env.manager().absolute_timeout(Duration::from_secs(1000));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    assert_eq!(c.state(&app).await, "user:ada fresh:true");
    env.advance(1001);
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:ada fresh:false");
    assert!(reply.sets(SESSION));
    let seen = env.events.of(LoginEventKind::LoadedFromCookie);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].user_id.as_deref(), Some(ADA));
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::FOUND);
    // The restored login is a new one, with its own absolute window.
    env.advance(999);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);
}

#[actix_web::test]
async fn after_an_idle_timeout_the_remember_cookie_logs_the_user_back_in_not_fresh() {
    let env = Env::new();
    let app = start(&idle_manager(&env), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    env.advance(IDLE + 1);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);
    // Without the remember cookie, the idle timeout is final.
    let other = Client::new();
    other.login(&app, BOB).await;
    env.advance(IDLE + 1);
    assert_eq!(other.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn an_active_user_is_never_idle_whatever_the_write_interval() {
    let env = Env::new();
    let login = idle_manager(&env).activity_write_interval(Duration::from_secs(2 * IDLE));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    // A request every 100 s for 20 minutes: never idle for more than 100 s.
    for i in 1..=12 {
        env.advance(100);
        assert_eq!(c.whoami(&app).await, "user:ada", "logged out after {} s of activity", i * 100);
    }
}
