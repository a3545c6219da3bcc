//! db-secret-rotator: an AWS Secrets Manager rotation function for PostgreSQL, MySQL and
//! MariaDB that names its own failures.
//!
//! Module map, lowest layer last (a module uses only those below it; `src/layering.rs` tests
//! that, against the list in the README's Development section):
//! - [`cli`] and [`lambda`]: the two faces of the binary.
//! - [`commands`]: one module per command (diagnose, repair, audit, migrate), and the mapping
//!   of a Lambda event onto them.
//! - [`app`]: what every command runs with: the settings and clients built once.
//! - [`outside`]: what the operator commands read around a function (clients, AWS errors,
//!   hosted applications, runtime deprecations).
//! - [`rotation`]: the four steps, their preconditions and the strategies.
//! - [`store`]: the `SecretStore` trait the rotation steps use, its Secrets Manager adapter,
//!   an in-memory store for protocol unit tests, and the RDS adapter; one AWS call wrapper
//!   classifies every AWS error.
//! - [`db`]: database drivers (PostgreSQL, MySQL/MariaDB): connect, TLS, set password.
//! - [`event`], [`config`], [`secret`]: the Lambda events, the settings read from the
//!   environment, the typed secret JSON with a password type that cannot be printed.
//! - [`telemetry`]: one JSON object per log line, CloudWatch Embedded Metric Format, the
//!   scrubber, and the same events as text for a terminal.
//! - [`deadline`]: the deadline watchdog.
//! - [`failure`]: the cause taxonomy, the failure and its typed signals.
//! - [`net`], [`engine`], [`text`]: leaves: network phases and endpoint addresses, the engine
//!   facts (default port and database, excluded characters, name limits), text helpers.

// The async body of `cli::run` nests every command's futures (diagnose, repair, migrate, the
// four steps); computing its layout goes deeper than the default 128 queries.
#![recursion_limit = "256"]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod deadline;
pub mod engine;
pub mod event;
pub mod failure;
pub mod lambda;
#[cfg(test)]
mod layering;
pub mod net;
pub mod outside;
pub mod rotation;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod text;
