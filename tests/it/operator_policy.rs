//! The operator's read-only policy in docs/deploy.md matches behaviour: it grants no action
//! that writes, and every AWS call the operator commands made during the whole suite (the
//! `aws_call` events whose `caller` is `operator`) is allowed by it.
//! `scripts/test` runs the second test after the rest of the suite, like iam_policy.rs.

use crate::common::*;
use db_secret_rotator::outside::policy::document::{evaluate, Decision, Request};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Services only the outside-in commands call: every call of theirs must be allowed.
const OUTSIDE_ONLY: &[&str] = &["ec2", "kms", "iam", "logs", "cloudformation"];

/// Calls other operator commands make, outside this policy, with the reason.
const OTHER_COMMANDS: &[(&str, &str)] = &[(
    "secretsmanager:GetSecretValue",
    "diagnose --scope here reads the secret's value; granted separately",
)];

/// The operation prefixes of reads.
const READS: &[&str] = &["Describe", "Get", "List", "Filter", "Simulate"];

/// The JSON block under the operator policy heading of docs/deploy.md.
fn operator_policy() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md")).unwrap();
    let at = text
        .find("### Operator policy")
        .expect("docs/deploy.md has an operator policy section");
    let rest = &text[at..];
    let start = rest.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = rest[start..].find("```").unwrap() + start;
    serde_json::from_str(&rest[start..end]).expect("the operator policy is JSON")
}

fn actions(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow", "{st}");
        for a in st["Action"].as_array().unwrap() {
            out.push(a.as_str().unwrap().to_string());
        }
    }
    out
}

fn allows(policy: &Value, action: &str) -> bool {
    let context = BTreeMap::new();
    let req = Request {
        action,
        resource: "*",
        principal_arn: "arn:aws:iam::123456789012:user/operator",
        account: "123456789012",
        context: &context,
    };
    matches!(evaluate(policy, &req), Decision::Allowed { .. })
}

#[test]
fn the_operator_policy_grants_only_reads() {
    let policy = operator_policy();
    let granted = actions(&policy);
    for a in &granted {
        let (_, op) = a.split_once(':').unwrap();
        assert!(READS.iter().any(|p| op.starts_with(p)), "{a} is not a read");
    }
    // What the outside-in checks call.
    for a in [
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeNatGateways",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "lambda:GetFunctionConfiguration",
        "lambda:GetFunctionConcurrency",
        "lambda:GetPolicy",
        "lambda:GetFunction",
        "lambda:ListTags",
        "rds:DescribeDBInstances",
        "rds:DescribeDBClusters",
        "rds:DescribeDBSubnetGroups",
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "iam:SimulatePrincipalPolicy",
        "iam:GetRole",
        "cloudformation:DescribeStacks",
        "logs:FilterLogEvents",
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecrets",
    ] {
        assert!(allows(&policy, a), "the operator policy lacks {a}");
    }
    for a in [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "kms:Decrypt",
        "ec2:ModifyVpcEndpoint",
        "lambda:InvokeFunction",
    ] {
        assert!(!allows(&policy, a), "the operator policy allows {a}");
    }
}

/// The operator calls of the suite's output that the policy must allow, and how many
/// calls of the outside-in services were seen.
fn must_allow(printed: &str) -> (BTreeSet<String>, usize) {
    let mut calls = BTreeSet::new();
    let mut outside = 0;
    for line in printed.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if e["event"] != "aws_call" || e["caller"] != "operator" {
            continue;
        }
        let (Some(service), Some(operation)) = (e["service"].as_str(), e["operation"].as_str())
        else {
            continue;
        };
        let action = format!("{service}:{operation}");
        if OUTSIDE_ONLY.contains(&service) {
            outside += 1;
            calls.insert(action);
        } else if READS.iter().any(|p| operation.starts_with(p))
            && !OTHER_COMMANDS.iter().any(|(a, _)| *a == action)
        {
            calls.insert(action);
        }
    }
    (calls, outside)
}

#[test]
fn a_planted_call_is_reported() {
    let printed = [
        r#"{"event":"aws_call","service":"ec2","operation":"DescribeSubnets","caller":"operator"}"#,
        r#"{"event":"aws_call","service":"ec2","operation":"CreateRoute","caller":"operator"}"#,
        r#"{"event":"aws_call","service":"secretsmanager","operation":"GetSecretValue","caller":"operator"}"#,
        r#"{"event":"aws_call","service":"secretsmanager","operation":"RotateSecret","caller":"operator"}"#,
        r#"{"event":"aws_call","service":"kms","operation":"Decrypt","step":"setSecret","caller":"function"}"#,
    ]
    .join("\n");
    let (calls, outside) = must_allow(&printed);
    assert_eq!(outside, 2);
    let policy = operator_policy();
    let refused: Vec<&String> = calls.iter().filter(|a| !allows(&policy, a)).collect();
    assert_eq!(refused, ["ec2:CreateRoute"]);
}

#[test]
#[ignore = "run by scripts/test after the whole suite, over its output"]
fn the_operator_policy_allows_every_read_the_suite_saw() {
    let policy = operator_policy();
    let printed = std::fs::read(output_dir().join("binary-output.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (calls, outside) = must_allow(&printed);
    assert!(
        outside >= 10,
        "the suite logged too few outside-in calls ({outside}) to mean anything"
    );
    println!("operator calls: {calls:?}");
    let refused: Vec<&String> = calls.iter().filter(|a| !allows(&policy, a)).collect();
    assert!(
        refused.is_empty(),
        "the operator commands call what docs/deploy.md's policy does not allow: {refused:?}"
    );
}
