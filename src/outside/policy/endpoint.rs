//! `vpc_endpoint_policy`: the policy of each Secrets Manager interface endpoint the
//! function's calls pass through must allow every Secrets Manager call of the rotation, for
//! the function's role and this secret.

use super::document::{evaluate, Decision, Request};
use super::{unread, with_statement, PolicyCheck, Status, Subject};
use crate::failure::Cause;
use crate::outside::Clients;
use aws_sdk_ec2::types::Filter;
use serde_json::{json, Value};

const NAME: &str = "vpc_endpoint_policy";

pub(super) async fn check(clients: &Clients, s: &Subject) -> PolicyCheck {
    if s.subnets.is_empty() {
        return PolicyCheck::new(
            NAME,
            Status::Skipped,
            "the function runs outside any VPC: no endpoint policy applies",
        );
    }
    let subnets = s
        .reads
        .once("DescribeSubnets", &s.subnets.join(","), || {
            clients.call(
                "ec2",
                "DescribeSubnets",
                clients
                    .ec2
                    .describe_subnets()
                    .set_subnet_ids(Some(s.subnets.clone()))
                    .send(),
            )
        })
        .await;
    let subnets = match subnets {
        Ok(out) => out,
        Err(e) => return PolicyCheck::new(NAME, Status::Skipped, unread(&e)),
    };
    // Lambda reports a VPC id of its own; the subnets say where the function really is.
    let mut vpcs: Vec<String> = subnets
        .subnets()
        .iter()
        .filter_map(|n| n.vpc_id().map(str::to_string))
        .collect();
    vpcs.sort();
    vpcs.dedup();
    let endpoints = s
        .reads
        .once("DescribeVpcEndpoints", &vpcs.join(","), || {
            clients.call(
                "ec2",
                "DescribeVpcEndpoints",
                clients
                    .ec2
                    .describe_vpc_endpoints()
                    .filters(
                        Filter::builder()
                            .name("vpc-id")
                            .set_values(Some(vpcs.clone()))
                            .build(),
                    )
                    .send(),
            )
        })
        .await;
    let endpoints = match endpoints {
        Ok(out) => out,
        Err(e) => return PolicyCheck::new(NAME, Status::Skipped, unread(&e)),
    };
    let service = format!("com.amazonaws.{}.secretsmanager", s.region);
    // The function's calls pass an endpoint it names, else one whose private DNS takes
    // over the service's default name.
    let named = |id: &str| s.sm_endpoint.as_deref().is_some_and(|url| url.contains(id));
    let used: Vec<_> = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| e.service_name() == Some(service.as_str()))
        .filter(|e| {
            let id = e.vpc_endpoint_id().unwrap_or_default();
            if s.sm_endpoint.is_some() {
                named(id)
            } else {
                e.private_dns_enabled() == Some(true)
            }
        })
        .collect();
    if used.is_empty() {
        return PolicyCheck::new(
            NAME,
            Status::Skipped,
            format!(
                "no Secrets Manager interface endpoint carries the function's calls in {}: no endpoint policy applies",
                vpcs.join(", ")
            ),
        );
    }
    let mut seen = Vec::new();
    for e in used {
        let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
        let Some(text) = e.policy_document().filter(|p| !p.trim().is_empty()) else {
            seen.push(format!("{id}: no policy (full access)"));
            continue;
        };
        let Ok(doc) = serde_json::from_str::<Value>(text) else {
            let mut c = PolicyCheck::new(
                NAME,
                Status::Warn,
                format!("the policy of {id} is not JSON this check can read"),
            );
            c.evidence.insert("vpc_endpoint".into(), json!(id));
            return c;
        };
        match judge(s, &doc, &id, e.vpc_id().unwrap_or_default()) {
            Verdict::Allowed => seen.push(format!("{id}: allows every call")),
            Verdict::Undecided(statement, reason) => {
                let mut c = PolicyCheck::new(
                    NAME,
                    Status::Warn,
                    format!("cannot decide the policy of {id}: statement {statement}: {reason}"),
                );
                c.evidence.insert("vpc_endpoint".into(), json!(id));
                c.evidence.insert("statement".into(), json!(statement));
                return c;
            }
            Verdict::Denied(denied) => return denies(s, &id, &doc, denied),
        }
    }
    PolicyCheck::new(NAME, Status::Ok, seen.join("; "))
}

enum Verdict {
    Allowed,
    Undecided(String, String),
    /// (action, resource, the deny statement if explicit).
    Denied(Vec<(&'static str, String, Option<String>)>),
}

/// Judges every Secrets Manager call of the rotation against one endpoint's policy; the
/// calls come through that endpoint, so its id and VPC are known condition values.
fn judge(s: &Subject, doc: &Value, endpoint: &str, vpc: &str) -> Verdict {
    let mut context = s.context(None);
    context.insert("aws:sourcevpce".into(), endpoint.into());
    if !vpc.is_empty() {
        context.insert("aws:sourcevpc".into(), vpc.into());
    }
    let mut denied = Vec::new();
    let mut undecided = None;
    for (action, resource) in s.secret_calls() {
        let req = Request {
            action,
            resource: &resource,
            principal_arn: &s.role_arn,
            account: &s.account,
            context: &context,
        };
        match evaluate(doc, &req) {
            Decision::Allowed { .. } => {}
            Decision::ExplicitDeny { statement } => {
                denied.push((action, resource, Some(statement)))
            }
            Decision::ImplicitDeny { .. } => denied.push((action, resource, None)),
            Decision::Undecided { statement, reason } => {
                undecided.get_or_insert((statement, reason));
            }
        }
    }
    match (denied.is_empty(), undecided) {
        (false, _) => Verdict::Denied(denied),
        (true, Some((st, why))) => Verdict::Undecided(st, why),
        (true, None) => Verdict::Allowed,
    }
}

fn denies(
    s: &Subject,
    id: &str,
    doc: &Value,
    denied: Vec<(&'static str, String, Option<String>)>,
) -> PolicyCheck {
    let actions: Vec<String> = denied
        .iter()
        .map(|(a, r, _)| format!("{a} on {r}"))
        .collect();
    let deny_statements: Vec<&String> =
        denied.iter().filter_map(|(_, _, st)| st.as_ref()).collect();
    let mut evidence = json!({
        "vpc_endpoint": id,
        "actions": denied.iter().map(|(a, _, _)| *a).collect::<Vec<_>>(),
        "role": s.role_arn,
        "secret": s.secret_arn,
    });
    let remedy = if let Some(st) = deny_statements.first() {
        evidence["statement"] = json!(st);
        format!(
            "Statement {st} of the policy of {id} denies the rotation role: narrow it so it does not apply to {}, then apply the edited policy with: aws ec2 modify-vpc-endpoint --vpc-endpoint-id {id} --policy-document file://endpoint-policy.json",
            s.role_arn
        )
    } else {
        let statement = json!({
            "Sid": "AllowSecretRotation",
            "Effect": "Allow",
            "Principal": {"AWS": s.role_arn},
            "Action": denied.iter().map(|(a, _, _)| *a).collect::<std::collections::BTreeSet<_>>(),
            "Resource": denied.iter().map(|(_, r, _)| r.clone()).collect::<std::collections::BTreeSet<_>>(),
        });
        format!(
            "aws ec2 modify-vpc-endpoint --vpc-endpoint-id {id} --policy-document {}",
            crate::text::shell_quote(&with_statement(doc, statement))
        )
    };
    PolicyCheck::failed(
        NAME,
        Cause::VpcEndpointPolicyDenies,
        format!(
            "the policy of {id} does not allow the function's role {}",
            actions.join(", ")
        ),
        evidence,
        remedy,
    )
}
