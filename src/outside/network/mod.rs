//! The network half of the configuration checks.

pub mod eval;
pub mod model;
