//! The call budget, pinned: AWS API calls and database connections per rotation, per engine
//! and strategy, counted from the function's own events in one long-lived process (as in
//! Lambda). A change that adds a call fails here; lower the pins when calls are removed.

use crate::common::driver::Function;
use crate::common::*;
use std::collections::BTreeMap;

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_single_user_call_budget() {
    let s = services();
    let user = unique("dsr_budget_pg");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;

    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &[]).await;
    let mut rotations = vec![f.rotate(&arn).await, f.rotate(&arn).await];
    f.finish(&mut rotations).await;

    // A fresh process (a cold Lambda, as every 30-day rotation is): 9 Secrets Manager calls.
    // The reference functions make 14 and open 3 connections.
    assert_eq!(
        rotations[0].aws_calls,
        calls(&[
            ("secretsmanager:DescribeSecret", 4),
            ("secretsmanager:GetSecretValue", 2),
            ("secretsmanager:GetRandomPassword", 1),
            ("secretsmanager:PutSecretValue", 1),
            ("secretsmanager:UpdateSecretVersionStage", 1),
        ])
    );
    // A warm process already holds AWSCURRENT's value: versions never change, so it is reused.
    assert_eq!(rotations[1].aws_calls["secretsmanager:GetSecretValue"], 1);
    assert_eq!(rotations[1].calls_to("secretsmanager"), 8);
    for r in &rotations {
        assert_eq!(
            r.db_connections, 2,
            "setSecret logs in once, testSecret once"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_single_user_call_budget() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MariaDb).await;
    let user = unique("bud");
    let old = password("old");
    crate::common::mysql::maria_create_user(&user, "%", &old, true).await;
    let mut secret = crate::common::mysql::maria_secret(&user, &old);
    secret["ssl"] = serde_json::json!(true);
    let arn = create_secret(&secret).await;

    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &[]).await;
    let mut rotations = vec![f.rotate(&arn).await];
    f.finish(&mut rotations).await;
    assert_eq!(
        rotations[0].calls_to("secretsmanager"),
        9,
        "{:?}",
        rotations[0].aws_calls
    );
    assert_eq!(rotations[0].db_connections, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_alternating_users_call_budget() {
    let s = services();
    let (master, master_pw) = pg_master(true).await;
    let master_arn = create_secret(&pg_secret(&master, &master_pw)).await;
    let user = unique("dsr_budget_alt");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let mut secret = pg_secret(&user, &old);
    secret["masterarn"] = serde_json::json!(master_arn);
    let arn = create_secret(&secret).await;

    let env = [("ROTATION_STRATEGY", "alternating_users")];
    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &env).await;
    let mut rotations = vec![f.rotate(&arn).await];
    f.finish(&mut rotations).await;
    let r = &rotations[0];
    println!("{:?} connections {}", r.aws_calls, r.db_connections);
    // The single-user nine, plus GetSecretValue of the master secret (an RDS-managed master
    // adds its DescribeSecret for the tags, and the RDS calls).
    assert_eq!(r.calls_to("secretsmanager"), 10, "{:?}", r.aws_calls);
    assert_eq!(r.calls_to("rds"), 0);
    // setSecret: AWSCURRENT (proves the secret live), AWSPENDING (a probe, refused on the
    // first rotation since the clone does not exist yet), master; testSecret: AWSPENDING.
    assert_eq!(r.db_connections, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_single_user_call_budget() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MySql).await;
    use crate::common::mysql::{create_user_on, secret_on, short_unique, Server};
    let user = short_unique("bud");
    let old = password("old");
    create_user_on(Server::MySql, &user, "%", &old, true).await;
    let mut secret = secret_on(Server::MySql, &user, &old);
    secret["ssl"] = serde_json::json!(true);
    let arn = create_secret(&secret).await;

    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &[]).await;
    let mut rotations = vec![f.rotate(&arn).await, f.rotate(&arn).await];
    f.finish(&mut rotations).await;
    assert_eq!(
        rotations[0].calls_to("secretsmanager"),
        9,
        "{:?}",
        rotations[0].aws_calls
    );
    assert_eq!(rotations[1].calls_to("secretsmanager"), 8);
    for r in &rotations {
        assert_eq!(
            r.db_connections, 2,
            "setSecret logs in once, testSecret once"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_single_user_dual_password_call_budget() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MySql).await;
    use crate::common::mysql::{account, create_user_on, do_on, secret_on, short_unique, Server};
    let user = short_unique("bud_dual");
    let old = password("old");
    create_user_on(Server::MySql, &user, "%", &old, true).await;
    do_on(
        Server::MySql,
        &[format!(
            "GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO {}",
            account(&user, "%")
        )],
    )
    .await;
    let mut secret = secret_on(Server::MySql, &user, &old);
    secret["ssl"] = serde_json::json!(true);
    let arn = create_secret(&secret).await;

    // Dual passwords cost nothing extra: the same statement, with RETAIN CURRENT PASSWORD.
    let env = [("MYSQL_DUAL_PASSWORD", "true")];
    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &env).await;
    let mut rotations = vec![f.rotate(&arn).await, f.rotate(&arn).await];
    f.finish(&mut rotations).await;
    assert_eq!(rotations[0].calls_to("secretsmanager"), 9);
    assert_eq!(rotations[1].calls_to("secretsmanager"), 8);
    for r in &rotations {
        assert_eq!(r.db_connections, 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_alternating_users_call_budget() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MySql).await;
    use crate::common::mysql::{create_user_on, master_on, secret_on, short_unique, Server};
    let user = short_unique("bud_alt");
    let old = password("old");
    create_user_on(Server::MySql, &user, "%", &old, false).await;
    let (_, master_arn) =
        master_on(Server::MySql, "ALL PRIVILEGES ON *.*", "WITH GRANT OPTION").await;
    let mut secret = secret_on(Server::MySql, &user, &old);
    secret["masterarn"] = serde_json::json!(master_arn);
    let arn = create_secret(&secret).await;

    let env = [
        ("ROTATION_STRATEGY", "alternating_users"),
        ("USERNAME_CHARACTER_LIMIT", "32"),
    ];
    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &env).await;
    let mut rotations = vec![f.rotate(&arn).await];
    f.finish(&mut rotations).await;
    let r = &rotations[0];
    // As for PostgreSQL: the single-user nine plus the master secret; AWSCURRENT, the
    // AWSPENDING probe and the master in setSecret, AWSPENDING in testSecret.
    assert_eq!(r.calls_to("secretsmanager"), 10, "{:?}", r.aws_calls);
    assert_eq!(r.calls_to("rds"), 0);
    assert_eq!(r.db_connections, 4);
}
