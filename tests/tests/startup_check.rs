//! The start-up check (issue 19): a guarded handler that asks for a user type no loader of the
//! program produces fails the app's start, with a log line naming the handler, where it is,
//! the type and the fix, instead of a 500 at the first logged-in request.
//!
//! A test binary of its own: the check is program-wide (every guarded handler linked into the
//! binary counts), so `admin_page` below would fail the start of every app in it.

mod support;

use std::future::Future as _;
use std::task::Poll;

use actix_service::{IntoServiceFactory, ServiceFactory};
use actix_web::dev::AppConfig;
use actix_web::{HttpServer, get};
use login_runtime::{AuthUser, Authenticated, CurrentUser, login_required, request_loader};
use support::logs::capture_all;
use support::{Db, manager};

/// A user type that no loader of this program produces.
#[derive(Clone, AuthUser)]
struct Admin {
    id: u64,
}

/// A user type that a loader of this program produces, but not the one of the tests' manager.
#[derive(Clone, AuthUser)]
struct Client {
    id: String,
}

#[request_loader]
#[allow(dead_code)]
async fn load_client(req: actix_web::HttpRequest) -> Option<Client> {
    req.headers().get("x-client").map(|_| Client { id: "reports".into() })
}

/// The line of `admin_page`'s guard, which the message names.
const ADMIN_PAGE_GUARD: u32 = line!() + 2;
#[get("/admin")]
#[login_required]
async fn admin_page(admin: Authenticated<Admin>) -> String {
    admin.id.to_string()
}

/// Asks for `Admin` too: the module's first handler that does (`admin_page`) is the one the
/// table holds and the message names (one entry per module and type).
#[get("/admin/settings")]
#[login_required]
async fn admin_settings(admin: Authenticated<Admin>) -> String {
    format!("settings of {}", admin.id)
}

#[get("/reports")]
#[login_required]
async fn reports(client: CurrentUser<Client>) -> String {
    format!("{:?}", client.get_id())
}

/// The error logged for `admin_page` when the manager's loaders produce `support::User`.
fn admin_page_error() -> String {
    format!(
        "the guarded handler `startup_check::admin_page` (tests/tests/startup_check.rs:{ADMIN_PAGE_GUARD}) asks for a `startup_check::Admin`, but no user loader produces one: \
         the login manager's loaders produce `startup_check::support::User`; take `startup_check::support::User` in the extractor \
         (`Authenticated<startup_check::support::User>`, `CurrentUser<startup_check::support::User>`), or give the manager a loader that returns a `startup_check::Admin`"
    )
}

#[actix_web::test]
async fn a_guarded_handler_for_a_type_no_loader_produces_fails_the_start() {
    let logs = capture_all();
    let app = support::app(&manager(), &Db::seeded()).service(admin_page).service(admin_settings).service(reports);
    // `actix_web::test::init_service`, which panics on the error.
    assert!(app.into_factory().new_service(AppConfig::default()).await.is_err(), "the app started");
    let errors = logs.lines_with("ERROR", "startup_check::admin_page");
    assert!(errors.iter().any(|line| line.contains(&admin_page_error())), "{errors:#?}");
    // `Client` is produced by `load_client`, a loader of another manager as far as the check
    // can tell: not an error (the first request says it), a debug line.
    assert_eq!(logs.lines_with("ERROR", "startup_check::reports"), Vec::<String>::new());
    let debug = logs.lines_with("DEBUG", "the guarded handler `startup_check::reports`");
    assert!(
        debug.iter().any(|line| line.contains(
            "asks for a `startup_check::Client`, which another loader of the program produces, not this login manager's"
        )),
        "{debug:#?}"
    );
}

#[actix_web::test]
async fn a_real_server_with_such_a_handler_does_not_start() {
    let logs = capture_all();
    let (login, db) = (manager(), Db::seeded());
    let server = HttpServer::new(move || support::app(&login, &db).service(admin_page))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind a loopback port");
    let server = server.run();
    let handle = server.handle();
    let mut server = Box::pin(server);
    // The first poll starts the workers and waits for them: it ends the run if one failed.
    let error = match std::future::poll_fn(|cx| Poll::Ready(server.as_mut().poll(cx))).await {
        Poll::Ready(result) => result.expect_err("the server stopped without an error"),
        Poll::Pending => {
            actix_web::rt::spawn(server);
            handle.stop(false).await;
            panic!("the server started");
        }
    };
    assert_eq!(error.kind(), std::io::ErrorKind::Other, "{error}");
    let errors = logs.lines_with("ERROR", "startup_check::admin_page");
    assert!(errors.iter().any(|line| line.contains(&admin_page_error())), "{error}: {errors:#?}");
}

#[test]
fn a_module_registers_each_user_type_once() {
    let mut names: Vec<&str> = login_runtime::__private::GUARDED_HANDLERS
        .iter()
        .filter(|handler| handler.module == "startup_check")
        .map(|handler| handler.name)
        .collect();
    names.sort_unstable();
    // `admin_settings` asks for the `Admin` that `admin_page` registered already.
    assert_eq!(names, ["admin_page", "reports"]);
}
