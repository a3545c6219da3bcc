//! Reading a function's log group: which group (the function's logging configuration, else
//! `/aws/lambda/<name>`), over which window, paged and bounded, every call through
//! [`Clients::call`]. And, for `audit --deep`, each secret's last rotation from one read of
//! its function's group.

use super::{invocations, Invocation, LogEvent};
use crate::outside::{AwsError, Clients};
use std::collections::HashMap;

/// How much one read of a group may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Events asked for per FilterLogEvents page.
    pub page: i32,
    /// At most this many events per window.
    pub max_events: usize,
    /// At most this many pages per window (AWS may answer pages with few or no events while
    /// it scans).
    pub max_pages: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            // The API's maximum.
            page: 10_000,
            max_events: 200_000,
            max_pages: 1_000,
        }
    }
}

/// A time window, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// From (inclusive).
    pub start_ms: i64,
    /// To (inclusive).
    pub end_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Window {
    /// The last `span` up to now.
    pub fn since(span: std::time::Duration) -> Window {
        let end_ms = now_ms();
        Window {
            start_ms: end_ms - span.as_millis() as i64,
            end_ms,
        }
    }

    /// The default window of a secret: from a day before its last rotation up to now, so it
    /// holds that rotation and every attempt since; a secret that never rotated is read over
    /// its rotation interval (30 days when none is known) and a day more.
    pub fn default_for(last_rotated_ms: Option<i64>, interval_days: Option<i64>) -> Window {
        let end_ms = now_ms();
        let start_ms = match last_rotated_ms {
            Some(at) => at - DAY_MS,
            None => end_ms - (interval_days.unwrap_or(30).max(1) + 1) * DAY_MS,
        };
        Window {
            start_ms: start_ms.min(end_ms),
            end_ms,
        }
    }

    /// The smallest window holding all of `windows` (one read serves them all).
    pub fn covering(windows: &[Window]) -> Option<Window> {
        let start_ms = windows.iter().map(|w| w.start_ms).min()?;
        let end_ms = windows.iter().map(|w| w.end_ms).max()?;
        Some(Window { start_ms, end_ms })
    }
}

/// Parses `90m`, `6h`, `30d` (also `s` and `w`).
pub fn parse_since(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a duration: use a number and a unit, like 90m, 6h or 30d")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration: use a number and a unit (s, m, h, d, w), like 90m, 6h or 30d"
            ))
        }
    };
    if n == 0 {
        return Err("--since must be more than zero".into());
    }
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

/// Why the log group could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsError {
    /// The log group does not exist (the function never ran, or logs elsewhere).
    GroupNotFound(String),
    /// A read was denied: the error names the permission (`logs:FilterLogEvents`).
    Denied(AwsError),
    /// Any other AWS error.
    Aws(AwsError),
}

impl std::fmt::Display for LogsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogsError::GroupNotFound(group) => write!(
                f,
                "the log group {group} does not exist: the function has not run since it was created, or it logs to another group"
            ),
            LogsError::Denied(e) => write!(
                f,
                "{} was denied ({e}): grant the caller {} on the function's log group",
                e.action, e.action
            ),
            LogsError::Aws(e) => write!(f, "{} failed: {e}", e.action),
        }
    }
}

impl From<AwsError> for LogsError {
    fn from(e: AwsError) -> Self {
        if e.denied() {
            LogsError::Denied(e)
        } else {
            LogsError::Aws(e)
        }
    }
}

/// What one read of a group gave.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// The events, as FilterLogEvents gave them.
    pub events: Vec<LogEvent>,
    /// FilterLogEvents calls made (in all attempts).
    pub calls: u32,
    /// The window held more than the bounds allow: only its newest part was read, from
    /// `from_ms`.
    pub truncated: bool,
    /// Where the events read begin (the window's start unless truncated).
    pub from_ms: i64,
}

/// The function's log group: its logging configuration's, else `/aws/lambda/<name>`. Also
/// gives the function's runtime when it could be read; a denied or failed
/// GetFunctionConfiguration falls back to the default group (and no runtime).
pub async fn log_group_of(
    clients: &Clients,
    function: &str,
) -> (String, Option<String>, Option<AwsError>) {
    let name = crate::text::function_name(function);
    let default = format!("/aws/lambda/{name}");
    match clients
        .call(
            "lambda",
            "GetFunctionConfiguration",
            clients
                .lambda
                .get_function_configuration()
                .function_name(function)
                .send(),
        )
        .await
    {
        Ok(conf) => {
            let group = conf
                .logging_config()
                .and_then(|l| l.log_group())
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .unwrap_or(default);
            let runtime = conf.runtime().map(|r| r.as_str().to_string());
            (group, runtime, None)
        }
        Err(e) => (default, None, Some(e)),
    }
}

/// Reads `group` over `window` within the default [`Bounds`].
pub async fn read_group(clients: &Clients, group: &str, window: Window) -> Result<Read, LogsError> {
    read_group_bounded(clients, group, window, Bounds::default()).await
}

/// Reads `group` over `window`, page by page. FilterLogEvents gives the oldest events first,
/// and the newest are the ones that matter: when the window holds more than `bounds` allow,
/// its newer half is read instead, and so on, so what is read is always the newest part.
pub async fn read_group_bounded(
    clients: &Clients,
    group: &str,
    window: Window,
    bounds: Bounds,
) -> Result<Read, LogsError> {
    let mut w = window;
    let mut calls = 0;
    loop {
        let (mut read, complete) = read_once(clients, group, w, bounds).await?;
        calls += read.calls;
        // A window under a second cannot be halved usefully: keep what it gave.
        if complete || w.end_ms - w.start_ms < 1_000 {
            read.calls = calls;
            read.truncated = w != window || !complete;
            read.from_ms = w.start_ms;
            return Ok(read);
        }
        w.start_ms += (w.end_ms - w.start_ms) / 2;
    }
}

/// One paged pass over `window`; false when the bounds stopped it before the end.
async fn read_once(
    clients: &Clients,
    group: &str,
    window: Window,
    bounds: Bounds,
) -> Result<(Read, bool), LogsError> {
    let mut read = Read::default();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .call(
                "logs",
                "FilterLogEvents",
                clients
                    .logs
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(window.start_ms)
                    .end_time(window.end_ms)
                    .limit(bounds.page)
                    .set_next_token(token.take())
                    .send(),
            )
            .await
            .map_err(|e| {
                if e.not_found() {
                    LogsError::GroupNotFound(group.to_string())
                } else {
                    LogsError::from(e)
                }
            })?;
        read.calls += 1;
        for e in page.events() {
            read.events.push(LogEvent {
                stream: e.log_stream_name().unwrap_or("").to_string(),
                timestamp_ms: e.timestamp().unwrap_or(0),
                message: e.message().unwrap_or("").to_string(),
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok((read, true));
        }
        if read.events.len() >= bounds.max_events || read.calls >= bounds.max_pages {
            return Ok((read, false));
        }
    }
}

/// For `audit --deep`: each secret's newest invocation in the function's log group (None
/// when the window holds none for it), from ONE read of the group over `window`, however
/// many secrets the function rotates (use [`Window::covering`] for their windows).
pub async fn last_rotations(
    clients: &Clients,
    function: &str,
    secret_arns: &[String],
    window: Window,
) -> Result<LastRotations, LogsError> {
    let (group, _, function_error) = log_group_of(clients, function).await;
    let read = read_group(clients, &group, window).await?;
    let all = invocations(&read.events);
    let by_secret = secret_arns
        .iter()
        .map(|arn| {
            let newest = all.iter().find(|i| i.concerns(arn)).cloned();
            (arn.clone(), newest)
        })
        .collect();
    Ok(LastRotations {
        log_group: group,
        function_error,
        truncated: read.truncated,
        from_ms: read.from_ms,
        calls: read.calls,
        by_secret,
    })
}

/// What [`last_rotations`] gives.
#[derive(Debug, Clone)]
pub struct LastRotations {
    /// The log group read.
    pub log_group: String,
    /// GetFunctionConfiguration failed (denied, say): the default group was read.
    pub function_error: Option<AwsError>,
    /// The window held more than one read takes: only its newest part was read.
    pub truncated: bool,
    /// Where the events read begin.
    pub from_ms: i64,
    /// FilterLogEvents calls made.
    pub calls: u32,
    /// Each secret ARN asked about, and its newest invocation in the window.
    pub by_secret: HashMap<String, Option<Invocation>>,
}
