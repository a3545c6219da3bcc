//! The command-line face: `step`, `rotate`, `diagnose` and `repair` (interface.md).

use crate::diagnosis::Deadline;
use crate::lambda::{self, App};
use crate::telemetry::{self, Sink};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Rotates database credentials in AWS Secrets Manager, and says why when it cannot.
#[derive(Debug, Parser)]
#[command(name = "db-secret-rotator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Report format of `diagnose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for a terminal.
    Text,
    /// The JSON report.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run ONE rotation step exactly as the Lambda handler does.
    Step {
        /// The secret's ARN or name.
        #[arg(long)]
        secret_id: String,
        /// The version being rotated (ClientRequestToken).
        #[arg(long)]
        token: String,
        /// createSecret, setSecret, testSecret or finishSecret.
        #[arg(long)]
        step: String,
        /// Passed to PutSecretValue (cross-account rotation); never logged.
        #[arg(long)]
        rotation_token: Option<String>,
        /// The deadline, as if Lambda had this long left.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Play Secrets Manager's part: stage a new version and run the four steps in order.
    Rotate {
        /// The secret's ARN or name.
        #[arg(long)]
        secret_id: String,
        /// The deadline of each step.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Read-only preflight: every check, nothing changed.
    Diagnose {
        /// The secret's ARN or name.
        #[arg(long)]
        secret_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The time the checks may take.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Name the state of a stuck or drifted rotation and its one safe action; dry run unless --apply.
    Repair {
        /// The secret's ARN or name.
        #[arg(long)]
        secret_id: String,
        /// Take the action (after re-checking the state just before it).
        #[arg(long)]
        apply: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The rotation function's timeout: AWSPENDING younger than four times this may
        /// belong to a running rotation (default: Lambda's maximum; 0: none is running).
        #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(0..=900))]
        function_timeout_s: u64,
        /// The time the checks and the action may take.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
}

/// Parses the command line; usage errors exit with status 2 (clap's convention).
pub fn parse() -> Cli {
    Cli::parse()
}

/// Runs the command and gives the exit status: 0 success, 1 failure or problem found.
pub async fn run(cli: Cli) -> ExitCode {
    // The diagnose report (text or JSON) owns stdout, so a script can parse it whole; its
    // log lines go to stderr.
    let sink = match &cli.command {
        Command::Diagnose { .. } | Command::Repair { .. } => Sink::Stderr,
        _ => Sink::Stdout,
    };
    telemetry::init(sink);
    let app = App::from_env().await;
    let ok = match cli.command {
        Command::Step {
            secret_id,
            token,
            step,
            rotation_token,
            timeout_ms,
        } => {
            let mut event =
                json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token});
            if let Some(rt) = rotation_token {
                event["RotationToken"] = Value::String(rt);
            }
            let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
            lambda::invoke(&app, event, deadline).await.is_ok()
        }
        Command::Rotate {
            secret_id,
            timeout_ms,
        } => match app.rotator() {
            Ok(r) => r
                .rotate(&secret_id, Duration::from_millis(timeout_ms))
                .await
                .is_ok(),
            Err(f) => {
                telemetry::step_failed("createSecret", 0, &f);
                false
            }
        },
        Command::Diagnose {
            secret_id,
            format,
            timeout_ms,
        } => {
            let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
            let rotator = match app.rotator() {
                Ok(r) => r,
                Err(f) => {
                    eprintln!("{}: {}", f.cause, f.message);
                    return ExitCode::from(1);
                }
            };
            let report = crate::diagnosis::checks::run(rotator, &secret_id, deadline).await;
            match format {
                Format::Json => println!("{}", report.to_json()),
                Format::Text => print!("{}", report.to_text()),
            }
            report.ok()
        }
        Command::Repair {
            secret_id,
            apply,
            format,
            function_timeout_s,
            timeout_ms,
        } => {
            let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
            let rotator = match app.rotator() {
                Ok(r) => r,
                Err(f) => {
                    eprintln!("{}: {}", f.cause, f.message);
                    return ExitCode::from(1);
                }
            };
            let req = crate::repair::Request {
                secret_id,
                apply,
                function_timeout: Duration::from_secs(function_timeout_s),
            };
            let report = crate::repair::run(rotator, &req, deadline).await;
            match format {
                Format::Json => println!("{}", report.to_json()),
                Format::Text => print!("{}", report.to_text()),
            }
            report.ok()
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
