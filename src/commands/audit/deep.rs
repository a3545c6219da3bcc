//! `audit --deep`: per secret, the configuration checks (one [`Run`] for the whole audit, so
//! each function, VPC object and package is read once) and the last rotation from the logs
//! (each function's log group read once, over the window covering all its secrets). A
//! secret whose facts, function or logs cannot be read gets a note, never an abort.

use super::Audit;
use crate::outside::config::{self, ConfigCheck, Run, Status};
use crate::outside::logs::{last_rotations, Invocation, Outcome, Window};
use crate::outside::Clients;
use crate::text::function_name;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A progress line every this many secrets.
const PROGRESS_EVERY: usize = 50;

/// What `--deep` adds to one secret's row.
#[derive(Debug, Clone, Serialize)]
pub struct Deep {
    /// The worst status of the configuration checks (`unknown` when none could run).
    pub verdict: Verdict,
    /// The checks that failed or warned, worst first.
    pub findings: Vec<Finding>,
    /// The newest rotation the logs hold for this secret (`None`: none in the window, or
    /// the logs could not be read: `notes` says which).
    pub last_rotation: Option<LastRotation>,
    /// The log group read.
    pub log_group: Option<String>,
    /// What could not be read, and why (the permission, when one was denied).
    pub notes: Vec<String>,
    /// The checks that did not run here, each with why (JSON only).
    pub skipped: Vec<Skipped>,
}

/// A check that was skipped, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The check's name.
    pub check: &'static str,
    /// Why (a denied read names its permission).
    pub detail: String,
}

/// A secret's configuration verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No check failed or warned.
    Ok,
    /// The checks could not run (the secret could not be described).
    Unknown,
    /// A check warned.
    Warn,
    /// A check failed.
    Fail,
}

impl Verdict {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Unknown => "unknown",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One failing or warning check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check's name (`network_secrets_manager`, `legacy_bundle`…).
    pub check: &'static str,
    /// `fail` or `warn`.
    pub status: Status,
    /// The cause code (for `legacy_bundle`, the finding's code: `legacy_without_tls`…).
    pub cause: Option<String>,
    /// One line for a person.
    pub detail: String,
    /// The remedy (an AWS CLI command with the real ids where one exists).
    pub remedy: Option<String>,
    /// The check's evidence.
    pub evidence: Map<String, Value>,
}

/// The newest rotation invocation of a secret, from its function's logs.
#[derive(Debug, Clone, Serialize)]
pub struct LastRotation {
    /// `ok`, `failed` or `timed_out`.
    pub outcome: Outcome,
    /// When it started (RFC 3339).
    pub timestamp: String,
    /// The rotation step, when a line names it.
    pub step: Option<String>,
    /// The cause code of a failure.
    pub cause: Option<String>,
    /// The cause was inferred from a Python reference function's message.
    pub inferred: bool,
    /// The line the cause was read from.
    pub evidence: Option<Map<String, Value>>,
    /// What to do about it.
    pub remedy: Option<String>,
}

impl LastRotation {
    fn of(i: &Invocation) -> LastRotation {
        LastRotation {
            outcome: i.outcome,
            timestamp: i.timestamp.clone(),
            step: i.step.clone(),
            cause: i.cause.clone(),
            inferred: i.inferred,
            evidence: i.evidence.clone(),
            remedy: i.remedy.clone(),
        }
    }

    /// Whether it did not end well.
    pub fn failed(&self) -> bool {
        self.outcome != Outcome::Ok
    }
}

impl Deep {
    /// Whether the secret fails: a failed check or a failed last rotation.
    pub fn failing(&self) -> bool {
        self.verdict == Verdict::Fail || self.last_rotation.as_ref().is_some_and(|l| l.failed())
    }

    fn from_checks(checks: &[ConfigCheck]) -> Deep {
        let mut findings: Vec<Finding> = checks
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
            .map(|c| Finding {
                check: c.name,
                status: c.status,
                cause: c
                    .cause
                    .map(|c| c.code().to_string())
                    .or_else(|| legacy_finding(c)),
                detail: c.detail.clone(),
                remedy: c.remedy.clone(),
                evidence: c.evidence.clone(),
            })
            .collect();
        // Worst first; the contract's order within a status (the sort is stable).
        findings.sort_by_key(|f| std::cmp::Reverse(f.status));
        let verdict = match findings.first().map(|f| f.status) {
            Some(Status::Fail) => Verdict::Fail,
            Some(_) => Verdict::Warn,
            None => Verdict::Ok,
        };
        let skipped = checks
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .map(|c| Skipped {
                check: c.name,
                detail: c.detail.clone(),
            })
            .collect();
        Deep {
            verdict,
            findings,
            last_rotation: None,
            log_group: None,
            notes: Vec::new(),
            skipped,
        }
    }
}

/// The code of a `legacy_bundle` finding, which the cause table need not hold.
fn legacy_finding(c: &ConfigCheck) -> Option<String> {
    c.finding.map(str::to_string)
}

/// Milliseconds since the epoch of an RFC 3339 date.
fn millis(rfc3339: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(rfc3339, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|d| d.to_millis().ok())
}

/// Runs the checks and reads the logs for every secret of `audit`, function by function.
/// `replacement` is the db-secret-rotator function the legacy remedies name. Returns the
/// additions by secret ARN.
pub async fn deepen(
    clients: &Clients,
    audit: &Audit,
    replacement: Option<String>,
    progress: &dyn Fn(&str),
) -> HashMap<String, Deep> {
    let mut run = Run::new(clients.clone(), replacement);
    let mut by_function: Vec<(&str, Vec<&super::Row>)> = Vec::new();
    for row in &audit.rows {
        match by_function.iter_mut().find(|(f, _)| *f == row.function_arn) {
            Some((_, rows)) => rows.push(row),
            None => by_function.push((&row.function_arn, vec![row])),
        }
    }
    by_function.sort_by(|a, b| a.0.cmp(b.0));
    let total = audit.rows.len();
    let mut done = 0usize;
    let mut out = HashMap::new();
    for (i, (function, rows)) in by_function.iter().enumerate() {
        progress(&format!(
            "audit --deep: function {}/{}: {} ({} secrets)",
            i + 1,
            by_function.len(),
            function_name(function),
            rows.len()
        ));
        for row in rows {
            let mut deep = secret(clients, &mut run, row).await;
            if let Some(Err(e)) = audit.function(row).map(|f| &f.config) {
                deep.notes.push(unreadable_function(function, e));
            }
            out.insert(row.arn.clone(), deep);
            done += 1;
            if done % PROGRESS_EVERY == 0 || done == total {
                progress(&format!("audit --deep: {done}/{total} secrets checked"));
            }
        }
        logs(clients, function, rows, &mut out).await;
    }
    out
}

/// The note of a function GetFunctionConfiguration did not answer for.
fn unreadable_function(function: &str, e: &crate::outside::AwsError) -> String {
    let name = function_name(function);
    if e.not_found() {
        format!("the rotation function {name} does not exist: every rotation of this secret fails")
    } else if e.denied() {
        format!(
            "the rotation function {name} could not be read: grant the caller {} ({})",
            e.action, e.code
        )
    } else {
        format!("the rotation function {name} could not be read: {e}")
    }
}

/// One secret's checks; a secret that cannot be described is a note, not an abort.
async fn secret(clients: &Clients, run: &mut Run, row: &super::Row) -> Deep {
    match config::facts(clients, &row.arn, Some(&row.function_arn)).await {
        Ok(facts) => {
            let checks = run.checks(&facts).await;
            let mut deep = Deep::from_checks(&checks);
            if let Some(why) = &facts.unread {
                deep.notes.push(format!(
                    "{why}: the database's network path was not checked"
                ));
            }
            deep
        }
        Err(e) => {
            let mut deep = Deep::from_checks(&[]);
            deep.verdict = Verdict::Unknown;
            let grant = if e.denied() {
                format!(": grant the caller {}", e.action)
            } else {
                String::new()
            };
            deep.notes.push(format!(
                "the configuration was not checked: {} failed ({e}){grant}",
                e.action
            ));
            deep
        }
    }
}

/// The last rotation of each of a function's secrets, from one read of its log group over
/// the window that covers every secret's own.
async fn logs(
    clients: &Clients,
    function: &str,
    rows: &[&super::Row],
    out: &mut HashMap<String, Deep>,
) {
    let windows: Vec<Window> = rows
        .iter()
        .map(|r| {
            Window::default_for(
                r.last_rotated.as_deref().and_then(millis),
                r.rules.as_ref().and_then(|r| r.automatically_after_days),
            )
        })
        .collect();
    let Some(window) = Window::covering(&windows) else {
        return;
    };
    let arns: Vec<String> = rows.iter().map(|r| r.arn.clone()).collect();
    match last_rotations(clients, function, &arns, window).await {
        Ok(last) => {
            for arn in &arns {
                let Some(deep) = out.get_mut(arn) else {
                    continue;
                };
                deep.log_group = Some(last.log_group.clone());
                match last.by_secret.get(arn).and_then(Option::as_ref) {
                    Some(inv) => deep.last_rotation = Some(LastRotation::of(inv)),
                    None => deep.notes.push(format!(
                        "no rotation of this secret in {} since {}",
                        last.log_group,
                        crate::outside::logs::rfc3339(last.from_ms)
                    )),
                }
                if last.truncated {
                    deep.notes.push(format!(
                        "{} held more events than one read takes: only those since {} were read",
                        last.log_group,
                        crate::outside::logs::rfc3339(last.from_ms)
                    ));
                }
            }
        }
        Err(e) => {
            for arn in &arns {
                if let Some(deep) = out.get_mut(arn) {
                    deep.notes.push(format!("logs: {e}"));
                }
            }
        }
    }
}

impl Deep {
    /// The table's extra columns.
    pub const HEADERS: [&'static str; 2] = ["config", "last rotation"];

    /// Where the row sorts in the text: failures, then warnings, then the rest.
    pub fn rank(&self) -> u8 {
        if self.failing() {
            0
        } else if matches!(self.verdict, Verdict::Warn | Verdict::Unknown) {
            1
        } else {
            2
        }
    }

    /// The extra cells: the verdict, and the last rotation's outcome and day.
    pub fn cells(&self) -> [String; 2] {
        let last = match &self.last_rotation {
            Some(l) => format!(
                "{} {}",
                l.outcome.as_str(),
                l.timestamp.chars().take(10).collect::<String>()
            ),
            None => "-".to_string(),
        };
        [self.verdict.as_str().to_string(), last]
    }

    /// The lines under the row: each finding with its remedy, the last rotation's cause, the
    /// notes.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "  {} {}: {}: {}\n",
                f.status.as_str(),
                f.check,
                f.cause.as_deref().unwrap_or("-"),
                f.detail
            ));
            if let Some(r) = &f.remedy {
                out.push_str(&format!("    remedy: {r}\n"));
            }
        }
        if let Some(l) = self.last_rotation.as_ref().filter(|l| l.failed()) {
            let inferred = if l.inferred {
                " (inferred from its log)"
            } else {
                ""
            };
            out.push_str(&format!(
                "  last rotation {} at {} in {}: {}{inferred}\n",
                l.outcome.as_str(),
                l.timestamp,
                l.step.as_deref().unwrap_or("an unknown step"),
                l.cause.as_deref().unwrap_or("no cause named"),
            ));
            if let Some(line) = l
                .evidence
                .as_ref()
                .and_then(|e| e.get("line").or_else(|| e.get("last_line")))
                .and_then(Value::as_str)
            {
                out.push_str(&format!("    log: {}\n", line.trim_end()));
            }
            if let Some(r) = &l.remedy {
                out.push_str(&format!("    remedy: {r}\n"));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}
