//! Policy matches behaviour: every AWS operation the binary called during the whole suite (its
//! own `aws_call` events, which every Secrets Manager and RDS call emits) is checked against
//! the actions the function's role in template.yaml grants. Nothing called that the role
//! lacks; nothing granted that is never called, except actions used on the function's behalf
//! (each listed below with its reason). `scripts/test` runs this after the rest of the suite.

use crate::common::*;
use std::collections::BTreeSet;

/// Granted for others to use with the role: Lambda itself, or Secrets Manager acting for the
/// function's own calls (the KMS grants are conditioned on `kms:ViaService`).
const ON_BEHALF: &[(&str, &str)] = &[
    (
        "logs:CreateLogStream",
        "Lambda writes the function's output to its log group",
    ),
    (
        "logs:PutLogEvents",
        "Lambda writes the function's output to its log group",
    ),
    (
        "ec2:CreateNetworkInterface",
        "Lambda attaches the function to its VPC",
    ),
    (
        "ec2:DescribeNetworkInterfaces",
        "Lambda attaches the function to its VPC",
    ),
    (
        "ec2:DeleteNetworkInterface",
        "Lambda detaches the function from its VPC",
    ),
    (
        "ec2:AssignPrivateIpAddresses",
        "Lambda manages the function's VPC interfaces",
    ),
    (
        "ec2:UnassignPrivateIpAddresses",
        "Lambda manages the function's VPC interfaces",
    ),
];

/// KMS actions Secrets Manager performs with the caller's permission when the secret uses a
/// customer key: granted only if the operation that needs them is called.
const IMPLIED_BY: &[(&str, &str)] = &[
    ("kms:Decrypt", "secretsmanager:GetSecretValue"),
    ("kms:GenerateDataKey", "secretsmanager:PutSecretValue"),
];

/// Operations only the operator commands (`audit`, `migrate`) call, with the operator's own
/// credentials (never the function role); checked below never to be called from a rotation
/// step or an invocation. (diagnose's lambda:GetFunctionConfiguration, naming the runtime of
/// the function a secret still rotates with, is the function's own call and counts.)
const OPERATOR_ONLY: &[&str] = &[
    "lambda:Invoke",
    "lambda:ListTags",
    "secretsmanager:ListSecrets",
    "secretsmanager:RotateSecret",
];

/// The actions of the function role's policies (not its trust policy), in every conditional
/// branch: each `Action: x:Y` and each `- x:Y` item of an `Action:` list.
fn granted_actions(template: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let mut in_role = false;
    let mut in_policies = false;
    let mut list_indent: Option<usize> = None;
    let is_action = |s: &str| {
        s.split_once(':').is_some_and(|(svc, op)| {
            !svc.is_empty()
                && svc
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !op.is_empty()
                && op.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
        })
    };
    for line in template.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 2 && text.ends_with(':') && !text.starts_with('#') {
            in_role = text == "RotationFunctionRole:";
            in_policies = false;
            list_indent = None;
            continue;
        }
        if !in_role || text.is_empty() || text.starts_with('#') {
            continue;
        }
        if text == "Policies:" {
            in_policies = true;
            continue;
        }
        if !in_policies {
            continue;
        }
        if let Some(i) = list_indent {
            match text.strip_prefix("- ") {
                Some(item) if indent >= i && is_action(item.trim()) => {
                    actions.insert(item.trim().to_string());
                    continue;
                }
                _ => list_indent = None,
            }
        }
        if let Some(rest) = text.strip_prefix("Action:") {
            let rest = rest.trim();
            if rest.is_empty() {
                list_indent = Some(indent);
            } else if is_action(rest) {
                actions.insert(rest.to_string());
            }
        }
    }
    actions
}

#[test]
fn the_template_parser_reads_every_statement() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let granted = granted_actions(&template);
    for a in [
        "secretsmanager:GetSecretValue",
        "secretsmanager:GetRandomPassword",
        "rds:DescribeDBClusters",
        "kms:Decrypt",
        "logs:PutLogEvents",
        "ec2:UnassignPrivateIpAddresses",
    ] {
        assert!(
            granted.contains(a),
            "{a} not read from the template: {granted:?}"
        );
    }
    // The trust policy is not a grant.
    assert!(!granted.contains("sts:AssumeRole"));
}

#[test]
#[ignore = "run by scripts/test after the whole suite, over its output"]
fn the_role_grants_exactly_what_the_suite_saw_the_function_call() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let granted = granted_actions(&template);
    let printed = std::fs::read(output_dir().join("binary-output.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut called = BTreeSet::new();
    let mut events = 0;
    for line in printed.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // The operator commands' reads are checked against the operator's policy
        // (operator_policy.rs), not the role's.
        if e["event"] != "aws_call" || e["caller"] == "operator" {
            continue;
        }
        let (Some(service), Some(operation)) = (e["service"].as_str(), e["operation"].as_str())
        else {
            continue;
        };
        events += 1;
        if OPERATOR_ONLY.contains(&format!("{service}:{operation}").as_str()) {
            assert!(
                e.get("step").is_none() && e.get("request_id").is_none(),
                "the function itself called {service}:{operation}: {line}"
            );
            continue;
        }
        called.insert(format!("{service}:{operation}"));
    }
    assert!(
        events >= 100,
        "the suite logged too few AWS calls ({events}) to mean anything"
    );
    println!("called: {called:?}\ngranted: {granted:?}");

    let (missing, unused) = gaps(&called, &granted);
    assert!(
        missing.is_empty(),
        "the function calls operations its role does not grant: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "the role grants actions the function never called in the suite: {unused:?}"
    );
}

/// What is called but not granted, and what is granted but neither called nor used on the
/// function's behalf.
fn gaps(called: &BTreeSet<String>, granted: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let missing = called.difference(granted).cloned().collect();
    let unused = granted
        .iter()
        .filter(|a| !called.contains(*a))
        .filter(|a| !ON_BEHALF.iter().any(|(x, _)| x == a))
        .filter(|a| {
            !IMPLIED_BY
                .iter()
                .any(|(x, by)| x == a && called.contains(*by))
        })
        .cloned()
        .collect();
    (missing, unused)
}

#[test]
fn a_planted_call_or_grant_is_reported() {
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let granted = set(&[
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:PutLogEvents",
        "rds:DescribeDBInstances",
    ]);
    let called = set(&[
        "secretsmanager:GetSecretValue",
        "secretsmanager:DeleteSecret",
    ]);
    let (missing, unused) = gaps(&called, &granted);
    assert_eq!(missing, ["secretsmanager:DeleteSecret"]);
    // GenerateDataKey serves PutSecretValue only: never called, so it is reported too.
    assert_eq!(
        unused,
        [
            "kms:GenerateDataKey",
            "rds:DescribeDBInstances",
            "secretsmanager:PutSecretValue"
        ]
    );
}
