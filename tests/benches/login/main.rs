//! Benchmark harness for project issue 4 (see BENCHMARKS.md).
//!
//! One executable, three roles:
//!
//! * `login-bench serve <server-kind> [--redis URL]` — a server with ONE worker
//!   on a random loopback port; prints `LISTENING <port>` on stdout.
//! * `login-bench [--smoke] [--callgrind] [--reps N] [--secs S] [--conns C]
//!   [--only a,b,..]` — the driver: starts every server as a child process,
//!   alternates the routes over several repetitions, drives them with the
//!   keep-alive HTTP/1.1 load generator in `client.rs`, reads each server's CPU
//!   time from /proc/PID/stat and prints the table.
//! * `login-bench --compile [--smoke] [--reps N] [--handlers N]` — the compile
//!   cost of `#[login_required]` (`compile.rs`): times `cargo build` of two
//!   generated crates, with and without the guard on every handler.
//!
//! Run it with `cargo bench -p login-tests --bench login --features bench`
//! (or `cargo run --release -p login-tests --features bench --bin login-bench`;
//! `--features bench-baselines` instead of `bench` leaves our runtime out).
//!
//! OUR ROUTES: rows 4, 5, 6 and 7b are served by `ours.rs` (feature `bench`);
//! the rows themselves are declared in `driver.rs` (`rows()`).

mod client;
mod compile;
mod driver;
#[cfg(feature = "bench")]
mod ours;
mod servers;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let kind = args.get(1).cloned().unwrap_or_else(|| die("serve needs a server kind"));
        let redis = flag_value(&args, "--redis");
        servers::serve(&kind, redis);
    } else if args.iter().any(|a| a == "--compile") {
        compile::main(&args);
    } else {
        driver::main(args);
    }
}

pub(crate) fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Pids of the child processes the driver started and has not reaped yet
/// (servers exit by themselves when the driver goes; redis-server does not).
pub(crate) static CHILDREN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

pub(crate) fn die(msg: &str) -> ! {
    eprintln!("login-bench: {msg}");
    let pids = CHILDREN.lock().map(|v| v.clone()).unwrap_or_default();
    for pid in pids {
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    }
    std::process::exit(2)
}
