//! One CloudWatch log event read as what wrote it: the Lambda platform (START, END, REPORT,
//! "Task timed out", init lines), a Python function's logger or runtime (`[ERROR]\t...`,
//! `[ERROR] Type: message` with its traceback), or this function's own JSON events. Both of
//! Lambda's log formats are read: text, and JSON (`platform.start`, `platform.report`, and the
//! Python runtime's JSON records).

use serde_json::{Map, Value};

/// What one log event is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// `START RequestId: ...`.
    Start { request_id: String },
    /// `END RequestId: ...`.
    End { request_id: String },
    /// `REPORT RequestId: ...\tDuration: 412.34 ms\t...`: the duration, and the status when
    /// the platform gives one (`timeout`, `error`).
    Report {
        request_id: String,
        duration_ms: Option<f64>,
        status: Option<String>,
    },
    /// `<time> <request id> Task timed out after 30.03 seconds`.
    Timeout { request_id: Option<String> },
    /// Other platform lines (INIT_START, INIT_REPORT, EXTENSION, ...): they tie nothing.
    Platform,
    /// What the function itself wrote.
    App(AppLine),
}

/// A line the function wrote.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppLine {
    /// The request id the line carries, when it carries one (init lines carry none).
    pub request_id: Option<String>,
    /// Logged at ERROR (or FATAL), or an unhandled exception.
    pub error: bool,
    /// The runtime's report of an unhandled exception (`[ERROR] Type: message` and its
    /// traceback, or a JSON record with `errorType`): the invocation failed. A logger's ERROR
    /// line alone does not say so: the reference logs a failed TLS attempt at ERROR and then
    /// falls back to plaintext and succeeds.
    pub unhandled: bool,
    /// The line's message: its first line only (a traceback follows on the others).
    pub text: String,
    /// This function's own JSON event, when the line is one.
    pub own: Option<Map<String, Value>>,
}

/// Reads one event's message.
pub fn parse(message: &str) -> Line {
    let message = message.trim_end_matches(['\n', '\r']);
    if message.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(message) {
            return json_line(map);
        }
    }
    if let Some(rest) = message.strip_prefix("START RequestId: ") {
        return Line::Start {
            request_id: first_word(rest),
        };
    }
    if let Some(rest) = message.strip_prefix("END RequestId: ") {
        return Line::End {
            request_id: first_word(rest),
        };
    }
    if let Some(rest) = message.strip_prefix("REPORT RequestId: ") {
        return report(rest);
    }
    if let Some(at) = message.find("Task timed out after ") {
        // `2026-12-01T09:12:33.152Z 3f6a... Task timed out after 30.03 seconds`.
        let words: Vec<&str> = message[..at].split_whitespace().collect();
        let request_id = match words.as_slice() {
            [_, id] => Some(id.to_string()),
            _ => None,
        };
        return Line::Timeout { request_id };
    }
    if [
        "INIT_START",
        "INIT_REPORT",
        "EXTENSION",
        "TELEMETRY",
        "RESTORE_",
    ]
    .iter()
    .any(|p| message.starts_with(p))
    {
        return Line::Platform;
    }
    Line::App(python_text(message))
}

fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or("").to_string()
}

/// The REPORT line's fields are tab-separated `Name: value` pairs.
fn report(rest: &str) -> Line {
    let mut fields = rest.split('\t');
    let request_id = first_word(fields.next().unwrap_or(""));
    let mut duration_ms = None;
    let mut status = None;
    for field in fields {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Duration: ") {
            duration_ms = v.trim_end_matches(" ms").trim().parse().ok();
        } else if let Some(v) = field.strip_prefix("Status: ") {
            status = Some(v.trim().to_string());
        }
    }
    Line::Report {
        request_id,
        duration_ms,
        status,
    }
}

/// Python's text lines: `[LEVEL]\t<time>\t<request id>\t<message>` from the logger, and
/// `[ERROR] Type: message\nTraceback ...` from the runtime for an unhandled exception (no
/// request id: it is tied by its place in the stream). Anything else is kept as it is.
fn python_text(message: &str) -> AppLine {
    let first = message.lines().next().unwrap_or("");
    if let Some(rest) = first.strip_prefix('[') {
        if let Some((level, rest)) = rest.split_once(']') {
            let error = matches!(level, "ERROR" | "CRITICAL" | "FATAL");
            if let Some(tabbed) = rest.strip_prefix('\t') {
                let parts: Vec<&str> = tabbed.splitn(3, '\t').collect();
                if let [_time, id, text] = parts.as_slice() {
                    return AppLine {
                        request_id: Some(id.to_string()).filter(|id| !id.is_empty()),
                        error,
                        unhandled: false,
                        text: text.to_string(),
                        own: None,
                    };
                }
            }
            let text = rest.trim_start().to_string();
            // `[ERROR] ValueError: ...`, `[ERROR] Runtime.ImportModuleError: ...`.
            let unhandled = error && text.split(':').next().is_some_and(error_type);
            return AppLine {
                request_id: None,
                error,
                unhandled,
                text,
                own: None,
            };
        }
    }
    AppLine {
        request_id: None,
        error: false,
        unhandled: false,
        text: first.to_string(),
        own: None,
    }
}

/// An exception type name: `ValueError`, `Runtime.ImportModuleError`, `botocore.exceptions.ClientError`.
fn error_type(word: &str) -> bool {
    !word.is_empty()
        && !word.contains(' ')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A JSON line: Lambda's JSON platform records, this function's events, or a Python
/// runtime's JSON record (`level`/`log_level`, `message`, `requestId`; an unhandled
/// exception as `errorType` and `errorMessage`).
fn json_line(map: Map<String, Value>) -> Line {
    if let Some(kind) = str_of(&map, "type").filter(|t| t.starts_with("platform.")) {
        let record = map.get("record").cloned().unwrap_or(Value::Null);
        let request_id = record
            .get("requestId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return match kind {
            "platform.start" => Line::Start { request_id },
            "platform.end" | "platform.runtimeDone" => Line::End { request_id },
            "platform.report" => Line::Report {
                request_id,
                duration_ms: record
                    .pointer("/metrics/durationMs")
                    .and_then(Value::as_f64),
                status: record
                    .get("status")
                    .and_then(Value::as_str)
                    .filter(|s| *s != "success")
                    .map(str::to_string),
            },
            _ => Line::Platform,
        };
    }
    let level = str_of(&map, "level")
        .or_else(|| str_of(&map, "log_level"))
        .unwrap_or("")
        .to_ascii_uppercase();
    let request_id = str_of(&map, "request_id")
        .or_else(|| str_of(&map, "requestId"))
        .filter(|id| !id.is_empty())
        .map(str::to_string);
    if map.get("event").and_then(Value::as_str).is_some() {
        let text = str_of(&map, "message").unwrap_or("").to_string();
        return Line::App(AppLine {
            request_id,
            error: level == "ERROR",
            unhandled: false,
            text,
            own: Some(map),
        });
    }
    let error_type = str_of(&map, "errorType");
    let text = match (error_type, str_of(&map, "errorMessage")) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        _ => str_of(&map, "message").unwrap_or("").to_string(),
    };
    let text = text.lines().next().unwrap_or("").to_string();
    Line::App(AppLine {
        request_id,
        error: error_type.is_some() || matches!(level.as_str(), "ERROR" | "CRITICAL" | "FATAL"),
        unhandled: error_type.is_some(),
        text,
        own: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8f5a1c2e-3b4d-4e6f-9a0b-1c2d3e4f5a6b";

    #[test]
    fn platform_lines_give_their_request_id_duration_and_status() {
        assert_eq!(
            parse(&format!("START RequestId: {ID} Version: $LATEST\n")),
            Line::Start {
                request_id: ID.into()
            }
        );
        assert_eq!(
            parse(&format!("END RequestId: {ID}\n")),
            Line::End {
                request_id: ID.into()
            }
        );
        assert_eq!(
            parse(&format!("REPORT RequestId: {ID}\tDuration: 412.34 ms\tBilled Duration: 413 ms\tMemory Size: 128 MB\tMax Memory Used: 80 MB\tInit Duration: 251.20 ms\t\n")),
            Line::Report { request_id: ID.into(), duration_ms: Some(412.34), status: None }
        );
        assert_eq!(
            parse(&format!("REPORT RequestId: {ID}\tDuration: 30000.00 ms\tBilled Duration: 30000 ms\tMemory Size: 128 MB\tMax Memory Used: 81 MB\tStatus: timeout\n")),
            Line::Report { request_id: ID.into(), duration_ms: Some(30000.0), status: Some("timeout".into()) }
        );
        assert_eq!(
            parse(&format!(
                "2026-12-01T09:12:33.152Z {ID} Task timed out after 30.03 seconds\n\n"
            )),
            Line::Timeout {
                request_id: Some(ID.into())
            }
        );
        assert_eq!(parse("INIT_START Runtime Version: python:3.9.v30\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n"), Line::Platform);
    }

    #[test]
    fn python_logger_lines_and_unhandled_exceptions() {
        let Line::App(l) = parse(&format!(
            "[INFO]\t2026-12-01T09:12:03.120Z\t{ID}\tFound credentials in environment variables.\n"
        )) else {
            panic!()
        };
        assert_eq!(l.request_id.as_deref(), Some(ID));
        assert!(!l.error);
        assert_eq!(l.text, "Found credentials in environment variables.");

        let Line::App(l) = parse("[ERROR] KeyError: 'password key is missing from secret JSON'\nTraceback (most recent call last):\n  File \"/var/task/lambda_function.py\", line 68, in lambda_handler\n") else { panic!() };
        assert_eq!(l.request_id, None);
        assert!(l.error && l.unhandled);
        assert_eq!(
            l.text,
            "KeyError: 'password key is missing from secret JSON'"
        );
        // A logger's ERROR line is not an unhandled exception.
        let Line::App(l) = parse(&format!("[ERROR]\t2026-12-01T09:12:03.120Z\t{ID}\tUnable to establish SSL/TLS handshake, SSL/TLS is not enabled on the host: db\n")) else { panic!() };
        assert!(l.error && !l.unhandled);

        // Init lines carry an empty request id.
        let Line::App(l) = parse("[INFO]\t2026-12-01T09:12:03.120Z\t\tloading\n") else {
            panic!()
        };
        assert_eq!(l.request_id, None);
    }

    #[test]
    fn json_format_platform_python_and_own_lines() {
        assert_eq!(
            parse(&format!(
                r#"{{"time":"2026-12-01T09:12:03.120Z","type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":412.34,"billedDurationMs":413}},"status":"timeout"}}}}"#
            )),
            Line::Report {
                request_id: ID.into(),
                duration_ms: Some(412.34),
                status: Some("timeout".into())
            }
        );
        let Line::App(l) = parse(&format!(
            r#"{{"timestamp":"2026-12-01T09:12:03Z","level":"ERROR","message":"setSecret: Unable to log into database","logger":"root","requestId":"{ID}"}}"#
        )) else {
            panic!()
        };
        assert!(l.error && l.own.is_none());
        assert_eq!(l.request_id.as_deref(), Some(ID));
        let Line::App(l) = parse(&format!(
            r#"{{"timestamp":"2026-12-01T09:12:03Z","level":"ERROR","event":"step_failed","step":"setSecret","cause":"db_login_failed","request_id":"{ID}","message":"setSecret failed: x"}}"#
        )) else {
            panic!()
        };
        assert_eq!(l.own.unwrap()["cause"], "db_login_failed");
        assert_eq!(l.text, "setSecret failed: x");
        // A line that is not JSON after all is kept as text.
        assert!(matches!(
            parse("{not json"),
            Line::App(AppLine { error: false, .. })
        ));
    }
}
