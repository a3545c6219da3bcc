//! The result of one `repair` run ([`Report`]): how it ended ([`Outcome`]), the JSON report
//! (a typed view, scrubbed like every log line) and the text for a terminal, both rendered
//! from the same typed values.

use super::action::Action;
use super::observe::Observation;
use super::state::{State, Verdict};
use crate::failure::{Evidence, Failure};
use crate::rotation::login::LoginAttempt;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

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

/// The JSON report, field for field.
#[derive(Serialize)]
struct Json<'a> {
    secret_id: &'a str,
    ok: bool,
    state: &'static str,
    summary: &'a str,
    strategy: Option<&'static str>,
    labels: &'a BTreeMap<String, Vec<String>>,
    logins: &'a [LoginAttempt],
    pending_age_s: Option<u64>,
    rotation_window_s: u64,
    action: Option<ActionJson>,
    apply: bool,
    outcome: &'static str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'static str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    remedy: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_after: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<FailureJson<'a>>,
}

/// The action, with the commands that do and undo it.
#[derive(Serialize)]
struct ActionJson {
    name: &'static str,
    command: String,
    undo: String,
}

/// A refused or failed action's failure.
#[derive(Serialize)]
struct FailureJson<'a> {
    cause: &'static str,
    message: &'a str,
    remedy: &'a str,
    evidence: &'a Evidence,
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

    fn json(&self) -> Json<'_> {
        let o = &self.observation;
        let arn = self.secret_id();
        Json {
            secret_id: arn,
            ok: self.ok(),
            state: self.verdict.state.as_str(),
            summary: &self.verdict.summary,
            strategy: o.strategy.map(|s| s.as_str()),
            labels: &o.labels,
            logins: &o.logins,
            pending_age_s: o.pending_age.map(|a| a.as_secs()),
            rotation_window_s: o.window.as_secs(),
            action: self.verdict.action.as_ref().map(|a| ActionJson {
                name: a.as_str(),
                command: a.command(arn),
                undo: a.undo(arn),
            }),
            apply: self.apply,
            outcome: self.outcome.as_str(),
            detail: &self.detail,
            cause: self.verdict.cause.map(|c| c.code()),
            remedy: &self.verdict.remedy,
            state_after: self.state_after.map(State::as_str),
            failure: self.failure.as_ref().map(|f| FailureJson {
                cause: f.cause.code(),
                message: &f.message,
                remedy: &f.remedy,
                evidence: &f.evidence,
            }),
        }
    }

    /// The JSON report as a value (the Lambda's answer).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.json()).unwrap_or_default();
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
            out.push_str(&format!(
                "{name:<9} {:<8} {}  {} (tls: {})\n",
                l.secret,
                l.user,
                l.outcome,
                l.tls.as_deref().unwrap_or("-")
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

    /// The action of the verdict, by name (`none` without one).
    pub(super) fn action_name(&self) -> &'static str {
        self.verdict.action.as_ref().map_or("none", Action::as_str)
    }
}

/// The JSON report, scrubbed.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl crate::commands::Report for Report {
    fn ok(&self) -> bool {
        Report::ok(self)
    }

    fn to_text(&self) -> String {
        Report::to_text(self)
    }
}
