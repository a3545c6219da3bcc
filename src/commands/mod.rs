//! The commands, one module each: what the command line and the Lambda face run.
//!
//! - [`diagnose`]: the read-only preflight of one secret and its database.
//! - [`repair`]: names the state of a stuck or drifted rotation and takes its one safe action.
//! - [`audit`]: every secret with rotation in the account, its function and next step.
//! - [`migrate`]: moves a secret's rotation onto this function after a preflight.
//! - [`logs`]: a secret's last rotations read from its function's log group, and named.
//!
//! [`invoke`] maps a Lambda invocation payload onto them, so the CLI's `step` command runs
//! exactly the Lambda's code path.

pub mod audit;
pub mod diagnose;
pub mod logs;
pub mod migrate;
pub mod repair;

/// How a command prints its report (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable text for a terminal.
    Text,
    /// The JSON report.
    Json,
}

/// What every command's `run` returns: a report that serialises to the JSON contract and
/// renders itself as text, and says whether the command succeeded (exit status 0) or found
/// a problem (1).
pub trait Report: serde::Serialize {
    /// Whether the command succeeded.
    fn ok(&self) -> bool;
    /// The report as readable text (ends with a newline).
    fn to_text(&self) -> String;
}

/// Prints a report on stdout in `format`; gives [`Report::ok`].
pub fn print<R: Report>(report: &R, format: Format) -> bool {
    match format {
        Format::Json => match serde_json::to_string(report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("the report could not be written as JSON: {e}");
                return false;
            }
        },
        Format::Text => print!("{}", report.to_text()),
    }
    report.ok()
}

use crate::app::App;
use crate::deadline::Deadline;
use crate::event::{self, Invocation};
use crate::failure::Failure;
use crate::rotation::Invoker;
use crate::telemetry;
use serde_json::Value;

/// Handles one invocation payload within `deadline`. Rotation events return `null` on
/// success; diagnose events return the report.
pub async fn invoke(app: &App, mut payload: Value, deadline: Deadline) -> Result<Value, Failure> {
    let invocation = match event::parse(&payload) {
        Ok(inv) => {
            // The parsed event holds its own (wiped) copy of the RotationToken.
            crate::secret::wipe_value(&mut payload);
            inv
        }
        Err(f) => {
            let step = payload
                .get("Step")
                .and_then(Value::as_str)
                .filter(|s| event::Step::parse(s).is_some())
                .unwrap_or("unknown");
            telemetry::step_failed(step, deadline.elapsed().as_millis() as u64, &f);
            return Err(f);
        }
    };
    match invocation {
        Invocation::Rotate(ev) => {
            let rotator = match app.rotator() {
                Ok(r) => r,
                Err(f) => {
                    telemetry::step_failed(ev.step.as_str(), 0, &f);
                    return Err(f);
                }
            };
            rotator
                .run_step(&ev, deadline, Invoker::SecretsManager)
                .await?;
            Ok(Value::Null)
        }
        Invocation::Diagnose { secret_id } => {
            let rotator = app.rotator()?;
            // In Lambda the function knows its own name: a secret rotated by another
            // function (the one it is about to replace) is then a warning, not a fault.
            let ctx = crate::commands::diagnose::Context {
                // "_" is cargo-lambda's placeholder name under `cargo lambda watch`.
                this_function: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                    .ok()
                    .filter(|n| !n.is_empty() && n != "_"),
                lambda: Some(app.lambda().clone()),
            };
            let report =
                crate::commands::diagnose::run_with(rotator, &secret_id, deadline, &ctx).await;
            Ok(report.to_json())
        }
        Invocation::Repair {
            secret_id,
            apply,
            function_timeout_s,
        } => {
            // A function that cannot read its settings fails the invocation, as for every
            // other event.
            app.rotator()?;
            let args = repair::Args::from_event(secret_id, apply, function_timeout_s, &deadline);
            Ok(repair::run_until(app, &args, deadline).await.to_json())
        }
    }
}
