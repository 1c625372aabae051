//! Revocation through the session hash (issue 3, OWASP ASVS V3.3.1, V3.3.3): every load
//! checks the user's session hash against the one recorded at login, so a password change or a
//! "log out everywhere" (epoch bump) ends every session of that user, on every device, even
//! with the cookie session store where nothing can be deleted server-side.

mod support;

use actix_web::http::StatusCode;
use login_runtime::LoginEventKind;
use support::*;

/// Two devices of Ada's, each logged in on its own, and Bob.
async fn two_devices_and_bob(app: &TestApp) -> (Client, Client, Client) {
    let laptop = Client::new();
    laptop.login(app, ADA).await;
    let phone = Client::new();
    phone.set_ip(AWAY_IP);
    phone.set_agent(CURL);
    phone.login(app, ADA).await;
    let bob = Client::new();
    bob.login(app, BOB).await;
    for c in [&laptop, &phone] {
        assert_eq!(c.whoami(app).await, "user:ada");
    }
    assert_eq!(bob.whoami(app).await, "user:bob");
    (laptop, phone, bob)
}

#[actix_web::test]
async fn password_change_ends_every_session_of_the_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let (laptop, phone, bob) = two_devices_and_bob(&app).await;
    env.db.set_password(ADA, "a new password");
    for c in [&laptop, &phone] {
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "anonymous");
        assert!(reply.sets(SESSION), "the login is removed from the session: {:?}", reply.set_cookie_headers());
        assert_eq!(c.whoami(&app).await, "anonymous");
        assert_eq!(c.get(&app, "/secret").await.status, StatusCode::FOUND);
    }
    // Other users are not affected.
    assert_eq!(bob.whoami(&app).await, "user:bob");
}

#[actix_web::test]
async fn log_out_everywhere_ends_every_session_including_captured_cookies() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let (laptop, phone, bob) = two_devices_and_bob(&app).await;
    // A session cookie captured before (the cookie store cannot delete it server-side).
    let stolen = laptop.fork();
    env.db.bump_epoch(ADA);
    for c in [&laptop, &phone, &stolen] {
        assert_eq!(c.whoami(&app).await, "anonymous");
    }
    assert_eq!(bob.whoami(&app).await, "user:bob");
    // Logging in again works, with the new hash.
    laptop.login(&app, ADA).await;
    assert_eq!(laptop.whoami(&app).await, "user:ada");
    assert_eq!(stolen.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn an_unchanged_session_hash_keeps_every_session() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let (laptop, phone, _bob) = two_devices_and_bob(&app).await;
    env.db.rename(ADA, "Augusta");
    env.db.set_password(ADA, "lovelace"); // the same password again: the same hash
    for c in [&laptop, &phone] {
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "user:ada");
        assert!(reply.set_cookie_headers().is_empty(), "{:?}", reply.set_cookie_headers());
    }
}

#[actix_web::test]
async fn the_device_that_changed_the_password_can_log_in_again_the_others_stay_out() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let (laptop, phone, _bob) = two_devices_and_bob(&app).await;
    env.db.set_password(ADA, "changed on the laptop");
    // The application logs the laptop in again with the new hash (as after a password form).
    laptop.login(&app, ADA).await;
    assert_eq!(laptop.whoami(&app).await, "user:ada");
    assert_eq!(phone.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn revocation_reaches_remember_cookies_and_restored_sessions() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let tablet = Client::new();
    tablet.login_remembered(&app, ADA).await;
    // The tablet's session is restored from its remember cookie.
    tablet.keep_only(&[REMEMBER]);
    assert_eq!(tablet.whoami(&app).await, "user:ada");
    env.db.bump_epoch(ADA);
    // Both: the session ends, and the remember cookie behind it, tried next in the same
    // request, fails its check too and is cleared at once.
    for c in [&laptop, &tablet] {
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "anonymous");
        assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
        c.keep_only(&[REMEMBER]);
        assert_eq!(c.whoami(&app).await, "anonymous");
    }
    assert_eq!(env.events.count(LoginEventKind::LoadedFromCookie), 1, "only the tablet's, before the bump");
}

#[actix_web::test]
async fn a_deleted_user_is_logged_out_everywhere() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let (laptop, phone, bob) = two_devices_and_bob(&app).await;
    env.db.remove(ADA);
    for c in [&laptop, &phone] {
        let reply = c.get(&app, "/whoami").await;
        assert_eq!(reply.body, "anonymous");
        assert!(reply.sets(SESSION));
    }
    // Even if an account with the same id comes back, the old sessions stay dead.
    env.db.insert(ADA, "lovelace");
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert_eq!(bob.whoami(&app).await, "user:bob");
}

#[actix_web::test]
async fn revoked_session_falls_back_to_the_request_loader() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.db.set_password(ADA, "changed");
    c.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    // The stale login is over; whether the request loader answers at once or on the next
    // request, no request ever sees Ada again.
    let first = c.whoami(&app).await;
    assert_ne!(first, "user:ada");
    assert_eq!(c.whoami(&app).await, "user:bob");
    c.remove_header("authorization");
    assert_eq!(c.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn revoked_session_login_does_not_stop_the_request_loader() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.db.set_password(ADA, "changed");
    c.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    let reply = c.get(&app, "/secret").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "secret of bob");
}
