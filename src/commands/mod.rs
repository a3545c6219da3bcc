//! The commands, one module each: what the command line and the Lambda face run. A command's
//! module owns its clap `Args` and a `run(&App, Args)` giving its report ([`Report`]).
//!
//! - [`step`]: one rotation step, exactly as the Lambda handler runs it.
//! - [`rotate`]: the four steps in order, as Secrets Manager runs them.
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
pub mod rotate;
pub mod step;

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

/// Prints a report on stdout in `format`, through the log scrubber (as every log line);
/// gives [`Report::ok`].
pub fn print<R: Report>(report: &R, format: Format) -> bool {
    match format {
        Format::Json => match serde_json::to_value(report) {
            Ok(mut json) => {
                telemetry::scrub_value(&mut json);
                println!("{json}");
            }
            Err(e) => {
                eprintln!("the report could not be written as JSON: {e}");
                return false;
            }
        },
        Format::Text => print!("{}", telemetry::scrub(&report.to_text())),
    }
    report.ok()
}

/// [`print`] for a command that may stop before it has a report: an unusable
/// configuration, already logged by [`rotator`], is exit status 1 with nothing on stdout.
pub fn print_result<R: Report>(result: &Result<R, Failure>, format: Format) -> bool {
    match result {
        Ok(report) => print(report, format),
        Err(_) => false,
    }
}

/// The rotator every command that reads the secret runs with, or the configuration failure:
/// logged (the one way every command reports it, on both faces) as a `step_failed` event of
/// `what` (the step about to run, or the command), with its cause, remedy and evidence.
pub fn rotator<'a>(app: &'a App, what: &str) -> Result<&'a Rotator, Failure> {
    app.rotator()
        .inspect_err(|f| telemetry::step_failed(what, 0, f))
}

use crate::app::App;
use crate::deadline::Deadline;
use crate::event::{self, Invocation};
use crate::failure::Failure;
use crate::rotation::{Invoker, Rotator};
use crate::telemetry;
use serde_json::Value;

/// Handles one invocation payload within `deadline`. Rotation events return `null` on
/// success; diagnose and repair events return their report.
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
            rotator(app, ev.step.as_str())?
                .run_step(&ev, deadline, Invoker::SecretsManager)
                .await?;
            Ok(Value::Null)
        }
        Invocation::Diagnose { secret_id } => {
            let args = diagnose::Args::invoked(secret_id, deadline);
            Ok(diagnose::run(app, args).await?.to_json())
        }
        Invocation::Repair {
            secret_id,
            apply,
            function_timeout_s,
        } => {
            // A function that cannot read its settings fails the invocation (and says so),
            // as for every other event.
            rotator(app, "repair")?;
            let args = repair::Args::from_event(secret_id, apply, function_timeout_s, &deadline);
            Ok(repair::run_until(app, &args, deadline).await.to_json())
        }
    }
}
