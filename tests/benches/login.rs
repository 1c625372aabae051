//! `cargo bench -p login-tests --bench login --features bench [-- --smoke|--callgrind|...]`
//!
//! Thin shim: Cargo builds the `login-bench` binary with the same (release)
//! profile and tells us its path; we run it with our arguments. The harness
//! itself lives in benches/login/ (see BENCHMARKS.md).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let status =
        std::process::Command::new(env!("CARGO_BIN_EXE_login-bench")).args(&args).status().expect("run login-bench");
    std::process::exit(status.code().unwrap_or(1));
}
