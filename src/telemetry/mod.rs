//! Structured logging: every line is one JSON object with an `event` field (`step_started`,
//! `step_succeeded`, `step_failed`, `db_connected`, `password_changed`, `finding`,
//! `aws_call`, ...), a `timestamp`, a `level` and a `message`.
//!
//! Events are ordinary `tracing` events carrying an `event` field; [`JsonLayer`] writes them
//! flat, merges the fields of enclosing spans (`secret_id`, `step`, `version_id`,
//! `request_id`), embeds JSON-valued fields (`evidence`, `_aws`) as objects, and scrubs every
//! registered secret value from every string before a byte is written. The `step_succeeded`
//! and `step_failed` lines are also CloudWatch Embedded Metric Format documents.

mod scrub;
pub mod text;

pub use scrub::{register_sensitive, registered_count, scoped, scoped_sync, scrub, scrub_value};

use crate::failure::Failure;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The CloudWatch metric namespace of the EMF documents.
pub const METRIC_NAMESPACE: &str = "DbSecretRotator";

/// Fields whose string value is JSON text to embed as a value.
const JSON_FIELDS: &[&str] = &["evidence", "_aws", "attempts", "checks"];

/// An event's or span's fields as JSON values (shared by the JSON and the text layer).
#[derive(Default)]
pub(crate) struct Fields(pub(crate) Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let v = if JSON_FIELDS.contains(&name) {
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
        } else {
            Value::String(value.to_string())
        };
        self.0.insert(name.to_string(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Where log lines go: stdout (the contract), or stderr when stdout carries a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Writes each event as one JSON line.
pub struct JsonLayer {
    sink: Sink,
    lock: Mutex<()>,
}

impl JsonLayer {
    /// A layer writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        JsonLayer {
            sink,
            lock: Mutex::new(()),
        }
    }
}

/// Span field names as other crates spell them, mapped onto the contract's names.
fn context_name(name: &str) -> &str {
    match name {
        "requestId" => "request_id",
        other => other,
    }
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut own = Fields::default();
        event.record(&mut own);
        let meta = event.metadata();

        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            humantime::format_rfc3339_millis(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        let name = own
            .0
            .remove("event")
            .unwrap_or_else(|| Value::String("log".into()));
        line.insert("event".into(), name.clone());
        line.insert(
            "message".into(),
            own.0.remove("message").unwrap_or_else(|| "".into()),
        );
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    for (k, v) in &fields.0 {
                        line.insert(context_name(k).to_string(), v.clone());
                    }
                }
            }
        }
        if name == "log" {
            line.insert("target".into(), meta.target().into());
        }
        for (k, v) in own.0 {
            line.insert(k, v);
        }
        let mut value = Value::Object(line);
        scrub_value(&mut value);
        let mut text = value.to_string();
        text.push('\n');
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Sink::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        };
    }
}

/// The level filter, without lambda_runtime's own ERROR line per failed invocation: it
/// repeats the failure's Debug form after our `step_failed` line (a second ERROR for one
/// failure in CloudWatch). Panics are still reported, by the hook in [`init_with`].
fn filter() -> EnvFilter {
    base_filter().add_directive(
        "lambda_runtime::layers::panic=off"
            .parse()
            .expect("a valid directive"),
    )
}

/// Lambda's `AWS_LAMBDA_LOG_LEVEL` (set by its JSON logging configuration), else
/// `RUST_LOG`, else INFO for this crate and WARN for dependencies.
fn base_filter() -> EnvFilter {
    if let Ok(level) = std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        let level = match level.to_ascii_lowercase().as_str() {
            "trace" | "debug" => "debug",
            "warn" => "warn",
            "error" | "fatal" => "error",
            _ => "info",
        };
        return EnvFilter::new(format!("warn,db_secret_rotator={level}"));
    }
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,db_secret_rotator=info"))
}

/// How log lines look: the JSON contract, or text for a person at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the contract).
    Json,
    /// One readable line per step ([`crate::telemetry::text`]).
    Text,
}

/// Installs the log layer (JSON or text) as the global subscriber (once per process), and a
/// panic hook that reports a panic as one JSON line (scrubbed like every other) instead of
/// free text. The panic itself still unwinds: lambda_runtime turns it into a failed invocation.
pub fn init_with(sink: Sink, format: LogFormat) {
    let _ = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(JsonLayer::new(sink).with_filter(filter()))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(text::TextLayer::new(sink).with_filter(filter()))
            .try_init(),
    };
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(
            event = "panic",
            location = location.as_str(),
            "panic: {payload}"
        );
    }));
}

/// The `_aws` block: the metric values are the line's own `StepDuration` / `StepFailed`
/// members, dimensioned by its `Step` and `Cause` members.
fn emf() -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    json!({
        "Timestamp": now_ms,
        "CloudWatchMetrics": [{
            "Namespace": METRIC_NAMESPACE,
            "Dimensions": [["Step"], ["Step", "Cause"]],
            "Metrics": [
                {"Name": "StepDuration", "Unit": "Milliseconds"},
                {"Name": "StepFailed", "Unit": "Count"}
            ]
        }]
    })
    .to_string()
}

/// `step_started`.
pub fn step_started(step: &str, strategy: &str) {
    tracing::info!(event = "step_started", step, strategy, "{step} started");
}

/// `step_succeeded`, also an EMF document (StepFailed = 0, Cause = "none").
pub fn step_succeeded(step: &str, duration_ms: u64, outcome: &str) {
    tracing::info!(
        event = "step_succeeded",
        step,
        duration_ms,
        outcome,
        Step = step,
        Cause = "none",
        StepDuration = duration_ms,
        StepFailed = 0u64,
        _aws = emf().as_str(),
        "{step} succeeded: {outcome}"
    );
}

/// `step_failed`, also an EMF document (StepFailed = 1, Cause = the code).
pub fn step_failed(step: &str, duration_ms: u64, failure: &Failure) {
    let cause = failure.cause.code();
    let evidence = Value::Object((*failure.evidence).clone()).to_string();
    tracing::error!(
        event = "step_failed",
        step,
        duration_ms,
        cause,
        remedy = failure.remedy.as_str(),
        evidence = evidence.as_str(),
        Step = step,
        Cause = cause,
        StepDuration = duration_ms,
        StepFailed = 1u64,
        _aws = emf().as_str(),
        "{step} failed: {}",
        failure.message
    );
}

/// `finding`: a problem worth a look that did not fail the step.
pub fn finding(code: &str, message: &str, evidence: &Map<String, Value>) {
    let evidence = Value::Object(evidence.clone()).to_string();
    tracing::warn!(
        event = "finding",
        code,
        evidence = evidence.as_str(),
        "{message}"
    );
}

/// `aws_call` (DEBUG). `caller` is `function` for the rotation function's own calls (its
/// role's), `operator` for the read-only commands run with an operator's credentials.
pub fn aws_call(service: &str, operation: &str, duration_ms: u64, outcome: &str, caller: &str) {
    tracing::debug!(
        event = "aws_call",
        service,
        operation,
        duration_ms,
        outcome,
        caller,
        "{service} {operation}: {outcome}"
    );
}

/// What `db_connected` reports.
#[derive(Debug, Clone)]
pub struct Connected<'a> {
    /// Engine family name.
    pub engine: &'a str,
    /// Host.
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// User logged in.
    pub user: &'a str,
    /// Which stage's credentials.
    pub secret: &'a str,
    /// `verified`, `unverified` or `none`.
    pub tls: &'a str,
    /// Authentication method, when known.
    pub auth: Option<&'a str>,
    /// Connect and login time.
    pub duration_ms: u64,
}

/// `db_connected`.
pub fn db_connected(c: &Connected<'_>) {
    // `auth` is an Option: tracing records the field only when it is Some.
    tracing::info!(
        event = "db_connected",
        engine = c.engine,
        host = c.host,
        port = c.port,
        user = c.user,
        secret = c.secret,
        tls = c.tls,
        auth = c.auth,
        duration_ms = c.duration_ms,
        "logged in to {} at {}:{} as {} with the {} secret",
        c.engine,
        c.host,
        c.port,
        c.user,
        c.secret
    );
}

/// `password_changed`.
pub fn password_changed(user: &str, method: &str) {
    tracing::info!(
        event = "password_changed",
        user,
        method,
        "password of {user} changed ({method})"
    );
}
