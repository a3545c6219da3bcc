//! The audit's report: one typed row per secret and the counts, serialised as the JSON
//! contract, and rendered as a table for a terminal (each secret's next step under it).

use super::deep::{Deep, Verdict};
use super::Audit;
use crate::config::Strategy;
use crate::engine::Engine;
use crate::outside::{runtimes, AwsError, RotationRules};
use crate::text::function_name;
use serde::{Serialize, Serializer};
use std::collections::HashMap;

/// What `audit` returns: the secrets and their functions, or why they could not be listed.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// The secrets were listed.
    Listed(Listing),
    /// ListSecrets failed: `{"ok": false, "error": {...}}`.
    Failed(Failed),
}

/// The audit of the secrets listed.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// The region audited.
    pub region: String,
    /// The date deprecations are judged on (`YYYY-MM-DD`).
    pub date: String,
    /// The counts.
    pub summary: Summary,
    /// One row per secret with rotation, in ListSecrets order.
    pub secrets: Vec<SecretRow>,
}

/// The counts of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Secrets with a rotation function.
    pub secrets_with_rotation: usize,
    /// Distinct rotation functions.
    pub functions: usize,
    /// Secrets whose function runs on a deprecated runtime.
    pub on_deprecated_runtime: usize,
    /// Secrets whose function came from a hosted rotation application.
    pub hosted_applications: usize,
    /// Secrets already rotated by db-secret-rotator.
    pub on_this_function: usize,
    /// Secrets whose function could not be read.
    pub function_not_readable: usize,
    /// `--deep` only: the configuration verdicts and last rotations counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep: Option<DeepSummary>,
}

/// The counts `--deep` adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeepSummary {
    /// Secrets with a failed configuration check.
    pub config_fail: usize,
    /// Secrets with a warning and no failure.
    pub config_warn: usize,
    /// Secrets whose configuration could not be checked.
    pub config_unknown: usize,
    /// Secrets whose last rotation in the logs failed or timed out.
    pub last_rotation_failed: usize,
    /// Secrets with no rotation in the window read (or whose logs could not be read).
    pub last_rotation_unknown: usize,
}

/// One secret with rotation configured, and its function.
#[derive(Debug, Clone, Serialize)]
pub struct SecretRow {
    /// The secret's name.
    pub secret: String,
    /// The secret's ARN.
    pub secret_arn: String,
    /// Whether rotation is enabled.
    pub rotation_enabled: bool,
    /// The rotation function's ARN.
    pub function: String,
    /// The rotation function's name.
    pub function_name: String,
    /// Whether GetFunctionConfiguration answered.
    pub function_readable: bool,
    /// Why it did not.
    pub function_error: Option<FunctionError>,
    /// The runtime identifier.
    pub runtime: Option<String>,
    /// Whether the runtime is deprecated on the audit's date.
    pub runtime_deprecated: bool,
    /// When the runtime is (or will be) deprecated.
    pub deprecated_on: Option<&'static str>,
    /// The hosted rotation application the function came from.
    pub hosted_application: Option<String>,
    /// The engine of that application, when db-secret-rotator supports it.
    #[serde(serialize_with = "engine_name")]
    pub engine: Option<Engine>,
    /// The strategy of that application.
    #[serde(serialize_with = "strategy_name")]
    pub strategy: Option<Strategy>,
    /// Whether the function is a db-secret-rotator deployment (`None` when unreadable).
    pub this_function: Option<bool>,
    /// The rotation rules.
    pub rotation_rules: Option<RotationRules>,
    /// Last rotation (RFC 3339).
    pub last_rotated: Option<String>,
    /// Next scheduled rotation (RFC 3339).
    pub next_rotation: Option<String>,
    /// The one thing to do next.
    pub next_step: String,
    /// `--deep` only: the configuration verdict and the last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep: Option<Deep>,
}

/// An AWS error in a row: its code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionError {
    /// The AWS error code.
    pub code: String,
    /// The service's message.
    pub message: String,
}

/// Why the audit has no rows.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    /// Always false.
    pub ok: bool,
    /// The ListSecrets error.
    pub error: ListError,
}

/// The ListSecrets error, with the IAM action it needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListError {
    /// `secretsmanager:ListSecrets`.
    pub action: String,
    /// The AWS error code (`unreachable` when no answer came).
    pub code: String,
    /// The service's message.
    pub message: String,
}

impl ListError {
    /// The report's form of a failed ListSecrets.
    pub fn of(e: &AwsError) -> ListError {
        ListError {
            action: e.action.clone(),
            code: e.code.clone(),
            message: e.message.clone(),
        }
    }
}

fn engine_name<S: Serializer>(e: &Option<Engine>, s: S) -> Result<S::Ok, S::Error> {
    e.map(Engine::as_str).serialize(s)
}

fn strategy_name<S: Serializer>(st: &Option<Strategy>, s: S) -> Result<S::Ok, S::Error> {
    st.map(Strategy::as_str).serialize(s)
}

impl Report {
    /// The report of a finished audit.
    pub fn of(audit: &Audit) -> Report {
        let secrets: Vec<SecretRow> = audit.rows.iter().map(|row| audit.row(row)).collect();
        let count = |f: fn(&SecretRow) -> bool| secrets.iter().filter(|r| f(r)).count();
        let summary = Summary {
            secrets_with_rotation: secrets.len(),
            functions: audit.functions.len(),
            on_deprecated_runtime: count(|r| r.runtime_deprecated),
            hosted_applications: count(|r| r.hosted_application.is_some()),
            on_this_function: count(|r| r.this_function == Some(true)),
            function_not_readable: count(|r| !r.function_readable),
            deep: None,
        };
        Report::Listed(Listing {
            region: audit.region.clone(),
            date: audit.today.clone(),
            summary,
            secrets,
        })
    }

    /// The report of an audit with `--deep`'s additions (by secret ARN).
    pub fn deep(audit: &Audit, mut deep: HashMap<String, Deep>) -> Report {
        let mut report = Report::of(audit);
        if let Report::Listed(l) = &mut report {
            for row in &mut l.secrets {
                row.deep = deep.remove(&row.secret_arn);
            }
            let all: Vec<&Deep> = l.secrets.iter().filter_map(|r| r.deep.as_ref()).collect();
            let count = |f: &dyn Fn(&Deep) -> bool| all.iter().filter(|d| f(d)).count();
            l.summary.deep = Some(DeepSummary {
                config_fail: count(&|d| d.verdict == Verdict::Fail),
                config_warn: count(&|d| d.verdict == Verdict::Warn),
                config_unknown: count(&|d| d.verdict == Verdict::Unknown),
                last_rotation_failed: count(&|d| {
                    d.last_rotation.as_ref().is_some_and(|l| l.failed())
                }),
                last_rotation_unknown: count(&|d| d.last_rotation.is_none()),
            });
        }
        report
    }

    /// The report of an audit whose ListSecrets failed.
    pub fn failed(e: &AwsError) -> Report {
        Report::Failed(Failed {
            ok: false,
            error: ListError::of(e),
        })
    }
}

impl Audit {
    /// One secret's row: its function as read, and its next step.
    fn row(&self, row: &super::Row) -> SecretRow {
        let f = self.function(row);
        let config = f.and_then(|f| f.config.as_ref().ok());
        let error = f.and_then(|f| f.config.as_ref().err());
        let runtime = config.and_then(|c| c.runtime.clone());
        let dep = runtime.as_deref().and_then(runtimes::deprecation);
        let app = config.and_then(|c| c.app.as_ref());
        SecretRow {
            secret: row.name.clone(),
            secret_arn: row.arn.clone(),
            rotation_enabled: row.rotation_enabled,
            function: row.function_arn.clone(),
            function_name: function_name(&row.function_arn).to_string(),
            function_readable: error.is_none(),
            function_error: error.map(|e| FunctionError {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
            runtime_deprecated: dep.is_some_and(|d| d.in_effect_on(&self.today)),
            deprecated_on: dep.map(|d| d.deprecated_on),
            runtime,
            hosted_application: app.map(|a| a.name.clone()),
            engine: app.and_then(|a| a.engine),
            strategy: app.and_then(|a| a.strategy),
            this_function: config.map(|c| c.ours),
            rotation_rules: row.rules.clone(),
            last_rotated: row.last_rotated.clone(),
            next_rotation: row.next_rotation.clone(),
            next_step: self.next_step(row),
            deep: None,
        }
    }
}

impl crate::commands::Report for Report {
    /// Listed, and (with `--deep`) no configuration check failed.
    fn ok(&self) -> bool {
        match self {
            Report::Listed(l) => !l
                .secrets
                .iter()
                .any(|r| r.deep.as_ref().is_some_and(|d| d.verdict == Verdict::Fail)),
            Report::Failed(_) => false,
        }
    }

    /// The table; empty when ListSecrets failed (that went to stderr, with the progress).
    fn to_text(&self) -> String {
        match self {
            Report::Listed(l) => l.to_text(),
            Report::Failed(_) => String::new(),
        }
    }
}

impl SecretRow {
    /// The runtime column: the runtime, its deprecation, or why it is unknown.
    fn runtime_cell(&self) -> String {
        match (&self.function_error, &self.runtime) {
            (Some(e), _) => format!("not readable ({})", e.code),
            (None, Some(rt)) if self.runtime_deprecated => {
                format!("{rt} (deprecated {})", self.deprecated_on.unwrap_or("-"))
            }
            (None, rt) => rt.clone().unwrap_or_else(|| "-".to_string()),
        }
    }

    /// The kind column: this project, a hosted application, custom, or unknown.
    fn kind(&self) -> String {
        if self.this_function == Some(true) {
            return "db-secret-rotator".to_string();
        }
        match (&self.hosted_application, self.engine, self.strategy) {
            (Some(_), Some(e), Some(s)) => format!("hosted: {e}, {}", s.as_str()),
            (Some(app), _, _) => format!("hosted: {app}"),
            (None, ..) if self.function_readable => "custom".to_string(),
            (None, ..) => "-".to_string(),
        }
    }

    /// The table's cells.
    fn cells(&self) -> Vec<String> {
        let day = |d: &Option<String>| {
            d.as_deref()
                .map(|s| s.chars().take(10).collect())
                .unwrap_or_else(|| "-".to_string())
        };
        let enabled = if self.rotation_enabled {
            ""
        } else {
            " (rotation off)"
        };
        let mut cells = vec![
            format!("{}{enabled}", self.secret),
            self.function_name.clone(),
            self.runtime_cell(),
            self.kind(),
            day(&self.last_rotated),
            day(&self.next_rotation),
        ];
        if let Some(d) = &self.deep {
            cells.extend(d.cells());
        }
        cells
    }
}

impl Listing {
    /// A table for a terminal: one row per secret, its next step under it.
    pub fn to_text(&self) -> String {
        let s = &self.summary;
        let mut out = format!(
            "audit {}: {} secrets with rotation, {} functions; {} on a deprecated runtime, {} on db-secret-rotator, {} function(s) not readable\n\n",
            self.region,
            s.secrets_with_rotation,
            s.functions,
            s.on_deprecated_runtime,
            s.on_this_function,
            s.function_not_readable,
        );
        if let Some(d) = &s.deep {
            out.push_str(&format!(
                "deep: {} failing configuration(s), {} warning(s), {} not checked; {} last rotation(s) failed, {} not found in the logs\n\n",
                d.config_fail, d.config_warn, d.config_unknown, d.last_rotation_failed, d.last_rotation_unknown,
            ));
        }
        // With --deep, failures first (a failed check or a failed last rotation), then
        // warnings; ListSecrets order within each.
        let mut rows: Vec<&SecretRow> = self.secrets.iter().collect();
        rows.sort_by_key(|r| r.deep.as_ref().map(Deep::rank).unwrap_or(0));
        let table: Vec<Vec<String>> = rows.iter().map(|r| r.cells()).collect();
        let mut headers = vec!["secret", "function", "runtime", "kind", "last", "next"];
        if s.deep.is_some() {
            headers.extend(Deep::HEADERS);
        }
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for row in &table {
            for (w, c) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: &[&str]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                l.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&headers));
        for (cells, row) in table.iter().zip(&rows) {
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            out.push_str(&line(&cells));
            out.push_str(&format!("  next: {}\n", row.next_step));
            if let Some(d) = &row.deep {
                out.push_str(&d.lines());
            }
        }
        out
    }
}
