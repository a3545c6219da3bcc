//! The command-line face: `step`, `rotate`, `diagnose` and `repair` (one secret), `audit`
//! and `migrate` (the operator's journey across secrets). Exit status: 0 success, 1 a failed
//! step, a problem found or a refusal, 2 a usage error (clap's).
//!
//! A command's arguments (`Args`) and its `run` live in its module under `src/commands/`;
//! this file holds the one dispatch, and the start of logging.

use crate::app::{self, App};
use crate::commands::{self, audit, diagnose, logs, migrate, repair, rotate, step};
use crate::telemetry::{LogFormat, Sink};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;

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

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands: each owns its arguments (`Args`) and its `run`, in `src/commands/`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run ONE rotation step exactly as the Lambda handler does.
    Step(step::Args),
    /// Play Secrets Manager's part: stage a new version and run the four steps in order.
    Rotate(rotate::Args),
    /// Read-only preflight: every check, nothing changed.
    Diagnose(diagnose::Args),
    /// Read-only: every secret with rotation in the account and region, its rotation
    /// function, runtime, and what to do next.
    Audit(audit::Args),
    /// Dry run by default: the preflight (diagnose run by FUNCTION), then with --apply
    /// point the secret's rotation at FUNCTION, keeping its schedule.
    Migrate(migrate::Args),
    /// Name the state of a stuck or drifted rotation and its one safe action; dry run unless --apply.
    Repair(repair::Args),
    /// Read-only: a secret's last rotations, read from its rotation function's log group and named.
    Logs(logs::Args),
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
        Command::Step(_) | Command::Rotate(_) => Sink::Stdout,
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
    // The one dispatch. `step` and `rotate` print no report: their log lines, on stdout,
    // are it.
    let ok = match cli.command {
        Command::Step(args) => step::run(&app, args).await.ok,
        Command::Rotate(args) => rotate::run(&app, args).await.ok,
        Command::Diagnose(args) => {
            let format = args.format;
            commands::print_result(&diagnose::run(&app, args).await, format)
        }
        Command::Audit(args) => {
            let format = args.format;
            commands::print(&audit::run(&app, args).await, format)
        }
        Command::Migrate(args) => {
            let format = args.format;
            commands::print(&migrate::run(&app, args).await, format)
        }
        Command::Repair(args) => {
            let format = args.format;
            commands::print(&repair::run(&app, args).await, format)
        }
        Command::Logs(args) => {
            let format = args.format;
            commands::print(&logs::run(&app, args).await, format)
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
