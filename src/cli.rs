//! The command-line face: `step`, `rotate`, `diagnose` and `repair` (one secret), `audit`
//! and `migrate` (the operator's journey across secrets). Exit status: 0 success, 1 a failed
//! step, a problem found or a refusal, 2 a usage error (clap's).

use crate::app::{self, App};
use crate::commands::diagnose::{self as checks, Context};
use crate::commands::{audit, migrate};
use crate::deadline::Deadline;
use crate::telemetry::{self, LogFormat, Sink};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Rotates database credentials in AWS Secrets Manager, and says why when it cannot.
#[derive(Debug, Parser)]
#[command(name = "db-secret-rotator", version, about)]
pub struct Cli {
    /// Log lines: `text` (one line per step) or `json` (the contract). Default: text when
    /// stdout is a terminal, JSON otherwise.
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

/// Report format of `diagnose`, `audit` and `migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for a terminal.
    Text,
    /// The JSON report.
    Json,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    /// Readable lines.
    Text,
    /// One JSON object per line.
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
        /// The function that is to rotate the secret: rotation on any other one is a warning.
        #[arg(long)]
        function: Option<String>,
    },
    /// Read-only: every secret with rotation in the account and region, its rotation
    /// function, runtime, and what to do next.
    Audit(audit::Args),
    /// Dry run by default: the preflight (diagnose run by FUNCTION), then with --apply
    /// point the secret's rotation at FUNCTION, keeping its schedule.
    Migrate(migrate::Args),
    /// Name the state of a stuck or drifted rotation and its one safe action; dry run unless --apply.
    Repair(crate::commands::repair::Args),
}

/// Parses the command line; usage errors exit with status 2 (clap's convention).
pub fn parse() -> Cli {
    Cli::parse()
}

/// Runs the command and gives the exit status: 0 success, 1 failure or problem found.
pub async fn run(cli: Cli) -> ExitCode {
    // Reports (text or JSON) own stdout, so a script can parse them whole; their log
    // lines go to stderr.
    let sink = match &cli.command {
        Command::Step { .. } | Command::Rotate { .. } => Sink::Stdout,
        _ => Sink::Stderr,
    };
    let format = match cli.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None if std::io::stdout().is_terminal() => LogFormat::Text,
        None => LogFormat::Json,
    };
    app::init_logging(sink, format);
    let app = App::from_env().await;
    let ok = match cli.command {
        Command::Step {
            secret_id,
            token,
            step,
            rotation_token,
            timeout_ms,
        } => run_step(&app, secret_id, token, step, rotation_token, timeout_ms).await,
        Command::Rotate {
            secret_id,
            timeout_ms,
        } => rotate(&app, &secret_id, timeout_ms).await,
        Command::Diagnose {
            secret_id,
            format,
            timeout_ms,
            function,
        } => diagnose(&app, &secret_id, format, timeout_ms, function).await,
        Command::Audit(args) => {
            let format = args.format;
            crate::commands::print(&audit::run(&app, args).await, format)
        }
        Command::Migrate(args) => {
            let format = args.format;
            crate::commands::print(&migrate::run(&app, args).await, format)
        }
        Command::Repair(args) => {
            let format = args.format;
            crate::commands::print(&crate::commands::repair::run(&app, args).await, format)
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn run_step(
    app: &App,
    secret_id: String,
    token: String,
    step: String,
    rotation_token: Option<String>,
    timeout_ms: u64,
) -> bool {
    let mut event = json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token});
    if let Some(rt) = rotation_token {
        event["RotationToken"] = Value::String(rt);
    }
    let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
    crate::commands::invoke(app, event, deadline).await.is_ok()
}

async fn rotate(app: &App, secret_id: &str, timeout_ms: u64) -> bool {
    match app.rotator() {
        Ok(r) => r
            .rotate(secret_id, Duration::from_millis(timeout_ms))
            .await
            .is_ok(),
        Err(f) => {
            telemetry::step_failed("createSecret", 0, &f);
            false
        }
    }
}

async fn diagnose(
    app: &App,
    secret_id: &str,
    format: Format,
    timeout_ms: u64,
    function: Option<String>,
) -> bool {
    let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
    let rotator = match app.rotator() {
        Ok(r) => r,
        Err(f) => {
            eprintln!("{}: {}", f.cause, f.message);
            return false;
        }
    };
    let ctx = Context {
        this_function: function,
        lambda: Some(app.lambda().clone()),
    };
    let report = checks::run_with(rotator, secret_id, deadline, &ctx).await;
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text()),
    }
    report.ok()
}
