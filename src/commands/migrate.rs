//! `migrate`: moves a secret's rotation onto a db-secret-rotator function, safely.
//!
//! 1. DescribeSecret (the caller's view): the current function, rules and state.
//! 2. The preflight: Lambda Invoke of the target function with the diagnose event, so the
//!    checks run where rotation will run (the function's VPC, role and runtime).
//! 3. Only with `--apply` and a passing preflight: RotateSecret with the new
//!    RotationLambdaARN and the secret's own schedule. Without `--rotate-now`, Secrets Manager
//!    does not rotate; it runs the function's testSecret step only.
//!
//! Every result carries the exact command that switches the secret back.

use super::audit::{self, Function};
use crate::outside::{aws_error, rules_json, AwsError, Clients};
use crate::text::{function_name, shell_quote};
use serde_json::{json, Value};

/// What the caller asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The target function (name or ARN).
    pub function: String,
    /// Point the secret at the function (otherwise a dry run).
    pub apply: bool,
    /// Rotate at once instead of testSecret only.
    pub rotate_now: bool,
    /// The schedule for a secret that has none (`rate(30 days)`, `cron(...)`).
    pub schedule: Option<String>,
}

/// The result for one secret.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The secret as given.
    pub secret_id: String,
    /// Whether the preflight passed (and, with `--apply`, the switch was made).
    pub passed: bool,
    /// Whether RotateSecret was sent and accepted.
    pub applied: bool,
    /// Why it stopped, when it did.
    pub refused: Option<String>,
    /// The JSON form.
    pub report: Value,
}

fn refuse(secret_id: &str, mut report: Value, why: String) -> Migration {
    report["refused"] = json!(why);
    report["applied"] = json!(false);
    Migration {
        secret_id: secret_id.to_string(),
        passed: false,
        applied: false,
        refused: Some(why),
        report,
    }
}

/// A migration that passed and changed nothing (already done, or a dry run).
fn unchanged(secret_id: &str, mut report: Value) -> Migration {
    report["applied"] = json!(false);
    Migration {
        secret_id: secret_id.to_string(),
        passed: true,
        applied: false,
        refused: None,
        report,
    }
}

fn function_json(f: &Function) -> Value {
    json!({
        "arn": f.arn,
        "name": function_name(&f.arn),
        "runtime": f.runtime(),
        "readable": f.config.is_ok(),
        "error": f.config.as_ref().err().map(|e| e.to_string()),
    })
}

/// Migrates one secret (see the module doc).
pub async fn one(clients: &Clients, secret_id: &str, req: &Request) -> Migration {
    let mut report = json!({"secret_id": secret_id, "dry_run": !req.apply});
    let described = match clients
        .sm
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            let e = aws_error(&e);
            return refuse(secret_id, report, format!("DescribeSecret failed: {e}"));
        }
    };
    let arn = described.arn().unwrap_or(secret_id).to_string();
    report["secret_arn"] = json!(arn);
    let old = described
        .rotation_lambda_arn()
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let was_enabled = described.rotation_enabled().unwrap_or(false);
    let rules = described.rotation_rules().map(rules_json);
    report["rotation_enabled"] = json!(was_enabled);
    report["rotation_rules"] = rules.clone().unwrap_or(Value::Null);

    let target = audit::lookup(clients, &req.function, std::slice::from_ref(&req.function)).await;
    report["to"] = function_json(&target);
    let target_arn = match &target.config {
        Ok(c) => c.arn.clone(),
        Err(e) => {
            return refuse(
                secret_id,
                report,
                format!("the target function {} cannot be read: {e}", req.function),
            )
        }
    };
    match &old {
        Some(old) => {
            let f = audit::lookup(clients, old, &[]).await;
            report["from"] = function_json(&f);
        }
        None => report["from"] = Value::Null,
    }
    report["switch_back"] = json!(switch_back(
        &arn,
        old.as_deref(),
        rules.as_ref(),
        was_enabled
    ));

    if was_enabled && old.as_deref().map(function_name) == Some(function_name(&target_arn)) {
        let mut done = unchanged(secret_id, report);
        done.report["note"] = json!("rotation already uses this function: nothing to do");
        return done;
    }

    // The preflight, run by the target function itself.
    let payload = json!({"Action": "diagnose", "SecretId": arn}).to_string();
    let invoked = clients
        .lambda
        .invoke()
        .function_name(&target_arn)
        .payload(aws_smithy_types::Blob::new(payload.into_bytes()))
        .send()
        .await;
    let out = match invoked {
        Ok(out) => out,
        Err(e) => {
            let e = aws_error(&e);
            return refuse(
                secret_id,
                report,
                format!(
                    "the preflight could not invoke {}: {e}",
                    function_name(&target_arn)
                ),
            );
        }
    };
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        report["preflight"] = body.clone();
        return refuse(
            secret_id,
            report,
            format!(
                "the preflight failed inside {} ({kind}): {}: {}",
                function_name(&target_arn),
                body["errorType"].as_str().unwrap_or("unknown"),
                body["errorMessage"].as_str().unwrap_or("")
            ),
        );
    }
    report["preflight"] = body.clone();
    if body["ok"] != true {
        let failed: Vec<String> = body["checks"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter(|c| c["ok"] == false)
                    .map(|c| {
                        format!(
                            "{} ({})",
                            c["name"].as_str().unwrap_or("?"),
                            c["cause"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let why = if failed.is_empty() {
            "the preflight did not return a diagnose report".to_string()
        } else {
            format!("the preflight found a problem: {}", failed.join(", "))
        };
        return refuse(secret_id, report, why);
    }

    let rules = match (rules, &req.schedule) {
        (Some(r), _) if r.as_object().is_some_and(|m| !m.is_empty()) => r,
        (_, Some(expr)) => json!({"ScheduleExpression": expr}),
        _ if req.apply => {
            return refuse(
                secret_id,
                report,
                "the secret has no rotation schedule to keep: pass --schedule 'rate(30 days)' (or a cron expression)".to_string(),
            )
        }
        _ => Value::Null,
    };
    report["new_rotation_rules"] = rules.clone();
    if !req.apply {
        return unchanged(secret_id, report);
    }
    let mut builder = aws_sdk_secretsmanager::types::RotationRulesType::builder();
    if let Some(days) = rules["AutomaticallyAfterDays"].as_i64() {
        builder = builder.automatically_after_days(days);
    }
    if let Some(expr) = rules["ScheduleExpression"].as_str() {
        builder = builder.schedule_expression(expr);
    }
    if let Some(d) = rules["Duration"].as_str() {
        builder = builder.duration(d);
    }
    let sent = clients
        .sm
        .rotate_secret()
        .secret_id(&arn)
        .rotation_lambda_arn(&target_arn)
        .rotation_rules(builder.build())
        .rotate_immediately(req.rotate_now)
        .send()
        .await;
    match sent {
        Ok(_) => {
            report["applied"] = json!(true);
            report["rotate_immediately"] = json!(req.rotate_now);
            Migration {
                secret_id: secret_id.to_string(),
                passed: true,
                applied: true,
                refused: None,
                report,
            }
        }
        Err(e) => {
            let e = aws_error(&e);
            refuse(secret_id, report, format!("RotateSecret failed: {e}"))
        }
    }
}

/// The command that puts the secret back the way it was.
pub fn switch_back(
    arn: &str,
    old: Option<&str>,
    rules: Option<&Value>,
    was_enabled: bool,
) -> String {
    let id = shell_quote(arn);
    match old {
        Some(old) => {
            let mut cmd = format!(
                "aws secretsmanager rotate-secret --secret-id {id} --rotation-lambda-arn {old}"
            );
            if let Some(r) = rules.filter(|r| r.as_object().is_some_and(|m| !m.is_empty())) {
                cmd.push_str(&format!(
                    " --rotation-rules {}",
                    shell_quote(&r.to_string())
                ));
            }
            cmd.push_str(" --no-rotate-immediately");
            if !was_enabled {
                cmd.push_str(&format!(
                    " && aws secretsmanager cancel-rotate-secret --secret-id {id}"
                ));
            }
            cmd
        }
        None => format!("aws secretsmanager cancel-rotate-secret --secret-id {id}"),
    }
}

/// Every secret the audit shows on `old`, one at a time, stopping at the first refusal.
pub async fn from_function(
    clients: &Clients,
    region: &str,
    old: &str,
    req: &Request,
    progress: &dyn Fn(&str),
) -> Result<Vec<Migration>, AwsError> {
    let found = audit::run(
        clients,
        region,
        std::slice::from_ref(&req.function),
        progress,
    )
    .await?;
    let secrets: Vec<String> = found
        .rows
        .iter()
        .filter(|r| function_name(&r.function_arn) == function_name(old))
        .map(|r| r.arn.clone())
        .collect();
    progress(&format!(
        "migrate: {} secret(s) rotate with {}",
        secrets.len(),
        function_name(old)
    ));
    let mut done = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        progress(&format!("migrate: {}/{}: {secret}", i + 1, secrets.len()));
        let m = one(clients, secret, req).await;
        let stop = !m.passed;
        done.push(m);
        if stop {
            break;
        }
    }
    Ok(done)
}

impl Migration {
    /// A readable account of one migration, the preflight report included.
    pub fn to_text(&self) -> String {
        let r = &self.report;
        let name = |v: &Value| {
            let n = v["name"].as_str().unwrap_or("?");
            match v["runtime"].as_str() {
                Some(rt) => format!("{n} ({rt})"),
                None if v["readable"] == false => format!("{n} (not readable)"),
                None => n.to_string(),
            }
        };
        let mut out = format!(
            "migrate {}\n",
            r["secret_arn"].as_str().unwrap_or(&self.secret_id)
        );
        let from = if r["from"].is_null() {
            "no rotation function".to_string()
        } else {
            name(&r["from"])
        };
        if r.get("to").is_some() {
            out.push_str(&format!(
                "  from {from}{} to {}\n",
                if r["rotation_enabled"] == true {
                    ""
                } else {
                    " (rotation off)"
                },
                name(&r["to"])
            ));
        }
        if !r["rotation_rules"].is_null() {
            out.push_str(&format!("  schedule {}\n", r["rotation_rules"]));
        }
        if let Some(note) = r["note"].as_str() {
            out.push_str(&format!("  {note}\n"));
        }
        if r["preflight"].is_object() && r["preflight"].get("checks").is_some() {
            out.push_str("\n  preflight (diagnose, run by the target function):\n");
            let text = crate::commands::diagnose::Report::text_from_json(&r["preflight"]);
            for line in text.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            out.push('\n');
        }
        match (&self.refused, self.applied) {
            (Some(why), _) => out.push_str(&format!("  REFUSED: {why}\n  nothing was changed\n")),
            (None, true) => out.push_str(&format!(
                "  APPLIED: rotation now uses {}{}\n",
                r["to"]["name"].as_str().unwrap_or("?"),
                if r["rotate_immediately"] == true {
                    "; a rotation starts now"
                } else {
                    "; Secrets Manager runs its testSecret step only (no rotation until the schedule)"
                }
            )),
            (None, false) if r["note"].is_string() => {}
            (None, false) => out.push_str(&format!(
                "  dry run: the preflight passed, nothing was changed; to switch:\n    db-secret-rotator migrate --secret-id {} --function {} --apply\n",
                shell_quote(r["secret_arn"].as_str().unwrap_or(&self.secret_id)),
                r["to"]["arn"].as_str().unwrap_or("?")
            )),
        }
        if let Some(back) = r["switch_back"].as_str() {
            out.push_str(&format!("  switch back: {back}\n"));
        }
        crate::telemetry::scrub(&out)
    }
}
