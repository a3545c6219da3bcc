//! The audit's decisions and report over hand-built facts: each secret's next step, the
//! counts, the JSON row's keys, and the table.

use super::*;
use crate::commands::Report as _;
use crate::engine::Engine;
use crate::outside::hosted_app;

const TODAY: &str = "2026-12-06";
const OURS: &str = "arn:aws:lambda:us-east-1:123456789012:function:dsr";
const PG_SINGLE: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser";
const MYSQL_MULTI: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMySQLRotationMultiUser";
const ORACLE: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSOracleRotationSingleUser";

fn arn(function: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")
}

fn readable(function: &str, runtime: &str, app: Option<&str>, ours: bool) -> Function {
    Function {
        arn: arn(function),
        config: Ok(FunctionConfig {
            arn: arn(function),
            runtime: Some(runtime.to_string()),
            ours,
            app: app.map(hosted_app),
            tags_error: None,
        }),
    }
}

fn unreadable(function: &str, code: &str) -> Function {
    Function {
        arn: arn(function),
        config: Err(AwsError {
            code: code.to_string(),
            message: "no".to_string(),
            action: "lambda:GetFunctionConfiguration".to_string(),
        }),
    }
}

fn row(name: &str, function: &str, enabled: bool) -> Row {
    Row {
        name: name.to_string(),
        arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
        rotation_enabled: enabled,
        function_arn: arn(function),
        rules: Some(RotationRules {
            automatically_after_days: Some(30),
            ..RotationRules::default()
        }),
        last_rotated: Some("2026-11-06T10:00:00Z".to_string()),
        next_rotation: None,
    }
}

fn audit(rows: Vec<Row>, functions: Vec<Function>) -> Audit {
    Audit {
        region: "us-east-1".to_string(),
        today: TODAY.to_string(),
        rows,
        functions: functions.into_iter().map(|f| (f.arn.clone(), f)).collect(),
        ours: vec![OURS.to_string()],
    }
}

/// The next step of a single secret on `f`.
fn next(f: Function, enabled: bool) -> String {
    let name = crate::text::function_name(&f.arn).to_string();
    let a = audit(vec![row("app", &name, enabled)], vec![f]);
    a.next_step(&a.rows[0])
}

#[test]
fn a_supported_hosted_application_on_a_deprecated_runtime_says_why_and_how_to_migrate() {
    assert_eq!(
        next(readable("old", "python3.7", Some(PG_SINGLE), false), true),
        format!("python3.7 is deprecated since 2023-12-04: migrate: db-secret-rotator migrate --secret-id app --function {OURS}")
    );
    assert_eq!(
        next(readable("old", "python3.12", Some(MYSQL_MULTI), false), true),
        format!("migrate (a function deployed with rotationStrategy=alternating_users): db-secret-rotator migrate --secret-id app --function {OURS}")
    );
}

#[test]
fn an_engine_this_function_does_not_rotate_is_kept() {
    let step = next(readable("ora", "python3.9", Some(ORACLE), false), true);
    assert_eq!(
        step,
        "python3.9 is deprecated since 2025-12-15: SecretsManagerRDSOracleRotationSingleUser rotates an engine db-secret-rotator does not: keep it, and update the hosted application for a supported runtime"
    );
}

#[test]
fn custom_functions_are_reviewed_and_only_flagged_when_deprecated() {
    assert!(
        next(readable("mine", "nodejs16.x", None, false), true).starts_with(
            "nodejs16.x is deprecated since 2024-06-12: a custom function: check what it rotates"
        )
    );
    assert_eq!(
        next(readable("mine", "python3.13", None, false), true),
        "a custom function on a supported runtime: review it before migrating"
    );
}

#[test]
fn our_function_needs_nothing_unless_rotation_is_off() {
    let ours = || readable("dsr", "provided.al2023", None, true);
    assert_eq!(next(ours(), true), "none: rotated by db-secret-rotator");
    assert_eq!(
        next(ours(), false),
        format!("enable rotation: aws secretsmanager rotate-secret --secret-id app --rotation-lambda-arn {} --rotation-rules '{{\"AutomaticallyAfterDays\":30}}'", arn("dsr"))
    );
}

#[test]
fn an_unreadable_function_names_the_permission_or_the_missing_function() {
    assert!(next(unreadable("gone", "ResourceNotFoundException"), true)
        .starts_with("the rotation function no longer exists, so rotation fails"));
    assert_eq!(
        next(unreadable("hidden", "AccessDeniedException"), true),
        "grant the caller lambda:GetFunctionConfiguration and lambda:ListTags on hidden to see its runtime (AccessDeniedException)"
    );
}

#[test]
fn the_report_counts_each_kind_and_keeps_the_rows_contract() {
    let a = audit(
        vec![
            row("a", "old", true),
            row("b", "dsr", true),
            row("c", "hidden", false),
        ],
        vec![
            readable("old", "python3.7", Some(PG_SINGLE), false),
            readable("dsr", "provided.al2023", None, true),
            unreadable("hidden", "AccessDeniedException"),
        ],
    );
    let report = Report::of(&a);
    assert!(report.ok());
    let Report::Listed(listing) = &report else {
        panic!("listed")
    };
    assert_eq!(
        listing.summary,
        Summary {
            secrets_with_rotation: 3,
            functions: 3,
            on_deprecated_runtime: 1,
            hosted_applications: 1,
            on_this_function: 1,
            function_not_readable: 1,
            deep: None,
        }
    );
    assert_eq!(listing.secrets[0].engine, Some(Engine::Postgres));
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&str> = json["secrets"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "secret",
            "secret_arn",
            "rotation_enabled",
            "function",
            "function_name",
            "function_readable",
            "function_error",
            "runtime",
            "runtime_deprecated",
            "deprecated_on",
            "hosted_application",
            "engine",
            "strategy",
            "this_function",
            "rotation_rules",
            "last_rotated",
            "next_rotation",
            "next_step"
        ]
    );
    assert_eq!(json["secrets"][0]["engine"], "postgres");
    assert_eq!(json["secrets"][0]["strategy"], "single_user");
    assert_eq!(
        json["secrets"][2]["function_error"]["code"],
        "AccessDeniedException"
    );
    assert_eq!(json["secrets"][2]["this_function"], serde_json::Value::Null);

    let text = report.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "audit us-east-1: 3 secrets with rotation, 3 functions; 1 on a deprecated runtime, 1 on db-secret-rotator, 1 function(s) not readable");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["secret", "function", "runtime", "kind", "last", "next"]
    );
    assert!(
        lines[3].contains("python3.7 (deprecated 2023-12-04)"),
        "{text}"
    );
    assert!(lines[3].contains("hosted: postgres, single_user"), "{text}");
    assert!(lines[3].contains("2026-11-06"), "{text}");
    assert!(lines[5].contains("db-secret-rotator"), "{text}");
    assert!(lines[7].starts_with("c (rotation off)"), "{text}");
    assert!(
        lines[7].contains("not readable (AccessDeniedException)"),
        "{text}"
    );
    assert!(lines[8].starts_with("  next: grant the caller"), "{text}");
}

#[test]
fn a_failed_listing_is_not_ok_and_names_the_action() {
    let e = AwsError {
        code: "AccessDeniedException".to_string(),
        message: "not authorized".to_string(),
        action: "secretsmanager:ListSecrets".to_string(),
    };
    let report = Report::failed(&e);
    assert!(!report.ok());
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        r#"{"ok":false,"error":{"action":"secretsmanager:ListSecrets","code":"AccessDeniedException","message":"not authorized"}}"#
    );
    assert_eq!(report.to_text(), "");
}

fn deep_of(verdict: deep::Verdict, last: Option<crate::outside::logs::Outcome>) -> deep::Deep {
    use crate::outside::config::Status;
    let findings = match verdict {
        deep::Verdict::Fail => vec![deep::Finding {
            check: "network_secrets_manager",
            status: Status::Fail,
            cause: Some("vpc_endpoint_security_group_blocks".to_string()),
            detail: "no group of vpce-1 admits TCP 443 from the function".to_string(),
            remedy: Some("aws ec2 authorize-security-group-ingress --group-id sg-1".to_string()),
            evidence: serde_json::Map::new(),
        }],
        _ => vec![],
    };
    deep::Deep {
        verdict,
        findings,
        last_rotation: last.map(|outcome| deep::LastRotation {
            outcome,
            timestamp: "2026-12-01T03:00:00.000Z".to_string(),
            step: Some("setSecret".to_string()),
            cause: (outcome != crate::outside::logs::Outcome::Ok)
                .then(|| "db_auth_failed".to_string()),
            inferred: true,
            evidence: None,
            remedy: None,
        }),
        log_group: Some("/aws/lambda/f".to_string()),
        notes: vec![],
        skipped: vec![],
    }
}

#[test]
fn deep_text_puts_failures_first_and_keeps_the_json_order() {
    use crate::outside::logs::Outcome;
    let a = audit(
        vec![
            row("healthy", "f", true),
            row("rotation-failed", "f", true),
            row("config-failed", "f", true),
            row("warned", "f", true),
        ],
        vec![readable("f", "python3.12", None, false)],
    );
    let mut by_arn = std::collections::HashMap::new();
    let arn_of = |i: usize| a.rows[i].arn.clone();
    by_arn.insert(arn_of(0), deep_of(deep::Verdict::Ok, Some(Outcome::Ok)));
    by_arn.insert(arn_of(1), deep_of(deep::Verdict::Ok, Some(Outcome::Failed)));
    by_arn.insert(arn_of(2), deep_of(deep::Verdict::Fail, None));
    by_arn.insert(arn_of(3), deep_of(deep::Verdict::Warn, None));
    let report = Report::deep(&a, by_arn);
    assert!(!report.ok(), "a failed check makes the exit status 1");
    let json = serde_json::to_value(&report).unwrap();
    let names: Vec<&str> = json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["secret"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["healthy", "rotation-failed", "config-failed", "warned"]
    );
    assert_eq!(json["secrets"][2]["deep"]["verdict"], "fail");
    assert_eq!(
        json["secrets"][2]["deep"]["findings"][0]["cause"],
        "vpc_endpoint_security_group_blocks"
    );
    assert_eq!(
        json["secrets"][1]["deep"]["last_rotation"]["outcome"],
        "failed"
    );
    assert_eq!(json["summary"]["deep"]["config_fail"], 1);
    assert_eq!(json["summary"]["deep"]["last_rotation_failed"], 1);

    let text = report.to_text();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(" f "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        rows,
        ["rotation-failed", "config-failed", "warned", "healthy"],
        "{text}"
    );
    assert!(
        text.contains("  fail network_secrets_manager: vpc_endpoint_security_group_blocks: "),
        "{text}"
    );
    assert!(
        text.contains("    remedy: aws ec2 authorize-security-group-ingress"),
        "{text}"
    );
    assert!(text.contains("  last rotation failed at 2026-12-01T03:00:00.000Z in setSecret: db_auth_failed (inferred from its log)"), "{text}");
}

#[test]
fn without_deep_the_json_has_no_deep_keys_and_exit_is_ok() {
    let a = audit(
        vec![row("app", "f", true)],
        vec![readable("f", "python3.12", None, false)],
    );
    let report = Report::of(&a);
    assert!(report.ok());
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("deep"), "{text}");
}
