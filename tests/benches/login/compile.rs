//! `login-bench --compile`: the compile cost of `#[login_required]` (issue 4: "a generated
//! crate with 300 handlers builds with `#[login_required]` on each within 1.10 x the time of
//! the same crate without it"). See BENCHMARKS.md, "Compile cost".
//!
//! Generates, in a temp dir, a workspace of two library crates that depend on this
//! workspace's `login-runtime` by absolute path: `plain` and `guarded`, identical (N actix
//! handlers `async fn h_i(user: CurrentUser<User>, path: web::Path<u32>) -> String`, all
//! registered with `.route(..)` in `pub fn app()`, a `#[derive(AuthUser)] struct User` with a
//! permission set and a `#[user_loader]`) except that every handler of `guarded` carries
//! `#[login_required]`; a third crate, `permission`, carries
//! `#[login_required(permission = Perm::Edit)]` on every handler (issue 17: within 1.10 x too),
//! and a fourth, `rules10`, ten distinct rules over the handlers (rule `i % 10` on handler `i`).
//! Both share one target dir, so the dependencies are built once (untimed warm-up); then each
//! repetition times `cargo build` (dev profile) of each crate, alternated, in two modes:
//!
//! * `full`: lib.rs rewritten (same content, new mtime) and the crate's incremental cache
//!   deleted, so rustc compiles the whole crate (what the 1.10 target is about);
//! * `edit`: one handler's string literal changed, incremental cache kept (the dev loop).
//!
//! Wall time of the `cargo build` process, and its CPU time (user+sys of cargo and rustc,
//! from this process's cutime/cstime in /proc/self/stat).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::driver::{median, minmax};

const USAGE: &str = "usage: login-bench --compile [--smoke] [--reps N] [--handlers N] [--compile-target DIR] \
                     [--compile-keep]";

struct Opts {
    reps: usize,
    handlers: usize,
    /// shared target dir of the generated crates (default: `<temp dir>/target`)
    target: Option<PathBuf>,
    /// do not delete the generated crates at the end
    keep: bool,
}

fn parse_opts(args: &[String]) -> Opts {
    let with_value = ["--reps", "--handlers", "--compile-target"];
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if with_value.contains(&a) {
            i += 1;
        } else if !["--compile", "--smoke", "--compile-keep", "--bench"].contains(&a) {
            crate::die(&format!("unknown option {a} in compile mode\n{USAGE}"));
        }
        i += 1;
    }
    let smoke = args.iter().any(|a| a == "--smoke") || std::env::var_os("LOGIN_BENCH_SMOKE").is_some();
    let num = |name: &str, default: usize| {
        crate::flag_value(args, name)
            .map(|v| v.parse::<usize>().unwrap_or_else(|_| crate::die(&format!("bad {name}\n{USAGE}"))))
            .unwrap_or(default)
            .max(1)
    };
    Opts {
        reps: num("--reps", if smoke { 2 } else { 5 }),
        handlers: num("--handlers", 300),
        target: crate::flag_value(args, "--compile-target").map(PathBuf::from),
        keep: args.iter().any(|a| a == "--compile-keep"),
    }
}

// ---------------------------------------------------------------------------
// The generated crates
// ---------------------------------------------------------------------------

const CRATES: [&str; 4] = ["plain", "guarded", "permission", "rules10"];

/// The rules of `rules10`: handler `i` has rule `i % 10` (a realistic app has a handful of
/// distinct rules over its handlers; `permission` has one).
const RULES: [&str; 10] = [
    "Perm::Read",
    "Perm::Edit",
    "Perm::Publish",
    "Perm::Delete",
    "Perm::Admin",
    "any(Perm::Edit, Perm::Admin)",
    "all(Perm::Read, Perm::Edit)",
    "any(Perm::Publish, Perm::Admin)",
    "all(Perm::Read, not(Perm::Delete))",
    "any(Perm::Delete, Perm::Admin)",
];

/// The attribute of handler `i` of crate `name`.
fn guard(name: &str, i: usize) -> String {
    match name {
        "guarded" => "#[login_required]\n".into(),
        "permission" => "#[login_required(permission = Perm::Edit)]\n".into(),
        "rules10" => format!("#[login_required(permission = {})]\n", RULES[i % RULES.len()]),
        _ => String::new(),
    }
}

fn manifest(name: &str, runtime: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
path = "lib.rs"

[dependencies]
login-runtime = {{ path = {runtime:?} }}
actix-web = {{ version = "4.18", default-features = false, features = ["cookies", "macros"] }}
actix-session = {{ version = "0.11", default-features = false, features = ["cookie-session"] }}
"#,
        runtime = runtime.display().to_string()
    )
}

/// lib.rs of one generated crate; `rev` goes into the literal of handler `h_0` (the `edit` mode).
fn source(handlers: usize, name: &str, rev: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(400 * handlers + 2000);
    let _ = writeln!(s, "//! Generated by `login-bench --compile`: {handlers} handlers, crate {name:?}.");
    s.push_str(
        r#"
use std::collections::{HashMap, HashSet};

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::Key;
use actix_web::{App, web};
use login_runtime::{AuthUser, CurrentUser, LoginManager, Permission, user_loader};
"#,
    );
    if name != "plain" {
        s.push_str("use login_runtime::login_required;\n");
    }
    s.push_str(
        r#"
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perm {
    Read,
    Edit,
    Publish,
    Delete,
    Admin,
}

impl Permission for Perm {}

#[derive(Clone, AuthUser)]
pub struct User {
    id: u32,
    name: String,
    #[auth_user(permissions)]
    permissions: HashSet<Perm>,
}

pub struct Users(pub HashMap<u32, User>);

#[user_loader]
async fn load_user(id: u32, users: web::Data<Users>) -> Option<User> {
    users.0.get(&id).cloned()
}
"#,
    );
    for i in 0..handlers {
        let tag = if i == 0 { format!("h_0 rev {rev}") } else { format!("h_{i}") };
        s.push('\n');
        s.push_str(&guard(name, i));
        let _ = writeln!(
            s,
            r#"async fn h_{i}(user: CurrentUser<User>, path: web::Path<u32>) -> String {{
    let n = path.into_inner();
    match user.authenticated() {{
        Some(u) => format!("{tag}: {{}} {{n}}", u.name),
        None => format!("{tag}: anonymous {{n}}"),
    }}
}}"#
        );
    }
    s.push_str(
        r#"
pub fn app(
    users: web::Data<Users>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let manager = LoginManager::new(load_user);
    App::new()
        .app_data(users)
        .app_data(manager.clone())
        .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::from(&[7u8; 64])))
        .wrap(manager.middleware())
"#,
    );
    for i in 0..handlers {
        let _ = writeln!(s, "        .route(\"/h/{i}/{{n}}\", web::get().to(h_{i}))");
    }
    s.push_str("}\n");
    s
}

/// Writes lib.rs (always: a new mtime, so cargo rebuilds the crate).
fn write_source(dir: &Path, name: &str, handlers: usize, rev: usize) {
    let path = dir.join(name).join("lib.rs");
    std::fs::write(&path, source(handlers, name, rev))
        .unwrap_or_else(|e| crate::die(&format!("write {}: {e}", path.display())));
}

fn generate(dir: &Path, handlers: usize) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = workspace
        .join("login-runtime")
        .canonicalize()
        .unwrap_or_else(|e| crate::die(&format!("find login-runtime next to {}: {e}", workspace.display())));
    let members: Vec<String> = CRATES.iter().map(|c| format!("{c:?}")).collect();
    let workspace_toml = format!("[workspace]\nresolver = \"3\"\nmembers = [{}]\n", members.join(", "));
    std::fs::write(dir.join("Cargo.toml"), workspace_toml)
        .unwrap_or_else(|e| crate::die(&format!("write Cargo.toml: {e}")));
    // Same dependency versions as this workspace (and no resolution against the registry).
    let _ = std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock"));
    for name in CRATES {
        std::fs::create_dir_all(dir.join(name)).unwrap_or_else(|e| crate::die(&format!("mkdir {name}: {e}")));
        std::fs::write(dir.join(name).join("Cargo.toml"), manifest(name, &runtime))
            .unwrap_or_else(|e| crate::die(&format!("write {name}/Cargo.toml: {e}")));
        write_source(dir, name, handlers, 0);
    }
}

// ---------------------------------------------------------------------------
// Building and measuring
// ---------------------------------------------------------------------------

/// cutime + cstime of this process (CPU seconds of the waited-for children), /proc/self/stat.
fn children_cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(i) = s.rfind(')') else { return f64::NAN };
    let f: Vec<&str> = s[i + 2..].split_whitespace().collect();
    // after "pid (comm) ": f[0] = field 3, so cutime = field 16 = f[13], cstime = f[14]
    let field = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (field(13) + field(14)) / clk_tck()
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct Build {
    wall: f64,
    cpu: f64,
}

/// `cargo build -p <name>` in `dir` with the shared target dir; dies on failure.
fn cargo_build(dir: &Path, target: &Path, name: &str) -> Build {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--lib", "-p", name])
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        // when run by `cargo bench`: not the outer build's jobserver / incremental setting
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("CARGO_INCREMENTAL")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    let cpu0 = children_cpu_secs();
    let t0 = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| crate::die(&format!("run cargo: {e}")));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = children_cpu_secs() - cpu0;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        crate::die(&format!("cargo build -p {name} failed in {}", dir.display()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("warning") {
        eprintln!("{stderr}");
        crate::die(&format!("cargo build -p {name}: the generated crate has warnings"));
    }
    Build { wall, cpu }
}

/// Deletes the crate's incremental cache (`<target>/debug/incremental/<name>-*`).
fn drop_incremental(target: &Path, name: &str) {
    let dir = target.join("debug").join("incremental");
    let prefix = format!("{name}-");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Full,
    Edit,
}

pub fn main(args: &[String]) {
    let opts = parse_opts(args);
    let dir = std::env::temp_dir().join(format!("login-compile-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| crate::die(&format!("mkdir {}: {e}", dir.display())));
    let target = opts.target.clone().unwrap_or_else(|| dir.join("target"));
    generate(&dir, opts.handlers);

    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    println!();
    println!(
        "login-bench: compile mode; {ncpu} CPU(s), load avg {load}; {} handlers per crate, {} alternated reps, \
         `cargo build` (dev profile)",
        opts.handlers, opts.reps
    );
    println!("crates in {}, target dir {}", dir.display(), target.display());

    // Untimed warm-up: the dependencies (once, shared), then each crate once more so that
    // its incremental cache exists.
    let t0 = Instant::now();
    for name in CRATES {
        eprintln!("warm-up: cargo build -p {name} (dependencies, untimed) ...");
        cargo_build(&dir, &target, name);
    }
    for name in CRATES {
        write_source(&dir, name, opts.handlers, 0);
        cargo_build(&dir, &target, name);
    }
    eprintln!("warm-up done ({:.1}s)", t0.elapsed().as_secs_f64());

    // samples[mode][crate]
    let modes = [Mode::Full, Mode::Edit];
    let mut samples: Vec<Vec<Vec<Build>>> = (0..2).map(|_| (0..CRATES.len()).map(|_| Vec::new()).collect()).collect();
    let mut rev = 0;
    let t_start = Instant::now();
    for rep in 0..opts.reps {
        for (m, &mode) in modes.iter().enumerate() {
            if mode == Mode::Edit {
                rev += 1;
            }
            // alternate which crate goes first
            for k in 0..CRATES.len() {
                let c = (k + rep) % CRATES.len();
                let name = CRATES[c];
                write_source(&dir, name, opts.handlers, rev);
                if mode == Mode::Full {
                    drop_incremental(&target, name);
                }
                samples[m][c].push(cargo_build(&dir, &target, name));
            }
        }
        eprintln!("repetition {}/{} done ({:.1}s)", rep + 1, opts.reps, t_start.elapsed().as_secs_f64());
    }

    print_table(&opts, &samples);

    let rlib = |name: &str| file_size(&target.join("debug").join(format!("lib{name}.rlib")));
    let src = |name: &str| file_size(&dir.join(name).join("lib.rs"));
    println!();
    for name in CRATES {
        println!(
            "{name:<8} lib.rs {:>8} bytes   rlib {:>10} bytes",
            src(name).map_or("?".into(), |v| v.to_string()),
            rlib(name).map_or("?".into(), |v| v.to_string())
        );
    }
    for name in &CRATES[1..] {
        if let (Some(p), Some(g)) = (rlib("plain"), rlib(name)) {
            println!(
                "rlib {name}/plain {:.3}; {:+.0} bytes per handler",
                g as f64 / p as f64,
                (g as f64 - p as f64) / opts.handlers as f64
            );
        }
    }

    if opts.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn print_table(opts: &Opts, samples: &[Vec<Vec<Build>>]) {
    let cell = |v: &[f64]| {
        let (lo, hi) = minmax(v);
        format!("{:.2} [{:.2}-{:.2}]", median(&mut v.to_vec()), lo, hi)
    };
    println!();
    println!("seconds per `cargo build` of one crate: median [min-max] of {} alternated builds", opts.reps);
    println!("{:<6} {:<10} {:>22} {:>22}", "mode", "crate", "wall s", "cpu s (user+sys)");
    for (m, mode) in ["full", "edit"].iter().enumerate() {
        let mut meds = vec![(0.0, 0.0); CRATES.len()];
        for (c, name) in CRATES.iter().enumerate() {
            let wall: Vec<f64> = samples[m][c].iter().map(|b| b.wall).collect();
            let cpu: Vec<f64> = samples[m][c].iter().map(|b| b.cpu).collect();
            meds[c] = (median(&mut wall.clone()), median(&mut cpu.clone()));
            println!("{:<6} {:<10} {:>22} {:>22}", mode, name, cell(&wall), cell(&cpu));
        }
        // ratios to `plain` of the crates built back to back in one repetition
        for (c, name) in CRATES.iter().enumerate().skip(1) {
            let pair = |f: fn(&Build) -> f64| -> Vec<f64> {
                samples[m][c].iter().zip(&samples[m][0]).map(|(g, p)| f(g) / f(p)).collect()
            };
            let (pw, pc) = (pair(|b| b.wall), pair(|b| b.cpu));
            let verdict = |r: f64| if r <= 1.10 { "ok" } else { "MISSED" };
            let (rw, rc) = (meds[c].0 / meds[0].0, meds[c].1 / meds[0].1);
            println!(
                "{:<6} {:<10} {:>22} {:>22}   ratio of medians: wall {:.3}, cpu {:.3}{}",
                mode,
                format!("{}/p", &name[..1]),
                cell(&pw),
                cell(&pc),
                rw,
                rc,
                if m == 0 { format!("  (target <= 1.10: {})", verdict(rw.max(rc))) } else { String::new() }
            );
        }
    }
}
