//! MariaDB, alternating users, end to end on the real server through the binary
//! (`ROTATION_STRATEGY=alternating_users`): the pair swaps and the previous user keeps
//! working until the next rotation; the clone gets every host part, the TLS requirement and
//! the grants of the original (WITH GRANT OPTION kept, revoked grants removed, roles
//! included); hostile names and sql_modes; and each refusal has its cause.
//!
//! The test that changes the GLOBAL sql_mode takes `sql_mode_lock()` for writing; every other
//! test takes it for reading.

mod common;

use common::mysql::*;
use common::*;
use serde_json::{json, Value};

const ALT: &[(&str, &str)] = &[("ROTATION_STRATEGY", "alternating_users")];

fn password_of(v: &Value) -> String {
    v["password"].as_str().unwrap().to_string()
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A master that may do everything, as the RDS master user can.
async fn full_master() -> (String, String) {
    maria_master("ALL PRIVILEGES ON *.*", "WITH GRANT OPTION").await
}

/// A user on `host`, a full master, and an alternating-users secret for the user (the
/// secret's `ssl` as given). Returns (password, secret ARN).
async fn alternating_user(
    user: &str,
    host: &str,
    require_ssl: bool,
    ssl: Option<bool>,
) -> (String, String) {
    let pw = password("orig");
    maria_create_user(user, host, &pw, require_ssl).await;
    let (_, master_arn) = full_master().await;
    let mut secret = maria_secret(user, &pw);
    if let Some(ssl) = ssl {
        secret["ssl"] = json!(ssl);
    }
    secret["masterarn"] = json!(master_arn);
    secret["note"] = json!("carried forward");
    (pw, create_secret(&secret).await)
}

/// A database with tables `t1` and `t2`, one row each.
async fn database() -> String {
    let db = unique("dsr_myalt_db");
    maria_do(&[
        format!("CREATE DATABASE {}", ident(&db)),
        format!("CREATE TABLE {}.t1 (v VARCHAR(20))", ident(&db)),
        format!("CREATE TABLE {}.t2 (v VARCHAR(20))", ident(&db)),
        format!("INSERT INTO {}.t1 VALUES ('one')", ident(&db)),
        format!("INSERT INTO {}.t2 VALUES ('two')", ident(&db)),
    ])
    .await;
    db
}

/// One full rotation through the binary, each step asserted to succeed; gives the runs.
async fn rotation(arn: &str) -> Vec<Run> {
    let token = start_rotation(arn).await;
    STEPS
        .iter()
        .map(|st| {
            let run = step(arn, &token, st, ALT);
            assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
            run
        })
        .collect()
}

fn outcomes(runs: &[Run]) -> Vec<String> {
    runs.iter().map(Run::outcome).collect()
}

#[tokio::test]
async fn two_rotations_swap_to_clone_and_back_and_the_previous_user_keeps_working() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_swap");
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user(&user, "%", false, None).await;
    let db = database().await;
    maria_do(&[format!(
        "GRANT SELECT ON {}.* TO {} WITH GRANT OPTION",
        ident(&db),
        account(&user, "%")
    )])
    .await;
    let original_secret = value_at(&arn, "AWSCURRENT", None).await.unwrap();

    // First rotation: the clone is created and becomes current.
    let runs = rotation(&arn).await;
    assert_eq!(
        outcomes(&runs),
        ["pending_created", "password_set", "login_ok", "promoted"]
    );
    for run in &runs {
        assert_eq!(
            run.named("step_started")[0]["strategy"],
            "alternating_users"
        );
    }
    let set = &runs[1];
    let connected: Vec<(String, String)> = set
        .named("db_connected")
        .iter()
        .map(|e| {
            assert_eq!(e["engine"], "mysql");
            (
                e["secret"].as_str().unwrap().to_string(),
                e["user"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        connected.contains(&("current".into(), user.clone())),
        "{connected:?}"
    );
    assert!(
        connected.iter().any(|(s, _)| s == "master"),
        "{connected:?}"
    );
    let changed = set.named("password_changed");
    assert_eq!(changed.len(), 1, "{}", set.stdout);
    assert_eq!(changed[0]["user"], clone.as_str());
    assert_eq!(changed[0]["method"], "mysql_native_password hash");
    let count =
        |runs: &[Run], event: &str| -> usize { runs.iter().map(|r| r.named(event).len()).sum() };
    println!(
        "rotation 1 (one process per step): {} aws_call, {} db_connected",
        count(&runs, "aws_call"),
        count(&runs, "db_connected")
    );

    let first = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(first["username"], clone.as_str());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&first),
        keys(&original_secret),
        "every key kept, in order"
    );
    for key in ["host", "port", "masterarn", "note", "engine"] {
        assert_eq!(first[key], original_secret[key], "{key}");
    }
    assert_eq!(
        value_at(&arn, "AWSPREVIOUS", None).await.unwrap(),
        original_secret
    );
    let pw1 = password_of(&first);
    assert_eq!(
        maria_login(&clone, &pw1, true).await.unwrap(),
        format!("{clone}@%")
    );
    maria_login(&user, &old, true)
        .await
        .expect("the original keeps its password until the next rotation");
    assert_eq!(
        maria_grants(&clone, "%").await,
        maria_grants_as(&user, &clone, "%").await,
        "the clone has the original's grants"
    );
    assert_eq!(
        maria_query_as(&clone, &pw1, &format!("SELECT v FROM {}.t1", ident(&db)))
            .await
            .unwrap(),
        ["one"]
    );

    // Second rotation: back to the original, which gets a new password; the clone keeps its.
    let runs = rotation(&arn).await;
    assert_eq!(
        outcomes(&runs),
        ["pending_created", "password_set", "login_ok", "promoted"]
    );
    let changed = runs[1].named("password_changed");
    assert_eq!(changed.len(), 1, "{}", runs[1].stdout);
    assert_eq!(changed[0]["user"], user.as_str());
    println!(
        "rotation 2 (one process per step): {} aws_call, {} db_connected",
        count(&runs, "aws_call"),
        count(&runs, "db_connected")
    );
    let second = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(second["username"], user.as_str());
    let pw2 = password_of(&second);
    assert_ne!(pw2, old);
    assert_ne!(pw2, pw1);
    assert_eq!(value_at(&arn, "AWSPREVIOUS", None).await.unwrap(), first);
    maria_login(&user, &pw2, true).await.unwrap();
    let refused = maria_login(&user, &old, true).await.unwrap_err();
    assert_eq!(
        server_code(&refused),
        Some(1045),
        "the original's old password is gone"
    );
    maria_login(&clone, &pw1, true)
        .await
        .expect("the clone keeps its password until the next rotation");

    // The master's statements are in the general log; no password is.
    let log = maria_general_log();
    assert!(
        log.contains(&format!(
            "CREATE USER {} IDENTIFIED BY PASSWORD '*",
            account(&clone, "%")
        )),
        "general_log must be on for this test to mean anything"
    );
    for pw in [&old, &pw1, &pw2] {
        assert!(!log.contains(pw.as_str()));
    }
}

#[tokio::test]
async fn hostile_username_on_a_require_ssl_account_gives_a_require_ssl_clone() {
    let _shared = sql_mode_lock().read().await;
    // A quote, a backtick, upper case and % in the name.
    let user = format!("My'O`dd%{}", unique("U"));
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user(&user, "%", true, Some(true)).await;
    for run in rotation(&arn).await {
        for e in run.named("db_connected") {
            assert_eq!(e["tls"], "verified", "{e}");
        }
    }
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(current["ssl"], true);
    let pw = password_of(&current);
    assert_eq!(
        maria_ssl_type(&clone, "%").await,
        "ANY",
        "REQUIRE SSL copied"
    );
    let refused = maria_login(&clone, &pw, false).await.unwrap_err();
    assert_eq!(server_code(&refused), Some(1045), "plaintext refused");
    assert_eq!(
        maria_login(&clone, &pw, true).await.unwrap(),
        format!("{clone}@%")
    );
    maria_login(&user, &old, true).await.unwrap();
}

#[tokio::test]
async fn an_account_for_127_0_0_1_gets_its_clone_for_127_0_0_1() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_ip");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, "127.0.0.1", false, None).await;
    assert_eq!(maria_hosts(&user).await, ["127.0.0.1"]);
    rotation(&arn).await;
    assert_eq!(maria_hosts(&clone).await, ["127.0.0.1"], "not '%'");
    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        maria_login(&clone, &pw, true).await.unwrap(),
        format!("{clone}@127.0.0.1")
    );
    assert!(maria_general_log().contains(&format!(
        "CREATE USER {} IDENTIFIED BY PASSWORD",
        account(&clone, "127.0.0.1")
    )));
}

#[tokio::test]
async fn every_host_part_of_the_original_gets_its_own_clone_account_and_grants() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_hosts");
    let clone = format!("{user}_clone");
    // Logins from localhost match the 127.0.0.1 account; the '%' one has another password.
    let (_, arn) = alternating_user(&user, "127.0.0.1", false, None).await;
    maria_create_user(&user, "%", &password("other"), false).await;
    let db = database().await;
    maria_do(&[
        format!(
            "GRANT SELECT ON {}.* TO {}",
            ident(&db),
            account(&user, "127.0.0.1")
        ),
        format!(
            "GRANT INSERT ON {}.t1 TO {} WITH GRANT OPTION",
            ident(&db),
            account(&user, "%")
        ),
    ])
    .await;
    rotation(&arn).await;
    assert_eq!(maria_hosts(&clone).await, ["%", "127.0.0.1"]);
    for host in ["%", "127.0.0.1"] {
        assert_eq!(
            maria_grants(&clone, host).await,
            maria_grants_as(&user, &clone, host).await,
            "{host}"
        );
    }
    assert_eq!(
        maria_auth_string(&clone, "%").await,
        maria_auth_string(&clone, "127.0.0.1").await,
        "both clone accounts have the pending password"
    );

    // Back to the original: both of its accounts get the new password.
    let before = maria_auth_string(&user, "%").await;
    rotation(&arn).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], user.as_str());
    let after = maria_auth_string(&user, "%").await;
    assert_ne!(after, before);
    assert_eq!(after, maria_auth_string(&user, "127.0.0.1").await);
    maria_login(&user, &password_of(&current), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_require_subject_with_quotes_and_backslashes_and_limits_are_copied_exactly() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_x509");
    let clone = format!("{user}_clone");
    // The secret logs in through the 127.0.0.1 account; the '%' account wants a certificate.
    let (_, arn) = alternating_user(&user, "127.0.0.1", false, None).await;
    maria_create_user(&user, "%", &password("cert"), false).await;
    maria_do(&[format!(
        "ALTER USER {} REQUIRE SUBJECT '/CN=o''b\\r\\\"x' AND ISSUER '/CN=Test CA' AND CIPHER 'ECDHE-RSA-AES256-GCM-SHA384' WITH MAX_USER_CONNECTIONS 7",
        account(&user, "%")
    )])
    .await;
    let wanted = maria_requirement(&user, "%").await;
    assert_eq!(wanted.0, "SPECIFIED");
    assert_eq!(
        wanted.3, "/CN=o'b\\r\\\"x",
        "the fixture means what it says"
    );
    assert_eq!(wanted.4, 7);
    rotation(&arn).await;
    assert_eq!(maria_requirement(&clone, "%").await, wanted);
    assert_eq!(maria_ssl_type(&clone, "127.0.0.1").await, "");
}

#[tokio::test]
async fn grants_given_to_or_taken_from_the_original_reach_the_clone_at_the_next_rotation() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_sync");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, "%", false, None).await;
    let db = database().await;
    let (t1, t2) = (format!("{}.t1", ident(&db)), format!("{}.t2", ident(&db)));
    let orig = account(&user, "%");
    maria_do(&[format!("GRANT SELECT ON {t1} TO {orig}")]).await;
    rotation(&arn).await;
    let pw1 = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    let select_t2 = format!("SELECT v FROM {t2}");
    let refused = maria_query_as(&clone, &pw1, &select_t2).await.unwrap_err();
    assert_eq!(
        server_code(&refused),
        Some(1142),
        "not granted yet: the test can fail"
    );

    // After the first rotation: the original gains grants (one WITH GRANT OPTION, a column
    // privilege) and a TLS requirement; someone grants the clone something extra by hand.
    maria_do(&[
        format!("GRANT SELECT, INSERT ON {t2} TO {orig} WITH GRANT OPTION"),
        format!("GRANT UPDATE (v) ON {t1} TO {orig}"),
        format!(
            "GRANT DELETE ON {}.* TO {}",
            ident(&db),
            account(&clone, "%")
        ),
        format!("ALTER USER {orig} REQUIRE SSL"),
    ])
    .await;
    let original_grants = maria_grants(&user, "%").await;
    assert!(original_grants
        .iter()
        .any(|g| g.contains("WITH GRANT OPTION")));
    rotation(&arn).await;
    assert_eq!(
        maria_grants(&clone, "%").await,
        maria_grants_as(&user, &clone, "%").await,
        "the clone (now AWSPREVIOUS) follows the original"
    );
    assert!(!maria_grants(&clone, "%")
        .await
        .iter()
        .any(|g| g.contains("DELETE")));
    assert_eq!(
        maria_grants(&user, "%").await,
        original_grants,
        "the original is the source, never changed by the sync"
    );
    assert_eq!(maria_ssl_type(&clone, "%").await, "ANY");
    assert_eq!(
        maria_query_as(&clone, &pw1, &select_t2).await.unwrap(),
        ["two"]
    );

    // The original loses the grant: the clone loses it at the next rotation.
    maria_do(&[
        format!("REVOKE SELECT, INSERT ON {t2} FROM {orig}"),
        format!("REVOKE GRANT OPTION ON {t2} FROM {orig}"),
    ])
    .await;
    rotation(&arn).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(
        maria_grants(&clone, "%").await,
        maria_grants_as(&user, &clone, "%").await
    );
    assert!(!maria_grants(&clone, "%")
        .await
        .iter()
        .any(|g| g.contains("`t2`")));
    let refused = maria_query_as(&clone, &password_of(&current), &select_t2)
        .await
        .unwrap_err();
    assert_eq!(server_code(&refused), Some(1142));
}

#[tokio::test]
async fn roles_and_the_default_role_of_the_original_are_copied() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_role");
    let clone = format!("{user}_clone");
    let pw = password("orig");
    maria_create_user(&user, "%", &pw, false).await;
    let (master, master_arn) = full_master().await;
    let mut secret = maria_secret(&user, &pw);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let db = database().await;
    let role = unique("dsr_myalt_r");
    let orig = account(&user, "%");
    maria_do(&[
        format!("CREATE ROLE {}", ident(&role)),
        format!("GRANT SELECT ON {}.* TO {}", ident(&db), ident(&role)),
        format!("GRANT {} TO {orig} WITH ADMIN OPTION", ident(&role)),
        format!("SET DEFAULT ROLE {} FOR {orig}", ident(&role)),
    ])
    .await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);

    // ALL PRIVILEGES WITH GRANT OPTION does not let the master grant a role it does not
    // administer: named, with the statement to fix it.
    let run = step(&arn, &token, "setSecret", ALT);
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "role"]);
    assert_eq!(evidence["statement_kind"], "grant");
    assert_eq!(evidence["role"], ident(&role).as_str());
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("WITH ADMIN OPTION"));

    maria_do(&[format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        ident(&role),
        account(&master, "%")
    )])
    .await;
    for st in &STEPS[1..] {
        let run = step(&arn, &token, st, ALT);
        assert_eq!(run.status, 0, "{st}:\n{}", run.stdout);
    }
    let grants = maria_grants(&clone, "%").await;
    assert_eq!(grants, maria_grants_as(&user, &clone, "%").await);
    assert!(
        grants
            .iter()
            .any(|g| g.starts_with(&format!("SET DEFAULT ROLE {}", ident(&role)))),
        "{grants:?}"
    );
    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        maria_query_as(&clone, &pw, "SELECT CURRENT_ROLE()")
            .await
            .unwrap(),
        [role]
    );
    assert_eq!(
        maria_query_as(&clone, &pw, &format!("SELECT v FROM {}.t1", ident(&db)))
            .await
            .unwrap(),
        ["one"]
    );
}

#[tokio::test]
async fn alternating_works_under_global_no_backslash_escapes_and_ansi_quotes() {
    let _exclusive = sql_mode_lock().write().await;
    let user = format!("Nb\\'%\"_{}", unique("U"));
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, "%", false, None).await;
    let db = database().await;
    maria_do(&[format!(
        "GRANT SELECT (v) ON {}.t1 TO {} WITH GRANT OPTION",
        ident(&db),
        account(&user, "%")
    )])
    .await;
    let token = start_rotation(&arn).await;

    let previous_mode =
        maria_set_global_sql_mode("NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES").await;
    let result = std::panic::catch_unwind(|| rotate_all(&arn, &token, ALT));
    maria_set_global_sql_mode(&previous_mode).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(!previous_mode.contains("NO_BACKSLASH_ESCAPES"));

    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        maria_login(&clone, &pw, true).await.unwrap(),
        format!("{clone}@%")
    );
    assert_eq!(
        maria_grants(&clone, "%").await,
        maria_grants_as(&user, &clone, "%").await
    );
}

/// A name of exactly `len` characters, unique.
fn name_of_length(len: usize) -> String {
    let u = unique("n");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in u.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let mut name = format!("dl{h:016x}");
    while name.len() < len {
        name.push('x');
    }
    name.truncate(len);
    name
}

#[tokio::test]
async fn username_character_limit_is_16_for_mysql_and_80_for_mariadb() {
    let _shared = sql_mode_lock().read().await;
    let (_, master_arn) = full_master().await;
    let secret_for = |engine: &str, user: &str, pw: &str| {
        let mut s = maria_secret(user, pw);
        s["engine"] = json!(engine);
        s["masterarn"] = json!(master_arn);
        s
    };
    // engine mysql: a 12-character name + _clone = 18 > 16.
    let user = name_of_length(12);
    let pw = password("limit");
    maria_create_user(&user, "%", &pw, false).await;
    let arn = create_secret(&secret_for("mysql", &user, &pw)).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", ALT);
    let evidence = run.expect_failure("secret_json_invalid", &["key", "expected"]);
    assert_eq!(evidence["key"], "username");
    assert_eq!(evidence["limit"], 16);
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("USERNAME_CHARACTER_LIMIT"));
    assert!(value_at(&arn, "AWSPENDING", Some(&token)).await.is_none());

    // Raised to what MySQL 5.7+ allows, the same secret rotates (engine mysql on MariaDB).
    let raised = [
        ("ROTATION_STRATEGY", "alternating_users"),
        ("USERNAME_CHARACTER_LIMIT", "32"),
    ];
    rotate_all(&arn, &token, &raised);
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], format!("{user}_clone").as_str());
    maria_login(&format!("{user}_clone"), &password_of(&current), true)
        .await
        .unwrap();

    // engine mariadb: 80 characters, whatever USERNAME_CHARACTER_LIMIT says.
    let fits = secret_for("mariadb", &name_of_length(74), &pw);
    let arn = create_secret(&fits).await;
    let token = start_rotation(&arn).await;
    assert_eq!(
        step(&arn, &token, "createSecret", ALT).outcome(),
        "pending_created"
    );
    let too_long = secret_for("mariadb", &name_of_length(75), &pw);
    let arn = create_secret(&too_long).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", ALT);
    assert_eq!(
        run.expect_failure("secret_json_invalid", &["key"])["limit"],
        80
    );
}

/// Writes the pending value by hand, as a tampered createSecret would have.
async fn put_pending(arn: &str, token: &str, value: &Value) {
    if let Some(p) = value["password"].as_str() {
        record_secret(p);
    }
    sm().await
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(value.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn pending_user_or_host_mismatch_is_user_mismatch_before_any_connection() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_mismatch");
    let (_, arn) = alternating_user(&user, "%", false, None).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let cases = [
        (json!(user), json!(current["host"])),
        (json!("dsr_admin"), json!(current["host"])),
        (json!(format!("{user}_clone")), json!("127.0.0.1")),
    ];
    for (username, host) in cases {
        let token = start_rotation(&arn).await;
        let mut pending = current.clone();
        pending["username"] = username.clone();
        pending["host"] = host.clone();
        pending["password"] = json!(password("tampered"));
        put_pending(&arn, &token, &pending).await;
        let run = step(&arn, &token, "setSecret", ALT);
        let evidence = run.expect_failure("user_mismatch", &["expected_user", "found_user"]);
        assert_eq!(evidence["expected_user"], format!("{user}_clone").as_str());
        assert_eq!(evidence["found_user"], username);
        assert_eq!(evidence["found_host"], host);
        assert!(
            run.named("db_connected").is_empty(),
            "no connection before the check:\n{}",
            run.stdout
        );
        sm().await
            .update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&token)
            .send()
            .await
            .unwrap();
    }
    assert!(maria_hosts(&format!("{user}_clone")).await.is_empty());
}

/// A user and an alternating secret whose master has only `privileges` (and may read
/// mysql.user). Returns (master name, secret ARN).
async fn user_with_master(tag: &str, privileges: &str) -> (String, String, String) {
    let user = unique(tag);
    let pw = password("orig");
    maria_create_user(&user, "%", &pw, false).await;
    let (master, master_arn) = maria_master(privileges, "").await;
    let mut secret = maria_secret(&user, &pw);
    secret["masterarn"] = json!(master_arn);
    (user, master, create_secret(&secret).await)
}

#[tokio::test]
async fn master_without_create_user_is_db_permission_denied() {
    let _shared = sql_mode_lock().read().await;
    let (user, master, arn) = user_with_master("dsr_myalt_nocreate", "SELECT ON *.*").await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let run = step(&arn, &token, "setSecret", ALT);
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "user"]);
    assert_eq!(evidence["statement_kind"], "create_user");
    assert_eq!(evidence["user"], master.as_str());
    assert_eq!(evidence["secret"], "master");
    assert_eq!(evidence["code"], 1227);
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("CREATE USER"));
    assert!(maria_hosts(&format!("{user}_clone")).await.is_empty());
}

#[tokio::test]
async fn master_without_grant_option_is_db_permission_denied_on_grant() {
    let _shared = sql_mode_lock().read().await;
    let (user, master, arn) =
        user_with_master("dsr_myalt_nogrant", "SELECT, CREATE USER ON *.*").await;
    let db = database().await;
    maria_do(&[format!(
        "GRANT INSERT ON {}.* TO {}",
        ident(&db),
        account(&user, "%")
    )])
    .await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let run = step(&arn, &token, "setSecret", ALT);
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "user"]);
    assert_eq!(evidence["statement_kind"], "grant", "{}", run.stdout);
    assert_eq!(evidence["user"], master.as_str());
    assert_eq!(evidence["account_user"], format!("{user}_clone").as_str());
}

#[tokio::test]
async fn every_step_twice_is_idempotent() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_twice");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, "%", true, Some(true)).await;
    let db = database().await;
    maria_do(&[format!(
        "GRANT SELECT ON {}.* TO {} WITH GRANT OPTION",
        ident(&db),
        account(&user, "%")
    )])
    .await;
    let token = start_rotation(&arn).await;
    let twice =
        |st: &str| -> (Run, Run) { (step(&arn, &token, st, ALT), step(&arn, &token, st, ALT)) };
    let (a, b) = twice("createSecret");
    assert_eq!(
        (a.outcome(), b.outcome()),
        ("pending_created".into(), "pending_exists".into())
    );
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    let (a, b) = twice("setSecret");
    assert_eq!(
        (a.outcome(), b.outcome()),
        ("password_set".into(), "already_set".into())
    );
    assert!(b.named("password_changed").is_empty(), "{}", b.stdout);
    let auth = maria_auth_string(&clone, "%").await;
    let grants = maria_grants(&clone, "%").await;
    let (a, b) = twice("testSecret");
    assert_eq!(
        (a.outcome(), b.outcome()),
        ("login_ok".into(), "login_ok".into())
    );
    let (a, b) = twice("finishSecret");
    assert_eq!(
        (a.outcome(), b.outcome()),
        ("promoted".into(), "already_current".into())
    );
    assert_eq!(value_at(&arn, "AWSCURRENT", None).await.unwrap(), pending);
    assert_eq!(maria_auth_string(&clone, "%").await, auth);
    assert_eq!(maria_grants(&clone, "%").await, grants);
    maria_login(&clone, &password_of(&pending), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn two_set_secrets_at_once_both_succeed() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_race");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, "%", false, None).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| step(&arn, &token, "setSecret", ALT)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    }
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    maria_login(&clone, &password_of(&pending), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn diagnose_checks_the_master_may_manage_users() {
    let _shared = sql_mode_lock().read().await;
    let user = unique("dsr_myalt_diag");
    let pw = password("orig");
    maria_create_user(&user, "%", &pw, false).await;
    for (privileges, with, ok) in [
        ("ALL PRIVILEGES ON *.*", "WITH GRANT OPTION", true),
        ("SELECT, CREATE USER ON *.*", "WITH GRANT OPTION", true),
        ("SELECT, CREATE USER ON *.*", "", false),
        ("SELECT ON *.*", "WITH GRANT OPTION", false),
    ] {
        let (master, master_arn) = maria_master(privileges, with).await;
        let mut secret = maria_secret(&user, &pw);
        secret["masterarn"] = json!(master_arn);
        let arn = create_secret(&secret).await;
        let (_, report) = diagnose_json(&arn, ALT);
        let check = |name: &str| report_check(&report, name).clone();
        assert_eq!(check("master_login")["ok"], true, "{report}");
        let privilege = check("manage_users_privilege");
        assert_eq!(privilege["ok"], ok, "{privileges} {with}: {report}");
        if !ok {
            assert_eq!(privilege["cause"], "db_permission_denied");
            assert_eq!(privilege["evidence"]["user"], master.as_str());
        }
    }
}
