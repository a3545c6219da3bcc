//! The configuration checks around a rotation function that need no database connection:
//! `rotation_function` (exists, timeout, reserved concurrency, invoke permission) and the
//! network paths `network_secrets_manager`, `network_database` and `network_rds_api`. The
//! model of what is read lives in `model.rs`, the cached reader in `read.rs`, how AWS decides
//! one flow in `eval.rs` and `path.rs`, the checks in `function.rs`, `service.rs` and
//! `database.rs`. Read-only.
//!
//! Rules the checks keep: `ok` only when the configuration as read admits the traffic, `fail`
//! only when as read it cannot work, `warn` with the reason when it cannot be decided, and a
//! read that was denied is `skipped`, naming the permission.

mod convert;
pub mod database;
pub mod eval;
pub mod function;
pub mod model;
pub mod path;
pub mod read;
pub mod service;

use crate::failure::Cause;
use crate::outside::AwsError;
use serde_json::{json, Map, Value};

pub use read::Reader;

/// How a configuration check came out; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The configuration as read admits what the rotation needs.
    Ok,
    /// Not evaluated (not applicable, or a read was denied or not implemented).
    Skipped,
    /// Cannot be decided from the configuration; the detail says why.
    Warn,
    /// As read, it cannot work.
    Fail,
}

impl Status {
    /// The lower-case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One finding within a check: a fault, an undecidable point or a skipped read.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Warn, fail or skipped.
    pub status: Status,
    /// The cause of a fail (and of a warn that names one).
    pub cause: Option<Cause>,
    /// The ids and the traffic.
    pub evidence: Map<String, Value>,
    /// A command or step that fixes it.
    pub remedy: Option<String>,
    /// One line for a person.
    pub detail: String,
}

impl Finding {
    /// A fault with its cause.
    pub fn fail(cause: Cause, evidence: Value, remedy: String, detail: String) -> Finding {
        Finding {
            status: Status::Fail,
            cause: Some(cause),
            evidence: object(evidence),
            remedy: Some(remedy),
            detail,
        }
    }

    /// Something that cannot be decided.
    pub fn warn(evidence: Value, detail: String) -> Finding {
        Finding {
            status: Status::Warn,
            cause: None,
            evidence: object(evidence),
            remedy: None,
            detail,
        }
    }

    /// A read that failed: denied, not implemented, or no answer. Never a fault.
    pub fn unread(err: &AwsError) -> Finding {
        let why = if err.denied() {
            "denied"
        } else if err.not_implemented() {
            "not implemented by this endpoint"
        } else {
            "failed"
        };
        Finding {
            status: Status::Skipped,
            cause: None,
            evidence: object(json!({"action": err.action, "code": err.code})),
            remedy: err
                .denied()
                .then(|| format!("Allow {} to the caller.", err.action)),
            detail: format!("{} {why} ({})", err.action, err.code),
        }
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The outcome of one configuration check, for the diagnose report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigCheck {
    /// `rotation_function`, `network_secrets_manager`, `network_database`, `network_rds_api`.
    pub name: &'static str,
    /// The worst of its findings.
    pub status: Status,
    /// The cause of the finding reported (a fail's always).
    #[serde(serialize_with = "cause_code")]
    pub cause: Option<Cause>,
    /// The ids, the traffic needed and what was found; `other_findings` lists the rest.
    pub evidence: Map<String, Value>,
    /// An AWS CLI command with the real ids where one exists.
    pub remedy: Option<String>,
    /// One line for a person.
    pub detail: String,
    /// What was found, when it is no cause of the table (a legacy finding such as
    /// `legacy_without_tls`, which a warning carries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<&'static str>,
}

fn cause_code<S: serde::Serializer>(c: &Option<Cause>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(c.code()),
        None => s.serialize_none(),
    }
}

impl ConfigCheck {
    /// A check that does not apply here.
    pub fn skipped(name: &'static str, detail: impl Into<String>) -> ConfigCheck {
        ConfigCheck {
            name,
            status: Status::Skipped,
            cause: None,
            evidence: Map::new(),
            remedy: None,
            detail: detail.into(),
            finding: None,
        }
    }

    /// The check made of its findings: the worst first (the first fail among equals), the
    /// others listed under `other_findings`; no finding is `ok` with `ok_detail`.
    pub fn from_findings(
        name: &'static str,
        findings: Vec<Finding>,
        ok_detail: &str,
    ) -> ConfigCheck {
        let mut unique: Vec<Finding> = Vec::new();
        for f in findings {
            if !unique
                .iter()
                .any(|u| u.cause == f.cause && u.evidence == f.evidence && u.detail == f.detail)
            {
                unique.push(f);
            }
        }
        let Some(worst) = unique.iter().map(|f| f.status).max() else {
            return ConfigCheck {
                name,
                status: Status::Ok,
                cause: None,
                evidence: Map::new(),
                remedy: None,
                detail: ok_detail.to_string(),
                finding: None,
            };
        };
        let at = unique.iter().position(|f| f.status == worst).unwrap_or(0);
        let first = unique.remove(at);
        let mut evidence = first.evidence;
        if !unique.is_empty() {
            let others = unique
                .iter()
                .map(|f| {
                    let mut m = f.evidence.clone();
                    m.insert("status".into(), json!(f.status.as_str()));
                    m.insert("cause".into(), json!(f.cause.map(|c| c.code())));
                    m.insert("detail".into(), json!(f.detail));
                    Value::Object(m)
                })
                .collect();
            evidence.insert("other_findings".into(), Value::Array(others));
        }
        ConfigCheck {
            name,
            status: worst,
            cause: first.cause,
            evidence,
            remedy: first.remedy,
            detail: first.detail,
            finding: None,
        }
    }
}

/// What the checks need to know about the secret: nothing beyond what `diagnose` reads.
#[derive(Debug, Clone, Default)]
pub struct SecretFacts {
    /// The secret's ARN (the invoke permission's source).
    pub secret_arn: String,
    /// The secret's `host`, when it has one.
    pub host: Option<String>,
    /// The secret's `port`, when it has one.
    pub port: Option<u16>,
    /// Alternating users whose master secret is managed by RDS: the function calls the RDS API.
    pub rds_managed_master: bool,
}

/// The four checks, in the contract's order: `rotation_function`, `network_secrets_manager`,
/// `network_database`, `network_rds_api`. `function` is a name or ARN. Every object is read
/// once per `reader`, so one reader over many secrets reads each function and VPC once.
pub async fn config_checks(
    reader: &mut Reader,
    secret: &SecretFacts,
    function: &str,
) -> Vec<ConfigCheck> {
    let fun = reader.function(function).await;
    let first = function::check(reader, &fun, function, &secret.secret_arn).await;
    let mut checks = vec![first];
    let fun = match fun {
        Ok(Some(f)) => f,
        Ok(None) => {
            for name in [
                "network_secrets_manager",
                "network_database",
                "network_rds_api",
            ] {
                checks.push(ConfigCheck::skipped(
                    name,
                    "the rotation function does not exist",
                ));
            }
            return checks;
        }
        Err(e) => {
            let why = Finding::unread(&e).detail;
            for name in [
                "network_secrets_manager",
                "network_database",
                "network_rds_api",
            ] {
                checks.push(ConfigCheck::skipped(
                    name,
                    format!("the function could not be read: {why}"),
                ));
            }
            return checks;
        }
    };
    checks.push(service::secrets_manager(reader, &fun).await);
    checks.push(database::database(reader, &fun, secret).await);
    checks.push(service::rds_api(reader, &fun, secret).await);
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_finding_leads_and_the_rest_are_listed() {
        let warn = Finding::warn(json!({"subnet": "subnet-a"}), "peering".into());
        let fail = Finding::fail(
            Cause::NetworkAclBlocks,
            json!({"subnet": "subnet-b"}),
            "aws ec2 ...".into(),
            "denied".into(),
        );
        let c =
            ConfigCheck::from_findings("network_database", vec![warn.clone(), fail, warn], "fine");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.cause, Some(Cause::NetworkAclBlocks));
        assert_eq!(c.evidence["subnet"], "subnet-b");
        assert_eq!(c.evidence["other_findings"].as_array().unwrap().len(), 1);
        let ok = ConfigCheck::from_findings("network_database", vec![], "fine");
        assert_eq!((ok.status, ok.detail.as_str()), (Status::Ok, "fine"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["cause"], "network_acl_blocks");
        assert_eq!(json["status"], "fail");
    }

    #[test]
    fn a_denied_read_is_skipped_naming_the_action() {
        let e = AwsError {
            code: "UnauthorizedOperation".into(),
            message: String::new(),
            action: "ec2:DescribeSubnets".into(),
        };
        let f = Finding::unread(&e);
        assert_eq!(f.status, Status::Skipped);
        assert_eq!(f.evidence["action"], "ec2:DescribeSubnets");
        assert!(f.detail.contains("denied"));
    }
}
