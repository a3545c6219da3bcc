//! The `diagnose` report: one [`Check`] per line with its status (`ok`, `warn`, `fail`,
//! `skipped`), its failure or warnings, and the two forms it is printed in: JSON
//! ([`Report::to_json`]) and a table for a terminal ([`Report::text_from_json`], which also
//! reads a report that came back from a Lambda invocation). Both pass the log scrubber.

use crate::failure::Failure;
use serde_json::{json, Map, Value};

/// Something worth acting on that is not a fault of the secret or its database (rotation not
/// enabled yet, rotation on another function, a rotation in progress): the check passes with
/// a warning, and the report stays ok.
#[derive(Debug, Clone)]
pub struct Warning {
    /// Stable code, e.g. `rotation_not_enabled`.
    pub code: &'static str,
    /// One human sentence.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
    /// Facts observed.
    pub evidence: Map<String, Value>,
}

impl Warning {
    /// A finding that is a failure elsewhere (rotation refuses to run on it) but only worth a
    /// warning before rotation starts: its cause code, message and evidence, with `remedy`.
    pub fn from_failure(f: Failure, remedy: String) -> Self {
        Warning {
            code: f.cause.code(),
            message: f.message,
            remedy,
            evidence: *f.evidence,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable check name.
    pub name: &'static str,
    /// `Some(true)` passed (possibly with warnings), `Some(false)` failed, `None` skipped.
    pub ok: Option<bool>,
    /// Time the check took.
    pub duration_ms: u64,
    /// What was seen (or why it was skipped).
    pub detail: String,
    /// The failure, when it failed.
    pub failure: Option<Failure>,
    /// Warnings of a check that passed.
    pub warnings: Vec<Warning>,
}

impl Check {
    /// `ok`, `warn`, `fail` or `skipped`.
    pub fn status(&self) -> &'static str {
        match self.ok {
            None => "skipped",
            Some(false) => "fail",
            Some(true) if !self.warnings.is_empty() => "warn",
            Some(true) => "ok",
        }
    }
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The secret checked.
    pub secret_id: String,
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed (warnings do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok != Some(false))
    }

    /// The JSON form `diagnose --format json` prints and the Lambda diagnose event returns:
    /// `secret_id`, `ok`, `status`, `warnings` (how many checks warn) and `checks`. Each
    /// check has `name`, `ok` (true, false or null for skipped), `status` (`ok`, `warn`,
    /// `fail`, `skipped`), `duration_ms` and `detail`; a warning check carries `remedy` and
    /// `warnings` (code, message, remedy, evidence), a failed one `cause`, `message`,
    /// `remedy` and `evidence`.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("name".into(), c.name.into());
                m.insert("ok".into(), c.ok.map(Value::Bool).unwrap_or(Value::Null));
                m.insert("status".into(), c.status().into());
                m.insert("duration_ms".into(), c.duration_ms.into());
                m.insert("detail".into(), c.detail.as_str().into());
                if let Some(f) = &c.failure {
                    m.insert("cause".into(), f.cause.code().into());
                    m.insert("message".into(), f.message.as_str().into());
                    m.insert("remedy".into(), f.remedy.as_str().into());
                    m.insert("evidence".into(), Value::Object((*f.evidence).clone()));
                }
                if !c.warnings.is_empty() {
                    let remedy: Vec<&str> = c.warnings.iter().map(|w| w.remedy.as_str()).collect();
                    m.insert("remedy".into(), remedy.join(" ").into());
                    let list: Vec<Value> = c
                        .warnings
                        .iter()
                        .map(|w| {
                            json!({"code": w.code, "message": w.message, "remedy": w.remedy,
                                   "evidence": Value::Object(w.evidence.clone())})
                        })
                        .collect();
                    m.insert("warnings".into(), Value::Array(list));
                }
                Value::Object(m)
            })
            .collect();
        let warnings = self.checks.iter().filter(|c| c.status() == "warn").count();
        let status = if !self.ok() {
            "fail"
        } else if warnings > 0 {
            "warn"
        } else {
            "ok"
        };
        let mut v = json!({"secret_id": self.secret_id, "ok": self.ok(), "status": status,
                           "warnings": warnings, "checks": checks});
        // Defence in depth: the report passes the same scrubber as every log line.
        crate::telemetry::scrub_value(&mut v);
        v
    }

    /// A table for a terminal.
    pub fn to_text(&self) -> String {
        Report::text_from_json(&self.to_json())
    }

    /// The table of a JSON report (also one that came back from a Lambda invocation).
    pub fn text_from_json(report: &Value) -> String {
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        let warnings = report["warnings"].as_u64().unwrap_or(0);
        let verdict = match (report["ok"].as_bool(), warnings) {
            (Some(true), 0) => "OK".to_string(),
            (Some(true), n) => format!("OK, {n} warning(s)"),
            _ => "PROBLEM FOUND".to_string(),
        };
        let mut out = format!(
            "diagnose {}: {verdict}\n\n",
            report["secret_id"].as_str().unwrap_or("?")
        );
        let width = checks
            .iter()
            .filter_map(|c| c["name"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(10);
        out.push_str(&format!(
            "{:<6} {:<width$} {:>8}  detail\n",
            "result", "check", "ms"
        ));
        let under = |label: &str, text: &str| {
            format!("{:<6} {:<width$} {:>8}  {label}: {text}\n", "", "", "")
        };
        for c in &checks {
            let status = c["status"].as_str().unwrap_or(match c["ok"].as_bool() {
                Some(true) => "ok",
                Some(false) => "fail",
                None => "skipped",
            });
            let mark = match status {
                "ok" => "ok",
                "warn" => "warn",
                "fail" => "FAIL",
                _ => "skip",
            };
            out.push_str(&format!(
                "{:<6} {:<width$} {:>8}  {}\n",
                mark,
                c["name"].as_str().unwrap_or("?"),
                c["duration_ms"].as_u64().unwrap_or(0),
                c["detail"].as_str().unwrap_or("")
            ));
            if status == "fail" {
                out.push_str(&under("cause", c["cause"].as_str().unwrap_or("?")));
                out.push_str(&under("remedy", c["remedy"].as_str().unwrap_or("")));
                if let Some(e) = c["evidence"].as_object().filter(|e| !e.is_empty()) {
                    out.push_str(&under("evidence", &Value::Object(e.clone()).to_string()));
                }
            }
            for w in c["warnings"].as_array().into_iter().flatten() {
                out.push_str(&under(
                    "warning",
                    &format!(
                        "{}: {}",
                        w["code"].as_str().unwrap_or("?"),
                        w["message"].as_str().unwrap_or("")
                    ),
                ));
                out.push_str(&under("remedy", w["remedy"].as_str().unwrap_or("")));
            }
        }
        crate::telemetry::scrub(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Cause;

    fn check(name: &'static str, ok: Option<bool>) -> Check {
        Check {
            name,
            ok,
            duration_ms: 3,
            detail: "seen".into(),
            failure: (ok == Some(false))
                .then(|| Failure::new(Cause::DbLoginFailed, "refused").with("user", "app")),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_warning_keeps_the_report_ok_and_a_failure_does_not() {
        let mut warned = check("describe_secret", Some(true));
        warned.warnings.push(Warning::from_failure(
            Failure::new(Cause::RotationNotEnabled, "off"),
            "enable it".into(),
        ));
        let report = Report {
            secret_id: "s".into(),
            checks: vec![warned, check("tls", None)],
        };
        let v = report.to_json();
        assert_eq!(
            (v["ok"].clone(), v["status"].clone()),
            (json!(true), json!("warn"))
        );
        assert_eq!(v["warnings"], 1);
        assert_eq!(
            v["checks"][0]["warnings"][0]["code"],
            "rotation_not_enabled"
        );
        assert_eq!(v["checks"][0]["remedy"], "enable it");
        assert_eq!(v["checks"][1]["ok"], Value::Null);
        assert_eq!(v["checks"][1]["status"], "skipped");

        let failed = Report {
            secret_id: "s".into(),
            checks: vec![check("login_current", Some(false))],
        };
        let v = failed.to_json();
        assert_eq!(v["status"], "fail");
        assert_eq!(v["checks"][0]["cause"], "db_login_failed");
        assert_eq!(v["checks"][0]["evidence"]["user"], "app");
        let text = failed.to_text();
        assert!(text.starts_with("diagnose s: PROBLEM FOUND"), "{text}");
        assert!(
            text.contains("FAIL") && text.contains("cause: db_login_failed"),
            "{text}"
        );
    }
}
