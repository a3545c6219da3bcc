//! The audit's two forms: JSON (one object per secret, and counts) and a table for a
//! terminal with each secret's next step under it.

use super::Audit;
use crate::outside::runtimes;
use crate::text::function_name;
use serde_json::{json, Value};

impl Audit {
    /// The JSON report: one object per secret, and counts.
    pub fn to_json(&self) -> Value {
        let mut deprecated = 0;
        let mut hosted = 0;
        let mut ours = 0;
        let mut unreadable = 0;
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let f = self.function(row);
                let config = f.and_then(|f| f.config.as_ref().ok());
                let error = f.and_then(|f| f.config.as_ref().err());
                let runtime = config.and_then(|c| c.runtime.clone());
                let dep = runtime.as_deref().and_then(runtimes::deprecation);
                let is_deprecated = dep.map(|d| d.deprecated_on <= self.today.as_str());
                if is_deprecated == Some(true) {
                    deprecated += 1;
                }
                let app = config.and_then(|c| c.app.as_ref());
                if app.is_some() {
                    hosted += 1;
                }
                if config.is_some_and(|c| c.ours) {
                    ours += 1;
                }
                if error.is_some() {
                    unreadable += 1;
                }
                json!({
                    "secret": row.name,
                    "secret_arn": row.arn,
                    "rotation_enabled": row.rotation_enabled,
                    "function": row.function_arn,
                    "function_name": function_name(&row.function_arn),
                    "function_readable": error.is_none(),
                    "function_error": error.map(|e| json!({"code": e.code, "message": e.message})),
                    "runtime": runtime,
                    "runtime_deprecated": is_deprecated.unwrap_or(false),
                    "deprecated_on": dep.map(|d| d.deprecated_on),
                    "hosted_application": app.map(|a| a.name.as_str()),
                    "engine": app.and_then(|a| a.engine),
                    "strategy": app.and_then(|a| a.strategy),
                    "this_function": config.map(|c| c.ours),
                    "rotation_rules": row.rules,
                    "last_rotated": row.last_rotated,
                    "next_rotation": row.next_rotation,
                    "next_step": self.next_step(row),
                })
            })
            .collect();
        json!({
            "region": self.region,
            "date": self.today,
            "summary": {
                "secrets_with_rotation": self.rows.len(),
                "functions": self.functions.len(),
                "on_deprecated_runtime": deprecated,
                "hosted_applications": hosted,
                "on_this_function": ours,
                "function_not_readable": unreadable,
            },
            "secrets": rows,
        })
    }

    /// A table for a terminal: one row per secret, its next step under it.
    pub fn to_text(&self) -> String {
        let report = self.to_json();
        let s = &report["summary"];
        let mut out = format!(
            "audit {}: {} secrets with rotation, {} functions; {} on a deprecated runtime, {} on db-secret-rotator, {} function(s) not readable\n\n",
            self.region,
            s["secrets_with_rotation"],
            s["functions"],
            s["on_deprecated_runtime"],
            s["on_this_function"],
            s["function_not_readable"],
        );
        let rows = report["secrets"].as_array().cloned().unwrap_or_default();
        let cell = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_string(),
            other => other.to_string(),
        };
        let table: Vec<[String; 6]> = rows
            .iter()
            .map(|r| {
                let runtime = if r["function_readable"] == false {
                    format!("not readable ({})", cell(&r["function_error"]["code"]))
                } else if r["runtime_deprecated"] == true {
                    format!(
                        "{} (deprecated {})",
                        cell(&r["runtime"]),
                        cell(&r["deprecated_on"])
                    )
                } else {
                    cell(&r["runtime"])
                };
                let kind = if r["this_function"] == true {
                    "db-secret-rotator".to_string()
                } else if let Some(app) = r["hosted_application"].as_str() {
                    match (r["engine"].as_str(), r["strategy"].as_str()) {
                        (Some(e), Some(s)) => format!("hosted: {e}, {s}"),
                        _ => format!("hosted: {app}"),
                    }
                } else if r["function_readable"] == true {
                    "custom".to_string()
                } else {
                    "-".to_string()
                };
                let enabled = if r["rotation_enabled"] == true {
                    ""
                } else {
                    " (rotation off)"
                };
                let day = |v: &Value| {
                    v.as_str()
                        .map(|s| s.chars().take(10).collect())
                        .unwrap_or_else(|| "-".to_string())
                };
                [
                    format!("{}{enabled}", cell(&r["secret"])),
                    cell(&r["function_name"]),
                    runtime,
                    kind,
                    day(&r["last_rotated"]),
                    day(&r["next_rotation"]),
                ]
            })
            .collect();
        let headers = ["secret", "function", "runtime", "kind", "last", "next"];
        let mut widths = headers.map(str::len);
        for row in &table {
            for (w, c) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                l.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(headers));
        for (row, r) in table.iter().zip(rows.iter()) {
            out.push_str(&line([
                &row[0], &row[1], &row[2], &row[3], &row[4], &row[5],
            ]));
            out.push_str(&format!("  next: {}\n", cell(&r["next_step"])));
        }
        out
    }
}
