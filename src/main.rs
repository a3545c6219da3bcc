//! The binary: JSON logging and AWS configuration, then the Lambda runtime (when
//! `AWS_LAMBDA_RUNTIME_API` is set) or the command-line tool.

// The Lambda handler's future nests every invocation kind (the four steps, diagnose,
// repair); computing its layout goes deeper than the default 128 queries.
#![recursion_limit = "256"]

use db_secret_rotator::{app, cli, lambda, telemetry};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Noted first: a Lambda-Runtime-Deadline-Ms earlier than this is a duration, not an epoch.
    db_secret_rotator::deadline::process_start_epoch_ms();
    // One thread is plenty for one invocation at a time, and starts fastest.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        app::init_logging(telemetry::Sink::Stdout, telemetry::LogFormat::Json);
        return runtime.block_on(async {
            let app = app::App::from_env().await;
            match lambda::serve(app).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(event = "runtime_error", "the Lambda runtime stopped: {e}");
                    ExitCode::FAILURE
                }
            }
        });
    }
    let args = cli::parse();
    runtime.block_on(cli::run(args))
}
