//! The database causes every engine can produce, each one generic scenario run on the real
//! PostgreSQL, MariaDB and MySQL through the binary, with the same test name in the module of
//! each engine (`postgres::`, `mariadb::`, `mysql::`): the port that refuses, the name that
//! does not resolve, a wrong or drifted password, an account the server admits over TLS only,
//! a CA the function does not trust, a certificate that does not name the host, a database
//! that does not exist, and the visible TLS downgrade (with `TLS_FALLBACK=deny` refusing it).
//! Each asserts exit status 1, the `step_failed` cause, its evidence and a remedy, then that
//! nothing was lost: the stored password is unchanged and AWSCURRENT still logs in.
//!
//! Causes whose trigger is a server feature of one engine stay in that engine's suites,
//! because the other engines have no such feature to set up, or none this suite can set up:
//! - PostgreSQL only (tests/it/causes_pg.rs): pg_hba rules (`db_access_rule_missing`, a GSSAPI
//!   line for `db_auth_method_unsupported`), a server without TLS (`db_tls_unavailable`: the
//!   local MariaDB and MySQL always offer TLS), a replication role, a role's connection limit
//!   and `datallowconn` (`db_unavailable`), `default_transaction_read_only`, `passwordcheck`,
//!   a row lock on the role.
//! - MariaDB only (tests/it/mysql_family_single_user.rs): an ed25519 account
//!   (`db_auth_method_unsupported`: MySQL 9 has no plugin the client lacks that a test can
//!   install).
//! - MySQL only (tests/it/mysql_family_single_user.rs): `require_secure_transport`,
//!   `validate_password`, `super_read_only`, `max_connections`, the dual password privilege
//!   (MariaDB has none of these under these names).
//! - MariaDB and MySQL (tests/it/mysql_family_single_user.rs): a password change blocked by a
//!   table lock ends before the deadline; PostgreSQL's form of it (a lock on the role) is in
//!   tests/it/causes_pg.rs. The pending user that is not the alternate (`user_mismatch`) is in
//!   each engine's alternating suite, where the alternate exists.
//! - A user that does not exist: PostgreSQL answers it exactly like a wrong password (28P01,
//!   tests/it/causes_pg.rs). MySQL 8+ and MariaDB answer it with a decoy authentication exchange
//!   whose method is picked from the user name (MySQL) or borrowed from some existing account
//!   (MariaDB), so the same scenario is `db_login_failed` or `db_auth_method_unsupported`
//!   depending on the name and on the server's other accounts: no single expectation holds,
//!   and the remedy of the second names the possibility instead.

use crate::common::engine::{Engine, MariaDb, MySql, Postgres};
use crate::common::fault::closed_port;
use crate::common::*;
use serde_json::json;

/// A user with a fresh password; gives (user, password).
async fn user<E: Engine>(prefix: &str) -> (String, String) {
    let user = E::user_name(prefix);
    let pw = password(prefix);
    E::create_user(&user, &pw).await;
    (user, pw)
}

/// Nothing lost: the stored password is what it was, and the AWSCURRENT value still logs in.
async fn nothing_lost<E: Engine>(arn: &str, stored_before: &str) {
    let current = value_at(arn, "AWSCURRENT", None).await.unwrap();
    let user = current["username"].as_str().unwrap();
    assert_eq!(
        E::stored_password(user).await,
        stored_before,
        "the database password must not have changed"
    );
    assert!(
        E::logs_in(user, current["password"].as_str().unwrap()).await,
        "AWSCURRENT still logs in"
    );
}

// ------------------------------------------------------------------ reaching the database

async fn closed_database_port_is_db_unreachable_at_connect<E: Engine>() {
    let mut secret = E::secret(&E::user_name("dsr_closed"), &password("closed"));
    let port = closed_port();
    secret["port"] = json!(port);
    let (arn, token) = rotating(&secret).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_unreachable", &["host", "port", "phase", "elapsed_ms"]);
    assert_eq!(ev["phase"], "connect", "{ev}");
    assert_eq!(ev["port"], port);
    assert_eq!(ev["host"], "localhost");
    assert!(run.named("db_connected").is_empty());
    assert!(
        run.named("finding").is_empty(),
        "a refused connection is not a TLS failure: no downgrade"
    );
}

async fn unresolvable_database_host_is_db_unreachable_at_dns<E: Engine>() {
    let mut secret = E::secret(&E::user_name("dsr_dns"), &password("dns"));
    secret["host"] = json!("no-such-host.invalid");
    let (arn, token) = rotating(&secret).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_unreachable", &["host", "port", "phase", "elapsed_ms"]);
    assert_eq!(ev["phase"], "dns", "{ev}");
    assert_eq!(ev["host"], "no-such-host.invalid");
}

// ------------------------------------------------------------------ credentials

/// The failure lists a login with each of `secrets`, in order, each refused as a wrong
/// password over verified TLS (a wrong password never downgrades TLS).
fn every_attempt_refused<E: Engine>(ev: &serde_json::Value, secrets: &[&str]) {
    let attempts = ev["attempts"].as_array().unwrap();
    let tried: Vec<&str> = attempts
        .iter()
        .map(|a| a["secret"].as_str().unwrap())
        .collect();
    assert_eq!(tried, secrets, "{ev}");
    for a in attempts {
        assert_eq!(a["outcome"], "db_login_failed", "{a}");
        assert_eq!(a["code"], E::wrong_password_code(), "{a}");
        assert_eq!(a["tls"], "verified", "{a}");
    }
}

async fn wrong_current_password_is_db_login_failed<E: Engine>() {
    let (user, real) = user::<E>("dsr_wrongpw").await;
    let (arn, token) = rotating(&E::secret(&user, &password("wrong"))).await;
    let before = E::stored_password(&user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_login_failed", &["user", "attempts"]);
    assert_eq!(ev["user"], user.as_str());
    // Each login tried is listed: AWSCURRENT, then AWSPENDING; there is no AWSPREVIOUS yet.
    every_attempt_refused::<E>(ev, &["current", "pending"]);
    assert!(run.named("finding").is_empty(), "{}", run.stdout);
    assert!(run.named("password_changed").is_empty());
    assert_eq!(E::stored_password(&user).await, before);
    // The database's real password still works: nothing was lost.
    assert!(E::logs_in(&user, &real).await);
}

async fn password_drifted_after_a_rotation_is_db_login_failed_listing_every_attempt<E: Engine>() {
    let (user, old) = user::<E>("dsr_drift").await;
    let arn = create_secret(&E::secret(&user, &old)).await;
    // One good rotation, so AWSPREVIOUS exists too.
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    // Then the password changes behind the rotator's back.
    let drifted = password("drifted");
    E::set_password(&user, &drifted).await;

    let token = start_rotation(&arn).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_login_failed", &["user", "attempts"]);
    assert_eq!(ev["user"], user.as_str());
    every_attempt_refused::<E>(ev, &["current", "pending", "previous"]);
    assert!(
        E::logs_in(&user, &drifted).await,
        "the database was not changed"
    );
}

async fn pending_password_changed_before_test_secret_is_db_login_failed<E: Engine>() {
    let (user, pw) = user::<E>("dsr_testfail").await;
    let (arn, token) = rotating(&E::secret(&user, &pw)).await;
    assert_eq!(create_then_set(&arn, &token, &[]).outcome(), "password_set");
    // Someone resets the password between setSecret and testSecret.
    let reset = password("reset");
    E::set_password(&user, &reset).await;
    let run = step(&arn, &token, "testSecret", &[]);
    let ev = run.expect_failure("db_login_failed", &["user", "attempts"]);
    every_attempt_refused::<E>(ev, &["pending"]);
    assert!(E::logs_in(&user, &reset).await, "the reset password stands");
}

async fn database_drifted_back_to_awsprevious_is_used_with_a_finding<E: Engine>() {
    let (user, first) = user::<E>("dsr_back").await;
    let arn = create_secret(&E::secret(&user, &first)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    let second = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    // Someone restores the old password in the database (a snapshot restore, a script).
    E::set_password(&user, &first).await;
    assert!(!E::logs_in(&user, second["password"].as_str().unwrap()).await);

    let token = start_rotation(&arn).await;
    let run = create_then_set(&arn, &token, &[]);
    assert_eq!(
        run.outcome(),
        "password_set",
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let findings = run.named("finding");
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "previous_credentials_used");
    assert_eq!(findings[0]["evidence"]["user"], user.as_str());
    let logins: Vec<&str> = run
        .named("db_connected")
        .iter()
        .map(|e| e["secret"].as_str().unwrap())
        .collect();
    assert_eq!(
        logins.first(),
        Some(&"previous"),
        "setSecret logged in with AWSPREVIOUS"
    );
    for st in ["testSecret", "finishSecret"] {
        assert_eq!(step(&arn, &token, st, &[]).status, 0, "{st}");
    }
    let third = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert!(E::logs_in(&user, third["password"].as_str().unwrap()).await);
}

// ------------------------------------------------------------------ TLS

async fn tls_only_account_with_ssl_false_is_db_tls_required<E: Engine>() {
    let user = E::user_name("dsr_tlsreq");
    let pw = password("tlsreq");
    E::create_tls_only_user(&user, &pw).await;
    let mut secret = E::secret(&user, &pw);
    secret["ssl"] = json!(false);
    let (arn, token) = rotating(&secret).await;
    let before = E::stored_password(&user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure(
        "db_tls_required",
        &["host", "tls_mode_used", "server_message"],
    );
    assert_eq!(ev["tls_mode_used"], "none");
    assert_eq!(ev["host"], "localhost");
    if E::TLS_REFUSAL_NEEDS_A_PROBE {
        assert_eq!(ev["probe"]["outcome"], "login_ok", "{ev}");
    } else {
        assert!(run.named("db_connected").is_empty(), "never logged in");
    }
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("\"ssl\": true"));
    nothing_lost::<E>(&arn, &before).await;
}

async fn untrusted_ca_is_db_tls_verification_failed<E: Engine>() {
    let (user, pw) = user::<E>("dsr_untrusted").await;
    let mut secret = E::secret(&user, &pw);
    secret["ssl"] = json!(true);
    let (arn, token) = rotating(&secret).await;
    let before = E::stored_password(&user).await;
    // Without DB_CA_BUNDLE only the system roots are trusted: the test CA is not among them.
    let run = create_then_set(&arn, &token, &[("DB_CA_BUNDLE", "")]);
    let ev = run.expect_failure("db_tls_verification_failed", &["host", "reason"]);
    assert_eq!(ev["reason"], "untrusted_ca", "{ev}");
    nothing_lost::<E>(&arn, &before).await;
}

async fn ip_address_host_is_db_tls_verification_failed_hostname_mismatch<E: Engine>() {
    let (user, pw) = user::<E>("dsr_mismatch").await;
    let mut secret = E::secret(&user, &pw);
    secret["host"] = json!("127.0.0.1");
    secret["ssl"] = json!(true);
    let (arn, token) = rotating(&secret).await;
    let before = E::stored_password(&user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_tls_verification_failed", &["host", "reason"]);
    assert_eq!(ev["reason"], "hostname_mismatch", "{ev}");
    assert_eq!(ev["host"], "127.0.0.1");
    assert!(E::logs_in(&user, &pw).await);
    assert_eq!(E::stored_password(&user).await, before);
}

async fn tls_failure_without_ssl_key_downgrades_visibly_and_deny_refuses<E: Engine>() {
    let (user, old) = user::<E>("dsr_down").await;
    // An IP address: TLS is offered but the certificate names `localhost` only.
    let mut secret = E::secret(&user, &old);
    secret["host"] = json!("127.0.0.1");
    let (arn, token) = rotating(&secret).await;
    let before = E::stored_password(&user).await;

    let run = create_then_set(&arn, &token, &[("TLS_FALLBACK", "deny")]);
    let ev = run.expect_failure("db_tls_verification_failed", &["reason"]);
    assert_eq!(ev["tls_fallback"], "deny");
    nothing_lost::<E>(&arn, &before).await;

    let run = step(&arn, &token, "setSecret", &[]);
    assert_eq!(run.outcome(), "password_set", "{}", run.stdout);
    let findings = run.named("finding");
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "tls_downgraded");
    assert_eq!(findings[0]["evidence"]["reason"], "hostname_mismatch");
    assert_eq!(run.named("db_connected")[0]["tls"], "none");
    for st in ["testSecret", "finishSecret"] {
        assert_eq!(step(&arn, &token, st, &[]).status, 0, "{st}");
    }
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap()["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(E::logs_in(&user, &new).await);
}

// ------------------------------------------------------------------ the database

async fn missing_database_is_db_database_missing<E: Engine>() {
    let (user, pw) = user::<E>("dsr_nodb").await;
    E::may_see_every_database(&user).await;
    let mut secret = E::secret(&user, &pw);
    let dbname = unique("dsr_no_such_db");
    secret["dbname"] = json!(dbname);
    let (arn, token) = rotating(&secret).await;
    let before = E::stored_password(&user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_database_missing", &["dbname", "code"]);
    assert_eq!(ev["dbname"], dbname.as_str());
    assert_eq!(E::stored_password(&user).await, before);
    assert!(E::logs_in(&user, &pw).await);
}

crate::engine_tests! {
    shared: [
        closed_database_port_is_db_unreachable_at_connect,
        unresolvable_database_host_is_db_unreachable_at_dns,
        wrong_current_password_is_db_login_failed,
        password_drifted_after_a_rotation_is_db_login_failed_listing_every_attempt,
        pending_password_changed_before_test_secret_is_db_login_failed,
        database_drifted_back_to_awsprevious_is_used_with_a_finding,
        tls_only_account_with_ssl_false_is_db_tls_required,
        untrusted_ca_is_db_tls_verification_failed,
        ip_address_host_is_db_tls_verification_failed_hostname_mismatch,
        tls_failure_without_ssl_key_downgrades_visibly_and_deny_refuses,
        missing_database_is_db_database_missing,
    ],
    postgres: Postgres [],
    mariadb: MariaDb [],
    mysql: MySql [],
}
