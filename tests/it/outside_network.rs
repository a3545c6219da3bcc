//! The network half of the configuration checks against configurations built in moto: a VPC
//! with two subnets in two AZs, route tables, internet and NAT gateways, interface endpoints,
//! security groups, custom network ACLs, a Lambda function with VpcConfig, timeout, reserved
//! concurrency and invoke permission, and an RDS instance with a subnet group and groups.
//! moto stores these and enforces none of them, so each test reads a configuration and checks
//! what the library concludes from it. Every test builds its own VPC.

use crate::common::*;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, PortRange, RuleAction, UserIdGroupPair, VpcEndpointType,
};
use base64::Engine as _;
use db_secret_rotator::failure::Cause;
use db_secret_rotator::outside::network::service::secrets_manager_endpoint;
use db_secret_rotator::outside::network::{
    config_checks, ConfigCheck, Reader, SecretFacts, Status,
};
use db_secret_rotator::outside::Clients;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:net-AbCdEf";

pub(crate) async fn clients() -> Clients {
    clients_at(&services().moto).await
}

pub(crate) async fn clients_at(endpoint: &str) -> Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Clients::new(&conf)
}

/// One VPC as a test builds it: ids of everything the checks read (also the fixture of
/// `diagnose --scope config` in diagnose_config.rs and of `audit --deep` in audit/deep.rs).
pub(crate) struct Lab {
    pub(crate) c: Clients,
    pub(crate) vpc: String,
    pub(crate) subnets: [String; 2],
    pub(crate) main_rtb: String,
    pub(crate) fn_sg: String,
    pub(crate) ep_sg: String,
    pub(crate) db_sg: String,
    pub(crate) function: String,
    pub(crate) db_host: String,
    pub(crate) acl: String,
    pub(crate) sm_endpoint: String,
}

pub(crate) fn tcp_to_group(port: i32, group: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
        .build()
}

pub(crate) fn tcp_to_cidr(port: i32, cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

impl Lab {
    async fn group(&self, name: &str) -> String {
        let ec2 = &self.c.ec2;
        let g = ec2
            .create_security_group()
            .group_name(unique(name))
            .description(name)
            .vpc_id(&self.vpc)
            .send()
            .await
            .unwrap()
            .group_id()
            .unwrap()
            .to_string();
        // Tight groups: no default allow-all egress.
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let _ = ec2
            .revoke_security_group_egress()
            .group_id(&g)
            .ip_permissions(all)
            .send()
            .await;
        g
    }

    async fn egress(&self, group: &str, p: IpPermission) {
        self.c
            .ec2
            .authorize_security_group_egress()
            .group_id(group)
            .ip_permissions(p)
            .send()
            .await
            .unwrap();
    }

    pub(crate) async fn ingress(&self, group: &str, p: IpPermission) {
        self.c
            .ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(p)
            .send()
            .await
            .unwrap();
    }

    /// A custom ACL for `subnets` with these entries (egress, rule, from, to, cidr).
    async fn acl(&self, subnets: &[&str], entries: &[(bool, i32, i32, i32, &str)]) -> String {
        let ec2 = &self.c.ec2;
        let acl = ec2
            .create_network_acl()
            .vpc_id(&self.vpc)
            .send()
            .await
            .unwrap()
            .network_acl()
            .unwrap()
            .network_acl_id()
            .unwrap()
            .to_string();
        for (egress, rule, from, to, cidr) in entries {
            ec2.create_network_acl_entry()
                .network_acl_id(&acl)
                .rule_number(*rule)
                .protocol("6")
                .rule_action(RuleAction::Allow)
                .egress(*egress)
                .cidr_block(*cidr)
                .port_range(PortRange::builder().from(*from).to(*to).build())
                .send()
                .await
                .unwrap();
        }
        for s in subnets {
            let current = ec2
                .describe_network_acls()
                .filters(
                    Filter::builder()
                        .name("association.subnet-id")
                        .values(*s)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let assoc = current
                .network_acls()
                .iter()
                .flat_map(|a| a.associations())
                .find(|a| a.subnet_id() == Some(*s))
                .and_then(|a| a.network_acl_association_id())
                .unwrap()
                .to_string();
            ec2.replace_network_acl_association()
                .association_id(assoc)
                .network_acl_id(&acl)
                .send()
                .await
                .unwrap();
        }
        acl
    }

    /// Exactly what the function needs within the VPC: 443 and 5432 out and in, and the
    /// ephemeral ports for the return traffic, both ways.
    async fn tight_acl(&self, subnets: &[&str]) -> String {
        let mut entries = Vec::new();
        for egress in [true, false] {
            entries.push((egress, 100, 443, 443, "10.0.0.0/16"));
            entries.push((egress, 110, 5432, 5432, "10.0.0.0/16"));
            entries.push((egress, 120, 1024, 65535, "10.0.0.0/16"));
        }
        self.acl(subnets, &entries).await
    }

    async fn endpoint(&self, service: &str, group: &str, private_dns: bool) -> String {
        self.c
            .ec2
            .create_vpc_endpoint()
            .vpc_id(&self.vpc)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .service_name(format!("com.amazonaws.us-east-1.{service}"))
            .subnet_ids(&self.subnets[0])
            .subnet_ids(&self.subnets[1])
            .security_group_ids(group)
            .private_dns_enabled(private_dns)
            .send()
            .await
            .unwrap()
            .vpc_endpoint()
            .unwrap()
            .vpc_endpoint_id()
            .unwrap()
            .to_string()
    }

    async fn default_route(&self, igw: bool) -> String {
        let ec2 = &self.c.ec2;
        let gw = ec2
            .create_internet_gateway()
            .send()
            .await
            .unwrap()
            .internet_gateway()
            .unwrap()
            .internet_gateway_id()
            .unwrap()
            .to_string();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&gw)
            .vpc_id(&self.vpc)
            .send()
            .await
            .unwrap();
        let route = ec2
            .create_route()
            .route_table_id(&self.main_rtb)
            .destination_cidr_block("0.0.0.0/0");
        if igw {
            route.gateway_id(&gw).send().await.unwrap();
            return gw;
        }
        // The NAT gateway lives in a public subnet whose own table routes to the internet
        // gateway (and which keeps the VPC's default, open ACL).
        let public = ec2
            .create_subnet()
            .vpc_id(&self.vpc)
            .cidr_block("10.0.3.0/24")
            .availability_zone("us-east-1a")
            .send()
            .await
            .unwrap()
            .subnet()
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_string();
        let table = ec2
            .create_route_table()
            .vpc_id(&self.vpc)
            .send()
            .await
            .unwrap()
            .route_table()
            .unwrap()
            .route_table_id()
            .unwrap()
            .to_string();
        ec2.associate_route_table()
            .route_table_id(&table)
            .subnet_id(&public)
            .send()
            .await
            .unwrap();
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&gw)
            .send()
            .await
            .unwrap();
        let eip = ec2.allocate_address().send().await.unwrap();
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(&public)
            .allocation_id(eip.allocation_id().unwrap())
            .send()
            .await
            .unwrap()
            .nat_gateway()
            .unwrap()
            .nat_gateway_id()
            .unwrap()
            .to_string();
        route.nat_gateway_id(&nat).send().await.unwrap();
        nat
    }

    pub(crate) async fn revoke_ingress(&self, group: &str, p: IpPermission) {
        self.c
            .ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .ip_permissions(p)
            .send()
            .await
            .unwrap();
    }

    async fn revoke_egress(&self, group: &str, p: IpPermission) {
        self.c
            .ec2
            .revoke_security_group_egress()
            .group_id(group)
            .ip_permissions(p)
            .send()
            .await
            .unwrap();
    }

    async fn drop_sm_endpoint(&self) {
        self.c
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(&self.sm_endpoint)
            .send()
            .await
            .unwrap();
    }

    async fn acl_entry(&self, egress: bool, rule: i32, from: i32, to: i32, cidr: &str) {
        self.c
            .ec2
            .create_network_acl_entry()
            .network_acl_id(&self.acl)
            .rule_number(rule)
            .protocol("6")
            .rule_action(RuleAction::Allow)
            .egress(egress)
            .cidr_block(cidr)
            .port_range(PortRange::builder().from(from).to(to).build())
            .send()
            .await
            .unwrap();
    }

    async fn checks(&self, rds_managed_master: bool) -> Vec<ConfigCheck> {
        let facts = SecretFacts {
            secret_arn: SECRET.into(),
            host: Some(self.db_host.clone()),
            port: Some(5432),
            rds_managed_master,
        };
        let mut reader = Reader::new(self.c.clone());
        config_checks(&mut reader, &facts, &self.function).await
    }
}

/// What a lab's function is like.
pub(crate) struct FnSpec {
    pub(crate) timeout: i32,
    pub(crate) permission: bool,
    pub(crate) concurrency: Option<i32>,
    pub(crate) vpc: bool,
}

pub(crate) const HEALTHY_FN: FnSpec = FnSpec {
    timeout: 30,
    permission: true,
    concurrency: None,
    vpc: true,
};

async fn vpc(c: &Clients) -> (String, [String; 2], String) {
    let ec2 = &c.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let tables = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap();
    let main = tables
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    (vpc, [subnets[0].clone(), subnets[1].clone()], main)
}

/// The healthy configuration: two subnets in two AZs, a Secrets Manager endpoint with private
/// DNS in both, tight groups, one custom ACL allowing exactly what is needed, a function that
/// fits, and a database in the same subnets that admits the function.
pub(crate) async fn healthy_lab(spec: FnSpec) -> Lab {
    rotation_function_arn().await; // moto's Lambda without Docker, and the role
    let c = clients().await;
    let (vpc, subnets, main_rtb) = vpc(&c).await;
    let mut lab = Lab {
        c,
        vpc,
        subnets,
        main_rtb,
        fn_sg: String::new(),
        ep_sg: String::new(),
        db_sg: String::new(),
        function: unique("net-fn").replace('_', "-"),
        db_host: String::new(),
        acl: String::new(),
        sm_endpoint: String::new(),
    };
    lab.fn_sg = lab.group("fn").await;
    lab.ep_sg = lab.group("endpoint").await;
    lab.db_sg = lab.group("db").await;
    lab.egress(&lab.fn_sg, tcp_to_group(443, &lab.ep_sg)).await;
    lab.egress(&lab.fn_sg, tcp_to_group(5432, &lab.db_sg)).await;
    lab.ingress(&lab.ep_sg, tcp_to_group(443, &lab.fn_sg)).await;
    lab.ingress(&lab.db_sg, tcp_to_group(5432, &lab.fn_sg))
        .await;
    let both = [lab.subnets[0].clone(), lab.subnets[1].clone()];
    lab.acl = lab.tight_acl(&[&both[0], &both[1]]).await;
    lab.sm_endpoint = lab
        .endpoint("secretsmanager", &lab.ep_sg.clone(), true)
        .await;
    create_vpc_function(&lab, &spec).await;
    lab.db_host = create_db(&lab.c, &lab.subnets, &lab.db_sg).await;
    lab
}

pub(crate) async fn create_vpc_function(lab: &Lab, spec: &FnSpec) {
    const ZIP: &str = "UEsDBBQAAAAAAE0qfV2uVry6LQAAAC0AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gTm9uZQpQSwECFAMUAAAAAABNKn1drla8ui0AAAAtAAAACAAAAAAAAAAAAAAAgAEAAAAAaW5kZXgucHlQSwUGAAAAAAEAAQA2AAAAUwAAAAAA";
    let zip = base64::engine::general_purpose::STANDARD
        .decode(ZIP)
        .unwrap();
    let l = &lab.c.lambda;
    l.create_function()
        .function_name(&lab.function)
        .runtime(aws_sdk_lambda::types::Runtime::Python311)
        .role("arn:aws:iam::123456789012:role/dsr-rotation-role")
        .handler("index.handler")
        .timeout(spec.timeout)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .set_vpc_config(spec.vpc.then(|| {
            aws_sdk_lambda::types::VpcConfig::builder()
                .subnet_ids(&lab.subnets[0])
                .subnet_ids(&lab.subnets[1])
                .security_group_ids(&lab.fn_sg)
                .build()
        }))
        .send()
        .await
        .unwrap();
    if spec.permission {
        l.add_permission()
            .function_name(&lab.function)
            .statement_id("SecretsManagerAccess")
            .action("lambda:InvokeFunction")
            .principal("secretsmanager.amazonaws.com")
            .send()
            .await
            .unwrap();
    }
    if let Some(n) = spec.concurrency {
        l.put_function_concurrency()
            .function_name(&lab.function)
            .reserved_concurrent_executions(n)
            .send()
            .await
            .unwrap();
    }
}

/// An RDS instance in these subnets with this group; returns its endpoint address.
async fn create_db(c: &Clients, subnets: &[String; 2], group: &str) -> String {
    let id = unique("netdb").replace('_', "-");
    c.rds
        .create_db_subnet_group()
        .db_subnet_group_name(&id)
        .db_subnet_group_description("net")
        .subnet_ids(&subnets[0])
        .subnet_ids(&subnets[1])
        .send()
        .await
        .unwrap();
    let out = c
        .rds
        .create_db_instance()
        .db_instance_identifier(&id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("master")
        .master_user_password("not-a-secret-0")
        .allocated_storage(20)
        .db_subnet_group_name(&id)
        .vpc_security_group_ids(group)
        .port(5432)
        .publicly_accessible(false)
        .send()
        .await
        .unwrap();
    out.db_instance()
        .and_then(|i| i.endpoint())
        .and_then(|e| e.address())
        .unwrap()
        .to_string()
}

fn check<'a>(checks: &'a [ConfigCheck], name: &str) -> &'a ConfigCheck {
    checks.iter().find(|c| c.name == name).unwrap()
}

fn expect(
    checks: &[ConfigCheck],
    name: &str,
    cause: Cause,
) -> serde_json::Map<String, serde_json::Value> {
    let c = check(checks, name);
    assert_eq!((c.status, c.cause), (Status::Fail, Some(cause)), "{c:#?}");
    assert!(c.remedy.as_deref().is_some_and(|r| r.len() > 20), "{c:#?}");
    c.evidence.clone()
}

#[tokio::test]
async fn healthy_configuration_has_no_fail_and_no_warn() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.endpoint("rds", &lab.ep_sg, true).await;
    let checks = lab.checks(true).await;
    let names: Vec<_> = checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "rotation_function",
            "network_secrets_manager",
            "network_database",
            "network_rds_api"
        ]
    );
    for c in &checks {
        assert_eq!(c.status, Status::Ok, "{c:#?}");
    }
    // Not alternating users with an RDS-managed master: the RDS API is not needed.
    let checks = lab.checks(false).await;
    assert_eq!(check(&checks, "network_rds_api").status, Status::Skipped);
}

// ------------------------------------------------------------------ rotation_function

#[tokio::test]
async fn missing_function_is_function_not_found() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let facts = SecretFacts {
        secret_arn: SECRET.into(),
        host: Some(lab.db_host.clone()),
        port: Some(5432),
        rds_managed_master: false,
    };
    let mut reader = Reader::new(lab.c.clone());
    let checks = config_checks(&mut reader, &facts, "no-such-rotation-function").await;
    let ev = expect(&checks, "rotation_function", Cause::FunctionNotFound);
    assert_eq!(ev["function"], "no-such-rotation-function");
    for c in &checks[1..] {
        assert_eq!(c.status, Status::Skipped, "{c:#?}");
    }
}

#[tokio::test]
async fn short_timeout_is_function_timeout_too_short() {
    let lab = healthy_lab(FnSpec {
        timeout: 3,
        ..HEALTHY_FN
    })
    .await;
    let checks = lab.checks(false).await;
    let ev = expect(&checks, "rotation_function", Cause::FunctionTimeoutTooShort);
    assert_eq!(
        (ev["timeout_s"].as_i64(), ev["needed_s"].as_i64()),
        (Some(3), Some(9))
    );
    let remedy = check(&checks, "rotation_function").remedy.clone().unwrap();
    assert!(
        remedy.contains(&format!(
            "update-function-configuration --function-name {} --timeout 30",
            lab.function
        )),
        "{remedy}"
    );
}

#[tokio::test]
async fn low_reserved_concurrency_is_function_concurrency_too_low() {
    let lab = healthy_lab(FnSpec {
        concurrency: Some(2),
        ..HEALTHY_FN
    })
    .await;
    let checks = lab.checks(false).await;
    let ev = expect(
        &checks,
        "rotation_function",
        Cause::FunctionConcurrencyTooLow,
    );
    assert_eq!(ev["reserved_concurrency"], 2);
    assert!(check(&checks, "rotation_function")
        .remedy
        .as_deref()
        .unwrap()
        .contains("put-function-concurrency"));
    // Ten or more is fine (positive control).
    let ten = healthy_lab(FnSpec {
        concurrency: Some(10),
        ..HEALTHY_FN
    })
    .await;
    assert_eq!(
        check(&ten.checks(false).await, "rotation_function").status,
        Status::Ok
    );
}

#[tokio::test]
async fn missing_invoke_permission_is_function_invoke_permission_missing() {
    let lab = healthy_lab(FnSpec {
        permission: false,
        ..HEALTHY_FN
    })
    .await;
    let checks = lab.checks(false).await;
    let ev = expect(
        &checks,
        "rotation_function",
        Cause::FunctionInvokePermissionMissing,
    );
    assert_eq!(ev["function"], lab.function.as_str());
    let remedy = check(&checks, "rotation_function").remedy.clone().unwrap();
    assert!(
        remedy.starts_with(&format!(
            "aws lambda add-permission --function-name {}",
            lab.function
        )),
        "{remedy}"
    );
    assert!(remedy.contains("--principal secretsmanager.amazonaws.com"));
}

// ------------------------------------------------------------------ network_secrets_manager

#[tokio::test]
async fn internet_gateway_without_endpoint_is_secrets_manager_no_route() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.drop_sm_endpoint().await;
    let igw = lab.default_route(true).await;
    let checks = lab.checks(false).await;
    let ev = expect(
        &checks,
        "network_secrets_manager",
        Cause::SecretsManagerNoRoute,
    );
    assert!(lab
        .subnets
        .contains(&ev["subnet"].as_str().unwrap().to_string()));
    assert_eq!(ev["route_table"], lab.main_rtb.as_str());
    assert!(ev["found"].to_string().contains(&igw), "{ev:?}");
    let remedy = check(&checks, "network_secrets_manager")
        .remedy
        .clone()
        .unwrap();
    assert!(remedy.contains(&format!("create-vpc-endpoint --vpc-id {} --vpc-endpoint-type Interface --service-name com.amazonaws.us-east-1.secretsmanager", lab.vpc)), "{remedy}");
}

#[tokio::test]
async fn nat_route_instead_of_endpoint_does_not_fail() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.drop_sm_endpoint().await;
    lab.default_route(false).await;
    lab.egress(&lab.fn_sg, tcp_to_cidr(443, "0.0.0.0/0")).await;
    lab.acl_entry(true, 200, 443, 443, "0.0.0.0/0").await;
    lab.acl_entry(false, 210, 1024, 65535, "0.0.0.0/0").await;
    let checks = lab.checks(false).await;
    let c = check(&checks, "network_secrets_manager");
    assert_eq!(c.status, Status::Ok, "{c:#?}");
}

#[tokio::test]
async fn custom_dns_servers_make_private_dns_a_warning_not_a_fail() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let ec2 = &lab.c.ec2;
    let dhcp = ec2
        .create_dhcp_options()
        .dhcp_configurations(
            aws_sdk_ec2::types::NewDhcpConfiguration::builder()
                .key("domain-name-servers")
                .values("192.168.50.53")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = dhcp.dhcp_options().unwrap().dhcp_options_id().unwrap();
    ec2.associate_dhcp_options()
        .dhcp_options_id(id)
        .vpc_id(&lab.vpc)
        .send()
        .await
        .unwrap();
    let checks = lab.checks(false).await;
    let c = check(&checks, "network_secrets_manager");
    assert_eq!((c.status, c.cause), (Status::Warn, None), "{c:#?}");
    assert_eq!(c.evidence["dns_servers"][0], "192.168.50.53");
    assert_eq!(c.evidence["vpc_endpoint"], lab.sm_endpoint.as_str());
}

#[tokio::test]
async fn endpoint_group_not_admitting_the_function_is_vpc_endpoint_security_group_blocks() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.revoke_ingress(&lab.ep_sg, tcp_to_group(443, &lab.fn_sg))
        .await;
    lab.ingress(&lab.ep_sg, tcp_to_cidr(443, "192.168.0.0/16"))
        .await;
    let checks = lab.checks(false).await;
    let ev = expect(
        &checks,
        "network_secrets_manager",
        Cause::VpcEndpointSecurityGroupBlocks,
    );
    assert_eq!(ev["vpc_endpoint"], lab.sm_endpoint.as_str());
    assert_eq!(ev["security_groups"][0], lab.ep_sg.as_str());
    assert_eq!(ev["needed"]["port"], 443);
    let remedy = check(&checks, "network_secrets_manager")
        .remedy
        .clone()
        .unwrap();
    assert_eq!(remedy, format!("aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port 443 --source-group {}", lab.ep_sg, lab.fn_sg));
}

#[tokio::test]
async fn function_group_without_egress_to_the_endpoint_is_security_group_egress_blocks() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.revoke_egress(&lab.fn_sg, tcp_to_group(443, &lab.ep_sg))
        .await;
    let checks = lab.checks(false).await;
    let ev = expect(
        &checks,
        "network_secrets_manager",
        Cause::SecurityGroupEgressBlocks,
    );
    assert_eq!(ev["security_groups"][0], lab.fn_sg.as_str());
    assert_eq!(ev["needed"]["protocol"], "tcp");
    let remedy = check(&checks, "network_secrets_manager")
        .remedy
        .clone()
        .unwrap();
    assert!(
        remedy.contains(&format!(
            "authorize-security-group-egress --group-id {}",
            lab.fn_sg
        )),
        "{remedy}"
    );
    assert!(remedy.contains(&lab.ep_sg), "{remedy}");
    // The database path still works.
    assert_eq!(check(&checks, "network_database").status, Status::Ok);
}

#[tokio::test]
async fn acl_denying_https_in_one_of_two_subnets_is_network_acl_blocks() {
    let lab = healthy_lab(HEALTHY_FN).await;
    // Subnet b gets its own ACL, like the tight one but without HTTPS out.
    let b = lab.subnets[1].clone();
    let mut entries = Vec::new();
    for egress in [true, false] {
        if !egress {
            entries.push((egress, 100, 443, 443, "10.0.0.0/16"));
        }
        entries.push((egress, 110, 5432, 5432, "10.0.0.0/16"));
        entries.push((egress, 120, 1024, 65535, "10.0.0.0/16"));
    }
    let acl_b = lab.acl(&[&b], &entries).await;
    let checks = lab.checks(false).await;
    let ev = expect(&checks, "network_secrets_manager", Cause::NetworkAclBlocks);
    assert_eq!(ev["network_acl"], acl_b.as_str());
    assert_eq!(ev["subnet"], b.as_str());
    assert_eq!(ev["direction"], "outbound");
    assert_eq!(ev["implicit_deny"], true);
    assert_eq!(ev["needed"]["port"], 443);
    let remedy = check(&checks, "network_secrets_manager")
        .remedy
        .clone()
        .unwrap();
    assert!(remedy.starts_with(&format!("aws ec2 create-network-acl-entry --network-acl-id {acl_b} --egress --rule-number 130 --protocol tcp --port-range From=443,To=443 --cidr-block 10.0.1.0/24")), "{remedy}");
    // Subnet a's own ACL is fine: no finding names it.
    assert!(
        !serde_json::Value::Object(ev.clone())
            .to_string()
            .contains(&lab.acl),
        "{ev:?}"
    );
}

// ------------------------------------------------------------------ network_database

#[tokio::test]
async fn database_in_another_vpc_is_function_outside_db_vpc() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let (other_vpc, other_subnets, _) = vpc(&lab.c).await;
    let g = lab
        .c
        .ec2
        .create_security_group()
        .group_name(unique("otherdb"))
        .description("db")
        .vpc_id(&other_vpc)
        .send()
        .await
        .unwrap();
    let host = create_db(&lab.c, &other_subnets, g.group_id().unwrap()).await;
    let facts = SecretFacts {
        secret_arn: SECRET.into(),
        host: Some(host),
        port: Some(5432),
        rds_managed_master: false,
    };
    let mut reader = Reader::new(lab.c.clone());
    let checks = config_checks(&mut reader, &facts, &lab.function).await;
    let ev = expect(&checks, "network_database", Cause::FunctionOutsideDbVpc);
    assert_eq!(
        (ev["function_vpc"].as_str(), ev["db_vpc"].as_str()),
        (Some(lab.vpc.as_str()), Some(other_vpc.as_str()))
    );
}

#[tokio::test]
async fn function_in_no_vpc_and_private_database_is_function_outside_db_vpc() {
    let lab = healthy_lab(FnSpec {
        vpc: false,
        ..HEALTHY_FN
    })
    .await;
    let checks = lab.checks(false).await;
    let ev = expect(&checks, "network_database", Cause::FunctionOutsideDbVpc);
    assert_eq!(
        (ev["function_vpc"].clone(), ev["db_vpc"].as_str()),
        (serde_json::Value::Null, Some(lab.vpc.as_str()))
    );
    let remedy = check(&checks, "network_database").remedy.clone().unwrap();
    assert!(
        remedy.contains("--vpc-config 'SubnetIds=subnet-"),
        "{remedy}"
    );
    assert!(
        lab.subnets.iter().any(|s| remedy.contains(s.as_str())),
        "{remedy}"
    );
    // Outside a VPC, Lambda's own network reaches Secrets Manager.
    assert_eq!(check(&checks, "network_secrets_manager").status, Status::Ok);
}

#[tokio::test]
async fn database_group_not_admitting_the_function_is_db_security_group_blocks() {
    let lab = healthy_lab(HEALTHY_FN).await;
    lab.revoke_ingress(&lab.db_sg, tcp_to_group(5432, &lab.fn_sg))
        .await;
    let checks = lab.checks(false).await;
    let ev = expect(&checks, "network_database", Cause::DbSecurityGroupBlocks);
    assert!(ev["db_instance"].as_str().unwrap().starts_with("netdb"));
    assert_eq!(ev["security_groups"][0], lab.db_sg.as_str());
    assert_eq!(ev["needed"]["port"], 5432);
    let remedy = check(&checks, "network_database").remedy.clone().unwrap();
    assert_eq!(remedy, format!("aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port 5432 --source-group {}", lab.db_sg, lab.fn_sg));
    assert_eq!(check(&checks, "network_secrets_manager").status, Status::Ok);
}

#[tokio::test]
async fn aurora_cluster_endpoints_are_followed_to_the_cluster() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let id = unique("netcl").replace('_', "-");
    lab.c
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(&id)
        .db_subnet_group_description("net")
        .subnet_ids(&lab.subnets[0])
        .subnet_ids(&lab.subnets[1])
        .send()
        .await
        .unwrap();
    let out = lab
        .c
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .master_username("master")
        .master_user_password("not-a-secret-0")
        .db_subnet_group_name(&id)
        .vpc_security_group_ids(&lab.db_sg)
        .port(5432)
        .send()
        .await
        .unwrap();
    let cluster = out.db_cluster().unwrap();
    for host in [
        cluster.endpoint().unwrap(),
        cluster.reader_endpoint().unwrap(),
    ] {
        let facts = SecretFacts {
            secret_arn: SECRET.into(),
            host: Some(host.into()),
            port: Some(5432),
            rds_managed_master: false,
        };
        let checks = config_checks(&mut Reader::new(lab.c.clone()), &facts, &lab.function).await;
        let c = check(&checks, "network_database");
        assert_eq!(c.status, Status::Ok, "{host}: {c:#?}");
        assert!(c.detail.contains(&id), "{}", c.detail);
    }
    lab.revoke_ingress(&lab.db_sg, tcp_to_group(5432, &lab.fn_sg))
        .await;
    let facts = SecretFacts {
        secret_arn: SECRET.into(),
        host: cluster.endpoint().map(str::to_string),
        port: Some(5432),
        rds_managed_master: false,
    };
    let checks = config_checks(&mut Reader::new(lab.c.clone()), &facts, &lab.function).await;
    let ev = expect(&checks, "network_database", Cause::DbSecurityGroupBlocks);
    assert_eq!(ev["db_instance"], id.as_str());
}

#[tokio::test]
async fn secret_port_other_than_the_databases_is_a_warning() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let facts = SecretFacts {
        secret_arn: SECRET.into(),
        host: Some(lab.db_host.clone()),
        port: Some(5433),
        rds_managed_master: false,
    };
    let checks = config_checks(&mut Reader::new(lab.c.clone()), &facts, &lab.function).await;
    let c = check(&checks, "network_database");
    assert_eq!((c.status, c.cause), (Status::Warn, None), "{c:#?}");
    assert_eq!(
        (
            c.evidence["secret_port"].as_i64(),
            c.evidence["db_port"].as_i64()
        ),
        (Some(5433), Some(5432))
    );
}

#[tokio::test]
async fn host_that_is_no_rds_endpoint_is_a_warning_not_a_fail() {
    let lab = healthy_lab(HEALTHY_FN).await;
    for host in ["db.internal.example", "10.0.1.25"] {
        let facts = SecretFacts {
            secret_arn: SECRET.into(),
            host: Some(host.into()),
            port: Some(5432),
            rds_managed_master: false,
        };
        let mut reader = Reader::new(lab.c.clone());
        let checks = config_checks(&mut reader, &facts, &lab.function).await;
        let c = check(&checks, "network_database");
        assert_eq!((c.status, c.cause), (Status::Warn, None), "{c:#?}");
        assert!(c.detail.contains("no RDS endpoint"), "{}", c.detail);
    }
}

// ------------------------------------------------------------------ network_rds_api

#[tokio::test]
async fn rds_managed_master_without_endpoint_or_nat_is_rds_api_no_route() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let checks = lab.checks(true).await;
    let ev = expect(&checks, "network_rds_api", Cause::RdsApiNoRoute);
    assert!(lab
        .subnets
        .contains(&ev["subnet"].as_str().unwrap().to_string()));
    let remedy = check(&checks, "network_rds_api").remedy.clone().unwrap();
    assert!(
        remedy.contains("--service-name com.amazonaws.us-east-1.rds"),
        "{remedy}"
    );
    // Both subnets lack it: the other one is listed too.
    assert_eq!(
        ev["other_findings"].as_array().map(Vec::len),
        Some(1),
        "{ev:?}"
    );
}

// ------------------------------------------------------------------ reads

#[tokio::test]
async fn denied_function_read_is_skipped_naming_the_action() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let fault = crate::common::fault::FaultServer::start();
    fault.error_always(
        "GetFunctionConfiguration",
        403,
        "AccessDeniedException",
        "not allowed",
    );
    let c = clients_at(fault.url()).await;
    let facts = SecretFacts {
        secret_arn: SECRET.into(),
        host: Some(lab.db_host.clone()),
        port: Some(5432),
        rds_managed_master: false,
    };
    let checks = config_checks(&mut Reader::new(c), &facts, &lab.function).await;
    let first = check(&checks, "rotation_function");
    assert_eq!(
        (first.status, first.cause),
        (Status::Skipped, None),
        "{first:#?}"
    );
    assert_eq!(first.evidence["action"], "lambda:GetFunctionConfiguration");
    for c in &checks {
        assert_eq!(c.status, Status::Skipped, "{c:#?}");
    }
}

#[tokio::test]
async fn denied_route_tables_skip_the_network_checks_naming_the_action() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let fault = crate::common::fault::FaultServer::start();
    fault.error_always(
        "DescribeRouteTables",
        403,
        "UnauthorizedOperation",
        "not allowed",
    );
    let checks = config_checks(
        &mut Reader::new(clients_at(fault.url()).await),
        &SecretFacts {
            secret_arn: SECRET.into(),
            host: Some(lab.db_host.clone()),
            port: Some(5432),
            rds_managed_master: true,
        },
        &lab.function,
    )
    .await;
    assert_eq!(check(&checks, "rotation_function").status, Status::Ok);
    for name in [
        "network_secrets_manager",
        "network_database",
        "network_rds_api",
    ] {
        let c = check(&checks, name);
        assert_eq!((c.status, c.cause), (Status::Skipped, None), "{c:#?}");
        assert_eq!(c.evidence["action"], "ec2:DescribeRouteTables", "{c:#?}");
    }
}

#[tokio::test]
async fn the_secrets_manager_endpoint_in_use_is_found_for_the_policy_check() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let mut reader = Reader::new(lab.c.clone());
    let fun = reader.function(&lab.function).await.unwrap().unwrap();
    let e = secrets_manager_endpoint(&mut reader, &fun)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.id.as_str(), e.private_dns),
        (lab.sm_endpoint.as_str(), true)
    );
    lab.drop_sm_endpoint().await;
    let mut reader = Reader::new(lab.c.clone());
    assert_eq!(
        secrets_manager_endpoint(&mut reader, &fun).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn one_reader_reads_each_object_once_across_secrets() {
    let lab = healthy_lab(HEALTHY_FN).await;
    let fault = crate::common::fault::FaultServer::start();
    let mut reader = Reader::new(clients_at(fault.url()).await);
    let ops = [
        "GetFunctionConfiguration",
        "DescribeSubnets",
        "DescribeRouteTables",
        "DescribeNetworkAcls",
        "DescribeVpcEndpoints",
        "DescribeNatGateways",
        "DescribeSecurityGroups",
        "DescribeDBInstances",
    ];
    let mut after_first = Vec::new();
    for n in 0..3 {
        let facts = SecretFacts {
            secret_arn: format!("{SECRET}{n}"),
            host: Some(lab.db_host.clone()),
            port: Some(5432),
            rds_managed_master: true,
        };
        let checks = config_checks(&mut reader, &facts, &lab.function).await;
        assert_eq!(check(&checks, "network_database").status, Status::Ok);
        let counts: Vec<u64> = ops.iter().map(|op| fault.calls(op)).collect();
        if n == 0 {
            after_first = counts;
            // One function, one VPC: each per-VPC list is read once for all three network checks.
            for (op, count) in ops.iter().zip(&after_first) {
                let most = if *op == "DescribeSecurityGroups" || *op == "DescribeSubnets" {
                    2
                } else {
                    1
                };
                assert!((1..=most).contains(count), "{op}: {count}");
            }
        } else {
            assert_eq!(counts, after_first, "{ops:?}");
        }
    }
}
