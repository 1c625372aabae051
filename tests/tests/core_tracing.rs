//! `tracing`: the user id reaches the request's span and the loader's span.

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::test;
use support::{ADA, Client, Db, LoginForm, manager};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Metadata, Subscriber};

/// What the spans of this thread's test recorded: `name field=value`, in order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

thread_local! {
    static CAPTURE: RefCell<Option<Spans>> = const { RefCell::new(None) };
    /// The spans entered on this thread, innermost last (for `Span::current()`).
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// One global subscriber that hands each span to the capture of its thread (per-thread default
/// subscribers race on tracing's interest cache when tests run in parallel).
#[derive(Default)]
struct ToThreadCapture {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, &'static Metadata<'static>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

fn push(line: String) {
    CAPTURE.with(|c| {
        if let Some(spans) = &*c.borrow() {
            spans.0.lock().unwrap().push(line);
        }
    });
}

impl Subscriber for ToThreadCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.spans.lock().unwrap().insert(id, attrs.metadata());
        let mut fields = Fields(format!("new {}", attrs.metadata().name()));
        attrs.record(&mut fields);
        push(fields.0);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let name = self.spans.lock().unwrap().get(&span.into_u64()).map_or("?", |m| m.name());
        let mut fields = Fields(format!("record {name}"));
        values.record(&mut fields);
        push(fields.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut fields);
        push(fields.0);
    }
    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        STACK.with(|s| {
            let mut stack = s.borrow_mut();
            if let Some(i) = stack.iter().rposition(|&id| id == span.into_u64()) {
                stack.remove(i);
            }
        });
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let top = STACK.with(|s| s.borrow().last().copied());
        match top.and_then(|id| Some((id, *self.spans.lock().unwrap().get(&id)?))) {
            Some((id, metadata)) => tracing_core::span::Current::new(Id::from_u64(id), metadata),
            None => tracing_core::span::Current::none(),
        }
    }
}

fn capture() -> Spans {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        tracing::subscriber::set_global_default(ToThreadCapture::default()).expect("no other global subscriber")
    });
    let spans = Spans::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(spans.clone()));
    spans
}

#[actix_web::test]
async fn the_request_span_and_the_loader_span_carry_the_user_id() {
    let spans = capture();
    let db = Db::seeded();
    let app = test::init_service(support::app(&manager(), &db)).await;
    let browser = Client::new();
    browser.login_form(&app, "/login", &LoginForm::new("ada", "lovelace")).await;
    spans.0.lock().unwrap().clear();

    let request_span = tracing::info_span!("request", user_id = tracing::field::Empty);
    let reply = browser.get(&app, "/whoami").instrument(request_span).await;
    assert_eq!(reply.body, "user:ada");

    let lines = spans.0.lock().unwrap().clone();
    let ada_id = ADA.to_string();
    assert!(lines.contains(&format!("new load_user user_id={ada_id}")), "{lines:#?}");
    assert!(lines.contains(&format!("record request user_id={ada_id}")), "{lines:#?}");
}

#[actix_web::test]
async fn anonymous_requests_record_no_user_id() {
    let spans = capture();
    let db = Db::seeded();
    let app = test::init_service(support::app(&manager(), &db)).await;
    let request_span = tracing::info_span!("request", user_id = tracing::field::Empty);
    let reply = Client::new().get(&app, "/whoami").instrument(request_span).await;
    assert_eq!(reply.body, "anonymous");
    let lines = spans.0.lock().unwrap().clone();
    assert!(!lines.iter().any(|l| l.contains("user_id=")), "{lines:#?}");
}

/// A user written by hand, whose id is a name: its `AuthUser` says nothing of the id's type, so
/// a loader that takes a number compiles (a derived user's would not: see
/// ui/fail/user-loader-id-type-mismatch.rs).
#[derive(Clone)]
struct Named(String);

impl login_runtime::AuthUser for Named {
    fn get_id(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

#[login_runtime::user_loader]
async fn load_named_by_number(id: u64) -> Option<Named> {
    Some(Named(id.to_string()))
}

#[actix_web::get("/login")]
async fn login_named(req: actix_web::HttpRequest) -> Result<&'static str, login_runtime::LoginError> {
    login_runtime::login_user(&req, &Named("ada".into()))?;
    Ok("logged in")
}

#[actix_web::get("/whoami")]
async fn whoami_named(user: login_runtime::CurrentUser<Named>) -> String {
    user.get_id().unwrap_or_else(|| "anonymous".into())
}

#[actix_web::test]
async fn an_id_the_loader_cannot_parse_is_logged() {
    use actix_session::SessionMiddleware;
    use actix_session::storage::CookieSessionStore;

    let spans = capture();
    let manager = login_runtime::LoginManager::new(load_named_by_number);
    let app = test::init_service(
        actix_web::App::new()
            .app_data(manager.clone())
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), support::session_key())
                    .cookie_secure(false)
                    .build(),
            )
            .wrap(manager.middleware())
            .service(login_named)
            .service(whoami_named),
    )
    .await;
    let browser = Client::new();
    assert_eq!(browser.get(&app, "/login").await.body, "logged in");
    let reply = browser.get(&app, "/whoami").await;
    assert_eq!(reply.body, "anonymous", "the stored id `ada` is no `u64`");

    let lines = spans.0.lock().unwrap().clone();
    let logged: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("event ERROR") && line.contains("does not parse as `u64`"))
        .collect();
    assert_eq!(logged.len(), 1, "{lines:#?}");
    assert!(logged[0].contains("user_id=ada"), "{logged:?}");
    assert!(logged[0].contains("core_tracing::Named"), "{logged:?}");
}
