//! The policy half of the configuration checks: whether the Secrets Manager endpoint's policy
//! (`vpc_endpoint_policy`), the secret's KMS key (`kms_key_policy`) and the function role's
//! own permissions (`role_permissions`) let the rotation make every call it makes. The
//! document evaluator is in `document.rs`; one file per check, and
//! `reads.rs` the reads a run shares across secrets. Read-only: every read goes
//! through [`Clients::call`], and a read that fails makes its check `skipped`, never `fail`.

pub mod document;
mod endpoint;
mod kms;
mod reads;
mod role;

use super::{AwsError, Clients};
use crate::failure::Cause;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use reads::Reads;

/// What a policy check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The configuration as read admits every call.
    Ok,
    /// It cannot be decided from what was read (the detail says why).
    Warn,
    /// As read, a call the rotation makes cannot succeed.
    Fail,
    /// Not applicable, or a read it needs failed (the detail names the action).
    Skipped,
}

impl Status {
    /// `ok`, `warn`, `fail` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One configuration check's result, for the diagnose report.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCheck {
    /// `vpc_endpoint_policy`, `kms_key_policy` or `role_permissions`.
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// The cause, when it failed.
    pub cause: Option<Cause>,
    /// The objects and rules behind the verdict (ids, actions, statements).
    pub evidence: Map<String, Value>,
    /// What to run to fix it, when it failed: an AWS CLI command where one exists.
    pub remedy: Option<String>,
    /// One line on what was seen, or why it was skipped or undecided.
    pub detail: String,
}

impl PolicyCheck {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> PolicyCheck {
        PolicyCheck {
            name,
            status,
            cause: None,
            evidence: Map::new(),
            remedy: None,
            detail: detail.into(),
        }
    }

    /// A failed check.
    fn failed(
        name: &'static str,
        cause: Cause,
        detail: String,
        evidence: Value,
        remedy: String,
    ) -> PolicyCheck {
        PolicyCheck {
            name,
            status: Status::Fail,
            cause: Some(cause),
            evidence: evidence.as_object().cloned().unwrap_or_default(),
            remedy: Some(remedy),
            detail,
        }
    }

    /// The check as the diagnose report's JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "ok": match self.status {
                Status::Skipped => None,
                Status::Fail => Some(false),
                _ => Some(true),
            },
            "status": self.status.as_str(),
            "cause": self.cause.map(|c| c.code()),
            "evidence": self.evidence,
            "remedy": self.remedy,
            "detail": self.detail,
        })
    }
}

/// What the checks are about: the secret, and optionally what the caller already knows.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The secret's id or ARN.
    pub secret_id: String,
    /// The function to check instead of the secret's rotation function (`--function`).
    pub function: Option<String>,
    /// The master secret's ARN (the `masterarn` of an alternating-users secret).
    pub master_secret_arn: Option<String>,
}

/// The facts every check shares, read once.
#[derive(Debug, Clone)]
struct Subject {
    secret_arn: String,
    secret_key: Option<String>,
    master_arn: Option<String>,
    master_key: Option<String>,
    /// Whether the master secret is managed by RDS (the rotation then calls the RDS API).
    rds_master: bool,
    /// Set when the master secret could not be described: its key is then not checked.
    master_unread: Option<String>,
    role_arn: String,
    account: String,
    region: String,
    subnets: Vec<String>,
    /// The function's `SECRETS_MANAGER_ENDPOINT`, when set.
    sm_endpoint: Option<String>,
    /// The reads shared with other secrets of the same run.
    reads: Arc<Reads>,
}

impl Subject {
    /// The Secrets Manager calls the rotation makes: (action, resource).
    fn secret_calls(&self) -> Vec<(&'static str, String)> {
        let mut calls: Vec<(&'static str, String)> = [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        ]
        .into_iter()
        .map(|a| (a, self.secret_arn.clone()))
        .collect();
        calls.push(("secretsmanager:GetRandomPassword", "*".into()));
        if let Some(master) = &self.master_arn {
            calls.push(("secretsmanager:GetSecretValue", master.clone()));
        }
        calls
    }

    /// The condition keys whose value is certain for the rotation's calls, lowercased;
    /// `secret` is the secret a KMS call is made for.
    fn context(&self, secret: Option<&str>) -> BTreeMap<String, String> {
        let mut c = BTreeMap::new();
        c.insert("aws:principalarn".into(), self.role_arn.clone());
        c.insert("aws:principalaccount".into(), self.account.clone());
        if let Some(secret) = secret {
            c.insert("kms:encryptioncontext:secretarn".into(), secret.into());
            c.insert(
                "kms:viaservice".into(),
                format!("secretsmanager.{}.amazonaws.com", self.region),
            );
            c.insert("kms:calleraccount".into(), self.account.clone());
        }
        c
    }

    /// The role's name (the last part of its ARN, after any path).
    fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn)
    }
}

/// The three policy checks, in the order of the report: `vpc_endpoint_policy`,
/// `kms_key_policy`, `role_permissions`.
pub async fn policy_checks(clients: &Clients, target: &Target) -> Vec<PolicyCheck> {
    policy_checks_with(clients, target, &Arc::default()).await
}

/// [`policy_checks`] with the reads of a run over many secrets: each function, subnet list,
/// endpoint list and key is read once for all of them.
pub async fn policy_checks_with(
    clients: &Clients,
    target: &Target,
    reads: &Arc<Reads>,
) -> Vec<PolicyCheck> {
    let names = ["vpc_endpoint_policy", "kms_key_policy", "role_permissions"];
    let subject = match subject(clients, target, reads).await {
        Ok(s) => s,
        Err(reason) => {
            return names
                .into_iter()
                .map(|n| PolicyCheck::new(n, Status::Skipped, reason.clone()))
                .collect();
        }
    };
    let endpoint = endpoint::check(clients, &subject).await;
    let (kms, keys) = kms::check(clients, &subject).await;
    let role = role::check(clients, &subject, &keys).await;
    vec![endpoint, kms, role]
}

/// Why a read failed, as a skipped check's detail: the permission it lacked, or the error.
fn unread(err: &AwsError) -> String {
    if err.denied() {
        format!(
            "not checked: the caller lacks {} ({})",
            err.action, err.code
        )
    } else if err.not_implemented() {
        format!(
            "not checked: the endpoint does not implement {}",
            err.action
        )
    } else {
        format!("not checked: {} failed: {err}", err.action)
    }
}

/// Reads what the checks share: the secret, its function and role, the master secret.
async fn subject(
    clients: &Clients,
    target: &Target,
    reads: &Arc<Reads>,
) -> Result<Subject, String> {
    let secret = clients
        .call(
            "secretsmanager",
            "DescribeSecret",
            clients
                .sm
                .describe_secret()
                .secret_id(&target.secret_id)
                .send(),
        )
        .await
        .map_err(|e| unread(&e))?;
    let secret_arn = secret.arn().unwrap_or(&target.secret_id).to_string();
    let function = match (&target.function, secret.rotation_lambda_arn()) {
        (Some(f), _) => f.clone(),
        (None, Some(f)) if !f.is_empty() => f.to_string(),
        _ => return Err("not checked: the secret has no rotation function".into()),
    };
    let config = reads
        .once("GetFunctionConfiguration", &function, || {
            clients.call(
                "lambda",
                "GetFunctionConfiguration",
                clients
                    .lambda
                    .get_function_configuration()
                    .function_name(&function)
                    .send(),
            )
        })
        .await
        .map_err(|e| {
            if e.not_found() {
                format!("not checked: the function {function} does not exist")
            } else {
                unread(&e)
            }
        })?;
    let role_arn = config.role().unwrap_or_default().to_string();
    let arn_part = |arn: &str, i: usize| arn.split(':').nth(i).unwrap_or_default().to_string();
    let mut subject = Subject {
        secret_key: secret.kms_key_id().map(str::to_string),
        account: arn_part(&role_arn, 4),
        region: arn_part(&secret_arn, 3),
        secret_arn,
        master_arn: target.master_secret_arn.clone(),
        master_key: None,
        rds_master: false,
        master_unread: None,
        role_arn,
        subnets: config
            .vpc_config()
            .map(|v| v.subnet_ids().to_vec())
            .unwrap_or_default(),
        sm_endpoint: config
            .environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("SECRETS_MANAGER_ENDPOINT"))
            .filter(|v| !v.is_empty())
            .cloned(),
        reads: reads.clone(),
    };
    if subject.role_arn.is_empty() {
        return Err(format!(
            "not checked: the function {function} names no role"
        ));
    }
    if let Some(master) = &target.master_secret_arn {
        let read = clients
            .call(
                "secretsmanager",
                "DescribeSecret",
                clients.sm.describe_secret().secret_id(master).send(),
            )
            .await;
        match read {
            Ok(m) => {
                subject.master_arn = m.arn().map(str::to_string).or(subject.master_arn);
                subject.master_key = m.kms_key_id().map(str::to_string);
                subject.rds_master = m.owning_service() == Some("rds");
            }
            Err(e) => subject.master_unread = Some(unread(&e)),
        }
    }
    Ok(subject)
}

/// A policy document with one more statement, as one line of JSON for a command.
fn with_statement(doc: &Value, statement: Value) -> String {
    let mut doc = doc.clone();
    let list = match doc["Statement"].take() {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    let mut list = list;
    list.push(statement);
    doc["Statement"] = Value::Array(list);
    if doc.get("Version").is_none() {
        doc["Version"] = json!("2012-10-17");
    }
    doc.to_string()
}
