//! Examples live in the example targets (`cargo run --example quickstart`).

/// The README's Rust code, compiled by `cargo test --workspace` (as a doc test) so that it
/// stays in step with the crates.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
