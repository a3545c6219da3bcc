//! MariaDB (engines mariadb and mysql), single user, end to end on the real server through
//! the binary: TLS requirements, hostile names and passwords, host parts, sql_mode, the
//! general log, idempotence and the login causes.
//!
//! Tests that change the GLOBAL sql_mode take `sql_mode_lock()` for writing; every other
//! test takes it for reading, so none of them runs while the mode is changed.

mod common;

use common::mysql::*;
use common::*;
use serde_json::{json, Value};

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn new_password(v: &Value) -> String {
    v["password"].as_str().unwrap().to_string()
}

/// A password no fixture helper would produce by accident: quote, backslash, double quote,
/// non-ASCII.
fn hostile_password(tag: &str) -> String {
    let p = format!("{}ü€'\\", password(tag));
    record_secret(&p);
    p
}

#[tokio::test]
async fn require_ssl_account_with_ssl_true_rotates_fully_twice() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_my_tls");
    let first = password("old");
    maria_create_user(&user, "%", &first, true).await;
    // The plaintext door is really closed for this account, and TLS opens.
    let refused = maria_login(&user, &first, false).await.unwrap_err();
    assert_eq!(server_code(&refused), Some(1045));
    assert_eq!(
        maria_login(&user, &first, true).await.unwrap(),
        format!("{user}@%")
    );

    let mut secret = maria_secret(&user, &first);
    secret["ssl"] = json!(true);
    secret["note"] = json!("carried forward");
    secret["nested"] = json!({"a": [1, 2]});
    let arn = create_secret(&secret).await;

    let mut expected_current = secret.clone();
    for round in 0..2 {
        let old = new_password(&expected_current);
        let token = start_rotation(&arn).await;
        let mut outcomes = Vec::new();
        for st in STEPS {
            let run = step(&arn, &token, st, &[]);
            assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
            if st == "setSecret" || st == "testSecret" {
                let connected = run.named("db_connected");
                assert!(!connected.is_empty(), "{}", run.stdout);
                assert_eq!(connected[0]["engine"], "mysql");
                assert_eq!(connected[0]["tls"], "verified");
                assert_eq!(connected[0]["user"], user.as_str());
                assert_eq!(connected[0]["auth"], "mysql_native_password");
            }
            if st == "setSecret" {
                let changed = run.named("password_changed");
                assert_eq!(changed.len(), 1, "{}", run.stdout);
                assert_eq!(changed[0]["method"], "mysql_native_password hash");
                assert_eq!(changed[0]["user"], user.as_str());
            }
            outcomes.push(run.outcome());
        }
        assert_eq!(
            outcomes,
            ["pending_created", "password_set", "login_ok", "promoted"],
            "round {round}"
        );

        let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
        let previous = value_at(&arn, "AWSPREVIOUS", None).await.unwrap();
        let new = new_password(&current);
        assert_ne!(new, old);
        assert_eq!(
            previous, expected_current,
            "AWSPREVIOUS holds the old value whole"
        );
        assert_eq!(keys(&current), keys(&secret), "every key kept, in order");
        let mut expected = expected_current.clone();
        expected["password"] = json!(new);
        assert_eq!(current, expected);

        maria_login(&user, &new, true)
            .await
            .expect("the new password logs in");
        let refused = maria_login(&user, &old, true).await.unwrap_err();
        assert_eq!(server_code(&refused), Some(1045), "the old one does not");
        expected_current = current;
    }

    // The general log is on and saw the password change, but never a password.
    let log = maria_general_log();
    assert!(
        log.contains(&format!("SET PASSWORD FOR `{user}`@`%` = '*")),
        "general_log must be on for this test to mean anything"
    );
    assert!(!log.contains(&new_password(&expected_current)));
    assert!(!log.contains(&first));
}

#[tokio::test]
async fn hostile_user_name_and_password_rotate() {
    let _shared = sql_mode_lock().read().await;
    // Quote, upper case, `%`, backslash, backtick.
    let user = format!("O'Br%\\N`Ée_{}", unique("x"));
    let old = hostile_password("hostile");
    maria_create_user(&user, "%", &old, false).await;
    maria_login(&user, &old, true)
        .await
        .expect("fixture logs in");

    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);

    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let new = new_password(&current);
    assert_eq!(current["username"], user.as_str());
    maria_login(&user, &new, true)
        .await
        .expect("the new password logs in");
    assert!(maria_login(&user, &old, true).await.is_err());
    let log = maria_general_log();
    assert!(!log.contains(&new) && !log.contains(&old));
}

#[tokio::test]
async fn the_account_logged_in_is_rotated_not_the_percent_account() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_my_host");
    let local = password("local");
    let anywhere = password("anywhere");
    // With skip-name-resolve, TCP from 127.0.0.1 matches the more specific account.
    maria_create_user(&user, "127.0.0.1", &local, false).await;
    maria_create_user(&user, "%", &anywhere, false).await;
    assert_eq!(
        maria_login(&user, &local, true).await.unwrap(),
        format!("{user}@127.0.0.1")
    );
    let percent_before = maria_auth_string(&user, "%").await;
    let local_before = maria_auth_string(&user, "127.0.0.1").await;

    let arn = create_secret(&maria_secret(&user, &local)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);

    let new = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        maria_login(&user, &new, true).await.unwrap(),
        format!("{user}@127.0.0.1")
    );
    assert_ne!(maria_auth_string(&user, "127.0.0.1").await, local_before);
    assert_eq!(
        maria_auth_string(&user, "%").await,
        percent_before,
        "the '%' account is not touched"
    );
    assert!(maria_general_log().contains(&format!("SET PASSWORD FOR `{user}`@`127.0.0.1`")));
}

#[tokio::test]
async fn rotation_works_under_global_no_backslash_escapes() {
    let _exclusive = sql_mode_lock().write().await;
    let user = format!("Nb\\'%_{}", unique("U"));
    let old = hostile_password("nbe");
    maria_create_user(&user, "%", &old, false).await;
    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;

    let previous_mode =
        maria_set_global_sql_mode("NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES").await;
    // Restore the mode whatever happens, then report.
    let result = std::panic::catch_unwind(|| rotate_all(&arn, &token, &[]));
    maria_set_global_sql_mode(&previous_mode).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(!previous_mode.contains("NO_BACKSLASH_ESCAPES"));

    let new = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    maria_login(&user, &new, true)
        .await
        .expect("the new password logs in");
    assert!(maria_login(&user, &old, true).await.is_err());
}

#[tokio::test]
async fn every_step_twice_ends_in_the_same_state() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_my_twice");
    let old = password("old");
    maria_create_user(&user, "%", &old, false).await;
    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;

    assert_eq!(
        step(&arn, &token, "createSecret", &[]).outcome(),
        "pending_created"
    );
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    assert_eq!(
        step(&arn, &token, "createSecret", &[]).outcome(),
        "pending_exists"
    );
    assert_eq!(
        value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap(),
        pending
    );
    assert_eq!(
        step(&arn, &token, "setSecret", &[]).outcome(),
        "password_set"
    );
    let again = step(&arn, &token, "setSecret", &[]);
    assert_eq!(again.outcome(), "already_set");
    assert!(again.named("password_changed").is_empty());
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
    maria_login(&user, &new_password(&current), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn engines_mysql_aurora_mysql_and_mariadb_all_work_against_mariadb() {
    let _shared = sql_mode_lock().read().await;
    for engine in ["mysql", "aurora-mysql", "mariadb"] {
        let user = unique("dsr_my_engine");
        let old = password("old");
        maria_create_user(&user, "%", &old, false).await;
        let mut secret = maria_secret(&user, &old);
        secret["engine"] = json!(engine);
        let arn = create_secret(&secret).await;
        let run = run_bin(&["rotate", "--secret-id", &arn], &[]);
        assert_eq!(run.status, 0, "{engine}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.named("password_changed")[0]["method"],
            "mysql_native_password hash",
            "{engine}: the server, not the engine key, decides the statement"
        );
        let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
        assert_eq!(current["engine"], engine);
        maria_login(&user, &new_password(&current), true)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn ed25519_account_is_db_auth_method_unsupported() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_my_ed");
    let old = password("old");
    let mut admin = maria_admin().await;
    // The plugin ships with the server package; installing it twice is refused, harmlessly.
    let _ =
        mysql_async::prelude::Queryable::query_drop(&mut admin, "INSTALL SONAME 'auth_ed25519'")
            .await;
    admin
        .query_drop_ok(&format!(
            "CREATE USER {} IDENTIFIED VIA ed25519 USING PASSWORD({})",
            account(&user, "%"),
            lit(&old)
        ))
        .await;
    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);
    let run = step(&arn, &token, "setSecret", &[]);
    let evidence = run.expect_failure("db_auth_method_unsupported", &["method", "user"]);
    assert!(evidence["method"].as_str().unwrap().contains("ed25519"));
}

#[tokio::test]
async fn a_blocked_password_change_ends_before_the_deadline() {
    // Holds a write lock on MariaDB's account table: no other test of this binary may run.
    let _exclusive = sql_mode_lock().write().await;
    let user = unique("dsr_my_lock");
    let old = password("old");
    maria_create_user(&user, "%", &old, false).await;
    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);

    let mut locker = maria_admin().await;
    locker
        .query_drop_ok("LOCK TABLES mysql.global_priv WRITE")
        .await;
    let result = std::panic::catch_unwind(|| {
        run_bin(
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
        )
    });
    locker.query_drop_ok("UNLOCK TABLES").await;
    let run = result.unwrap_or_else(|p| std::panic::resume_unwind(p));

    let evidence = run.expect_failure("function_timeout_imminent", &["operation"]);
    assert_eq!(evidence["operation"], "alter_password", "{}", run.stdout);
    // The server cancelled the statement itself (max_statement_time, set from the budget).
    assert_eq!(evidence["code"], 1969, "{}", run.stdout);
    assert!(
        evidence["remaining_ms"].as_u64().unwrap() > 0,
        "{}",
        run.stdout
    );
    maria_login(&user, &old, true)
        .await
        .expect("the password did not change");
}

#[tokio::test]
async fn identified_by_literals_mean_the_same_under_any_session_sql_mode() {
    use db_secret_rotator::db::mysql::{parse_version, quote_literal, session_settings, Account};
    let _shared = sql_mode_lock().read().await;
    // The MySQL 8+ statement form (ALTER USER … IDENTIFIED BY '…'), run on MariaDB by the
    // admin: a password ending in a backslash breaks any literal that relies on the mode.
    for start_mode in ["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,PIPES_AS_CONCAT"] {
        let user = unique("dsr_my_lit");
        let first = password("first");
        maria_create_user(&user, "%", &first, false).await;
        let new = format!("{}\\", hostile_password("lit"));
        record_secret(&new);

        let mut admin = maria_admin().await;
        let version: String =
            mysql_async::prelude::Queryable::query_first(&mut admin, "SELECT VERSION()")
                .await
                .unwrap()
                .unwrap();
        admin
            .query_drop_ok(&format!("SET SESSION sql_mode = {}", lit(start_mode)))
            .await;
        let settings = session_settings(
            parse_version(&version).as_ref(),
            std::time::Duration::from_secs(10),
        );
        admin.query_drop_ok(&settings).await;
        let acct = Account {
            user: user.clone(),
            host: "%".into(),
        };
        // sql_log_off is still on in this session: the plaintext stays out of the log.
        admin
            .query_drop_ok(&format!(
                "ALTER USER {} IDENTIFIED BY {}",
                acct.sql(),
                quote_literal(&new)
            ))
            .await;
        maria_login(&user, &new, true)
            .await
            .unwrap_or_else(|e| panic!("{start_mode:?}: {e}"));
    }
}

/// `query_drop` that panics with the statement's error (fixtures only).
trait QueryDropOk {
    async fn query_drop_ok(&mut self, sql: &str);
}

impl QueryDropOk for mysql_async::Conn {
    async fn query_drop_ok(&mut self, sql: &str) {
        mysql_async::prelude::Queryable::query_drop(self, sql)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
