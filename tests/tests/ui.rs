//! Compile-time behaviour of the macros: what compiles, and the exact error for each mistake.
//!
//! The `.stderr` files were recorded with Rust 1.95; diagnostics drift between compilers, so
//! the test only runs there. Re-record with `TRYBUILD=overwrite cargo test -p login-tests --test ui`
//! and read every changed file: each message must point at the mistake and say what to write.

#[rustversion::attr(not(stable(1.95)), ignore = "diagnostics recorded with Rust 1.95")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
