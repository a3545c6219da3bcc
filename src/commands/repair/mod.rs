//! `repair`: finds the safe way back from a stuck or drifted rotation and, when asked, takes
//! it.
//!
//! It reads the staging labels, tries each stored password against the database (read-only
//! logins, as diagnose makes them), and names one [`State`] with at most one safe
//! [`Action`] ([`state`] holds the table, [`action`] the actions and the commands that do and
//! undo them, [`observe`] what is looked at, [`report`] what is printed). [`Args`] and
//! [`run`] are the command; the Lambda `repair` event runs the same code ([`run_until`]);
//! [`repair`] is the run itself on any [`SecretAdmin`] store. Nothing changes unless `apply` is set; then the
//! look is taken again just before acting, and the action runs only if the state and every
//! version's labels are still the same. Both actions are conditional in Secrets Manager
//! itself (a label is removed only from the version named; AWSCURRENT moves only away from
//! the version named), so a rotation that starts in between makes them fail rather than
//! undo its work. Every change prints the one AWS CLI command that undoes it.

pub mod action;
pub mod observe;
pub mod report;
pub mod state;
#[cfg(test)]
mod tests;

use crate::app::App;
use crate::commands::Format;
use crate::deadline::Deadline;
use crate::event::{RotationEvent, Step};
use crate::failure::Failure;
use crate::rotation::Rotator;
use crate::secret::Stage;
use crate::store::{SecretAdmin, StageMove};
pub use action::Action;
pub use observe::{Login, Observation, Probe};
pub use report::{Outcome, Report};
use serde_json::json;
pub use state::{State, Verdict};
use std::time::Duration;

/// A rotation runs four steps, each of which may take the whole function timeout.
pub const STEPS: u32 = 4;

/// The `repair` command's arguments (the command line's flags; the Lambda `repair` event
/// fills them with [`Args::from_event`]).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The secret's ARN or name.
    #[arg(long)]
    pub secret_id: String,
    /// Take the action (after re-checking the state just before it).
    #[arg(long)]
    pub apply: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The rotation function's timeout: AWSPENDING younger than four times this may
    /// belong to a running rotation (default: Lambda's maximum; 0: none is running).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(0..=900))]
    pub function_timeout_s: u64,
    /// The time the checks and the action may take.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

impl Args {
    /// The arguments of a Lambda `repair` event, run within the invocation's `deadline`. Without
    /// `FunctionTimeoutSeconds` the function's timeout is taken to be its own: at the start
    /// of an invocation the time left, rounded up to whole seconds as Lambda configures it.
    pub fn from_event(
        secret_id: String,
        apply: bool,
        function_timeout_s: Option<u64>,
        deadline: &Deadline,
    ) -> Args {
        let left = deadline.remaining().as_millis();
        Args {
            secret_id,
            apply,
            format: Format::Json,
            function_timeout_s: function_timeout_s.unwrap_or(left.div_ceil(1000) as u64),
            timeout_ms: u64::try_from(left).unwrap_or(u64::MAX),
        }
    }
}

/// What one run needs beyond the store: the secret, whether to act, and the window in which
/// a rotation may still be running.
#[derive(Debug, Clone)]
pub struct Request {
    /// The secret's ARN or name.
    pub secret_id: String,
    /// Act (true) or only report (false, the default).
    pub apply: bool,
    /// The rotation function's timeout: a rotation may run four times this long.
    pub function_timeout: Duration,
}

impl From<&Args> for Request {
    fn from(args: &Args) -> Request {
        Request {
            secret_id: args.secret_id.clone(),
            apply: args.apply,
            function_timeout: Duration::from_secs(args.function_timeout_s),
        }
    }
}

/// Runs `repair` from the command line: within `--timeout-ms`.
pub async fn run(app: &App, args: Args) -> Report {
    let deadline = Deadline::after(Duration::from_millis(args.timeout_ms), app.margin());
    run_until(app, &args, deadline).await
}

/// Runs `repair` within a deadline the caller holds (the Lambda's own). A function whose
/// settings cannot be read gives an `undetermined` report with that failure.
pub async fn run_until(app: &App, args: &Args, deadline: Deadline) -> Report {
    let req = Request::from(args);
    match app.rotator() {
        Ok(r) => repair(r, &r.db, &req, deadline).await,
        Err(f) => {
            let window = req.function_timeout * STEPS;
            Report::of_first_look(&req, Observation::unconfigured(&req.secret_id, window, f))
        }
    }
}

/// Repair on any store: look, classify, and (with `apply`) re-check and act. `probe` tries
/// the stored passwords (the database, `&r.db`, outside unit tests).
pub async fn repair<S: SecretAdmin>(
    r: &Rotator<S>,
    probe: &impl Probe,
    req: &Request,
    deadline: Deadline,
) -> Report {
    let window = req.function_timeout * STEPS;
    let strategy = r.settings.strategy;
    let look = || observe::observe(&r.sm, probe, &req.secret_id, strategy, window, &deadline);
    let mut report = Report::of_first_look(req, look().await);
    let Some(action) = report.verdict.action.clone() else {
        report.detail = "nothing to change".into();
        if req.apply {
            log_event(&report);
        }
        return report;
    };
    if !req.apply {
        report.outcome = Outcome::DryRun;
        report.detail =
            "dry run: nothing changed; run again with --apply to take the action".into();
        return report;
    }
    // The re-check: the same state, and the same versions holding the same labels. A new
    // rotation shows as a new version id, a moved label, or a new state.
    let again = look().await;
    let second = state::classify(&again);
    let moved = again.labels != report.observation.labels;
    if second.state != report.verdict.state || moved {
        report.outcome = Outcome::Refused;
        report.detail = format!(
            "the secret changed between the check and the action (now {}{}): nothing changed; run repair again",
            second.state.as_str(),
            if moved { ", staging labels moved" } else { "" }
        );
        log_event(&report);
        return report;
    }
    match act(r, report.secret_id(), &action, deadline).await {
        Ok(()) => {
            let after = state::classify(&look().await).state;
            report.outcome = Outcome::Applied;
            report.state_after = Some(after);
            report.detail = format!(
                "{} done; the secret is now {}; undo with: {}",
                action.as_str(),
                after.as_str(),
                action.undo(report.secret_id())
            );
        }
        Err(f) => {
            report.outcome = Outcome::Failed;
            report.detail = format!(
                "{} was refused by Secrets Manager (the labels moved under it?): nothing changed; run repair again",
                action.as_str()
            );
            report.failure = Some(f);
        }
    }
    log_event(&report);
    report
}

impl Report {
    /// The report of a first look, before anything is decided about acting.
    fn of_first_look(req: &Request, observation: Observation) -> Report {
        Report {
            apply: req.apply,
            verdict: state::classify(&observation),
            observation,
            outcome: Outcome::NoAction,
            detail: String::new(),
            state_after: None,
            failure: None,
        }
    }
}

async fn act<S: SecretAdmin>(
    r: &Rotator<S>,
    arn: &str,
    action: &Action,
    deadline: Deadline,
) -> Result<(), Failure> {
    match action {
        Action::RemovePendingLabel { pending } => {
            // Conditional in Secrets Manager: refused when `pending` no longer holds it.
            let change = StageMove::new(Stage::Pending, None, Some(pending));
            r.sm.update_stage(&deadline, arn, change).await
        }
        Action::PromotePending { pending, .. } => {
            // finishSecret itself, so the promotion is exactly a rotation's: its
            // preconditions refuse a version that no longer holds AWSPENDING. Local: the
            // secret may have rotation disabled while it is being repaired.
            let event = RotationEvent {
                step: Step::FinishSecret,
                secret_id: arn.to_string(),
                token: pending.clone(),
                rotation_token: None,
            };
            r.run_step(&event, deadline, crate::rotation::Invoker::Local)
                .await
                .map(|_| ())
        }
    }
}

/// The one `repair` event of a run with `apply`.
fn log_event(report: &Report) {
    let arn = report.secret_id();
    let action = report.verdict.action.as_ref();
    let mut evidence = json!({
        "current_version_id": report.observation.current_version,
        "pending_version_id": report.observation.pending_version,
    });
    if let Some(a) = action {
        evidence["command"] = a.command(arn).into();
        if report.outcome == Outcome::Applied {
            evidence["undo"] = a.undo(arn).into();
        }
    }
    if let Some(f) = &report.failure {
        evidence["cause"] = f.cause.code().into();
    }
    let evidence = evidence.to_string();
    let state = report.verdict.state.as_str();
    let action = report.action_name();
    let outcome = report.outcome.as_str();
    let state_after = report.state_after.map_or("none", State::as_str);
    let message = format!("repair {state}: {outcome}: {}", report.detail);
    match report.outcome {
        Outcome::Applied | Outcome::NoAction | Outcome::DryRun => tracing::info!(
            event = "repair",
            secret_id = arn,
            state,
            action,
            outcome,
            state_after,
            evidence = evidence.as_str(),
            "{message}"
        ),
        Outcome::Refused | Outcome::Failed => tracing::warn!(
            event = "repair",
            secret_id = arn,
            state,
            action,
            outcome,
            state_after,
            evidence = evidence.as_str(),
            "{message}"
        ),
    }
}
