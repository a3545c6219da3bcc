//! The JSON shape of the `diagnose` report, apart from the report's own types: what each
//! check and the report serialise to, field by field and in order (the contract scripts and
//! the migrate preflight read), and how a report read back from JSON becomes typed again.

use super::report::{Check, Failed, Outcome, Report, Status, Warning};
use crate::failure::{Cause, Evidence};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A check as JSON: `name`, `ok` (true, false or null for skipped), `status`, `duration_ms`,
/// `detail`; a failed one adds `cause`, `message`, `remedy` and `evidence`, a warning one
/// `remedy` (every warning's, joined) and `warnings`.
#[derive(Serialize, Deserialize)]
pub(super) struct CheckJson {
    name: Cow<'static, str>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    duration_ms: u64,
    #[serde(default)]
    detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remedy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<Evidence>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Warning>,
}

impl From<Check> for CheckJson {
    fn from(c: Check) -> Self {
        let status = c.status();
        let mut json = CheckJson {
            name: c.name,
            ok: status.ok(),
            status: Some(status),
            duration_ms: c.duration_ms,
            detail: c.detail,
            cause: None,
            message: None,
            remedy: None,
            evidence: None,
            warnings: Vec::new(),
        };
        match c.outcome {
            Outcome::Failed(f) => {
                json.cause = Some(f.cause.code().to_string());
                json.message = Some(f.message);
                json.remedy = Some(f.remedy);
                json.evidence = Some(f.evidence);
            }
            Outcome::Passed(warnings) if !warnings.is_empty() => {
                let remedies: Vec<&str> = warnings.iter().map(|w| w.remedy.as_str()).collect();
                json.remedy = Some(remedies.join(" "));
                json.warnings = warnings;
            }
            Outcome::Passed(_) | Outcome::Skipped => {}
        }
        json
    }
}

impl TryFrom<CheckJson> for Check {
    type Error = String;

    fn try_from(j: CheckJson) -> Result<Self, String> {
        // A report without `status` (an older function's) says it through `ok`.
        let status = j.status.unwrap_or(match j.ok {
            Some(true) if j.warnings.is_empty() => Status::Ok,
            Some(true) => Status::Warn,
            Some(false) => Status::Fail,
            None => Status::Skipped,
        });
        let outcome = match status {
            Status::Ok | Status::Warn => Outcome::Passed(j.warnings),
            Status::Skipped => Outcome::Skipped,
            Status::Fail => {
                let code = j.cause.unwrap_or_default();
                let cause = Cause::from_code(&code)
                    .ok_or_else(|| format!("check {}: unknown cause {code:?}", j.name))?;
                Outcome::Failed(Box::new(Failed {
                    cause,
                    message: j.message.unwrap_or_default(),
                    remedy: j.remedy.unwrap_or_default(),
                    evidence: j.evidence.unwrap_or_default(),
                }))
            }
        };
        Ok(Check {
            name: j.name,
            duration_ms: j.duration_ms,
            detail: j.detail,
            outcome,
        })
    }
}

/// The report as JSON: `secret_id`, `ok`, `status`, `warnings` (how many checks warn) and
/// `checks`. Reading one back, `ok`, `status` and `warnings` follow from the checks.
#[derive(Serialize, Deserialize)]
pub(super) struct ReportJson {
    secret_id: String,
    #[serde(default)]
    ok: bool,
    #[serde(default = "status_ok")]
    status: Status,
    #[serde(default)]
    warnings: usize,
    #[serde(default)]
    checks: Vec<Check>,
}

fn status_ok() -> Status {
    Status::Ok
}

impl From<Report> for ReportJson {
    fn from(r: Report) -> Self {
        ReportJson {
            ok: r.ok(),
            status: r.status(),
            warnings: r.warnings(),
            secret_id: r.secret_id,
            checks: r.checks,
        }
    }
}

impl From<ReportJson> for Report {
    fn from(j: ReportJson) -> Self {
        Report {
            secret_id: j.secret_id,
            checks: j.checks,
        }
    }
}
