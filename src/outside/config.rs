//! The configuration checks of one secret, from outside the function, in the contract's
//! order: `rotation_function`, `network_secrets_manager`, `vpc_endpoint_policy`,
//! `network_database`, `network_rds_api`, `kms_key_policy`, `role_permissions`,
//! `legacy_bundle`. The network half is [`super::network`], the policies [`super::policy`],
//! the old function's package [`super::legacy`]; this file reads what they share about the
//! secret (its function, host, port, engine, master) and puts their answers in one list.
//!
//! A [`Run`] keeps what it read across secrets (every function, VPC, group, ACL and package
//! once), so `audit --deep` grows with the distinct objects, not with the secrets.

use super::legacy::{self, bundle::Limits, Package, Severity};
use super::network::{self, Reader, SecretFacts};
use super::policy::{self, PolicyCheck};
use super::{runtimes, AwsError, Clients};
use crate::engine::Engine;
use crate::failure::Cause;
use crate::secret::{DbSecret, SecretRole};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub use super::network::{ConfigCheck, Status};

/// The check names, in order.
pub const NAMES: [&str; 8] = [
    "rotation_function",
    "network_secrets_manager",
    "vpc_endpoint_policy",
    "network_database",
    "network_rds_api",
    "kms_key_policy",
    "role_permissions",
    "legacy_bundle",
];

/// What the checks read about a secret (its value is read for the host and port only, as
/// diagnose reads it, and never printed).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The secret's ARN.
    pub secret_arn: String,
    /// The function to check: `--function`, else the secret's rotation function.
    pub function: Option<String>,
    /// The engine, host and port of AWSCURRENT, when it was readable and valid.
    pub engine: Option<Engine>,
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: Option<u16>,
    /// `masterarn` (alternating users).
    pub master_arn: Option<String>,
    /// The master secret is managed by RDS (the function then calls the RDS API).
    pub rds_managed_master: bool,
    /// Why AWSCURRENT's host is unknown, when it is.
    pub unread: Option<String>,
}

/// Reads the facts of one secret: DescribeSecret, AWSCURRENT's JSON (host, port, engine,
/// masterarn) and, for a master secret, whether RDS manages it.
pub async fn facts(
    clients: &Clients,
    secret_id: &str,
    function: Option<&str>,
) -> Result<Facts, AwsError> {
    let d = clients
        .call(
            "secretsmanager",
            "DescribeSecret",
            clients.sm.describe_secret().secret_id(secret_id).send(),
        )
        .await?;
    let mut facts = Facts {
        secret_arn: d.arn().unwrap_or(secret_id).to_string(),
        function: function
            .map(str::to_string)
            .or_else(|| d.rotation_lambda_arn().map(str::to_string)),
        ..Facts::default()
    };
    let value = clients
        .call(
            "secretsmanager",
            "GetSecretValue",
            clients
                .sm
                .get_secret_value()
                .secret_id(&facts.secret_arn)
                .version_stage(crate::secret::Stage::Current.as_str())
                .send(),
        )
        .await;
    match value {
        Ok(v) => {
            // Wrapped at once, so the scrubber hides it; only host, port and engine are kept.
            let text = crate::secret::Password::new(v.secret_string().unwrap_or_default());
            match DbSecret::parse(text.expose(), SecretRole::Current) {
                Ok(s) => {
                    facts.engine = Some(s.engine);
                    facts.host = Some(s.host.clone());
                    facts.port = Some(s.port);
                    facts.master_arn = s.masterarn.clone();
                }
                Err(f) => facts.unread = Some(format!("AWSCURRENT is not a valid secret: {f}")),
            }
        }
        Err(e) => facts.unread = Some(format!("AWSCURRENT was not read: {e}")),
    }
    if let Some(master) = &facts.master_arn {
        let m = clients
            .call(
                "secretsmanager",
                "DescribeSecret",
                clients.sm.describe_secret().secret_id(master).send(),
            )
            .await;
        facts.rds_managed_master = m.is_ok_and(|m| m.owning_service() == Some("rds"));
    }
    Ok(facts)
}

/// One run over one or many secrets: the objects read so far.
pub struct Run {
    clients: Clients,
    reader: Reader,
    packages: HashMap<String, Package>,
    policy_reads: std::sync::Arc<policy::Reads>,
    /// The function that is to replace old ones (named in the legacy remedies).
    pub replacement: Option<String>,
    /// Today, `YYYY-MM-DD`.
    pub today: String,
}

impl Run {
    /// A run with the operator's clients.
    pub fn new(clients: Clients, replacement: Option<String>) -> Run {
        Run {
            reader: Reader::new(clients.clone()),
            clients,
            packages: HashMap::new(),
            policy_reads: Default::default(),
            replacement,
            today: runtimes::today(),
        }
    }

    /// The eight checks of one secret, in order.
    pub async fn checks(&mut self, facts: &Facts) -> Vec<ConfigCheck> {
        let Some(function) = facts.function.clone() else {
            return NAMES
                .iter()
                .map(|n| {
                    ConfigCheck::skipped(
                        n,
                        "the secret has no rotation function: name the one to check with --function",
                    )
                })
                .collect();
        };
        let secret = SecretFacts {
            secret_arn: facts.secret_arn.clone(),
            host: facts.host.clone(),
            port: facts.port,
            rds_managed_master: facts.rds_managed_master,
        };
        let mut net = network::config_checks(&mut self.reader, &secret, &function)
            .await
            .into_iter();
        let target = policy::Target {
            secret_id: facts.secret_arn.clone(),
            function: Some(function.clone()),
            master_secret_arn: facts.master_arn.clone(),
        };
        let mut pol = policy::policy_checks_with(&self.clients, &target, &self.policy_reads)
            .await
            .into_iter()
            .map(ConfigCheck::from);
        let legacy = self.legacy(&function, facts).await;
        let mut out = Vec::with_capacity(NAMES.len());
        // network: function, Secrets Manager, database, RDS API; policy: endpoint, key, role.
        out.extend(net.next());
        out.extend(net.next());
        out.extend(pol.next());
        out.extend(net.next());
        out.extend(net.next());
        out.extend(pol);
        out.push(legacy);
        // Without AWSCURRENT's host the database's path is not checked: say why it is unknown.
        if let (None, Some(why)) = (&facts.host, &facts.unread) {
            for c in out.iter_mut() {
                if c.name == "network_database" && c.status == Status::Skipped {
                    c.detail = format!("the secret's host is unknown: {why}");
                }
            }
        }
        out
    }

    /// `legacy_bundle`: the function's package read once, judged for this secret.
    async fn legacy(&mut self, function: &str, facts: &Facts) -> ConfigCheck {
        const NAME: &str = "legacy_bundle";
        if !self.packages.contains_key(function) {
            let package = legacy::read_function(&self.clients, function, Limits::default()).await;
            self.packages.insert(function.to_string(), package);
        }
        let package = &self.packages[function];
        if package.this_project {
            return ConfigCheck::skipped(NAME, "the function is db-secret-rotator");
        }
        let engine_version = match &facts.host {
            Some(host) if network::database::is_rds_host(host) => self
                .reader
                .database(host)
                .await
                .ok()
                .flatten()
                .and_then(|d| d.engine_version),
            _ => None,
        };
        let ctx = legacy::Context {
            secret_arn: facts.secret_arn.clone(),
            engine: facts.engine,
            engine_version,
            replacement: self.replacement.clone(),
            today: self.today.clone(),
            ..legacy::Context::default()
        };
        legacy_check(NAME, package.inspect(ctx))
    }
}

/// The legacy findings as one check: failed on the first fail, warned on warnings alone,
/// skipped when the function or its package could not be read and nothing was found.
fn legacy_check(name: &'static str, i: legacy::Inspection) -> ConfigCheck {
    let findings: Vec<Value> = i
        .findings
        .iter()
        .map(|f| json!({"code": f.code, "severity": f.severity, "message": f.message, "evidence": f.evidence}))
        .collect();
    let Some(first) = i.findings.first() else {
        return match i.skipped {
            Some(why) => ConfigCheck::skipped(name, why),
            None => ConfigCheck {
                name,
                status: Status::Ok,
                cause: None,
                evidence: Map::new(),
                remedy: None,
                detail: format!(
                    "{}: nothing in its package, stack or runtime stands in the way",
                    i.function
                ),
                finding: None,
            },
        };
    };
    let mut evidence = first.evidence.clone();
    evidence.insert("finding".into(), json!(first.code));
    evidence.insert("function".into(), json!(i.function));
    if findings.len() > 1 {
        evidence.insert("findings".into(), Value::Array(findings));
    }
    if let Some(why) = &i.skipped {
        evidence.insert("package_not_read".into(), json!(why));
    }
    ConfigCheck {
        name,
        status: match first.severity {
            Severity::Fail => Status::Fail,
            Severity::Warn => Status::Warn,
        },
        cause: Cause::from_code(first.code),
        evidence,
        remedy: Some(first.remedy.clone()),
        detail: first.message.clone(),
        // The warnings (no TLS, a deprecated runtime) are no rotation cause: the finding's
        // code names what was found.
        finding: Some(first.code),
    }
}

impl From<PolicyCheck> for ConfigCheck {
    fn from(p: PolicyCheck) -> ConfigCheck {
        ConfigCheck {
            name: p.name,
            status: match p.status {
                policy::Status::Ok => Status::Ok,
                policy::Status::Warn => Status::Warn,
                policy::Status::Fail => Status::Fail,
                policy::Status::Skipped => Status::Skipped,
            },
            cause: p.cause,
            evidence: p.evidence,
            remedy: p.remedy,
            detail: p.detail,
            finding: None,
        }
    }
}
