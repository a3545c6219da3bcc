//! The bottom layer every other module uses: the cause taxonomy (`cause.rs`), the
//! [`Failure`] with its evidence and typed signals (`failure.rs`), and the deadline watchdog
//! (`deadline.rs`). It uses only `net` and the log line the deadline writes for an odd
//! deadline header (`telemetry::finding`); the `diagnose` command that runs
//! checks against a secret lives in [`crate::diagnose`].

pub mod cause;
pub mod deadline;
pub mod failure;

pub use cause::Cause;
pub use deadline::{Deadline, Wait};
pub use failure::{DbCode, Evidence, Failure, Signals, TlsReason};
