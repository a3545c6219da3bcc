//! The command-line face: `step`, `rotate`, `diagnose` and `repair` (one secret), `audit`
//! and `migrate` (the operator's journey across secrets). Exit status: 0 success, 1 a failed
//! step, a problem found or a refusal, 2 a usage error (clap's).
//!
//! A command's arguments (`Args`) and its `run` live in its module under `src/commands/`;
//! this file holds the one dispatch, and the start of logging.

use crate::app::{self, App};
use crate::commands::{self, audit, diagnose, migrate, rotate, step, Format};
use crate::deadline::Deadline;
use crate::outside;
use crate::telemetry::{LogFormat, Sink};
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
    Audit {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Your db-secret-rotator function(s): recognised as such, and named in next steps.
        #[arg(long)]
        function: Vec<String>,
    },
    /// Dry run by default: the preflight (diagnose run by FUNCTION), then with --apply
    /// point the secret's rotation at FUNCTION, keeping its schedule.
    Migrate {
        /// The secret to move.
        #[arg(
            long,
            required_unless_present = "from_function",
            conflicts_with = "from_function"
        )]
        secret_id: Option<String>,
        /// Move every secret rotated by this function, one at a time, stopping at the first
        /// refusal.
        #[arg(long)]
        from_function: Option<String>,
        /// The db-secret-rotator function (name or ARN).
        #[arg(long)]
        function: String,
        /// Make the switch (only after a passing preflight).
        #[arg(long)]
        apply: bool,
        /// Rotate at once; without it Secrets Manager only runs testSecret.
        #[arg(long, requires = "apply")]
        rotate_now: bool,
        /// Schedule for a secret that has none, e.g. 'rate(30 days)'.
        #[arg(long)]
        schedule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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
        Command::Audit { format, function } => run_audit(&app, format, &function).await,
        Command::Migrate {
            secret_id,
            from_function,
            function,
            apply,
            rotate_now,
            schedule,
            format,
        } => {
            let req = migrate::Request {
                function,
                apply,
                rotate_now,
                schedule,
            };
            run_migrate(&app, secret_id, from_function, &req, format).await
        }
        Command::Repair {
            secret_id,
            apply,
            format,
            function_timeout_s,
            timeout_ms,
        } => {
            let deadline = Deadline::after(Duration::from_millis(timeout_ms), app.margin());
            let Ok(rotator) = commands::rotator(&app, "repair") else {
                return ExitCode::from(1);
            };
            let req = crate::commands::repair::Request {
                secret_id,
                apply,
                function_timeout: Duration::from_secs(function_timeout_s),
            };
            let report = crate::commands::repair::run(rotator, &req, deadline).await;
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

fn progress(line: &str) {
    eprintln!("{line}");
}

async fn run_audit(app: &App, format: Format, ours: &[String]) -> bool {
    let clients = outside::Clients::new(app.sdk());
    match audit::run(&clients, &app.region(), ours, &progress).await {
        Ok(a) => {
            match format {
                Format::Json => println!("{}", a.to_json()),
                Format::Text => print!("{}", a.to_text()),
            }
            true
        }
        Err(e) => {
            eprintln!("audit: ListSecrets failed: {e}");
            if e.denied() {
                eprintln!("audit: the caller needs secretsmanager:ListSecrets (and lambda:GetFunctionConfiguration, lambda:ListTags)");
            }
            false
        }
    }
}

async fn run_migrate(
    app: &App,
    secret_id: Option<String>,
    from_function: Option<String>,
    req: &migrate::Request,
    format: Format,
) -> bool {
    let clients = outside::Clients::new(app.sdk());
    let done = match (secret_id, from_function) {
        (Some(id), _) => vec![migrate::one(&clients, &id, req).await],
        (None, Some(old)) => {
            match migrate::from_function(&clients, &app.region(), &old, req, &progress).await {
                Ok(done) => done,
                Err(e) => {
                    eprintln!("migrate: ListSecrets failed: {e}");
                    return false;
                }
            }
        }
        // clap requires one of the two.
        (None, None) => return false,
    };
    let ok = done.iter().all(|m| m.passed);
    match format {
        Format::Json => {
            let list: Vec<Value> = done.iter().map(|m| m.report.clone()).collect();
            println!("{}", json!({"ok": ok, "migrations": list}));
        }
        Format::Text => {
            for m in &done {
                print!("{}", m.to_text());
            }
            if done.is_empty() {
                println!("migrate: no secret to move");
            } else if !ok {
                println!(
                    "migrate: stopped at {} ({} of the secret(s) before it handled)",
                    done.last().map(|m| m.secret_id.as_str()).unwrap_or("?"),
                    done.len() - 1
                );
            }
        }
    }
    ok
}
