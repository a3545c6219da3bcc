//! db-secret-rotator: an AWS Secrets Manager rotation function for PostgreSQL, MySQL and
//! MariaDB that names its own failures.
//!
//! Module map:
//! - [`event`]: the Lambda events (rotation, diagnose) and their validation.
//! - [`config`]: settings read from the environment (the reference functions' variables plus ours).
//! - [`secret`]: the typed secret JSON, with a password type that cannot be printed.
//! - [`store`]: the `SecretStore` trait the rotation steps use, its Secrets Manager adapter,
//!   an in-memory store for protocol unit tests, and the RDS adapter; one AWS call wrapper
//!   classifies every AWS error.
//! - [`db`]: database drivers (PostgreSQL, MySQL/MariaDB): connect, TLS, set password; the
//!   engine facts (`db::engine`: default port and database, excluded characters, name limits).
//! - [`net`]: network phases and endpoint addresses, below both `db` and `store`.
//! - [`rotation`]: the four steps, their preconditions and the strategies.
//! - [`diagnosis`]: the cause taxonomy, the failure and its typed signals, the deadline watchdog.
//! - [`diagnose`]: the `diagnose` command's read-only checks and their report.
//! - [`repair`]: names the state of a stuck or drifted rotation and takes its one safe action.
//! - [`telemetry`]: one JSON object per log line, CloudWatch Embedded Metric Format.
//! - [`log_text`]: the same log events as readable text, for a terminal.
//! - [`operate`]: operator commands across secrets: `audit` and `migrate`.
//! - [`app`]: what the two faces share: the clients built once, and one invocation's handler.
//! - [`cli`] and [`lambda`]: the two faces of the binary.

// The async body of `cli::run` nests every command's futures (diagnose, repair, migrate, the
// four steps); computing its layout goes deeper than the default 128 queries.
#![recursion_limit = "256"]

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod diagnose;
pub mod diagnosis;
pub mod event;
pub mod lambda;
pub mod log_text;
pub mod net;
pub mod operate;
pub mod repair;
pub mod rotation;
pub mod secret;
pub mod store;
pub mod telemetry;
