//! Every cause on the Secrets Manager side (reaching AWS, the rotation request and its state,
//! the secret's JSON), produced for real through the binary: real
//! AWS-shaped errors from the fault-injecting endpoint in front of moto, a listener that never
//! answers, a closed port, real secrets in moto. Each test asserts exit status 1, the
//! `step_failed` cause, the evidence fields the cause promises, and a remedy. Also: the
//! `step_succeeded` / `step_failed` lines are CloudWatch Embedded Metric Format documents.

use crate::common::fault::{closed_port, BlackHole, FaultServer, SilentListener};
use crate::common::*;
use serde_json::{json, Value};

/// A secret under rotation (AWSPENDING staged, no value yet) for a user no test logs in as:
/// these causes all fire before any database is contacted.
async fn rotating_secret() -> (String, String) {
    let arn = create_secret(&pg_secret(&unique("dsr_aws"), &password("aws"))).await;
    let token = start_rotation(&arn).await;
    (arn, token)
}

fn step_with_timeout(
    arn: &str,
    token: &str,
    step: &str,
    timeout_ms: &str,
    env: &[(&str, &str)],
) -> Run {
    run_bin(
        &[
            "step",
            "--secret-id",
            arn,
            "--token",
            token,
            "--step",
            step,
            "--timeout-ms",
            timeout_ms,
        ],
        env,
    )
}

/// The step did not start changing anything: no PutSecretValue reached moto.
async fn nothing_pending(arn: &str, token: &str) {
    assert!(
        value_at(arn, "AWSPENDING", Some(token)).await.is_none(),
        "no pending value may have been written"
    );
}

// ------------------------------------------------------------------ reaching AWS

#[tokio::test]
async fn never_answering_endpoint_is_secrets_manager_unreachable_before_the_deadline() {
    let (arn, token) = rotating_secret().await;
    let silent = SilentListener::start();
    let started = std::time::Instant::now();
    let run = step_with_timeout(
        &arn,
        &token,
        "createSecret",
        "8000",
        &[("AWS_ENDPOINT_URL", silent.url())],
    );
    let waited = started.elapsed();
    let ev = run.expect_failure(
        "secrets_manager_unreachable",
        &[
            "endpoint",
            "operation",
            "phase",
            "elapsed_ms",
            "remaining_ms",
        ],
    );
    assert_eq!(ev["deadline"], true, "{ev}");
    assert_eq!(ev["operation"], "DescribeSecret");
    assert_eq!(ev["endpoint"], silent.url());
    assert_eq!(ev["phase"], "response", "TCP connects; nothing answers");
    // The function answered before its own deadline: time was left when it reported.
    assert!(
        ev["remaining_ms"].as_u64().unwrap() > 0,
        "reported with no time left ({waited:?}): {ev}"
    );
    assert_eq!(run.named("step_started").len(), 1);
}

#[tokio::test]
async fn dropped_syns_with_a_short_function_timeout_are_unreachable_at_connect() {
    // Lambda's default timeout is 3 s: the watchdog fires while the SDK is still connecting
    // to an endpoint whose packets are dropped (security group, NACL, no VPC endpoint). The
    // phase says where it was stuck: connect, not response.
    let (arn, token) = rotating_secret().await;
    let hole = BlackHole::start();
    let run = step_with_timeout(
        &arn,
        &token,
        "createSecret",
        "3000",
        &[("AWS_ENDPOINT_URL", hole.url())],
    );
    let ev = run.expect_failure(
        "secrets_manager_unreachable",
        &[
            "endpoint",
            "operation",
            "phase",
            "elapsed_ms",
            "remaining_ms",
        ],
    );
    assert_eq!(ev["deadline"], true, "{ev}");
    assert_eq!(ev["phase"], "connect", "{ev}");
    assert!(ev["remaining_ms"].as_u64().unwrap() > 0, "{ev}");
}

#[tokio::test]
async fn held_get_secret_value_is_named_by_its_operation_with_deadline_evidence() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.hang("GetSecretValue");
    let run = step_with_timeout(
        &arn,
        &token,
        "createSecret",
        "8000",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "secrets_manager_unreachable",
        &[
            "endpoint",
            "operation",
            "phase",
            "elapsed_ms",
            "remaining_ms",
        ],
    );
    assert_eq!(ev["deadline"], true);
    assert_eq!(ev["operation"], "GetSecretValue");
    assert!(ev["remaining_ms"].as_u64().unwrap() > 0, "{ev}");
    assert_eq!(
        fault.calls("DescribeSecret"),
        1,
        "DescribeSecret went through"
    );
    assert!(fault.faulted("GetSecretValue") >= 1);
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn closed_secrets_manager_port_is_unreachable_at_connect() {
    let (arn, token) = rotating_secret().await;
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = step(&arn, &token, "createSecret", &[("AWS_ENDPOINT_URL", &url)]);
    let ev = run.expect_failure(
        "secrets_manager_unreachable",
        &["endpoint", "operation", "phase", "elapsed_ms"],
    );
    assert_eq!(ev["phase"], "connect", "{ev}");
    assert_eq!(ev["endpoint"], url.as_str());
    assert_eq!(ev["operation"], "DescribeSecret");
    assert_ne!(
        ev["deadline"], true,
        "the SDK itself gave up, not the watchdog"
    );
}

#[tokio::test]
async fn unresolvable_secrets_manager_host_is_unreachable_at_dns() {
    let (arn, token) = rotating_secret().await;
    let url = "http://no-such-host.invalid:45000";
    let run = step(&arn, &token, "createSecret", &[("AWS_ENDPOINT_URL", url)]);
    let ev = run.expect_failure(
        "secrets_manager_unreachable",
        &["endpoint", "operation", "phase", "elapsed_ms"],
    );
    assert_eq!(ev["phase"], "dns", "{ev}");
}

#[tokio::test]
async fn secrets_manager_endpoint_override_variable_is_honoured() {
    // SECRETS_MANAGER_ENDPOINT (the reference functions' variable) wins over AWS_ENDPOINT_URL.
    let (arn, token) = rotating_secret().await;
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("SECRETS_MANAGER_ENDPOINT", &url)],
    );
    let ev = run.expect_failure("secrets_manager_unreachable", &["endpoint", "phase"]);
    assert_eq!(ev["endpoint"], url.as_str());
}

const IDENTITY_DENIED: &str = "User: arn:aws:sts::123456789012:assumed-role/dsr-rotation/db-secret-rotator is not authorized to perform: secretsmanager:GetSecretValue on resource: dsr because no identity-based policy allows the secretsmanager:GetSecretValue action";
const ENDPOINT_DENIED: &str = "User: arn:aws:sts::123456789012:assumed-role/dsr-rotation/db-secret-rotator is not authorized to perform: secretsmanager:PutSecretValue on resource: dsr because no VPC endpoint policy allows the secretsmanager:PutSecretValue action";

#[tokio::test]
async fn access_denied_by_identity_policy_is_secrets_manager_access_denied() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetSecretValue",
        400,
        "AccessDeniedException",
        IDENTITY_DENIED,
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "secrets_manager_access_denied",
        &["operation", "aws_error_code", "policy"],
    );
    assert_eq!(ev["operation"], "GetSecretValue");
    assert_eq!(ev["aws_error_code"], "AccessDeniedException");
    assert_eq!(ev["policy"], "identity_or_resource");
    assert_eq!(
        fault.calls("GetSecretValue"),
        1,
        "access denied is not retried"
    );
}

#[tokio::test]
async fn access_denied_by_vpc_endpoint_policy_names_the_endpoint_policy() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "PutSecretValue",
        400,
        "AccessDeniedException",
        ENDPOINT_DENIED,
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "secrets_manager_access_denied",
        &["operation", "aws_error_code", "policy"],
    );
    assert_eq!(ev["operation"], "PutSecretValue");
    assert_eq!(ev["policy"], "vpc_endpoint");
    let remedy = run.failure()["remedy"].as_str().unwrap();
    assert!(remedy.contains("endpoint policy"), "{remedy}");
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn access_to_kms_not_allowed_is_kms_access_denied_naming_the_secret() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetSecretValue",
        400,
        "AccessDeniedException",
        "Access to KMS is not allowed",
    );
    let env = [("AWS_ENDPOINT_URL", fault.url())];
    let run = step(&arn, &token, "createSecret", &env);
    let ev = run.expect_failure("kms_access_denied", &["operation", "secret"]);
    assert_eq!(ev["operation"], "GetSecretValue");
    assert_eq!(ev["secret"], "current");
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("kms:Decrypt"));

    // The same refusal on the write names the pending secret.
    fault.heal();
    fault.error_always(
        "PutSecretValue",
        400,
        "AccessDeniedException",
        "Access to KMS is not allowed",
    );
    let run = step(&arn, &token, "createSecret", &env);
    let ev = run.expect_failure("kms_access_denied", &["operation", "secret"]);
    assert_eq!(ev["operation"], "PutSecretValue");
    assert_eq!(ev["secret"], "pending");
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn decryption_failure_is_kms_access_denied() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetSecretValue",
        400,
        "DecryptionFailure",
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure("kms_access_denied", &["operation", "secret"]);
    assert_eq!(ev["aws_error_code"], "DecryptionFailure");
    assert_eq!(ev["secret"], "current");
}

#[tokio::test]
async fn secret_that_never_existed_is_secret_not_found() {
    let id = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
        unique("dsr-nope")
    );
    let run = step(
        &id,
        "00000000-0000-4000-8000-000000000000",
        "setSecret",
        &[],
    );
    let ev = run.expect_failure("secret_not_found", &["secret", "secret_id"]);
    assert_eq!(ev["secret"], "current");
    assert_eq!(ev["secret_id"], id.as_str());
}

#[tokio::test]
async fn deleted_secret_is_secret_not_found() {
    let (arn, token) = rotating_secret().await;
    sm().await
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let run = step(&arn, &token, "createSecret", &[]);
    let ev = run.expect_failure("secret_not_found", &["secret", "secret_id"]);
    assert_eq!(ev["secret_id"], arn.as_str());
}

#[tokio::test]
async fn secret_gone_between_describe_and_read_is_secret_not_found() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetSecretValue",
        400,
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure("secret_not_found", &["secret", "secret_id"]);
    assert_eq!(ev["secret"], "current");
}

#[tokio::test]
async fn persistent_throttling_is_aws_service_error_after_the_sdk_retries() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "DescribeSecret",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "aws_service_error",
        &["service", "operation", "aws_error_code"],
    );
    assert_eq!(ev["service"], "secretsmanager");
    assert_eq!(ev["operation"], "DescribeSecret");
    assert_eq!(ev["aws_error_code"], "ThrottlingException");
    assert_eq!(
        fault.calls("DescribeSecret"),
        3,
        "the SDK retried (3 attempts) before giving up"
    );
}

#[tokio::test]
async fn internal_service_error_is_aws_service_error() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetRandomPassword",
        500,
        "InternalServiceError",
        "An error occurred on the server side.",
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "aws_service_error",
        &["service", "operation", "aws_error_code"],
    );
    assert_eq!(ev["operation"], "GetRandomPassword");
    assert_eq!(ev["aws_error_code"], "InternalServiceError");
    assert!(fault.calls("GetRandomPassword") > 1, "5xx is retried");
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn one_throttled_call_is_retried_and_the_step_succeeds() {
    let (arn, token) = rotating_secret().await;
    let fault = FaultServer::start();
    fault.error_first(
        "PutSecretValue",
        1,
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    assert_eq!(run.outcome(), "pending_created");
    assert_eq!(fault.calls("PutSecretValue"), 2);
    assert!(value_at(&arn, "AWSPENDING", Some(&token)).await.is_some());
}

// ------------------------------------------------------------------ the RDS API

/// An alternating-users secret whose master is RDS-managed (a moto DB instance with
/// `ManageMasterUserPassword`), createSecret done: setSecret must call DescribeDBInstances.
async fn rotation_with_an_rds_managed_master() -> (String, String) {
    let s = services();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&s.moto)
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let db = aws_sdk_rds::Client::new(&conf)
        .create_db_instance()
        .db_instance_identifier(unique("dsr-pg").replace('_', "-"))
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("rdsadmin")
        .port(i32::from(s.pg_port))
        .manage_master_user_password(true)
        .send()
        .await
        .expect("CreateDBInstance in moto");
    let managed = db
        .db_instance()
        .and_then(|d| d.master_user_secret())
        .and_then(|m| m.secret_arn())
        .expect("moto creates the RDS-managed secret")
        .to_string();
    let (master, master_pw) = pg_master(false).await;
    sm().await
        .put_secret_value()
        .secret_id(&managed)
        .secret_string(json!({"username": master, "password": master_pw}).to_string())
        .send()
        .await
        .unwrap();
    let user = unique("dsr_rds_user");
    let pw = password("rdsuser");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["masterarn"] = json!(managed);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", &[ALTERNATING]);
    assert_eq!(run.outcome(), "pending_created");
    (arn, token)
}

const ALTERNATING: (&str, &str) = ("ROTATION_STRATEGY", "alternating_users");

#[tokio::test]
async fn rds_describe_denied_is_rds_api_access_denied() {
    let (arn, token) = rotation_with_an_rds_managed_master().await;
    let fault = FaultServer::start();
    fault.error_always(
        "DescribeDBInstances",
        403,
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/dsr-rotation/db-secret-rotator is not authorized to perform: rds:DescribeDBInstances",
    );
    let run = step(
        &arn,
        &token,
        "setSecret",
        &[ALTERNATING, ("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure("rds_api_access_denied", &["operation"]);
    assert_eq!(ev["operation"], "DescribeDBInstances");
    assert!(fault.faulted("DescribeDBInstances") >= 1);
    assert!(run.named("password_changed").is_empty());
}

#[tokio::test]
async fn rds_api_that_never_answers_is_rds_api_unreachable_before_the_deadline() {
    let (arn, token) = rotation_with_an_rds_managed_master().await;
    let fault = FaultServer::start();
    fault.hang("DescribeDBInstances");
    let run = step_with_timeout(
        &arn,
        &token,
        "setSecret",
        "8000",
        &[ALTERNATING, ("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure(
        "rds_api_unreachable",
        &[
            "endpoint",
            "operation",
            "phase",
            "elapsed_ms",
            "remaining_ms",
        ],
    );
    assert_eq!(ev["deadline"], true);
    assert_eq!(ev["operation"], "DescribeDBInstances");
    assert!(ev["remaining_ms"].as_u64().unwrap() > 0);
    assert!(run.named("password_changed").is_empty());
}

// ------------------------------------------------------------------ the request and its state

#[tokio::test]
async fn invalid_event_names_the_field() {
    let (arn, token) = rotating_secret().await;
    let run = step(&arn, &token, "dropTable", &[]);
    let ev = run.expect_failure("invalid_event", &["field"]);
    assert_eq!(ev["field"], "Step");
    let run = step(&arn, "", "createSecret", &[]);
    let ev = run.expect_failure("invalid_event", &["field"]);
    assert_eq!(ev["field"], "ClientRequestToken");
    let run = step(&arn, "tok\u{e9}n", "createSecret", &[]);
    assert_eq!(
        run.expect_failure("invalid_event", &["field"])["field"],
        "ClientRequestToken"
    );
    let run = step("", &token, "createSecret", &[]);
    assert_eq!(
        run.expect_failure("invalid_event", &["field"])["field"],
        "SecretId"
    );
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn secret_without_rotation_is_rotation_not_enabled() {
    let arn = create_secret(&pg_secret(&unique("dsr_aws"), &password("aws"))).await;
    let version = stages(&arn).await.into_keys().next().unwrap();
    let run = step(&arn, &version, "setSecret", &[]);
    run.expect_failure("rotation_not_enabled", &[]);
    assert!(run.failure()["remedy"]
        .as_str()
        .unwrap()
        .contains("rotate-secret"));
}

#[tokio::test]
async fn unknown_token_is_version_not_staged() {
    let (arn, _token) = rotating_secret().await;
    let stranger = uuid::Uuid::new_v4().to_string();
    let run = step(&arn, &stranger, "setSecret", &[]);
    let ev = run.expect_failure("version_not_staged", &["version_id"]);
    assert_eq!(ev["version_id"], stranger.as_str());
}

#[tokio::test]
async fn restarted_rotation_leaves_the_old_token_version_not_pending_with_a_stale_label_finding() {
    let (arn, first) = rotating_secret().await;
    assert_eq!(
        step(&arn, &first, "createSecret", &[]).outcome(),
        "pending_created"
    );
    // A second RotateSecret moves AWSPENDING to a new version; the first token's late
    // setSecret finds its version no longer pending.
    let second = start_rotation(&arn).await;
    let run = step(&arn, &first, "setSecret", &[]);
    let ev = run.expect_failure("version_not_pending", &["version_id", "pending_version_id"]);
    assert_eq!(ev["version_id"], first.as_str());
    assert_eq!(ev["pending_version_id"], second.as_str());
    let remedy = run.failure()["remedy"].as_str().unwrap();
    assert!(
        remedy.contains(&format!("--remove-from-version-id {second}")),
        "{remedy}"
    );
    let findings = run.named("finding");
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "stale_pending_label");
    assert_eq!(findings[0]["level"], "WARN");
    assert_eq!(
        findings[0]["evidence"]["pending_version_id"],
        second.as_str()
    );
}

// ------------------------------------------------------------------ the secret's JSON

async fn broken_secret_create_step(value: &Value) -> Run {
    let arn = create_secret(value).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", &[]);
    nothing_pending(&arn, &token).await;
    run
}

#[tokio::test]
async fn secret_without_host_is_secret_json_missing_key() {
    let mut secret = pg_secret(&unique("dsr_json"), &password("json"));
    secret.as_object_mut().unwrap().remove("host");
    let run = broken_secret_create_step(&secret).await;
    let ev = run.expect_failure("secret_json_missing_key", &["key", "secret"]);
    assert_eq!(ev["key"], "host");
    assert_eq!(ev["secret"], "current");
}

#[tokio::test]
async fn port_that_is_not_a_number_is_secret_json_invalid() {
    let mut secret = pg_secret(&unique("dsr_json"), &password("json"));
    secret["port"] = json!("abc");
    let run = broken_secret_create_step(&secret).await;
    let ev = run.expect_failure("secret_json_invalid", &["key", "secret", "expected"]);
    assert_eq!(ev["key"], "port");
    assert_eq!(ev["secret"], "current");
}

#[tokio::test]
async fn ssl_maybe_is_secret_json_invalid() {
    let mut secret = pg_secret(&unique("dsr_json"), &password("json"));
    secret["ssl"] = json!("maybe");
    let run = broken_secret_create_step(&secret).await;
    let ev = run.expect_failure("secret_json_invalid", &["key", "secret", "expected"]);
    assert_eq!(ev["key"], "ssl");
}

#[tokio::test]
async fn binary_secret_is_secret_json_invalid() {
    let arn = sm()
        .await
        .create_secret()
        .name(unique("dsr-binary"))
        .secret_binary(aws_smithy_types::Blob::new(vec![0u8, 159, 146, 150]))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", &[]);
    let ev = run.expect_failure("secret_json_invalid", &["secret", "expected"]);
    assert_eq!(ev["secret"], "current");
    nothing_pending(&arn, &token).await;
}

#[tokio::test]
async fn oracle_engine_is_unsupported_engine() {
    let mut secret = pg_secret(&unique("dsr_json"), &password("json"));
    secret["engine"] = json!("oracle");
    let run = broken_secret_create_step(&secret).await;
    let ev = run.expect_failure("unsupported_engine", &["engine"]);
    assert_eq!(ev["engine"], "oracle");
}

// ------------------------------------------------------------------ metrics

/// Checks one line against the CloudWatch Embedded Metric Format specification, and this
/// project's metric contract (namespace DbSecretRotator, dimensions Step and Step+Cause).
fn assert_emf(line: &Value) {
    let aws = line["_aws"]
        .as_object()
        .unwrap_or_else(|| panic!("no _aws object: {line}"));
    let ts = aws["Timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("Timestamp must be a number: {line}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        ts > 1_600_000_000_000 && ts <= now,
        "Timestamp is epoch milliseconds"
    );
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    let d = &directives[0];
    assert_eq!(d["Namespace"], "DbSecretRotator");
    assert_eq!(d["Dimensions"], json!([["Step"], ["Step", "Cause"]]));
    assert_eq!(
        d["Metrics"],
        json!([
            {"Name": "StepDuration", "Unit": "Milliseconds"},
            {"Name": "StepFailed", "Unit": "Count"}
        ])
    );
    // Every dimension is a top-level string member, every metric a top-level number.
    for set in d["Dimensions"].as_array().unwrap() {
        let set = set.as_array().unwrap();
        assert!(!set.is_empty() && set.len() <= 30);
        for dim in set {
            let name = dim.as_str().unwrap();
            assert!(
                line[name].as_str().is_some_and(|v| !v.is_empty()),
                "dimension {name} must be a top-level string: {line}"
            );
        }
    }
    for m in d["Metrics"].as_array().unwrap() {
        let name = m["Name"].as_str().unwrap();
        assert!(
            line[name].is_number(),
            "metric {name} must be a top-level number: {line}"
        );
    }
}

#[tokio::test]
async fn step_lines_are_cloudwatch_embedded_metric_format() {
    let (arn, token) = rotating_secret().await;
    let ok = step(&arn, &token, "createSecret", &[]);
    let succeeded = ok.named("step_succeeded");
    assert_eq!(succeeded.len(), 1, "{}", ok.stdout);
    let line = succeeded[0];
    assert_emf(line);
    assert_eq!(line["Step"], "createSecret");
    assert_eq!(line["StepFailed"], 0);
    assert_eq!(line["StepDuration"], line["duration_ms"]);

    let fault = FaultServer::start();
    fault.error_always(
        "DescribeSecret",
        400,
        "AccessDeniedException",
        IDENTITY_DENIED,
    );
    let failed = step(
        &arn,
        &token,
        "setSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let line = failed.failure();
    assert_emf(line);
    assert_eq!(line["Step"], "setSecret");
    assert_eq!(line["Cause"], "secrets_manager_access_denied");
    assert_eq!(line["Cause"], line["cause"]);
    assert_eq!(line["StepFailed"], 1);

    // Other events are not metric documents (no accidental extra metrics).
    for e in ok.events.iter().chain(&failed.events) {
        let name = e["event"].as_str().unwrap();
        if name != "step_succeeded" && name != "step_failed" {
            assert!(e.get("_aws").is_none(), "{e}");
        }
    }
}

// ------------------------------------------------------------------ the operators' guide

#[test]
fn operators_guide_names_every_cause_and_finding() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operators.md")).unwrap();
    let missing: Vec<&str> = db_secret_rotator::failure::Cause::ALL
        .iter()
        .map(|c| c.code())
        .chain([
            "tls_downgraded",
            "stale_pending_label",
            "previous_credentials_used",
        ])
        .filter(|code| !guide.contains(&format!("`{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/operators.md does not name {missing:?}"
    );
}
