//! A log capture: one global subscriber that records each event as `LEVEL field=value ...`,
//! into the capture of the thread it happens on ([`capture_thread`]: `actix_web::test` runs an
//! app on the test's thread) and into the program-wide one once asked for ([`capture_all`]: a
//! real server's workers run on threads of their own).
//!
//! One global subscriber rather than per-thread `set_default` ones: those race on tracing's
//! callsite interest cache when tests run in parallel (an event could be skipped as "nobody
//! listens").

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Once, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Captured log lines.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The lines of `level` (`"ERROR"`, `"DEBUG"`, ...) that contain `text`.
    pub fn lines_with(&self, level: &str, text: &str) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.starts_with(level) && l.contains(text)).collect()
    }

    /// Whether an error was logged that contains `text`.
    pub fn has_error(&self, text: &str) -> bool {
        !self.lines_with("ERROR", text).is_empty()
    }
}

thread_local! {
    /// The capture of the test running on this thread, if it asked for one.
    static THREAD: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

/// The capture of every thread, once a test asked for it.
static ALL: OnceLock<Logs> = OnceLock::new();

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

struct Capture;

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        THREAD.with(|logs| {
            if let Some(logs) = &*logs.borrow() {
                logs.0.lock().unwrap().push(line.0.clone());
            }
        });
        if let Some(all) = ALL.get() {
            all.0.lock().unwrap().push(line.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn install() {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| tracing::subscriber::set_global_default(Capture).expect("no other global subscriber"));
}

/// Captures the logs of this thread until the guard is dropped.
pub fn capture_thread() -> (Logs, CaptureGuard) {
    install();
    let logs = Logs::default();
    THREAD.with(|c| *c.borrow_mut() = Some(logs.clone()));
    (logs, CaptureGuard)
}

/// Ends this thread's capture when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        THREAD.with(|c| *c.borrow_mut() = None);
    }
}

/// The logs of every thread, from the first call on, for the rest of the program (tests that
/// share it look for their own lines).
pub fn capture_all() -> Logs {
    install();
    ALL.get_or_init(Logs::default).clone()
}
