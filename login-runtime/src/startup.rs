//! The start-up check: a guarded handler asks only for user types that some loader produces.
//!
//! An extractor for a user type no loader produces ([`Authenticated<Admin>`](crate::Authenticated)
//! while the loader loads `User`) compiles, and fails at run time. Actix shows a handler's
//! extractor types to nobody before a request runs them, but the guard macros see the
//! handler's parameters: each guarded handler registers, in a link-time table, the user types
//! its parameters extract, and each [`#[user_loader]`](macro@crate::user_loader) and
//! [`#[request_loader]`](macro@crate::request_loader) the type it produces. When the login
//! middleware starts (as actix builds each worker's app, or `init_service` in a test), a
//! guarded handler that asks for a type which neither this manager's loaders nor any loader in
//! the program produce fails the start, with a log line naming the handler, the type and the
//! fix. The tables are per program, not per app: a type that another loader of the program
//! produces (a program with several managers, or a manager built earlier with a loader written
//! by hand) only logs at debug level, and is left to the first request's 500, as are unguarded
//! handlers and the parameters a guard cannot record (see `#[user_loader]`'s docs).

use std::any::{TypeId, type_name};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use linkme::distributed_slice;

use crate::loader::{LoadOutput, RequestLoader, UserLoader};

/// A user type, as the check compares it.
#[derive(Clone, Copy, Debug)]
pub struct UserType {
    id: TypeId,
    name: &'static str,
}

impl UserType {
    /// The type with this id and name (a loader's, known only through its trait object).
    pub(crate) fn new(id: TypeId, name: &'static str) -> Self {
        Self { id, name }
    }

    /// The type `U`.
    pub fn of<U: 'static>() -> Self {
        Self { id: TypeId::of::<U>(), name: type_name::<U>() }
    }
}

/// A handler under `#[login_required]` or `#[fresh_login_required]`, as its guard registers it.
pub struct GuardedHandler {
    /// `module_path!()` of the handler.
    pub module: &'static str,
    /// The handler's name.
    pub name: &'static str,
    /// `file!()` and `line!()` of the guard.
    pub file: &'static str,
    /// See `file`.
    pub line: u32,
    /// The user type each parameter extracts, if any.
    pub users: &'static [Option<fn() -> UserType>],
}

/// Every guarded handler of the program.
#[distributed_slice]
pub static GUARDED_HANDLERS: [GuardedHandler];

/// The user type of every `#[user_loader]` and `#[request_loader]` of the program.
#[distributed_slice]
pub static LOADED_USERS: [fn() -> UserType];

/// The user types of the loaders of every manager built so far, a loader written by hand
/// included (the macros' table has only theirs).
static BUILT: Mutex<Vec<UserType>> = Mutex::new(Vec::new());

/// Notes the user type of a manager's loader.
pub(crate) fn note_loader(user: UserType) {
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if !built.iter().any(|known| known.id == user.id) {
        built.push(user);
    }
}

/// The user type `#[user_loader]` `L` produces.
pub fn user_loader_type<L: UserLoader>() -> UserType {
    UserType::of::<<L::Output as LoadOutput>::User>()
}

/// The user type `#[request_loader]` `L` produces.
pub fn request_loader_type<L: RequestLoader>() -> UserType {
    UserType::of::<<L::Output as LoadOutput>::User>()
}

/// Checks the program's guarded handlers against `produced`, the user types of a manager's
/// loaders; logs each handler that asks for a user type nothing produces, and returns `Err` if
/// there is one.
pub(crate) fn check(produced: &[UserType]) -> Result<(), ()> {
    let mut loaded = BUILT.lock().unwrap_or_else(PoisonError::into_inner).clone();
    loaded.extend(LOADED_USERS.iter().map(|user_type| user_type()));
    let errors = unproduced(&GUARDED_HANDLERS, produced, &loaded);
    if errors.is_empty() {
        return Ok(());
    }
    for error in &errors {
        tracing::error!("{error}");
        // A failed start must say why even without a log subscriber (actix says only "service
        // initialization failed").
        if !tracing::dispatcher::has_been_set() {
            eprintln!("error: {error}");
        }
    }
    Err(())
}

/// The error message for each parameter of `handlers` that asks for a user type neither
/// `produced` (this manager's loaders) nor `loaded` (the other loaders of the program) produces.
fn unproduced(handlers: &[GuardedHandler], produced: &[UserType], loaded: &[UserType]) -> Vec<String> {
    let mut errors = Vec::new();
    for handler in handlers {
        for asked in handler.users.iter().flatten().map(|user_type| user_type()) {
            if produced.iter().any(|user| user.id == asked.id) {
                continue;
            }
            let GuardedHandler { module, name, file, line, .. } = handler;
            if loaded.iter().any(|loaded| loaded.id == asked.id) {
                tracing::debug!(
                    "the guarded handler `{module}::{name}` ({file}:{line}) asks for a `{}`, which another loader of the program produces, not this login manager's: if this app serves it, its requests fail",
                    asked.name
                );
                continue;
            }
            let mut message = format!(
                "the guarded handler `{module}::{name}` ({file}:{line}) asks for a `{}`, but no user loader produces one",
                asked.name
            );
            let mut names = produced.iter().map(|user| user.name);
            if let Some(first) = names.next() {
                let _ = write!(message, ": the login manager's loaders produce `{first}`");
                for name in names {
                    let _ = write!(message, " and `{name}`");
                }
                let _ = write!(
                    message,
                    "; take `{first}` in the extractor (`Authenticated<{first}>`, `CurrentUser<{first}>`), or give the manager a loader that returns a `{}`",
                    asked.name
                );
            }
            errors.push(message);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    struct User;
    struct Admin;
    struct Client;

    const ASKS_FOR_ADMIN: &[Option<fn() -> UserType>] = &[None, Some(UserType::of::<Admin>)];
    const ASKS_FOR_USER: &[Option<fn() -> UserType>] = &[Some(UserType::of::<User>)];

    const fn handler(name: &'static str, users: &'static [Option<fn() -> UserType>]) -> GuardedHandler {
        GuardedHandler { module: "app::pages", name, file: "src/pages.rs", line: 12, users }
    }

    #[test]
    fn a_type_no_loader_produces_is_an_error_naming_the_handler_and_the_fix() {
        let handlers = [handler("dashboard", ASKS_FOR_ADMIN), handler("settings", ASKS_FOR_USER)];
        let errors = unproduced(&handlers, &[UserType::of::<User>(), UserType::of::<Client>()], &[]);
        let (user, admin, client) = (type_name::<User>(), type_name::<Admin>(), type_name::<Client>());
        assert_eq!(
            errors,
            [format!(
                "the guarded handler `app::pages::dashboard` (src/pages.rs:12) asks for a `{admin}`, but no user loader produces one: \
                 the login manager's loaders produce `{user}` and `{client}`; take `{user}` in the extractor \
                 (`Authenticated<{user}>`, `CurrentUser<{user}>`), or give the manager a loader that returns a `{admin}`"
            )]
        );
    }

    #[test]
    fn a_type_another_loader_of_the_program_produces_is_not_an_error() {
        let handlers = [handler("dashboard", ASKS_FOR_ADMIN)];
        assert!(unproduced(&handlers, &[UserType::of::<User>()], &[UserType::of::<Admin>()]).is_empty());
        assert_eq!(unproduced(&handlers, &[UserType::of::<User>()], &[UserType::of::<Client>()]).len(), 1);
    }
}
