//! Integration tests live in tests/.

/// The README's Rust examples, compiled (and those not marked `no_run`, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
