//! The policy checks of `diagnose --scope config` (`vpc_endpoint_policy`, `kms_key_policy`,
//! `role_permissions`) against configurations built in moto: a function in a VPC with a
//! Secrets Manager endpoint and its policy, a customer managed key with its key policy. IAM's
//! SimulatePrincipalPolicy is not in moto; its answers come from the fault-injecting
//! endpoint, as AWS would give them. The checks' AWS calls are recorded as `aws_call` events
//! in the suite's output, for the operator policy test (tests/operator_policy.rs).

use crate::common::fault::FaultServer;
use crate::common::*;
use db_secret_rotator::outside::policy::{policy_checks, PolicyCheck, Status, Target};
use db_secret_rotator::outside::Clients;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

// ------------------------------------------------------------------ the checks' own calls

/// Appends every `aws_call` event of this process to the suite's output, as the binary
/// prints it, so the operator policy test sees the checks' calls.
struct CallRecorder;

struct Fields(serde_json::Map<String, Value>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CallRecorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        if fields.0.get("event") == Some(&json!("aws_call")) {
            append_output(&format!("{}\n", Value::Object(fields.0)));
        }
    }
}

fn record_calls() {
    use tracing_subscriber::layer::SubscriberExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CallRecorder),
        );
    });
}

// ------------------------------------------------------------------ a configuration in moto

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// What a test varies.
struct Setup {
    /// The Secrets Manager endpoint's policy (None: no policy, full access).
    endpoint_policy: Option<fn(&World) -> Value>,
    /// The key policy (None: the secret uses the AWS managed key).
    key_policy: Option<fn(&World) -> Value>,
    disable_key: bool,
    /// The function runs in the VPC's subnets (else outside any VPC).
    in_vpc: bool,
}

/// The objects a test built: names and ids known before the policies are written.
struct World {
    role_arn: String,
    secret_name: String,
    secret_arn: String,
    function: String,
    key_id: Option<String>,
    /// Alternating users: the master secret and its customer managed key.
    master: Option<(String, String)>,
}

/// The healthy endpoint policy: the role may make the rotation's calls on its secrets.
fn endpoint_allows(w: &World) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Rotation", "Effect": "Allow",
        "Principal": {"AWS": w.role_arn}, "Action": "secretsmanager:*", "Resource": "*"}]})
}

/// The healthy key policy: the account delegates to IAM, and the role may use the key
/// through Secrets Manager for this secret (matched by name, as its ARN suffix is random).
fn key_for_this_secret(w: &World) -> Value {
    key_policy(
        w,
        &format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{}-*",
            w.secret_name
        ),
    )
}

fn key_policy(w: &World, secret_pattern: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "KeyAdmins", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/admin")},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "RotationUse", "Effect": "Allow", "Principal": {"AWS": w.role_arn},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"ArnLike": {"kms:EncryptionContext:SecretARN": secret_pattern},
                       "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}]})
}

const ZIP: &str = "UEsDBBQAAAAAAE0qfV2uVry6LQAAAC0AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gTm9uZQpQSwECFAMUAAAAAABNKn1drla8ui0AAAAtAAAACAAAAAAAAAAAAAAAgAEAAAAAaW5kZXgucHlQSwUGAAAAAAEAAQA2AAAAUwAAAAAA";

/// Builds the configuration in moto: a VPC with two subnets in two zones, a function in
/// them with its role, a Secrets Manager endpoint with private DNS, the key and the secret.
async fn build(setup: Setup) -> World {
    // Switches moto's Lambda backend before any function is created.
    rotation_function_arn().await;
    let conf = sdk_config(&services().moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let kms = aws_sdk_kms::Client::new(&conf);
    let name = unique("pol");

    let role = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();

    let vpc = ec2
        .create_vpc()
        .cidr_block("10.40.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, az) in [
        ("10.40.1.0/24", "us-east-1a"),
        ("10.40.2.0/24", "us-east-1b"),
    ] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let sg = ec2
        .create_security_group()
        .group_name(&name)
        .description("rotation function")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();

    let secret_name = unique("polsecret");
    let mut world = World {
        role_arn: role_arn.clone(),
        secret_arn: String::new(),
        secret_name: secret_name.clone(),
        function: name.clone(),
        key_id: None,
        master: None,
    };
    if let Some(policy) = setup.key_policy {
        let key = kms
            .create_key()
            .policy(policy(&world).to_string())
            .send()
            .await
            .unwrap();
        let key_id = key.key_metadata().unwrap().key_id().to_string();
        if setup.disable_key {
            kms.disable_key().key_id(&key_id).send().await.unwrap();
        }
        world.key_id = Some(key_id);
    }
    let mut create = sm().await.create_secret().name(&secret_name).secret_string(
        json!({"engine": "postgres", "host": "db.internal", "username": "app", "password": "x"})
            .to_string(),
    );
    if let Some(key) = &world.key_id {
        create = create.kms_key_id(key);
    }
    world.secret_arn = create.send().await.unwrap().arn().unwrap().to_string();

    let mut endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc_id)
        .service_name("com.amazonaws.us-east-1.secretsmanager")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .set_subnet_ids(Some(subnets.clone()))
        .security_group_ids(&sg)
        .private_dns_enabled(true);
    if let Some(policy) = setup.endpoint_policy {
        endpoint = endpoint.policy_document(policy(&world).to_string());
    }
    endpoint.send().await.unwrap();

    let body = json!({
        "FunctionName": name, "Runtime": "provided.al2023", "Role": role_arn,
        "Handler": "bootstrap", "Code": {"ZipFile": ZIP}, "Timeout": 60,
    });
    let mut body = body;
    if setup.in_vpc {
        body["VpcConfig"] = json!({"SubnetIds": subnets, "SecurityGroupIds": [sg]});
    }
    let resp = http::request(
        &moto_addr(),
        "POST",
        "/2015-03-31/functions",
        &[
            fake_auth("lambda"),
            ("content-type", "application/json".into()),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert!(
        resp.start.contains(" 201 "),
        "create_function: {}",
        resp.start
    );
    world
}

/// The simulation's answer for the role: `decision(action, resource)` for every call the
/// rotation makes on this world's objects (the check keeps the results it asked for).
fn simulation(w: &World, decision: impl Fn(&str) -> &'static str) -> String {
    let key_arn = w
        .key_id
        .as_ref()
        .map(|k| format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{k}"));
    let mut calls: Vec<(&str, String)> = [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    .into_iter()
    .map(|a| (a, w.secret_arn.clone()))
    .collect();
    calls.push(("secretsmanager:GetRandomPassword", "*".into()));
    if let Some(k) = &key_arn {
        calls.push(("kms:Decrypt", k.clone()));
        calls.push(("kms:GenerateDataKey", k.clone()));
    }
    if let Some((master, key)) = &w.master {
        calls.push(("secretsmanager:GetSecretValue", master.clone()));
        calls.push((
            "kms:Decrypt",
            format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}"),
        ));
    }
    let members: String = calls
        .iter()
        .map(|(a, r)| {
            let d = decision(a);
            let matched = if d == "implicitDeny" {
                String::new()
            } else {
                "<member><SourcePolicyId>rotation</SourcePolicyId><SourcePolicyType>IAM Policy</SourcePolicyType></member>".into()
            };
            format!("<member><EvalActionName>{a}</EvalActionName><EvalResourceName>{r}</EvalResourceName><EvalDecision>{d}</EvalDecision><MatchedStatements>{matched}</MatchedStatements><MissingContextValues/></member>")
        })
        .collect();
    format!("<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>", uuid::Uuid::new_v4())
}

fn all_allowed(w: &World) -> String {
    simulation(w, |_| "allowed")
}

/// Every action allowed but `action`, which gets `decision`.
fn one_refused(w: &World, action: &str, decision: &'static str) -> String {
    simulation(w, |a| if a == action { decision } else { "allowed" })
}

/// Runs the checks through `fault` (in front of moto).
async fn checks(w: &World, fault: &FaultServer) -> Vec<PolicyCheck> {
    record_calls();
    let clients = Clients::new(&sdk_config(fault.url()).await);
    let target = Target {
        secret_id: w.secret_arn.clone(),
        function: Some(w.function.clone()),
        master_secret_arn: w.master.as_ref().map(|(m, _)| m.clone()),
    };
    let checks = policy_checks(&clients, &target).await;
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        ["vpc_endpoint_policy", "kms_key_policy", "role_permissions"]
    );
    checks
}

fn named<'a>(checks: &'a [PolicyCheck], name: &str) -> &'a PolicyCheck {
    checks.iter().find(|c| c.name == name).unwrap()
}

fn expect_cause<'a>(
    checks: &'a [PolicyCheck],
    name: &str,
    cause: &str,
    evidence: &[&str],
) -> &'a PolicyCheck {
    let c = named(checks, name);
    assert_eq!(c.status, Status::Fail, "{name}: {c:?}");
    assert_eq!(c.cause.map(|c| c.code()), Some(cause), "{c:?}");
    for key in evidence {
        assert!(
            c.evidence.contains_key(*key),
            "{name} lacks evidence {key}: {c:?}"
        );
    }
    assert!(
        c.remedy.as_deref().is_some_and(|r| r.contains("aws ")),
        "{c:?}"
    );
    c
}

fn healthy() -> Setup {
    Setup {
        endpoint_policy: Some(endpoint_allows),
        key_policy: Some(key_for_this_secret),
        disable_key: false,
        in_vpc: true,
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn a_healthy_configuration_has_no_fail_and_no_warn() {
    let w = build(healthy()).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    for c in &checks {
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert_eq!(c.cause, None);
    }
    // The key condition names this secret: the positive control of kms_key_policy_denies.
    assert!(named(&checks, "kms_key_policy")
        .detail
        .contains("RotationUse"));
    assert_eq!(
        fault.faulted("SimulatePrincipalPolicy"),
        3,
        "one simulation per resource"
    );
}

#[tokio::test]
async fn an_endpoint_policy_denying_put_for_the_role_is_vpc_endpoint_policy_denies() {
    let mut setup = healthy();
    setup.endpoint_policy = Some(|w| {
        let mut p = endpoint_allows(w);
        p["Statement"].as_array_mut().unwrap().push(json!({"Sid": "NoWrites", "Effect": "Deny",
            "Principal": {"AWS": w.role_arn}, "Action": "secretsmanager:PutSecretValue", "Resource": "*"}));
        p
    });
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "vpc_endpoint_policy",
        "vpc_endpoint_policy_denies",
        &["vpc_endpoint", "actions"],
    );
    assert_eq!(
        c.evidence["actions"],
        json!(["secretsmanager:PutSecretValue"])
    );
    assert_eq!(c.evidence["statement"], json!("NoWrites"));
    assert!(c.evidence["vpc_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("vpce-"));
    assert!(c.remedy.as_deref().unwrap().contains("modify-vpc-endpoint"));
    // Only the endpoint is at fault.
    assert_eq!(named(&checks, "kms_key_policy").status, Status::Ok);
    assert_eq!(named(&checks, "role_permissions").status, Status::Ok);
}

#[tokio::test]
async fn an_endpoint_policy_for_another_role_is_vpc_endpoint_policy_denies() {
    let mut setup = healthy();
    setup.endpoint_policy = Some(|_| {
        json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/someone-else")},
            "Action": "secretsmanager:*", "Resource": "*"}]})
    });
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "vpc_endpoint_policy",
        "vpc_endpoint_policy_denies",
        &["vpc_endpoint", "actions"],
    );
    assert_eq!(c.evidence["actions"].as_array().unwrap().len(), 5, "{c:?}");
    // The remedy is the current policy plus a statement for the role, ready to paste.
    let remedy = c.remedy.as_deref().unwrap();
    assert!(
        remedy.contains("someone-else") && remedy.contains(&w.role_arn),
        "{remedy}"
    );
}

#[tokio::test]
async fn a_key_condition_naming_another_secret_is_kms_key_policy_denies() {
    let mut setup = healthy();
    setup.key_policy = Some(|w| {
        key_policy(
            w,
            &format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:some-other-secret-*"),
        )
    });
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "kms_key_policy",
        "kms_key_policy_denies",
        &["key_id", "statement"],
    );
    assert_eq!(c.evidence["key_id"], json!(w.key_id.as_deref().unwrap()));
    assert_eq!(c.evidence["statement"], json!("RotationUse"));
    assert!(c.remedy.as_deref().unwrap().contains("put-key-policy"));
    assert!(c.remedy.as_deref().unwrap().contains(&w.secret_arn));
}

#[tokio::test]
async fn a_key_policy_delegating_to_the_account_is_not_a_fail() {
    let mut setup = healthy();
    setup.key_policy = Some(|_| {
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "EnableIAM", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]})
    });
    let w = build(setup).await;
    let fault = FaultServer::start();
    // The role's side of the delegation is what role_permissions simulates.
    fault.answer_always(
        "SimulatePrincipalPolicy",
        200,
        &one_refused(&w, "kms:Decrypt", "implicitDeny"),
    );
    let checks = checks(&w, &fault).await;
    let kms = named(&checks, "kms_key_policy");
    assert_eq!(kms.status, Status::Ok);
    assert!(kms.detail.contains("delegated to IAM"), "{}", kms.detail);
    let c = expect_cause(
        &checks,
        "role_permissions",
        "role_permission_missing",
        &["actions", "resource"],
    );
    assert_eq!(c.evidence["actions"], json!(["kms:Decrypt"]));
    assert!(c.evidence["resource"]
        .as_str()
        .unwrap()
        .ends_with(w.key_id.as_deref().unwrap()));
}

#[tokio::test]
async fn a_disabled_key_is_kms_key_unusable() {
    let mut setup = healthy();
    setup.disable_key = true;
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "kms_key_policy",
        "kms_key_unusable",
        &["key_id", "key_state"],
    );
    assert_eq!(c.evidence["key_state"], json!("Disabled"));
    assert!(c.remedy.as_deref().unwrap().contains(&format!(
        "aws kms enable-key --key-id {}",
        w.key_id.as_deref().unwrap()
    )));
}

#[tokio::test]
async fn a_role_without_put_secret_value_is_role_permission_missing() {
    let w = build(healthy()).await;
    let fault = FaultServer::start();
    fault.answer_always(
        "SimulatePrincipalPolicy",
        200,
        &one_refused(&w, "secretsmanager:PutSecretValue", "implicitDeny"),
    );
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "role_permissions",
        "role_permission_missing",
        &["actions", "resource"],
    );
    assert_eq!(
        c.evidence["actions"],
        json!(["secretsmanager:PutSecretValue"])
    );
    assert_eq!(c.evidence["resource"], json!(w.secret_arn));
    let remedy = c.remedy.as_deref().unwrap();
    assert!(
        remedy.starts_with("aws iam put-role-policy --role-name "),
        "{remedy}"
    );
    assert!(
        remedy.contains(&w.function) && remedy.contains("secretsmanager:PutSecretValue"),
        "{remedy}"
    );
}

#[tokio::test]
async fn an_explicit_deny_of_the_role_is_role_permission_missing() {
    let w = build(healthy()).await;
    let fault = FaultServer::start();
    fault.answer_always(
        "SimulatePrincipalPolicy",
        200,
        &one_refused(
            &w,
            "secretsmanager:UpdateSecretVersionStage",
            "explicitDeny",
        ),
    );
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "role_permissions",
        "role_permission_missing",
        &["actions", "resource"],
    );
    assert_eq!(c.evidence["denials"][0]["decision"], json!("explicitDeny"));
    assert_eq!(c.evidence["denials"][0]["policies"], json!(["rotation"]));
    // An Allow cannot fix an explicit deny: the remedy names the Deny, not a new grant.
    let remedy = c.remedy.as_deref().unwrap();
    assert!(
        remedy.contains("rotation") && !remedy.contains("put-role-policy"),
        "{remedy}"
    );
}

#[tokio::test]
async fn a_denied_read_is_skipped_naming_the_action() {
    let w = build(healthy()).await;
    let fault = FaultServer::start();
    fault.error_always(
        "GetKeyPolicy",
        400,
        "AccessDeniedException",
        "not authorized",
    );
    fault.error_always(
        "DescribeVpcEndpoints",
        403,
        "UnauthorizedOperation",
        "not authorized",
    );
    fault.error_always(
        "SimulatePrincipalPolicy",
        403,
        "AccessDenied",
        "not authorized",
    );
    let checks = checks(&w, &fault).await;
    for (name, action) in [
        ("vpc_endpoint_policy", "ec2:DescribeVpcEndpoints"),
        ("kms_key_policy", "kms:GetKeyPolicy"),
        ("role_permissions", "iam:SimulatePrincipalPolicy"),
    ] {
        let c = named(&checks, name);
        assert_eq!(c.status, Status::Skipped, "{c:?}");
        assert!(
            c.detail.contains(action),
            "{name} should name {action}: {}",
            c.detail
        );
        assert_eq!(c.cause, None);
    }
}

#[tokio::test]
async fn simulation_unimplemented_by_the_endpoint_is_skipped() {
    // moto answers SimulatePrincipalPolicy with HTTP 500: forwarded as it is.
    let w = build(healthy()).await;
    let fault = FaultServer::start();
    let checks = checks(&w, &fault).await;
    let c = named(&checks, "role_permissions");
    assert_eq!(c.status, Status::Skipped, "{c:?}");
    assert!(
        c.detail.contains("iam:SimulatePrincipalPolicy"),
        "{}",
        c.detail
    );
}

#[tokio::test]
async fn the_aws_managed_key_skips_the_key_policy_check() {
    let mut setup = healthy();
    setup.key_policy = None;
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = named(&checks, "kms_key_policy");
    assert_eq!(c.status, Status::Skipped, "{c:?}");
    assert!(c.detail.contains("aws/secretsmanager"), "{}", c.detail);
    assert_eq!(named(&checks, "role_permissions").status, Status::Ok);
    assert_eq!(fault.calls("DescribeKey"), 0);
}

#[tokio::test]
async fn an_unknown_key_condition_is_a_warn_not_a_fail() {
    let mut setup = healthy();
    setup.key_policy = Some(|w| {
        json!({"Statement": [{"Sid": "TaggedOnly", "Effect": "Allow", "Principal": {"AWS": w.role_arn},
            "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "db"}}}]})
    });
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = named(&checks, "kms_key_policy");
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(c.detail.contains("aws:PrincipalTag/team"), "{}", c.detail);
}

#[tokio::test]
async fn a_master_key_for_the_rotated_secret_only_is_kms_key_policy_denies() {
    let mut w = build(healthy()).await;
    // The master's key admits the rotated secret's context, not the master's own.
    let kms = aws_sdk_kms::Client::new(&sdk_config(&services().moto).await);
    let key = kms
        .create_key()
        .policy(key_for_this_secret(&w).to_string())
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let master = sm()
        .await
        .create_secret()
        .name(unique("polmaster"))
        .kms_key_id(&key_id)
        .secret_string(json!({"engine": "postgres", "host": "db.internal", "username": "admin", "password": "x"}).to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    w.master = Some((master.clone(), key_id.clone()));
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = expect_cause(
        &checks,
        "kms_key_policy",
        "kms_key_policy_denies",
        &["key_id", "statement"],
    );
    assert_eq!(c.evidence["key_id"], json!(key_id));
    assert_eq!(c.evidence["secret"], json!(master));
    assert_eq!(c.evidence["actions"], json!(["kms:Decrypt"]));
    // The role's own permissions cover the master and its key too: one simulation each
    // for the secret, actions without a resource, the master, and each key.
    assert_eq!(named(&checks, "role_permissions").status, Status::Ok);
    assert_eq!(fault.faulted("SimulatePrincipalPolicy"), 5);
}

#[tokio::test]
async fn a_function_outside_any_vpc_skips_the_endpoint_policy() {
    let mut setup = healthy();
    // An endpoint that would deny everything, which the function's calls never pass.
    setup.endpoint_policy = Some(
        |_| json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}),
    );
    setup.in_vpc = false;
    let w = build(setup).await;
    let fault = FaultServer::start();
    fault.answer_always("SimulatePrincipalPolicy", 200, &all_allowed(&w));
    let checks = checks(&w, &fault).await;
    let c = named(&checks, "vpc_endpoint_policy");
    assert_eq!(c.status, Status::Skipped, "{c:?}");
    assert!(c.detail.contains("outside any VPC"), "{}", c.detail);
    assert_eq!(fault.calls("DescribeVpcEndpoints"), 0);
    assert_eq!(named(&checks, "kms_key_policy").status, Status::Ok);
}
