//! The Lambda face end to end: the real binary served through a Lambda Runtime API, a
//! rotation driven by events, and failures returned with the cause code as errorType.

use crate::common::runtime_api::{Answer, RuntimeApi};
use crate::common::*;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_binary_serves_rotation_events_through_the_runtime_api() {
    let s = services();
    let user = unique("dsr_lambda");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    let not_enabled = create_secret(&pg_secret(&user, &old)).await;

    let api = RuntimeApi::start().await;
    let mut cmd = crate::common::runtime_api::function_command(&api);
    cmd.env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();

    let mut request_ids = Vec::new();
    for st in STEPS {
        let id = api.invoke(
            json!({"Step": st, "SecretId": arn, "ClientRequestToken": token}),
            Duration::from_secs(30),
        );
        assert_eq!(
            api.answer(&id, Duration::from_secs(60)).await,
            Answer::Response(Value::Null),
            "{st}"
        );
        request_ids.push(id);
    }
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .unwrap();

    // Failures come back with the cause code as errorType and a one-line message.
    let id = api.invoke(
        json!({"Step": "dropDatabase", "SecretId": arn, "ClientRequestToken": token}),
        Duration::from_secs(30),
    );
    match api.answer(&id, Duration::from_secs(30)).await {
        Answer::Error(e) => {
            assert_eq!(e["errorType"], "invalid_event");
            assert!(!e["errorMessage"].as_str().unwrap().contains('\n'));
        }
        other => panic!("{other:?}"),
    }
    let version = stages(&not_enabled).await.into_keys().next().unwrap();
    let id = api.invoke(
        json!({"Step": "createSecret", "SecretId": not_enabled, "ClientRequestToken": version}),
        Duration::from_secs(30),
    );
    match api.answer(&id, Duration::from_secs(30)).await {
        Answer::Error(e) => assert_eq!(e["errorType"], "rotation_not_enabled"),
        other => panic!("{other:?}"),
    }

    // The diagnose event returns the report from inside the function.
    let id = api.invoke(
        json!({"Action": "diagnose", "SecretId": arn}),
        Duration::from_secs(30),
    );
    match api.answer(&id, Duration::from_secs(60)).await {
        Answer::Response(report) => {
            assert_eq!(report["secret_id"], arn.as_str());
            let names: Vec<_> = report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
            assert!(names.contains(&"login_current".to_string()), "{report}");
        }
        other => panic!("{other:?}"),
    }

    child.start_kill().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    let _ = child.wait().await;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output_dir().join("binary-output.log"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, stdout.as_bytes()))
        .unwrap();

    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    // Every line of a rotation step carries the Lambda request id of its invocation.
    for id in &request_ids {
        let lines: Vec<_> = events
            .iter()
            .filter(|e| e["request_id"] == id.as_str())
            .collect();
        assert!(
            lines.iter().any(|e| e["event"] == "step_succeeded"),
            "no step_succeeded for {id}:\n{stdout}"
        );
    }
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "step_failed")
        .collect();
    assert_eq!(failed.len(), 2, "{stdout}");
    // EMF: the failure line is a metric document.
    let emf = &failed[1]["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(emf["Namespace"], "DbSecretRotator");
    assert_eq!(failed[1]["StepFailed"], 1);
    assert_eq!(failed[1]["Cause"], "rotation_not_enabled");
}
