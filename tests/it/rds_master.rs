//! Alternating users with an RDS-managed master secret (only `username` and `password`),
//! through moto's RDS: the master's host, port and engine come from the secret's
//! `aws:rds:primary*Arn` tag and DescribeDBInstances / DescribeDBClusters. moto's endpoint
//! names do not resolve, so rotations that must log in set the test-only
//! `DSR_TEST_ONLY_RDS_HOST_OVERRIDE=localhost`; host checks run without it.

use crate::common::*;
use serde_json::json;

const ALT: (&str, &str) = ("ROTATION_STRATEGY", "alternating_users");
const OVERRIDE: (&str, &str) = ("DSR_TEST_ONLY_RDS_HOST_OVERRIDE", "localhost");

async fn rds() -> aws_sdk_rds::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&services().moto)
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_rds::Client::new(&conf)
}

/// An RDS identifier: letters, digits and hyphens, starting with a letter.
fn rds_id(prefix: &str) -> String {
    unique(prefix).replace('_', "-")
}

/// Points the RDS-managed secret at our master role: the keys stay exactly username and
/// password, as RDS writes them.
async fn set_managed_secret(arn: &str, user: &str, pw: &str) {
    sm().await
        .put_secret_value()
        .secret_id(arn)
        .secret_string(json!({"username": user, "password": pw}).to_string())
        .send()
        .await
        .expect("PutSecretValue on the RDS-managed secret");
}

/// A moto DB instance on the local PostgreSQL port whose master secret RDS manages; gives
/// (instance id, endpoint address, managed secret ARN).
async fn rds_instance() -> (String, String, String) {
    let id = rds_id("dsr-pg");
    let out = rds()
        .await
        .create_db_instance()
        .db_instance_identifier(&id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("rdsadmin")
        .port(i32::from(services().pg_port))
        .manage_master_user_password(true)
        .send()
        .await
        .expect("CreateDBInstance in moto");
    let db = out.db_instance().unwrap();
    let secret = db
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("moto creates the RDS-managed secret")
        .to_string();
    let address = db
        .endpoint()
        .and_then(|e| e.address())
        .map(str::to_string)
        .unwrap_or_default();
    (id, address, secret)
}

/// A user with an alternating-users secret whose masterarn is `master_arn`.
async fn user_secret(prefix: &str, host: &str, master_arn: &str) -> (String, String, String) {
    let s = services();
    let user = unique(prefix);
    let pw = password("orig");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["host"] = json!(host);
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&secret).await;
    (user, pw, arn)
}

fn tagged(secret_tags: &[aws_sdk_secretsmanager::types::Tag], key: &str) -> Option<String> {
    secret_tags
        .iter()
        .find(|t| t.key().is_some_and(|k| k.eq_ignore_ascii_case(key)))
        .and_then(|t| t.value().map(str::to_string))
}

#[tokio::test]
async fn rds_managed_master_through_moto_rotates_with_the_host_override() {
    let s = services();
    let (master, master_pw) = pg_master(true).await;
    let (_, _, managed) = rds_instance().await;
    // The premise: moto tags the secret as RDS does, and it holds only username/password.
    let described = sm()
        .await
        .describe_secret()
        .secret_id(&managed)
        .send()
        .await
        .unwrap();
    assert!(tagged(described.tags(), "aws:rds:primaryDBInstanceArn").is_some());
    set_managed_secret(&managed, &master, &master_pw).await;

    let (user, old, arn) = user_secret("dsr_rds_user", &s.pg_host, &managed).await;
    let token = start_rotation(&arn).await;
    let env = [ALT, OVERRIDE];
    for st in STEPS {
        let run = step(&arn, &token, st, &env);
        assert_eq!(run.status, 0, "{st}:\n{}\n{}", run.stdout, run.stderr);
        if st == "setSecret" {
            assert_eq!(run.outcome(), "password_set");
            let rds_calls: Vec<_> = run
                .named("aws_call")
                .into_iter()
                .filter(|e| e["service"] == "rds")
                .collect();
            assert!(
                rds_calls
                    .iter()
                    .any(|e| e["operation"] == "DescribeDBInstances" && e["outcome"] == "ok"),
                "{}",
                run.stdout
            );
            let master_login = run
                .named("db_connected")
                .into_iter()
                .find(|e| e["secret"] == "master")
                .unwrap_or_else(|| panic!("no master login:\n{}", run.stdout));
            assert_eq!(master_login["user"], master.as_str());
            assert_eq!(master_login["host"], "localhost");
            assert_eq!(master_login["port"], s.pg_port);
        }
    }
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], format!("{user}_clone").as_str());
    pg_login(
        s.pg_port,
        &format!("{user}_clone"),
        current["password"].as_str().unwrap(),
        true,
    )
    .await
    .unwrap();
    pg_login(s.pg_port, &user, &old, true).await.unwrap();

    // diagnose reaches the RDS API and logs in as the master.
    let (_, report) = diagnose_json(&arn, &env);
    for name in [
        "master_secret_readable",
        "rds_api_reachable",
        "master_login",
        "manage_users_privilege",
    ] {
        let check = report_check(&report, name);
        assert_eq!(check["ok"], true, "{check}");
    }
}

#[tokio::test]
async fn an_rds_endpoint_that_is_not_the_users_host_is_user_mismatch() {
    let s = services();
    let (master, master_pw) = pg_master(true).await;
    let (_, address, managed) = rds_instance().await;
    set_managed_secret(&managed, &master, &master_pw).await;
    let (_, _, arn) = user_secret("dsr_rds_elsewhere", &s.pg_host, &managed).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    // No override: the master's database is moto's endpoint, not the user's `localhost`.
    let run = step(&arn, &token, "setSecret", &[ALT]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert_eq!(run.cause(), "user_mismatch", "{}", run.stdout);
    let evidence = &run.failure()["evidence"];
    assert_eq!(evidence["found_host"], address.as_str());
    assert_eq!(evidence["expected_host"], s.pg_host.as_str());
    assert_eq!(evidence["secret"], "master");
    assert!(run.named("db_connected").is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn a_user_on_a_read_replica_of_the_rds_master_passes_the_host_check() {
    let (master, master_pw) = pg_master(true).await;
    let (source, _, managed) = rds_instance().await;
    set_managed_secret(&managed, &master, &master_pw).await;
    let client = rds().await;
    let replica = rds_id("dsr-replica");
    let out = client
        .create_db_instance_read_replica()
        .db_instance_identifier(&replica)
        .source_db_instance_identifier(&source)
        .send()
        .await
        .expect("CreateDBInstanceReadReplica in moto");
    let replica_host = out
        .db_instance()
        .and_then(|d| d.endpoint())
        .and_then(|e| e.address())
        .unwrap()
        .to_string();
    let (_, _, arn) = user_secret("dsr_rds_replica_user", &replica_host, &managed).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    // The replica is accepted as the user's host; the step then goes on to log in there,
    // which moto's unresolvable name cannot do: db_unreachable, not user_mismatch.
    let run = step(
        &arn,
        &token,
        "setSecret",
        &[ALT, ("DB_CONNECT_TIMEOUT_MS", "2000")],
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert_eq!(run.cause(), "db_unreachable", "{}", run.stdout);
    assert_eq!(run.failure()["evidence"]["host"], replica_host.as_str());

    // A complete (not RDS-managed) master secret on the source's endpoint name: RDS is
    // asked about the instance behind the name, and the replica is accepted the same way.
    let source_host = rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(&source)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_string();
    let complete = create_secret(&json!({
        "engine": "postgres", "host": source_host, "port": services().pg_port,
        "username": master, "password": master_pw,
    }))
    .await;
    let (_, _, arn) = user_secret("dsr_rds_replica_user2", &replica_host, &complete).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    let run = step(&arn, &token, "setSecret", &[ALT]);
    assert_eq!(run.cause(), "db_unreachable", "{}", run.stdout);
    assert_eq!(run.failure()["evidence"]["host"], replica_host.as_str());
    assert!(run
        .named("aws_call")
        .iter()
        .any(|e| e["operation"] == "DescribeDBInstances"));

    // The same master for a user on an unrelated host: user_mismatch, before any connection.
    let (_, _, arn) = user_secret("dsr_rds_unrelated", "localhost", &complete).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    let run = step(&arn, &token, "setSecret", &[ALT]);
    assert_eq!(run.cause(), "user_mismatch", "{}", run.stdout);
    assert!(run.named("db_connected").is_empty());
}

#[tokio::test]
async fn rds_managed_cluster_master_rotates_and_its_reader_endpoint_is_accepted() {
    let s = services();
    let (master, master_pw) = pg_master(true).await;
    let id = rds_id("dsr-cluster");
    let out = rds()
        .await
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .master_username("rdsadmin")
        .port(i32::from(s.pg_port))
        .manage_master_user_password(true)
        .send()
        .await
        .expect("CreateDBCluster in moto");
    let cluster = out.db_cluster().unwrap();
    let managed = cluster
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .unwrap()
        .to_string();
    let reader = cluster.reader_endpoint().unwrap().to_string();
    let described = sm()
        .await
        .describe_secret()
        .secret_id(&managed)
        .send()
        .await
        .unwrap();
    assert!(tagged(described.tags(), "aws:rds:primaryDBClusterArn").is_some());
    set_managed_secret(&managed, &master, &master_pw).await;

    // Through the override, a full rotation.
    let (user, _, arn) = user_secret("dsr_rds_cluster_user", &s.pg_host, &managed).await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[ALT, OVERRIDE]);
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], format!("{user}_clone").as_str());

    // Without it: a user on the cluster's reader endpoint passes the host check.
    let (_, _, arn) = user_secret("dsr_rds_reader_user", &reader, &managed).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    let run = step(
        &arn,
        &token,
        "setSecret",
        &[ALT, ("DB_CONNECT_TIMEOUT_MS", "2000")],
    );
    assert_eq!(run.cause(), "db_unreachable", "{}", run.stdout);
    assert!(run
        .named("aws_call")
        .iter()
        .any(|e| e["operation"] == "DescribeDBClusters" && e["outcome"] == "ok"));
}

#[tokio::test]
async fn rds_api_unreachable_is_named() {
    let s = services();
    let (master, master_pw) = pg_master(true).await;
    let (_, _, managed) = rds_instance().await;
    set_managed_secret(&managed, &master, &master_pw).await;
    let (_, _, arn) = user_secret("dsr_rds_down", &s.pg_host, &managed).await;
    let token = start_rotation(&arn).await;
    assert_eq!(step(&arn, &token, "createSecret", &[ALT]).status, 0);
    // A closed local port stands in for an RDS endpoint the function cannot reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let run = step(
        &arn,
        &token,
        "setSecret",
        &[ALT, ("AWS_ENDPOINT_URL_RDS", &closed)],
    );
    assert_eq!(run.status, 1);
    assert_eq!(run.cause(), "rds_api_unreachable", "{}", run.stdout);
    let evidence = &run.failure()["evidence"];
    assert_eq!(evidence["operation"], "DescribeDBInstances");
    assert_eq!(evidence["endpoint"], closed.as_str());
    assert!(run.named("db_connected").is_empty());
}
