//! `audit`: every secret with rotation configured in the caller's account and region, its
//! rotation function (runtime, deprecation, hosted application, whether it is already this
//! function), last and next rotation, and one next step per secret. Read-only.
//!
//! This file lists the secrets, reads their functions and decides each next step;
//! `report.rs` prints the result as JSON or a table.

mod report;

use crate::outside::runtimes;
use crate::outside::{aws_error, date, hosted_app, rules_json, AwsError, Clients, HostedApp};
use crate::text::{function_name, shell_quote};
use serde_json::Value;
use std::collections::HashMap;

/// What GetFunctionConfiguration and ListTags say about a rotation function.
#[derive(Debug, Clone)]
pub struct Function {
    /// The ARN (as the secret names it, or as Lambda answered).
    pub arn: String,
    /// The configuration, or why it could not be read.
    pub config: Result<FunctionConfig, AwsError>,
}

/// A readable function's facts.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The ARN Lambda answered with.
    pub arn: String,
    /// The runtime identifier (`None` for container images).
    pub runtime: Option<String>,
    /// Whether it is a db-secret-rotator deployment.
    pub ours: bool,
    /// The hosted rotation application it came from, from its tag.
    pub app: Option<HostedApp>,
    /// Why the tags could not be read, when they could not (the application is then unknown).
    pub tags_error: Option<AwsError>,
}

impl Function {
    /// The runtime, when the configuration was readable.
    pub fn runtime(&self) -> Option<&str> {
        self.config.as_ref().ok().and_then(|c| c.runtime.as_deref())
    }
}

/// Reads a function's configuration and tags. `ours` names functions the caller says are
/// db-secret-rotator deployments (`--function`); a deployment of this project's template is
/// recognised by itself (its description, or its environment variable names on an OS-only
/// runtime; no variable value is looked at).
pub async fn lookup(clients: &Clients, name_or_arn: &str, ours: &[String]) -> Function {
    let got = clients
        .lambda
        .get_function_configuration()
        .function_name(name_or_arn)
        .send()
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) => {
            return Function {
                arn: name_or_arn.to_string(),
                config: Err(aws_error(&e)),
            }
        }
    };
    let arn = out.function_arn().unwrap_or(name_or_arn).to_string();
    let runtime = out.runtime().map(|r| r.as_str().to_string());
    let named = ours.iter().any(|f| function_name(f) == function_name(&arn));
    let described = out
        .description()
        .is_some_and(|d| d.contains("db-secret-rotator"));
    let env_names = out
        .environment()
        .and_then(|e| e.variables())
        .is_some_and(|v| v.contains_key("ROTATION_STRATEGY") && v.contains_key("TLS_FALLBACK"));
    let os_only = runtime
        .as_deref()
        .is_some_and(|r| r.starts_with("provided"));
    let (app, tags_error) = match clients.lambda.list_tags().resource(&arn).send().await {
        Ok(t) => (
            t.tags()
                .and_then(|t| t.get(crate::outside::APPLICATION_TAG))
                .map(|id| hosted_app(id)),
            None,
        ),
        Err(e) => (None, Some(aws_error(&e))),
    };
    Function {
        arn: arn.clone(),
        config: Ok(FunctionConfig {
            arn,
            runtime,
            ours: named || (os_only && (described || env_names)),
            app,
            tags_error,
        }),
    }
}

/// One secret with rotation configured.
#[derive(Debug, Clone)]
pub struct Row {
    /// The secret's name.
    pub name: String,
    /// The secret's ARN.
    pub arn: String,
    /// Whether rotation is enabled (a function may be set with rotation off).
    pub rotation_enabled: bool,
    /// The rotation function's ARN.
    pub function_arn: String,
    /// The rotation rules, as `--rotation-rules` takes them.
    pub rules: Value,
    /// Last rotation (RFC 3339).
    pub last_rotated: Option<String>,
    /// Next scheduled rotation (RFC 3339).
    pub next_rotation: Option<String>,
}

/// The whole audit.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The region audited.
    pub region: String,
    /// The date deprecations are judged on.
    pub today: String,
    /// Secrets with rotation configured, in ListSecrets order.
    pub rows: Vec<Row>,
    /// Rotation functions by ARN.
    pub functions: HashMap<String, Function>,
    /// db-secret-rotator functions to name in next steps (`--function`).
    pub ours: Vec<String>,
}

/// Lists every secret with a rotation function (ListSecrets, every page), then reads each
/// distinct function once. Progress goes to `progress` (stderr in the CLI).
pub async fn run(
    clients: &Clients,
    region: &str,
    ours: &[String],
    progress: &dyn Fn(&str),
) -> Result<Audit, AwsError> {
    let mut rows = Vec::new();
    let mut token: Option<String> = None;
    let mut listed = 0usize;
    loop {
        let page = clients
            .sm
            .list_secrets()
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| aws_error(&e))?;
        for s in page.secret_list() {
            listed += 1;
            let Some(function) = s.rotation_lambda_arn().filter(|a| !a.is_empty()) else {
                continue;
            };
            rows.push(Row {
                name: s.name().unwrap_or_default().to_string(),
                arn: s.arn().unwrap_or_default().to_string(),
                rotation_enabled: s.rotation_enabled().unwrap_or(false),
                function_arn: function.to_string(),
                rules: s.rotation_rules().map(rules_json).unwrap_or(Value::Null),
                last_rotated: date(s.last_rotated_date()),
                next_rotation: date(s.next_rotation_date()),
            });
        }
        progress(&format!(
            "audit: {listed} secrets listed, {} with rotation",
            rows.len()
        ));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut distinct: Vec<String> = rows.iter().map(|r| r.function_arn.clone()).collect();
    distinct.sort();
    distinct.dedup();
    let mut functions = HashMap::new();
    for (i, arn) in distinct.iter().enumerate() {
        progress(&format!(
            "audit: function {}/{}: {}",
            i + 1,
            distinct.len(),
            function_name(arn)
        ));
        functions.insert(arn.clone(), lookup(clients, arn, ours).await);
    }
    Ok(Audit {
        region: region.to_string(),
        today: runtimes::today(),
        rows,
        functions,
        ours: ours.to_vec(),
    })
}

impl Audit {
    /// The rotation function of a secret, as read.
    fn function(&self, row: &Row) -> Option<&Function> {
        self.functions.get(&row.function_arn)
    }

    /// The db-secret-rotator function to name in a `migrate` command.
    fn target(&self) -> String {
        self.ours
            .first()
            .cloned()
            .unwrap_or_else(|| "YOUR_DB_SECRET_ROTATOR_FUNCTION".to_string())
    }

    /// The one thing to do next for a secret.
    pub fn next_step(&self, row: &Row) -> String {
        let migrate = format!(
            "db-secret-rotator migrate --secret-id {} --function {}",
            shell_quote(&row.name),
            self.target()
        );
        let Some(f) = self.function(row) else {
            return "re-run the audit".to_string();
        };
        let config = match &f.config {
            Ok(c) => c,
            Err(e) if e.not_found() => {
                return format!("the rotation function no longer exists, so rotation fails: deploy db-secret-rotator, then {migrate}");
            }
            Err(e) if e.denied() => {
                return format!("grant the caller lambda:GetFunctionConfiguration and lambda:ListTags on {} to see its runtime ({})", function_name(&f.arn), e.code);
            }
            Err(e) => return format!("the function could not be read ({e}): re-run the audit"),
        };
        let deprecated = config
            .runtime
            .as_deref()
            .and_then(runtimes::deprecation)
            .filter(|d| d.deprecated_on <= self.today.as_str());
        let why = match deprecated {
            Some(d) => format!("{} is deprecated since {}: ", d.runtime, d.deprecated_on),
            None => String::new(),
        };
        if config.ours {
            return if row.rotation_enabled {
                "none: rotated by db-secret-rotator".to_string()
            } else {
                format!(
                    "enable rotation: aws secretsmanager rotate-secret --secret-id {} --rotation-lambda-arn {} --rotation-rules {}",
                    shell_quote(&row.name),
                    config.arn,
                    shell_quote(&self.rules_or_default(row))
                )
            };
        }
        match &config.app {
            Some(HostedApp {
                engine: Some(_),
                strategy: Some(strategy),
                ..
            }) => {
                let deploy = if *strategy == "alternating_users" {
                    " (a function deployed with rotationStrategy=alternating_users)"
                } else {
                    ""
                };
                format!("{why}migrate{deploy}: {migrate}")
            }
            Some(app) => format!(
                "{why}{} rotates an engine db-secret-rotator does not: keep it, and update the hosted application for a supported runtime",
                app.name
            ),
            None if deprecated.is_some() => format!(
                "{why}a custom function: check what it rotates, then migrate ({migrate}) or update its runtime"
            ),
            None => "a custom function on a supported runtime: review it before migrating".to_string(),
        }
    }

    fn rules_or_default(&self, row: &Row) -> String {
        match &row.rules {
            Value::Object(m) if !m.is_empty() => row.rules.to_string(),
            _ => r#"{"ScheduleExpression":"rate(30 days)"}"#.to_string(),
        }
    }
}
