//! Structured logging: every line is one JSON object with an `event` field (`step_started`,
//! `step_succeeded`, `step_failed`, `db_connected`, `password_changed`, `finding`,
//! `aws_call`, ...), a `timestamp`, a `level` and a `message`.
//!
//! Events are ordinary `tracing` events carrying an `event` field; [`JsonLayer`] writes them
//! flat, merges the fields of enclosing spans (`secret_id`, `step`, `version_id`,
//! `request_id`), embeds JSON-valued fields (`evidence`, `_aws`) as objects, and scrubs every
//! registered secret value from every string before a byte is written. The `step_succeeded`
//! and `step_failed` lines are also CloudWatch Embedded Metric Format documents.

use crate::diagnosis::Failure;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use zeroize::Zeroize;

/// The CloudWatch metric namespace of the EMF documents.
pub const METRIC_NAMESPACE: &str = "DbSecretRotator";

/// Fields whose string value is JSON text to embed as a value.
const JSON_FIELDS: &[&str] = &["evidence", "_aws", "attempts", "checks"];

/// Secret strings shorter than this are not scrubbed (they would blank ordinary words);
/// generated passwords are far longer, and test fixtures use long ones.
const MIN_SCRUB_LEN: usize = 6;

/// A registered value; its bytes are wiped when it is dropped.
struct Key(String);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Key {}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// How a value is held: by the scopes that registered it, or for the life of the process.
#[derive(Default)]
struct Holds {
    scopes: usize,
    process: bool,
}

/// Every value to hide, and one matcher over all of them (built on first use after a change).
#[derive(Default)]
struct Registry {
    values: HashMap<Key, Holds>,
    matcher: Option<Arc<AhoCorasick>>,
}

impl Registry {
    fn release(&mut self, value: &str) {
        let gone = match self.values.get_mut(value) {
            Some(h) => {
                h.scopes = h.scopes.saturating_sub(1);
                h.scopes == 0 && !h.process
            }
            None => false,
        };
        if gone {
            self.values.remove(value);
            self.matcher = None;
        }
    }
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn write_registry() -> std::sync::RwLockWriteGuard<'static, Registry> {
    registry().write().unwrap_or_else(|e| e.into_inner())
}

/// The values one invocation registered; released when the last handle to it is dropped.
#[derive(Default)]
struct Scope {
    values: Mutex<Vec<Key>>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        let values = std::mem::take(self.values.get_mut().unwrap_or_else(|e| e.into_inner()));
        let mut reg = write_registry();
        for v in &values {
            reg.release(&v.0);
        }
    }
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// Runs `fut` as one invocation for the scrubber: values registered while it runs (on its
/// task) are hidden until it completes, then forgotten and wiped, so a warm process holds
/// only what its current invocation read. A value needed later is registered again when it
/// is read again (every [`crate::secret::Password`] is registered when it is made, once
/// [`init`] has installed the scrubber as its watcher).
pub async fn scoped<F: std::future::Future>(fut: F) -> F::Output {
    SCOPE.scope(Arc::new(Scope::default()), fut).await
}

/// [`scoped`] for synchronous work (a fuzz target, a test): values registered inside `f` on
/// this thread are forgotten and wiped when it returns.
pub fn scoped_sync<R>(f: impl FnOnce() -> R) -> R {
    SCOPE.sync_scope(Arc::new(Scope::default()), f)
}

/// Registers a secret value: from now on it is replaced by `***` in every log line. Inside
/// [`scoped`] it is hidden until that invocation ends; outside any scope (the one-shot
/// command-line tool), for the life of the process.
pub fn register_sensitive(value: &str) {
    if value.len() < MIN_SCRUB_LEN {
        return;
    }
    let scope = SCOPE.try_with(Arc::clone).ok();
    if let Some(scope) = &scope {
        let mut mine = scope.values.lock().unwrap_or_else(|e| e.into_inner());
        if mine.iter().any(|v| v.0 == value) {
            return;
        }
        mine.push(Key(value.to_string()));
    }
    let mut reg = write_registry();
    let holds = match reg.values.get_mut(value) {
        Some(h) => h,
        None => {
            reg.matcher = None;
            reg.values.entry(Key(value.to_string())).or_default()
        }
    };
    match scope {
        Some(_) => holds.scopes += 1,
        None => holds.process = true,
    }
}

/// How many distinct values the scrubber holds now (benchmarks and tests watch it).
pub fn registered_count() -> usize {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values
        .len()
}

/// The matcher over every registered value, or `None` when nothing is registered.
fn matcher() -> Option<Arc<AhoCorasick>> {
    {
        let reg = registry().read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &reg.matcher {
            return Some(Arc::clone(m));
        }
        if reg.values.is_empty() {
            return None;
        }
    }
    let mut reg = write_registry();
    if reg.matcher.is_none() && !reg.values.is_empty() {
        // Standard semantics with overlapping matches: every occurrence of every value is
        // found, so overlapping values are hidden whole (their union), whatever their order.
        // A contiguous NFA: a fraction of a DFA's memory, nearly its speed on short lines.
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(reg.values.keys().map(|k| k.0.as_str()))
            .ok()?;
        reg.matcher = Some(Arc::new(built));
    }
    reg.matcher.clone()
}

/// Replaces every registered secret value in `text` with `***`, in one pass over the text.
pub fn scrub(text: &str) -> String {
    let Some(m) = matcher() else {
        return text.to_string();
    };
    // Most lines hold no secret: a search for the first match (prefiltered, fast) says so;
    // only a line with a match is searched again for every overlapping occurrence.
    if m.find(text).is_none() {
        return text.to_string();
    }
    let mut hits: Vec<(usize, usize)> = m
        .find_overlapping_iter(text)
        .map(|h| (h.start(), h.end()))
        .collect();
    if hits.is_empty() {
        return text.to_string();
    }
    hits.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < hits.len() {
        let (start, mut end) = hits[i];
        i += 1;
        while i < hits.len() && hits[i].0 <= end {
            end = end.max(hits[i].1);
            i += 1;
        }
        out.push_str(&text[copied..start]);
        out.push_str("***");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces every registered secret value in every string of a JSON value.
pub fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

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
/// failure in CloudWatch). Panics are still reported, by the hook in [`init`].
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

/// Installs the JSON layer as the global subscriber (once per process), and a panic hook
/// that reports a panic as one JSON line (scrubbed like every other) instead of free text.
/// The panic itself still unwinds: lambda_runtime turns it into a failed invocation.
pub fn init(sink: Sink) {
    init_with(sink, LogFormat::Json);
}

/// How log lines look: the JSON contract, or text for a person at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the contract).
    Json,
    /// One readable line per step ([`crate::log_text`]).
    Text,
}

/// [`init`] with a choice of format.
pub fn init_with(sink: Sink, format: LogFormat) {
    // Every password read from now on is hidden from the log lines of its invocation.
    crate::secret::watch_new_passwords(register_sensitive);
    let _ = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(JsonLayer::new(sink).with_filter(filter()))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(crate::log_text::TextLayer::new(sink == Sink::Stderr).with_filter(filter()))
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

/// `aws_call` (DEBUG).
pub fn aws_call(service: &str, operation: &str, duration_ms: u64, outcome: &str) {
    tracing::debug!(
        event = "aws_call",
        service,
        operation,
        duration_ms,
        outcome,
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
    let Connected {
        engine,
        host,
        port,
        user,
        secret,
        tls,
        auth,
        duration_ms,
    } = c;
    // `auth` is an Option: tracing records the field only when it is Some.
    tracing::info!(
        event = "db_connected",
        engine,
        host,
        port,
        user,
        secret,
        tls,
        auth = *auth,
        duration_ms,
        "logged in to {engine} at {host}:{port} as {user} with the {secret} secret"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_scrubbed_everywhere() {
        register_sensitive("s3cr3t-Pa55");
        register_sensitive("abc"); // too short to scrub
        let mut v = json!({"a": "x s3cr3t-Pa55 y", "b": ["s3cr3t-Pa55"], "c": {"d": "abc"}});
        scrub_value(&mut v);
        assert_eq!(v, json!({"a": "x *** y", "b": ["***"], "c": {"d": "abc"}}));
    }

    #[test]
    fn overlapping_values_are_hidden_whole_in_any_order() {
        register_sensitive("overlap-AAAA-1234");
        register_sensitive("1234-BBBB-overlap");
        register_sensitive("AAAA-12");
        assert_eq!(
            scrub("<overlap-AAAA-1234-BBBB-overlap> overlap-AAAA-1234overlap-AAAA-1234."),
            "<***> ***."
        );
        assert_eq!(scrub("no secret here"), "no secret here");
    }

    #[test]
    fn a_scope_forgets_and_wipes_what_it_registered() {
        let inside = "scoped-secret-only-inside-1";
        let both = "scoped-secret-also-outside-2";
        register_sensitive(both);
        let line = format!("{inside} {both}");
        let during = scoped_sync(|| {
            register_sensitive(inside);
            register_sensitive(inside);
            register_sensitive(both);
            // Nested work sees the same scope's values.
            scrub(&line)
        });
        assert_eq!(during, "*** ***");
        // After the invocation only the process-wide value is still hidden.
        assert_eq!(scrub(&line), format!("{inside} ***"));
        // Read again by a later invocation, it is hidden again for that invocation.
        let again = scoped_sync(|| {
            register_sensitive(inside);
            scrub(&line)
        });
        assert_eq!(again, "*** ***");
        assert_eq!(scrub(&line), format!("{inside} ***"));
    }

    #[test]
    fn concurrent_scopes_keep_a_shared_value_until_both_end() {
        let shared = "shared-between-two-invocations";
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let first = scoped(async {
                register_sensitive(shared);
                rx.await.unwrap();
                scrub(shared)
            });
            let second = scoped(async {
                register_sensitive(shared);
                tokio::task::yield_now().await;
                let seen = scrub(shared);
                tx.send(()).unwrap();
                seen
            });
            let (a, b) = tokio::join!(first, second);
            assert_eq!((a.as_str(), b.as_str()), ("***", "***"));
        });
        assert_eq!(scrub(shared), shared);
    }
}
