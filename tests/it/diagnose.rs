//! `diagnose`, the read-only preflight, on the real services: a healthy secret passes every
//! check (exit 0); a broken one (wrong password, KMS refused through the fault endpoint, a
//! closed database port, a hanging endpoint) fails the check that names the cause (exit 1),
//! skipping what depends on it; the text format is a table; and nothing is ever changed.

use crate::common::fault::{closed_port, FaultServer, SilentListener};
use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashMap;

fn names(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Everything diagnose could change: staging labels, every version's value, the database
/// verifier.
async fn snapshot(arn: &str, user: &str) -> (HashMap<String, Vec<String>>, Vec<Value>, String) {
    let mut labels = stages(arn).await;
    for v in labels.values_mut() {
        v.sort();
    }
    let mut values = Vec::new();
    let mut versions: Vec<_> = labels.keys().cloned().collect();
    versions.sort();
    for version in versions {
        // A version staged by RotateSecret has no value until createSecret.
        let value = sm()
            .await
            .get_secret_value()
            .secret_id(arn)
            .version_id(&version)
            .send()
            .await
            .ok()
            .and_then(|out| out.secret_string().map(str::to_string));
        values.push(json!({"version": version, "value": value}));
    }
    let verifier = pg_rolpassword(services().pg_port, user).await;
    (labels, values, verifier)
}

/// A PostgreSQL user whose secret has been rotated once the way Secrets Manager does it:
/// rotation enabled, AWSCURRENT and AWSPREVIOUS present.
async fn healthy() -> (String, String) {
    let user = unique("dsr_diag");
    let pw = password("diag");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    (arn, user)
}

#[tokio::test]
async fn healthy_secret_passes_every_check_and_nothing_changes() {
    let (arn, user) = healthy().await;
    let before = snapshot(&arn, &user).await;

    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["secret_id"], arn.as_str());
    let got = names(&report);
    let expected = [
        "secrets_manager_endpoint",
        "describe_secret",
        "current_secret_readable",
        "secret_json_valid",
        "database_reachable",
        "tls",
        "login_current",
    ];
    assert_eq!(&got[..expected.len()], expected, "{report:#}");
    assert!(got.contains(&"login_previous".to_string()), "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["duration_ms"].is_u64(), "{c}");
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
        assert!(c.get("cause").is_none(), "{c}");
    }
    assert!(report_check(&report, "login_previous")["detail"]
        .as_str()
        .unwrap()
        .contains("refused"));

    // The text form of the same: exit 0, a header and one row per check.
    let text = run_bin(&["diagnose", "--secret-id", &arn], &[]);
    assert_eq!(text.status, 0, "{}\n{}", text.stdout, text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].contains("OK"), "{}", text.stdout);
    let header = lines
        .iter()
        .position(|l| l.starts_with("result"))
        .expect("a header row");
    assert!(lines[header].contains("check") && lines[header].contains("detail"));
    for name in &got {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", text.stdout));
        assert!(row.starts_with("ok "), "{row}");
    }
    // Logs stay off the table (stderr), and stay JSON.
    for l in text.stderr.lines().filter(|l| !l.is_empty()) {
        serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
    }

    assert_eq!(
        snapshot(&arn, &user).await,
        before,
        "diagnose changed something"
    );
}

#[tokio::test]
async fn wrong_password_fails_login_current_with_db_login_failed() {
    let user = unique("dsr_diag_wrong");
    let pw = password("diag");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &password("wrong"))).await;
    start_rotation(&arn).await;
    let before = snapshot(&arn, &user).await;
    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 1);
    assert_eq!(report["ok"], false);
    let login = report_check(&report, "login_current");
    assert_eq!(login["ok"], false, "{login}");
    assert_eq!(login["cause"], "db_login_failed");
    assert!(login["remedy"].as_str().unwrap().len() > 20);
    assert_eq!(login["evidence"]["user"], user.as_str());
    for name in ["database_reachable", "tls", "secret_json_valid"] {
        assert_eq!(report_check(&report, name)["ok"], true, "{report:#}");
    }
    assert_eq!(snapshot(&arn, &user).await, before);
}

#[tokio::test]
async fn kms_refusal_fails_current_secret_readable_and_skips_the_rest() {
    let (arn, user) = healthy().await;
    let before = snapshot(&arn, &user).await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetSecretValue",
        400,
        "AccessDeniedException",
        "Access to KMS is not allowed",
    );
    let (run, report) = diagnose_json(&arn, &[("AWS_ENDPOINT_URL", fault.url())]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report_check(&report, "describe_secret")["ok"], true);
    let read = report_check(&report, "current_secret_readable");
    assert_eq!(read["ok"], false);
    assert_eq!(read["cause"], "kms_access_denied");
    assert_eq!(read["evidence"]["secret"], "current");
    for name in ["secret_json_valid", "database_reachable", "login_current"] {
        let c = report_check(&report, name);
        assert_eq!(c["ok"], Value::Null, "{c}");
        assert!(c["detail"].as_str().unwrap().starts_with("skipped"), "{c}");
    }
    // The text table names the cause and the remedy under the failing row.
    let text = run_bin(
        &["diagnose", "--secret-id", &arn, "--format", "text"],
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    assert_eq!(text.status, 1);
    assert!(text
        .stdout
        .starts_with(&format!("diagnose {arn}: PROBLEM FOUND")));
    let fail = text
        .stdout
        .lines()
        .position(|l| l.starts_with("FAIL") && l.contains("current_secret_readable"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    let below: Vec<&str> = text.stdout.lines().skip(fail + 1).take(2).collect();
    assert!(
        below[0].contains("cause: kms_access_denied"),
        "{}",
        text.stdout
    );
    assert!(below[1].contains("remedy: "), "{}", text.stdout);
    assert!(text
        .stdout
        .lines()
        .any(|l| l.starts_with("skip") && l.contains("login_current")));
    assert_eq!(snapshot(&arn, &user).await, before);
}

#[tokio::test]
async fn closed_database_port_fails_database_reachable() {
    let user = unique("dsr_diag_port");
    let pw = password("diag");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    let port = closed_port();
    secret["port"] = json!(port);
    let arn = create_secret(&secret).await;
    start_rotation(&arn).await;
    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 1);
    let reach = report_check(&report, "database_reachable");
    assert_eq!(reach["ok"], false, "{reach}");
    assert_eq!(reach["cause"], "db_unreachable");
    assert_eq!(reach["evidence"]["phase"], "connect");
    assert_eq!(reach["evidence"]["port"], port);
    for name in ["tls", "login_current"] {
        assert_eq!(report_check(&report, name)["ok"], Value::Null);
    }
}

#[tokio::test]
async fn never_answering_endpoint_fails_the_endpoint_check_at_the_response() {
    let (arn, _user) = healthy().await;
    let silent = SilentListener::start();
    let (run, report) = diagnose_json(&arn, &[("AWS_ENDPOINT_URL", silent.url())]);
    assert_eq!(run.status, 1);
    let endpoint = report_check(&report, "secrets_manager_endpoint");
    assert_eq!(endpoint["ok"], false, "{endpoint}");
    assert_eq!(endpoint["cause"], "secrets_manager_unreachable");
    assert_eq!(endpoint["evidence"]["phase"], "response", "{endpoint}");
    assert_eq!(report_check(&report, "describe_secret")["ok"], Value::Null);
}

/// A check's warning with this code.
fn warning<'a>(check: &'a Value, code: &str) -> &'a Value {
    check["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings in {check}"))
        .iter()
        .find(|w| w["code"] == code)
        .unwrap_or_else(|| panic!("no warning {code} in {check}"))
}

#[tokio::test]
async fn an_awspending_of_a_rotation_in_progress_is_a_warning_with_the_command_to_clear_it() {
    let user = unique("dsr_diag_stale");
    let pw = password("diag");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let token = start_rotation(&arn).await;
    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["status"], "warn");
    let d = report_check(&report, "describe_secret");
    assert_eq!(d["ok"], true, "{d}");
    assert_eq!(d["status"], "warn", "{d}");
    assert!(d.get("cause").is_none(), "a warning is not a cause: {d}");
    let w = warning(d, "stale_pending_label");
    assert_eq!(w["evidence"]["pending_version_id"], token.as_str());
    assert!(w["remedy"]
        .as_str()
        .unwrap()
        .contains(&format!("--remove-from-version-id {token}")));
    assert!(d["remedy"]
        .as_str()
        .unwrap()
        .contains("update-secret-version-stage"));
    // The rest still runs: the label is not a fault of the secret.
    assert_eq!(
        report_check(&report, "login_current")["ok"],
        true,
        "{report:#}"
    );
}

#[tokio::test]
async fn rotation_not_enabled_yet_is_a_warning_and_the_preflight_passes() {
    let user = unique("dsr_diag_off");
    let pw = password("diag");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["warnings"], 1, "{report:#}");
    let d = report_check(&report, "describe_secret");
    assert_eq!(d["status"], "warn");
    let w = warning(d, "rotation_not_enabled");
    assert!(
        w["remedy"]
            .as_str()
            .unwrap()
            .contains("migrate --secret-id"),
        "{w}"
    );
    for c in report["checks"].as_array().unwrap() {
        if c["name"] != "describe_secret" {
            assert_eq!(c["status"], "ok", "{c}");
        }
    }
    // The table says so in a warn row with the remedy under it; exit 0.
    let text = run_bin(&["diagnose", "--secret-id", &arn, "--format", "text"], &[]);
    assert_eq!(text.status, 0, "{}", text.stdout);
    assert!(
        text.stdout
            .lines()
            .next()
            .unwrap()
            .contains("OK, 1 warning"),
        "{}",
        text.stdout
    );
    let row = text
        .stdout
        .lines()
        .position(|l| l.starts_with("warn") && l.contains("describe_secret"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    let below: Vec<&str> = text.stdout.lines().skip(row + 1).take(2).collect();
    assert!(
        below[0].contains("warning: rotation_not_enabled"),
        "{}",
        text.stdout
    );
    assert!(below[1].contains("remedy: "), "{}", text.stdout);
}

#[tokio::test]
async fn rotation_on_another_function_is_a_warning_naming_it_and_its_runtime() {
    let (arn, _user) = healthy().await;
    let (run, report) = diagnose_json(&arn, &[]);
    // Without a function to compare with, the function is named in the detail only.
    assert_eq!(run.status, 0);
    let d = report_check(&report, "describe_secret");
    assert_eq!(d["status"], "ok", "{d}");
    assert!(
        d["detail"]
            .as_str()
            .unwrap()
            .contains("dsr-dummy-rotation (python3.11)"),
        "{d}"
    );

    let run = run_bin(
        &[
            "diagnose",
            "--secret-id",
            &arn,
            "--format",
            "json",
            "--function",
            "db-secret-rotator-new",
        ],
        &[],
    );
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let report = json_report(&run);
    assert_eq!(report["ok"], true);
    let d = report_check(&report, "describe_secret");
    let w = warning(d, "rotation_on_other_function");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("dsr-dummy-rotation (python3.11)"),
        "{w}"
    );
    assert_eq!(w["evidence"]["runtime"], "python3.11");
    assert_eq!(
        w["evidence"]["function_arn"],
        rotation_function_arn().await.as_str()
    );
    assert!(
        w["remedy"]
            .as_str()
            .unwrap()
            .contains("--function db-secret-rotator-new --apply"),
        "{w}"
    );
}

#[tokio::test]
async fn a_deadline_passed_before_the_checks_blames_the_deadline_not_the_endpoint() {
    let (arn, _user) = healthy().await;
    let run = run_bin(
        &[
            "diagnose",
            "--secret-id",
            &arn,
            "--format",
            "json",
            "--timeout-ms",
            "0",
        ],
        &[],
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let report = json_report(&run);
    let endpoint = report_check(&report, "secrets_manager_endpoint");
    assert_eq!(endpoint["cause"], "function_timeout_imminent", "{endpoint}");
    assert_eq!(endpoint["evidence"]["deadline_passed_before_call"], true);
    assert!(endpoint["evidence"].get("endpoint").is_none(), "{endpoint}");
}

#[tokio::test]
async fn no_ssl_key_against_a_server_without_tls_is_a_finding_not_a_failure() {
    let s = services();
    let user = unique("dsr_diag_notls");
    let pw = password("diag");
    pg_create_user(s.pg_notls_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["port"] = json!(s.pg_notls_port);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    let (run, report) = diagnose_json(&arn, &[]);
    assert_eq!(run.status, 0, "{report:#}");
    let tls = report_check(&report, "tls");
    assert_eq!(tls["ok"], true);
    assert!(
        tls["detail"].as_str().unwrap().contains("tls_downgraded"),
        "{tls}"
    );
    // With TLS_FALLBACK=deny the same is a failure.
    let (run, report) = diagnose_json(&arn, &[("TLS_FALLBACK", "deny")]);
    assert_eq!(run.status, 1);
    assert_eq!(report_check(&report, "tls")["cause"], "db_tls_unavailable");
}
