//! Remember-me cookies (issue 3): issuing, restoring (not fresh), tampering, expiry enforced by
//! the server, per-login duration, revocation through the session hash, unknown users,
//! non-ASCII ids, the request loader behind an invalid cookie (Flask-Login #901), refresh on
//! each request only when the cookie was sent (Flask-Login #424), clearing on logout and on a
//! login without remember, and the cookie's settings.

mod support;

use std::time::Duration;

use actix_web::cookie::SameSite;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use login_runtime::{LoginEventKind, RememberMe};
use support::*;

const DAY: u64 = 24 * 3600;

/// Remember-me with every default (Secure included).
fn default_remember() -> RememberMe {
    RememberMe::new(REMEMBER_KEY)
}

#[actix_web::test]
async fn login_with_remember_sets_the_cookie_with_secure_httponly_lax_defaults() {
    let env = Env::new();
    let app = start(&env.bare_manager().remember_me(default_remember()), &env.db).await;
    let c = Client::new();
    let reply = c.login_remembered(&app, ADA).await;
    let cookie = reply.set_cookie(REMEMBER).unwrap();
    assert!(!cookie.value().is_empty());
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie}");
    assert_eq!(cookie.path(), Some("/"), "{cookie}");
    assert_eq!(cookie.domain(), None, "{cookie}");
    // 365 days by default.
    assert_eq!(cookie.max_age().map(|a| a.whole_seconds()), Some(365 * DAY as i64), "{cookie}");
    let raw = reply.raw_set_cookie(REMEMBER).unwrap();
    for part in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }
    // The user id is not in clear text next to a guessable MAC: the value is opaque base64.
    assert!(cookie.value().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
}

#[actix_web::test]
async fn login_without_remember_sets_no_remember_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    let reply = c.login(&app, ADA).await;
    assert!(reply.set_cookie(REMEMBER).is_none(), "{:?}", reply.set_cookie_headers());
    assert!(reply.sets(SESSION));
}

#[actix_web::test]
async fn remember_cookie_alone_logs_in_not_fresh_with_a_new_session() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    assert_eq!(c.state(&app).await, "user:ada fresh:true");

    // The browser was closed: only the remember cookie survives.
    c.keep_only(&[REMEMBER]);
    env.events.clear();
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:ada fresh:false");
    assert!(reply.sets(SESSION), "a new session cookie: {:?}", reply.set_cookie_headers());
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);

    // The next request works from the session alone, without the remember cookie.
    c.remove_cookie(REMEMBER);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1, "not verified again");
}

#[actix_web::test]
async fn restored_session_is_used_without_verifying_the_cookie_again() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    assert_eq!(c.whoami(&app).await, "user:ada");
    // With both cookies now, the session wins: nothing is re-issued, no event.
    env.events.clear();
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 0);
    assert!(reply.set_cookie(REMEMBER).is_none(), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn remembered_user_needs_refresh_for_fresh_login_required() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    c.keep_only(&[REMEMBER]);
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh"));
    // Still logged in for plain `login_required`.
    assert_eq!(c.get(&app, "/secret").await.body, "secret of ada");
}

#[actix_web::test]
async fn tampered_cookie_is_anonymous_and_cleared_with_all_attributes() {
    let env = Env::new();
    let login =
        env.bare_manager().remember_me(default_remember().domain("example.test").path("/").same_site(SameSite::Strict));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let good = c.cookie(REMEMBER).unwrap();
    c.keep_only(&[]);
    c.set_cookie(REMEMBER, &tamper(&good));
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    let raw = reply.raw_set_cookie(REMEMBER).unwrap();
    for part in ["Max-Age=0", "Path=/", "Domain=example.test", "Secure", "SameSite=Strict"] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }
    assert!(!c.has_cookie(REMEMBER));
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 0);
}

#[actix_web::test]
async fn a_suspended_account_is_not_logged_back_in_by_its_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    env.db.set_active(ADA, false);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 0);
    // Reactivated later, the cookie is gone: the user logs in again with a password.
    env.db.set_active(ADA, true);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn tampered_cookies_of_many_shapes_are_refused() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let good = c.cookie(REMEMBER).unwrap();
    let (payload, tag) = good.split_once('.').unwrap();
    let mut forged = vec![
        tamper(&good),
        format!("{payload}."),
        format!(".{tag}"),
        payload.to_owned(),
        format!("{payload}.{}", tamper(tag)),
        format!("{}.{tag}", tamper(payload)),
        "garbage".to_owned(),
    ];
    // Every single-character change in the MAC.
    for i in 0..tag.len() {
        let mut chars: Vec<char> = tag.chars().collect();
        chars[i] = if chars[i] == 'x' { 'y' } else { 'x' };
        forged.push(format!("{payload}.{}", chars.into_iter().collect::<String>()));
    }
    for value in forged {
        let c = Client::new();
        c.set_cookie(REMEMBER, &value);
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "anonymous", "{value}");
        assert!(reply.clears(REMEMBER), "{value}: {:?}", reply.set_cookie_headers());
    }
}

#[actix_web::test]
async fn expired_cookie_is_refused_by_the_server_and_cleared() {
    let env = Env::new();
    let login = env.bare_manager().remember_me(remember().duration(Duration::from_secs(3600)));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    let reply = c.login_remembered(&app, ADA).await;
    assert_eq!(reply.set_cookie(REMEMBER).unwrap().max_age().unwrap().whole_seconds(), 3600);
    let value = c.cookie(REMEMBER).unwrap();

    // Within the duration: restored.
    env.advance(3599);
    let early = Client::new();
    early.set_cookie(REMEMBER, &value);
    assert_eq!(early.whoami(&app).await, "user:ada");

    // Past it: a client that ignores the browser expiry still gets nothing.
    env.advance(2);
    let late = Client::new();
    late.set_cookie(REMEMBER, &value);
    let reply = late.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn per_login_duration_is_respected() {
    let env = Env::new();
    let login = env.bare_manager().remember_me(remember().duration(Duration::from_secs(30 * DAY)));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    let reply = c.post(&app, "/login-as?user=ada&remember=true&duration=100").await;
    assert_eq!(reply.set_cookie(REMEMBER).unwrap().max_age().unwrap().whole_seconds(), 100);
    let value = c.cookie(REMEMBER).unwrap();

    env.advance(99);
    let early = Client::new();
    early.set_cookie(REMEMBER, &value);
    assert_eq!(early.whoami(&app).await, "user:ada");

    env.advance(2);
    let late = Client::new();
    late.set_cookie(REMEMBER, &value);
    let reply = late.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous", "the per-login duration (100 s) is enforced, not the 30 days");
    assert!(reply.clears(REMEMBER));

    // Without a per-login duration, the manager's applies.
    let other = Client::new();
    let reply = other.login_remembered(&app, BOB).await;
    assert_eq!(reply.set_cookie(REMEMBER).unwrap().max_age().unwrap().whole_seconds(), (30 * DAY) as i64);
}

#[actix_web::test]
async fn password_change_invalidates_the_remember_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let value = c.cookie(REMEMBER).unwrap();

    // Before the change, the cookie works.
    let before = Client::new();
    before.set_cookie(REMEMBER, &value);
    assert_eq!(before.whoami(&app).await, "user:ada");

    env.db.set_password(ADA, "a new password");
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1, "only the request before the change");
}

#[actix_web::test]
async fn epoch_bump_invalidates_the_remember_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    env.db.bump_epoch(ADA);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER));
}

#[actix_web::test]
async fn a_change_that_keeps_the_session_hash_keeps_the_remember_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    env.db.rename(ADA, "Augusta");
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert!(!reply.clears(REMEMBER));
}

#[actix_web::test]
async fn cookie_for_an_unknown_user_is_anonymous_and_cleared() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, BOB).await;
    c.keep_only(&[REMEMBER]);
    env.db.remove(BOB);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert!(!c.has_cookie(REMEMBER));
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 0);
}

#[actix_web::test]
async fn non_ascii_user_id_round_trips() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ZOE).await;
    assert_eq!(c.whoami(&app).await, "user:zoë");
    c.keep_only(&[REMEMBER]);
    let reply = c.get(&app, "/state").await;
    assert_eq!(reply.body, "user:zoë fresh:false");
    let seen = env.events.of(LoginEventKind::LoadedFromCookie);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].user_id.as_deref(), Some("zoë"));
    // The restored session works alone.
    c.remove_cookie(REMEMBER);
    assert_eq!(c.whoami(&app).await, "user:zoë");
}

#[actix_web::test]
async fn invalid_remember_cookie_does_not_stop_the_request_loader() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let good = c.cookie(REMEMBER).unwrap();

    // A tampered cookie and a valid token: the token's user (Flask-Login #901).
    let api = Client::new();
    api.set_cookie(REMEMBER, &tamper(&good));
    api.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    let reply = api.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:bob");
    assert!(reply.clears(REMEMBER), "the bad cookie is still cleared: {:?}", reply.set_cookie_headers());
    assert_eq!(env.events.count(LoginEventKind::LoadedFromRequest), 1);
}

#[actix_web::test]
async fn revoked_remember_cookie_does_not_stop_the_request_loader() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let good = c.cookie(REMEMBER).unwrap();
    // Authentic, but revoked: the loader runs for Ada, then the request loader for Bob.
    env.db.set_password(ADA, "changed");
    let api = Client::new();
    api.set_cookie(REMEMBER, &good);
    api.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    let reply = api.get(&app, "/secret").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "secret of bob");
    assert!(reply.clears(REMEMBER));

    // Expired, too.
    env.db.set_password(ADA, "lovelace");
    env.advance(366 * DAY);
    let api = Client::new();
    api.set_cookie(REMEMBER, &good);
    api.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    assert_eq!(api.whoami(&app).await, "user:bob");
}

#[actix_web::test]
async fn request_loaded_user_is_not_fresh() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let api = Client::new();
    api.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    let reply = api.get(&app, "/secret").await;
    assert_eq!(reply.body, "secret of bob");
    // The request loader never writes the session.
    assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
    let reply = api.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
    assert_eq!(reply.location(), Some("/reauth?next=%2Ffresh"));
}

#[actix_web::test]
async fn refresh_each_request_reissues_only_when_the_cookie_was_sent() {
    let env = Env::new();
    let login =
        env.bare_manager().remember_me(remember().duration(Duration::from_secs(1000)).refresh_each_request(true));
    let app = start(&login, &env.db).await;

    // Logged in with remember: a request carrying the cookie gets it back, with a new expiry.
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let first = c.cookie(REMEMBER).unwrap();
    env.advance(500);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    let renewed = reply.set_cookie(REMEMBER).expect("re-issued");
    assert_eq!(renewed.max_age().unwrap().whole_seconds(), 1000);
    assert_ne!(renewed.value(), first, "a new expiry");
    // The re-issued cookie lives 1000 s from now, not from the login.
    env.advance(900);
    let later = Client::new();
    later.set_cookie(REMEMBER, renewed.value());
    assert_eq!(later.whoami(&app).await, "user:ada");
    let old = Client::new();
    old.set_cookie(REMEMBER, &first);
    assert_eq!(old.whoami(&app).await, "anonymous", "the first cookie expired at login + 1000 s");

    // Logged in without remember: no request ever gets a remember cookie (Flask-Login #424).
    let plain = Client::new();
    plain.login(&app, BOB).await;
    for _ in 0..3 {
        let reply = plain.get(&app, "/whoami").await;
        assert_eq!(reply.body, "user:bob");
        assert!(reply.set_cookie(REMEMBER).is_none(), "{:?}", reply.set_cookie_headers());
    }

    // Logged in with remember, but this request did not carry the cookie: none either.
    let c2 = Client::new();
    c2.login_remembered(&app, ZOE).await;
    c2.remove_cookie(REMEMBER);
    let reply = c2.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:zoë");
    assert!(reply.set_cookie(REMEMBER).is_none(), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn without_refresh_each_request_the_cookie_is_not_reissued() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    for _ in 0..3 {
        env.advance(100);
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "user:ada");
        assert!(reply.set_cookie(REMEMBER).is_none(), "{:?}", reply.set_cookie_headers());
    }
}

#[actix_web::test]
async fn refresh_each_request_keeps_the_per_login_duration() {
    let env = Env::new();
    let login =
        env.bare_manager().remember_me(remember().duration(Duration::from_secs(365 * DAY)).refresh_each_request(true));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.post(&app, "/login-as?user=ada&remember=true&duration=3600").await;
    env.advance(10);
    let reply = c.get(&app, "/whoami").await;
    let renewed = reply.set_cookie(REMEMBER).expect("re-issued");
    // Flask-Login keeps `_remember_seconds` for the refresh; a "remember me for an hour" on a
    // shared computer must not turn into a year.
    let max_age = renewed.max_age().unwrap().whole_seconds();
    assert!(max_age <= 3600, "re-issued for {max_age} s, the login asked for 3600 s");
    env.advance(3601);
    let later = Client::new();
    later.set_cookie(REMEMBER, renewed.value());
    assert_eq!(later.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn logout_clears_the_remember_cookie() {
    let env = Env::new();
    let login = env.bare_manager().remember_me(remember().domain("example.test").same_site(SameSite::Strict));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let reply = c.post(&app, "/logout").await;
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    let raw = reply.raw_set_cookie(REMEMBER).unwrap();
    for part in ["Max-Age=0", "Path=/", "Domain=example.test", "SameSite=Strict"] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }
    assert!(!c.has_cookie(REMEMBER));
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn login_without_remember_clears_an_older_remember_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    assert!(c.has_cookie(REMEMBER));
    let reply = c.login(&app, BOB).await;
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert!(!c.has_cookie(REMEMBER));
    assert_eq!(c.whoami(&app).await, "user:bob");
    // Once the session is gone, nobody is remembered.
    c.keep_only(&[]);
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn custom_name_domain_path_same_site_and_http_only_appear_on_the_cookie() {
    let env = Env::new();
    let settings = RememberMe::new(REMEMBER_KEY)
        .name("keep_me")
        .domain("example.test")
        .path("/app")
        .same_site(SameSite::Strict)
        .http_only(false)
        .duration(Duration::from_secs(7 * DAY));
    let app = start(&env.bare_manager().remember_me(settings), &env.db).await;
    let c = Client::new();
    let reply = c.post(&app, "/login-as?user=ada&remember=true").await;
    assert!(reply.set_cookie(REMEMBER).is_none(), "the default name is not used");
    let cookie = reply.set_cookie("keep_me").expect("the custom name");
    assert_eq!(cookie.domain(), Some("example.test"));
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(cookie.same_site(), Some(SameSite::Strict));
    assert_eq!(cookie.http_only(), None, "HttpOnly off: {cookie}");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.max_age().unwrap().whole_seconds(), (7 * DAY) as i64);

    // The custom name is the one read back (the client keeps `Path=/app` and would only send
    // it under /app: the test sends it everywhere).
    let value = c.cookie("keep_me").expect("kept");
    c.keep_only(&[]);
    c.set_cookie("keep_me", &value);
    assert_eq!(c.whoami(&app).await, "user:ada");
    // And the one cleared, with the same attributes.
    let reply = c.post(&app, "/logout").await;
    let raw = reply.raw_set_cookie("keep_me").expect("cleared");
    for part in ["Max-Age=0", "Domain=example.test", "Path=/app", "SameSite=Strict", "Secure"] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }
}

#[actix_web::test]
async fn a_cookie_with_the_default_name_is_ignored_when_the_name_is_custom() {
    let env = Env::new();
    let app_default = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app_default, ADA).await;
    let value = c.cookie(REMEMBER).unwrap();
    let custom = start(&env.bare_manager().remember_me(remember().name("keep_me")), &env.db).await;
    let other = Client::new();
    other.set_cookie(REMEMBER, &value);
    assert_eq!(other.whoami(&custom).await, "anonymous");
    other.set_cookie("keep_me", &value);
    assert_eq!(other.whoami(&custom).await, "user:ada");
}

#[actix_web::test]
async fn a_cookie_signed_with_another_key_is_refused() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let value = c.cookie(REMEMBER).unwrap();
    let other_key = start(&env.bare_manager().remember_me(RememberMe::new([9u8; 64]).secure(false)), &env.db).await;
    let thief = Client::new();
    thief.set_cookie(REMEMBER, &value);
    let reply = thief.get(&other_key, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER));
}

#[actix_web::test]
async fn remember_requested_without_remember_me_configured_issues_nothing() {
    let env = Env::new();
    let app = start(&env.bare_manager(), &env.db).await;
    let c = Client::new();
    let reply = c.post(&app, "/login-as?user=ada&remember=true").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.set_cookie(REMEMBER).is_none());
    assert_eq!(c.whoami(&app).await, "user:ada");
}

#[actix_web::test]
async fn unauthenticated_requests_without_a_remember_cookie_get_no_remember_set_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
    let reply = c.send(&app, TestRequest::get().uri("/secret")).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert!(reply.set_cookie(REMEMBER).is_none());
}

// ---- the remember-me flow against a real server ----

mod server {
    use std::sync::Arc;

    use actix_web::cookie::Cookie;
    use actix_web::dev::ServerHandle;
    use actix_web::{HttpServer, web};
    use login_runtime::{LoginEventKind, LoginManager};
    use reqwest::StatusCode;
    use reqwest::header::{LOCATION, SET_COOKIE};

    use super::support::{Db, Env, REMEMBER, SESSION, app};

    struct Server {
        base: String,
        handle: ServerHandle,
    }

    impl Server {
        /// The test app on `127.0.0.1:<random port>`, one worker.
        fn start(login: LoginManager, db: web::Data<Db>) -> Self {
            let server = HttpServer::new(move || app(&login, &db))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .expect("bind a loopback port");
            let addr = server.addrs()[0];
            let server = server.run();
            let handle = server.handle();
            actix_web::rt::spawn(server);
            Self { base: format!("http://{addr}"), handle }
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }
    }

    fn set_cookies(res: &reqwest::Response, name: &str) -> Vec<Cookie<'static>> {
        res.headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| Cookie::parse(v.to_owned()).ok())
            .filter(|c| c.name() == name)
            .collect()
    }

    /// A browser with this cookie jar: keeps cookies, shows each redirect.
    fn browser(jar: &Arc<reqwest::cookie::Jar>) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_provider(Arc::clone(jar))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    }

    async fn body(client: &reqwest::Client, url: String) -> String {
        let res = client.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }

    #[actix_web::test]
    async fn remember_me_flow_over_http() {
        let env = Env::new();
        let server = Server::start(env.manager(), env.db.clone());
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let first = browser(&jar);

        // Log in with "remember me".
        let res = first.post(server.url("/login-as?user=ada&remember=true")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let remember = set_cookies(&res, REMEMBER).pop().expect("a remember cookie");
        assert_eq!(remember.http_only(), Some(true));
        assert_eq!(remember.same_site(), Some(actix_web::cookie::SameSite::Lax));
        assert_eq!(body(&first, server.url("/state")).await, "user:ada fresh:true");

        // The browser restarts: only the remember cookie is left.
        let jar2 = Arc::new(reqwest::cookie::Jar::default());
        let url: reqwest::Url = server.base.parse().unwrap();
        jar2.add_cookie_str(&format!("{REMEMBER}={}; Path=/", remember.value()), &url);
        let second = browser(&jar2);
        let res = second.get(server.url("/state")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!set_cookies(&res, SESSION).is_empty(), "a new session cookie");
        assert_eq!(res.text().await.unwrap(), "user:ada fresh:false");

        // The restored session carries on; the cookie is not checked again.
        assert_eq!(body(&second, server.url("/whoami")).await, "user:ada");
        assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);

        // Not fresh: the needs-refresh flow, then `confirm_login`.
        let res = second.get(server.url("/fresh")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers().get(LOCATION).unwrap(), "/reauth?next=%2Ffresh");
        let res = second.post(server.url("/confirm")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(&second, server.url("/fresh")).await, "fresh area of ada");

        // Logging out clears the remember cookie from the browser.
        let res = second.post(server.url("/logout")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cleared = set_cookies(&res, REMEMBER).pop().expect("the remember cookie is cleared");
        assert_eq!(cleared.max_age(), Some(actix_web::cookie::time::Duration::ZERO));
        use reqwest::cookie::CookieStore;
        let held = jar2.cookies(&url).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(!held.contains(REMEMBER), "the browser dropped it: {held}");
        assert_eq!(body(&second, server.url("/whoami")).await, "anonymous");

        server.handle.stop(true).await;
    }
}

#[actix_web::test]
async fn ids_with_separators_quotes_and_non_ascii_round_trip_through_session_and_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let ids = [
        "a:b:c:d:e:f:g",
        "1:0:0:0::",
        "pipe|dot.colon:",
        "quote\"back\\slash",
        "sp ace",
        "emoji 🦀 ünï",
        "{\"json\":1}",
    ];
    for id in ids {
        env.db.insert(id, "pw");
        let c = Client::new();
        c.login_remembered(&app, id).await;
        assert_eq!(c.whoami(&app).await, format!("user:{id}"), "session, {id:?}");
        c.keep_only(&[REMEMBER]);
        assert_eq!(c.state(&app).await, format!("user:{id} fresh:false"), "remember cookie, {id:?}");
        c.remove_cookie(REMEMBER);
        assert_eq!(c.whoami(&app).await, format!("user:{id}"), "restored session, {id:?}");
        // Revocation still applies to such ids.
        env.db.set_password(id, "changed");
        assert_eq!(c.whoami(&app).await, "anonymous", "{id:?}");
    }
}

#[actix_web::test]
async fn host_prefixed_cookie_name_works() {
    let env = Env::new();
    let login = env.bare_manager().remember_me(RememberMe::new(REMEMBER_KEY).name("__Host-remember"));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    let reply = c.post(&app, "/login-as?user=ada&remember=true").await;
    let cookie = reply.set_cookie("__Host-remember").expect("issued");
    // `__Host-`: Secure, Path=/, no Domain.
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    c.keep_only(&["__Host-remember"]);
    assert_eq!(c.whoami(&app).await, "user:ada");
}

#[actix_web::test]
async fn a_bad_cookie_on_a_guarded_page_is_cleared_on_the_refusal_too() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let value = c.cookie(REMEMBER).unwrap();
    let other = Client::new();
    other.set_cookie(REMEMBER, &tamper(&value));
    let reply = other.get(&app, "/secret").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.location(), Some("/login?next=%2Fsecret"));
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
}

#[actix_web::test]
async fn a_restore_on_a_page_asking_several_times_loads_once() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let loads = env.db.loads();
    // `/secret`: the guard and `Authenticated` both ask for the user.
    let reply = c.get(&app, "/secret").await;
    assert_eq!(reply.body, "secret of ada");
    assert_eq!(env.db.loads() - loads, 1);
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);
}

#[actix_web::test]
async fn a_restore_keeps_the_other_session_data() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let value = c.cookie(REMEMBER).unwrap();
    // A visitor with a cart, no login, and Ada's remember cookie.
    let v = Client::new();
    v.post(&app, "/cart/lamp").await;
    v.set_cookie(REMEMBER, &value);
    let reply = v.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    assert!(reply.sets(SESSION), "a renewed session");
    assert_eq!(v.get(&app, "/cart").await.body, "lamp");
}

#[actix_web::test]
async fn a_restore_needing_refresh_still_sets_the_new_session() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    let reply = c.get(&app, "/fresh").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert!(reply.sets(SESSION), "{:?}", reply.set_cookie_headers());
    c.remove_cookie(REMEMBER);
    assert_eq!(c.state(&app).await, "user:ada fresh:false");
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1);
}

#[actix_web::test]
async fn with_refresh_each_request_a_restore_sets_one_cookie_and_logout_still_clears() {
    let env = Env::new();
    let login = env.bare_manager().remember_me(remember().refresh_each_request(true));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    env.advance(10);
    let reply = c.get(&app, "/whoami").await;
    assert_eq!(reply.body, "user:ada");
    // `set_cookie` asserts there is only one.
    assert!(reply.sets(REMEMBER), "{:?}", reply.set_cookie_headers());
    // Loaded (and refreshed) first, then logged out: the clearing wins.
    let reply = c.post(&app, "/logout-loaded").await;
    assert_eq!(reply.body, "logged out ada");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert!(!c.has_cookie(REMEMBER));
    assert_eq!(c.whoami(&app).await, "anonymous");
}

/// base64url without padding, decoded (enough for a test).
fn b64url_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s.as_bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[actix_web::test]
async fn neither_cookie_holds_the_session_hash_itself() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let stamp = env.db.get(ADA).unwrap().stamp;
    assert_eq!(stamp, "lovelace#0");

    // The remember cookie: payload and MAC.
    let value = c.cookie(REMEMBER).unwrap();
    let (payload, _tag) = value.split_once('.').expect("payload.mac");
    let payload = String::from_utf8(b64url_decode(payload)).unwrap();
    assert!(payload.contains(ADA), "the id is in the (authenticated) payload: {payload}");
    assert!(!payload.contains(&stamp) && !payload.contains("lovelace"), "{payload}");

    // The session cookie, decrypted with the app's key.
    let mut jar = actix_web::cookie::CookieJar::new();
    // The value as sent (percent-encoded), decoded as actix-web does.
    let sent = format!("{SESSION}={}", c.cookie(SESSION).unwrap());
    jar.add_original(actix_web::cookie::Cookie::parse_encoded(sent).unwrap());
    let session = jar.private(&session_key()).get(SESSION).expect("decrypts with the app's key");
    let state = session.value().to_owned();
    assert!(state.contains(ADA), "the login is in the session: {state}");
    assert!(!state.contains("lovelace"), "{state}");
}
