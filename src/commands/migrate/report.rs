//! What `migrate` reports: one typed [`Migration`] per secret, filled in phase by phase (a
//! refused migration carries what was learnt up to the refusal), and the [`Report`] of them
//! all, as JSON or readable text.

use crate::commands::audit::{Function, ListError};
use crate::commands::diagnose::{self, Check};
use crate::outside::{AwsError, RotationRules};
use crate::text::{function_name, shell_quote};
use serde::Serialize;
use serde_json::Value;

/// The result for one secret. Phases that did not run leave their fields out of the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    /// The secret as given.
    pub secret_id: String,
    /// Whether this was a dry run (no `--apply`).
    pub dry_run: bool,
    /// The secret as DescribeSecret answered.
    #[serde(flatten)]
    pub secret: Option<Described>,
    /// The target function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<FunctionReport>,
    /// The current function and the way back to it.
    #[serde(flatten)]
    pub current: Option<Current>,
    /// The diagnose report the target function answered with, as it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Value>,
    /// The configuration checks of the target function for this secret (the `diagnose
    /// --scope config` checks), read with the caller's credentials after the preflight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Vec<Check>>,
    /// The schedule RotateSecret is given.
    #[serde(flatten)]
    pub plan: Option<Plan>,
    /// Why it stopped, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Whether RotateSecret was sent and accepted.
    pub applied: bool,
    /// Why nothing was needed, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// Whether the switch also started a rotation (`--rotate-now`), when it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_immediately: Option<bool>,
}

/// The note of a secret already on the target.
pub const ALREADY_ON: &str = "rotation already uses this function: nothing to do";

/// What DescribeSecret says.
#[derive(Debug, Clone, Serialize)]
pub struct Described {
    /// The secret's ARN.
    pub secret_arn: String,
    /// Whether rotation is enabled.
    pub rotation_enabled: bool,
    /// Its rotation rules (`None` when it has none).
    pub rotation_rules: Option<RotationRules>,
    /// Its rotation function (ARN), if any.
    #[serde(skip)]
    pub function: Option<String>,
}

/// The function the secret rotates with now, and the command back to it.
#[derive(Debug, Clone, Serialize)]
pub struct Current {
    /// The current rotation function (`None`: the secret has none).
    pub from: Option<FunctionReport>,
    /// The command that puts the secret back the way it was.
    pub switch_back: String,
}

/// The schedule to keep.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The rules RotateSecret is (or would be) given; `None` in a dry run of a secret
    /// without a schedule.
    pub new_rotation_rules: Option<RotationRules>,
}

/// A function as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionReport {
    /// Its ARN (or the name given, when unreadable).
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its runtime.
    pub runtime: Option<String>,
    /// Whether GetFunctionConfiguration answered.
    pub readable: bool,
    /// Why it did not.
    pub error: Option<String>,
}

impl FunctionReport {
    /// The report's view of a function read by the audit.
    pub fn of(f: &Function) -> FunctionReport {
        FunctionReport {
            arn: f.arn.clone(),
            name: function_name(&f.arn).to_string(),
            runtime: f.runtime().map(str::to_string),
            readable: f.config.is_ok(),
            error: f.config.as_ref().err().map(|e| e.to_string()),
        }
    }

    /// `name (runtime)`, or `name (not readable)`.
    fn label(&self) -> String {
        match &self.runtime {
            Some(rt) => format!("{} ({rt})", self.name),
            None if !self.readable => format!("{} (not readable)", self.name),
            None => self.name.clone(),
        }
    }
}

impl Migration {
    /// A migration that has not started.
    pub fn new(secret_id: &str, dry_run: bool) -> Migration {
        Migration {
            secret_id: secret_id.to_string(),
            dry_run,
            secret: None,
            to: None,
            current: None,
            preflight: None,
            configuration: None,
            plan: None,
            refused: None,
            applied: false,
            note: None,
            rotate_immediately: None,
        }
    }

    /// Whether it passed (and, with `--apply`, the switch was made).
    pub fn passed(&self) -> bool {
        self.refused.is_none()
    }

    /// The secret's ARN, or the id given before DescribeSecret answered.
    fn arn(&self) -> &str {
        self.secret
            .as_ref()
            .map_or(self.secret_id.as_str(), |s| s.secret_arn.as_str())
    }

    /// A readable account of one migration, the preflight report included.
    pub fn to_text(&self) -> String {
        let mut out = format!("migrate {}\n", self.arn());
        if let Some(to) = &self.to {
            let from = match self.current.as_ref().and_then(|c| c.from.as_ref()) {
                Some(f) => f.label(),
                None => "no rotation function".to_string(),
            };
            let off = match &self.secret {
                Some(s) if s.rotation_enabled => "",
                _ => " (rotation off)",
            };
            out.push_str(&format!("  from {from}{off} to {}\n", to.label()));
        }
        if let Some(rules) = self.secret.as_ref().and_then(|s| s.rotation_rules.as_ref()) {
            out.push_str(&format!("  schedule {rules}\n"));
        }
        if let Some(note) = self.note {
            out.push_str(&format!("  {note}\n"));
        }
        if let Some(text) = self.preflight.as_ref().and_then(preflight_text) {
            out.push_str("\n  preflight (diagnose, run by the target function):\n");
            for line in text.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            out.push('\n');
        }
        if let Some(checks) = &self.configuration {
            out.push_str("  configuration of the target function (read through AWS APIs):\n");
            let checks: Vec<&Check> = checks.iter().collect();
            for line in diagnose::config::text(&checks).lines() {
                out.push_str(&format!("    {line}\n"));
            }
            out.push('\n');
        }
        out.push_str(&self.outcome_text());
        if let Some(c) = &self.current {
            out.push_str(&format!("  switch back: {}\n", c.switch_back));
        }
        crate::telemetry::scrub(&out)
    }

    /// The refusal, the switch made, or the dry run's command to make it.
    fn outcome_text(&self) -> String {
        let to = self.to.as_ref();
        match (&self.refused, self.applied) {
            (Some(why), _) => format!("  REFUSED: {why}\n  nothing was changed\n"),
            (None, true) => format!(
                "  APPLIED: rotation now uses {}{}\n",
                to.map_or("?", |t| t.name.as_str()),
                if self.rotate_immediately == Some(true) {
                    "; a rotation starts now"
                } else {
                    "; Secrets Manager runs its testSecret step only (no rotation until the schedule)"
                }
            ),
            (None, false) if self.note.is_some() => String::new(),
            (None, false) => format!(
                "  dry run: the preflight passed, nothing was changed; to switch:\n    db-secret-rotator migrate --secret-id {} --function {} --apply\n",
                shell_quote(self.arn()),
                to.map_or("?", |t| t.arn.as_str())
            ),
        }
    }
}

/// The diagnose report the target function answered with, as a table, when it is one. The
/// one place migrate reads a diagnose report's form.
fn preflight_text(preflight: &Value) -> Option<String> {
    let is_report = preflight.is_object() && preflight.get("checks").is_some();
    is_report.then(|| crate::commands::diagnose::Report::text_from_json(preflight))
}

/// What `migrate` returns: every migration tried, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether every migration passed (and ListSecrets answered, for `--from-function`).
    pub ok: bool,
    /// The migrations, up to and including the first refusal.
    pub migrations: Vec<Migration>,
    /// Why the secrets of `--from-function` could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ListError>,
}

impl Report {
    /// The report of the migrations tried.
    pub fn of(migrations: Vec<Migration>) -> Report {
        Report {
            ok: migrations.iter().all(Migration::passed),
            migrations,
            error: None,
        }
    }

    /// The report when ListSecrets failed.
    pub fn list_failed(e: &AwsError) -> Report {
        Report {
            ok: false,
            migrations: Vec::new(),
            error: Some(ListError::of(e)),
        }
    }
}

impl crate::commands::Report for Report {
    fn ok(&self) -> bool {
        self.ok
    }

    /// Each migration, then where it stopped; empty when ListSecrets failed (that went to
    /// stderr, with the progress).
    fn to_text(&self) -> String {
        if self.error.is_some() {
            return String::new();
        }
        let mut out: String = self.migrations.iter().map(Migration::to_text).collect();
        match self.migrations.last() {
            None => out.push_str("migrate: no secret to move\n"),
            Some(last) if !self.ok => out.push_str(&format!(
                "migrate: stopped at {} ({} of the secret(s) before it handled)\n",
                last.secret_id,
                self.migrations.len() - 1
            )),
            Some(_) => {}
        }
        out
    }
}
