//! Self-diagnosis: the cause taxonomy, the deadline watchdog and the read-only checks.

pub mod cause;
pub mod checks;
pub mod deadline;

pub use cause::{Cause, DbCode, Evidence, Failure, Signals};
pub use deadline::{Deadline, Wait};
