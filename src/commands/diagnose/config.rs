//! `diagnose --scope config`: the configuration around the rotation function, read from
//! outside with the caller's credentials ([`crate::outside::config`]), as checks of the same
//! [`Report`](super::Report). The scope enum lives here, with how one configuration check
//! becomes one report check and the text the configuration checks print as on a terminal.

use super::report::{Check, Failed, Outcome, Status, Warning};
use crate::failure::{Cause, Evidence};
use crate::outside::config::{self as outside_config, ConfigCheck, Run};
use crate::outside::Clients;
use serde_json::Value;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Which checks `diagnose` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scope {
    /// From where the binary runs: endpoint, secret, database, logins.
    #[default]
    Here,
    /// The configuration around the function, read through AWS APIs (network path,
    /// policies, the function's settings, an old function's package).
    Config,
    /// `here`, then `config`, in one report.
    All,
}

impl Scope {
    /// Whether the checks from where the binary runs are made.
    pub fn here(self) -> bool {
        matches!(self, Scope::Here | Scope::All)
    }

    /// Whether the configuration checks are made.
    pub fn config(self) -> bool {
        matches!(self, Scope::Config | Scope::All)
    }
}

/// Whether a check of a report is one of the configuration checks (by its contract name).
pub fn is_config(name: &str) -> bool {
    outside_config::NAMES.contains(&name)
}

/// The eight configuration checks of `secret_id`, in the contract's order, for `function`
/// (else the secret's own rotation function), within `limit`. `replacement` is the function
/// an old one's remedies name. A secret that cannot be described, or checks that run out of
/// time, give eight skipped checks saying why.
pub async fn checks(
    clients: &Clients,
    secret_id: &str,
    function: Option<&str>,
    replacement: Option<String>,
    limit: Duration,
) -> Vec<Check> {
    let started = Instant::now();
    let made = tokio::time::timeout(limit, async {
        let facts = outside_config::facts(clients, secret_id, function)
            .await
            .map_err(|e| format!("the secret could not be described: {e}"))?;
        let mut run = Run::new(clients.clone(), replacement);
        Ok::<_, String>(run.checks(&facts).await)
    })
    .await
    .unwrap_or_else(|_| Err("the configuration checks ran out of time".to_string()));
    // The checks are made together (each object read once), so their time is not split:
    // the first carries the run's.
    let mut ms = started.elapsed().as_millis() as u64;
    match made {
        Ok(found) => found
            .into_iter()
            .map(|c| to_check(c, std::mem::take(&mut ms)))
            .collect(),
        Err(why) => outside_config::NAMES
            .iter()
            .map(|n| to_check(ConfigCheck::skipped(n, why.clone()), 0))
            .collect(),
    }
}

/// One configuration check as a report check: a warn passes with one warning (its code the
/// cause's when there is one, else what was found (a legacy finding), else the check's
/// name); a fail carries its cause, detail, remedy and evidence; a skip keeps the report's
/// `skipped: ...` detail.
pub fn to_check(c: ConfigCheck, duration_ms: u64) -> Check {
    use outside_config::Status as S;
    let remedy = c.remedy.unwrap_or_default();
    let (detail, outcome) = match c.status {
        S::Ok => (c.detail, Outcome::Passed(Vec::new())),
        S::Warn => {
            let code = match (c.cause, c.finding) {
                (Some(cause), _) => Cow::Borrowed(cause.code()),
                (None, Some(finding)) => Cow::Borrowed(finding),
                (None, None) => Cow::Borrowed(c.name),
            };
            let w = Warning {
                code,
                message: c.detail.clone(),
                remedy,
                evidence: c.evidence,
            };
            (c.detail, Outcome::Passed(vec![w]))
        }
        S::Fail => {
            // Every fail names its cause; one that does not is still a fail, never dropped.
            let cause = c.cause.unwrap_or(Cause::UnrecognisedFailure);
            let failed = Failed {
                cause,
                message: c.detail.clone(),
                remedy,
                evidence: c.evidence,
            };
            (c.detail, Outcome::Failed(Box::new(failed)))
        }
        S::Skipped => (format!("skipped: {}", c.detail), Outcome::Skipped),
    };
    Check {
        name: Cow::Borrowed(c.name),
        duration_ms,
        detail,
        outcome,
    }
}

/// The configuration checks for a terminal: fails first, one line each with the objects
/// involved, then the remedy on the next line; then warns the same way; then oks and skips.
pub fn text(checks: &[&Check]) -> String {
    let mut out = String::new();
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(10);
    for wanted in [Status::Fail, Status::Warn] {
        for c in checks.iter().filter(|c| c.status() == wanted) {
            let (mark, code, evidence, remedies) = match &c.outcome {
                Outcome::Failed(f) => (
                    "FAIL",
                    f.cause.code().to_string(),
                    &f.evidence,
                    vec![f.remedy.as_str()],
                ),
                Outcome::Passed(w) if !w.is_empty() => (
                    "warn",
                    w[0].code.to_string(),
                    &w[0].evidence,
                    w.iter().map(|w| w.remedy.as_str()).collect(),
                ),
                _ => continue,
            };
            let ids = object_ids(evidence);
            let ids = if ids.is_empty() {
                String::new()
            } else {
                format!(" [{}]", ids.join(" "))
            };
            out.push_str(&format!(
                "{mark:<6} {:<width$}  {code}{ids}: {}\n",
                c.name, c.detail
            ));
            for r in remedies.into_iter().filter(|r| !r.is_empty()) {
                out.push_str(&format!("{:<6} {:<width$}  remedy: {r}\n", "", ""));
            }
        }
    }
    for c in checks
        .iter()
        .filter(|c| matches!(c.status(), Status::Ok | Status::Skipped))
    {
        let mark = if c.status() == Status::Ok {
            "ok"
        } else {
            "skip"
        };
        out.push_str(&format!("{mark:<6} {:<width$}  {}\n", c.name, c.detail));
    }
    out
}

/// The ids of the AWS objects a finding names, in the evidence's order: subnets, groups,
/// ACLs, endpoints, route tables, gateways, VPCs, keys, the database, the role and the
/// function (by name). The other findings listed under it are left to the JSON.
fn object_ids(evidence: &Evidence) -> Vec<String> {
    const PREFIXES: [&str; 8] = [
        "subnet-", "sg-", "acl-", "vpce-", "rtb-", "nat-", "igw-", "vpc-",
    ];
    const NAMED: [&str; 5] = ["key_id", "function", "db_instance", "role", "key"];
    let mut ids: Vec<String> = Vec::new();
    let mut add = |key: &str, v: &Value| {
        let mut strings = Vec::new();
        match v {
            Value::String(s) => strings.push(s.as_str()),
            Value::Array(a) => strings.extend(a.iter().filter_map(Value::as_str)),
            _ => {}
        }
        for s in strings {
            let id = if NAMED.contains(&key) {
                crate::text::function_name(s).to_string()
            } else if PREFIXES.iter().any(|p| s.starts_with(p)) {
                s.to_string()
            } else {
                continue;
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
    for (key, v) in evidence {
        if key != "other_findings" && key != "findings" {
            add(key, v);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::config::Status as S;
    use serde_json::{json, Map};

    fn config(name: &'static str, status: S, cause: Option<Cause>, evidence: Value) -> ConfigCheck {
        ConfigCheck {
            name,
            status,
            cause,
            evidence: match evidence {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            remedy: Some("aws ec2 authorize-security-group-ingress --group-id sg-1".into()),
            detail: "seen".into(),
            finding: None,
        }
    }

    #[test]
    fn each_status_maps_onto_the_report() {
        let fail = to_check(
            config(
                "network_secrets_manager",
                S::Fail,
                Some(Cause::VpcEndpointSecurityGroupBlocks),
                json!({"vpc_endpoint": "vpce-1", "security_groups": ["sg-1"], "function": "arn:aws:lambda:us-east-1:1:function:rot", "needed": {"port": 443}}),
            ),
            5,
        );
        assert_eq!(fail.status(), Status::Fail);
        let v = serde_json::to_value(&fail).unwrap();
        assert_eq!(v["cause"], "vpc_endpoint_security_group_blocks");
        assert_eq!(v["message"], "seen");
        assert_eq!(v["evidence"]["vpc_endpoint"], "vpce-1");

        let warn = to_check(config("vpc_endpoint_policy", S::Warn, None, json!({})), 0);
        assert_eq!(warn.status(), Status::Warn);
        let v = serde_json::to_value(&warn).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["warnings"][0]["code"], "vpc_endpoint_policy");

        let skip = to_check(ConfigCheck::skipped("legacy_bundle", "not read"), 0);
        assert_eq!(skip.detail, "skipped: not read");
        assert_eq!(skip.status(), Status::Skipped);

        let ok = to_check(config("rotation_function", S::Ok, None, json!({})), 0);
        let text = text(&[&ok, &skip, &warn, &fail]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("FAIL   network_secrets_manager"),
            "{text}"
        );
        assert!(lines[0].contains("[vpce-1 sg-1 rot]"), "{text}");
        assert!(
            lines[1].contains("remedy: aws ec2 authorize-security-group-ingress"),
            "{text}"
        );
        assert!(lines[2].starts_with("warn   vpc_endpoint_policy"), "{text}");
        assert!(lines[4].starts_with("ok     rotation_function"), "{text}");
        assert!(lines[5].starts_with("skip   legacy_bundle"), "{text}");
    }

    #[test]
    fn scopes() {
        assert!(Scope::Here.here() && !Scope::Here.config());
        assert!(!Scope::Config.here() && Scope::Config.config());
        assert!(Scope::All.here() && Scope::All.config());
        assert!(is_config("network_database") && !is_config("tls"));
    }
}
