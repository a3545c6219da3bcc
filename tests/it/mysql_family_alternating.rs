//! MariaDB 10.11 and Oracle MySQL 9, alternating users, end to end on the real servers
//! through the binary (`ROTATION_STRATEGY=alternating_users`), with the same test names in the
//! module of each server (`mariadb::`, `mysql::`): the pair swaps and the previous user keeps
//! working until the next rotation; the clone gets every host part, the TLS requirement and
//! the grants of the original (WITH GRANT OPTION kept, revoked grants removed); hostile names
//! and sql_modes; each refusal has its cause. Each behaviour both servers share is one
//! scenario taking the [`Server`]; then each server's own: roles (MariaDB's roles, and MySQL's
//! roles and default roles with WITH ADMIN OPTION, differ in kind) and, on MariaDB, the
//! user-name limits of the `mysql` and `mariadb` engines.
//!
//! MySQL 8+ allows 32-character user names, so its tests run with USERNAME_CHARACTER_LIMIT=32
//! (the reference default of 16 is for MySQL 5.6). The test that changes a server's GLOBAL
//! sql_mode takes that server's [`lock`] for writing; every other test of the server takes it
//! for reading.

use crate::common::engine::{alternating_secret, Engine, MariaDb, MySql, MysqlFamily};
use crate::common::mysql::*;
use crate::common::*;
use serde_json::{json, Value};

const MY: Server = Server::MySql;
const MARIA: Server = Server::MariaDb;

/// The environment of an alternating-users rotation on the server.
fn alt(server: Server) -> &'static [(&'static str, &'static str)] {
    match server {
        Server::MariaDb => MariaDb::ALT,
        Server::MySql => MySql::ALT,
    }
}

/// How the function creates the clone, as `password_changed` names it: MariaDB takes the
/// hash the function computes, MySQL 8+ hashes the plaintext of `CREATE USER` itself.
fn create_method(server: Server) -> &'static str {
    match server {
        Server::MariaDb => "mysql_native_password hash",
        Server::MySql => "create user",
    }
}

/// The general log's line for the clone's creation as `clone@host`, up to where the password
/// would be: MariaDB logs the hash (`IDENTIFIED BY PASSWORD '*…'`), MySQL rewrites the
/// password out (`BY <secret>`).
fn logged_create(server: Server, clone: &str, host: &str) -> String {
    match server {
        Server::MariaDb => format!(
            "CREATE USER {} IDENTIFIED BY PASSWORD '*",
            account(clone, host)
        ),
        Server::MySql => format!(
            "CREATE USER '{clone}'@'{host}' IDENTIFIED WITH 'caching_sha2_password' BY <secret>"
        ),
    }
}

/// `GRANT SELECT ON <test database>.* TO user@'%' WITH GRANT OPTION`: a grant a clone must
/// copy with its grant option. Gives the database's name.
async fn grant_select_with_grant_option(server: Server, user: &str) -> String {
    let db = database(server).await;
    do_on(
        server,
        &[format!(
            "GRANT SELECT ON {}.* TO {} WITH GRANT OPTION",
            ident(&db),
            account(user, "%")
        )],
    )
    .await;
    db
}

/// A master that may do everything, as the RDS master user can.
async fn full_master(server: Server) -> (String, String) {
    master_on(server, "ALL PRIVILEGES ON *.*", "WITH GRANT OPTION").await
}

/// A user on `host`, a full master, and an alternating-users secret for the user (the
/// secret's `ssl` as given). Returns (password, secret ARN).
async fn alternating_user<E: MysqlFamily>(
    user: &str,
    host: &str,
    require_ssl: bool,
    ssl: Option<bool>,
) -> (String, String) {
    let pw = password("orig");
    create_user_on(E::SERVER, user, host, &pw, require_ssl).await;
    let arn = alternating_secret::<E>(user, &pw, ssl).await;
    (pw, arn)
}

/// A database with tables `t1` and `t2`, one row each.
async fn database(server: Server) -> String {
    let db = short_unique("ma_db");
    do_on(
        server,
        &[
            format!("CREATE DATABASE {}", ident(&db)),
            format!("CREATE TABLE {}.t1 (v VARCHAR(20))", ident(&db)),
            format!("CREATE TABLE {}.t2 (v VARCHAR(20))", ident(&db)),
            format!("INSERT INTO {}.t1 VALUES ('one')", ident(&db)),
            format!("INSERT INTO {}.t2 VALUES ('two')", ident(&db)),
        ],
    )
    .await;
    db
}

/// One full rotation through the binary, each step asserted to succeed; gives the runs.
async fn rotation(server: Server, arn: &str) -> Vec<Run> {
    let token = start_rotation(arn).await;
    STEPS
        .iter()
        .map(|st| {
            let run = step(arn, &token, st, alt(server));
            assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
            run
        })
        .collect()
}

fn outcomes(runs: &[Run]) -> Vec<String> {
    runs.iter().map(Run::outcome).collect()
}

async fn two_rotations_swap_to_clone_and_back_and_the_previous_user_keeps_working<
    E: MysqlFamily,
>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_swap");
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user::<E>(&user, "%", false, None).await;
    let db = grant_select_with_grant_option(server, &user).await;
    let original_secret = value_at(&arn, "AWSCURRENT", None).await.unwrap();

    // First rotation: the clone is created and becomes current.
    let runs = rotation(server, &arn).await;
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
    assert_eq!(changed[0]["method"], create_method(server));
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
        login_on(server, &clone, &pw1, true).await.unwrap(),
        format!("{clone}@%")
    );
    login_on(server, &user, &old, true)
        .await
        .expect("the original keeps its password until the next rotation");
    assert_eq!(
        grants_on(server, &clone, "%").await,
        grants_as_on(server, &user, &clone, "%").await,
        "the clone has the original's grants"
    );
    assert_eq!(
        query_as_on(
            server,
            &clone,
            &pw1,
            &format!("SELECT v FROM {}.t1", ident(&db))
        )
        .await
        .unwrap(),
        ["one"]
    );

    // Second rotation: back to the original, which gets a new password; the clone keeps its.
    let runs = rotation(server, &arn).await;
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
    login_on(server, &user, &pw2, true).await.unwrap();
    let refused = login_on(server, &user, &old, true).await.unwrap_err();
    assert_eq!(
        server_code(&refused),
        Some(1045),
        "the original's old password is gone"
    );
    login_on(server, &clone, &pw1, true)
        .await
        .expect("the clone keeps its password until the next rotation");

    // The master's statements are in the general log; no password is.
    let log = general_log_on(server);
    assert!(
        log.contains(&logged_create(server, &clone, "%")),
        "general_log must be on for this test to mean anything"
    );
    for pw in [&old, &pw1, &pw2] {
        assert!(!log.contains(pw.as_str()));
    }
}

async fn hostile_username_on_a_require_ssl_account_gives_a_require_ssl_clone<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    // A quote, a backtick, upper case and % in the name.
    let user = format!("My'O`dd%{}", short_unique("U"));
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user::<E>(&user, "%", true, Some(true)).await;
    for run in rotation(server, &arn).await {
        for e in run.named("db_connected") {
            assert_eq!(e["tls"], "verified", "{e}");
        }
    }
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(current["ssl"], true);
    let pw = password_of(&current);
    assert_eq!(
        ssl_type_on(server, &clone, "%").await,
        "ANY",
        "REQUIRE SSL copied"
    );
    let refused = login_on(server, &clone, &pw, false).await.unwrap_err();
    assert_eq!(server_code(&refused), Some(1045), "plaintext refused");
    assert_eq!(
        login_on(server, &clone, &pw, true).await.unwrap(),
        format!("{clone}@%")
    );
    login_on(server, &user, &old, true).await.unwrap();
}

async fn an_account_for_127_0_0_1_gets_its_clone_for_127_0_0_1<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_ip");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<E>(&user, "127.0.0.1", false, None).await;
    assert_eq!(hosts_on(server, &user).await, ["127.0.0.1"]);
    rotation(server, &arn).await;
    assert_eq!(hosts_on(server, &clone).await, ["127.0.0.1"], "not '%'");
    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        login_on(server, &clone, &pw, true).await.unwrap(),
        format!("{clone}@127.0.0.1")
    );
    assert!(general_log_on(server).contains(&logged_create(server, &clone, "127.0.0.1")));
}

async fn every_host_part_of_the_original_gets_its_own_clone_account_and_grants<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_hosts");
    let clone = format!("{user}_clone");
    // Logins from localhost match the 127.0.0.1 account; the '%' one has another password.
    let (_, arn) = alternating_user::<E>(&user, "127.0.0.1", false, None).await;
    create_user_on(server, &user, "%", &password("other"), false).await;
    let db = database(server).await;
    do_on(
        server,
        &[
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
        ],
    )
    .await;
    rotation(server, &arn).await;
    assert_eq!(hosts_on(server, &clone).await, ["%", "127.0.0.1"]);
    for host in ["%", "127.0.0.1"] {
        assert_eq!(
            grants_on(server, &clone, host).await,
            grants_as_on(server, &user, &clone, host).await,
            "{host}"
        );
    }
    match server {
        // mysql_native_password hashes are not salted: both accounts hold the same one.
        Server::MariaDb => assert_eq!(
            auth_string_on(server, &clone, "%").await,
            auth_string_on(server, &clone, "127.0.0.1").await,
            "both clone accounts have the pending password"
        ),
        // caching_sha2_password hashes are salted per account, so the two cannot be
        // compared; each clone account has a caching_sha2_password hash.
        Server::MySql => {
            for host in ["%", "127.0.0.1"] {
                assert!(
                    auth_string_on(server, &clone, host)
                        .await
                        .starts_with("$A$"),
                    "{host}"
                );
            }
        }
    }

    // Back to the original: both of its accounts get a new password.
    let before = (
        auth_string_on(server, &user, "%").await,
        auth_string_on(server, &user, "127.0.0.1").await,
    );
    rotation(server, &arn).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], user.as_str());
    assert_ne!(auth_string_on(server, &user, "%").await, before.0);
    assert_ne!(auth_string_on(server, &user, "127.0.0.1").await, before.1);
    if server == Server::MariaDb {
        assert_eq!(
            auth_string_on(server, &user, "%").await,
            auth_string_on(server, &user, "127.0.0.1").await,
            "both accounts of the original have the new password"
        );
    }
    login_on(server, &user, &password_of(&current), true)
        .await
        .unwrap();
}

async fn a_require_subject_with_quotes_and_backslashes_and_limits_are_copied_exactly<
    E: MysqlFamily,
>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_x509");
    let clone = format!("{user}_clone");
    // The secret logs in through the 127.0.0.1 account; the '%' account wants a certificate.
    let (_, arn) = alternating_user::<E>(&user, "127.0.0.1", false, None).await;
    create_user_on(server, &user, "%", &password("cert"), false).await;
    do_on(server, &[format!(
        "ALTER USER {} REQUIRE SUBJECT '/CN=o''b\\r\\\"x' AND ISSUER '/CN=Test CA' AND CIPHER 'ECDHE-RSA-AES256-GCM-SHA384' WITH MAX_USER_CONNECTIONS 7",
        account(&user, "%")
    )])
    .await;
    let wanted = requirement_on(server, &user, "%").await;
    assert_eq!(wanted.0, "SPECIFIED");
    assert_eq!(
        wanted.3, "/CN=o'b\\r\\\"x",
        "the fixture means what it says"
    );
    assert_eq!(wanted.4, 7);
    rotation(server, &arn).await;
    assert_eq!(requirement_on(server, &clone, "%").await, wanted);
    assert_eq!(ssl_type_on(server, &clone, "127.0.0.1").await, "");
}

async fn grants_given_to_or_taken_from_the_original_reach_the_clone_at_the_next_rotation<
    E: MysqlFamily,
>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_sync");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<E>(&user, "%", false, None).await;
    let db = database(server).await;
    let (t1, t2) = (format!("{}.t1", ident(&db)), format!("{}.t2", ident(&db)));
    let orig = account(&user, "%");
    do_on(server, &[format!("GRANT SELECT ON {t1} TO {orig}")]).await;
    rotation(server, &arn).await;
    let pw1 = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    let select_t2 = format!("SELECT v FROM {t2}");
    let refused = query_as_on(server, &clone, &pw1, &select_t2)
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&refused),
        Some(1142),
        "not granted yet: the test can fail"
    );

    // After the first rotation: the original gains grants (one WITH GRANT OPTION, a column
    // privilege) and a TLS requirement; someone grants the clone something extra by hand.
    do_on(
        server,
        &[
            format!("GRANT SELECT, INSERT ON {t2} TO {orig} WITH GRANT OPTION"),
            format!("GRANT UPDATE (v) ON {t1} TO {orig}"),
            format!(
                "GRANT DELETE ON {}.* TO {}",
                ident(&db),
                account(&clone, "%")
            ),
            format!("ALTER USER {orig} REQUIRE SSL"),
        ],
    )
    .await;
    let original_grants = grants_on(server, &user, "%").await;
    assert!(original_grants
        .iter()
        .any(|g| g.contains("WITH GRANT OPTION")));
    rotation(server, &arn).await;
    assert_eq!(
        grants_on(server, &clone, "%").await,
        grants_as_on(server, &user, &clone, "%").await,
        "the clone (now AWSPREVIOUS) follows the original"
    );
    assert!(!grants_on(server, &clone, "%")
        .await
        .iter()
        .any(|g| g.contains("DELETE")));
    assert_eq!(
        grants_on(server, &user, "%").await,
        original_grants,
        "the original is the source, never changed by the sync"
    );
    assert_eq!(ssl_type_on(server, &clone, "%").await, "ANY");
    assert_eq!(
        query_as_on(server, &clone, &pw1, &select_t2).await.unwrap(),
        ["two"]
    );

    // The original loses the grant: the clone loses it at the next rotation.
    do_on(
        server,
        &[
            format!("REVOKE SELECT, INSERT ON {t2} FROM {orig}"),
            format!("REVOKE GRANT OPTION ON {t2} FROM {orig}"),
        ],
    )
    .await;
    rotation(server, &arn).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(
        grants_on(server, &clone, "%").await,
        grants_as_on(server, &user, &clone, "%").await
    );
    assert!(!grants_on(server, &clone, "%")
        .await
        .iter()
        .any(|g| g.contains("`t2`")));
    let refused = query_as_on(server, &clone, &password_of(&current), &select_t2)
        .await
        .unwrap_err();
    assert_eq!(server_code(&refused), Some(1142));
}

/// MySQL's default roles of an account (`mysql.default_roles`), as `role@host`, sorted.
async fn default_roles(user: &str, host: &str) -> Vec<String> {
    let mut admin = admin_on(MY).await;
    let mut roles: Vec<String> = mysql_async::prelude::Queryable::exec(
        &mut admin,
        "SELECT CONCAT(DEFAULT_ROLE_USER, '@', DEFAULT_ROLE_HOST) FROM mysql.default_roles \
         WHERE USER = ? AND HOST = ?",
        (user, host),
    )
    .await
    .unwrap();
    roles.sort();
    roles
}

async fn mysql_roles_and_default_roles_are_copied() {
    let _shared = shared(MY).await;
    let user = short_unique("ma_role");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<MySql>(&user, "%", false, None).await;
    let db = database(MY).await;
    let (reader, writer) = (short_unique("ma_r"), short_unique("ma_w"));
    let orig = account(&user, "%");
    let (r, w) = (account(&reader, "%"), account(&writer, "%"));
    // MySQL roles are accounts (`role`@`%`); the master's ALL PRIVILEGES includes ROLE_ADMIN,
    // which lets it grant any role.
    do_on(
        MY,
        &[
            format!("CREATE ROLE {r}, {w}"),
            format!("GRANT SELECT ON {}.* TO {r}", ident(&db)),
            format!("GRANT INSERT ON {}.* TO {w}", ident(&db)),
            format!("GRANT {r} TO {orig} WITH ADMIN OPTION"),
            format!("GRANT {w} TO {orig}"),
            format!("SET DEFAULT ROLE {r} TO {orig}"),
        ],
    )
    .await;
    rotation(MY, &arn).await;
    let grants = grants_on(MY, &clone, "%").await;
    assert_eq!(grants, grants_as_on(MY, &user, &clone, "%").await);
    assert!(
        grants.contains(&format!(
            "GRANT {r} TO {} WITH ADMIN OPTION",
            account(&clone, "%")
        )),
        "WITH ADMIN OPTION kept: {grants:?}"
    );
    assert!(
        grants.contains(&format!("GRANT {w} TO {}", account(&clone, "%"))),
        "{grants:?}"
    );
    assert_eq!(default_roles(&clone, "%").await, [format!("{reader}@%")]);
    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        query_as_on(MY, &clone, &pw, "SELECT CURRENT_ROLE()")
            .await
            .unwrap(),
        std::slice::from_ref(&r),
        "the default role is active at login"
    );
    assert_eq!(
        query_as_on(MY, &clone, &pw, &format!("SELECT v FROM {}.t1", ident(&db)))
            .await
            .unwrap(),
        ["one"]
    );

    // The original loses a role and its default role changes: the clone follows at the
    // next rotation.
    do_on(
        MY,
        &[
            format!("REVOKE {w} FROM {orig}"),
            format!("SET DEFAULT ROLE NONE TO {orig}"),
        ],
    )
    .await;
    rotation(MY, &arn).await;
    let grants = grants_on(MY, &clone, "%").await;
    assert_eq!(grants, grants_as_on(MY, &user, &clone, "%").await);
    assert!(!grants.iter().any(|g| g.contains(&writer)), "{grants:?}");
    assert!(default_roles(&clone, "%").await.is_empty());
    assert_eq!(
        query_as_on(MY, &clone, &pw, "SELECT CURRENT_ROLE()")
            .await
            .unwrap(),
        ["NONE"]
    );
}

async fn alternating_works_under_global_no_backslash_escapes_and_ansi_quotes<E: MysqlFamily>() {
    let server = E::SERVER;
    let _exclusive = exclusive(server).await;
    let user = format!("Nb\\'%\"_{}", short_unique("U"));
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<E>(&user, "%", false, None).await;
    let db = database(server).await;
    do_on(
        server,
        &[format!(
            "GRANT SELECT (v) ON {}.t1 TO {} WITH GRANT OPTION",
            ident(&db),
            account(&user, "%")
        )],
    )
    .await;
    let token = start_rotation(&arn).await;

    let previous_mode = set_global_sql_mode_on(
        server,
        "NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES",
    )
    .await;
    let result = std::panic::catch_unwind(|| rotate_all(&arn, &token, alt(server)));
    set_global_sql_mode_on(server, &previous_mode).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(!previous_mode.contains("NO_BACKSLASH_ESCAPES"));

    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        login_on(server, &clone, &pw, true).await.unwrap(),
        format!("{clone}@%")
    );
    assert_eq!(
        grants_on(server, &clone, "%").await,
        grants_as_on(server, &user, &clone, "%").await
    );
}

async fn pending_user_or_host_mismatch_is_user_mismatch_before_any_connection<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_mismatch");
    let (_, arn) = alternating_user::<E>(&user, "%", false, None).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let cases = [
        (json!(user), json!(current["host"])),
        (json!("dsr_admin"), json!(current["host"])),
        (json!(format!("{user}_clone")), json!("127.0.0.1")),
    ];
    for (username, host) in cases {
        let token = start_with_tampered_pending(&arn, &current, &username, &host).await;
        let run = step(&arn, &token, "setSecret", alt(server));
        let evidence = run.expect_failure("user_mismatch", &["expected_user", "found_user"]);
        assert_eq!(evidence["expected_user"], format!("{user}_clone").as_str());
        assert_eq!(evidence["found_user"], username);
        assert_eq!(evidence["found_host"], host);
        assert!(
            run.named("db_connected").is_empty(),
            "no connection before the check:\n{}",
            run.stdout
        );
        remove_pending(&arn, &token).await;
    }
    assert!(hosts_on(server, &format!("{user}_clone")).await.is_empty());
}

/// A user and an alternating secret whose master has only `privileges` (and may read
/// mysql.user). Returns (master name, secret ARN).
async fn user_with_master(server: Server, tag: &str, privileges: &str) -> (String, String, String) {
    let user = short_unique(tag);
    let pw = password("orig");
    create_user_on(server, &user, "%", &pw, false).await;
    let (master, master_arn) = master_on(server, privileges, "").await;
    let mut secret = secret_on(server, &user, &pw);
    secret["masterarn"] = json!(master_arn);
    (user, master, create_secret(&secret).await)
}

async fn master_without_create_user_is_db_permission_denied<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let (user, master, arn) = user_with_master(server, "ma_nocreate", "SELECT ON *.*").await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", alt(server)).status, 0);
    let run = step(&arn, &token, "setSecret", alt(server));
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "user"]);
    assert_eq!(evidence["statement_kind"], "create_user");
    assert_eq!(evidence["user"], master.as_str());
    assert_eq!(evidence["secret"], "master");
    assert_eq!(evidence["code"], 1227);
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("CREATE USER"));
    assert!(hosts_on(server, &format!("{user}_clone")).await.is_empty());
}

async fn master_without_grant_option_is_db_permission_denied_on_grant<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let (user, master, arn) =
        user_with_master(server, "ma_nogrant", "SELECT, CREATE USER ON *.*").await;
    let db = database(server).await;
    do_on(
        server,
        &[format!(
            "GRANT INSERT ON {}.* TO {}",
            ident(&db),
            account(&user, "%")
        )],
    )
    .await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", alt(server)).status, 0);
    let run = step(&arn, &token, "setSecret", alt(server));
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "user"]);
    assert_eq!(evidence["statement_kind"], "grant", "{}", run.stdout);
    assert_eq!(evidence["user"], master.as_str());
    assert_eq!(evidence["account_user"], format!("{user}_clone").as_str());
}

async fn every_step_twice_is_idempotent<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_twice");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<E>(&user, "%", true, Some(true)).await;
    grant_select_with_grant_option(server, &user).await;
    let token = start_rotation(&arn).await;
    let twice = |st: &str| -> (Run, Run) {
        (
            step(&arn, &token, st, alt(server)),
            step(&arn, &token, st, alt(server)),
        )
    };
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
    let auth = auth_string_on(server, &clone, "%").await;
    let grants = grants_on(server, &clone, "%").await;
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
    assert_eq!(auth_string_on(server, &clone, "%").await, auth);
    assert_eq!(grants_on(server, &clone, "%").await, grants);
    login_on(server, &clone, &password_of(&pending), true)
        .await
        .unwrap();
}

async fn two_set_secrets_at_once_both_succeed<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_race");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user::<E>(&user, "%", false, None).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", alt(server)).status, 0);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| step(&arn, &token, "setSecret", alt(server))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    }
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    login_on(server, &clone, &password_of(&pending), true)
        .await
        .unwrap();
}

async fn diagnose_checks_the_master_may_manage_users<E: MysqlFamily>() {
    let server = E::SERVER;
    let _shared = shared(server).await;
    let user = short_unique("ma_diag");
    let pw = password("orig");
    create_user_on(server, &user, "%", &pw, false).await;
    for (privileges, with, ok) in [
        ("ALL PRIVILEGES ON *.*", "WITH GRANT OPTION", true),
        ("SELECT, CREATE USER ON *.*", "WITH GRANT OPTION", true),
        ("SELECT, CREATE USER ON *.*", "", false),
        ("SELECT ON *.*", "WITH GRANT OPTION", false),
    ] {
        let (master, master_arn) = master_on(server, privileges, with).await;
        let mut secret = secret_on(server, &user, &pw);
        secret["masterarn"] = json!(master_arn);
        let arn = create_secret(&secret).await;
        let (_, report) = diagnose_json(&arn, alt(server));
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

// ---------------------------------------------------------------- MariaDB's own behaviours

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

async fn username_character_limit_is_16_for_mysql_and_80_for_mariadb() {
    let _shared = shared(MARIA).await;
    let (_, master_arn) = full_master(MARIA).await;
    let secret_for = |engine: &str, user: &str, pw: &str| {
        let mut s = secret_on(MARIA, user, pw);
        s["engine"] = json!(engine);
        s["masterarn"] = json!(master_arn);
        s
    };
    // engine mysql: a 12-character name + _clone = 18 > 16.
    let user = name_of_length(12);
    let pw = password("limit");
    create_user_on(MARIA, &user, "%", &pw, false).await;
    let arn = create_secret(&secret_for("mysql", &user, &pw)).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", alt(MARIA));
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
    login_on(
        MARIA,
        &format!("{user}_clone"),
        &password_of(&current),
        true,
    )
    .await
    .unwrap();

    // engine mariadb: 80 characters, whatever USERNAME_CHARACTER_LIMIT says.
    let fits = secret_for("mariadb", &name_of_length(74), &pw);
    let arn = create_secret(&fits).await;
    let token = start_rotation(&arn).await;
    assert_eq!(
        step(&arn, &token, "createSecret", alt(MARIA)).outcome(),
        "pending_created"
    );
    let too_long = secret_for("mariadb", &name_of_length(75), &pw);
    let arn = create_secret(&too_long).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", alt(MARIA));
    assert_eq!(
        run.expect_failure("secret_json_invalid", &["key"])["limit"],
        80
    );
}

async fn mariadb_roles_and_default_roles_are_copied() {
    let _shared = shared(MARIA).await;
    let user = unique("dsr_myalt_role");
    let clone = format!("{user}_clone");
    let pw = password("orig");
    create_user_on(MARIA, &user, "%", &pw, false).await;
    let (master, master_arn) = full_master(MARIA).await;
    let mut secret = secret_on(MARIA, &user, &pw);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let db = database(MARIA).await;
    let role = unique("dsr_myalt_r");
    let orig = account(&user, "%");
    do_on(
        MARIA,
        &[
            format!("CREATE ROLE {}", ident(&role)),
            format!("GRANT SELECT ON {}.* TO {}", ident(&db), ident(&role)),
            format!("GRANT {} TO {orig} WITH ADMIN OPTION", ident(&role)),
            format!("SET DEFAULT ROLE {} FOR {orig}", ident(&role)),
        ],
    )
    .await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", alt(MARIA)).status, 0);

    // ALL PRIVILEGES WITH GRANT OPTION does not let the master grant a role it does not
    // administer: named, with the statement to fix it.
    let run = step(&arn, &token, "setSecret", alt(MARIA));
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "role"]);
    assert_eq!(evidence["statement_kind"], "grant");
    assert_eq!(evidence["role"], ident(&role).as_str());
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("WITH ADMIN OPTION"));

    do_on(
        MARIA,
        &[format!(
            "GRANT {} TO {} WITH ADMIN OPTION",
            ident(&role),
            account(&master, "%")
        )],
    )
    .await;
    for st in &STEPS[1..] {
        let run = step(&arn, &token, st, alt(MARIA));
        assert_eq!(run.status, 0, "{st}:\n{}", run.stdout);
    }
    let grants = grants_on(MARIA, &clone, "%").await;
    assert_eq!(grants, grants_as_on(MARIA, &user, &clone, "%").await);
    assert!(
        grants
            .iter()
            .any(|g| g.starts_with(&format!("SET DEFAULT ROLE {}", ident(&role)))),
        "{grants:?}"
    );
    let pw = password_of(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        query_as_on(MARIA, &clone, &pw, "SELECT CURRENT_ROLE()")
            .await
            .unwrap(),
        [role]
    );
    assert_eq!(
        query_as_on(
            MARIA,
            &clone,
            &pw,
            &format!("SELECT v FROM {}.t1", ident(&db))
        )
        .await
        .unwrap(),
        ["one"]
    );
}

crate::engine_tests! {
    locks: by_each_test,
    shared: [
        two_rotations_swap_to_clone_and_back_and_the_previous_user_keeps_working,
        hostile_username_on_a_require_ssl_account_gives_a_require_ssl_clone,
        an_account_for_127_0_0_1_gets_its_clone_for_127_0_0_1,
        every_host_part_of_the_original_gets_its_own_clone_account_and_grants,
        a_require_subject_with_quotes_and_backslashes_and_limits_are_copied_exactly,
        grants_given_to_or_taken_from_the_original_reach_the_clone_at_the_next_rotation,
        alternating_works_under_global_no_backslash_escapes_and_ansi_quotes,
        pending_user_or_host_mismatch_is_user_mismatch_before_any_connection,
        master_without_create_user_is_db_permission_denied,
        master_without_grant_option_is_db_permission_denied_on_grant,
        every_step_twice_is_idempotent,
        two_set_secrets_at_once_both_succeed,
        diagnose_checks_the_master_may_manage_users,
    ],
    mariadb: MariaDb [
        roles_and_the_default_role_of_the_original_are_copied = mariadb_roles_and_default_roles_are_copied,
        username_character_limit_is_16_for_mysql_and_80_for_mariadb = username_character_limit_is_16_for_mysql_and_80_for_mariadb,
    ],
    mysql: MySql [
        roles_and_the_default_role_of_the_original_are_copied = mysql_roles_and_default_roles_are_copied,
    ],
}
