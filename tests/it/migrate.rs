//! `migrate`, against moto's Secrets Manager and Lambda metadata, with Lambda Invoke served
//! by the local endpoint of tests/it/common/lambda_invoke.rs, which runs the real binary as the
//! target function: the preflight is the function's own diagnose event. A dry run changes
//! nothing; `--apply` after a passing preflight points the secret at the function with its
//! schedule kept; a failing preflight refuses; `--from-function` stops at the first refusal.

use crate::common::lambda_invoke::{
    configure_rotation, create_function, invoked_function, rotation_of, LambdaInvoke,
};
use crate::common::*;
use serde_json::{json, Value};

const PG_SINGLE: &str = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser";

struct Fixture {
    old: String,
    new: String,
    new_name: String,
    invoke: LambdaInvoke,
}

/// An old hosted-application function on python3.7, a new db-secret-rotator function, and
/// the Lambda endpoint that runs the new one.
async fn fixture() -> Fixture {
    let tag = unique("m");
    let old = create_function(
        &format!("old-{tag}"),
        "python3.7",
        "",
        &[("serverlessrepo:applicationId", PG_SINGLE)],
    )
    .await;
    let new_name = format!("dsr-{tag}");
    let new = create_function(
        &new_name,
        "provided.al2023",
        "Secrets Manager rotation for PostgreSQL, MySQL and MariaDB (db-secret-rotator)",
        &[],
    )
    .await;
    fit_to_rotate(&new_name, 30).await;
    Fixture {
        old,
        new,
        new_name,
        invoke: LambdaInvoke::start(Vec::new()),
    }
}

/// A PostgreSQL user and its secret, rotated by `function`; `good` false gives the secret a
/// password the database refuses.
async fn secret_on(function: &str, good: bool) -> (String, String, String) {
    let user = unique("dsr_mig");
    let pw = password("mig");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let stored = if good { pw.clone() } else { password("wrong") };
    let arn = create_secret(&pg_secret(&user, &stored)).await;
    configure_rotation(&arn, function).await;
    (arn, user, pw)
}

/// Gives a function what the configuration checks ask of a rotation function: `timeout`
/// seconds and Secrets Manager's permission to invoke it.
async fn fit_to_rotate(name: &str, timeout: i32) {
    let c = crate::outside_network::clients().await;
    c.lambda
        .update_function_configuration()
        .function_name(name)
        .timeout(timeout)
        .send()
        .await
        .unwrap();
    c.lambda
        .add_permission()
        .function_name(name)
        .statement_id("SecretsManagerAccess")
        .action("lambda:InvokeFunction")
        .principal("secretsmanager.amazonaws.com")
        .send()
        .await
        .unwrap();
}

fn migrate(f: &Fixture, args: &[&str]) -> (Run, Value) {
    let mut all = vec![
        "migrate",
        "--function",
        f.new_name.as_str(),
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let run = run_bin(&all, &[("AWS_ENDPOINT_URL_LAMBDA", f.invoke.url())]);
    let report = json_report(&run);
    (run, report)
}

#[tokio::test]
async fn a_dry_run_preflights_through_the_function_and_changes_nothing() {
    let f = fixture().await;
    let (arn, user, pw) = secret_on(&f.old, true).await;
    let before = (rotation_of(&arn).await, stages(&arn).await);

    let (run, report) = migrate(&f, &["--secret-id", &arn]);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ok"], true);
    let m = &report["migrations"][0];
    assert_eq!(m["dry_run"], true);
    assert_eq!(m["applied"], false);
    assert_eq!(m["from"]["runtime"], "python3.7");
    assert_eq!(m["to"]["arn"], f.new.as_str());

    // The preflight ran inside the target function: one Invoke of it, the diagnose event.
    let calls = f.invoke.invocations();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].function, f.new_name);
    assert_eq!(
        calls[0].payload,
        json!({"Action": "diagnose", "SecretId": arn})
    );
    assert!(
        calls[0].output.contains("\"event\""),
        "the function logged JSON: {}",
        calls[0].output
    );

    // Its report: every check passed; rotation on the old function is a warning that names it.
    let p = &m["preflight"];
    assert_eq!(p["ok"], true, "{p:#}");
    assert_eq!(report_check(p, "login_current")["status"], "ok");
    let d = report_check(p, "describe_secret");
    assert_eq!(d["status"], "warn", "{d}");
    let w = &d["warnings"][0];
    assert_eq!(w["code"], "rotation_on_other_function");
    assert!(
        w["message"].as_str().unwrap().contains("(python3.7)"),
        "{w}"
    );

    // Then the configuration checks of the target, with the caller's credentials: none fails.
    let config = m["configuration"].as_array().unwrap();
    assert_eq!(config.len(), 8, "{m:#}");
    assert_eq!(config[0]["name"], "rotation_function");
    assert_eq!(config[0]["status"], "ok", "{m:#}");
    assert!(config.iter().all(|c| c["status"] != "fail"), "{m:#}");

    // Nothing changed, and the way back is spelled out.
    assert_eq!((rotation_of(&arn).await, stages(&arn).await), before);
    let back = m["switch_back"].as_str().unwrap();
    assert_eq!(
        back,
        format!("aws secretsmanager rotate-secret --secret-id {arn} --rotation-lambda-arn {} --rotation-rules '{{\"AutomaticallyAfterDays\":30}}' --no-rotate-immediately", f.old)
    );

    // The text form says the same for a person.
    let text = run_bin(
        &["migrate", "--function", &f.new_name, "--secret-id", &arn],
        &[("AWS_ENDPOINT_URL_LAMBDA", f.invoke.url())],
    );
    assert_eq!(text.status, 0, "{}", text.stdout);
    assert!(text.stdout.contains("(python3.7) to"), "{}", text.stdout);
    assert!(
        text.stdout.contains("dry run: the preflight passed"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("--apply"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("switch back: {back}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("warning: rotation_on_other_function"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("configuration of the target function (read through AWS APIs):"),
        "{}",
        text.stdout
    );

    // The database was never touched: the password still logs in.
    pg_login(services().pg_port, &user, &pw, true)
        .await
        .unwrap();
}

#[tokio::test]
async fn apply_after_a_passing_preflight_points_rotation_at_the_function_keeping_the_schedule() {
    let f = fixture().await;
    let (arn, user, pw) = secret_on(&f.old, true).await;
    let current = value_at(&arn, "AWSCURRENT", None).await;

    let (run, report) = migrate(&f, &["--secret-id", &arn, "--apply"]);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    let m = &report["migrations"][0];
    assert_eq!(m["applied"], true, "{m:#}");
    assert_eq!(m["rotate_immediately"], false);
    assert_eq!(rotation_of(&arn).await, (Some(f.new.clone()), Some(30)));
    // No rotation ran: AWSCURRENT is the same value and still logs in.
    assert_eq!(value_at(&arn, "AWSCURRENT", None).await, current);
    pg_login(services().pg_port, &user, &pw, true)
        .await
        .unwrap();
    assert!(m["switch_back"].as_str().unwrap().contains(&f.old));

    // Run again: already on the function, nothing to do, no preflight needed.
    let (run, report) = migrate(&f, &["--secret-id", &arn, "--apply"]);
    assert_eq!(run.status, 0);
    assert!(report["migrations"][0]["note"]
        .as_str()
        .unwrap()
        .contains("already"));
}

#[tokio::test]
async fn a_failing_preflight_refuses_and_changes_nothing() {
    let f = fixture().await;
    let (arn, _user, _pw) = secret_on(&f.old, false).await;
    let before = (rotation_of(&arn).await, stages(&arn).await);
    let (run, report) = migrate(&f, &["--secret-id", &arn, "--apply", "--rotate-now"]);
    assert_eq!(run.status, 1, "{report:#}");
    let m = &report["migrations"][0];
    assert_eq!(m["applied"], false);
    let why = m["refused"].as_str().unwrap();
    assert!(why.contains("login_current (db_login_failed)"), "{why}");
    assert_eq!(
        report_check(&m["preflight"], "login_current")["cause"],
        "db_login_failed"
    );
    assert_eq!((rotation_of(&arn).await, stages(&arn).await), before);
}

#[tokio::test]
async fn a_target_whose_endpoint_group_blocks_it_is_refused_naming_the_check() {
    use crate::outside_network::{healthy_lab, tcp_to_cidr, tcp_to_group, HEALTHY_FN};
    let f = fixture().await;
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.revoke_ingress(&lab.ep_sg, tcp_to_group(443, &lab.fn_sg))
        .await;
    lab.ingress(&lab.ep_sg, tcp_to_cidr(443, "192.168.0.0/16"))
        .await;
    let (arn, ..) = secret_on(&f.old, true).await;
    let before = (rotation_of(&arn).await, stages(&arn).await);
    let target = |f: &Fixture, args: &[&str]| {
        let mut all = vec![
            "migrate",
            "--function",
            lab.function.as_str(),
            "--secret-id",
            &arn,
        ];
        all.extend_from_slice(args);
        run_bin(&all, &[("AWS_ENDPOINT_URL_LAMBDA", f.invoke.url())])
    };
    let run = target(&f, &["--apply", "--format", "json"]);
    let report = json_report(&run);
    assert_eq!(run.status, 1, "{report:#}");
    let m = &report["migrations"][0];
    // The preflight inside the function passed; the configuration around it did not.
    assert_eq!(m["preflight"]["ok"], true, "{m:#}");
    let why = m["refused"].as_str().unwrap();
    assert!(
        why.contains("network_secrets_manager (vpc_endpoint_security_group_blocks)"),
        "{why}"
    );
    let c = report_check(
        &json!({"checks": m["configuration"]}),
        "network_secrets_manager",
    )
    .clone();
    assert_eq!(
        c["evidence"]["security_groups"][0],
        lab.ep_sg.as_str(),
        "{c:#}"
    );
    assert_eq!(m["applied"], false);
    assert_eq!((rotation_of(&arn).await, stages(&arn).await), before);

    let text = target(&f, &[]);
    assert_eq!(text.status, 1, "{}", text.stdout);
    assert!(
        text.stdout.contains("REFUSED: the configuration of"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("authorize-security-group-ingress"),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn from_function_moves_each_secret_in_turn_and_stops_at_the_first_refusal() {
    let f = fixture().await;
    let (first, ..) = secret_on(&f.old, true).await;
    let (broken, ..) = secret_on(&f.old, false).await;
    let (last, ..) = secret_on(&f.old, true).await;
    let (run, report) = migrate(&f, &["--from-function", &f.old, "--apply"]);
    assert_eq!(run.status, 1, "{report:#}");
    let done = report["migrations"].as_array().unwrap();
    assert_eq!(done.len(), 2, "{report:#}");
    assert_eq!(done[0]["secret_arn"], first.as_str());
    assert_eq!(done[0]["applied"], true);
    assert_eq!(done[1]["secret_arn"], broken.as_str());
    assert!(done[1]["refused"].is_string());
    assert_eq!(rotation_of(&first).await.0, Some(f.new.clone()));
    assert_eq!(rotation_of(&broken).await.0, Some(f.old.clone()));
    assert_eq!(
        rotation_of(&last).await.0,
        Some(f.old.clone()),
        "stopped before the third"
    );
}

#[tokio::test]
async fn a_target_that_is_not_a_function_is_refused_before_any_invoke() {
    let f = fixture().await;
    let (arn, ..) = secret_on(&f.old, true).await;
    let run = run_bin(
        &[
            "migrate",
            "--function",
            "no-such-function",
            "--secret-id",
            &arn,
            "--format",
            "json",
        ],
        &[("AWS_ENDPOINT_URL_LAMBDA", f.invoke.url())],
    );
    assert_eq!(run.status, 1);
    let report = json_report(&run);
    assert!(report["migrations"][0]["refused"]
        .as_str()
        .unwrap()
        .contains("ResourceNotFoundException"));
    assert!(f.invoke.invocations().is_empty());
    // --rotate-now without --apply is a usage error.
    let usage = run_bin(
        &[
            "migrate",
            "--function",
            "x",
            "--secret-id",
            &arn,
            "--rotate-now",
        ],
        &[],
    );
    assert_eq!(usage.status, 2);
}

#[test]
fn the_invoke_endpoint_names_the_function_of_an_invoke_path() {
    assert_eq!(
        invoked_function("POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Anew/invocations HTTP/1.1"),
        Some("new".to_string())
    );
    assert_eq!(
        invoked_function("POST /2015-03-31/functions/new/invocations HTTP/1.1"),
        Some("new".to_string())
    );
    assert_eq!(
        invoked_function("GET /2015-03-31/functions/new/configuration HTTP/1.1"),
        None
    );
}
