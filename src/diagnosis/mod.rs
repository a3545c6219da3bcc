//! Self-diagnosis: the cause taxonomy, the deadline watchdog and the read-only checks.

pub mod cause;
pub mod checks;
pub mod deadline;

pub use cause::{Cause, Evidence, Failure};
pub use deadline::{Deadline, Wait};
