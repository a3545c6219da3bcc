//! PostgreSQL, alternating users, end to end on the real services through the binary
//! (`ROTATION_STRATEGY=alternating_users`): the pair swaps, the previous user keeps working
//! until the next rotation, ownership does not drift, and each refusal has its cause.

use crate::common::engine::{alternating_secret, Engine, Postgres};
use crate::common::*;
use serde_json::{json, Value};

const ALT: &[(&str, &str)] = Postgres::ALT;

/// A master user (CREATEROLE unless told otherwise, never superuser) and its secret.
async fn master(createrole: bool) -> (String, String) {
    let (name, pw) = pg_master(createrole).await;
    let arn = create_secret(&pg_secret(&name, &pw)).await;
    (name, arn)
}

/// A user (in these groups), its master, and an alternating-users secret for it; returns
/// (password, arn).
async fn alternating_user(user: &str, groups: &[&str], ssl: Option<bool>) -> (String, String) {
    let pw = password("orig");
    pg_create_user(services().pg_port, user, &pw, groups).await;
    let arn = alternating_secret::<Postgres>(user, &pw, ssl).await;
    (pw, arn)
}

/// A TLS session to `localhost` as `user`, for statements the clone runs itself.
async fn session(user: &str, pw: &str) -> tokio_postgres::Client {
    let pem = std::fs::read(&services().ca_file).unwrap();
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let (client, conn) = tokio_postgres::Config::new()
        .host("localhost")
        .port(services().pg_port)
        .user(user)
        .password(pw)
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Require)
        .connect(postgres_native_tls::MakeTlsConnector::new(tls))
        .await
        .expect("login");
    tokio::spawn(conn);
    client
}

async fn is_member(member: &str, role: &str) -> bool {
    pg_admin()
        .await
        .query_one(
            "SELECT pg_has_role($1, $2, 'MEMBER') AND EXISTS (SELECT 1 FROM pg_auth_members m \
             JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
             WHERE r.rolname = $2 AND u.rolname = $1)",
            &[&member, &role],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn two_rotations_swap_to_clone_and_back_and_the_previous_user_keeps_working() {
    let s = services();
    let user = unique("dsr_alt_swap");
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user(&user, &[], None).await;
    let original_secret = value_at(&arn, "AWSCURRENT", None).await.unwrap();

    // First rotation: the clone is created and becomes current.
    let token = start_rotation(&arn).await;
    let mut outcomes = Vec::new();
    for st in STEPS {
        let run = step(&arn, &token, st, ALT);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.named("step_started")[0]["strategy"],
            "alternating_users"
        );
        if st == "setSecret" {
            let connected: Vec<_> = run
                .named("db_connected")
                .iter()
                .map(|e| {
                    (
                        e["secret"].as_str().unwrap().to_string(),
                        e["user"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert!(connected.contains(&("current".into(), user.clone())));
            assert!(
                connected.iter().any(|(s, _)| s == "master"),
                "{connected:?}"
            );
            let changed = run.named("password_changed");
            assert_eq!(changed.len(), 1, "{}", run.stdout);
            assert_eq!(changed[0]["user"], clone.as_str());
            assert_eq!(changed[0]["method"], "scram-sha-256 verifier");
        }
        outcomes.push(run.outcome());
    }
    assert_eq!(
        outcomes,
        ["pending_created", "password_set", "login_ok", "promoted"]
    );
    let first = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(first["username"], clone.as_str());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&first),
        keys(&original_secret),
        "every key kept, in order"
    );
    for key in ["host", "port", "dbname", "masterarn", "note", "engine"] {
        assert_eq!(first[key], original_secret[key], "{key}");
    }
    let pw1 = password_of(&first);
    assert_eq!(
        value_at(&arn, "AWSPREVIOUS", None).await.unwrap(),
        original_secret
    );
    pg_login(s.pg_port, &clone, &pw1, true)
        .await
        .expect("the clone logs in with the new password");
    pg_login(s.pg_port, &user, &old, true)
        .await
        .expect("the original keeps its password until the next rotation");
    assert!(pg_rolpassword(s.pg_port, &clone)
        .await
        .starts_with("SCRAM-SHA-256$4096:"));
    assert!(is_member(&clone, &user).await);
    assert!(!is_member(&user, &clone).await);

    // Second rotation: back to the original, which gets a new password; the clone keeps its.
    let token2 = start_rotation(&arn).await;
    let mut outcomes = Vec::new();
    for st in STEPS {
        let run = step(&arn, &token2, st, ALT);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        if st == "setSecret" {
            let changed = run.named("password_changed");
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0]["user"], user.as_str());
        }
        outcomes.push(run.outcome());
    }
    assert_eq!(
        outcomes,
        ["pending_created", "password_set", "login_ok", "promoted"]
    );
    let second = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(second["username"], user.as_str());
    let pw2 = password_of(&second);
    assert_ne!(pw2, old);
    assert_ne!(pw2, pw1);
    assert_eq!(value_at(&arn, "AWSPREVIOUS", None).await.unwrap(), first);
    pg_login(s.pg_port, &user, &pw2, true).await.unwrap();
    assert!(
        pg_login(s.pg_port, &user, &old, true).await.is_err(),
        "the original's old password is gone"
    );
    pg_login(s.pg_port, &clone, &pw1, true)
        .await
        .expect("the clone keeps its password until the next rotation");
    assert!(
        !is_member(&user, &clone).await,
        "the original never becomes a member of the clone"
    );

    // The master's statements are in the log (log_statement = ddl), no password is.
    let log = std::fs::read_to_string(&s.pg_log).unwrap();
    assert!(log.contains(&format!("CREATE ROLE \"{clone}\" LOGIN")));
    for pw in [&old, &pw1, &pw2] {
        assert!(!log.contains(pw.as_str()));
    }
}

#[tokio::test]
async fn hostile_username_on_a_tls_only_account_with_ssl_true_rotates() {
    let s = services();
    // A quote, upper case and % in the name; the account is in dsr_tls_only (hostssl only).
    let user = format!("Dsr\"Odd%{}", unique("U"));
    let clone = format!("{user}_clone");
    let (old, arn) = alternating_user(&user, &["dsr_tls_only"], Some(true)).await;
    let token = start_rotation(&arn).await;
    for st in STEPS {
        let run = step(&arn, &token, st, ALT);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        for e in run.named("db_connected") {
            assert_eq!(e["tls"], "verified", "{e}");
        }
    }
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());
    assert_eq!(current["ssl"], true);
    let pw = password_of(&current);
    pg_login(s.pg_port, &clone, &pw, true).await.unwrap();
    // The TLS requirement came along with the membership (pg_hba `+group` matches members).
    assert!(pg_login(s.pg_port, &clone, &pw, false).await.is_err());
    pg_login(s.pg_port, &user, &old, true).await.unwrap();
    let config: Option<Vec<String>> = pg_admin()
        .await
        .query_one(
            "SELECT rolconfig FROM pg_roles WHERE rolname = $1",
            &[&clone],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(config.unwrap(), [format!("role={user}")]);
}

#[tokio::test]
async fn a_table_created_by_the_clone_is_owned_by_the_original() {
    let user = unique("dsr_alt_owner");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, &[], None).await;
    let schema = unique("dsr_alt_schema");
    pg_admin()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {} AUTHORIZATION {}",
            pg_ident(&schema),
            pg_ident(&user)
        ))
        .await
        .unwrap();
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, ALT);
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());

    let as_clone = session(&clone, &password_of(&current)).await;
    let row = as_clone
        .query_one("SELECT session_user::text, current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), clone);
    assert_eq!(
        row.get::<_, String>(1),
        user,
        "the clone's session acts as the original"
    );
    as_clone
        .batch_execute(&format!(
            "CREATE TABLE {}.made_by_clone (a int)",
            pg_ident(&schema)
        ))
        .await
        .unwrap();
    let owner: String = pg_admin()
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'made_by_clone'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, user);
}

#[tokio::test]
async fn a_privilege_granted_to_the_original_after_the_first_rotation_is_usable_by_the_clone() {
    let user = unique("dsr_alt_grant");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, &[], None).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, ALT);
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], clone.as_str());

    let table = unique("dsr_alt_granted");
    let admin = pg_admin().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE public.{t} (v text); INSERT INTO public.{t} VALUES ('seen')",
            t = pg_ident(&table)
        ))
        .await
        .unwrap();
    let as_clone = session(&clone, &password_of(&current)).await;
    let select = format!("SELECT v FROM public.{}", pg_ident(&table));
    assert!(
        as_clone.query_one(&select, &[]).await.is_err(),
        "not granted yet: the test can fail"
    );
    admin
        .batch_execute(&format!(
            "GRANT SELECT ON public.{} TO {}",
            pg_ident(&table),
            pg_ident(&user)
        ))
        .await
        .unwrap();
    let row = as_clone.query_one(&select, &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "seen");
}

#[tokio::test]
async fn pending_user_or_host_mismatch_fails_before_any_connection() {
    let user = unique("dsr_alt_mismatch");
    let (_, arn) = alternating_user(&user, &[], None).await;
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    let cases = [
        // Not the alternate: the current user itself, and someone else entirely.
        (json!(user), json!(current["host"])),
        (json!("postgres"), json!(current["host"])),
        // The right user on another host.
        (json!(format!("{user}_clone")), json!("127.0.0.1")),
    ];
    for (username, host) in cases {
        let token = start_with_tampered_pending(&arn, &current, &username, &host).await;
        let run = step(&arn, &token, "setSecret", ALT);
        assert_eq!(run.status, 1, "{}", run.stdout);
        assert_eq!(run.cause(), "user_mismatch", "{}", run.stdout);
        let evidence = &run.failure()["evidence"];
        assert_eq!(evidence["expected_user"], format!("{user}_clone").as_str());
        assert_eq!(evidence["found_user"], username);
        assert_eq!(evidence["found_host"], host);
        assert!(
            run.named("db_connected").is_empty(),
            "no connection before the check:\n{}",
            run.stdout
        );
        // Leave no AWSPENDING behind for the next case.
        remove_pending(&arn, &token).await;
    }
}

#[tokio::test]
async fn clone_name_over_63_bytes_is_secret_json_invalid() {
    // 58 bytes + "_clone" = 64: one byte over PostgreSQL's identifier limit.
    let user = format!("dsr_long_{}", "x".repeat(49));
    assert_eq!(user.len(), 58);
    let (_, master_arn) = master(true).await;
    let pw = password("long");
    let mut secret = pg_secret(&user, &pw);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", ALT);
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "secret_json_invalid");
    let evidence = &run.failure()["evidence"];
    assert_eq!(evidence["key"], "username");
    assert_eq!(evidence["secret"], "current");
    assert!(evidence["expected"].as_str().unwrap().contains("57"));
    assert!(
        value_at(&arn, "AWSPENDING", Some(&token)).await.is_none(),
        "nothing written"
    );
    assert!(run
        .named("aws_call")
        .iter()
        .all(|e| e["operation"] != "PutSecretValue"));

    // One byte shorter fits.
    let fits = format!("dsr_long_{}", "x".repeat(48));
    let mut secret = pg_secret(&fits, &pw);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    assert_eq!(
        step(&arn, &token, "createSecret", ALT).outcome(),
        "pending_created"
    );
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    assert_eq!(pending["username"], format!("{fits}_clone").as_str());
}

#[tokio::test]
async fn master_without_createrole_is_db_permission_denied() {
    let s = services();
    let user = unique("dsr_alt_nocreaterole");
    let pw = password("orig");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let (master_name, master_arn) = master(false).await;
    let mut secret = pg_secret(&user, &pw);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let run = step(&arn, &token, "setSecret", ALT);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert_eq!(run.cause(), "db_permission_denied", "{}", run.stdout);
    let f = run.failure();
    assert_eq!(f["evidence"]["statement_kind"], "create_user");
    assert_eq!(f["evidence"]["user"], master_name.as_str());
    assert_eq!(f["evidence"]["secret"], "master");
    assert!(f["remedy"].as_str().unwrap().contains("CREATEROLE"));
    let exists = pg_admin()
        .await
        .query_opt(
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            &[&format!("{user}_clone")],
        )
        .await
        .unwrap();
    assert!(exists.is_none());
}

#[tokio::test]
async fn every_step_twice_is_idempotent() {
    let s = services();
    let user = unique("dsr_alt_twice");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, &[], None).await;
    let token = start_rotation(&arn).await;
    let twice = |st: &str| -> (String, String) {
        let a = step(&arn, &token, st, ALT);
        let b = step(&arn, &token, st, ALT);
        (a.outcome(), b.outcome())
    };
    assert_eq!(
        twice("createSecret"),
        ("pending_created".into(), "pending_exists".into())
    );
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    assert_eq!(
        twice("setSecret"),
        ("password_set".into(), "already_set".into())
    );
    let verifier = pg_rolpassword(s.pg_port, &clone).await;
    assert_eq!(twice("testSecret"), ("login_ok".into(), "login_ok".into()));
    assert_eq!(
        twice("finishSecret"),
        ("promoted".into(), "already_current".into())
    );
    assert_eq!(value_at(&arn, "AWSCURRENT", None).await.unwrap(), pending);
    assert_eq!(
        pg_rolpassword(s.pg_port, &clone).await,
        verifier,
        "the second setSecret left the password alone"
    );
    pg_login(s.pg_port, &clone, &password_of(&pending), true)
        .await
        .unwrap();
}

/// The decision documented on `rotation::alternating::set_secret`: a pending login that
/// works does not end setSecret, because it proves the password, not the privileges.
#[tokio::test]
async fn a_revoked_membership_is_restored_even_when_the_pending_password_already_works() {
    let user = unique("dsr_alt_drift");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, &[], None).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    assert_eq!(
        step(&arn, &token, "setSecret", ALT).outcome(),
        "password_set"
    );
    assert!(is_member(&clone, &user).await);

    // Someone revokes the membership and resets the role setting by hand.
    pg_admin()
        .await
        .batch_execute(&format!(
            "REVOKE {u} FROM {c}; ALTER ROLE {c} RESET ALL",
            u = pg_ident(&user),
            c = pg_ident(&clone)
        ))
        .await
        .unwrap();
    assert!(!is_member(&clone, &user).await);
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    pg_login(services().pg_port, &clone, &password_of(&pending), true)
        .await
        .expect("the clone still logs in without its membership: login proves nothing more");

    let run = step(&arn, &token, "setSecret", ALT);
    assert_eq!(run.outcome(), "already_set");
    assert!(run.named("password_changed").is_empty());
    assert!(is_member(&clone, &user).await, "membership restored");
    let as_clone = session(&clone, &password_of(&pending)).await;
    let acting: String = as_clone
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(acting, user, "role setting restored");
}

#[tokio::test]
async fn wrong_current_password_is_db_login_failed_and_the_master_is_not_used() {
    let s = services();
    let user = unique("dsr_alt_wrongpw");
    let real = password("real");
    pg_create_user(s.pg_port, &user, &real, &[]).await;
    let (_, master_arn) = master(true).await;
    let mut secret = pg_secret(&user, &password("wrong"));
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let run = step(&arn, &token, "setSecret", ALT);
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "db_login_failed", "{}", run.stdout);
    let attempts = run.failure()["evidence"]["attempts"].as_array().unwrap();
    let secrets: Vec<_> = attempts.iter().map(|a| a["secret"].clone()).collect();
    assert_eq!(
        secrets,
        [json!("current")],
        "no AWSPREVIOUS fallback, no master"
    );
    assert!(run.named("db_connected").is_empty());
}

#[tokio::test]
async fn master_secret_missing_or_without_masterarn_is_named() {
    let s = services();
    let user = unique("dsr_alt_nomaster");
    let pw = password("orig");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;

    // No masterarn at all: createSecret refuses before writing anything.
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", ALT);
    assert_eq!(run.cause(), "secret_json_missing_key");
    assert_eq!(run.failure()["evidence"]["key"], "masterarn");
    assert!(value_at(&arn, "AWSPENDING", Some(&token)).await.is_none());

    // A masterarn naming no secret.
    let mut secret = pg_secret(&user, &pw);
    secret["masterarn"] = json!(format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
        unique("nonexistent")
    ));
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", ALT).status, 0);
    let run = step(&arn, &token, "setSecret", ALT);
    assert_eq!(run.cause(), "secret_not_found", "{}", run.stdout);
    assert_eq!(run.failure()["evidence"]["secret"], "master");
    assert!(run.named("db_connected").is_empty());
}

#[tokio::test]
async fn diagnose_checks_the_master_and_its_privilege() {
    let s = services();
    let user = unique("dsr_alt_diag");
    let pw = password("orig");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    for (createrole, ok) in [(true, true), (false, false)] {
        let (master_name, master_arn) = master(createrole).await;
        let mut secret = pg_secret(&user, &pw);
        secret["masterarn"] = json!(master_arn);
        let arn = create_secret(&secret).await;
        let (_, report) = diagnose_json(&arn, ALT);
        let check = |name: &str| report_check(&report, name).clone();
        assert_eq!(check("master_secret_readable")["ok"], true);
        assert_eq!(check("master_login")["ok"], true, "{report}");
        let privilege = check("manage_users_privilege");
        assert_eq!(privilege["ok"], ok, "{report}");
        if !ok {
            assert_eq!(privilege["cause"], "db_permission_denied");
            assert_eq!(privilege["evidence"]["user"], master_name.as_str());
        }
        assert!(report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "rds_api_reachable"));
    }
}

#[tokio::test]
async fn two_set_secrets_at_once_both_succeed() {
    let s = services();
    let user = unique("dsr_alt_race");
    let clone = format!("{user}_clone");
    let (_, arn) = alternating_user(&user, &[], None).await;
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
    assert!(is_member(&clone, &user).await);
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await.unwrap();
    pg_login(s.pg_port, &clone, &password_of(&pending), true)
        .await
        .unwrap();
}
