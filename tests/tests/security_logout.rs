//! Logout (issue 14, hole 3): it ends the login it can see from any credential the request
//! carries (the session, or only the remember cookie after a browser restart), always clears
//! the remember cookie wherever it is scoped, and what copies of the cookies can still do
//! afterwards under each configuration (SECURITY.md, "What logout ends").

mod support;

use login_runtime::{LoginEventKind, LoginInfo, LoginRegistry, MemoryLoginRegistry};
use support::{ADA, Client, Env, REMEMBER, SESSION, is_removal, remember, start};

async fn listed(registry: &MemoryLoginRegistry, user: &str) -> Vec<LoginInfo> {
    LoginRegistry::list(registry, user).await.unwrap()
}

#[actix_web::test]
async fn a_logout_after_a_browser_restart_ends_the_remembered_login_and_its_stolen_copy() {
    let env = Env::new();
    let registry = MemoryLoginRegistry::new();
    let app = start(&env.manager().login_registry(registry.clone()), &env.db).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let thief = laptop.fork();
    thief.keep_only(&[REMEMBER]);
    // The browser restarts (only the remember cookie is left) and the user logs out at once,
    // from a handler that does not load the user.
    laptop.keep_only(&[REMEMBER]);
    let reply = laptop.post(&app, "/logout").await;
    assert_eq!(reply.body, "logged out");
    assert!(reply.clears(REMEMBER), "{reply:?}");
    assert!(listed(&registry, ADA).await.is_empty(), "the remembered login is still listed");
    assert_eq!(thief.whoami(&app).await, "anonymous", "the stolen remember cookie still logs in");
    // The logout is told to the hooks, for the remember cookie's user.
    let logged_out = env.events.of(LoginEventKind::LoggedOut);
    assert_eq!(logged_out.iter().map(|e| e.user_id.as_deref()).collect::<Vec<_>>(), [Some(ADA)]);
}

#[actix_web::test]
async fn a_logout_sent_to_any_path_clears_a_path_scoped_remember_cookie() {
    let env = Env::new();
    let app = start(&env.bare_manager().remember_me(remember().path("/app")), &env.db).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    // A browser sends a cookie scoped to /app only to /app...: not to /logout.
    laptop.remove_cookie(REMEMBER);
    let reply = laptop.post(&app, "/logout").await;
    let cleared = reply.set_cookie(REMEMBER).expect("the remember cookie is cleared");
    assert!(is_removal(&cleared), "{cleared}");
    assert_eq!(cleared.path(), Some("/app"), "{cleared}");
}

/// What copies of the cookies, taken before a logout, can do after it with the cookie store
/// (every configuration here is documented in SECURITY.md).
#[actix_web::test]
async fn copies_taken_before_a_logout_on_the_cookie_store() {
    let env = Env::new();
    // Without a registry, nothing server-side knows the login: a copied session cookie stays
    // logged in (until the idle or absolute timeout, or a new session hash), and a copied
    // remember cookie logs in until it expires.
    let app = start(&env.manager(), &env.db).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let (session_copy, remember_copy) = (laptop.fork(), laptop.fork());
    session_copy.keep_only(&[SESSION]);
    remember_copy.keep_only(&[REMEMBER]);
    laptop.post(&app, "/logout").await;
    assert_eq!(laptop.whoami(&app).await, "anonymous");
    assert_eq!(session_copy.whoami(&app).await, format!("user:{ADA}"), "caveat: no registry");
    assert_eq!(remember_copy.whoami(&app).await, format!("user:{ADA}"), "caveat: no registry");
    // A new session hash ("log out everywhere") ends both.
    env.db.bump_epoch(ADA);
    assert_eq!(session_copy.whoami(&app).await, "anonymous");
    assert_eq!(remember_copy.whoami(&app).await, "anonymous");

    // With a registry, the logout removes the login: every copy is worthless.
    let app = start(&env.manager().login_registry(MemoryLoginRegistry::new()), &env.db).await;
    let laptop = Client::new();
    laptop.login_remembered(&app, ADA).await;
    let (session_copy, remember_copy) = (laptop.fork(), laptop.fork());
    session_copy.keep_only(&[SESSION]);
    remember_copy.keep_only(&[REMEMBER]);
    laptop.post(&app, "/logout").await;
    assert_eq!(session_copy.whoami(&app).await, "anonymous");
    assert_eq!(remember_copy.whoami(&app).await, "anonymous");
    assert_eq!(laptop.whoami(&app).await, "anonymous");
}
