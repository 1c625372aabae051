//! Examples live in the example targets.
