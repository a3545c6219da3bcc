//! `audit`: every secret with rotation configured in the caller's account and region, its
//! rotation function (runtime, deprecation, hosted application, whether it is already this
//! function), last and next rotation, and one next step per secret. Read-only.
//!
//! This file lists the secrets and decides each next step; `function.rs` reads a rotation
//! function; `report.rs` is the report, as JSON or a table; `deep.rs` is `--deep`: each
//! secret's configuration checks and last rotation from the logs.

pub mod deep;
mod function;
mod report;
#[cfg(test)]
mod tests;

pub use function::{lookup, Function, FunctionConfig};
pub use report::{Failed, FunctionError, ListError, Listing, Report, SecretRow, Summary};

use crate::app::App;
use crate::commands::Format;
use crate::config::Strategy;
use crate::outside::runtimes;
use crate::outside::{date, AwsError, Clients, HostedApp, RotationRules};
use crate::text::{function_name, shell_quote};
use std::collections::HashMap;

/// `audit`'s command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Your db-secret-rotator function(s): recognised as such, and named in next steps.
    #[arg(long)]
    pub function: Vec<String>,
    /// Also check each secret's configuration (network, policies, an old function's
    /// package) and read its last rotation from the logs.
    #[arg(long)]
    pub deep: bool,
    /// Only the secrets whose name starts with this (case-sensitive: ListSecrets' name filter).
    #[arg(long)]
    pub name_prefix: Option<String>,
}

/// Runs the audit with the caller's credentials. Progress lines go to stderr; so does a
/// ListSecrets failure, with the permission it needs when it was denied.
pub async fn run(app: &App, args: Args) -> Report {
    let clients = Clients::new(app.sdk());
    let prefix = args.name_prefix.as_deref();
    match survey_named(&clients, &app.region(), &args.function, prefix, &progress).await {
        Ok(audit) if args.deep => {
            let replacement = args.function.first().cloned();
            let deep = deep::deepen(&clients, &audit, replacement, &progress).await;
            Report::deep(&audit, deep)
        }
        Ok(audit) => Report::of(&audit),
        Err(e) => {
            progress(&format!("audit: ListSecrets failed: {e}"));
            if e.denied() {
                progress(&format!(
                    "audit: the caller needs {} (and lambda:GetFunctionConfiguration, lambda:ListTags)",
                    e.action
                ));
            }
            Report::failed(&e)
        }
    }
}

/// A progress line, on stderr: stdout holds the report alone.
pub(crate) fn progress(line: &str) {
    eprintln!("{line}");
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
    /// The rotation rules (`None` when the secret has none).
    pub rules: Option<RotationRules>,
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

/// Lists every secret with a rotation function, then reads each distinct function once.
/// Progress goes to `progress` (stderr in the CLI).
pub async fn survey(
    clients: &Clients,
    region: &str,
    ours: &[String],
    progress: &dyn Fn(&str),
) -> Result<Audit, AwsError> {
    survey_named(clients, region, ours, None, progress).await
}

/// [`survey`] over the secrets whose name starts with `prefix` (ListSecrets' `name` filter)
/// when one is given: a part of an account, or one test's fixture in a shared one.
pub async fn survey_named(
    clients: &Clients,
    region: &str,
    ours: &[String],
    prefix: Option<&str>,
    progress: &dyn Fn(&str),
) -> Result<Audit, AwsError> {
    let rows = with_rotation(clients, prefix, progress).await?;
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

/// Every secret with a rotation function (ListSecrets, every page, through the SDK's
/// paginator), with a progress line per page.
async fn with_rotation(
    clients: &Clients,
    prefix: Option<&str>,
    progress: &dyn Fn(&str),
) -> Result<Vec<Row>, AwsError> {
    use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
    let filters = prefix.map(|p| {
        vec![Filter::builder()
            .key(FilterNameStringType::Name)
            .values(p)
            .build()]
    });
    let mut pages = clients
        .sm
        .list_secrets()
        .max_results(100)
        .set_filters(filters)
        .into_paginator()
        .send();
    let mut rows = Vec::new();
    let mut listed = 0usize;
    loop {
        let page = clients
            .call("secretsmanager", "ListSecrets", pages.try_next())
            .await?;
        let Some(page) = page else { break };
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
                rules: s.rotation_rules().map(RotationRules::from_sdk),
                last_rotated: date(s.last_rotated_date()),
                next_rotation: date(s.next_rotation_date()),
            });
        }
        progress(&format!(
            "audit: {listed} secrets listed, {} with rotation",
            rows.len()
        ));
        // The paginator would end here too; asking it again would log a call never made.
        if page.next_token().is_none_or(str::is_empty) {
            break;
        }
    }
    Ok(rows)
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
            .filter(|d| d.in_effect_on(&self.today));
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
                let deploy = if *strategy == Strategy::AlternatingUsers {
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
            Some(r) if !r.is_empty() => r.to_string(),
            _ => RotationRules::schedule("rate(30 days)").to_string(),
        }
    }
}
