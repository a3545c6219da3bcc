//! Invocations rebuilt from log events: lines tied together by request id, and the lines
//! that carry none (an unhandled exception's traceback, init errors) by their place in their
//! stream: one stream is one execution environment, which runs one invocation at a time.

use super::line::{self, AppLine, Line};
use super::LogEvent;
use std::collections::HashMap;

/// One invocation's lines, as the stream gave them.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// The request id.
    pub request_id: String,
    /// When START was written, else the first line seen.
    pub timestamp_ms: i64,
    /// START was in the window (else the stream was cut before it).
    pub started: bool,
    /// END or REPORT was seen: the invocation is over.
    pub ended: bool,
    /// The function's own lines, in order.
    pub lines: Vec<AppLine>,
    /// REPORT's Duration.
    pub duration_ms: Option<f64>,
    /// "Task timed out", or a REPORT with status timeout.
    pub timed_out: bool,
    /// A REPORT with another failed status (`error`, `Runtime.ExitError`, ...).
    pub platform_error: bool,
}

/// Rebuilds every invocation in `events` (any order, any mix of streams).
pub fn invocations(events: &[LogEvent]) -> Vec<Raw> {
    let mut by_stream: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        by_stream.entry(e.stream.as_str()).or_default().push(i);
    }
    let mut found: HashMap<String, Raw> = HashMap::new();
    let mut streams: Vec<_> = by_stream.into_iter().collect();
    streams.sort_by(|a, b| a.0.cmp(b.0));
    for (_, mut idx) in streams {
        // Stable: events of one millisecond keep the order CloudWatch gave them.
        idx.sort_by_key(|&i| events[i].timestamp_ms);
        let mut current: Option<String> = None;
        let mut pending: Vec<(i64, AppLine)> = Vec::new();
        for i in idx {
            let e = &events[i];
            match line::parse(&e.message) {
                Line::Start { request_id } if !request_id.is_empty() => {
                    let raw = get(&mut found, &request_id, e.timestamp_ms);
                    raw.started = true;
                    raw.timestamp_ms = e.timestamp_ms;
                    // Init lines written before START belong to this invocation.
                    adopt(raw, &mut pending);
                    current = Some(request_id);
                }
                Line::End { request_id } | Line::Report { request_id, .. }
                    if request_id.is_empty() => {}
                Line::End { request_id } => {
                    let raw = get(&mut found, &request_id, e.timestamp_ms);
                    raw.ended = true;
                    // A stream cut before START: what came before END is this invocation's.
                    adopt(raw, &mut pending);
                    current = None;
                }
                Line::Report {
                    request_id,
                    duration_ms,
                    status,
                } => {
                    let raw = get(&mut found, &request_id, e.timestamp_ms);
                    raw.ended = true;
                    adopt(raw, &mut pending);
                    raw.duration_ms = duration_ms.or(raw.duration_ms);
                    match status.as_deref() {
                        Some("timeout") => raw.timed_out = true,
                        Some(_) => raw.platform_error = true,
                        None => {}
                    }
                    current = None;
                }
                Line::Timeout { request_id } => {
                    if let Some(id) = request_id.or_else(|| current.clone()) {
                        get(&mut found, &id, e.timestamp_ms).timed_out = true;
                    }
                }
                Line::Start { .. } | Line::Platform => {}
                Line::App(app) => {
                    let id = app.request_id.clone().or_else(|| current.clone());
                    match id {
                        Some(id) => get(&mut found, &id, e.timestamp_ms).lines.push(app),
                        None => pending.push((e.timestamp_ms, app)),
                    }
                }
            }
        }
        // Lines left with no invocation after them are not tied to any (another program's
        // lines, or an init whose invocation lies past the window).
    }
    found.into_values().collect()
}

fn get<'a>(found: &'a mut HashMap<String, Raw>, id: &str, at: i64) -> &'a mut Raw {
    found.entry(id.to_string()).or_insert_with(|| Raw {
        request_id: id.to_string(),
        timestamp_ms: at,
        ..Raw::default()
    })
}

fn adopt(raw: &mut Raw, pending: &mut Vec<(i64, AppLine)>) {
    if pending.is_empty() {
        return;
    }
    if !raw.started {
        if let Some((at, _)) = pending.first() {
            raw.timestamp_ms = raw.timestamp_ms.min(*at);
        }
    }
    let mut before: Vec<AppLine> = pending.drain(..).map(|(_, l)| l).collect();
    before.append(&mut raw.lines);
    raw.lines = before;
}
