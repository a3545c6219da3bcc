//! `rotate`: plays Secrets Manager's part for local work: stages a new version and runs the
//! four steps in order, each with its own deadline. Its report is the [`Outcome`] of the
//! first step that failed, or ok; the steps' log lines (on stdout) tell it as they run.

use crate::app::App;
pub use crate::commands::step::Outcome;
use crate::event::Step;
use std::time::Duration;

/// Play Secrets Manager's part: stage a new version and run the four steps in order.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The secret's ARN or name.
    #[arg(long)]
    pub secret_id: String,
    /// The deadline of each step.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

/// Runs the four steps; an unusable configuration is the first step's failure.
pub async fn run(app: &App, args: Args) -> Outcome {
    let rotator = match crate::commands::rotator(app, Step::CreateSecret.as_str()) {
        Ok(r) => r,
        Err(f) => return Err(f).into(),
    };
    rotator
        .rotate(&args.secret_id, Duration::from_millis(args.timeout_ms))
        .await
        .map(|_token| ())
        .into()
}
