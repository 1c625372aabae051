//! The driver: starts the servers (and redis-server), alternates the rows over
//! repetitions, measures, prints the table. See BENCHMARKS.md for the method.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::client;

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

#[derive(Clone)]
pub struct Row {
    /// short id, used by `--only` and for ratios
    pub id: &'static str,
    pub label: &'static str,
    /// server kind (see servers.rs / ours.rs)
    pub server: &'static str,
    pub needs_redis: bool,
    /// GET this path once (fresh connection) and use its Set-Cookie as the Cookie header
    pub login: Option<&'static str>,
    /// keep only these cookie names from the login response (None = all)
    pub keep_cookies: Option<&'static [&'static str]>,
    /// the measured request
    pub path: &'static str,
    pub expect: fn(u16) -> bool,
    /// read-only authenticated request: Set-Cookie must be 0
    pub read_only: bool,
    /// row whose CPU/req is the denominator of the ratio column
    pub baseline: &'static str,
    /// our runtime's rows: `Some(reason)` while not available in this build
    pub pending: Option<&'static str>,
    /// our runtime's rows: user-loader calls each measured request must cost (counted by the
    /// server, read from `/__loads` before and after each window)
    pub loads_per_req: Option<u64>,
}

fn ok200(s: u16) -> bool {
    s == 200
}
/// Rejection of an anonymous request: 401/403 or a redirect to the login view.
#[allow(dead_code)]
pub fn rejected(s: u16) -> bool {
    s == 401 || s == 403 || (300..400).contains(&s)
}

const OURS_PENDING: Option<&str> = if cfg!(feature = "bench") {
    None
} else {
    Some("pending: built with --features bench-baselines (our runtime not linked)")
};

pub fn rows() -> Vec<Row> {
    let base = Row {
        id: "",
        label: "",
        server: "",
        needs_redis: false,
        login: Some("/login"),
        keep_cookies: None,
        path: "/me",
        expect: ok200,
        read_only: true,
        baseline: "1",
        pending: None,
        loads_per_req: None,
    };
    // Our protected route on the Redis store (rows 7b, 7r, 7c).
    let ours_redis =
        Row { needs_redis: true, path: "/protected", pending: OURS_PENDING, loads_per_req: Some(1), ..base.clone() };
    vec![
        Row {
            id: "1",
            label: "actix-web plain route",
            server: "actix-plain",
            login: None,
            path: "/plain",
            read_only: false,
            ..base.clone()
        },
        Row {
            id: "2p",
            label: "actix-session app, plain route, session cookie",
            server: "actix-session",
            path: "/plain",
            ..base.clone()
        },
        Row { id: "2", label: "actix-session cookie store, read 1 key", server: "actix-session", ..base.clone() },
        Row { id: "3", label: "actix-identity Identity extractor", server: "actix-identity", ..base.clone() },
        Row {
            id: "3u",
            label: "actix-identity + the same user lookup by hand",
            server: "actix-identity",
            path: "/me-user",
            ..base.clone()
        },
        // ---- OUR ROUTES (served by ours.rs; see the contract there) ----
        Row {
            id: "4",
            label: "ours: #[login_required] + current user (cookie)",
            server: "ours",
            path: "/protected",
            pending: OURS_PENDING,
            loads_per_req: Some(1),
            ..base.clone()
        },
        Row {
            id: "4a",
            label: "ours: as row 4 + one permission from an in-memory set",
            server: "ours",
            path: "/admin",
            pending: OURS_PENDING,
            loads_per_req: Some(1),
            ..base.clone()
        },
        Row {
            id: "4p",
            label: "ours: app's plain route, login cookie",
            server: "ours",
            path: "/plain",
            pending: OURS_PENDING,
            loads_per_req: Some(0),
            ..base.clone()
        },
        Row {
            id: "5",
            label: "ours: anonymous -> protected (rejection)",
            server: "ours",
            login: None,
            path: "/protected",
            expect: rejected,
            read_only: false,
            pending: OURS_PENDING,
            loads_per_req: Some(0),
            ..base.clone()
        },
        Row {
            id: "6",
            label: "ours: restored from remember cookie",
            server: "ours",
            login: Some("/login?remember=1"),
            keep_cookies: Some(OURS_REMEMBER_ONLY),
            path: "/protected",
            read_only: false,
            pending: OURS_PENDING,
            loads_per_req: Some(1),
            ..base.clone()
        },
        Row {
            id: "4r",
            label: "ours as row 4, with a login registry (MemoryLoginRegistry)",
            server: "ours-registry",
            path: "/protected",
            pending: OURS_PENDING,
            loads_per_req: Some(1),
            ..base.clone()
        },
        // ---- redis ----
        Row {
            id: "7a",
            label: "actix-session redis store, read 1 key",
            server: "actix-session-redis",
            needs_redis: true,
            ..base.clone()
        },
        Row { id: "7b", label: "ours on redis store (as row 4)", server: "ours-redis", ..ours_redis.clone() },
        Row {
            id: "7r",
            label: "ours as row 7b, login registry in redis (RedisLoginRegistry)",
            server: "ours-redis-registry",
            ..ours_redis.clone()
        },
        Row {
            id: "7c",
            label: "ours as row 7r, registry answers cached 5 s (CachedLoginRegistry)",
            server: "ours-redis-cached",
            ..ours_redis
        },
        // ---- axum ----
        Row {
            id: "8a",
            label: "axum plain route",
            server: "axum-plain",
            login: None,
            path: "/plain",
            read_only: false,
            baseline: "8a",
            ..base.clone()
        },
        Row {
            id: "8b",
            label: "axum-login login_required! + user (MemoryStore)",
            server: "axum-login",
            baseline: "8a",
            ..base.clone()
        },
    ]
}

#[cfg(feature = "bench")]
const OURS_REMEMBER_ONLY: &[&str] = &[crate::ours::REMEMBER_COOKIE];
#[cfg(not(feature = "bench"))]
const OURS_REMEMBER_ONLY: &[&str] = &["remember_token"];

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

struct Opts {
    smoke: bool,
    callgrind: bool,
    reps: usize,
    secs: f64,
    warmup_secs: f64,
    conns: usize,
    max_requests: u64,
    cg_requests: u64,
    cg_runs: usize,
    cg_keep: Option<PathBuf>,
    only: Option<Vec<String>>,
}

fn parse_opts(args: &[String]) -> Opts {
    let smoke = args.iter().any(|a| a == "--smoke") || std::env::var_os("LOGIN_BENCH_SMOKE").is_some();
    let callgrind = args.iter().any(|a| a == "--callgrind");
    let num = |name: &str| {
        crate::flag_value(args, name).map(|v| v.parse::<f64>().unwrap_or_else(|_| crate::die(&format!("bad {name}"))))
    };
    for a in args {
        if a.starts_with("--")
            && ![
                "--smoke",
                "--callgrind",
                "--reps",
                "--secs",
                "--conns",
                "--only",
                "--cg-requests",
                "--cg-runs",
                "--cg-keep",
                "--bench",
                "--warmup",
            ]
            .contains(&a.as_str())
        {
            crate::die(&format!(
                "unknown option {a}\nusage: login-bench [--smoke] [--callgrind] [--reps N] [--secs S] \
                 [--warmup S] [--conns C] [--cg-requests N] [--cg-runs N] [--cg-keep DIR] [--only 1,2,8b]"
            ));
        }
    }
    Opts {
        smoke,
        callgrind,
        reps: num("--reps").map(|v| v as usize).unwrap_or(if smoke { 3 } else { 7 }).max(1),
        secs: num("--secs").unwrap_or(if smoke { 0.4 } else { 2.0 }),
        warmup_secs: num("--warmup").unwrap_or(if smoke { 0.2 } else { 1.0 }),
        conns: num("--conns").map(|v| v as usize).unwrap_or(16).max(1),
        max_requests: 5_000_000,
        cg_requests: num("--cg-requests").map(|v| v as u64).unwrap_or(if smoke { 300 } else { 3000 }),
        cg_runs: num("--cg-runs").map(|v| v as usize).unwrap_or(if smoke { 1 } else { 3 }).max(1),
        cg_keep: crate::flag_value(args, "--cg-keep").map(PathBuf::from),
        only: crate::flag_value(args, "--only").map(|s| s.split(',').map(str::to_owned).collect()),
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A child process we started; killed (by its pid) when dropped.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Proc {
    fn new(child: Child, name: &str) -> Proc {
        crate::CHILDREN.lock().unwrap().push(child.id());
        Proc { child, name: name.to_owned() }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let pid = self.child.id();
        if let Ok(mut v) = crate::CHILDREN.lock() {
            v.retain(|&p| p != pid);
        }
        let _ = &self.name;
    }
}

struct Server {
    proc_: Proc,
    addr: SocketAddr,
}

fn start_server(kind: &str, redis_url: Option<&str>, wrapper: &[String], timeout: Duration) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = if let Some((first, rest)) = wrapper.split_first() {
        let mut c = Command::new(first);
        c.args(rest).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.arg("serve").arg(kind);
    if let Some(u) = redis_url {
        cmd.arg("--redis").arg(u);
    }
    // stdin stays a pipe: the server exits when we (the driver) go away.
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("spawn {kind}: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let proc_ = Proc::new(child, kind);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(p) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(p.trim().parse::<u16>().ok());
                break;
            }
        }
        // keep draining so the server never blocks on a full pipe
        for _ in lines {}
    });
    match rx.recv_timeout(timeout) {
        Ok(Some(port)) => Ok(Server { proc_, addr: SocketAddr::from(([127, 0, 0, 1], port)) }),
        _ => Err(format!("server {kind} did not report a port within {timeout:?}")),
    }
}

/// utime+stime of a process, in seconds (all its threads), from /proc/PID/stat.
fn proc_cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = match s.rfind(')') {
        Some(i) => &s[i + 2..],
        None => return f64::NAN,
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    // after "pid (comm) ": f[0] = state (field 3) -> utime = field 14 = f[11], stime = f[12]
    let utime: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    let stime: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    (utime + stime) / clk_tck()
}

fn clk_tck() -> f64 {
    // USER_HZ; 100 on every mainstream Linux. `getconf CLK_TCK` to check.
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(bin)).find(|p| p.is_file()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Redis {
    proc_: Proc,
    url: String,
    port: u16,
}

/// Commands that do not change what the store holds (reads, and what clients and this driver
/// send to look around). Every other command is counted as a store write.
const NON_WRITING: &[&str] = &[
    "get", "mget", "exists", "ttl", "pttl", "type", "info", "ping", "hello", "client", "select", "auth", "command",
    "config", "echo", "time",
];

/// The reads a request may make: actix-session's `GET` of the session, the login registry's
/// `HEXISTS` of the login.
const READS: &[&str] = &["get", "mget", "hexists"];

/// Calls per command since redis-server started, from `INFO commandstats`.
fn redis_commands(port: u16) -> Result<BTreeMap<String, u64>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect to redis: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(b"INFO commandstats\r\n").map_err(|e| format!("INFO: {e}"))?;
    // A bulk string: `$<len>\r\n<text>\r\n`.
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    reader.read_line(&mut head).map_err(|e| format!("INFO: {e}"))?;
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("INFO: unexpected reply {head:?}"))?;
    let mut text = vec![0u8; len];
    reader.read_exact(&mut text).map_err(|e| format!("INFO: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    // `cmdstat_get:calls=12,usec=...`
    Ok(text
        .lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .collect())
}

/// What the store did between two `INFO commandstats`: (writes, reads), and the writes by command.
fn store_ops(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> StoreOps {
    let mut ops = StoreOps::default();
    for (name, &calls) in after {
        let n = calls - before.get(name).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        if READS.contains(&name.as_str()) {
            ops.reads += n;
        } else if !NON_WRITING.contains(&name.as_str()) {
            ops.writes += n;
            *ops.by_command.entry(name.clone()).or_default() += n;
        }
    }
    ops
}

#[derive(Clone, Debug, Default)]
struct StoreOps {
    writes: u64,
    reads: u64,
    by_command: BTreeMap<String, u64>,
}

fn start_redis() -> Result<Redis, String> {
    let bin = which("redis-server").ok_or("redis-server not found (apt-get install redis-server)")?;
    for _attempt in 0..5 {
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning", "--dir", &std::env::temp_dir().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        let mut p = Proc::new(child, "redis-server");
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = p.child.try_wait() {
                break; // died (port taken?) -> retry with another port
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf).map(|n| buf[..n].starts_with(b"+PONG")).unwrap_or(false)
                {
                    return Ok(Redis { proc_: p, url: format!("redis://127.0.0.1:{port}"), port });
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = p.child.kill();
    }
    Err("redis-server did not start".into())
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_req: f64,
    ext_cpu_us_per_req: Option<f64>,
    set_cookie_per_req: f64,
    unexpected: u64,
    requests: u64,
    /// user-loader calls during the window (rows with `loads_per_req`)
    loads: Option<u64>,
    /// commands the session store (redis) ran during the window (redis rows)
    store: Option<StoreOps>,
}

struct Prepared {
    row: Row,
    addr: SocketAddr,
    pid: u32,
    /// The measured request, once per session (see [`SESSIONS`]).
    reqs: Vec<Vec<u8>>,
    /// Set-Cookie headers on a single measured request (sanity check)
    sanity_set_cookies: usize,
    sanity_status: u16,
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn minmax(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

pub fn main(args: Vec<String>) {
    let opts = parse_opts(&args);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut all_rows = rows();
    if let Some(only) = &opts.only {
        all_rows.retain(|r| only.iter().any(|o| o == r.id));
    }

    let mut skipped: Vec<(Row, String)> = Vec::new();
    let mut active: Vec<Row> = Vec::new();
    for r in all_rows {
        match r.pending {
            Some(why) => skipped.push((r, why.to_owned())),
            None => active.push(r),
        }
    }

    // redis-server, if any active row needs it
    let mut redis: Option<Redis> = None;
    if active.iter().any(|r| r.needs_redis) {
        match start_redis() {
            Ok(r) => {
                eprintln!("redis-server started at {} (pid {})", r.url, r.proc_.pid());
                redis = Some(r);
            }
            Err(e) => {
                eprintln!("SKIPPING redis rows: {e}");
                let (keep, skip): (Vec<_>, Vec<_>) = active.into_iter().partition(|r| !r.needs_redis);
                active = keep;
                skipped.extend(skip.into_iter().map(|r| (r, format!("skipped: {e}"))));
            }
        }
    }

    print_machine_header(&opts);

    if opts.callgrind {
        callgrind_mode(&opts, &rt, &active, redis.as_ref(), &skipped);
        return;
    }

    // Start one server process per kind.
    let mut servers: BTreeMap<&'static str, Server> = BTreeMap::new();
    for r in &active {
        if !servers.contains_key(r.server) {
            let url = if r.needs_redis { redis.as_ref().map(|x| x.url.as_str()) } else { None };
            match start_server(r.server, url, &[], Duration::from_secs(30)) {
                Ok(s) => {
                    eprintln!("server {:<20} pid {:<7} {}", r.server, s.proc_.pid(), s.addr);
                    servers.insert(r.server, s);
                }
                Err(e) => crate::die(&e),
            }
        }
    }

    // Log in once per row, sanity-check the measured request.
    let mut prepared: Vec<Prepared> = Vec::new();
    for r in &active {
        let s = &servers[r.server];
        match rt.block_on(prepare(r, s.addr, s.proc_.pid())) {
            Ok(p) => prepared.push(p),
            Err(e) => crate::die(&format!("row {} ({}): {e}", r.id, r.label)),
        }
    }

    // Warm up every route.
    for p in &prepared {
        let _ = rt
            .block_on(client::drive(
                p.addr,
                p.reqs.clone(),
                p.row.expect,
                opts.conns,
                Duration::from_secs_f64(opts.warmup_secs),
                opts.max_requests,
            ))
            .unwrap_or_else(|e| crate::die(&format!("warm-up of row {}: {e}", p.row.id)));
    }

    // Alternate: every repetition runs every row once, in a rotated order.
    let redis_pid = redis.as_ref().map(|r| (r.proc_.pid(), r.port));
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); prepared.len()];
    let n = prepared.len();
    let t_start = Instant::now();
    for rep in 0..opts.reps {
        for k in 0..n {
            let i = (k + rep) % n;
            let p = &prepared[i];
            let store = if p.row.needs_redis { redis_pid } else { None };
            let s = measure(&rt, p, store, &opts);
            samples[i].push(s);
        }
        eprintln!("repetition {}/{} done ({:.1}s)", rep + 1, opts.reps, t_start.elapsed().as_secs_f64());
    }

    print_table(&opts, &prepared, &samples, &skipped);
    drop(servers);
    drop(redis);
    check(&prepared, &samples);
}

/// Exit non-zero (after the table) when a row broke its contract: an unexpected
/// status, a Set-Cookie or a store write on a read-only authenticated request, or a loader
/// count off.
fn check(prepared: &[Prepared], samples: &[Vec<Sample>]) {
    let mut failures = Vec::new();
    for (p, s) in prepared.iter().zip(samples) {
        let unexpected: u64 = s.iter().map(|x| x.unexpected).sum();
        let set_cookies: f64 = s.iter().map(|x| x.set_cookie_per_req * x.requests as f64).sum();
        if unexpected > 0 {
            failures.push(format!("row {}: {unexpected} responses with an unexpected status", p.row.id));
        }
        if p.row.read_only && (set_cookies > 0.0 || p.sanity_set_cookies > 0) {
            failures.push(format!("row {}: Set-Cookie on a read-only authenticated request", p.row.id));
        }
        if let Some(expected) = p.row.loads_per_req {
            let loads: u64 = s.iter().filter_map(|x| x.loads).sum();
            let requests: u64 = s.iter().map(|x| x.requests).sum();
            println!("row {}: {loads} user-loader calls for {requests} requests (expected {expected} each)", p.row.id);
            if loads != expected * requests {
                failures.push(format!("row {}: {loads} loader calls for {requests} requests", p.row.id));
            }
        }
        if p.row.needs_redis {
            let mut total = StoreOps::default();
            for ops in s.iter().filter_map(|x| x.store.as_ref()) {
                total.writes += ops.writes;
                total.reads += ops.reads;
                for (name, n) in &ops.by_command {
                    *total.by_command.entry(name.clone()).or_default() += n;
                }
            }
            let requests: u64 = s.iter().map(|x| x.requests).sum();
            println!(
                "row {}: {} store writes {:?} and {} store reads (GET, HEXISTS) for {requests} requests (expected 0 writes{})",
                p.row.id,
                total.writes,
                total.by_command,
                total.reads,
                if p.row.read_only { "" } else { ": not read-only" }
            );
            if p.row.read_only && total.writes > 0 {
                failures.push(format!("row {}: {} store writes on read-only requests", p.row.id, total.writes));
            }
        }
    }
    if failures.is_empty() {
        println!(
            "checks: all {} measured rows ok (statuses, no Set-Cookie and no store write on read-only requests, loader calls)",
            prepared.len()
        );
    } else {
        for f in &failures {
            println!("CHECK FAILED: {f}");
        }
        std::process::exit(1);
    }
}

async fn prepare(r: &Row, addr: SocketAddr, pid: u32) -> Result<Prepared, String> {
    let mut cookies = Vec::new();
    if let Some(path) = r.login {
        for _ in 0..SESSIONS {
            let resp = client::one(addr, path, None).await.map_err(|e| format!("login: {e}"))?;
            if !(200..400).contains(&resp.status) {
                return Err(format!("login {path} returned {}", resp.status));
            }
            match client::cookie_header(&resp.set_cookies, r.keep_cookies) {
                Some(c) => cookies.push(Some(c)),
                None => return Err(format!("login {path} set no (usable) cookie: {:?}", resp.set_cookies)),
            }
        }
    } else {
        cookies.push(None);
    }
    let mut reqs = Vec::new();
    let mut sanity = None;
    for cookie in &cookies {
        reqs.push(client::request_bytes(addr, r.path, cookie.as_deref()));
        let resp = client::one(addr, r.path, cookie.as_deref()).await.map_err(|e| format!("sanity request: {e}"))?;
        if !(r.expect)(resp.status) {
            return Err(format!(
                "{} returned unexpected status {} (body {:?})",
                r.path,
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ));
        }
        sanity.get_or_insert((resp.set_cookies.len(), resp.status));
    }
    let (sanity_set_cookies, sanity_status) = sanity.expect("at least one request");
    Ok(Prepared { row: r.clone(), addr, pid, reqs, sanity_set_cookies, sanity_status })
}

/// Sessions per row with a login: each measured connection cycles through this many logged-in
/// sessions. Encrypted cookies differ per login (random nonces), and so does the cost of
/// decoding them (percent-escapes, base64 padding): one session would make a row's figure
/// depend on the luck of one cookie.
const SESSIONS: usize = 16;

/// The user-loader calls the server has counted so far (`/__loads`, our rows only).
fn loads(rt: &tokio::runtime::Runtime, addr: SocketAddr) -> u64 {
    let resp =
        rt.block_on(client::one(addr, "/__loads", None)).unwrap_or_else(|e| crate::die(&format!("/__loads: {e}")));
    String::from_utf8_lossy(&resp.body).trim().parse().unwrap_or_else(|_| crate::die("/__loads: not a number"))
}

/// One window of row `p`; `store` is the redis-server's pid and port for the redis rows.
fn measure(rt: &tokio::runtime::Runtime, p: &Prepared, store: Option<(u32, u16)>, opts: &Opts) -> Sample {
    let ext_pid = store.map(|(pid, _)| pid);
    let commands = |port| redis_commands(port).unwrap_or_else(|e| crate::die(&format!("row {}: {e}", p.row.id)));
    let loads0 = p.row.loads_per_req.map(|_| loads(rt, p.addr));
    let store0 = store.map(|(_, port)| commands(port));
    let cpu0 = proc_cpu_secs(p.pid);
    let ext0 = ext_pid.map(proc_cpu_secs);
    let res = rt
        .block_on(client::drive(
            p.addr,
            p.reqs.clone(),
            p.row.expect,
            opts.conns,
            Duration::from_secs_f64(opts.secs),
            opts.max_requests,
        ))
        .unwrap_or_else(|e| crate::die(&format!("row {}: {e}", p.row.id)));
    let cpu1 = proc_cpu_secs(p.pid);
    let ext1 = ext_pid.map(proc_cpu_secs);
    let loads1 = loads0.map(|_| loads(rt, p.addr));
    let store1 = store.map(|(_, port)| commands(port));
    let reqs = res.requests.max(1) as f64;
    Sample {
        rps: res.rps(),
        p50_us: res.percentile_us(0.50),
        p99_us: res.percentile_us(0.99),
        cpu_us_per_req: (cpu1 - cpu0) * 1e6 / reqs,
        ext_cpu_us_per_req: ext0.zip(ext1).map(|(a, b)| (b - a) * 1e6 / reqs),
        set_cookie_per_req: res.set_cookies as f64 / reqs,
        unexpected: res.unexpected_status,
        requests: res.requests,
        loads: loads0.zip(loads1).map(|(a, b)| b - a),
        store: store0.zip(store1).map(|(a, b)| store_ops(&a, &b)),
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn print_machine_header(opts: &Opts) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!();
    if opts.callgrind {
        println!("login-bench: callgrind mode; {ncpu} CPU(s) [{cpu}]");
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    println!(
        "login-bench: {} mode; {} CPU(s) [{}], load avg {}; {} reps x {:.1}s per row, {} connections, warm-up {:.1}s",
        if opts.smoke { "smoke" } else { "full" },
        ncpu,
        cpu,
        load,
        opts.reps,
        opts.secs,
        opts.conns,
        opts.warmup_secs
    );
}

fn print_table(opts: &Opts, prepared: &[Prepared], samples: &[Vec<Sample>], skipped: &[(Row, String)]) {
    // median CPU/req per row id, for ratios
    let mut med_cpu: BTreeMap<&str, f64> = BTreeMap::new();
    for (p, s) in prepared.iter().zip(samples) {
        let mut v: Vec<f64> = s.iter().map(|x| x.cpu_us_per_req).collect();
        med_cpu.insert(p.row.id, median(&mut v));
    }
    println!();
    println!(
        "Server CPU per request = (utime+stime of the server process over the window) / requests; \
         median [min-max] of {} alternated windows.",
        opts.reps
    );
    println!();
    println!(
        "| row | route | server CPU µs/req | × baseline | +µs vs baseline | req/s | p50 µs | p99 µs | Set-Cookie/req | status |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    order.sort_by_key(|&i| row_order(prepared[i].row.id));
    let mut rows_out: Vec<(u32, String)> = Vec::new();
    for i in order {
        let p = &prepared[i];
        let s = &samples[i];
        let cpu: Vec<f64> = s.iter().map(|x| x.cpu_us_per_req).collect();
        let rps: Vec<f64> = s.iter().map(|x| x.rps).collect();
        let p50: Vec<f64> = s.iter().map(|x| x.p50_us).collect();
        let p99: Vec<f64> = s.iter().map(|x| x.p99_us).collect();
        let ext: Vec<f64> = s.iter().filter_map(|x| x.ext_cpu_us_per_req).collect();
        let (cmin, cmax) = minmax(&cpu);
        let (rmin, rmax) = minmax(&rps);
        let cmed = median(&mut cpu.clone());
        let base = med_cpu.get(p.row.baseline).copied();
        let (ratio, plus) = match base {
            Some(b) if p.row.baseline != p.row.id => (format!("{:.2}", cmed / b), format!("{:+.1}", cmed - b)),
            Some(_) => ("1.00".into(), "—".into()),
            None => ("n/a".into(), "n/a".into()),
        };
        let mut cpu_cell = format!("**{cmed:.1}** [{cmin:.1}–{cmax:.1}]");
        if !ext.is_empty() {
            cpu_cell.push_str(&format!(" (+redis {:.1})", median(&mut ext.clone())));
        }
        let sc_total: f64 = s.iter().map(|x| x.set_cookie_per_req * x.requests as f64).sum();
        let reqs_total: u64 = s.iter().map(|x| x.requests).sum();
        let sc = sc_total / reqs_total.max(1) as f64;
        let sc_cell =
            if p.row.read_only && sc > 0.0 { format!("**{sc:.2} (!! must be 0)**") } else { format!("{sc:.2}") };
        let unexpected: u64 = s.iter().map(|x| x.unexpected).sum();
        let status = if unexpected == 0 {
            format!("{} ok", p.sanity_status)
        } else {
            format!("{} UNEXPECTED x{unexpected}", p.sanity_status)
        };
        let _ = p.sanity_set_cookies;
        rows_out.push((
            row_order(p.row.id),
            format!(
                "| {} | {} | {} | {} | {} | {:.0} [{:.0}–{:.0}] | {:.0} | {:.0} | {} | {} |",
                p.row.id,
                p.row.label,
                cpu_cell,
                ratio,
                plus,
                median(&mut rps.clone()),
                rmin,
                rmax,
                median(&mut p50.clone()),
                median(&mut p99.clone()),
                sc_cell,
                status
            ),
        ));
    }
    for (r, why) in skipped {
        rows_out.push((row_order(r.id), format!("| {} | {} | {} | | | | | | | |", r.id, r.label, why)));
    }
    rows_out.sort_by_key(|x| x.0);
    for (_, l) in rows_out {
        println!("{l}");
    }
    println!();
    println!(
        "× baseline: rows 1-7 vs row 1 (actix plain), rows 8* vs row 8a (axum plain). CPU includes accept/parse/write of the whole server process."
    );
}

fn row_order(id: &str) -> u32 {
    let (num, suf) = id.split_at(id.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(id.len()));
    num.parse::<u32>().unwrap_or(99) * 10 + suf.bytes().next().map(|b| (b - b'a' + 1) as u32).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// callgrind mode: instructions per request
// ---------------------------------------------------------------------------

fn callgrind_mode(
    opts: &Opts,
    rt: &tokio::runtime::Runtime,
    active: &[Row],
    redis: Option<&Redis>,
    skipped: &[(Row, String)],
) {
    if which("valgrind").is_none() || which("callgrind_control").is_none() {
        crate::die("--callgrind needs valgrind and callgrind_control (apt-get install valgrind)");
    }
    let keep = opts.cg_keep.clone();
    let dir =
        keep.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("login-bench-cg-{}", std::process::id())));
    std::fs::create_dir_all(&dir).unwrap();
    println!();
    println!(
        "callgrind: instructions (Ir) per request, server under valgrind --tool=callgrind, \
         1 connection, {} measured requests after warm-up; median [min-max] of {} server processes per row.",
        opts.cg_requests, opts.cg_runs
    );
    println!();
    println!("| row | route | Ir/req | × baseline | Set-Cookie/req | status |");
    println!("|---|---|---|---|---|---|");
    let mut results: BTreeMap<&str, f64> = BTreeMap::new();
    let mut lines: Vec<(u32, String)> = Vec::new();
    // baselines first so the ratio column is always filled
    let mut active = active.to_vec();
    active.sort_by_key(|r| (r.baseline != r.id, row_order(r.id)));
    for r in &active {
        let mut irs: Vec<f64> = Vec::new();
        let mut last: Option<client::LoadResult> = None;
        for run in 0..opts.cg_runs {
            let out = dir.join(format!("cg.{}.{run}.out", r.id));
            let (per, res) = callgrind_one(opts, rt, r, redis, &dir, &out);
            if let Some(v) = per {
                irs.push(v);
            }
            last = Some(res);
        }
        let res = last.unwrap_or_default();
        let per = if irs.is_empty() { None } else { Some(median(&mut irs.clone())) };
        if let Some(v) = per {
            results.insert(r.id, v);
        }
        let base = results.get(r.baseline).copied();
        let (lo, hi) = minmax(&irs);
        eprintln!("callgrind row {} done: {:?} Ir/req", r.id, irs);
        lines.push((
            row_order(r.id),
            format!(
                "| {} | {} | {} | {} | {:.2} | {} |",
                r.id,
                r.label,
                per.map(|v| format!("**{v:.0}** [{lo:.0}–{hi:.0}]")).unwrap_or_else(|| "dump not found".into()),
                match (per, base) {
                    (Some(v), Some(b)) => format!("{:.2}", v / b),
                    _ => "n/a".into(),
                },
                res.set_cookies as f64 / res.requests.max(1) as f64,
                if res.unexpected_status == 0 {
                    format!("{} ok", res.last_status)
                } else {
                    format!("UNEXPECTED x{}", res.unexpected_status)
                }
            ),
        ));
    }
    for (r, why) in skipped {
        lines.push((row_order(r.id), format!("| {} | {} | {} | | | |", r.id, r.label, why)));
    }
    lines.sort_by_key(|l| l.0);
    for (_, l) in lines {
        println!("{l}");
    }
    println!();
    println!(
        "Ir counts user-space instructions of all server threads (kernel time is not counted); × baseline as in the main table."
    );
    match keep {
        Some(d) => println!(
            "callgrind dumps kept in {} (cg.<row>.<run>.out.<n>; e.g. callgrind_annotate --inclusive=yes <file>)",
            d.display()
        ),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// One server process under callgrind: warm up, zero, drive, dump. Returns Ir/request.
fn callgrind_one(
    opts: &Opts,
    rt: &tokio::runtime::Runtime,
    r: &Row,
    redis: Option<&Redis>,
    dir: &Path,
    out: &Path,
) -> (Option<f64>, client::LoadResult) {
    let wrapper = vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
        "--quiet".to_owned(),
    ];
    let url = if r.needs_redis { redis.map(|x| x.url.as_str()) } else { None };
    let server = start_server(r.server, url, &wrapper, Duration::from_secs(300)).unwrap_or_else(|e| crate::die(&e));
    let p = rt
        .block_on(prepare(r, server.addr, server.proc_.pid()))
        .unwrap_or_else(|e| crate::die(&format!("row {}: {e}", r.id)));
    let warm = (opts.cg_requests / 3).max(100);
    rt.block_on(client::drive(p.addr, p.reqs.clone(), r.expect, 1, Duration::from_secs(600), warm))
        .unwrap_or_else(|e| crate::die(&format!("row {}: {e}", r.id)));
    callgrind_control(&["-z"], server.proc_.pid());
    let res = rt
        .block_on(client::drive(p.addr, p.reqs.clone(), r.expect, 1, Duration::from_secs(600), opts.cg_requests))
        .unwrap_or_else(|e| crate::die(&format!("row {}: {e}", r.id)));
    callgrind_control(&["-d"], server.proc_.pid());
    let ir = read_dump_total(dir, out, server.proc_.pid());
    drop(server);
    (ir.map(|ir| ir as f64 / res.requests.max(1) as f64), res)
}

fn callgrind_control(args: &[&str], pid: u32) {
    let st = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        eprintln!("callgrind_control {args:?} {pid} failed: {st:?}");
    }
    // callgrind acts on the request asynchronously; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
}

/// Total Ir of the newest dump `<out>.<n>` (callgrind_control -d output).
fn read_dump_total(dir: &Path, out: &Path, _pid: u32) -> Option<u64> {
    let prefix = out.file_name()?.to_string_lossy().into_owned();
    let t0 = Instant::now();
    loop {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().map(|n| n.to_string_lossy().starts_with(&format!("{prefix}."))).unwrap_or(false))
            .collect();
        dumps.sort();
        if let Some(last) = dumps.last() {
            let text = std::fs::read_to_string(last).ok()?;
            let total = text
                .lines()
                .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
            if total.is_some() {
                return total;
            }
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
