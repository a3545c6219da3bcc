//! `migrate`: moves a secret's rotation onto a db-secret-rotator function, safely.
//!
//! 1. DescribeSecret (the caller's view): the current function, rules and state.
//! 2. The preflight: Lambda Invoke of the target function with the diagnose event, so the
//!    checks run where rotation will run (the function's VPC, role and runtime).
//! 3. The configuration checks of the target function for this secret (`diagnose --scope
//!    config --function TARGET`, with the caller's credentials): a failing one refuses, so
//!    a secret is never switched to a function that cannot reach its database or Secrets
//!    Manager.
//! 4. Only with `--apply` and a passing preflight: RotateSecret with the new
//!    RotationLambdaARN and the secret's own schedule. Without `--rotate-now`, Secrets Manager
//!    does not rotate; it runs the function's testSecret step only.
//!
//! Every result carries the exact command that switches the secret back.
//!
//! This file runs the phases; `plan.rs` holds their pure decisions (unit-tested there);
//! `report.rs` is the typed report and its text.

mod plan;
mod report;
#[cfg(test)]
mod tests;

pub use plan::{switch_back, Rotation};
pub use report::{Current, Described, FunctionReport, Migration, Plan, Report, ALREADY_ON};

use crate::app::App;
use crate::commands::audit;
use crate::commands::diagnose::{self, Check, Outcome};
use crate::commands::Format;
use crate::outside::{AwsError, Clients, RotationRules};
use crate::text::function_name;
use plan::{already_on, schedule, verdict, PreflightAnswer, NO_SCHEDULE};
use serde_json::{json, Value};

/// `migrate`'s command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The secret to move.
    #[arg(
        long,
        required_unless_present = "from_function",
        conflicts_with = "from_function"
    )]
    pub secret_id: Option<String>,
    /// Move every secret rotated by this function, one at a time, stopping at the first
    /// refusal.
    #[arg(long)]
    pub from_function: Option<String>,
    /// The db-secret-rotator function (name or ARN).
    #[arg(long)]
    pub function: String,
    /// Make the switch (only after a passing preflight).
    #[arg(long)]
    pub apply: bool,
    /// Rotate at once; without it Secrets Manager only runs testSecret.
    #[arg(long, requires = "apply")]
    pub rotate_now: bool,
    /// Schedule for a secret that has none, e.g. 'rate(30 days)'.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// What the caller asked for, for each secret.
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

/// Runs `migrate` with the caller's credentials: one secret (`--secret-id`), or each secret
/// of `--from-function` in turn. Progress lines go to stderr; so does a ListSecrets failure.
pub async fn run(app: &App, args: Args) -> Report {
    let clients = Clients::new(app.sdk());
    let req = Request {
        function: args.function,
        apply: args.apply,
        rotate_now: args.rotate_now,
        schedule: args.schedule,
    };
    let progress = audit::progress;
    match (args.secret_id, args.from_function) {
        (Some(id), _) => Report::of(vec![one(&clients, &id, &req).await]),
        (None, Some(old)) => {
            match from_function(&clients, &app.region(), &old, &req, &progress).await {
                Ok(done) => Report::of(done),
                Err(e) => {
                    progress(&format!("migrate: ListSecrets failed: {e}"));
                    if e.denied() {
                        progress(&format!("migrate: the caller needs {}", e.action));
                    }
                    Report::list_failed(&e)
                }
            }
        }
        // The command line requires one of the two; a caller that names neither moved
        // nothing, which is not a success.
        (None, None) => Report {
            ok: false,
            ..Report::of(Vec::new())
        },
    }
}

/// Migrates one secret (see the module doc): each phase adds what it learnt to the
/// migration, and the first refusal ends it.
pub async fn one(clients: &Clients, secret_id: &str, req: &Request) -> Migration {
    let mut m = Migration::new(secret_id, !req.apply);
    if let Err(why) = phases(clients, req, &mut m).await {
        m.refused = Some(why);
    }
    m
}

/// The phases in order; `Err` is the refusal.
async fn phases(clients: &Clients, req: &Request, m: &mut Migration) -> Result<(), String> {
    let secret = describe(clients, &m.secret_id).await?;
    m.secret = Some(secret.clone());
    let was = Rotation::from_enabled(secret.rotation_enabled);

    let target = audit::lookup(clients, &req.function, std::slice::from_ref(&req.function)).await;
    m.to = Some(FunctionReport::of(&target));
    let target = match target.config {
        Ok(c) => c.arn,
        Err(e) => {
            return Err(format!(
                "the target function {} cannot be read: {e}",
                req.function
            ))
        }
    };

    let old = secret.function.as_deref();
    let from = match old {
        Some(old) => Some(FunctionReport::of(&audit::lookup(clients, old, &[]).await)),
        None => None,
    };
    m.current = Some(Current {
        from,
        switch_back: switch_back(&secret.secret_arn, old, secret.rotation_rules.as_ref(), was),
    });
    if already_on(old, was, &target) {
        m.note = Some(ALREADY_ON);
        return Ok(());
    }

    let (body, function_error) = invoke_preflight(clients, &target, &secret.secret_arn).await?;
    let answer = PreflightAnswer::read(&body);
    m.preflight = Some(body);
    verdict(&answer, function_error.as_deref(), &target)?;

    let config = diagnose::config::checks(
        clients,
        &secret.secret_arn,
        Some(&target),
        Some(target.clone()),
        CONFIG_LIMIT,
    )
    .await;
    let failed = config_failures(&config);
    m.configuration = Some(config);
    if !failed.is_empty() {
        return Err(format!(
            "the configuration of {} fails for this secret: {}",
            function_name(&target),
            failed.join(", ")
        ));
    }

    let rules = schedule(secret.rotation_rules.as_ref(), req.schedule.as_deref());
    if req.apply && rules.is_none() {
        return Err(NO_SCHEDULE.to_string());
    }
    m.plan = Some(Plan {
        new_rotation_rules: rules.clone(),
    });
    let (Some(rules), true) = (rules, req.apply) else {
        return Ok(());
    };
    point_at(clients, &secret.secret_arn, &target, &rules, req.rotate_now).await?;
    m.applied = true;
    m.rotate_immediately = Some(req.rotate_now);
    Ok(())
}

/// The time the configuration checks of one secret may take.
const CONFIG_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The failed configuration checks, as `check (cause)`.
fn config_failures(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Failed(f) => Some(format!("{} ({})", c.name, f.cause.code())),
            _ => None,
        })
        .collect()
}

/// DescribeSecret, with the caller's credentials.
async fn describe(clients: &Clients, secret_id: &str) -> Result<Described, String> {
    let d = clients
        .call(
            "secretsmanager",
            "DescribeSecret",
            clients.sm.describe_secret().secret_id(secret_id).send(),
        )
        .await
        .map_err(|e| format!("DescribeSecret failed: {e}"))?;
    Ok(Described {
        secret_arn: d.arn().unwrap_or(secret_id).to_string(),
        rotation_enabled: d.rotation_enabled().unwrap_or(false),
        rotation_rules: d.rotation_rules().map(RotationRules::from_sdk),
        function: d
            .rotation_lambda_arn()
            .filter(|a| !a.is_empty())
            .map(str::to_string),
    })
}

/// Invokes the target function with the diagnose event: its answer (JSON, or null when it
/// is not) and Lambda's `FunctionError`, if the function failed.
async fn invoke_preflight(
    clients: &Clients,
    target: &str,
    secret_arn: &str,
) -> Result<(Value, Option<String>), String> {
    let payload = json!({"Action": "diagnose", "SecretId": secret_arn}).to_string();
    let out = clients
        .call(
            "lambda",
            "Invoke",
            clients
                .lambda
                .invoke()
                .function_name(target)
                .payload(aws_smithy_types::Blob::new(payload.into_bytes()))
                .send(),
        )
        .await
        .map_err(|e| {
            format!(
                "the preflight could not invoke {}: {e}",
                function_name(target)
            )
        })?;
    let body = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    Ok((body, out.function_error().map(str::to_string)))
}

/// RotateSecret: the target function, the schedule kept, a rotation now or testSecret only.
async fn point_at(
    clients: &Clients,
    secret_arn: &str,
    target: &str,
    rules: &RotationRules,
    rotate_now: bool,
) -> Result<(), String> {
    clients
        .call(
            "secretsmanager",
            "RotateSecret",
            clients
                .sm
                .rotate_secret()
                .secret_id(secret_arn)
                .rotation_lambda_arn(target)
                .rotation_rules(rules.to_sdk())
                .rotate_immediately(rotate_now)
                .send(),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("RotateSecret failed: {e}"))
}

/// Every secret the audit shows on `old`, one at a time, stopping at the first refusal.
pub async fn from_function(
    clients: &Clients,
    region: &str,
    old: &str,
    req: &Request,
    progress: &dyn Fn(&str),
) -> Result<Vec<Migration>, AwsError> {
    let found = audit::survey(
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
        let stop = !m.passed();
        done.push(m);
        if stop {
            break;
        }
    }
    Ok(done)
}
