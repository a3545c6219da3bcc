//! The fault matrix: for every step and every external call inside it — each Secrets Manager
//! call, the database connect, the password change — inject a failure (an AWS error, a hang
//! to the deadline, a refused or held connection, a lock, a read-only refusal, or the process
//! killed right after the call), then check that usable credentials survive and that a retry
//! from createSecret, as Secrets Manager does, finishes the rotation.
//!
//! The cases and their results are documented in docs/fault-matrix.md.

mod common;

use common::fault::FaultServer;
use common::tcp_proxy::{Mode, TcpProxy};
use common::*;
use serde_json::Value;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

#[derive(Debug, Clone, Copy)]
enum Inject {
    /// Every call of the operation answers 500 InternalServiceError.
    AwsError(&'static str),
    /// Calls of the operation are never answered.
    AwsHang(&'static str),
    /// The process is killed right after the operation answered.
    KillAfterAws(&'static str),
    /// New database connections are accepted and closed at once.
    DbRefuse,
    /// New database connections are accepted and never answered.
    DbHang,
    /// The process is killed right after it printed this event.
    KillAfterEvent(&'static str),
    /// The password change waits on a lock held by another session until the deadline.
    DbLock,
    /// The password change is refused: the session is read-only (SQLSTATE 25006).
    DbReadOnly,
}

fn cases() -> Vec<(&'static str, Inject)> {
    use Inject::*;
    let mut v = Vec::new();
    let aws = |v: &mut Vec<_>, step, ops: &[&'static str]| {
        for op in ops {
            v.push((step, AwsError(op)));
            v.push((step, AwsHang(op)));
            v.push((step, KillAfterAws(op)));
        }
    };
    aws(
        &mut v,
        "createSecret",
        &[
            "DescribeSecret",
            "GetSecretValue",
            "GetRandomPassword",
            "PutSecretValue",
        ],
    );
    aws(&mut v, "setSecret", &["DescribeSecret", "GetSecretValue"]);
    v.extend([
        ("setSecret", DbRefuse),
        ("setSecret", DbHang),
        ("setSecret", KillAfterEvent("db_connected")),
        ("setSecret", DbLock),
        ("setSecret", DbReadOnly),
        ("setSecret", KillAfterEvent("password_changed")),
    ]);
    aws(&mut v, "testSecret", &["DescribeSecret", "GetSecretValue"]);
    v.extend([
        ("testSecret", DbRefuse),
        ("testSecret", DbHang),
        ("testSecret", KillAfterEvent("db_connected")),
    ]);
    aws(
        &mut v,
        "finishSecret",
        &["DescribeSecret", "UpdateSecretVersionStage"],
    );
    v
}

/// What one case found.
#[derive(Debug)]
struct Found {
    step: &'static str,
    inject: Inject,
    /// The cause the failed step named, or "killed".
    outcome: String,
    /// Which stored credentials logged in right after the failure.
    survivor: &'static str,
}

async fn logs_in(user: &str, secret: Option<Value>) -> bool {
    match secret {
        Some(s) => pg_login(
            services().pg_port,
            user,
            s["password"].as_str().unwrap(),
            true,
        )
        .await
        .is_ok(),
        None => false,
    }
}

async fn run_case(step_name: &'static str, inject: Inject) -> Found {
    let s = services();
    let user = unique("dsr_fm");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", s.pg_port));
    let mut secret = pg_secret(&user, &old);
    secret["port"] = proxy.port.into();
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    let fault = FaultServer::start();
    let url = fault.url().to_string();
    let env = [("AWS_ENDPOINT_URL", url.as_str())];

    for st in STEPS.iter().take_while(|st| **st != step_name) {
        let run = step(&arn, &token, st, &env);
        assert_eq!(run.status, 0, "{st} before the fault:\n{}", run.stdout);
    }

    // Inject, run the step, record what it said.
    let admin = pg_admin().await;
    let mut lock_tx = None;
    match inject {
        Inject::AwsError(op) => fault.error_always(
            op,
            500,
            "InternalServiceError",
            "injected by the fault matrix",
        ),
        Inject::AwsHang(op) => fault.hang(op),
        Inject::DbRefuse => proxy.set(Mode::Refuse),
        Inject::DbHang => proxy.set(Mode::Hang),
        Inject::DbReadOnly => admin
            .batch_execute(&format!(
                "ALTER ROLE \"{user}\" SET default_transaction_read_only = on"
            ))
            .await
            .unwrap(),
        Inject::DbLock => {
            let (client, conn) = tokio_postgres::Config::new()
                .host("127.0.0.1")
                .port(s.pg_port)
                .user(&s.pg_admin_user)
                .password(&s.pg_admin_password)
                .dbname("postgres")
                .connect(tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!("BEGIN; ALTER ROLE \"{user}\" CONNECTION LIMIT 50"))
                .await
                .unwrap();
            lock_tx = Some(client);
        }
        Inject::KillAfterAws(_) | Inject::KillAfterEvent(_) => {}
    }
    let args = [
        "step",
        "--secret-id",
        arn.as_str(),
        "--token",
        token.as_str(),
        "--step",
        step_name,
        "--timeout-ms",
        "4000",
    ];
    let outcome = match inject {
        Inject::KillAfterAws(op) => {
            let (killed, out) = run_bin_killed_after(&args, &env, |e| {
                e["event"] == "aws_call" && e["operation"] == op
            });
            assert!(killed, "{step_name} never called {op}:\n{out}");
            "killed".to_string()
        }
        Inject::KillAfterEvent(ev) => {
            let (killed, out) = run_bin_killed_after(&args, &env, |e| e["event"] == ev);
            assert!(killed, "{step_name} never printed {ev}:\n{out}");
            "killed".to_string()
        }
        _ => {
            let run = tokio::task::spawn_blocking({
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let url = url.clone();
                move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    run_bin(&args, &[("AWS_ENDPOINT_URL", url.as_str())])
                }
            })
            .await
            .unwrap();
            assert_eq!(
                run.status, 1,
                "{step_name} with {inject:?} did not fail:\n{}",
                run.stdout
            );
            let cause = run.cause();
            assert_ne!(cause, "internal_error", "{}", run.stdout);
            cause
        }
    };

    // Heal everything.
    fault.heal();
    proxy.set(Mode::Pass);
    proxy.cut_all();
    if let Some(tx) = lock_tx.take() {
        tx.batch_execute("ROLLBACK").await.unwrap();
    }
    if matches!(inject, Inject::DbReadOnly) {
        admin
            .batch_execute(&format!(
                "ALTER ROLE \"{user}\" RESET default_transaction_read_only"
            ))
            .await
            .unwrap();
    }

    // Nothing lost: the current credentials log in, or — once setSecret changed the
    // password, before finishSecret — the pending ones (single user has that window, as
    // the reference does). One of them always works.
    let current = value_at(&arn, "AWSCURRENT", None).await;
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await;
    let survivor = if logs_in(&user, current).await {
        "AWSCURRENT"
    } else if logs_in(&user, pending).await {
        "AWSPENDING"
    } else {
        panic!("{step_name} / {inject:?}: neither AWSCURRENT nor AWSPENDING logs in");
    };

    // Secrets Manager retries the whole rotation, from createSecret, with the same token.
    for st in STEPS {
        let run = step(&arn, &token, st, &env);
        assert_eq!(
            run.status, 0,
            "retry {st} after {step_name} / {inject:?}:\n{}",
            run.stdout
        );
    }
    assert!(stages(&arn).await[&token].contains(&"AWSCURRENT".to_string()));
    let now = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert!(
        logs_in(&user, Some(now)).await,
        "{step_name} / {inject:?}: the new AWSCURRENT logs in"
    );
    assert!(
        pg_login(s.pg_port, &user, &old, true).await.is_err(),
        "the old password is gone"
    );
    Found {
        step: step_name,
        inject,
        outcome,
        survivor,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_single_user_survives_every_fault() {
    let all = cases();
    let total = all.len();
    let mut found = Vec::new();
    // Four cases at a time: hangs wait for their deadline.
    for chunk in all.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|(st, inj)| tokio::spawn(run_case(st, *inj)))
            .collect();
        for h in handles {
            found.push(h.await.expect("a fault case failed"));
        }
    }
    println!(
        "{:<13} {:<40} {:<32} survivor",
        "step", "injection", "outcome"
    );
    for f in &found {
        println!(
            "{:<13} {:<40} {:<32} {}",
            f.step,
            format!("{:?}", f.inject),
            f.outcome,
            f.survivor
        );
    }
    println!(
        "fault matrix (postgres, single user): {} cases run of {total}, all recovered",
        found.len()
    );
    assert_eq!(found.len(), total);
}
