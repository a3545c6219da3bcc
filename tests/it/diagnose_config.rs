//! `diagnose --scope config|all|here` through the real binary, against configurations built
//! in moto with the fixtures of outside_network.rs: a healthy VPC gives no fail and no warn
//! (exit 0) and needs none of the function's own settings; an endpoint security group that
//! does not admit 443 fails `network_secrets_manager` (exit 1) with its group id on the text
//! line and the `authorize-security-group-ingress` command under it; `--scope all` is the
//! `here` checks then the configuration checks in one report; `--scope here` is the default.

use crate::common::*;
use crate::outside_network::{healthy_lab, tcp_to_cidr, tcp_to_group, Lab, HEALTHY_FN};
use serde_json::{json, Value};

const CONFIG: [&str; 8] = [
    "rotation_function",
    "network_secrets_manager",
    "vpc_endpoint_policy",
    "network_database",
    "network_rds_api",
    "kms_key_policy",
    "role_permissions",
    "legacy_bundle",
];

fn names(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// A secret of a PostgreSQL database behind the lab's RDS endpoint.
async fn lab_secret(lab: &Lab) -> String {
    create_secret(
        &json!({"engine": "postgres", "host": lab.db_host, "port": 5432,
        "username": "app", "password": password("cfg"), "dbname": "postgres"}),
    )
    .await
}

fn config(arn: &str, function: &str, format: &str, env: &[(&str, &str)]) -> Run {
    run_bin(
        &[
            "diagnose",
            "--secret-id",
            arn,
            "--scope",
            "config",
            "--function",
            function,
            "--format",
            format,
        ],
        env,
    )
}

#[tokio::test]
async fn a_healthy_configuration_passes_with_no_fail_and_no_warn() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let arn = lab_secret(&lab).await;
    // The function's own settings are not needed: one that would stop `here` is ignored.
    let bad = [("ROTATION_STRATEGY", "nonsense")];
    let run = config(&arn, &lab.function, "json", &bad);
    let report = json_report(&run);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(names(&report), CONFIG, "{report:#}");
    assert_eq!(
        (report["ok"].clone(), report["status"].clone()),
        (json!(true), json!("ok")),
        "{report:#}"
    );
    for c in report["checks"].as_array().unwrap() {
        assert!(c["status"] == "ok" || c["status"] == "skipped", "{c:#}");
        assert!(c.get("cause").is_none(), "{c:#}");
    }
    for name in [
        "rotation_function",
        "network_secrets_manager",
        "network_database",
    ] {
        assert_eq!(report_check(&report, name)["status"], "ok", "{report:#}");
    }
    // A skipped check keeps the report's convention.
    let rds = report_check(&report, "network_rds_api");
    assert_eq!(rds["ok"], Value::Null);
    assert!(
        rds["detail"].as_str().unwrap().starts_with("skipped: "),
        "{rds}"
    );

    let text = config(&arn, &lab.function, "text", &bad);
    assert_eq!(text.status, 0, "{}", text.stdout);
    assert!(
        text.stdout.starts_with(&format!("diagnose {arn}: OK\n")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("configuration (read through AWS APIs):"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains("FAIL") && !text.stdout.contains("warn "),
        "{}",
        text.stdout
    );
    append_output(&format!(
        "diagnose --scope config, healthy:\n{}\n",
        text.stdout
    ));
}

#[tokio::test]
async fn an_endpoint_group_not_admitting_443_fails_naming_the_group_and_the_command() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.revoke_ingress(&lab.ep_sg, tcp_to_group(443, &lab.fn_sg))
        .await;
    lab.ingress(&lab.ep_sg, tcp_to_cidr(443, "192.168.0.0/16"))
        .await;
    let arn = lab_secret(&lab).await;
    let run = config(&arn, &lab.function, "json", &[]);
    let report = json_report(&run);
    assert_eq!(run.status, 1, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ok"], false);
    let c = report_check(&report, "network_secrets_manager");
    assert_eq!(
        (c["ok"].clone(), c["status"].clone()),
        (json!(false), json!("fail")),
        "{c:#}"
    );
    assert_eq!(c["cause"], "vpc_endpoint_security_group_blocks");
    assert_eq!(c["evidence"]["vpc_endpoint"], lab.sm_endpoint.as_str());
    assert_eq!(c["evidence"]["security_groups"][0], lab.ep_sg.as_str());
    let remedy = format!(
        "aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port 443 --source-group {}",
        lab.ep_sg, lab.fn_sg
    );
    assert_eq!(c["remedy"], remedy.as_str());
    assert!(c["detail"].as_str().is_some_and(|d| !d.is_empty()), "{c:#}");

    let text = config(&arn, &lab.function, "text", &[]);
    assert_eq!(text.status, 1, "{}", text.stdout);
    let lines: Vec<&str> = text.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("FAIL") && l.contains("network_secrets_manager"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    // Fails come first in the configuration section, the group on the line, the command
    // on the next one.
    assert_eq!(
        lines[at - 1],
        "configuration (read through AWS APIs):",
        "{}",
        text.stdout
    );
    assert!(
        lines[at].contains("vpc_endpoint_security_group_blocks"),
        "{}",
        text.stdout
    );
    assert!(
        lines[at].contains(&lab.ep_sg) && lines[at].contains(&lab.sm_endpoint),
        "{}",
        text.stdout
    );
    assert!(
        lines[at + 1].trim_start() == format!("remedy: {remedy}"),
        "{}",
        text.stdout
    );
    append_output(&format!(
        "diagnose --scope config, endpoint group:\n{}\n",
        text.stdout
    ));
}

/// A PostgreSQL user whose secret the `here` checks pass.
async fn pg_user_secret() -> String {
    let user = unique("dsr_cfg");
    let pw = password("cfg");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    create_secret(&pg_secret(&user, &pw)).await
}

#[tokio::test]
async fn scope_all_is_the_here_checks_then_the_configuration_checks() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let arn = pg_user_secret().await;
    let run = run_bin(
        &[
            "diagnose",
            "--secret-id",
            &arn,
            "--scope",
            "all",
            "--function",
            &lab.function,
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_report(&run);
    let got = names(&report);
    assert_eq!(got[0], "secrets_manager_endpoint", "{report:#}");
    assert!(got.contains(&"login_current".to_string()), "{report:#}");
    assert_eq!(got[got.len() - 8..], CONFIG, "{report:#}");
    assert_eq!(report_check(&report, "login_current")["status"], "ok");
    assert_eq!(report_check(&report, "rotation_function")["status"], "ok");
    // The secret's host is no RDS endpoint: its network path cannot be read, a warning.
    let db = report_check(&report, "network_database");
    assert_eq!(db["status"], "warn", "{db:#}");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(run.status, 0, "{report:#}");

    let text = run_bin(
        &[
            "diagnose",
            "--secret-id",
            &arn,
            "--scope",
            "all",
            "--function",
            &lab.function,
        ],
        &[],
    );
    let table = text.stdout.find("login_current").unwrap();
    let section = text
        .stdout
        .find("configuration (read through AWS APIs):")
        .unwrap();
    assert!(table < section, "{}", text.stdout);
    assert!(
        text.stdout[section..].contains("warn   network_database"),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn scope_here_is_the_default_and_has_no_configuration_check() {
    let arn = pg_user_secret().await;
    let (plain, default) = diagnose_json(&arn, &[]);
    let here = run_bin(
        &[
            "diagnose",
            "--secret-id",
            &arn,
            "--scope",
            "here",
            "--format",
            "json",
        ],
        &[],
    );
    let here_report = json_report(&here);
    assert_eq!(names(&default), names(&here_report));
    assert_eq!((plain.status, here.status), (0, 0), "{here_report:#}");
    assert!(
        names(&default)
            .iter()
            .all(|n| !CONFIG.contains(&n.as_str())),
        "{default:#}"
    );
    let statuses = |r: &Value| -> Vec<Value> {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["status"].clone())
            .collect()
    };
    assert_eq!(statuses(&default), statuses(&here_report));
    let text = run_bin(&["diagnose", "--secret-id", &arn], &[]);
    assert!(text.stdout.contains("result check"), "{}", text.stdout);
    assert!(!text.stdout.contains("configuration"), "{}", text.stdout);
    // The function's settings still matter here.
    let bad = run_bin(
        &["diagnose", "--secret-id", &arn, "--scope", "here"],
        &[("ROTATION_STRATEGY", "nonsense")],
    );
    assert_ne!(bad.status, 0, "{}", bad.stdout);
}

#[tokio::test]
async fn a_secret_without_a_readable_host_skips_the_database_path_saying_why() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let arn = create_secret(&json!({"engine": "postgres", "username": "app"})).await;
    let run = config(&arn, &lab.function, "json", &[]);
    let report = json_report(&run);
    assert_eq!(run.status, 0, "{report:#}");
    let db = report_check(&report, "network_database");
    assert_eq!(db["status"], "skipped", "{db:#}");
    let detail = db["detail"].as_str().unwrap();
    assert!(
        detail
            .starts_with("skipped: the secret's host is unknown: AWSCURRENT is not a valid secret"),
        "{detail}"
    );
    // The rest is still checked.
    assert_eq!(report_check(&report, "rotation_function")["status"], "ok");
    assert_eq!(
        report_check(&report, "network_secrets_manager")["status"],
        "ok"
    );
}
