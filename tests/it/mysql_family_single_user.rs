//! MariaDB 10.11 and Oracle MySQL 9 (engines mysql, aurora-mysql and mariadb), single user,
//! end to end on the real servers through the binary, with the same test names in the module
//! of each server (`mariadb::`, `mysql::`): TLS requirements, hostile names and passwords,
//! host parts, sql_mode, the general log, idempotence and a blocked password change. Each
//! behaviour both servers share is one scenario taking the [`Server`]; where they differ
//! (the plugin, how the password is changed, what the general log shows, which lock blocks
//! the change and which error cancels it), [`Facts`] says so. Then each server's own: on
//! MariaDB an ed25519 account and MYSQL_DUAL_PASSWORD's refusal; on MySQL
//! caching_sha2_password with and without TLS, PASSWORD REQUIRE CURRENT,
//! require_secure_transport, the validate_password component, super_read_only,
//! max_connections, host parts, and dual passwords (MYSQL_DUAL_PASSWORD). The login causes
//! both share with PostgreSQL are in tests/it/causes_db.rs.
//!
//! Tests that change a server's GLOBAL state (sql_mode, require_secure_transport,
//! validate_password, super_read_only, max_connections, a table lock) take that server's
//! [`lock`] for writing; every other test of the server takes it for reading, so none of them
//! runs while the server is changed.

use crate::common::engine::{MariaDb, MySql, MysqlFamily};
use crate::common::mysql::*;
use crate::common::*;
use serde_json::{json, Value};

const MY: Server = Server::MySql;

/// What the two servers do differently in the scenarios they share.
struct Facts {
    /// The plugin a new account gets, as `db_connected` names it.
    auth: &'static str,
    /// How the function changes the password, as `password_changed` names it: MariaDB takes
    /// the hash the function computes, MySQL 8+ hashes a plaintext `ALTER USER` itself.
    change_method: &'static str,
    /// The table a lock must hold to block a password change while logins go on (MySQL: a
    /// WRITE lock blocks logins too, so READ, which still blocks ALTER USER).
    blocking_lock: &'static str,
    /// The server's error when it cancels the blocked statement itself, from the budget the
    /// function sets: MariaDB's max_statement_time (1969), MySQL's lock_wait_timeout (1205).
    cancelled_code: u16,
}

fn facts(db: Server) -> Facts {
    match db {
        Server::MariaDb => Facts {
            auth: "mysql_native_password",
            change_method: "mysql_native_password hash",
            blocking_lock: "LOCK TABLES mysql.global_priv WRITE",
            cancelled_code: 1969,
        },
        Server::MySql => Facts {
            auth: "caching_sha2_password",
            change_method: "alter user",
            blocking_lock: "LOCK TABLES mysql.user READ",
            cancelled_code: 1205,
        },
    }
}

/// The general log's line for the function's password change of `user@host`, up to where
/// the password would be: MariaDB logs `SET PASSWORD … = '*…'` (the hash), MySQL rewrites the
/// passwords out of `ALTER USER … IDENTIFIED BY <secret>`.
fn logged_change(db: Server, user: &str, host: &str) -> String {
    match db {
        Server::MariaDb => format!("SET PASSWORD FOR `{user}`@`{host}` = '*"),
        Server::MySql => format!("ALTER USER '{user}'@'{host}' IDENTIFIED BY <secret>"),
    }
}

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

/// A user on `db` with the password "old" and a secret for it, rotation started and
/// createSecret run: gives (user, old password, secret ARN, token).
async fn ready_for_set_secret(db: Server, prefix: &str) -> (String, String, String, String) {
    let user = short_unique(prefix);
    let old = password("old");
    create_user_on(db, &user, "%", &old, false).await;
    let arn = create_secret(&secret_on(db, &user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);
    (user, old, arn, token)
}

async fn require_ssl_account_with_ssl_true_rotates_fully_twice<E: MysqlFamily>() {
    let db = E::SERVER;
    let _shared = shared(db).await;
    let user = short_unique("my_tls");
    let first = password("old");
    create_user_on(db, &user, "%", &first, true).await;
    // The plaintext door is really closed for this account, and TLS opens.
    let refused = login_on(db, &user, &first, false).await.unwrap_err();
    assert_eq!(server_code(&refused), Some(1045));
    assert_eq!(
        login_on(db, &user, &first, true).await.unwrap(),
        format!("{user}@%")
    );

    let mut secret = secret_on(db, &user, &first);
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
                assert_eq!(connected[0]["auth"], facts(db).auth);
            }
            if st == "setSecret" {
                let changed = run.named("password_changed");
                assert_eq!(changed.len(), 1, "{}", run.stdout);
                assert_eq!(changed[0]["method"], facts(db).change_method);
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

        login_on(db, &user, &new, true)
            .await
            .expect("the new password logs in");
        let refused = login_on(db, &user, &old, true).await.unwrap_err();
        assert_eq!(server_code(&refused), Some(1045), "the old one does not");
        expected_current = current;
    }

    // The general log is on and saw the password change, but never a password (MySQL
    // rewrites both, the new one and the REPLACE one, out of its log).
    let log = general_log_on(db);
    let mut change = logged_change(db, &user, "%");
    if db == Server::MySql {
        change.push_str(" REPLACE <secret>");
    }
    assert!(
        log.contains(&change),
        "general_log must be on for this test to mean anything"
    );
    assert!(!log.contains(&new_password(&expected_current)));
    assert!(!log.contains(&first));
}

async fn hostile_user_name_and_password_rotate<E: MysqlFamily>() {
    let db = E::SERVER;
    let _shared = shared(db).await;
    // Quote, upper case, `%`, backslash, backtick.
    let user = format!("O'Br%\\N`Ée_{}", short_unique("x"));
    let old = hostile_password("hostile");
    create_user_on(db, &user, "%", &old, false).await;
    login_on(db, &user, &old, true)
        .await
        .expect("fixture logs in");

    let arn = create_secret(&secret_on(db, &user, &old)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);

    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let new = new_password(&current);
    assert_eq!(current["username"], user.as_str());
    login_on(db, &user, &new, true)
        .await
        .expect("the new password logs in");
    assert!(login_on(db, &user, &old, true).await.is_err());
    let log = general_log_on(db);
    assert!(!log.contains(&new) && !log.contains(&old));
}

async fn the_account_logged_in_is_rotated_not_the_percent_account<E: MysqlFamily>() {
    let db = E::SERVER;
    let _shared = shared(db).await;
    let user = short_unique("my_host");
    let local = password("local");
    let anywhere = password("anywhere");
    // With skip-name-resolve, TCP from 127.0.0.1 matches the more specific account.
    create_user_on(db, &user, "127.0.0.1", &local, false).await;
    create_user_on(db, &user, "%", &anywhere, false).await;
    assert_eq!(
        login_on(db, &user, &local, true).await.unwrap(),
        format!("{user}@127.0.0.1")
    );
    let percent_before = auth_string_on(db, &user, "%").await;
    let local_before = auth_string_on(db, &user, "127.0.0.1").await;

    let arn = create_secret(&secret_on(db, &user, &local)).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);

    let new = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    assert_eq!(
        login_on(db, &user, &new, true).await.unwrap(),
        format!("{user}@127.0.0.1")
    );
    assert_ne!(auth_string_on(db, &user, "127.0.0.1").await, local_before);
    assert_eq!(
        auth_string_on(db, &user, "%").await,
        percent_before,
        "the '%' account is not touched"
    );
    assert!(general_log_on(db).contains(&logged_change(db, &user, "127.0.0.1")));
}

async fn rotation_works_under_global_no_backslash_escapes<E: MysqlFamily>() {
    let db = E::SERVER;
    let _exclusive = exclusive(db).await;
    let user = format!("Nb\\'%_{}", short_unique("U"));
    let old = hostile_password("nbe");
    create_user_on(db, &user, "%", &old, false).await;
    let arn = create_secret(&secret_on(db, &user, &old)).await;
    let token = start_rotation(&arn).await;

    let previous_mode =
        set_global_sql_mode_on(db, "NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES").await;
    // Restore the mode whatever happens, then report.
    let result = std::panic::catch_unwind(|| rotate_all(&arn, &token, &[]));
    set_global_sql_mode_on(db, &previous_mode).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(!previous_mode.contains("NO_BACKSLASH_ESCAPES"));

    let new = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    login_on(db, &user, &new, true)
        .await
        .expect("the new password logs in");
    assert!(login_on(db, &user, &old, true).await.is_err());
}

async fn every_step_twice_ends_in_the_same_state<E: MysqlFamily>() {
    let db = E::SERVER;
    let _shared = shared(db).await;
    let user = short_unique("my_twice");
    let old = password("old");
    create_user_on(db, &user, "%", &old, false).await;
    let arn = create_secret(&secret_on(db, &user, &old)).await;
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
    login_on(db, &user, &new_password(&current), true)
        .await
        .unwrap();
}

async fn engines_mysql_aurora_mysql_and_mariadb_all_work<E: MysqlFamily>() {
    let db = E::SERVER;
    let _shared = shared(db).await;
    for engine in ["mysql", "aurora-mysql", "mariadb"] {
        let user = short_unique("my_engine");
        let old = password("old");
        create_user_on(db, &user, "%", &old, false).await;
        let mut secret = secret_on(db, &user, &old);
        secret["engine"] = json!(engine);
        let arn = create_secret(&secret).await;
        let run = run_bin(&["rotate", "--secret-id", &arn], &[]);
        assert_eq!(run.status, 0, "{engine}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.named("password_changed")[0]["method"],
            facts(db).change_method,
            "{engine}: the server, not the engine key, decides the statement"
        );
        let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
        assert_eq!(current["engine"], engine);
        login_on(db, &user, &new_password(&current), true)
            .await
            .unwrap();
    }
}

async fn a_blocked_password_change_ends_before_the_deadline<E: MysqlFamily>() {
    let db = E::SERVER;
    // Holds a lock on the server's account table: no other test of this server may run.
    let _exclusive = exclusive(db).await;
    let (user, old, arn, token) = ready_for_set_secret(db, "my_lock").await;

    let mut locker = admin_on(db).await;
    locker.query_drop_ok(facts(db).blocking_lock).await;
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
    // The server cancelled the statement itself (from the budget the function set).
    assert_eq!(evidence["code"], facts(db).cancelled_code, "{}", run.stdout);
    assert!(
        evidence["remaining_ms"].as_u64().unwrap() > 0,
        "{}",
        run.stdout
    );
    login_on(db, &user, &old, true)
        .await
        .expect("the password did not change");
}

async fn identified_by_literals_mean_the_same_under_any_session_sql_mode<E: MysqlFamily>() {
    let db = E::SERVER;
    use db_secret_rotator::db::mysql::sql::{quote_literal, session_settings, Account};
    use db_secret_rotator::db::mysql::version::parse_version;
    let _shared = shared(db).await;
    // The MySQL 8+ statement form (ALTER USER … IDENTIFIED BY '…'), run by the admin: a
    // password ending in a backslash breaks any literal that relies on the mode.
    for start_mode in ["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,PIPES_AS_CONCAT"] {
        let user = short_unique("my_lit");
        let first = password("first");
        create_user_on(db, &user, "%", &first, false).await;
        let new = format!("{}\\", hostile_password("lit"));
        record_secret(&new);

        let mut admin = admin_on(db).await;
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
        login_on(db, &user, &new, true)
            .await
            .unwrap_or_else(|e| panic!("{start_mode:?}: {e}"));
    }
}

// ---------------------------------------------------------------- MariaDB's own behaviours

async fn ed25519_account_is_db_auth_method_unsupported() {
    let _shared = shared(Server::MariaDb).await;
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

async fn dual_password_is_refused_before_anything_changes() {
    let _shared = shared(Server::MariaDb).await;
    let user = short_unique("my_dualmaria");
    let old = password("old");
    maria_create_user(&user, "%", &old, false).await;
    let before = maria_auth_string(&user, "%").await;
    let arn = create_secret(&maria_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", DUAL);
    let run = step(&arn, &token, "setSecret", DUAL);
    let evidence = run.expect_failure("db_auth_method_unsupported", &["setting", "server_version"]);
    assert_eq!(evidence["setting"], "MYSQL_DUAL_PASSWORD");
    assert!(evidence["server_version"]
        .as_str()
        .unwrap()
        .starts_with("MariaDB"));
    assert!(run.failure()["remedy"].as_str().unwrap().contains("8.0.14"));
    assert!(run.named("password_changed").is_empty());
    assert_eq!(
        maria_auth_string(&user, "%").await,
        before,
        "nothing changed"
    );
    // With alternating users the setting is refused as configuration.
    let run = step(
        &arn,
        &token,
        "setSecret",
        &[
            ("MYSQL_DUAL_PASSWORD", "true"),
            ("ROTATION_STRATEGY", "alternating_users"),
        ],
    );
    let evidence = run.expect_failure("internal_error", &["setting"]);
    assert_eq!(evidence["setting"], "MYSQL_DUAL_PASSWORD");
}

// ---------------------------------------------------------------- MySQL's own behaviours

/// Runs `f` (a blocking rotation through the binary) with a GLOBAL setting changed, restoring
/// it whatever happens. `set` and `reset` are statements for the admin session.
async fn with_global<T>(set: &[String], reset: &[String], f: impl FnOnce() -> T) -> T {
    do_on(MY, set).await;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    do_on(MY, reset).await;
    result.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

async fn caching_sha2_password_first_login_without_tls_performs_the_rsa_key_exchange() {
    let _shared = shared(MY).await;
    let user = short_unique("my_rsa");
    let old = password("old");
    // A fresh account: the server has no cached hash, so a plaintext login needs the full
    // caching_sha2_password exchange (the password RSA-encrypted with the server's key);
    // MySQL's own client fails here with error 2061 unless told to fetch the key.
    create_user_on(MY, &user, "%", &old, false).await;
    let mut secret = secret_on(MY, &user, &old);
    secret["ssl"] = json!(false);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    for st in STEPS {
        let run = step(&arn, &token, st, &[]);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        if st == "setSecret" || st == "testSecret" {
            let connected = run.named("db_connected");
            assert_eq!(connected[0]["tls"], "none", "{}", run.stdout);
            assert_eq!(connected[0]["auth"], "caching_sha2_password");
        }
    }
    // The new password was never used before either: its first login is plaintext too.
    let new = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    login_on(MY, &user, &new, false)
        .await
        .expect("the new password logs in without TLS");
    assert!(login_on(MY, &user, &old, true).await.is_err());
}

async fn password_require_current_account_rotates_with_replace() {
    let _shared = shared(MY).await;
    let user = short_unique("my_reqcur");
    let old = password("old");
    create_user_on(MY, &user, "%", &old, false).await;
    do_on(
        MY,
        &[format!(
            "ALTER USER {} PASSWORD REQUIRE CURRENT",
            account(&user, "%")
        )],
    )
    .await;
    let arn = create_secret(&secret_on(MY, &user, &old)).await;
    for _ in 0..2 {
        let token = start_rotation(&arn).await;
        rotate_all(&arn, &token, &[]);
    }
    let current = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
    let previous = new_password(&value_at(&arn, "AWSPREVIOUS", None).await.unwrap());
    login_on(MY, &user, &current, true).await.unwrap();
    assert!(login_on(MY, &user, &previous, true).await.is_err());
    assert!(login_on(MY, &user, &old, true).await.is_err());
    // Without REPLACE the server refuses this account's change (3892): the test can fail.
    let mut own = user_session(&user, &current).await;
    let err = mysql_async::prelude::Queryable::query_drop(
        &mut own,
        format!(
            "ALTER USER CURRENT_USER() IDENTIFIED BY {}",
            lit(&password("x"))
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(server_code(&err), Some(3892));
}

/// A session as `user` over verified TLS.
async fn user_session(user: &str, pw: &str) -> mysql_async::Conn {
    let pem = std::fs::read(&services().ca_file).unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .tcp_port(MY.port())
        .user(Some(user))
        .pass(Some(pw))
        .prefer_socket(false)
        .ssl_opts(mysql_async::SslOpts::default().with_root_certs(vec![pem.into()]));
    mysql_async::Conn::new(opts).await.unwrap()
}

async fn require_secure_transport_is_db_tls_required() {
    let _exclusive = exclusive(MY).await;
    let user = short_unique("my_rst");
    let old = password("old");
    create_user_on(MY, &user, "%", &old, false).await;
    let mut secret = secret_on(MY, &user, &old);
    secret["ssl"] = json!(false);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);
    let run = with_global(
        &["SET GLOBAL require_secure_transport = ON".into()],
        &["SET GLOBAL require_secure_transport = OFF".into()],
        || step(&arn, &token, "setSecret", &[]),
    )
    .await;
    let evidence = run.expect_failure("db_tls_required", &["host", "tls_mode_used"]);
    assert_eq!(evidence["code"], 3159, "{}", run.stdout);
    assert_eq!(evidence["tls_mode_used"], "none");
    login_on(MY, &user, &old, true)
        .await
        .expect("nothing changed");
}

async fn validate_password_component_is_db_password_rejected() {
    let _exclusive = exclusive(MY).await;
    let (user, old, arn, token) = ready_for_set_secret(MY, "my_policy").await;
    // The generated password has 32 characters; the policy wants 64.
    let run = with_global(
        &[
            "INSTALL COMPONENT 'file://component_validate_password'".into(),
            "SET GLOBAL validate_password.length = 64".into(),
        ],
        &["UNINSTALL COMPONENT 'file://component_validate_password'".into()],
        || step(&arn, &token, "setSecret", &[]),
    )
    .await;
    let evidence = run.expect_failure("db_password_rejected", &["code"]);
    assert_eq!(evidence["code"], 1819, "{}", run.stdout);
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("PASSWORD_LENGTH"));
    login_on(MY, &user, &old, true)
        .await
        .expect("nothing changed");
}

async fn super_read_only_is_db_read_only() {
    let _exclusive = exclusive(MY).await;
    let (user, old, arn, token) = ready_for_set_secret(MY, "my_ro").await;
    let run = with_global(
        &["SET GLOBAL super_read_only = ON".into()],
        &["SET GLOBAL super_read_only = OFF, GLOBAL read_only = OFF".into()],
        || step(&arn, &token, "setSecret", &[]),
    )
    .await;
    let evidence = run.expect_failure("db_read_only", &["host", "code"]);
    assert!(
        [1290, 1836].contains(&evidence["code"].as_u64().unwrap()),
        "{}",
        run.stdout
    );
    login_on(MY, &user, &old, true)
        .await
        .expect("nothing changed");
}

async fn max_connections_is_retried_then_db_unavailable() {
    let _exclusive = exclusive(MY).await;
    let user = short_unique("my_full");
    let old = password("old");
    create_user_on(MY, &user, "%", &old, false).await;
    let filler = short_unique("my_filler");
    let filler_pw = password("filler");
    create_user_on(MY, &filler, "%", &filler_pw, false).await;
    let arn = create_secret(&secret_on(MY, &user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", &[]);

    // This admin session stays open: it restores the limit while the server is full.
    let mut admin = admin_on(MY).await;
    let limit: u64 =
        mysql_async::prelude::Queryable::query_first(&mut admin, "SELECT @@GLOBAL.max_connections")
            .await
            .unwrap()
            .unwrap();
    admin.query_drop_ok("SET GLOBAL max_connections = 4").await;
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..10 {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(MY.port())
            .user(Some(filler.as_str()))
            .pass(Some(filler_pw.as_str()))
            .prefer_socket(false)
            .ssl_opts(
                mysql_async::SslOpts::default()
                    .with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true),
            );
        match mysql_async::Conn::new(opts).await {
            Ok(c) => fillers.push(c),
            Err(e) => {
                assert_eq!(server_code(&e), Some(1040), "{e}");
                full = true;
                break;
            }
        }
    }
    let result = std::panic::catch_unwind(|| step(&arn, &token, "setSecret", &[]));
    drop(fillers);
    admin
        .query_drop_ok(&format!("SET GLOBAL max_connections = {limit}"))
        .await;
    let run = result.unwrap_or_else(|p| std::panic::resume_unwind(p));
    assert!(full, "the fixture filled the server");
    let evidence = run.expect_failure("db_unavailable", &["host", "code"]);
    assert_eq!(evidence["code"], 1040, "{}", run.stdout);
    assert!(
        evidence["tries"].as_u64().unwrap() > 1,
        "retried before giving up: {}",
        run.stdout
    );
    // Once the server has room again the same step succeeds.
    assert_eq!(
        step(&arn, &token, "setSecret", &[]).outcome(),
        "password_set"
    );
}

async fn host_part_that_does_not_match_is_named_as_mysql_answers_it() {
    let _shared = shared(MY).await;
    // Only an account for another address. MySQL sends 1130 (db_access_rule_missing, pinned
    // by the unit test) only when no account at all admits the client's address; with any
    // '%' account on the server (as here, and on RDS) it hides the user instead: a decoy
    // exchange with a plugin picked from the user name, then 1045.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let user = short_unique("my_hostpart");
        let old = password("old");
        create_user_on(MY, &user, "10.9.8.7", &old, false).await;
        let arn = create_secret(&secret_on(MY, &user, &old)).await;
        let token = start_rotation(&arn).await;
        step(&arn, &token, "createSecret", &[]);
        let run = step(&arn, &token, "setSecret", &[]);
        let cause = run.cause();
        match cause.as_str() {
            "db_login_failed" => {
                let evidence = run.expect_failure("db_login_failed", &["attempts"]);
                assert_eq!(evidence["attempts"][0]["code"], 1045, "{}", run.stdout);
            }
            "db_auth_method_unsupported" => {
                let evidence = run.expect_failure("db_auth_method_unsupported", &["method"]);
                assert_eq!(evidence["method"], "sha256_password");
                assert!(
                    run.failure()["remedy"]
                        .as_str()
                        .unwrap()
                        .contains("host parts"),
                    "{}",
                    run.stdout
                );
            }
            other => panic!("{other}:\n{}", run.stdout),
        }
        seen.insert(cause);
    }
    println!("causes seen: {seen:?}");
}

// ---------------------------------------------------------------- dual passwords

const DUAL: &[(&str, &str)] = &[("MYSQL_DUAL_PASSWORD", "true")];

/// A user that may keep a secondary password, and its secret. Returns (password, ARN).
async fn dual_user(tag: &str) -> (String, String, String) {
    let user = short_unique(tag);
    let old = password("old");
    create_user_on(MY, &user, "%", &old, true).await;
    do_on(
        MY,
        &[format!(
            "GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO {}",
            account(&user, "%")
        )],
    )
    .await;
    let mut secret = secret_on(MY, &user, &old);
    secret["ssl"] = json!(true);
    (user, old, create_secret(&secret).await)
}

async fn logs_in(user: &str, pw: &str) -> bool {
    login_on(MY, user, pw, true).await.is_ok()
}

async fn dual_password_keeps_awscurrent_logging_in_through_the_rotation_and_after_it() {
    let _shared = shared(MY).await;
    let (user, first, arn) = dual_user("my_dual").await;
    let mut history = vec![first.clone()];
    for round in 0..3 {
        let current = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
        let token = start_rotation(&arn).await;
        for st in STEPS {
            let run = step(&arn, &token, st, DUAL);
            assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
            if st == "setSecret" {
                let changed = run.named("password_changed");
                assert_eq!(changed[0]["method"], "alter user retain current password");
                // Between setSecret and finishSecret the application's password still works.
                let pending =
                    new_password(&value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap());
                assert!(
                    logs_in(&user, &current).await,
                    "round {round}: AWSCURRENT during"
                );
                assert!(
                    logs_in(&user, &pending).await,
                    "round {round}: AWSPENDING during"
                );
            }
        }
        let now = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());
        let previous = new_password(&value_at(&arn, "AWSPREVIOUS", None).await.unwrap());
        assert_eq!(previous, current, "the secondary password is AWSPREVIOUS");
        assert!(
            logs_in(&user, &now).await,
            "round {round}: AWSCURRENT after"
        );
        assert!(
            logs_in(&user, &previous).await,
            "round {round}: AWSPREVIOUS after"
        );
        // Only the two newest: every older password was discarded by this rotation.
        for old in &history[..history.len() - 1] {
            assert!(
                !logs_in(&user, old).await,
                "round {round}: an older password still logs in"
            );
        }
        history.push(now);
    }
    assert!(general_log_on(MY).contains(&format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY <secret> REPLACE <secret> RETAIN CURRENT PASSWORD"
    )));
}

async fn dual_password_retried_steps_never_lose_awscurrent() {
    let _shared = shared(MY).await;
    let (user, first, arn) = dual_user("my_dualre").await;
    // One rotation first, so the account has a secondary password (AWSPREVIOUS) too.
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, DUAL);
    let current = new_password(&value_at(&arn, "AWSCURRENT", None).await.unwrap());

    let token = start_rotation(&arn).await;
    assert_eq!(
        step(&arn, &token, "createSecret", DUAL).outcome(),
        "pending_created"
    );
    assert_eq!(
        step(&arn, &token, "setSecret", DUAL).outcome(),
        "password_set"
    );
    // The retry logs in with AWSCURRENT (now the secondary password); the REPLACE check
    // refuses to change again, and AWSPENDING is found in place.
    let again = step(&arn, &token, "setSecret", DUAL);
    assert_eq!(again.outcome(), "already_set", "{}", again.stdout);
    assert!(again.named("password_changed").is_empty());
    let pending = new_password(&value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap());
    assert!(logs_in(&user, &current).await, "AWSCURRENT kept");
    assert!(logs_in(&user, &pending).await);
    assert!(!logs_in(&user, &first).await, "the oldest was discarded");
    for st in ["testSecret", "testSecret", "finishSecret", "finishSecret"] {
        assert_eq!(step(&arn, &token, st, DUAL).status, 0, "{st}");
    }
    assert!(logs_in(&user, &current).await, "AWSPREVIOUS still logs in");
    assert!(logs_in(&user, &pending).await, "AWSCURRENT logs in");
}

async fn dual_password_without_application_password_admin_is_db_permission_denied() {
    let _shared = shared(MY).await;
    let user = short_unique("my_dualpriv");
    let old = password("old");
    create_user_on(MY, &user, "%", &old, false).await;
    let arn = create_secret(&secret_on(MY, &user, &old)).await;
    let token = start_rotation(&arn).await;
    step(&arn, &token, "createSecret", DUAL);
    let run = step(&arn, &token, "setSecret", DUAL);
    let evidence = run.expect_failure("db_permission_denied", &["statement_kind", "privilege"]);
    assert_eq!(evidence["code"], 1227);
    assert_eq!(evidence["privilege"], "APPLICATION_PASSWORD_ADMIN");
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO"));
    assert!(logs_in(&user, &old).await, "nothing changed");
}

async fn diagnose_says_whether_the_account_has_a_secondary_password() {
    let _shared = shared(MY).await;
    let (user, _, arn) = dual_user("my_dualdiag").await;
    // The account may read its own row of mysql.user, so the answer is exact.
    do_on(
        MY,
        &[format!(
            "GRANT SELECT ON mysql.user TO {}",
            account(&user, "%")
        )],
    )
    .await;
    let check = |env: &[(&str, &str)]| -> Value {
        let (_, report) = diagnose_json(&arn, env);
        report_check(&report, "mysql_secondary_password").clone()
    };
    let before = check(DUAL);
    assert_eq!(before["ok"], true, "{before}");
    assert!(
        before["detail"]
            .as_str()
            .unwrap()
            .contains("no secondary password"),
        "{before}"
    );
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, DUAL);
    let after = check(DUAL);
    assert_eq!(after["ok"], true, "{after}");
    assert!(
        after["detail"]
            .as_str()
            .unwrap()
            .contains("has a secondary password"),
        "{after}"
    );
    // Without the privilege, MYSQL_DUAL_PASSWORD would fail: diagnose says so first.
    do_on(
        MY,
        &[format!(
            "REVOKE APPLICATION_PASSWORD_ADMIN ON *.* FROM {}",
            account(&user, "%")
        )],
    )
    .await;
    let denied = check(DUAL);
    assert_eq!(denied["ok"], false, "{denied}");
    assert_eq!(denied["cause"], "db_permission_denied");
    assert!(denied["remedy"]
        .as_str()
        .unwrap()
        .contains("APPLICATION_PASSWORD_ADMIN"));
    // Without the setting the same account is only described.
    assert_eq!(check(&[])["ok"], true);
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

crate::engine_tests! {
    locks: by_each_test,
    shared: [
        require_ssl_account_with_ssl_true_rotates_fully_twice,
        hostile_user_name_and_password_rotate,
        the_account_logged_in_is_rotated_not_the_percent_account,
        rotation_works_under_global_no_backslash_escapes,
        every_step_twice_ends_in_the_same_state,
        engines_mysql_aurora_mysql_and_mariadb_all_work,
        a_blocked_password_change_ends_before_the_deadline,
        identified_by_literals_mean_the_same_under_any_session_sql_mode,
    ],
    mariadb: MariaDb [
        ed25519_account_is_db_auth_method_unsupported,
        dual_password_is_refused_before_anything_changes,
    ],
    mysql: MySql [
        caching_sha2_password_first_login_without_tls_performs_the_rsa_key_exchange,
        password_require_current_account_rotates_with_replace,
        require_secure_transport_is_db_tls_required,
        validate_password_component_is_db_password_rejected,
        super_read_only_is_db_read_only,
        max_connections_is_retried_then_db_unavailable,
        host_part_that_does_not_match_is_named_as_mysql_answers_it,
        dual_password_keeps_awscurrent_logging_in_through_the_rotation_and_after_it,
        dual_password_retried_steps_never_lose_awscurrent,
        dual_password_without_application_password_admin_is_db_permission_denied,
        diagnose_says_whether_the_account_has_a_secondary_password,
    ],
}
