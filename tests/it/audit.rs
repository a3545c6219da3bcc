//! `audit`, read-only, against moto's Secrets Manager and Lambda: every secret with rotation
//! (across ListSecrets pages), its function's runtime and deprecation, the hosted application
//! from its tag, this project's own functions, a function that no longer exists or may not be
//! read as a row that says so, and one next step per row. Nothing is changed.

mod deep;

use crate::common::fault::FaultServer;
use crate::common::lambda_invoke::{
    configure_rotation, create_function, delete_function, rotation_of,
};
use crate::common::*;
use serde_json::{json, Value};

const PG_SINGLE: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser";
const MYSQL_MULTI: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMySQLRotationMultiUser";

fn row<'a>(report: &'a Value, secret_arn: &str) -> &'a Value {
    report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["secret_arn"] == secret_arn)
        .unwrap_or_else(|| panic!("no row for {secret_arn}"))
}

fn audit_json(env: &[(&str, &str)], extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["audit", "--format", "json"];
    args.extend_from_slice(extra);
    let run = run_bin(&args, env);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let report = json_report(&run);
    (run, report)
}

/// A secret whose value the audit must never read.
async fn secret() -> String {
    create_secret(
        &json!({"engine": "postgres", "host": "db.internal", "username": "app",
                          "password": password("audit"), "port": 5432}),
    )
    .await
}

#[tokio::test]
async fn every_rotated_secret_is_a_row_with_runtime_application_and_next_step() {
    let tag = unique("a");
    let old = create_function(
        &format!("old-pg-{tag}"),
        "python3.7",
        "Rotates a Secrets Manager secret for Amazon RDS PostgreSQL credentials using the single user rotation strategy.",
        &[("serverlessrepo:applicationId", PG_SINGLE), ("serverlessrepo:semanticVersion", "1.1.367")],
    )
    .await;
    let multi = create_function(
        &format!("old-mysql-{tag}"),
        "python3.9",
        "",
        &[("serverlessrepo:applicationId", MYSQL_MULTI)],
    )
    .await;
    let ours = create_function(
        &format!("dsr-{tag}"),
        "provided.al2023",
        "Secrets Manager rotation for PostgreSQL, MySQL and MariaDB (db-secret-rotator)",
        &[],
    )
    .await;
    let gone = create_function(&format!("gone-{tag}"), "python3.8", "", &[]).await;

    // More than one ListSecrets page (100) lies before the rotated secrets: the audit must
    // read every page to find them.
    for _ in 0..101 {
        create_secret(&json!({"note": "no rotation"})).await;
    }
    let on_old = secret().await;
    configure_rotation(&on_old, &old).await;
    let on_multi = secret().await;
    configure_rotation(&on_multi, &multi).await;
    let on_ours = secret().await;
    configure_rotation(&on_ours, &ours).await;
    let on_gone = secret().await;
    configure_rotation(&on_gone, &gone).await;
    delete_function(&format!("gone-{tag}")).await;
    let plain = secret().await;
    let before = (rotation_of(&on_old).await, stages(&on_old).await);

    let (run, report) = audit_json(&[], &["--function", &format!("dsr-{tag}")]);
    assert!(report["summary"]["secrets_with_rotation"].as_u64().unwrap() >= 4);
    assert!(
        !report["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["secret_arn"] == plain.as_str()),
        "a secret without rotation is not a row"
    );
    // Progress went to stderr, the report alone to stdout.
    assert!(run.stderr.contains("secrets listed"), "{}", run.stderr);

    let r = row(&report, &on_old);
    assert_eq!(r["function"], old.as_str());
    assert_eq!(r["runtime"], "python3.7");
    assert_eq!(r["runtime_deprecated"], true);
    assert_eq!(r["deprecated_on"], "2023-12-04");
    assert_eq!(
        r["hosted_application"],
        "SecretsManagerRDSPostgreSQLRotationSingleUser"
    );
    assert_eq!(r["engine"], "postgres");
    assert_eq!(r["strategy"], "single_user");
    assert_eq!(r["this_function"], false);
    assert_eq!(r["rotation_enabled"], true);
    assert_eq!(r["rotation_rules"]["AutomaticallyAfterDays"], 30);
    assert!(r["last_rotated"].is_string(), "{r}");
    let next = r["next_step"].as_str().unwrap();
    assert!(
        next.contains("python3.7 is deprecated since 2023-12-04"),
        "{next}"
    );
    assert!(
        next.contains(&format!(
            "db-secret-rotator migrate --secret-id {} --function dsr-{tag}",
            r["secret"].as_str().unwrap()
        )),
        "{next}"
    );

    let r = row(&report, &on_multi);
    assert_eq!(r["strategy"], "alternating_users");
    assert_eq!(r["engine"], "mysql");
    assert!(
        r["next_step"]
            .as_str()
            .unwrap()
            .contains("rotationStrategy=alternating_users"),
        "{r}"
    );

    let r = row(&report, &on_ours);
    assert_eq!(r["this_function"], true);
    assert_eq!(r["runtime_deprecated"], false);
    assert_eq!(r["next_step"], "none: rotated by db-secret-rotator");

    let r = row(&report, &on_gone);
    assert_eq!(r["function_readable"], false);
    assert_eq!(r["function_error"]["code"], "ResourceNotFoundException");
    assert!(
        r["next_step"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{r}"
    );

    // The text form: a header, a row per secret, its next step under it.
    let text = run_bin(&["audit", "--function", &format!("dsr-{tag}")], &[]);
    assert_eq!(text.status, 0);
    assert!(
        text.stdout.starts_with("audit us-east-1: "),
        "{}",
        text.stdout
    );
    let name = report_name(&report, &on_old);
    let at = text
        .stdout
        .lines()
        .position(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", text.stdout));
    let line = text.stdout.lines().nth(at).unwrap();
    assert!(
        line.contains("python3.7 (deprecated 2023-12-04)")
            && line.contains("hosted: postgres, single_user"),
        "{line}"
    );
    assert!(text
        .stdout
        .lines()
        .nth(at + 1)
        .unwrap()
        .starts_with("  next: "));

    // Read-only: nothing about the secrets changed, and no secret value was read.
    assert_eq!((rotation_of(&on_old).await, stages(&on_old).await), before);
    assert!(!run.stdout.contains("db.internal"));
}

fn report_name(report: &Value, arn: &str) -> String {
    row(report, arn)["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_function_the_caller_may_not_read_is_a_row_that_says_so() {
    let tag = unique("d");
    let old = create_function(
        &format!("denied-{tag}"),
        "python3.7",
        "",
        &[("serverlessrepo:applicationId", PG_SINGLE)],
    )
    .await;
    let s = secret().await;
    configure_rotation(&s, &old).await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetFunctionConfiguration",
        403,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: lambda:GetFunctionConfiguration",
    );
    let (_run, report) = audit_json(&[("AWS_ENDPOINT_URL_LAMBDA", fault.url())], &[]);
    let r = row(&report, &s);
    assert_eq!(r["function"], old.as_str());
    assert_eq!(r["function_readable"], false);
    assert_eq!(r["function_error"]["code"], "AccessDeniedException");
    assert_eq!(r["runtime"], Value::Null);
    assert!(
        r["next_step"]
            .as_str()
            .unwrap()
            .contains("lambda:GetFunctionConfiguration"),
        "{r}"
    );
    assert!(report["summary"]["function_not_readable"].as_u64().unwrap() >= 1);
    assert!(fault.faulted("GetFunctionConfiguration") >= 1);
}

#[tokio::test]
async fn a_caller_who_may_not_list_secrets_gets_a_clear_error() {
    let fault = FaultServer::start();
    fault.error_always(
        "ListSecrets",
        400,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: secretsmanager:ListSecrets",
    );
    let run = run_bin(&["audit"], &[("AWS_ENDPOINT_URL", fault.url())]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("AccessDeniedException"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("secretsmanager:ListSecrets"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}
