//! PostgreSQL, single user, end to end on the real services: the rotation protocol, its
//! idempotence, and the preconditions each step checks before it acts.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn tls_only_account_without_ssl_key_rotates_fully() {
    let s = services();
    let user = unique("dsr_tls_only_user");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    // The plaintext door is really closed for this account.
    assert!(pg_login(s.pg_port, &user, &old, false).await.is_err());

    let mut secret = pg_secret(&user, &old);
    secret["note"] = json!("carried forward");
    secret["nested"] = json!({"a": [1, 2]});
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;

    let mut outcomes = Vec::new();
    for st in STEPS {
        let run = step(&arn, &token, st, &[]);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.named("step_started").len(), 1);
        for e in &run.events {
            assert!(
                e["timestamp"].is_string() && e["level"].is_string() && e["message"].is_string(),
                "{e}"
            );
            assert_eq!(e["secret_id"], arn.as_str(), "{e}");
            assert_eq!(e["version_id"], token.as_str(), "{e}");
        }
        if st == "setSecret" || st == "testSecret" {
            let connected = run.named("db_connected");
            assert!(!connected.is_empty(), "{}", run.stdout);
            assert_eq!(connected[0]["tls"], "verified");
            assert_eq!(connected[0]["user"], user.as_str());
        }
        if st == "setSecret" {
            let changed = run.named("password_changed");
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0]["method"], "scram-sha-256 verifier");
        }
        outcomes.push(run.outcome());
    }
    assert_eq!(
        outcomes,
        ["pending_created", "password_set", "login_ok", "promoted"]
    );

    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let previous = value_at(&arn, "AWSPREVIOUS", None).await.unwrap();
    let new = current["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(new.len(), 32);
    assert_eq!(previous["password"], old.as_str());
    assert_eq!(previous, secret, "AWSPREVIOUS holds the old value whole");
    // Every key kept, in order, values untouched but the password.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&current), keys(&secret));
    let mut expected = secret.clone();
    expected["password"] = json!(new);
    assert_eq!(current, expected);

    pg_login(s.pg_port, &user, &new, true)
        .await
        .expect("the new password logs in");
    assert!(
        pg_login(s.pg_port, &user, &old, true).await.is_err(),
        "the old one does not"
    );
    assert!(pg_rolpassword(s.pg_port, &user)
        .await
        .starts_with("SCRAM-SHA-256$4096:"));

    // Statement logging is on (log_statement = ddl): the ALTER ROLE is in the log, the
    // password is not.
    let log = std::fs::read_to_string(&s.pg_log).unwrap();
    assert!(
        log.contains(&format!("ALTER ROLE \"{user}\" WITH PASSWORD")),
        "statement logging must be on for this test to mean anything"
    );
    assert!(!log.contains(&new));
}

#[tokio::test]
async fn every_step_twice_ends_in_the_same_state() {
    let s = services();
    let user = unique("dsr_twice");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;

    let first = step(&arn, &token, "createSecret", &[]);
    assert_eq!(first.outcome(), "pending_created");
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    let again = step(&arn, &token, "createSecret", &[]);
    assert_eq!(again.outcome(), "pending_exists");
    assert_eq!(
        value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap(),
        pending,
        "the pending password is not regenerated"
    );

    assert_eq!(
        step(&arn, &token, "setSecret", &[]).outcome(),
        "password_set"
    );
    assert_eq!(
        step(&arn, &token, "setSecret", &[]).outcome(),
        "already_set"
    );
    assert_eq!(step(&arn, &token, "testSecret", &[]).outcome(), "login_ok");
    assert_eq!(step(&arn, &token, "testSecret", &[]).outcome(), "login_ok");
    assert_eq!(
        step(&arn, &token, "finishSecret", &[]).outcome(),
        "promoted"
    );
    assert_eq!(
        step(&arn, &token, "finishSecret", &[]).outcome(),
        "already_current"
    );

    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current, pending);
    let st = stages(&arn).await;
    assert!(st[&token].contains(&"AWSCURRENT".to_string()));
    pg_login(
        s.pg_port,
        &user,
        current["password"].as_str().unwrap(),
        true,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn preconditions_not_pending_already_current_and_disabled() {
    let s = services();
    let user = unique("dsr_pre");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let first_version = stages(&arn).await.into_keys().next().unwrap();
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);

    // The token of a finished rotation is AWSCURRENT: every step is a no-op.
    for st in STEPS {
        let run = step(&arn, &token, st, &[]);
        assert_eq!(run.status, 0);
        assert_eq!(run.outcome(), "already_current");
    }

    // The old version holds only AWSPREVIOUS: version_not_pending, exit 1.
    let run = step(&arn, &first_version, "setSecret", &[]);
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "version_not_pending");
    assert_eq!(
        run.failure()["evidence"]["version_id"],
        first_version.as_str()
    );
    assert!(run.failure()["remedy"].as_str().unwrap().contains("rotate"));

    // A token that is no version at all.
    let run = step(
        &arn,
        "00000000-0000-0000-0000-000000000000",
        "createSecret",
        &[],
    );
    assert_eq!(run.cause(), "version_not_staged");

    // Rotation disabled: a secret never set up for rotation.
    let plain = create_secret(&pg_secret(&user, "irrelevant-password")).await;
    let version = stages(&plain).await.into_keys().next().unwrap();
    let run = step(&plain, &version, "createSecret", &[]);
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "rotation_not_enabled");
    assert_eq!(run.failure()["errorType"], Value::Null);
}

#[tokio::test]
async fn rotation_token_is_passed_and_never_printed() {
    let s = services();
    let user = unique("dsr_rt");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    let rotation_token = format!("RotTok-{}", unique("x"));
    record_secret(&rotation_token);
    let run = run_bin(
        &[
            "step",
            "--secret-id",
            &arn,
            "--token",
            &token,
            "--step",
            "createSecret",
            "--rotation-token",
            &rotation_token,
        ],
        &[],
    );
    assert_eq!(run.outcome(), "pending_created");
    assert!(!run.stdout.contains(&rotation_token) && !run.stderr.contains(&rotation_token));
    assert!(value_at(&arn, "AWSPENDING", Some(&token)).await.is_some());
}

#[tokio::test]
async fn rotate_command_plays_secrets_manager() {
    let s = services();
    let user = unique("dsr_rotate_cmd");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    let mut secret = pg_secret(&user, &old);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let run = run_bin(&["rotate", "--secret-id", &arn], &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let outcomes: Vec<_> = run
        .named("step_succeeded")
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["pending_created", "password_set", "login_ok", "promoted"]
    );
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn md5_encryption_for_legacy_clients() {
    let s = services();
    let user = unique("dsr_md5");
    let old = password("old");
    // pg_hba admits dsr_md5_only members with `md5`, which also accepts md5 hashes.
    pg_create_user(s.pg_port, &user, &old, &["dsr_md5_only"]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[("PG_PASSWORD_ENCRYPTION", "md5")]);
    assert!(pg_rolpassword(s.pg_port, &user).await.starts_with("md5"));
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .unwrap();
}
