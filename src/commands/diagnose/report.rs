//! The `diagnose` report: one [`Check`] per line with its [`Status`] (`ok`, `warn`, `fail`,
//! `skipped`), its failure or warnings, and the two forms it is printed in. The JSON is the
//! typed value serialised (the same shape the Lambda diagnose event returns); the table for a
//! terminal is rendered from the typed value ([`Report::to_text`]); `wire.rs` holds the JSON
//! shape, field by field. A report that came back as JSON from a Lambda invocation reads back
//! into a [`Report`] (`serde_json::from_value`) and renders the same way. Both forms pass the
//! log scrubber.

use super::wire::{CheckJson, ReportJson};
use crate::failure::{Cause, Evidence, Failure, Finding};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// Something worth acting on that is not a fault of the secret or its database (rotation not
/// enabled yet, rotation on another function, a rotation in progress): the check passes with
/// a warning, and the report stays ok.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Warning {
    /// Stable code: a [`Finding`], or the [`Cause`] rotation would stop on.
    pub code: Cow<'static, str>,
    /// One human sentence.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
    /// Facts observed.
    #[serde(default)]
    pub evidence: Evidence,
}

impl Warning {
    /// A finding of the [`Finding`] table.
    pub fn finding(finding: Finding, message: String, remedy: String, evidence: Evidence) -> Self {
        Warning {
            code: Cow::Borrowed(finding.code()),
            message,
            remedy,
            evidence,
        }
    }

    /// A finding that is a failure elsewhere (rotation refuses to run on it) but only worth a
    /// warning before rotation starts: its cause code, message and evidence, with `remedy`.
    pub fn from_failure(f: Failure, remedy: String) -> Self {
        Warning {
            code: Cow::Borrowed(f.cause.code()),
            message: f.message,
            remedy,
            evidence: *f.evidence,
        }
    }
}

/// A check's result, as the JSON `status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Passed, with warnings.
    Warn,
    /// Failed: the report is not ok.
    Fail,
    /// Not made: a check it needs did not pass, or it could not be made here.
    Skipped,
}

impl Status {
    /// The JSON `ok`: true, false, or null for a skipped check.
    pub(super) fn ok(self) -> Option<bool> {
        match self {
            Status::Ok | Status::Warn => Some(true),
            Status::Fail => Some(false),
            Status::Skipped => None,
        }
    }

    /// The mark in the text table's first column.
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        }
    }
}

/// What a failed check says: the cause, one sentence, the remedy and the evidence.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The documented cause.
    pub cause: Cause,
    /// One human sentence.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
    /// Facts observed.
    pub evidence: Evidence,
}

impl From<Failure> for Failed {
    fn from(f: Failure) -> Self {
        Failed {
            cause: f.cause,
            message: f.message,
            remedy: f.remedy,
            evidence: *f.evidence,
        }
    }
}

/// How a check came out.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Passed; with warnings it is a `warn`.
    Passed(Vec<Warning>),
    /// Failed.
    Failed(Box<Failed>),
    /// Not made.
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "CheckJson", try_from = "CheckJson")]
pub struct Check {
    /// Stable check name (a [`super::CheckName`] when this function made it).
    pub name: Cow<'static, str>,
    /// Time the check took.
    pub duration_ms: u64,
    /// What was seen (or why it was skipped).
    pub detail: String,
    /// Passed, failed or skipped.
    pub outcome: Outcome,
}

impl Check {
    /// `ok`, `warn`, `fail` or `skipped`.
    pub fn status(&self) -> Status {
        match &self.outcome {
            Outcome::Passed(w) if w.is_empty() => Status::Ok,
            Outcome::Passed(_) => Status::Warn,
            Outcome::Failed(_) => Status::Fail,
            Outcome::Skipped => Status::Skipped,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "ReportJson", from = "ReportJson")]
pub struct Report {
    /// The secret checked.
    pub secret_id: String,
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed (warnings do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status() != Status::Fail)
    }

    /// How many checks passed with warnings.
    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status() == Status::Warn)
            .count()
    }

    /// `fail` when a check failed, else `warn` when one warns, else `ok`.
    pub fn status(&self) -> Status {
        if !self.ok() {
            Status::Fail
        } else if self.warnings() > 0 {
            Status::Warn
        } else {
            Status::Ok
        }
    }

    /// The JSON form `diagnose --format json` prints and the Lambda diagnose event returns,
    /// through the log scrubber (defence in depth, as for every log line).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        crate::telemetry::scrub_value(&mut v);
        v
    }

    /// A table for a terminal: a verdict line, then one row per check with the cause, the
    /// remedy and the evidence of a failure, and each warning with its remedy, under it. The
    /// configuration checks (`--scope config`) follow in their own section: fails first,
    /// each with the objects it names and its remedy, then warns, then the rest.
    pub fn to_text(&self) -> String {
        let verdict = match (self.ok(), self.warnings()) {
            (true, 0) => "OK".to_string(),
            (true, n) => format!("OK, {n} warning(s)"),
            (false, _) => "PROBLEM FOUND".to_string(),
        };
        let mut out = format!("diagnose {}: {verdict}\n", self.secret_id);
        let (config, here): (Vec<&Check>, Vec<&Check>) = self
            .checks
            .iter()
            .partition(|c| super::config::is_config(&c.name));
        if !here.is_empty() {
            out.push('\n');
            out.push_str(&table(&here));
        }
        if !config.is_empty() {
            out.push_str("\nconfiguration (read through AWS APIs):\n");
            out.push_str(&super::config::text(&config));
        }
        crate::telemetry::scrub(&out)
    }

    /// The table of a JSON report (one that came back from a Lambda invocation): the report
    /// read back and rendered by [`Report::to_text`], or why it could not be read.
    pub fn text_from_json(report: &Value) -> String {
        match serde_json::from_value::<Report>(report.clone()) {
            Ok(r) => r.to_text(),
            Err(e) => crate::telemetry::scrub(&format!(
                "the diagnose report could not be read ({e}): {report}\n"
            )),
        }
    }
}

/// The checks made from where the binary runs, one row each.
fn table(checks: &[&Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(10);
    let mut out = format!("{:<6} {:<width$} {:>8}  detail\n", "result", "check", "ms");
    let under =
        |label: &str, text: &str| format!("{:<6} {:<width$} {:>8}  {label}: {text}\n", "", "", "");
    for c in checks {
        out.push_str(&format!(
            "{:<6} {:<width$} {:>8}  {}\n",
            c.status().mark(),
            c.name,
            c.duration_ms,
            c.detail
        ));
        match &c.outcome {
            Outcome::Failed(f) => {
                out.push_str(&under("cause", f.cause.code()));
                out.push_str(&under("remedy", &f.remedy));
                if !f.evidence.is_empty() {
                    let evidence = Value::Object(f.evidence.clone()).to_string();
                    out.push_str(&under("evidence", &evidence));
                }
            }
            Outcome::Passed(warnings) => {
                for w in warnings {
                    out.push_str(&under("warning", &format!("{}: {}", w.code, w.message)));
                    out.push_str(&under("remedy", &w.remedy));
                }
            }
            Outcome::Skipped => {}
        }
    }
    out
}

impl crate::commands::Report for Report {
    fn ok(&self) -> bool {
        Report::ok(self)
    }

    fn to_text(&self) -> String {
        Report::to_text(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(name: &'static str, outcome: Outcome) -> Check {
        Check {
            name: Cow::Borrowed(name),
            duration_ms: 3,
            detail: "seen".into(),
            outcome,
        }
    }

    fn failed() -> Outcome {
        let f = Failure::new(Cause::DbLoginFailed, "refused").with("user", "app");
        Outcome::Failed(Box::new(f.into()))
    }

    #[test]
    fn a_warning_keeps_the_report_ok_and_a_failure_does_not() {
        let warned = Outcome::Passed(vec![Warning::from_failure(
            Failure::new(Cause::RotationNotEnabled, "off"),
            "enable it".into(),
        )]);
        let report = Report {
            secret_id: "s".into(),
            checks: vec![
                check("describe_secret", warned),
                check("tls", Outcome::Skipped),
            ],
        };
        let v = report.to_json();
        assert_eq!(
            (v["ok"].clone(), v["status"].clone()),
            (json!(true), json!("warn"))
        );
        assert_eq!(v["warnings"], 1);
        assert_eq!(
            v["checks"][0]["warnings"][0]["code"],
            "rotation_not_enabled"
        );
        assert_eq!(v["checks"][0]["remedy"], "enable it");
        assert_eq!(v["checks"][1]["ok"], Value::Null);
        assert_eq!(v["checks"][1]["status"], "skipped");

        let failed = Report {
            secret_id: "s".into(),
            checks: vec![check("login_current", failed())],
        };
        let v = failed.to_json();
        assert_eq!(v["status"], "fail");
        assert_eq!(v["checks"][0]["cause"], "db_login_failed");
        assert_eq!(v["checks"][0]["evidence"]["user"], "app");
        let text = failed.to_text();
        assert!(text.starts_with("diagnose s: PROBLEM FOUND"), "{text}");
        assert!(
            text.contains("FAIL") && text.contains("cause: db_login_failed"),
            "{text}"
        );
    }

    #[test]
    fn the_json_keeps_its_field_order_and_reads_back_to_the_same_text() {
        let warned = Outcome::Passed(vec![Warning::finding(
            Finding::StalePendingLabel,
            "AWSPENDING sits on p".into(),
            "remove it".into(),
            Evidence::new(),
        )]);
        let report = Report {
            secret_id: "s".into(),
            checks: vec![
                check("describe_secret", warned),
                check("login_current", failed()),
                check("tls", Outcome::Skipped),
            ],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"secret_id":"s","ok":false,"status":"fail","warnings":1,"checks":["#,
                r#"{"name":"describe_secret","ok":true,"status":"warn","duration_ms":3,"detail":"seen","remedy":"remove it","#,
                r#""warnings":[{"code":"stale_pending_label","message":"AWSPENDING sits on p","remedy":"remove it","evidence":{}}]},"#,
                r#"{"name":"login_current","ok":false,"status":"fail","duration_ms":3,"detail":"seen","cause":"db_login_failed","#,
                r#""message":"refused","remedy":"The password was changed outside rotation"#
            )
            .to_string()
                + &json[json.find(", or the user").unwrap()..]
        );
        assert!(json.ends_with(
            r#""evidence":{"user":"app"}},{"name":"tls","ok":null,"status":"skipped","duration_ms":3,"detail":"seen"}]}"#
        ), "{json}");
        let back = Report::text_from_json(&serde_json::from_str(&json).unwrap());
        assert_eq!(back, report.to_text());
        // An older report without `status` reads through `ok`.
        let old = json!({"secret_id": "s", "ok": true,
                         "checks": [{"name": "tls", "ok": null, "detail": "skipped: x"}]});
        assert!(Report::text_from_json(&old).contains("skip   tls"));
    }
}
