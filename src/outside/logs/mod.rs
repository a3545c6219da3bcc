//! A rotation function's log group read back as invocations: which rotations ran for a
//! secret, how each ended and why. [`line`] reads one log event, [`group`] ties events into
//! invocations, [`table`] names the causes of AWS's Python reference functions from their own
//! messages, and [`read`] fetches the events (paged and bounded) with the caller's
//! credentials. For this function's own logs the cause is its `step_failed` event's; for the
//! others it is inferred, and marked so, with the line it was read from.

pub mod group;
pub mod line;
pub mod read;
pub mod table;

pub use read::{last_rotations, read_group, Bounds, LogsError, Window};

use crate::failure::Cause;
use serde::Serialize;
use serde_json::{Map, Value};

/// One CloudWatch Logs event as FilterLogEvents gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The log stream: one per execution environment.
    pub stream: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The line as written (platform lines keep their tabs).
    pub message: String,
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It returned.
    Ok,
    /// It failed.
    Failed,
    /// Lambda stopped it at its timeout.
    TimedOut,
}

impl Outcome {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// What wrote the log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FunctionKind {
    /// This function: causes are its own.
    #[serde(rename = "db-secret-rotator")]
    DbSecretRotator,
    /// A Python rotation function (AWS's reference or a copy): causes are inferred.
    #[serde(rename = "python_reference")]
    PythonReference,
    /// Something else.
    #[serde(rename = "other")]
    Other,
}

/// One rotation invocation, rebuilt from its log lines.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// The Lambda request id.
    pub request_id: String,
    /// When it started (RFC 3339).
    pub timestamp: String,
    /// When it started, in milliseconds since the epoch.
    #[serde(skip)]
    pub timestamp_ms: i64,
    /// The rotation step, when a line names it.
    pub step: Option<String>,
    /// REPORT's Duration, in whole milliseconds.
    pub duration_ms: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// The cause code of a failure.
    pub cause: Option<String>,
    /// The cause was read from free text by the table, not stated by the function.
    pub inferred: bool,
    /// The line the cause was read from (`line`, or `last_line` before a timeout), scrubbed.
    pub evidence: Option<Map<String, Value>>,
    /// What to do about it: the function's own remedy, else the cause's.
    #[serde(skip)]
    pub remedy: Option<String>,
    /// The secret ARNs its lines name.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

impl Invocation {
    /// Whether it concerns `secret_arn`: a line names it, or no line names any secret (the
    /// reference logs no ARN for timeouts, KMS, import and missing-key errors).
    pub fn concerns(&self, secret_arn: &str) -> bool {
        self.secrets.is_empty() || self.secrets.iter().any(|s| s == secret_arn)
    }
}

/// Every invocation in `events`, newest first. One still running (no END or REPORT yet, no
/// failure or timeout) has no outcome to report and is left out.
pub fn invocations(events: &[LogEvent]) -> Vec<Invocation> {
    let mut all: Vec<Invocation> = group::invocations(events)
        .into_iter()
        .map(|raw| (raw.ended, analyse(raw)))
        .filter(|(ended, inv)| *ended || inv.outcome != Outcome::Ok)
        .map(|(_, inv)| inv)
        .collect();
    all.sort_by(|a, b| {
        b.timestamp_ms
            .cmp(&a.timestamp_ms)
            .then_with(|| a.request_id.cmp(&b.request_id))
    });
    all
}

/// What wrote the events: this function's JSON events say it is this function; Python's
/// logger lines (or a Python runtime) say a Python function.
pub fn function_kind(events: &[LogEvent], runtime: Option<&str>) -> FunctionKind {
    let mut python = runtime.is_some_and(|r| r.starts_with("python"));
    for e in events {
        // Only a JSON line can be one of this function's events: parse no other.
        if e.message.starts_with('{') {
            if let line::Line::App(app) = line::parse(&e.message) {
                if app.own.is_some() {
                    return FunctionKind::DbSecretRotator;
                }
            }
        }
        python = python || e.message.starts_with("[INFO]\t") || e.message.starts_with("[ERROR]");
    }
    if python {
        FunctionKind::PythonReference
    } else {
        FunctionKind::Other
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

const STEPS: &[&str] = &["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The step a Python line names: its `setSecret:` prefix, or the event it logged.
fn python_step(text: &str) -> Option<&'static str> {
    STEPS
        .iter()
        .copied()
        .find(|s| text.starts_with(&format!("{s}:")) || text.contains(&format!("'Step': '{s}'")))
}

/// Secrets Manager secret ARNs in a line.
pub fn secret_arns(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("arn:aws") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || ":/_+=.@-".contains(c)))
            .unwrap_or(tail.len());
        let arn = tail[..end].trim_end_matches('.');
        if arn.contains(":secretsmanager:") && arn.contains(":secret:") {
            out.push(arn.to_string());
        }
        rest = &tail[end.max(1)..];
    }
    out
}

/// A line fit for a report: its first line, cut to a readable length, scrubbed of registered
/// secrets, and with the values of keys that may hold one (a logged event's RotationToken, a
/// password) hidden, so a function that logs more than the reference does leaks nothing here.
pub fn evidence_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let mut line = crate::telemetry::scrub(first);
    for key in [
        "RotationToken",
        "ClientRequestToken",
        "password",
        "Password",
    ] {
        line = hide_value_of(&line, key);
    }
    if line.chars().count() > 500 {
        line = line.chars().take(500).collect::<String>() + "...";
    }
    line
}

/// Hides the quoted value after `key` (`'key': 'v'`, `"key": "v"`, `key=v`).
fn hide_value_of(line: &str, key: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let after = tail.trim_start_matches(['\'', '"']).trim_start();
        let after = after
            .strip_prefix(':')
            .or_else(|| after.strip_prefix('='))
            .map(str::trim_start);
        let Some(value) = after else {
            rest = tail;
            continue;
        };
        let (quote, body) = match value.chars().next() {
            Some(q @ ('\'' | '"')) => (Some(q), &value[1..]),
            _ => (None, value),
        };
        let end = match quote {
            Some(q) => body.find(q).unwrap_or(body.len()),
            None => body
                .find(|c: char| c.is_whitespace() || c == ',' || c == '}')
                .unwrap_or(body.len()),
        };
        out.push_str(&tail[..tail.len() - value.len()]);
        if let Some(q) = quote {
            out.push(q);
        }
        out.push_str("***");
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// Names how one invocation ended and why.
fn analyse(raw: group::Raw) -> Invocation {
    let mut secrets: Vec<String> = Vec::new();
    let mut step: Option<String> = None;
    let mut own_failure: Option<&Map<String, Value>> = None;
    let mut own = false;
    for l in &raw.lines {
        secrets.extend(secret_arns(&l.text));
        if let Some(ev) = &l.own {
            own = true;
            if let Some(id) = ev.get("secret_id").and_then(Value::as_str) {
                secrets.extend(secret_arns(id));
            }
            if let Some(s) = ev.get("step").and_then(Value::as_str) {
                step = Some(s.to_string());
            }
            if ev.get("event").and_then(Value::as_str) == Some("step_failed") {
                own_failure = Some(ev);
            }
        } else if let Some(s) = python_step(&l.text) {
            step = Some(s.to_string());
        }
    }
    secrets.sort();
    secrets.dedup();
    let duration_ms = raw.duration_ms.map(|d| d.round() as u64);
    let failed = own_failure.is_some()
        || raw.platform_error
        || (!own && raw.lines.iter().any(|l| l.unhandled));
    let outcome = if raw.timed_out {
        Outcome::TimedOut
    } else if failed {
        Outcome::Failed
    } else {
        Outcome::Ok
    };
    let mut inv = Invocation {
        request_id: raw.request_id.clone(),
        timestamp: rfc3339(raw.timestamp_ms),
        timestamp_ms: raw.timestamp_ms,
        step,
        duration_ms,
        outcome,
        cause: None,
        inferred: false,
        evidence: None,
        remedy: None,
        secrets,
    };
    if outcome == Outcome::Ok {
        return inv;
    }
    if let Some(ev) = own_failure {
        // This function said why: its cause, its remedy, its message.
        let code = ev.get("cause").and_then(Value::as_str).unwrap_or("");
        inv.cause = Some(code.to_string()).filter(|c| !c.is_empty());
        inv.remedy = ev
            .get("remedy")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| Cause::from_code(code).map(|c| c.remedy().to_string()));
        let message = ev.get("message").and_then(Value::as_str).unwrap_or("");
        let mut evidence = Map::new();
        evidence.insert("line".into(), evidence_line(message).into());
        inv.evidence = Some(evidence);
        return inv;
    }
    let lines: Vec<(&str, bool)> = raw
        .lines
        .iter()
        .map(|l| (l.text.as_str(), l.error || l.unhandled))
        .collect();
    let reading = table::read(&lines, raw.timed_out, duration_ms);
    inv.cause = Some(reading.cause.code().to_string());
    inv.remedy = Some(reading.cause.remedy().to_string());
    inv.inferred = true;
    let key = if reading.last_line {
        "last_line"
    } else {
        "line"
    };
    let text = reading.line.map(|i| lines[i].0).unwrap_or("");
    let mut evidence = Map::new();
    evidence.insert(key.into(), evidence_line(text).into());
    inv.evidence = Some(evidence);
    inv
}

#[cfg(test)]
mod tests;
