//! `repair`: finds the safe way back from a stuck or drifted rotation and, when asked, takes
//! it.
//!
//! It reads the staging labels, tries each stored password against the database (read-only
//! logins, as diagnose makes them), and names one [`State`] with at most one safe
//! [`Action`] ([`state`] holds the table, [`action`] the actions and the commands that do and
//! undo them, [`observe`] what is looked at). Nothing changes unless `apply` is set; then the
//! look is taken again just before acting, and the action runs only if the state and every
//! version's labels are still the same. Both actions are conditional in Secrets Manager
//! itself (a label is removed only from the version named; AWSCURRENT moves only away from
//! the version named), so a rotation that starts in between makes them fail rather than
//! undo its work. Every change prints the one AWS CLI command that undoes it.

pub mod action;
pub mod observe;
pub mod state;

use crate::deadline::Deadline;

use crate::event::{RotationEvent, Step};
use crate::failure::Failure;
use crate::rotation::Rotator;
pub use action::Action;
pub use observe::{Login, Observation};
use serde_json::{json, Map, Value};
pub use state::{State, Verdict};
use std::time::Duration;

/// A rotation runs four steps, each of which may take the whole function timeout.
pub const STEPS: u32 = 4;

/// What to repair, and whether to act.
#[derive(Debug, Clone)]
pub struct Request {
    /// The secret's ARN or name.
    pub secret_id: String,
    /// Act (true) or only report (false, the default).
    pub apply: bool,
    /// The rotation function's timeout: a rotation may run four times this long.
    pub function_timeout: Duration,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not asked to act: nothing changed.
    DryRun,
    /// The state has no action: nothing changed.
    NoAction,
    /// The action ran.
    Applied,
    /// The state changed between the check and the action: nothing changed.
    Refused,
    /// The action was tried and Secrets Manager refused it: nothing changed.
    Failed,
}

impl Outcome {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::DryRun => "dry_run",
            Outcome::NoAction => "no_action",
            Outcome::Applied => "applied",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether `apply` was asked.
    pub apply: bool,
    /// The first look.
    pub observation: Observation,
    /// Its state and action.
    pub verdict: Verdict,
    /// How it ended.
    pub outcome: Outcome,
    /// What happened, in one sentence.
    pub detail: String,
    /// The state seen after the action ran.
    pub state_after: Option<State>,
    /// Why the action was refused or failed, when a failure says it.
    pub failure: Option<Failure>,
}

impl Report {
    /// Exit status 0: healthy, or repaired into health.
    pub fn ok(&self) -> bool {
        match self.outcome {
            Outcome::Applied => self.state_after == Some(State::Healthy),
            Outcome::Refused | Outcome::Failed => false,
            Outcome::DryRun | Outcome::NoAction => self.verdict.state == State::Healthy,
        }
    }

    /// The secret's ARN.
    pub fn secret_id(&self) -> &str {
        &self.observation.arn
    }

    /// The JSON report.
    pub fn to_json(&self) -> Value {
        let o = &self.observation;
        let arn = self.secret_id();
        let labels: Map<String, Value> = o
            .labels
            .iter()
            .map(|(v, l)| (v.clone(), json!(l)))
            .collect();
        let action =
            self.verdict.action.as_ref().map(
                |a| json!({"name": a.as_str(), "command": a.command(arn), "undo": a.undo(arn)}),
            );
        let mut v = json!({
            "secret_id": arn,
            "ok": self.ok(),
            "state": self.verdict.state.as_str(),
            "summary": self.verdict.summary,
            "strategy": o.strategy.as_str(),
            "labels": labels,
            "logins": o.logins,
            "pending_age_s": o.pending_age.map(|a| a.as_secs()),
            "rotation_window_s": o.window.as_secs(),
            "action": action,
            "apply": self.apply,
            "outcome": self.outcome.as_str(),
            "detail": self.detail,
        });
        if let Some(cause) = self.verdict.cause {
            v["cause"] = cause.code().into();
        }
        if !self.verdict.remedy.is_empty() {
            v["remedy"] = self.verdict.remedy.as_str().into();
        }
        if let Some(s) = self.state_after {
            v["state_after"] = s.as_str().into();
        }
        if let Some(f) = &self.failure {
            v["failure"] = json!({"cause": f.cause.code(), "message": f.message,
                "remedy": f.remedy, "evidence": Value::Object((*f.evidence).clone())});
        }
        // Defence in depth: the same scrubber as every log line.
        crate::telemetry::scrub_value(&mut v);
        v
    }

    /// A few lines for a terminal.
    pub fn to_text(&self) -> String {
        let o = &self.observation;
        let arn = self.secret_id();
        let head = match (self.outcome, self.ok()) {
            (Outcome::Applied, true) => "REPAIRED",
            (_, true) => "OK",
            _ => "PROBLEM REMAINS",
        };
        let mut out = format!(
            "repair {arn}: {} ({head})\n  {}\n\n",
            self.verdict.state.as_str(),
            self.verdict.summary
        );
        let mut versions: Vec<_> = o.labels.iter().collect();
        versions.sort_by_key(|(_, l)| l.first().cloned());
        for (i, (version, labels)) in versions.iter().enumerate() {
            let name = if i == 0 { "labels:" } else { "" };
            out.push_str(&format!("{name:<9} {version}  {}\n", labels.join(" ")));
        }
        for (i, l) in o.logins.iter().enumerate() {
            let name = if i == 0 { "logins:" } else { "" };
            let s = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            out.push_str(&format!(
                "{name:<9} {:<8} {}  {} (tls: {})\n",
                s("secret"),
                s("user"),
                s("outcome"),
                s("tls")
            ));
        }
        if o.pending_version.is_some() {
            let window = if o.window.is_zero() {
                "no rotation is taken to be running (function timeout 0)".to_string()
            } else {
                format!("a rotation may take {} s", o.window.as_secs())
            };
            out.push_str(&format!(
                "{:<9} AWSPENDING {}; {window}\n",
                "age:",
                o.pending_age
                    .map(|a| format!("{} s old", a.as_secs()))
                    .unwrap_or_else(|| "of unknown age".into()),
            ));
        }
        if let Some(a) = &self.verdict.action {
            out.push_str(&format!(
                "{:<9} {}: {}\n",
                "action:",
                a.as_str(),
                a.command(arn)
            ));
            out.push_str(&format!("{:<9} {}\n", "undo:", a.undo(arn)));
        }
        if let Some(c) = self.verdict.cause {
            out.push_str(&format!("{:<9} {}\n", "cause:", c.code()));
        }
        if !self.verdict.remedy.is_empty() {
            out.push_str(&format!("{:<9} {}\n", "remedy:", self.verdict.remedy));
        }
        out.push_str(&format!(
            "{:<9} {}: {}\n",
            "result:",
            self.outcome.as_str(),
            self.detail
        ));
        if let Some(f) = &self.failure {
            out.push_str(&format!("{:<9} {}: {}\n", "", f.cause.code(), f.message));
        }
        crate::telemetry::scrub(&out)
    }
}

/// Runs repair: look, classify, and (with `apply`) re-check and act.
pub async fn run(r: &Rotator, req: &Request, deadline: Deadline) -> Report {
    let window = req.function_timeout * STEPS;
    let first = observe::observe(r, &req.secret_id, window, &deadline).await;
    let verdict = state::classify(&first);
    let mut report = Report {
        apply: req.apply,
        observation: first,
        verdict,
        outcome: Outcome::NoAction,
        detail: String::new(),
        state_after: None,
        failure: None,
    };
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
    let again = observe::observe(r, &req.secret_id, window, &deadline).await;
    let second = state::classify(&again);
    if second.state != report.verdict.state || again.labels != report.observation.labels {
        report.outcome = Outcome::Refused;
        report.detail = format!(
            "the secret changed between the check and the action (now {}{}): nothing changed; run repair again",
            second.state.as_str(),
            if again.labels != report.observation.labels {
                ", staging labels moved"
            } else {
                ""
            }
        );
        log_event(&report);
        return report;
    }
    match act(r, report.secret_id(), &action, deadline).await {
        Ok(()) => {
            let after = observe::observe(r, &req.secret_id, window, &deadline).await;
            let after_verdict = state::classify(&after);
            report.outcome = Outcome::Applied;
            report.state_after = Some(after_verdict.state);
            report.detail = format!(
                "{} done; the secret is now {}; undo with: {}",
                action.as_str(),
                after_verdict.state.as_str(),
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

async fn act(r: &Rotator, arn: &str, action: &Action, deadline: Deadline) -> Result<(), Failure> {
    match action {
        Action::RemovePendingLabel { pending } => {
            r.sm.remove_stage(&deadline, arn, "AWSPENDING", pending)
                .await
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
    let action = action.map_or("none", Action::as_str);
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
