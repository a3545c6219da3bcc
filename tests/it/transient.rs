//! Transient database refusals are retried within the deadline: a login refused with
//! "too many connections" (SQLSTATE 53300) succeeds once the server has room again.

use crate::common::*;
use serde_json::Value;
use std::io::BufRead;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread")]
async fn too_many_connections_is_retried_until_the_server_has_room() {
    let s = services();
    let user = unique("dsr_transient");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[]).status, 0);

    // No room for this role: every login is refused with 53300 until the limit is lifted.
    let admin = pg_admin().await;
    admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT 0"))
        .await
        .unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_db-secret-rotator"));
    cmd.args([
        "step",
        "--secret-id",
        &arn,
        "--token",
        &token,
        "--step",
        "setSecret",
    ]);
    for (k, v) in base_env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    // Wait for the first refusal, then make room.
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        let e: Value = serde_json::from_str(&line).unwrap();
        if e["event"] == "db_connect_failed" {
            assert_eq!(e["cause"], "db_unavailable", "{line}");
            break;
        }
        assert_ne!(e["event"], "step_failed", "{printed}");
    }
    admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT -1"))
        .await
        .unwrap();
    for line in lines {
        printed.push_str(&line.unwrap());
        printed.push('\n');
    }
    let status = child.wait().unwrap();
    append_output(&printed);
    assert!(status.success(), "{printed}");
    assert!(
        printed.contains("\"outcome\":\"password_set\""),
        "{printed}"
    );

    assert_eq!(step(&arn, &token, "testSecret", &[]).status, 0);
    assert_eq!(step(&arn, &token, "finishSecret", &[]).status, 0);
    let now = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, now["password"].as_str().unwrap(), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refusal_that_outlasts_the_deadline_is_db_unavailable_with_its_tries() {
    let s = services();
    let user = unique("dsr_transient_long");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[]).status, 0);
    pg_admin()
        .await
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT 0"))
        .await
        .unwrap();
    let run = run_bin(
        &[
            "step",
            "--secret-id",
            &arn,
            "--token",
            &token,
            "--step",
            "setSecret",
            "--timeout-ms",
            "5000",
        ],
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "db_unavailable");
    let tries = run.failure()["evidence"]["tries"].as_u64().unwrap();
    assert!(tries >= 2, "retried within the budget: {}", run.stdout);
    assert_eq!(run.failure()["evidence"]["code"], "53300");
    // Nothing lost.
    pg_admin()
        .await
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT -1"))
        .await
        .unwrap();
    pg_login(s.pg_port, &user, &old, true)
        .await
        .expect("AWSCURRENT still logs in");
}
