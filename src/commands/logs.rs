//! `logs`: the last rotations of one secret, read from its rotation function's log group and
//! named: one line per invocation (time, step, duration, outcome, cause), the line the cause
//! was read from, and the remedy of the newest failure. Works for this function (its own
//! causes) and for AWS's Python reference functions (causes inferred from their messages).
//! Read-only, with the caller's credentials.

use crate::commands::{Format, Report};
use crate::failure::Cause;
use crate::outside::logs::{self, read, FunctionKind, Invocation, LogsError, Outcome, Window};
use crate::outside::{AwsError, Clients};
use serde::Serialize;
use std::time::Duration;

/// `logs --secret-id ID [--since DURATION] [--function F] [--format text|json]`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The secret (name or ARN).
    #[arg(long)]
    pub secret_id: String,
    /// How far back to read (90m, 6h, 30d); by default from a day before the secret's last
    /// rotation (or over its rotation interval, when it never rotated).
    #[arg(long, value_parser = read::parse_since)]
    pub since: Option<Duration>,
    /// The rotation function (name or ARN); by default the secret's.
    #[arg(long)]
    pub function: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Why the log could not be read, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReadError {
    /// `secret_not_found`, `no_rotation_function`, `log_group_not_found`, `access_denied`
    /// or `aws_error`.
    pub code: &'static str,
    /// The IAM action that failed, when an AWS call did.
    pub action: Option<String>,
    /// What happened and what to do, in a sentence.
    pub message: String,
}

/// The read window, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    /// From (RFC 3339).
    pub since: String,
    /// To (RFC 3339).
    pub until: String,
}

/// What `logs` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LogsReport {
    /// The secret's ARN (or the id given, when it could not be described).
    pub secret_id: String,
    /// The rotation function read.
    pub function: Option<String>,
    /// Its log group.
    pub log_group: Option<String>,
    /// What wrote the log group.
    pub function_kind: Option<FunctionKind>,
    /// When the secret last rotated, by DescribeSecret.
    pub last_rotated: Option<String>,
    /// The window read.
    pub window: Option<WindowView>,
    /// The invocations that concern the secret, newest first.
    pub invocations: Vec<Invocation>,
    /// Log events read.
    pub events_read: usize,
    /// FilterLogEvents calls made.
    pub calls: u32,
    /// The read stopped at its bounds before the end of the window.
    pub truncated: bool,
    /// Why nothing could be read.
    pub error: Option<ReadError>,
    /// What the reader should know (a never-rotated secret, an empty window, a fallback).
    pub notes: Vec<String>,
}

impl LogsReport {
    fn new(secret_id: &str) -> LogsReport {
        LogsReport {
            secret_id: secret_id.to_string(),
            function: None,
            log_group: None,
            function_kind: None,
            last_rotated: None,
            window: None,
            invocations: Vec::new(),
            events_read: 0,
            calls: 0,
            truncated: false,
            error: None,
            notes: Vec::new(),
        }
    }

    fn failed(mut self, code: &'static str, action: Option<String>, message: String) -> Self {
        self.error = Some(ReadError {
            code,
            action,
            message,
        });
        self
    }

    /// The newest invocation that did not succeed.
    pub fn newest_failure(&self) -> Option<&Invocation> {
        self.invocations.iter().find(|i| i.outcome != Outcome::Ok)
    }
}

/// Runs `logs` with clients built from the app's AWS configuration.
pub async fn run(app: &crate::app::App, args: Args) -> LogsReport {
    run_with(&Clients::new(app.sdk()), args).await
}

fn ms_of(d: &aws_smithy_types::DateTime) -> i64 {
    d.to_millis().unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Runs `logs` with the given clients (what the tests drive).
pub async fn run_with(clients: &Clients, args: Args) -> LogsReport {
    let mut report = LogsReport::new(&args.secret_id);
    let described = clients
        .call(
            "secretsmanager",
            "DescribeSecret",
            clients
                .sm
                .describe_secret()
                .secret_id(&args.secret_id)
                .send(),
        )
        .await;
    let (mut last_rotated, mut interval, mut rotation_function) = (None, None, None);
    match described {
        Ok(d) => {
            if let Some(arn) = d.arn() {
                report.secret_id = arn.to_string();
            }
            last_rotated = d.last_rotated_date().map(ms_of);
            interval = d
                .rotation_rules()
                .and_then(|r| r.automatically_after_days());
            rotation_function = d
                .rotation_lambda_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_string);
        }
        Err(e) if e.not_found() => {
            let msg = format!(
                "the secret {} does not exist in this account and region",
                args.secret_id
            );
            return report.failed("secret_not_found", Some(e.action), msg);
        }
        // Without DescribeSecret the secret's ARN and function must come from the caller.
        Err(e) if args.function.is_some() && args.secret_id.starts_with("arn:") => {
            report.notes.push(format!(
                "{} failed ({e}): the window and the function are taken from the command line",
                e.action
            ));
        }
        Err(e) => return aws_failure(report, &e, "DescribeSecret"),
    }
    report.last_rotated = last_rotated.map(rfc3339);
    let Some(function) = args.function.clone().or(rotation_function) else {
        let msg = "the secret has no rotation function: name the function that rotated it with --function".to_string();
        return report.failed("no_rotation_function", None, msg);
    };
    report.function = Some(function.clone());
    let window = match args.since {
        Some(span) => Window::since(span),
        None => Window::default_for(last_rotated, interval),
    };
    report.window = Some(WindowView {
        since: rfc3339(window.start_ms),
        until: rfc3339(window.end_ms),
    });
    let (group, runtime, conf_error) = read::log_group_of(clients, &function).await;
    if let Some(e) = conf_error {
        report.notes.push(format!(
            "{} failed ({e}): reading the default log group {group}",
            e.action
        ));
    }
    report.log_group = Some(group.clone());
    let got = match read::read_group(clients, &group, window).await {
        Ok(r) => r,
        Err(LogsError::GroupNotFound(g)) => {
            let msg = LogsError::GroupNotFound(g).to_string();
            return report.failed(
                "log_group_not_found",
                Some("logs:FilterLogEvents".into()),
                msg,
            );
        }
        Err(LogsError::Denied(e)) | Err(LogsError::Aws(e)) => {
            return aws_failure(report, &e, "FilterLogEvents")
        }
    };
    report.events_read = got.events.len();
    report.calls = got.calls;
    report.truncated = got.truncated;
    report.function_kind = Some(logs::function_kind(&got.events, runtime.as_deref()));
    report.invocations = logs::invocations(&got.events)
        .into_iter()
        .filter(|i| i.concerns(&report.secret_id))
        .collect();
    if got.truncated {
        report.notes.push(format!(
            "the window holds more events than one read takes ({} read in {} calls): only its newest part, from {}, was read; narrow it with --since",
            got.events.len(),
            got.calls,
            rfc3339(got.from_ms)
        ));
    }
    if report.invocations.is_empty() {
        report.notes.push(match (last_rotated, args.since) {
            (None, None) => "the secret never rotated (DescribeSecret has no LastRotatedDate) and the window holds no invocation of its function for it".into(),
            _ => "the window holds no invocation for this secret: widen it with --since, or check that the events are not older than the log group's retention".into(),
        });
    }
    report
}

fn aws_failure(report: LogsReport, e: &AwsError, operation: &str) -> LogsReport {
    let action = if e.action.is_empty() {
        operation.to_string()
    } else {
        e.action.clone()
    };
    if e.denied() {
        let msg = format!("{action} was denied ({e}): grant the caller {action}");
        report.failed("access_denied", Some(action), msg)
    } else {
        let msg = format!("{action} failed: {e}");
        report.failed("aws_error", Some(action), msg)
    }
}

impl Report for LogsReport {
    /// The log was read and the newest invocation for the secret succeeded.
    fn ok(&self) -> bool {
        self.error.is_none()
            && self
                .invocations
                .first()
                .is_some_and(|i| i.outcome == Outcome::Ok)
    }

    fn to_text(&self) -> String {
        render(self)
    }
}

/// The remedy of an invocation: the function's own, else its cause's.
pub fn remedy_of(inv: &Invocation) -> Option<String> {
    inv.remedy.clone().or_else(|| {
        inv.cause
            .as_deref()
            .and_then(Cause::from_code)
            .map(|c| c.remedy().to_string())
    })
}

/// `2026-12-01 09:12:03` of an RFC 3339 time: a timeline reads better without the T and zone.
fn when(stamp: &str) -> String {
    stamp.get(..19).unwrap_or(stamp).replacen('T', " ", 1)
}

fn render(r: &LogsReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "secret     {}", r.secret_id);
    if let Some(f) = &r.function {
        let kind = match r.function_kind {
            Some(FunctionKind::DbSecretRotator) => " (db-secret-rotator)",
            Some(FunctionKind::PythonReference) => {
                " (Python rotation function: causes inferred from its messages)"
            }
            Some(FunctionKind::Other) | None => "",
        };
        let _ = writeln!(out, "function   {f}{kind}");
    }
    if let Some(g) = &r.log_group {
        let _ = writeln!(out, "log group  {g}");
    }
    if let Some(w) = &r.window {
        let _ = writeln!(
            out,
            "window     {} to {} ({} events, {} calls)",
            when(&w.since),
            when(&w.until),
            r.events_read,
            r.calls
        );
    }
    let _ = writeln!(
        out,
        "last rotated {}",
        r.last_rotated
            .as_deref()
            .map(when)
            .unwrap_or_else(|| "never".into())
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "\nERROR {}: {}", e.code, e.message);
    }
    if !r.invocations.is_empty() {
        out.push('\n');
    }
    for inv in &r.invocations {
        let duration = inv
            .duration_ms
            .map(|d| format!("{d} ms"))
            .unwrap_or_else(|| "-".into());
        let outcome = match inv.outcome {
            Outcome::Ok => "ok",
            Outcome::Failed => "FAILED",
            Outcome::TimedOut => "TIMED OUT",
        };
        let cause = match (&inv.cause, inv.inferred) {
            (Some(c), true) => format!("{c} (inferred)"),
            (Some(c), false) => c.clone(),
            (None, _) => String::new(),
        };
        let line = format!(
            "{}  {:<12}  {:>10}  {:<9}  {}",
            when(&inv.timestamp),
            inv.step.as_deref().unwrap_or("-"),
            duration,
            outcome,
            cause
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(ev) = &inv.evidence {
            for (key, value) in ev {
                let _ = writeln!(out, "{:21}{key}: {}", "", value.as_str().unwrap_or(""));
            }
        }
    }
    for note in &r.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    if let Some(inv) = r.newest_failure() {
        if let Some(remedy) = remedy_of(inv) {
            let cause = inv.cause.as_deref().unwrap_or("");
            let _ = writeln!(out, "\nremedy ({cause}, newest failure): {remedy}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(outcome: Outcome, cause: Option<&str>) -> Invocation {
        Invocation {
            request_id: "8f5a1c2e-3b4d-4e6f-9a0b-1c2d3e4f5a6b".into(),
            timestamp: "2026-12-01T09:12:03.120Z".into(),
            timestamp_ms: 0,
            step: Some("setSecret".into()),
            duration_ms: Some(412),
            outcome,
            cause: cause.map(str::to_string),
            inferred: true,
            evidence: cause.map(|_| {
                let mut m = serde_json::Map::new();
                m.insert(
                    "line".into(),
                    "setSecret: Unable to log into database".into(),
                );
                m
            }),
            remedy: None,
            secrets: Vec::new(),
        }
    }

    #[test]
    fn the_exit_status_follows_the_newest_invocation_and_the_read() {
        let mut r = LogsReport::new("arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf");
        assert!(!r.ok(), "nothing read is not a success");
        r.invocations = vec![
            invocation(Outcome::Ok, None),
            invocation(Outcome::Failed, Some("db_login_failed")),
        ];
        assert!(r.ok(), "the newest succeeded");
        r.invocations.reverse();
        assert!(!r.ok());
        let text = r.to_text();
        assert!(text.contains("2026-12-01 09:12:03  setSecret         412 ms  FAILED     db_login_failed (inferred)"), "{text}");
        assert!(
            text.contains("line: setSecret: Unable to log into database"),
            "{text}"
        );
        assert!(text.trim_end().lines().last().unwrap().starts_with(
            "remedy (db_login_failed, newest failure): The password was changed outside rotation"
        ));
        let r = LogsReport::new("s").failed(
            "access_denied",
            Some("logs:FilterLogEvents".into()),
            "logs:FilterLogEvents was denied".into(),
        );
        assert!(!r.ok());
        assert!(r
            .to_text()
            .contains("ERROR access_denied: logs:FilterLogEvents was denied"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["error"]["action"], "logs:FilterLogEvents");
        assert_eq!(json["invocations"], serde_json::json!([]));
    }
}
