//! Concurrency: the same step twice at once, two rotations racing on one secret, many
//! secrets at once against one server, and no connection left open by a long-lived process.
//! Whatever the interleaving, the secret ends consistent and AWSCURRENT logs in.

use crate::common::runtime_api::{Answer, RuntimeApi};
use crate::common::*;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

/// Runs the same step in two processes at the same moment.
fn twice_at_once(arn: &str, token: &str, st: &str) -> (Run, Run) {
    std::thread::scope(|s| {
        let a = s.spawn(|| step(arn, token, st, &[]));
        let b = s.spawn(|| step(arn, token, st, &[]));
        (a.join().unwrap(), b.join().unwrap())
    })
}

/// Single user has a window between setSecret and finishSecret where only AWSPENDING logs
/// in (the reference has it too): at every point, the current or the pending credentials work.
async fn current_or_pending_logs_in(arn: &str, token: &str) {
    let port = services().pg_port;
    let cur = value_at(arn, "AWSCURRENT", None).await.unwrap();
    let user = cur["username"].as_str().unwrap();
    if pg_login(port, user, cur["password"].as_str().unwrap(), true)
        .await
        .is_ok()
    {
        return;
    }
    let pending = value_at(arn, "AWSPENDING", Some(token))
        .await
        .expect("a pending value");
    pg_login(port, user, pending["password"].as_str().unwrap(), true)
        .await
        .expect("AWSCURRENT or AWSPENDING logs in");
}

async fn current_logs_in(arn: &str) {
    let cur = value_at(arn, "AWSCURRENT", None).await.unwrap();
    pg_login(
        services().pg_port,
        cur["username"].as_str().unwrap(),
        cur["password"].as_str().unwrap(),
        true,
    )
    .await
    .expect("AWSCURRENT logs in");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_step_twice_at_once_ends_consistent() {
    let user = unique("dsr_conc_twice");
    let old = password("old");
    pg_create_user(services().pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    for st in STEPS {
        let (a, b) = twice_at_once(&arn, &token, st);
        assert_eq!(
            (a.status, b.status),
            (0, 0),
            "{st}:\n{}\n{}\n{}\n{}",
            a.stdout,
            a.stderr,
            b.stdout,
            b.stderr
        );
        current_or_pending_logs_in(&arn, &token).await;
    }
    current_logs_in(&arn).await;
    let cur = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_ne!(cur["password"], old.as_str());
    assert!(stages(&arn).await[&token].contains(&"AWSCURRENT".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_rotations_racing_on_one_secret_leave_it_consistent() {
    let user = unique("dsr_conc_race");
    let old = password("old");
    pg_create_user(services().pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let first = start_rotation(&arn).await;
    assert_eq!(step(&arn, &first, "createSecret", &[]).status, 0);
    // A second rotation starts before the first finishes: AWSPENDING moves to it.
    let second = start_rotation(&arn).await;
    let runs: Vec<(String, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = [first.clone(), second.clone()]
            .into_iter()
            .map(|token| {
                let arn = arn.clone();
                s.spawn(move || {
                    let mut runs = Vec::new();
                    for st in STEPS {
                        let run = step(&arn, &token, st, &[]);
                        let failed = run.status != 0;
                        runs.push((token.clone(), run));
                        if failed {
                            break;
                        }
                    }
                    runs
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (token, run) in &runs {
        if run.status != 0 {
            assert_eq!(
                token, &first,
                "only the superseded rotation may fail:\n{}",
                run.stdout
            );
            assert_eq!(run.cause(), "version_not_pending");
        }
    }
    let second_done = runs
        .iter()
        .filter(|(t, r)| t == &second && r.status == 0)
        .count();
    assert_eq!(second_done, 4, "the live rotation finishes");
    assert!(stages(&arn).await[&second].contains(&"AWSCURRENT".to_string()));
    current_logs_in(&arn).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_secrets_rotate_in_parallel_against_one_server() {
    let s = services();
    let mut arns = Vec::new();
    for i in 0..100 {
        let user = unique(&format!("dsr_conc_many{i}"));
        let pw = password("old");
        pg_create_user(s.pg_port, &user, &pw, &[]).await;
        arns.push(create_secret(&pg_secret(&user, &pw)).await);
    }
    // 15 threads of 7 rotations: each rotation is four processes and two logins.
    let failures: Vec<String> = std::thread::scope(|sc| {
        arns.chunks(7)
            .map(|chunk| {
                sc.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|arn| {
                            let run = run_bin(&["rotate", "--secret-id", arn], &[]);
                            (run.status != 0).then(|| format!("{arn}: {}", run.stdout))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
    // No cross-talk: each secret's new password logs in as its own user only.
    for arn in &arns {
        current_logs_in(arn).await;
    }
    let a = value_at(&arns[0], "AWSCURRENT", None).await.unwrap();
    let b = value_at(&arns[1], "AWSCURRENT", None).await.unwrap();
    assert!(pg_login(
        s.pg_port,
        a["username"].as_str().unwrap(),
        b["password"].as_str().unwrap(),
        true
    )
    .await
    .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_lived_function_leaves_no_connection_open() {
    let s = services();
    let api = RuntimeApi::start().await;
    let mut cmd = crate::common::runtime_api::function_command(&api);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let _child = cmd.spawn().unwrap();
    let mut users = Vec::new();
    for _ in 0..5 {
        let user = unique("dsr_conc_lambda");
        let pw = password("old");
        pg_create_user(s.pg_port, &user, &pw, &[]).await;
        let arn = create_secret(&pg_secret(&user, &pw)).await;
        let token = start_rotation(&arn).await;
        for st in STEPS {
            let id = api.invoke(
                json!({"Step": st, "SecretId": arn, "ClientRequestToken": token}),
                Duration::from_secs(30),
            );
            assert_eq!(
                api.answer(&id, Duration::from_secs(60)).await,
                Answer::Response(Value::Null)
            );
        }
        // A failing login leaves nothing open either.
        let id = api.invoke(
            json!({"Step": "testSecret", "SecretId": arn, "ClientRequestToken": token}),
            Duration::from_secs(30),
        );
        api.answer(&id, Duration::from_secs(60)).await;
        users.push(user);
    }
    // The process is still alive and idle: none of its sessions may remain.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = pg_admin().await;
    let open: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'db-secret-rotator' AND usename = ANY($1)",
            &[&users],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
}
