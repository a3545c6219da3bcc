//! The terminal face of the log: one readable line per event instead of a JSON object
//! (`--log-format text`, the CLI's default on a terminal). The JSON lines stay the contract
//! for scripts, CloudWatch and the Lambda face; this layer only renders the same events.
//!
//! A step is one line: time, step, outcome and duration. A failed step adds its cause,
//! message, remedy and evidence on indented lines, so the reason is readable at a glance:
//!
//! ```text
//! 09:12:03.120 createSecret  ok      pending_created          38 ms
//! 09:12:03.301 setSecret     FAILED  db_login_failed          12 ms
//!              message  setSecret failed: the server refused the credentials of app
//!              remedy   The password was changed outside rotation: ...
//!              evidence user=app attempts=[...]
//! ```

use super::{Fields, Sink};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Mutex;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Fields that belong to the EMF document or the line's frame, not to what a person reads.
const HIDDEN: &[&str] = &["_aws", "Step", "Cause", "StepDuration", "StepFailed"];

/// Indentation of a failure's detail lines: under the step name.
const INDENT: &str = "             ";

/// Writes each event as readable text to stdout or stderr.
pub struct TextLayer {
    sink: Sink,
    lock: Mutex<()>,
}

impl TextLayer {
    /// A layer writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        TextLayer {
            sink,
            lock: Mutex::new(()),
        }
    }
}

/// `HH:MM:SS.mmm` (UTC) of now: the date is noise on a terminal.
fn clock() -> String {
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    // 2026-12-01T09:12:03.120Z
    stamp
        .get(11..23)
        .map(str::to_string)
        .unwrap_or(stamp.clone())
}

/// `key=value` pairs of an evidence object: strings with spaces quoted, nested values as
/// compact JSON.
fn pairs(map: &Map<String, Value>) -> String {
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.contains(' ') || s.is_empty() => format!("{k}={v}"),
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Renders one event (its own fields merged over its spans') as text lines; `step_started`
/// gives none (the step's result line says all of it).
pub fn render(level: Level, fields: &Map<String, Value>) -> String {
    let event = text(fields.get("event"));
    let message = text(fields.get("message"));
    let step = text(fields.get("step"));
    let duration = fields
        .get("duration_ms")
        .and_then(Value::as_u64)
        .map(|d| format!("{d:>6} ms"))
        .unwrap_or_default();
    let now = clock();
    let mut out = match event.as_str() {
        "step_started" => String::new(),
        "step_succeeded" => format!(
            "{now} {step:<13} ok      {:<24}{duration}\n",
            text(fields.get("outcome"))
        ),
        "step_failed" => {
            let mut s = format!(
                "{now} {step:<13} FAILED  {:<24}{duration}\n",
                text(fields.get("cause"))
            );
            s.push_str(&format!("{INDENT}message  {message}\n"));
            s.push_str(&format!(
                "{INDENT}remedy   {}\n",
                text(fields.get("remedy"))
            ));
            if let Some(Value::Object(e)) = fields.get("evidence") {
                s.push_str(&format!("{INDENT}evidence {}\n", pairs(e)));
            }
            s
        }
        "finding" => {
            let mut s = format!(
                "{now} {:<13} warn    {}: {message}\n",
                step,
                text(fields.get("code"))
            );
            if let Some(Value::Object(e)) = fields.get("evidence") {
                if !e.is_empty() {
                    s.push_str(&format!("{INDENT}evidence {}\n", pairs(e)));
                }
            }
            s
        }
        "aws_call" => format!(
            "{now} {step:<13} aws     {} {} {}{duration}\n",
            text(fields.get("service")),
            text(fields.get("operation")),
            text(fields.get("outcome"))
        ),
        _ => {
            let mark = match level {
                Level::ERROR => "ERROR  ",
                Level::WARN => "warn   ",
                _ => "·      ",
            };
            let mut s = format!("{now} {step:<13} {mark} {message}");
            if let Some(d) = fields.get("duration_ms").and_then(Value::as_u64) {
                s.push_str(&format!(" ({d} ms)"));
            }
            s.push('\n');
            s
        }
    };
    // Defence in depth, as for the JSON lines: no registered secret value is ever written.
    out = super::scrub(&out);
    out
}

impl<S> Layer<S> for TextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &tracing::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut merged = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    for (k, v) in &fields.0 {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut own = Fields::default();
        event.record(&mut own);
        for (k, v) in own.0 {
            if !HIDDEN.contains(&k.as_str()) {
                merged.insert(k, v);
            }
        }
        let line = render(*event.metadata().level(), &merged);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match self.sink {
            Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_step_start_is_no_line_of_its_own() {
        let out = render(
            Level::INFO,
            &map(
                json!({"event": "step_started", "step": "createSecret", "strategy": "single_user"}),
            ),
        );
        assert_eq!(out, "");
    }

    #[test]
    fn a_success_is_one_line_with_step_outcome_and_duration() {
        let out = render(
            Level::INFO,
            &map(json!({"event": "step_succeeded", "step": "createSecret",
                        "outcome": "pending_created", "duration_ms": 38})),
        );
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("createSecret"), "{out}");
        assert!(out.contains(" ok "), "{out}");
        assert!(out.contains("pending_created"), "{out}");
        assert!(out.trim_end().ends_with("38 ms"), "{out}");
    }

    #[test]
    fn a_failure_shows_cause_message_remedy_and_evidence() {
        let out = render(
            Level::ERROR,
            &map(
                json!({"event": "step_failed", "step": "setSecret", "cause": "db_login_failed",
                        "message": "setSecret failed: refused", "remedy": "Reset the password.",
                        "duration_ms": 12, "evidence": {"user": "app", "attempts": 2,
                                                        "server_message": "no encryption"}}),
            ),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].contains("FAILED") && lines[0].contains("db_login_failed"));
        assert!(lines[1].contains("message") && lines[1].contains("refused"));
        assert!(lines[2].contains("remedy") && lines[2].contains("Reset the password."));
        assert!(lines[3].contains("user=app") && lines[3].contains("attempts=2"));
        assert!(
            lines[3].contains(r#"server_message="no encryption""#),
            "{out}"
        );
    }
}
