//! The network half of the configuration checks against configurations built in moto: a VPC
//! with two subnets in two AZs, route tables, internet and NAT gateways, interface endpoints,
//! security groups, custom network ACLs, a Lambda function with VpcConfig, timeout, reserved
//! concurrency and invoke permission, and an RDS instance with a subnet group and groups.
//! moto stores these and enforces none of them, so each test reads a configuration and checks
//! what the library concludes from it. Every test builds its own VPC.

mod common;

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, PortRange, RuleAction, UserIdGroupPair, VpcEndpointType,
};
use base64::Engine as _;
use common::*;
use db_secret_rotator::failure::Cause;
use db_secret_rotator::outside::network::{
    config_checks, ConfigCheck, Reader, SecretFacts, Status,
};
use db_secret_rotator::outside::Clients;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:net-AbCdEf";

async fn clients() -> Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&services().moto)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Clients::new(&conf)
}

/// One VPC as a test builds it: ids of everything the checks read.
struct Lab {
    c: Clients,
    vpc: String,
    subnets: [String; 2],
    main_rtb: String,
    fn_sg: String,
    ep_sg: String,
    db_sg: String,
    function: String,
    db_host: String,
}

fn tcp_to_group(port: i32, group: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
        .build()
}

fn tcp_to_cidr(port: i32, cidr: &str) -> IpPermission {
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

    async fn ingress(&self, group: &str, p: IpPermission) {
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
        let eip = ec2.allocate_address().send().await.unwrap();
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(&self.subnets[0])
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
struct FnSpec {
    timeout: i32,
    permission: bool,
    concurrency: Option<i32>,
}

const HEALTHY_FN: FnSpec = FnSpec {
    timeout: 30,
    permission: true,
    concurrency: None,
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
async fn lab(spec: FnSpec) -> Lab {
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
    lab.tight_acl(&[&both[0], &both[1]]).await;
    lab.endpoint("secretsmanager", &lab.ep_sg.clone(), true)
        .await;
    create_vpc_function(&lab, &spec).await;
    lab.db_host = create_db(&lab.c, &lab.subnets, &lab.db_sg).await;
    lab
}

async fn create_vpc_function(lab: &Lab, spec: &FnSpec) {
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
        .vpc_config(
            aws_sdk_lambda::types::VpcConfig::builder()
                .subnet_ids(&lab.subnets[0])
                .subnet_ids(&lab.subnets[1])
                .security_group_ids(&lab.fn_sg)
                .build(),
        )
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
    let lab = lab(HEALTHY_FN).await;
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
