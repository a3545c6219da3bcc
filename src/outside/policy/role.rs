//! `role_permissions`: IAM's own simulation (SimulatePrincipalPolicy) of every call the
//! rotation makes, for the function's role, on this secret, the master secret and their
//! customer managed keys. Permissions boundaries are part of the simulation.

use super::{unread, PolicyCheck, Status, Subject};
use crate::failure::Cause;
use crate::outside::Clients;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};

const NAME: &str = "role_permissions";

/// A customer managed key the rotation uses: its ARN, the secret it serves, the actions.
pub(super) type KeyUse = (String, String, &'static [&'static str]);

/// One simulation: actions on one resource, with the context keys they carry.
struct Group {
    resource: String,
    actions: Vec<&'static str>,
    context: Vec<(&'static str, String)>,
}

/// What the simulation said about one call.
struct Denial {
    action: &'static str,
    resource: String,
    explicit: bool,
    policies: Vec<String>,
}

pub(super) async fn check(clients: &Clients, s: &Subject, keys: &[KeyUse]) -> PolicyCheck {
    let mut groups = vec![Group {
        resource: s.secret_arn.clone(),
        actions: vec![
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        ],
        context: Vec::new(),
    }];
    let mut anywhere = vec!["secretsmanager:GetRandomPassword"];
    if s.rds_master {
        anywhere.extend(["rds:DescribeDBInstances", "rds:DescribeDBClusters"]);
    }
    groups.push(Group {
        resource: "*".into(),
        actions: anywhere,
        context: Vec::new(),
    });
    if let Some(master) = &s.master_arn {
        groups.push(Group {
            resource: master.clone(),
            actions: vec!["secretsmanager:GetSecretValue"],
            context: Vec::new(),
        });
    }
    for (key, secret, actions) in keys {
        groups.push(Group {
            resource: key.clone(),
            actions: actions.to_vec(),
            context: vec![
                (
                    "kms:ViaService",
                    format!("secretsmanager.{}.amazonaws.com", s.region),
                ),
                ("kms:EncryptionContext:SecretARN", secret.clone()),
            ],
        });
    }
    let mut denials = Vec::new();
    let mut allowed = 0;
    for g in &groups {
        match simulate(clients, s, g).await {
            Ok((n, mut d)) => {
                allowed += n;
                denials.append(&mut d);
            }
            Err(check) => return check,
        }
    }
    if denials.is_empty() {
        return PolicyCheck::new(
            NAME,
            Status::Ok,
            format!(
                "the role {} is allowed all {allowed} calls the rotation makes",
                s.role_arn
            ),
        );
    }
    missing(s, denials)
}

/// Simulates one group: the number of allowed calls and the denials, or the check to return
/// (skipped for a failed read, warn for an answer that does not decide).
async fn simulate(
    clients: &Clients,
    s: &Subject,
    g: &Group,
) -> Result<(usize, Vec<Denial>), PolicyCheck> {
    let mut req = clients
        .iam
        .simulate_principal_policy()
        .policy_source_arn(&s.role_arn)
        .set_action_names(Some(g.actions.iter().map(|a| a.to_string()).collect()))
        .resource_arns(&g.resource);
    for (k, v) in &g.context {
        req = req.context_entries(
            ContextEntry::builder()
                .context_key_name(*k)
                .context_key_values(v)
                .context_key_type(ContextKeyTypeEnum::String)
                .build(),
        );
    }
    let status = AtomicU16::new(0);
    let sent = async {
        let r = req.send().await;
        if let Some(raw) = r.as_ref().err().and_then(|e| e.raw_response()) {
            status.store(raw.status().as_u16(), Ordering::Relaxed);
        }
        r
    };
    let out = match clients.call("iam", "SimulatePrincipalPolicy", sent).await {
        Ok(out) => out,
        Err(e) if e.not_implemented() || status.load(Ordering::Relaxed) >= 500 => {
            return Err(PolicyCheck::new(
                NAME,
                Status::Skipped,
                format!(
                    "not checked: the endpoint does not implement {} (HTTP {})",
                    e.action,
                    status.load(Ordering::Relaxed)
                ),
            ))
        }
        Err(e) => return Err(PolicyCheck::new(NAME, Status::Skipped, unread(&e))),
    };
    let mut allowed = 0;
    let mut denials = Vec::new();
    for action in &g.actions {
        let result = out.evaluation_results().iter().find(|r| {
            r.eval_action_name().eq_ignore_ascii_case(action)
                && r.eval_resource_name()
                    .is_none_or(|n| n == g.resource || n == "*")
        });
        let Some(r) = result else {
            return Err(undecided(format!(
                "the simulation gave no result for {action} on {}",
                g.resource
            )));
        };
        match r.eval_decision() {
            PolicyEvaluationDecisionType::Allowed => allowed += 1,
            d @ (PolicyEvaluationDecisionType::ExplicitDeny
            | PolicyEvaluationDecisionType::ImplicitDeny) => {
                let explicit = *d == PolicyEvaluationDecisionType::ExplicitDeny;
                if !explicit && !r.missing_context_values().is_empty() {
                    return Err(undecided(format!(
                        "{action} on {} depends on context the simulation lacked: {}",
                        g.resource,
                        r.missing_context_values().join(", ")
                    )));
                }
                denials.push(Denial {
                    action,
                    resource: g.resource.clone(),
                    explicit,
                    policies: r
                        .matched_statements()
                        .iter()
                        .filter_map(|m| m.source_policy_id().map(str::to_string))
                        .collect(),
                });
            }
            other => {
                return Err(undecided(format!(
                    "the simulation answered {} for {action}",
                    other.as_str()
                )))
            }
        }
    }
    Ok((allowed, denials))
}

fn undecided(reason: String) -> PolicyCheck {
    PolicyCheck::new(NAME, Status::Warn, reason)
}

fn missing(s: &Subject, denials: Vec<Denial>) -> PolicyCheck {
    let calls: Vec<String> = denials
        .iter()
        .map(|d| {
            let how = if d.explicit {
                "explicitDeny"
            } else {
                "implicitDeny"
            };
            format!("{} on {} ({how})", d.action, d.resource)
        })
        .collect();
    let evidence = json!({
        "actions": denials.iter().map(|d| d.action).collect::<Vec<_>>(),
        "resource": denials[0].resource,
        "role": s.role_arn,
        "denials": denials.iter().map(|d| json!({
            "action": d.action,
            "resource": d.resource,
            "decision": if d.explicit { "explicitDeny" } else { "implicitDeny" },
            "policies": d.policies,
        })).collect::<Vec<_>>(),
    });
    let explicit: Vec<&Denial> = denials.iter().filter(|d| d.explicit).collect();
    let remedy = if let Some(d) = explicit.first() {
        let policies = if d.policies.is_empty() {
            "a Deny statement (a permissions boundary or an organization policy)".to_string()
        } else {
            d.policies.join(", ")
        };
        format!(
            "{policies} explicitly denies {} to the role {}: narrow that Deny (an Allow cannot override it); its statement is shown by: aws iam simulate-principal-policy --policy-source-arn {} --action-names {} --resource-arns {}",
            d.action,
            s.role_name(),
            crate::text::shell_quote(&s.role_arn),
            d.action,
            crate::text::shell_quote(&d.resource)
        )
    } else {
        let mut statements: Vec<Value> = Vec::new();
        for d in &denials {
            let at = statements
                .iter_mut()
                .find(|st| st["Resource"] == json!(d.resource));
            match at {
                Some(st) => st["Action"].as_array_mut().unwrap().push(json!(d.action)),
                None => {
                    let mut st =
                        json!({"Effect": "Allow", "Action": [d.action], "Resource": d.resource});
                    if d.action.starts_with("kms:") {
                        st["Condition"] = json!({"StringEquals": {"kms:ViaService": format!("secretsmanager.{}.amazonaws.com", s.region)}});
                    }
                    statements.push(st);
                }
            }
        }
        let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        format!(
            "aws iam put-role-policy --role-name {} --policy-name db-secret-rotator-missing --policy-document {}",
            crate::text::shell_quote(s.role_name()),
            crate::text::shell_quote(&doc)
        )
    };
    PolicyCheck::failed(
        NAME,
        Cause::RolePermissionMissing,
        format!("the role {} may not call {}", s.role_arn, calls.join(", ")),
        evidence,
        remedy,
    )
}
