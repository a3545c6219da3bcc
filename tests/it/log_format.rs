//! The faces of the log: `--log-format text` gives one readable line per step (and the cause,
//! message, remedy and evidence of a failure); JSON is the default when stdout is not a
//! terminal and the only format in Lambda, where a failed invocation is exactly one ERROR
//! line (lambda_runtime's own repeat of the failure is gone). Also the Lambda face under a
//! local emulator's deadline header (a duration, not an epoch time).

use crate::common::runtime_api::{Answer, RuntimeApi};
use crate::common::*;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

fn is_json(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object())
}

#[tokio::test]
async fn text_shows_one_line_per_step_and_a_failure_with_cause_message_remedy_and_evidence() {
    let s = services();
    let user = unique("dsr_text");
    let pw = password("text");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;

    let run = run_bin(
        &["rotate", "--secret-id", &arn, "--log-format", "text"],
        &[("RUST_LOG", "")],
    );
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.events.is_empty(),
        "no JSON in text mode:\n{}",
        run.stdout
    );
    for step in STEPS {
        let lines: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(step))
            .filter(|l| l.split_whitespace().nth(2) == Some("ok"))
            .collect();
        assert_eq!(lines.len(), 1, "one ok line for {step}:\n{}", run.stdout);
        let words: Vec<&str> = lines[0].split_whitespace().collect();
        // time, step, outcome, duration
        assert_eq!(words[0].len(), 12, "HH:MM:SS.mmm: {}", lines[0]);
        assert_eq!(words[0].as_bytes()[2], b':');
        assert!(
            words[3].chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{}",
            lines[0]
        );
        assert_eq!(words[words.len() - 1], "ms", "{}", lines[0]);
        assert!(
            words[words.len() - 2].parse::<u64>().is_ok(),
            "{}",
            lines[0]
        );
    }

    // A failure: the database password was changed outside rotation.
    let user = unique("dsr_text_bad");
    pg_create_user(s.pg_port, &user, &password("real"), &[]).await;
    let arn = create_secret(&pg_secret(&user, &password("stale"))).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);
    let run = run_bin(
        &[
            "step",
            "--secret-id",
            &arn,
            "--token",
            &token,
            "--step",
            "setSecret",
            "--log-format",
            "text",
        ],
        &[("RUST_LOG", "")],
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(" setSecret ") && l.contains("FAILED"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(lines[at].contains("db_login_failed"), "{}", lines[at]);
    assert!(lines[at].trim_end().ends_with("ms"), "{}", lines[at]);
    assert!(
        lines[at + 1]
            .trim_start()
            .starts_with("message  setSecret failed"),
        "{}",
        run.stdout
    );
    assert!(
        lines[at + 2].trim_start().starts_with("remedy   "),
        "{}",
        run.stdout
    );
    assert!(lines[at + 2].contains("AWSCURRENT"), "{}", run.stdout);
    let evidence = lines[at + 3].trim_start();
    assert!(evidence.starts_with("evidence "), "{}", run.stdout);
    assert!(evidence.contains(&format!("user={user}")), "{evidence}");
    assert!(evidence.contains("attempts="), "{evidence}");
}

#[tokio::test]
async fn json_is_the_default_off_a_terminal_and_on_request() {
    let arn = create_secret(&json!({"engine": "postgres"})).await;
    for args in [vec![], vec!["--log-format", "json"]] {
        let mut all = vec![
            "step",
            "--secret-id",
            arn.as_str(),
            "--token",
            "t",
            "--step",
            "createSecret",
        ];
        all.extend(args);
        let run = run_bin(&all, &[]);
        assert_eq!(run.status, 1);
        assert!(!run.stdout.is_empty());
        for line in run.stdout.lines() {
            assert!(is_json(line), "not JSON: {line}");
        }
        run.failure();
    }
    // An unknown format is a usage error.
    let run = run_bin(&["--log-format", "yaml", "audit"], &[]);
    assert_eq!(run.status, 2);
}

/// Starts the binary as a Lambda function against `api`.
fn lambda_process(api: &RuntimeApi) -> tokio::process::Child {
    let mut cmd = crate::common::runtime_api::function_command(api);
    cmd.env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

async fn stop(mut child: tokio::process::Child) -> String {
    child.start_kill().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let _ = child.wait().await;
    append_output(&out);
    append_output(&err);
    out + &err
}

#[tokio::test]
async fn a_failed_invocation_is_one_error_line_in_lambda() {
    let arn = create_secret(&json!({"engine": "postgres"})).await;
    let api = RuntimeApi::start().await;
    let child = lambda_process(&api);
    let version = stages(&arn).await.into_keys().next().unwrap();
    let id = api.invoke(
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": version}),
        Duration::from_secs(30),
    );
    match api.answer(&id, Duration::from_secs(30)).await {
        Answer::Error(e) => assert_eq!(e["errorType"], "rotation_not_enabled"),
        other => panic!("{other:?}"),
    }
    let out = stop(child).await;
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("Lambda writes JSON only: {l}")))
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "one ERROR line per failure:\n{out}");
    assert_eq!(errors[0]["event"], "step_failed");
    assert_eq!(errors[0]["cause"], "rotation_not_enabled");
    assert!(
        !lines
            .iter()
            .any(|l| l["target"] == "lambda_runtime::layers::panic"),
        "{out}"
    );
}

#[tokio::test]
async fn an_emulator_deadline_header_that_is_a_duration_is_read_as_one_with_a_warning() {
    let s = services();
    let user = unique("dsr_emul");
    let pw = password("emul");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let token = start_rotation(&arn).await;
    let api = RuntimeApi::start().await;
    let child = lambda_process(&api);
    // cargo-lambda's emulator sends the function timeout itself: 600000.
    for st in STEPS {
        let id = api.invoke_with_deadline_header(
            json!({"Step": st, "SecretId": arn, "ClientRequestToken": token}),
            600_000,
        );
        assert_eq!(
            api.answer(&id, Duration::from_secs(60)).await,
            Answer::Response(Value::Null),
            "{st}"
        );
    }
    let out = stop(child).await;
    let findings: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "finding" && e["code"] == "deadline_header_is_a_duration")
        .collect();
    assert_eq!(findings.len(), 4, "one warning per invocation:\n{out}");
    assert_eq!(findings[0]["level"], "WARN");
    assert_eq!(findings[0]["evidence"]["deadline_ms_header"], 600_000);
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .unwrap();
}
