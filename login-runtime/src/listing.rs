//! This request's login in the [login registry](crate::LoginManager::login_registry): the
//! registry entry of a new login, the changes queued for the middleware, and a user's logins
//! that can still be used.

use actix_web::HttpRequest;

use crate::error::LoginError;
use crate::manager::LoginManager;
use crate::record::LoginRecord;
use crate::registry::{DynLoginRegistry, FORGET_UNSEEN, LoginInfo, RegistryOp};
use crate::state::with_state;

/// Until when a login made (or restored) at `login_at` and seen at `seen` can be used: its
/// session until the timeouts (and [`FORGET_UNSEEN`]) end it, its remember cookie until
/// `remember_until`.
pub(crate) fn usable_until(manager: &LoginManager, login_at: u64, seen: u64, remember_until: Option<u64>) -> u64 {
    let settings = manager.settings();
    let mut until = seen.saturating_add(FORGET_UNSEEN);
    if let Some(idle) = settings.idle_timeout {
        until = until.min(seen.saturating_add(idle));
    }
    if let Some(absolute) = settings.absolute_timeout {
        until = until.min(login_at.saturating_add(absolute));
    }
    until.max(remember_until.unwrap_or(0))
}
/// The registry entry of a login made now on this request, by a user with session-hash digest
/// `session_hash`, with a remember cookie valid until `remember_until`.
pub(crate) fn login_info(
    req: &HttpRequest,
    manager: &LoginManager,
    user_id: &str,
    id: u64,
    session_hash: Option<u64>,
    remember_until: Option<u64>,
) -> LoginInfo {
    // A parsed address: at most 45 characters, whatever the headers said.
    let address = crate::proxy::client_ip(req, manager.settings()).map(|ip| ip.to_string());
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    let now = manager.now();
    LoginInfo {
        id,
        user_id: user_id.to_owned(),
        created_at: now,
        last_seen: now,
        expires_at: usable_until(manager, now, now, remember_until),
        session_hash,
        key_fingerprint: keys_of_login(manager, remember_until.is_some()),
        remembered: remember_until.is_some(),
        address,
        user_agent,
    }
}

/// The [key fingerprint](LoginInfo::key_fingerprint) of a login made now: the session side in
/// the high 32 bits, the remember-me key that signs its cookie (if `remembered`) in the low 32;
/// 0 for a key the manager does not know, `None` when it knows neither.
fn keys_of_login(manager: &LoginManager, remembered: bool) -> Option<u64> {
    let settings = manager.settings();
    let session = settings.session_fingerprint();
    let remember = match &settings.remember {
        Some(remember) if remembered => remember.key_fingerprints()[0],
        _ => 0,
    };
    (session != 0 || remember != 0).then(|| (u64::from(session) << 32) | u64::from(remember))
}

/// Whether the keys now in force can no longer use `login`: its session side is known and not
/// the manager's (its session cookie cannot be read), and its remember cookie, if any, is
/// signed with a key no longer accepted.
fn keys_gone(manager: &LoginManager, login: &LoginInfo) -> bool {
    let Some(keys) = login.key_fingerprint else { return false };
    let settings = manager.settings();
    let (session, remember) = ((keys >> 32) as u32, keys as u32);
    let session_usable = session == 0 || session == settings.session_fingerprint();
    let remember_usable =
        remember != 0 && settings.remember.as_ref().is_some_and(|r| r.key_fingerprints().contains(&remember));
    !session_usable && !remember_usable
}

/// Queues a change for the middleware.
pub(crate) fn queue(req: &HttpRequest, op: RegistryOp) {
    with_state(req, |state| state.registry.push(op));
}

/// Queues the removal of the login in `record`, if it has an id and a registry is configured.
pub(crate) fn queue_removal(req: &HttpRequest, manager: &LoginManager, record: &LoginRecord, user_id: &str) {
    if manager.settings().registry.is_some()
        && let Some(login_id) = record.login_id
    {
        queue(req, RegistryOp::Remove { user_id: user_id.to_owned(), login_id });
    }
}

/// The listed logins of `user_id` (whose session-hash digest is now `hash`), oldest first,
/// once those that can no longer be used are removed.
pub(crate) async fn live_logins(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    user_id: &str,
    hash: Option<u64>,
) -> Result<Vec<LoginInfo>, LoginError> {
    let (mut live, dead): (Vec<_>, Vec<_>) =
        registry.list(user_id).await?.into_iter().partition(|l| !over(manager, l, hash));
    for login in dead {
        registry.remove(user_id, login.id).await?;
    }
    live.sort_by_key(|l| (l.created_at, l.id));
    Ok(live)
}

/// Whether `login` can no longer be used, now that the user's session-hash digest is `hash`.
fn over(manager: &LoginManager, login: &LoginInfo, hash: Option<u64>) -> bool {
    let now = manager.now();
    login.is_expired(now)
        || login.session_hash.is_some_and(|at_login| Some(at_login) != hash)
        || keys_gone(manager, login)
        || manager
            .settings()
            .absolute_timeout
            .is_some_and(|timeout| !login.remembered && now.saturating_sub(login.created_at) > timeout)
}

/// Lists the new login `login`, then ends the user's logins that can no longer be used and,
/// beyond [`LoginManager::max_logins_per_user`], the oldest others. Only the listing can fail
/// the login: the clean-up is tried again at the next login.
pub(crate) async fn add_login(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    login: LoginInfo,
) -> Result<(), LoginError> {
    let (user_id, new_id, hash) = (login.user_id.clone(), login.id, login.session_hash);
    registry.add(login).await?;
    if let Err(error) = prune(registry, manager, &user_id, new_id, hash).await {
        tracing::warn!(%error, "could not remove a user's old logins from the login registry");
    }
    Ok(())
}

async fn prune(
    registry: &dyn DynLoginRegistry,
    manager: &LoginManager,
    user_id: &str,
    new_id: u64,
    hash: Option<u64>,
) -> Result<(), LoginError> {
    let mut others = live_logins(registry, manager, user_id, hash).await?;
    others.retain(|l| l.id != new_id);
    let max = manager.settings().max_logins;
    let over = others.len().saturating_sub(max - 1);
    for login in others.drain(..over) {
        registry.remove(user_id, login.id).await?;
    }
    Ok(())
}
