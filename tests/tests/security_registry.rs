//! The login registry (OWASP ASVS V3.3.4): users see their logins (sessions and devices) and
//! end any of them, or all the others.

mod support;

use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use login_runtime::test::TestLoginExt;
use login_runtime::{
    Authenticated, CachedLoginRegistry, LoginInfo, LoginRegistry, MemoryLoginRegistry, RememberMe, SessionProtection,
    fresh_login_required, login_id, login_required, logins, revoke_login, revoke_other_logins,
};
use support::{ADA, AWAY_IP, BOB, CURL, Client, Env, FIREFOX, HOME_IP, REMEMBER, T0, TestApp, User, start_with};

// ---- the account pages of the app ----

/// One line per login: `<id> <created at> <remembered> <address> <agent> <this one?>`.
#[get("/logins")]
#[login_required]
async fn list(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    let current = login_id(&req);
    let lines: Vec<String> = logins(&req, &*user)
        .await?
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {}",
                l.id,
                l.created_at,
                l.remembered,
                l.address.as_deref().unwrap_or("-"),
                l.user_agent.as_deref().unwrap_or("-"),
                if Some(l.id) == current { "this" } else { "other" }
            )
        })
        .collect();
    Ok(HttpResponse::Ok().body(lines.join("\n")))
}

#[post("/logins/others/end")]
#[fresh_login_required]
async fn end_others(req: HttpRequest, user: Authenticated<User>) -> actix_web::Result<HttpResponse> {
    let ended = revoke_other_logins(&req, &*user).await?;
    Ok(HttpResponse::Ok().body(format!("ended {ended}")))
}

#[post("/logins/{id}/end")]
#[fresh_login_required]
async fn end(req: HttpRequest, user: Authenticated<User>, id: web::Path<u64>) -> actix_web::Result<HttpResponse> {
    let listed = revoke_login(&req, &*user, id.into_inner()).await?;
    Ok(HttpResponse::Ok().body(format!("listed {listed}")))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(end_others).service(end);
}

// ---- helpers ----

/// The env's manager (remember-me on) with a memory registry; the registry, to look into.
fn with_registry(env: &Env) -> (login_runtime::LoginManager, MemoryLoginRegistry) {
    let registry = MemoryLoginRegistry::new();
    (env.manager().login_registry(registry.clone()), registry)
}

async fn start(env: &Env, login: &login_runtime::LoginManager) -> TestApp {
    start_with(login, &env.db, routes).await
}

/// The user's logins in the registry, oldest first (the registry lists them in any order).
async fn listed(registry: &MemoryLoginRegistry, user: &str) -> Vec<LoginInfo> {
    let mut logins = LoginRegistry::list(registry, user).await.unwrap();
    logins.sort_by_key(|l| (l.created_at, l.id));
    logins
}

/// The parsed lines of `GET /logins`: (id, the rest).
async fn login_lines(client: &Client, app: &TestApp) -> Vec<(u64, String)> {
    let reply = client.get(app, "/logins").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply
        .body
        .lines()
        .map(|l| {
            let (id, rest) = l.split_once(' ').unwrap();
            (id.parse().unwrap(), rest.to_owned())
        })
        .collect()
}

/// A phone: another address, another user agent.
fn phone() -> Client {
    let phone = Client::new();
    phone.set_ip(AWAY_IP);
    phone.set_agent(CURL);
    phone
}

fn redirected_to_login(reply: &support::Reply) -> bool {
    reply.status == StatusCode::FOUND && reply.location().is_some_and(|l| l.starts_with("/login"))
}

// ---- listing ----

#[actix_web::test]
async fn a_login_is_listed_with_its_client_and_marked_as_this_one() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    let lines = login_lines(&laptop, &app).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].1, format!("{T0} false {HOME_IP} {FIREFOX} this"));
    let stored = listed(&registry, ADA).await;
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].id, stored[0].user_id.as_str()), (lines[0].0, ADA));
    // Another user's logins are theirs.
    assert!(listed(&registry, BOB).await.is_empty());
}

#[actix_web::test]
async fn each_device_is_a_login_and_revoking_one_logs_only_it_out() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let (laptop, phone) = (Client::new(), phone());
    laptop.login(&app, ADA).await;
    env.advance(10);
    phone.login(&app, ADA).await;
    let lines = login_lines(&laptop, &app).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].1.ends_with("this") && lines[1].1.ends_with("other"), "oldest first: {lines:?}");
    assert_eq!(lines[1].1, format!("{} false {AWAY_IP} {CURL} other", T0 + 10));

    let reply = laptop.post(&app, &format!("/logins/{}/end", lines[1].0)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "listed true"));
    assert_eq!(listed(&registry, ADA).await.len(), 1);
    // The phone is logged out on its next request; the laptop is not.
    assert!(redirected_to_login(&phone.get(&app, "/secret").await));
    assert_eq!(phone.whoami(&app).await, "anonymous");
    assert_eq!(laptop.whoami(&app).await, format!("user:{ADA}"));
    // Ending it again: it is no longer listed.
    let reply = laptop.post(&app, &format!("/logins/{}/end", lines[1].0)).await;
    assert_eq!(reply.body, "listed false");
}

#[actix_web::test]
async fn revoking_this_login_logs_this_request_out() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    let id = login_lines(&laptop, &app).await[0].0;
    assert_eq!(laptop.post(&app, &format!("/logins/{id}/end")).await.body, "listed true");
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert!(listed(&registry, ADA).await.is_empty());
}

#[actix_web::test]
async fn revoke_other_logins_keeps_only_this_one() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let clients = [Client::new(), phone(), Client::new()];
    for client in &clients {
        client.login(&app, ADA).await;
    }
    // Bob's login is not Ada's to end.
    let bob = Client::new();
    bob.login(&app, BOB).await;
    let reply = clients[1].post(&app, "/logins/others/end").await;
    assert_eq!(reply.body, "ended 2");
    assert_eq!(clients[0].whoami(&app).await, "anonymous");
    assert_eq!(clients[2].whoami(&app).await, "anonymous");
    assert_eq!(clients[1].whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(bob.whoami(&app).await, format!("user:{BOB}"));
    assert_eq!(listed(&registry, ADA).await.len(), 1);
    assert_eq!(listed(&registry, BOB).await.len(), 1);
}

#[actix_web::test]
async fn ending_logins_needs_a_fresh_login() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let id = listed(&registry, ADA).await[0].id;
    laptop.keep_only(&[REMEMBER]); // the browser was closed: restored, not fresh
    // To the refresh view (303: after a POST).
    let reply = laptop.post(&app, &format!("/logins/{id}/end")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.location().is_some_and(|l| l.starts_with("/reauth")), "{reply:?}");
    assert_eq!(laptop.post(&app, "/logins/others/end").await.status, StatusCode::SEE_OTHER);
    assert_eq!(listed(&registry, ADA).await.len(), 1);
}

// ---- what adds and removes logins ----

#[actix_web::test]
async fn logout_and_a_new_login_on_the_same_session_remove_the_old_login() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    let first = listed(&registry, ADA).await[0].id;
    // Logging in again (as someone else, here) replaces the login: one session, one login.
    laptop.login(&app, BOB).await;
    assert!(listed(&registry, ADA).await.is_empty());
    let bobs = listed(&registry, BOB).await;
    assert_eq!(bobs.len(), 1);
    assert_ne!(bobs[0].id, first);
    laptop.post(&app, "/logout").await;
    assert!(listed(&registry, BOB).await.is_empty());
    assert_eq!(laptop.whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn a_restore_from_the_remember_cookie_is_the_same_login() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let stored = listed(&registry, ADA).await;
    assert!(stored[0].remembered);
    laptop.keep_only(&[REMEMBER]);
    env.advance(3600);
    assert_eq!(laptop.whoami(&app).await, format!("user:{ADA}"));
    let lines = login_lines(&laptop, &app).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, stored[0].id);
    assert!(lines[0].1.ends_with("this"), "{lines:?}");
}

#[actix_web::test]
async fn a_revoked_login_s_remember_cookie_logs_nobody_in_and_is_cleared() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let (laptop, phone) = (Client::new(), phone());
    laptop.login(&app, ADA).await;
    phone.login_remembered(&app, ADA).await;
    let phone_id = listed(&registry, ADA).await.iter().find(|l| l.remembered).unwrap().id;
    assert_eq!(laptop.post(&app, &format!("/logins/{phone_id}/end")).await.body, "listed true");
    // The phone's browser was closed: only the remember cookie is left.
    phone.keep_only(&[REMEMBER]);
    let reply = phone.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous");
    assert!(reply.clears(REMEMBER), "{:?}", reply.set_cookie_headers());
    assert_eq!(listed(&registry, ADA).await.len(), 1);
}

#[actix_web::test]
async fn timeouts_and_strong_protection_remove_the_login() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env
        .bare_manager()
        .absolute_timeout(Duration::from_secs(100))
        .session_protection(SessionProtection::Strong)
        .login_registry(registry.clone());
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    env.advance(101);
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert!(listed(&registry, ADA).await.is_empty());

    laptop.login(&app, ADA).await;
    let thief = laptop.fork();
    thief.set_agent(CURL);
    assert_eq!(thief.whoami(&app).await, "anonymous");
    assert!(listed(&registry, ADA).await.is_empty());
}

#[actix_web::test]
async fn logins_past_the_absolute_timeout_are_not_listed() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().absolute_timeout(Duration::from_secs(100)).login_registry(registry.clone());
    let app = start(&env, &login).await;
    let (old, remembered, new) = (phone(), Client::new(), Client::new());
    old.login(&app, ADA).await; // then never seen again: its session expired on the phone
    remembered.login_remembered(&app, ADA).await;
    env.advance(60);
    new.login(&app, ADA).await;
    env.advance(50);
    let lines = login_lines(&new, &app).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].1.contains(" true ") && lines[1].1.ends_with("this"), "{lines:?}");
    assert_eq!(listed(&registry, ADA).await.len(), 2, "the expired login is removed");
    // The remembered one outlives the timeout: its cookie logs it back in, as the same login.
    assert_eq!(remembered.whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(login_lines(&remembered, &app).await[0].1, lines[0].1.replace("other", "this"));
}

#[actix_web::test]
async fn a_new_login_removes_the_user_s_expired_logins() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().absolute_timeout(Duration::from_secs(100)).login_registry(registry.clone());
    let app = start(&env, &login).await;
    let (abandoned, remembered, bob) = (phone(), Client::new(), Client::new());
    abandoned.login(&app, ADA).await;
    remembered.login_remembered(&app, ADA).await;
    bob.login(&app, BOB).await;
    env.advance(150);
    // Nobody lists Ada's logins: her next login is what cleans up after the abandoned one.
    assert_eq!(listed(&registry, ADA).await.len(), 2);
    Client::new().login(&app, ADA).await;
    let left = listed(&registry, ADA).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|l| l.remembered) && left.iter().any(|l| l.created_at == T0 + 150), "{left:?}");
    // Bob's expired login is gone too: the memory registry forgets expired logins on its own.
    assert!(listed(&registry, BOB).await.is_empty());
}

#[actix_web::test]
async fn a_password_change_leaves_no_dead_login_listed() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let (laptop, phones) = (Client::new(), [phone(), phone(), phone()]);
    for phone in &phones {
        phone.login(&app, ADA).await;
    }
    laptop.login_remembered(&app, ADA).await;
    // The password changes (a new session hash) and the laptop logs in with it.
    env.db.bump_epoch(ADA);
    laptop.login(&app, ADA).await;
    // Every other login is over: none is listed, none is left in the registry.
    let lines = login_lines(&laptop, &app).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].1.ends_with("this"), "{lines:?}");
    assert_eq!(listed(&registry, ADA).await.len(), 1);
    assert_eq!(phones[0].whoami(&app).await, "anonymous");
}

#[actix_web::test]
async fn logins_of_browsers_that_never_came_back_are_forgotten() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().idle_timeout(Duration::from_secs(600)).login_registry(registry.clone());
    let app = start(&env, &login).await;
    let (gone, remembered, bob, laptop) = (phone(), Client::new(), Client::new(), Client::new());
    gone.login(&app, ADA).await;
    remembered.login_remembered(&app, ADA).await;
    bob.login(&app, BOB).await;
    env.advance(700);
    // Past the idle timeout the abandoned login is no longer listed; its remember cookie keeps
    // the remembered one usable.
    laptop.login(&app, ADA).await;
    let lines = login_lines(&laptop, &app).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].1.contains(" true "), "{lines:?}");
    // Bob's abandoned login goes without anyone asking about Bob (as other logins come in).
    env.advance(1);
    Client::new().login(&app, ADA).await;
    assert!(listed(&registry, BOB).await.is_empty());
    // 30 days unseen ends any login, even without an idle timeout; a remember cookie of
    // longer logs back in as the same login.
    let login = env.manager().login_registry(registry.clone());
    let app = start(&env, &login).await;
    let (month, remembered) = (Client::new(), Client::new());
    month.login(&app, BOB).await;
    remembered.login_remembered(&app, BOB).await;
    let ids = listed(&registry, BOB).await;
    env.advance(30 * 24 * 3600 + 1);
    assert_eq!(month.whoami(&app).await, "anonymous");
    assert_eq!(remembered.whoami(&app).await, format!("user:{BOB}"));
    let left = listed(&registry, BOB).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].remembered && ids.iter().any(|l| l.id == left[0].id), "{left:?}");
}

#[actix_web::test]
async fn a_login_is_last_seen_at_most_once_per_interval() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    let seen = || async { listed(&registry, ADA).await[0].last_seen };
    assert_eq!(seen().await, T0);
    // Within the interval (5 minutes without an idle timeout) requests write nothing.
    env.advance(299);
    let reply = laptop.get(&app, "/whoami").await;
    assert_eq!(reply.body, format!("user:{ADA}"));
    assert!(reply.set_cookie_headers().is_empty(), "{reply:?}");
    assert_eq!(seen().await, T0);
    // Then once.
    env.advance(1);
    laptop.whoami(&app).await;
    assert_eq!(seen().await, T0 + 300);
    env.advance(100);
    laptop.whoami(&app).await;
    assert_eq!(seen().await, T0 + 300);
    // A restore from the remember cookie is a visit too.
    let phone = phone();
    phone.login_remembered(&app, BOB).await;
    phone.keep_only(&[REMEMBER]);
    env.advance(1000);
    assert_eq!(phone.whoami(&app).await, format!("user:{BOB}"));
    assert_eq!(listed(&registry, BOB).await[0].last_seen, T0 + 1400);
    // The registry keeps a remembered login as long as its cookie logs in (a year by default),
    // however long ago it was last seen.
    env.advance(300);
    assert_eq!(phone.whoami(&app).await, format!("user:{BOB}"));
    let bob = &listed(&registry, BOB).await[0];
    assert_eq!((bob.last_seen, bob.expires_at), (T0 + 1700, bob.created_at + 365 * 24 * 3600));
}

#[actix_web::test]
async fn max_logins_per_user_ends_the_oldest_logins_beyond_it() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let login = env.manager().login_registry(registry.clone()).max_logins_per_user(2);
    let app = start(&env, &login).await;
    let clients = [Client::new(), phone(), Client::new()];
    let bob = Client::new();
    bob.login(&app, BOB).await;
    for client in &clients {
        env.advance(10);
        client.login(&app, ADA).await;
    }
    let left = listed(&registry, ADA).await;
    assert_eq!(left.iter().map(|l| l.created_at).collect::<Vec<_>>(), [T0 + 20, T0 + 30], "{left:?}");
    // The oldest device is logged out; the two newest and Bob are not.
    assert_eq!(clients[0].whoami(&app).await, "anonymous");
    assert_eq!(clients[1].whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(clients[2].whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(bob.whoami(&app).await, format!("user:{BOB}"));
    // Logging in again on a listed device replaces its login: the other device stays.
    clients[2].login(&app, ADA).await;
    assert_eq!(clients[1].whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(listed(&registry, ADA).await.len(), 2);
}

#[actix_web::test]
async fn logins_made_before_the_registry_was_configured_end() {
    let env = Env::new();
    let before = start(&env, &env.manager()).await;
    let laptop = Client::new();
    laptop.login(&before, ADA).await;
    assert_eq!(laptop.whoami(&before).await, format!("user:{ADA}"));
    // The same cookie, after a deploy that configured the registry: not listed, so not in.
    let (login, registry) = with_registry(&env);
    let after = start(&env, &login).await;
    assert_eq!(laptop.whoami(&after).await, "anonymous");
    assert!(listed(&registry, ADA).await.is_empty());
    // A new login is.
    laptop.login(&after, ADA).await;
    assert_eq!(laptop.whoami(&after).await, format!("user:{ADA}"));
}

#[actix_web::test]
async fn the_registry_functions_without_a_registry_are_a_500() {
    let env = Env::new();
    let app = start(&env, &env.manager()).await;
    let laptop = Client::new();
    laptop.login(&app, ADA).await;
    assert_eq!(laptop.get(&app, "/logins").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(laptop.post(&app, "/logins/others/end").await.status, StatusCode::INTERNAL_SERVER_ERROR);
}

// ---- a cache in front of the registry ----

#[actix_web::test]
async fn a_cached_registry_notices_logins_ended_elsewhere_within_its_ttl() {
    let env = Env::new();
    let shared = MemoryLoginRegistry::new();
    // Two servers of one app, each with its own cache of the shared registry.
    let cached = || CachedLoginRegistry::new(shared.clone(), Duration::from_secs(5)).clock(env.clock.clone());
    let one = start(&env, &env.manager().login_registry(cached())).await;
    let two = start(&env, &env.manager().login_registry(cached())).await;
    let (laptop, phone) = (Client::new(), phone());
    laptop.login(&one, ADA).await;
    phone.login(&one, ADA).await;
    assert_eq!(phone.whoami(&two).await, format!("user:{ADA}"));
    let phone_id = listed(&shared, ADA).await.iter().find(|l| l.user_agent.as_deref() == Some(CURL)).unwrap().id;

    // Ended through server one: one knows at once...
    assert_eq!(laptop.post(&one, &format!("/logins/{phone_id}/end")).await.body, "listed true");
    assert_eq!(phone.fork().whoami(&one).await, "anonymous");
    // ... server two, once its answer is older than the ttl.
    env.advance(4);
    assert_eq!(phone.whoami(&two).await, format!("user:{ADA}"));
    env.advance(1);
    assert_eq!(phone.whoami(&two).await, "anonymous");
    assert_eq!(laptop.whoami(&two).await, format!("user:{ADA}"));
}

// ---- failures ----

/// A registry whose calls fail while `down` is set (`list` also while `list_down` is).
#[derive(Clone, Default)]
struct Flaky {
    inner: MemoryLoginRegistry,
    down: Arc<AtomicBool>,
    list_down: Arc<AtomicBool>,
}

impl Flaky {
    fn check(&self) -> Result<(), &'static str> {
        if self.down.load(Ordering::SeqCst) { Err("the registry is down") } else { Ok(()) }
    }
}

impl LoginRegistry for Flaky {
    type Error = &'static str;

    fn add(&self, login: LoginInfo) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let result = self.check().map(|()| {
            drop(LoginRegistry::add(&self.inner, login));
        });
        ready(result)
    }

    fn contains(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<bool, Self::Error>> + 'static {
        let inner = LoginRegistry::contains(&self.inner, user_id, login_id);
        let check = self.check();
        async move {
            check?;
            Ok(inner.await.unwrap_or_else(|e: Infallible| match e {}))
        }
    }

    fn remove(&self, user_id: &str, login_id: u64) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let result = self.check().map(|()| {
            drop(LoginRegistry::remove(&self.inner, user_id, login_id));
        });
        ready(result)
    }

    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<LoginInfo>, Self::Error>> + 'static {
        let inner = LoginRegistry::list(&self.inner, user_id);
        let check = if self.list_down.load(Ordering::SeqCst) { Err("cannot list") } else { self.check() };
        async move {
            check?;
            Ok(inner.await.unwrap_or_else(|e: Infallible| match e {}))
        }
    }

    fn touch(
        &self,
        user_id: &str,
        login_id: u64,
        last_seen: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + 'static {
        let result = self.check().map(|()| {
            drop(LoginRegistry::touch(&self.inner, user_id, login_id, last_seen, expires_at));
        });
        ready(result)
    }
}

#[actix_web::test]
async fn a_failing_registry_fails_closed() {
    let env = Env::new();
    let registry = Flaky::default();
    let login = env.manager().login_registry(registry.clone());
    let app = start(&env, &login).await;
    let laptop = Client::new();

    // A login that could not be listed is a 500, and does not stick.
    registry.down.store(true, Ordering::SeqCst);
    let reply = laptop.post(&app, &format!("/login-as?user={ADA}")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    registry.down.store(false, Ordering::SeqCst);
    assert_eq!(laptop.whoami(&app).await, "anonymous");

    // A login that cannot be checked is not let through.
    laptop.login(&app, ADA).await;
    registry.down.store(true, Ordering::SeqCst);
    assert_eq!(laptop.get(&app, "/whoami").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    // A logout that could not be recorded says so, and did not happen (the error replaced the
    // response and its session cookie): the user can try again.
    assert_eq!(laptop.post(&app, "/logout").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    registry.down.store(false, Ordering::SeqCst);
    assert_eq!(laptop.whoami(&app).await, format!("user:{ADA}"));
    laptop.post(&app, "/logout").await;
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert!(listed(&registry.inner, ADA).await.is_empty());

    // The same from a request that carries only the remember cookie (a browser restart): the
    // failed logout keeps the cookie, and the retry ends its login.
    laptop.login_remembered(&app, ADA).await;
    laptop.keep_only(&[REMEMBER]);
    registry.down.store(true, Ordering::SeqCst);
    assert_eq!(laptop.post(&app, "/logout").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    registry.down.store(false, Ordering::SeqCst);
    assert!(laptop.has_cookie(REMEMBER));
    assert_eq!(listed(&registry.inner, ADA).await.len(), 1);
    assert_eq!(laptop.post(&app, "/logout").await.status, StatusCode::OK);
    assert!(!laptop.has_cookie(REMEMBER));
    assert!(listed(&registry.inner, ADA).await.is_empty());
}

#[actix_web::test]
async fn a_login_whose_clean_up_fails_still_logs_in() {
    let env = Env::new();
    let registry = Flaky::default();
    let login = env.manager().login_registry(registry.clone()).max_logins_per_user(1);
    let app = start(&env, &login).await;
    let (laptop, phone) = (Client::new(), phone());
    laptop.login(&app, ADA).await;
    // Listing fails, so the laptop's login is not ended for the phone's: both stay.
    registry.list_down.store(true, Ordering::SeqCst);
    phone.login(&app, ADA).await;
    assert_eq!(phone.whoami(&app).await, format!("user:{ADA}"));
    assert_eq!(laptop.whoami(&app).await, format!("user:{ADA}"));
    // The next login cleans up: only it is left.
    registry.list_down.store(false, Ordering::SeqCst);
    let tablet = Client::new();
    tablet.login(&app, ADA).await;
    assert_eq!(listed(&registry.inner, ADA).await.len(), 1);
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert_eq!(phone.whoami(&app).await, "anonymous");
    assert_eq!(tablet.whoami(&app).await, format!("user:{ADA}"));
}

// ---- test logins ----

#[actix_web::test]
async fn test_logins_are_listed_as_if_made_earlier() {
    let env = Env::new();
    let (login, registry) = with_registry(&env);
    let app = start(&env, &login).await;
    let ada = env.db.get(ADA).unwrap();
    let c = Client::new();
    let reply = c.call(&app, TestRequest::get().uri("/whoami").to_request().with_login(&ada)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, format!("user:{ADA}").as_str()));
    assert_eq!(listed(&registry, ADA).await.len(), 1);
    assert_eq!(login_lines(&c, &app).await.len(), 1);
}

// ---- logins made under other keys ----

/// A manager of a deployment with secret key `secret` and remember-me key `remember` (plus
/// the `previous` remember keys still accepted), listing in `registry`.
fn deployed(
    env: &Env,
    registry: &MemoryLoginRegistry,
    secret: u8,
    remember: u8,
    previous: &[u8],
) -> login_runtime::LoginManager {
    let remember_me =
        previous.iter().fold(RememberMe::new([remember; 32]).secure(false), |r, &key| r.previous_key([key; 32]));
    env.bare_manager().secret_key([secret; 32]).remember_me(remember_me).login_registry(registry.clone())
}

/// Before the restart: on a deployment with keys 1, a laptop logs in, and a phone with a
/// remember cookie; the phone, and its login's id.
async fn a_laptop_and_a_remembered_phone(env: &Env, registry: &MemoryLoginRegistry) -> (Client, u64) {
    let before = start(env, &deployed(env, registry, 1, 1, &[])).await;
    let (laptop, phone) = (Client::new(), phone());
    laptop.login(&before, ADA).await;
    phone.login_remembered(&before, ADA).await;
    let logins = listed(registry, ADA).await;
    assert_eq!(logins.len(), 2);
    (phone, logins.iter().find(|l| l.remembered).expect("the phone's login").id)
}

/// Issue 14, hole 5: a registry outlives the app's keys (Redis, a database), so after a restart
/// with new keys it still held the logins made under the old ones, which no cookie can use any
/// more, and listed them until their timeouts (30 days unseen, or the remember cookie's year).
/// A login is listed only while a key that can use it is in force: the session side (the
/// secret key here) or, for a remembered login, a remember-me key still accepted.
#[actix_web::test]
async fn logins_made_under_other_keys_are_not_listed_and_are_removed() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    a_laptop_and_a_remembered_phone(&env, &registry).await;

    // Another server with the same keys lists both (and its own).
    let same = start(&env, &deployed(&env, &registry, 1, 1, &[])).await;
    let desk = Client::new();
    desk.login(&same, ADA).await;
    assert_eq!(login_lines(&desk, &same).await.len(), 3);

    // A restart with every key new: none of them can be used; the new login is alone.
    let after = start(&env, &deployed(&env, &registry, 2, 2, &[])).await;
    let tablet = Client::new();
    tablet.login(&after, ADA).await;
    let lines = login_lines(&tablet, &after).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].1.ends_with(" this"), "{lines:?}");
    // And they are gone from the registry, not only left out.
    assert_eq!(listed(&registry, ADA).await.len(), 1);
}

/// Key rotation: a remembered login whose cookie is signed with a previous key still accepted
/// can be used, and stays listed; a login without a remember cookie from before a new session
/// side cannot.
#[actix_web::test]
async fn a_rotated_remember_key_keeps_the_logins_it_can_still_use() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let (phone, phone_login) = a_laptop_and_a_remembered_phone(&env, &registry).await;

    let rotated = start(&env, &deployed(&env, &registry, 2, 2, &[1])).await;
    let tablet = Client::new();
    tablet.login(&rotated, ADA).await;
    let ids: Vec<u64> = login_lines(&tablet, &rotated).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&phone_login), "{ids:?}");
    // The phone's cookie logs in on the new deployment, as the same login.
    phone.close_browser();
    assert_eq!(phone.whoami(&rotated).await, format!("user:{ADA}"));
    assert_eq!(listed(&registry, ADA).await.len(), 2);

    // Once the old key is removed, nothing can use the phone's login from before.
    let later = start(&env, &deployed(&env, &registry, 2, 2, &[])).await;
    let desk = Client::new();
    desk.login(&later, ADA).await;
    let ids: Vec<u64> = login_lines(&desk, &later).await.into_iter().map(|(id, _)| id).collect();
    assert!(!ids.contains(&phone_login), "{ids:?}");
}

/// The session key given to the manager is the session side: without a secret key or a
/// remember cookie, a login made under another session key is over.
#[actix_web::test]
async fn the_session_key_given_to_the_manager_ends_the_logins_of_another() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let deployment = |key: u8| env.bare_manager().session_key(&Key::from(&[key; 64])).login_registry(registry.clone());
    let before = start(&env, &deployment(1)).await;
    Client::new().login(&before, ADA).await;

    let same = start(&env, &deployment(1)).await;
    let desk = Client::new();
    desk.login(&same, ADA).await;
    assert_eq!(login_lines(&desk, &same).await.len(), 2);

    let after = start(&env, &deployment(2)).await;
    let tablet = Client::new();
    tablet.login(&after, ADA).await;
    assert_eq!(login_lines(&tablet, &after).await.len(), 1);
    assert_eq!(listed(&registry, ADA).await.len(), 1);
}

/// Each process's cache in front of one registry: the logins of other keys go the same way.
#[actix_web::test]
async fn a_cached_registry_forgets_the_logins_of_other_keys_too() {
    let env = Env::new();
    let shared = MemoryLoginRegistry::new();
    let deployment = |secret: u8| {
        let cached = CachedLoginRegistry::new(shared.clone(), Duration::from_secs(5)).clock(env.clock.clone());
        env.bare_manager().secret_key([secret; 32]).login_registry(cached)
    };
    let before = start(&env, &deployment(1)).await;
    let laptop = Client::new();
    laptop.login(&before, ADA).await;
    assert_eq!(laptop.whoami(&before).await, format!("user:{ADA}"), "listed, and cached as listed");

    let after = start(&env, &deployment(2)).await;
    let tablet = Client::new();
    tablet.login(&after, ADA).await;
    assert_eq!(login_lines(&tablet, &after).await.len(), 1);
    assert_eq!(listed(&shared, ADA).await.len(), 1);
}
