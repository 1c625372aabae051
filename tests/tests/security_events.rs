//! Login events (issue 3): Flask-Login's nine signals as typed hooks, each observed in the
//! situation that fires it, with the user (id, and the typed user where the event carries the
//! loaded one); async hooks; several hooks.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use login_runtime::LoginEventKind::{self, *};
use login_runtime::{CurrentUser, LoginEvent, LoginManager, SessionProtection, login_fresh};
use support::*;

/// What the async hook records.
type Late = (LoginEventKind, Option<String>);

fn kinds(seen: &[Seen]) -> Vec<LoginEventKind> {
    seen.iter().map(|s| s.kind).collect()
}

fn only(env: &Env, kind: LoginEventKind) -> Seen {
    let seen = env.events.of(kind);
    assert_eq!(seen.len(), 1, "one {kind:?} expected: {:?}", env.events.all());
    seen.into_iter().next().unwrap()
}

#[actix_web::test]
async fn logged_in_and_logged_out_carry_the_user_id() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    assert_eq!(only(&env, LoggedIn).user_id.as_deref(), Some(ADA));
    c.post(&app, "/logout").await;
    assert_eq!(only(&env, LoggedOut).user_id.as_deref(), Some(ADA));
    // Logging out again, with nobody logged in, is no event.
    c.post(&app, "/logout").await;
    assert_eq!(env.events.count(LoggedOut), 1);
}

#[actix_web::test]
async fn logged_in_and_out_carry_a_non_ascii_user_id() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ZOE).await;
    assert_eq!(only(&env, LoggedIn).user_id.as_deref(), Some(ZOE));
    c.post(&app, "/logout").await;
    let seen = only(&env, LoggedOut);
    assert_eq!(seen.user_id.as_deref(), Some(ZOE));
}

#[actix_web::test]
async fn loaded_from_cookie_carries_the_typed_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    c.keep_only(&[REMEMBER]);
    env.events.clear();
    assert_eq!(c.whoami(&app).await, "user:ada");
    let seen = env.events.take();
    assert_eq!(kinds(&seen), vec![Accessed, LoadedFromCookie], "{seen:?}");
    assert_eq!(seen[1].user_id.as_deref(), Some(ADA));
    assert_eq!(seen[1].typed_user.as_deref(), Some("name of ada"), "e.user::<User>()");
    // Not again for the restored session.
    assert_eq!(c.whoami(&app).await, "user:ada");
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
}

#[actix_web::test]
async fn no_loaded_from_cookie_for_a_bad_cookie() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login_remembered(&app, ADA).await;
    let value = c.cookie(REMEMBER).unwrap();
    env.events.clear();
    let other = Client::new();
    other.set_cookie(REMEMBER, &tamper(&value));
    assert_eq!(other.whoami(&app).await, "anonymous");
    env.db.set_password(ADA, "changed");
    let other = Client::new();
    other.set_cookie(REMEMBER, &value);
    assert_eq!(other.whoami(&app).await, "anonymous");
    assert_eq!(kinds(&env.events.take()), vec![Accessed, Accessed]);
}

#[actix_web::test]
async fn loaded_from_request_carries_the_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let api = Client::new();
    api.set_header("authorization", &format!("Bearer {BOB_TOKEN}"));
    assert_eq!(api.whoami(&app).await, "user:bob");
    let seen = env.events.take();
    assert_eq!(kinds(&seen), vec![Accessed, LoadedFromRequest], "{seen:?}");
    assert_eq!(seen[1].user_id.as_deref(), Some(BOB));
    assert_eq!(seen[1].typed_user.as_deref(), Some("name of bob"));
    // A wrong token loads nobody: no event.
    api.set_header("authorization", "Bearer nope");
    assert_eq!(api.whoami(&app).await, "anonymous");
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
}

#[actix_web::test]
async fn login_confirmed_carries_the_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.post(&app, "/login-as?user=ada&fresh=false").await;
    assert_eq!(env.events.count(LoginConfirmed), 0);
    c.post(&app, "/confirm").await;
    let seen = only(&env, LoginConfirmed);
    assert_eq!(seen.user_id.as_deref(), Some(ADA));
    assert_eq!(seen.typed_user.as_deref(), Some("name of ada"), "the user was loaded by the guard");
}

#[actix_web::test]
async fn unauthorized_fires_for_refused_anonymous_users_only() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    assert_eq!(c.get(&app, "/secret").await.status, StatusCode::FOUND);
    assert_eq!(kinds(&env.events.take()), vec![Accessed, Unauthorized]);
    // A public page that asks for the user refuses nobody.
    assert_eq!(c.whoami(&app).await, "anonymous");
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
    c.login(&app, ADA).await;
    env.events.clear();
    assert_eq!(c.get(&app, "/secret").await.status, StatusCode::OK);
    assert_eq!(env.events.count(Unauthorized), 0);
}

#[actix_web::test]
async fn needs_refresh_fires_for_stale_logins_only() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.events.clear();
    assert_eq!(c.get(&app, "/fresh").await.status, StatusCode::OK);
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
    env.advance(61);
    assert_eq!(c.get(&app, "/fresh-60").await.status, StatusCode::FOUND);
    assert_eq!(kinds(&env.events.take()), vec![Accessed, NeedsRefresh]);
    assert_eq!(env.events.count(Unauthorized), 0);
}

#[actix_web::test]
async fn accessed_fires_once_per_request_that_asks_for_the_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    env.events.clear();
    // `/secret`: the guard and `Authenticated` both ask; one load, one event.
    c.get(&app, "/secret").await;
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
    // A page that never asks: nothing.
    c.get(&app, "/public").await;
    assert!(env.events.take().is_empty());
    c.get(&app, "/whoami").await;
    c.get(&app, "/state").await;
    assert_eq!(kinds(&env.events.take()), vec![Accessed, Accessed]);
}

/// Looks at the user three times: two extractors and `login_fresh`.
async fn looks_three_times(a: CurrentUser<User>, b: CurrentUser<User>, req: HttpRequest) -> String {
    format!("{} {} {}", a.is_anonymous(), b.is_anonymous(), login_fresh(&req).await)
}

#[actix_web::test]
async fn an_anonymous_request_is_resolved_once() {
    // Without a request loader, "anonymous" is decided without any load: it is decided once all
    // the same, and the request's other looks at the user reuse it (one `Accessed`, not three).
    let env = Env::new();
    let events = env.events.clone();
    let manager = LoginManager::new(load_user).on_event(move |e: LoginEvent| {
        events.record(&e);
        async {}
    });
    let app = start_with(&manager, &env.db, |cfg| {
        cfg.route("/three-looks", web::get().to(looks_three_times));
    })
    .await;
    let c = Client::new();
    assert_eq!(c.get(&app, "/three-looks").await.body, "true true false");
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
    // The same with a login: one load, one event.
    c.login(&app, ADA).await;
    env.events.clear();
    assert_eq!(c.get(&app, "/three-looks").await.body, "false false true");
    assert_eq!(kinds(&env.events.take()), vec![Accessed]);
}

#[actix_web::test]
async fn session_protected_carries_the_user_id_in_basic_and_strong_mode() {
    for mode in [SessionProtection::Basic, SessionProtection::Strong] {
        let env = Env::new();
        let app = start(&env.manager().session_protection(mode), &env.db).await;
        let c = Client::new();
        c.login(&app, ADA).await;
        env.events.clear();
        c.set_ip(AWAY_IP);
        c.whoami(&app).await;
        let seen = env.events.take();
        assert!(kinds(&seen).contains(&SessionProtected), "{mode:?}: {seen:?}");
        let protected = seen.iter().find(|s| s.kind == SessionProtected).unwrap();
        assert_eq!(protected.user_id.as_deref(), Some(ADA), "{mode:?}");
    }
}

#[actix_web::test]
async fn a_whole_visit_fires_the_events_in_order() {
    let env = Env::new();
    let login = env.manager().fresh_max_age(Duration::from_secs(300));
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.get(&app, "/secret").await; // anonymous: refused
    c.post(&app, "/login-as?user=ada&remember=true").await; // logged in
    c.get(&app, "/fresh").await; // fresh
    env.advance(301);
    c.get(&app, "/fresh").await; // too old
    c.post(&app, "/confirm").await; // confirmed
    c.keep_only(&[REMEMBER]); // the browser restarts
    c.get(&app, "/whoami").await; // restored from the cookie
    c.set_agent(CURL);
    c.get(&app, "/whoami").await; // another client
    c.post(&app, "/logout").await; // logged out
    let seen = env.events.take();
    assert_eq!(
        kinds(&seen),
        vec![
            Accessed,
            Unauthorized,
            LoggedIn,
            Accessed,
            Accessed,
            NeedsRefresh,
            Accessed,
            LoginConfirmed,
            Accessed,
            LoadedFromCookie,
            Accessed,
            SessionProtected,
            LoggedOut,
        ],
        "{seen:?}"
    );
    for s in &seen {
        if matches!(s.kind, LoggedIn | LoginConfirmed | LoadedFromCookie | SessionProtected | LoggedOut) {
            assert_eq!(s.user_id.as_deref(), Some(ADA), "{s:?}");
        }
    }
}

#[actix_web::test]
async fn async_hooks_finish_after_their_await_and_several_hooks_all_run() {
    let env = Env::new();
    let late: Arc<Mutex<Vec<Late>>> = Arc::default();
    let peers: Arc<Mutex<Vec<Option<SocketAddr>>>> = Arc::default();
    let login = {
        let late = Arc::clone(&late);
        let peers = Arc::clone(&peers);
        env.manager()
            .on_event(move |e: LoginEvent| {
                let late = Arc::clone(&late);
                async move {
                    actix_web::rt::task::yield_now().await;
                    late.lock().unwrap().push((e.kind(), e.user_id().map(str::to_owned)));
                }
            })
            .on_event(move |e: LoginEvent| {
                if e.kind() == SessionProtected {
                    peers.lock().unwrap().push(e.request().peer_addr());
                }
                async {}
            })
    };
    let app = start(&login, &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.set_ip(AWAY_IP);
    c.whoami(&app).await;
    for _ in 0..10 {
        actix_web::rt::task::yield_now().await;
    }
    let late = late.lock().unwrap().clone();
    assert!(late.contains(&(LoggedIn, Some(ADA.to_owned()))), "{late:?}");
    assert!(late.contains(&(SessionProtected, Some(ADA.to_owned()))), "{late:?}");
    // The first hook (the recorder of `Env`) saw them too.
    assert_eq!(env.events.count(LoggedIn), 1);
    // The event carries the request: the new client's address.
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].map(|p| p.ip().to_string()).as_deref(), Some(AWAY_IP));
}

#[actix_web::test]
async fn logged_in_event_carries_the_typed_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    let seen = only(&env, LoggedIn);
    assert_eq!(seen.user_id.as_deref(), Some(ADA));
    assert_eq!(seen.typed_user.as_deref(), Some("name of ada"), "e.user::<User>() on LoggedIn");
}

/// `logout_user` does not wait for the loader: a handler that never asked for the user gets an
/// event with the id only (the documented behaviour; the test below loads it).
#[actix_web::test]
async fn logged_out_event_without_a_loaded_user_carries_the_id() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.post(&app, "/logout").await; // the handler never asks for the user
    let seen = only(&env, LoggedOut);
    assert_eq!(seen.user_id.as_deref(), Some(ADA));
    assert_eq!(seen.typed_user, None);
}

#[actix_web::test]
async fn logged_out_after_loading_the_user_carries_the_typed_user() {
    let env = Env::new();
    let app = start(&env.manager(), &env.db).await;
    let c = Client::new();
    c.login(&app, ADA).await;
    c.post(&app, "/logout-loaded").await;
    let seen = only(&env, LoggedOut);
    assert_eq!(seen.user_id.as_deref(), Some(ADA));
    assert_eq!(seen.typed_user.as_deref(), Some("name of ada"));
}
