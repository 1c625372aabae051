//! A user's logins in the [login registry](crate::LoginManager::login_registry): listing them
//! and ending them (what a "your devices" page needs).

use actix_web::HttpRequest;

use crate::error::LoginError;
use crate::listing::live_logins;
use crate::login::logout_user;
use crate::manager::LoginManager;
use crate::record::SessionHashed;
use crate::registry::{DynLoginRegistry, LoginInfo};
use crate::state::current_record;
use crate::user::AuthUser;

fn registry(manager: &LoginManager) -> Result<&dyn DynLoginRegistry, LoginError> {
    manager.settings().registry.as_deref().ok_or(LoginError::RegistryMissing)
}

/// The id of the login in force for this request, if it has one (to mark "this device" in a
/// list of [`logins`]). `None` without a login, or without a registry.
pub fn login_id(req: &HttpRequest) -> Option<u64> {
    current_record(req).and_then(|(record, _)| record.login_id)
}

/// Every login of `user` that can still be used, oldest first. The registry's logins that can
/// not are removed on the way: those past their [`expires_at`](LoginInfo::expires_at) (their
/// timeouts passed and their remember cookie expired, or not seen for 30 days), past the
/// manager's [absolute timeout](LoginManager::absolute_timeout) without a remember cookie,
/// those made before the user's [session hash](AuthUser::session_hash) changed, and those made
/// under keys no longer in force ([`LoginInfo::key_fingerprint`]).
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn logins<U: AuthUser + ?Sized>(req: &HttpRequest, user: &U) -> Result<Vec<LoginInfo>, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    live_logins(registry, manager, &user_id, user.hash_digest()).await
}

/// Ends login `login_id` of `user`, wherever it is: its session is logged out on its next
/// request, and its remember cookie no longer works. Ending this request's own login logs it
/// out now ([`logout_user`](crate::logout_user)). Returns whether the login was listed.
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn revoke_login<U: AuthUser + ?Sized>(
    req: &HttpRequest,
    user: &U,
    login_id: u64,
) -> Result<bool, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let listed = registry.contains(&user_id, login_id).await?;
    registry.remove(&user_id, login_id).await?;
    if current_record(req).is_some_and(|(record, id)| id == user_id && record.login_id == Some(login_id)) {
        logout_user(req)?;
    }
    Ok(listed)
}

/// Ends every login of `user` but this request's own ("log out my other devices"). Returns how
/// many were ended.
///
/// # Errors
/// [`LoginError::RegistryMissing`] without a registry; the registry's own failures.
pub async fn revoke_other_logins<U: AuthUser + ?Sized>(req: &HttpRequest, user: &U) -> Result<usize, LoginError> {
    let manager = LoginManager::from_request(req)?;
    let registry = registry(manager)?;
    let user_id = user.get_id().ok_or(LoginError::NoId)?;
    let current = current_record(req).filter(|(_, id)| *id == user_id).and_then(|(record, _)| record.login_id);
    let mut ended = 0;
    // The logins that can no longer be used are removed on the way, and not counted.
    for login in live_logins(registry, manager, &user_id, user.hash_digest()).await? {
        if Some(login.id) != current {
            registry.remove(&user_id, login.id).await?;
            ended += 1;
        }
    }
    Ok(ended)
}
