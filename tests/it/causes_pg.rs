//! The database causes and findings only PostgreSQL can produce, for real through the binary
//! (the causes every engine produces are in tests/it/causes_db.rs, one scenario per engine):
//! pg_hba rules that refuse (reject, GSSAPI), a server without TLS, a replication role that
//! may not change its own password, a private cluster with the `passwordcheck` module, a
//! read-only role, a connection limit, a database that refuses connections, a lock held on
//! the role, a role that does not exist, and the TLS downgrades without an `ssl` key. Each
//! failure test asserts exit status 1, the `step_failed` cause, its evidence fields and a
//! remedy, then that nothing was lost: the database password is unchanged and AWSCURRENT
//! still logs in.

use crate::common::fault::closed_port;
use crate::common::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// A login role on the TLS cluster, in `groups`; its password.
async fn pg_user(prefix: &str, groups: &[&str]) -> (String, String) {
    let user = unique(prefix);
    let pw = password(prefix);
    pg_create_user(services().pg_port, &user, &pw, groups).await;
    (user, pw)
}

/// Nothing lost: the role's verifier is what it was, and the AWSCURRENT value still logs in
/// (over TLS to `localhost` on `port`, or plaintext).
async fn nothing_lost(arn: &str, port: u16, verifier_before: &str, tls: bool) {
    let current = value_at(arn, "AWSCURRENT", None).await.unwrap();
    let user = current["username"].as_str().unwrap();
    assert_eq!(
        pg_rolpassword(port, user).await,
        verifier_before,
        "the database password must not have changed"
    );
    pg_login(port, user, current["password"].as_str().unwrap(), tls)
        .await
        .expect("AWSCURRENT still logs in");
}

// ------------------------------------------------------------------ reaching the database

// ------------------------------------------------------------------ credentials

#[tokio::test]
async fn role_that_does_not_exist_is_refused_like_a_wrong_password() {
    // PostgreSQL hides whether a role exists behind a password rule: the client gets 28P01,
    // exactly as for a wrong password (the server log alone says "Role ... does not exist").
    // Nothing else can tell the two apart from outside, so the cause is db_login_failed and
    // its remedy says to check that the user exists.
    let ghost = unique("dsr_ghost");
    let (arn, token) = rotating(&pg_secret(&ghost, &password("ghost"))).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_login_failed", &["user", "attempts"]);
    assert_eq!(ev["attempts"][0]["code"], "28P01");
    let remedy = run.failure()["remedy"].as_str().unwrap();
    assert!(remedy.contains("exists"), "{remedy}");
}

// ------------------------------------------------------------------ TLS

#[tokio::test]
async fn ssl_true_against_a_server_without_tls_is_db_tls_unavailable() {
    let s = services();
    let user = unique("dsr_notls");
    let pw = password("notls");
    pg_create_user(s.pg_notls_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["port"] = json!(s.pg_notls_port);
    secret["ssl"] = json!(true);
    let (arn, token) = rotating(&secret).await;
    let before = pg_rolpassword(s.pg_notls_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_tls_unavailable", &["host"]);
    assert_eq!(ev["host"], "localhost");
    assert!(
        run.named("finding").is_empty(),
        "ssl true never falls back to plaintext"
    );
    nothing_lost(&arn, s.pg_notls_port, &before, false).await;
}

// ------------------------------------------------------------------ server rules

#[tokio::test]
async fn gss_only_account_is_db_auth_method_unsupported() {
    let s = services();
    let (user, pw) = pg_user("dsr_gss", &["dsr_gss_only"]).await;
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_auth_method_unsupported", &["method"]);
    assert!(
        ev["method"].as_str().unwrap().contains("gss"),
        "the method names GSSAPI: {ev}"
    );
    assert_eq!(pg_rolpassword(s.pg_port, &user).await, before);
}

#[tokio::test]
async fn hba_rejected_account_is_db_access_rule_missing() {
    let s = services();
    let (user, pw) = pg_user("dsr_hba", &["dsr_hba_denied"]).await;
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure(
        "db_access_rule_missing",
        &["user", "host", "server_message"],
    );
    assert_eq!(ev["user"], user.as_str());
    assert!(ev["server_message"]
        .as_str()
        .unwrap()
        .contains("pg_hba.conf"));
    assert!(
        run.named("finding").is_empty(),
        "an hba refusal is not a TLS failure: no downgrade"
    );
    assert_eq!(pg_rolpassword(s.pg_port, &user).await, before);
}

#[tokio::test]
async fn replication_role_is_db_permission_denied_on_its_own_password() {
    // PostgreSQL 15 lets any role change its own password except superusers and
    // replication roles, which only a superuser may alter: a real single-user refusal.
    let s = services();
    let (user, pw) = pg_user("dsr_repl", &[]).await;
    pg_admin()
        .await
        .batch_execute(&format!("ALTER ROLE \"{user}\" REPLICATION"))
        .await
        .unwrap();
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_permission_denied", &["user", "statement_kind"]);
    assert_eq!(ev["statement_kind"], "alter_password");
    assert_eq!(ev["user"], user.as_str());
    assert_eq!(ev["code"], "42501");
    assert_eq!(run.named("db_connected").len(), 1, "it did log in");
    nothing_lost(&arn, s.pg_port, &before, true).await;
}

#[tokio::test]
async fn read_only_role_is_db_read_only() {
    let s = services();
    let (user, pw) = pg_user("dsr_ro", &[]).await;
    pg_admin()
        .await
        .batch_execute(&format!(
            "ALTER ROLE \"{user}\" SET default_transaction_read_only = on"
        ))
        .await
        .unwrap();
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_read_only", &["host"]);
    assert_eq!(ev["host"], "localhost");
    assert_eq!(ev["code"], "25006");
    nothing_lost(&arn, s.pg_port, &before, true).await;
}

#[tokio::test]
async fn role_at_its_connection_limit_is_db_unavailable() {
    let s = services();
    let (user, pw) = pg_user("dsr_connlimit", &[]).await;
    let admin = pg_admin().await;
    admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT 0"))
        .await
        .unwrap();
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_unavailable", &["host", "code"]);
    assert_eq!(ev["code"], "53300");
    admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" CONNECTION LIMIT -1"))
        .await
        .unwrap();
    nothing_lost(&arn, s.pg_port, &before, true).await;
}

#[tokio::test]
async fn database_not_accepting_connections_is_db_unavailable() {
    let s = services();
    let (user, pw) = pg_user("dsr_noconn", &[]).await;
    let admin = pg_admin().await;
    let db = unique("dsr_closed_db");
    // Two statements: CREATE DATABASE may not share a transaction.
    for sql in [
        format!("CREATE DATABASE \"{db}\""),
        format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let mut secret = pg_secret(&user, &pw);
    secret["dbname"] = json!(db);
    let (arn, token) = rotating(&secret).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let run = create_then_set(&arn, &token, &[]);
    let ev = run.expect_failure("db_unavailable", &["host", "code"]);
    assert_eq!(ev["code"], "55000");
    admin
        .batch_execute(&format!("DROP DATABASE \"{db}\""))
        .await
        .unwrap();
    assert_eq!(pg_rolpassword(s.pg_port, &user).await, before);
    pg_login(s.pg_port, &user, &pw, true).await.unwrap();
}

// ------------------------------------------------------------------ time

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_role_blocked_by_a_lock_is_function_timeout_imminent_before_the_deadline() {
    let s = services();
    let (user, pw) = pg_user("dsr_locked", &[]).await;
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    assert_eq!(
        step(&arn, &token, "createSecret", &[]).outcome(),
        "pending_created"
    );

    // An open transaction that altered the role holds its row: another ALTER ROLE waits.
    let holder = pg_admin().await;
    holder
        .batch_execute(&format!("BEGIN; ALTER ROLE \"{user}\" CONNECTION LIMIT 7"))
        .await
        .unwrap();
    // Watch the server while the binary runs: its ALTER ROLE must really wait on a lock.
    let watcher = pg_admin().await;
    let seen_waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = seen_waiting.clone();
    let who = user.clone();
    let watch = tokio::spawn(async move {
        for _ in 0..200 {
            let row = watcher
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock' AND query LIKE 'ALTER ROLE%'",
                    &[&who],
                )
                .await
                .unwrap();
            if row.is_some() {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
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
            "6000",
        ],
        &[],
    );
    let _ = watch.await;
    let ev = run.expect_failure(
        "function_timeout_imminent",
        &["operation", "elapsed_ms", "remaining_ms"],
    );
    assert_eq!(ev["operation"], "alter_password", "{ev}");
    assert!(ev["remaining_ms"].as_u64().unwrap() > 0, "{ev}");
    assert!(
        seen_waiting.load(std::sync::atomic::Ordering::SeqCst),
        "the ALTER ROLE never waited on a lock: the test proves nothing"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    nothing_lost(&arn, s.pg_port, &before, true).await;
    // Once the lock is gone the same step goes through.
    assert_eq!(
        step(&arn, &token, "setSecret", &[]).outcome(),
        "password_set"
    );
}

// ------------------------------------------------------------------ the pending secret

#[tokio::test]
async fn pending_secret_naming_another_user_is_user_mismatch_before_any_connection() {
    let s = services();
    let (user, pw) = pg_user("dsr_mismatch_user", &[]).await;
    let (victim, _) = pg_user("dsr_victim", &[]).await;
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let before = pg_rolpassword(s.pg_port, &user).await;
    let victim_before = pg_rolpassword(s.pg_port, &victim).await;
    put_pending(&arn, &token, &pg_secret(&victim, &password("stolen"))).await;
    let run = step(&arn, &token, "setSecret", &[]);
    let ev = run.expect_failure(
        "user_mismatch",
        &["expected_user", "found_user", "expected_host", "found_host"],
    );
    assert_eq!(ev["expected_user"], user.as_str());
    assert_eq!(ev["found_user"], victim.as_str());
    assert!(
        run.named("db_connected").is_empty(),
        "checked before any connection: {}",
        run.stdout
    );
    assert_eq!(pg_rolpassword(s.pg_port, &victim).await, victim_before);
    nothing_lost(&arn, s.pg_port, &before, true).await;

    // The same for another host.
    let mut elsewhere = pg_secret(&user, &password("elsewhere"));
    elsewhere["host"] = json!("db.attacker.example");
    put_pending(&arn, &token, &elsewhere).await;
    let run = step(&arn, &token, "setSecret", &[]);
    let ev = run.expect_failure(
        "user_mismatch",
        &["expected_user", "found_user", "expected_host", "found_host"],
    );
    assert_eq!(ev["found_host"], "db.attacker.example");
    assert!(run.named("db_connected").is_empty());
}

// ------------------------------------------------------------------ findings

#[tokio::test]
async fn no_ssl_key_against_a_server_without_tls_downgrades_with_a_finding_and_rotates() {
    let s = services();
    let user = unique("dsr_downgrade");
    let pw = password("downgrade");
    pg_create_user(s.pg_notls_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["port"] = json!(s.pg_notls_port);
    let (arn, token) = rotating(&secret).await;
    assert_eq!(
        step(&arn, &token, "createSecret", &[]).outcome(),
        "pending_created"
    );
    let run = step(&arn, &token, "setSecret", &[]);
    assert_eq!(run.outcome(), "password_set");
    let findings = run.named("finding");
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "tls_downgraded");
    assert_eq!(findings[0]["level"], "WARN");
    assert_eq!(findings[0]["evidence"]["tls_failure"], "db_tls_unavailable");
    assert_eq!(run.named("db_connected")[0]["tls"], "none");
    for st in ["testSecret", "finishSecret"] {
        assert_eq!(step(&arn, &token, st, &[]).status, 0, "{st}");
    }
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(
        s.pg_notls_port,
        &user,
        new["password"].as_str().unwrap(),
        false,
    )
    .await
    .unwrap();

    // TLS_FALLBACK=deny refuses instead of downgrading.
    let token = start_rotation(&arn).await;
    let env = [("TLS_FALLBACK", "deny")];
    let run = create_then_set(&arn, &token, &env);
    run.expect_failure("db_tls_unavailable", &["host"]);
    assert!(run.named("finding").is_empty());
}

#[tokio::test]
async fn no_ssl_key_with_an_untrusted_ca_downgrades_naming_the_reason() {
    let s = services();
    let (user, pw) = pg_user("dsr_downgrade_ca", &[]).await;
    let (arn, token) = rotating(&pg_secret(&user, &pw)).await;
    let env = [("DB_CA_BUNDLE", "")];
    let run = create_then_set(&arn, &token, &env);
    assert_eq!(run.outcome(), "password_set", "{}", run.stdout);
    let findings = run.named("finding");
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "tls_downgraded");
    assert_eq!(
        findings[0]["evidence"]["tls_failure"],
        "db_tls_verification_failed"
    );
    assert_eq!(findings[0]["evidence"]["reason"], "untrusted_ca");
    assert_eq!(run.named("db_connected")[0]["tls"], "none");
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    pg_login(
        s.pg_port,
        &user,
        pending["password"].as_str().unwrap(),
        false,
    )
    .await
    .unwrap();
}

// ------------------------------------------------------------------ a refused password

/// A private, short-lived PostgreSQL 15 cluster with the `passwordcheck` module loaded (it
/// needs `shared_preload_libraries`, a restart the shared cluster must not take). It listens
/// on 127.0.0.1 without TLS and is removed when dropped.
struct PasswordCheckCluster {
    dir: PathBuf,
    port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser")
}

impl PasswordCheckCluster {
    fn start() -> PasswordCheckCluster {
        let dir = std::env::temp_dir().join(unique("dsr-pwcheck"));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        let data = dir.join("data");
        let out = as_postgres(&[
            &format!("{PG_BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]);
        assert!(out.status.success(), "initdb: {out:?}");
        let port = closed_port();
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nshared_preload_libraries = 'passwordcheck'\npassword_encryption = 'scram-sha-256'\nfsync = off\nmax_connections = 10\nshared_buffers = 8MB\n",
            dir.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).unwrap();
        text.push_str(&conf);
        std::fs::write(&conf_path, text).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        let log = dir.join("log");
        let out = as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "start",
        ]);
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        PasswordCheckCluster { dir, port }
    }

    async fn admin(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for PasswordCheckCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-m",
            "immediate",
            "stop",
        ]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn password_refused_by_the_servers_password_check_is_db_password_rejected() {
    let cluster = PasswordCheckCluster::start();
    let admin = cluster.admin().await;
    // With the verifier computed client-side, passwordcheck can only refuse a password equal
    // to the user name: GetRandomPassword is narrowed to exactly that ("qqqqq").
    let user = "qqqqq";
    let old = password("pwcheck");
    let verifier = postgres_protocol::password::scram_sha_256(old.as_bytes());
    admin
        .batch_execute(&format!(
            "SET log_statement = 'none'; CREATE ROLE {user} LOGIN PASSWORD '{verifier}'"
        ))
        .await
        .unwrap();
    let before = admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    let secret = json!({
        "engine": "postgres", "host": "localhost", "port": cluster.port,
        "username": user, "password": old, "ssl": false,
    });
    let (arn, token) = rotating(&secret).await;
    let env = [
        ("PASSWORD_LENGTH", "5"),
        ("EXCLUDE_NUMBERS", "true"),
        ("EXCLUDE_PUNCTUATION", "true"),
        ("EXCLUDE_UPPERCASE", "true"),
        ("EXCLUDE_CHARACTERS", "abcdefghijklmnoprstuvwxyz"),
    ];
    let run = create_then_set(&arn, &token, &env);
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    assert_eq!(
        pending["password"], user,
        "the policy narrowed the password"
    );
    let ev = run.expect_failure("db_password_rejected", &["server_message"]);
    assert!(
        ev["server_message"]
            .as_str()
            .unwrap()
            .contains("must not equal user name"),
        "{ev}"
    );
    assert_eq!(ev["code"], "22023");
    let after = admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    assert_eq!(after, before, "the password did not change");
    // AWSCURRENT still logs in.
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(cluster.port)
        .user(user)
        .password(&old)
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("AWSCURRENT still logs in");
    tokio::spawn(conn);
    client.simple_query("SELECT 1").await.unwrap();
}
