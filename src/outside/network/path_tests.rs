//! Unit tests of the path checks over hand-built VPCs.

use super::*;
use crate::outside::network::service::service_findings;
use crate::outside::network::ConfigCheck;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn subnet(id: &str, cidr: &str) -> Subnet {
    Subnet {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        az: "us-east-1a".into(),
        cidr: cidr.into(),
    }
}

fn tcp(port: i32, cidrs: &[&str], groups: &[&str]) -> SgRule {
    SgRule {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        cidrs: s(cidrs),
        groups: s(groups),
        prefix_lists: vec![],
        ipv6: false,
    }
}

fn entry(n: i32, egress: bool, allow: bool, ports: (i32, i32), cidr: &str) -> AclEntry {
    AclEntry {
        rule_number: n,
        egress,
        allow,
        protocol: "6".into(),
        ports: Some(ports),
        cidr: Some(cidr.into()),
    }
}

/// The healthy VPC: two subnets, an endpoint with private DNS in both, tight groups, and one
/// custom ACL allowing exactly 443 and 5432 within the VPC and the ephemeral return ports.
fn healthy() -> (Net, Function) {
    let mut acl_entries = Vec::new();
    for egress in [true, false] {
        acl_entries.push(entry(100, egress, true, (443, 443), "10.0.0.0/16"));
        acl_entries.push(entry(110, egress, true, (5432, 5432), "10.0.0.0/16"));
        acl_entries.push(entry(120, egress, true, EPHEMERAL, "10.0.0.0/16"));
    }
    let net = Net {
        subnets: [
            subnet("subnet-a", "10.0.1.0/24"),
            subnet("subnet-b", "10.0.2.0/24"),
        ]
        .into_iter()
        .map(|x| (x.id.clone(), x))
        .collect(),
        groups: [
            SecurityGroup {
                id: "sg-fn".into(),
                vpc_id: "vpc-1".into(),
                ingress: vec![],
                egress: vec![tcp(443, &[], &["sg-ep"]), tcp(5432, &[], &["sg-db"])],
            },
            SecurityGroup {
                id: "sg-ep".into(),
                vpc_id: "vpc-1".into(),
                ingress: vec![tcp(443, &[], &["sg-fn"])],
                egress: vec![],
            },
        ]
        .into_iter()
        .map(|g| (g.id.clone(), g))
        .collect(),
        tables: vec![RouteTable {
            id: "rtb-main".into(),
            vpc_id: "vpc-1".into(),
            main: true,
            subnet_ids: vec![],
            routes: vec![Route {
                destination: "10.0.0.0/16".into(),
                target: Target::Local,
                active: true,
            }],
        }],
        acls: vec![NetworkAcl {
            id: "acl-1".into(),
            vpc_id: "vpc-1".into(),
            default: false,
            subnet_ids: s(&["subnet-a", "subnet-b"]),
            entries: acl_entries,
        }],
        endpoints: vec![Endpoint {
            id: "vpce-sm".into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.us-east-1.secretsmanager".into(),
            interface: true,
            subnet_ids: s(&["subnet-a", "subnet-b"]),
            security_group_ids: s(&["sg-ep"]),
            private_dns: true,
            state: "available".into(),
            policy: None,
        }],
        nats: vec![],
        dns_servers: vec![],
    };
    let fun = Function {
        name: "rot".into(),
        subnet_ids: s(&["subnet-a", "subnet-b"]),
        security_group_ids: s(&["sg-fn"]),
        timeout_s: 30,
        ..Function::default()
    };
    (net, fun)
}

fn sm(net: &Net, fun: &Function) -> ConfigCheck {
    ConfigCheck::from_findings(
        "network_secrets_manager",
        service_findings(
            net,
            fun,
            "secretsmanager",
            None,
            Cause::SecretsManagerNoRoute,
            "us-east-1",
        ),
        "fine",
    )
}

#[test]
fn a_healthy_vpc_has_no_finding() {
    let (net, fun) = healthy();
    assert!(service_findings(
        &net,
        &fun,
        "secretsmanager",
        None,
        Cause::SecretsManagerNoRoute,
        "us-east-1"
    )
    .is_empty());
}

#[test]
fn an_acl_deny_in_one_subnet_fails_naming_that_subnet() {
    let (mut net, fun) = healthy();
    let mut b = net.acls[0].clone();
    b.id = "acl-b".into();
    b.subnet_ids = s(&["subnet-b"]);
    b.entries
        .retain(|e| !(e.egress && e.ports == Some(EPHEMERAL)));
    net.acls[0].subnet_ids = s(&["subnet-a"]);
    net.acls.push(b);
    let c = sm(&net, &fun);
    assert_eq!(c.cause, Some(Cause::NetworkAclBlocks));
    assert_eq!(c.evidence["network_acl"], "acl-b");
    assert_eq!(c.evidence["subnet"], "subnet-b");
    assert_eq!(c.evidence["direction"], "outbound");
    assert_eq!(c.evidence["implicit_deny"], true);
    assert_eq!(c.evidence["needed"]["port"], "1024-65535");
    let remedy = c.remedy.unwrap();
    assert!(remedy.contains("--network-acl-id acl-b --egress --rule-number 120 --protocol tcp --port-range From=1024,To=65535 --cidr-block 10.0.1.0/24"), "{remedy}");
}

#[test]
fn an_endpoint_group_without_the_function_fails() {
    let (mut net, fun) = healthy();
    net.groups.get_mut("sg-ep").unwrap().ingress = vec![tcp(443, &["192.168.0.0/16"], &[])];
    let c = sm(&net, &fun);
    assert_eq!(c.cause, Some(Cause::VpcEndpointSecurityGroupBlocks));
    assert_eq!(c.evidence["vpc_endpoint"], "vpce-sm");
    assert!(c
        .remedy
        .unwrap()
        .contains("--group-id sg-ep --protocol tcp --port 443 --source-group sg-fn"));
}

#[test]
fn routes_decide_when_no_endpoint_is_named() {
    let (mut net, fun) = healthy();
    net.endpoints[0].private_dns = false;
    let c = sm(&net, &fun);
    assert_eq!(c.cause, Some(Cause::SecretsManagerNoRoute));
    assert!(c
        .remedy
        .unwrap()
        .contains("modify-vpc-endpoint --vpc-endpoint-id vpce-sm --private-dns-enabled"));
    // A NAT route is a way out; the function's group and ACL must let 443 out to anywhere.
    net.tables[0].routes.push(Route {
        destination: "0.0.0.0/0".into(),
        target: Target::Nat("nat-1".into()),
        active: true,
    });
    // The NAT gateway lives in a public subnet whose own table routes to the internet gateway.
    net.subnets
        .insert("subnet-pub".into(), subnet("subnet-pub", "10.0.3.0/24"));
    net.nats.push(NatGateway {
        id: "nat-1".into(),
        subnet_id: "subnet-pub".into(),
        public: true,
        state: "available".into(),
    });
    let mut public = net.tables[0].clone();
    (public.id, public.main, public.subnet_ids) = ("rtb-pub".into(), false, s(&["subnet-pub"]));
    net.tables.push(public);
    // Its table routes back to the NAT: a way out that leads nowhere.
    let findings = service_findings(
        &net,
        &fun,
        "secretsmanager",
        None,
        Cause::SecretsManagerNoRoute,
        "us-east-1",
    );
    assert!(
        findings
            .iter()
            .any(|f| f.cause == Some(Cause::SecretsManagerNoRoute)
                && f.evidence["found"][0].as_str().unwrap().contains("rtb-pub")),
        "{findings:#?}"
    );
    net.tables[1].routes[1].target = Target::InternetGateway("igw-1".into());
    let open = |egress| AclEntry {
        protocol: "-1".into(),
        ports: None,
        ..entry(100, egress, true, (0, 0), "0.0.0.0/0")
    };
    net.acls.push(NetworkAcl {
        id: "acl-pub".into(),
        vpc_id: "vpc-1".into(),
        default: true,
        subnet_ids: vec![],
        entries: vec![open(true), open(false)],
    });
    assert_eq!(sm(&net, &fun).cause, Some(Cause::SecurityGroupEgressBlocks));
    net.groups
        .get_mut("sg-fn")
        .unwrap()
        .egress
        .push(tcp(443, &["0.0.0.0/0"], &[]));
    assert_eq!(sm(&net, &fun).cause, Some(Cause::NetworkAclBlocks));
    for e in [
        entry(200, true, true, (443, 443), "0.0.0.0/0"),
        entry(210, false, true, EPHEMERAL, "0.0.0.0/0"),
    ] {
        net.acls[0].entries.push(e);
    }
    assert_eq!(sm(&net, &fun).status, super::super::Status::Ok);
    // An internet gateway alone is no way out; peering cannot be followed.
    net.tables[0].routes[1].target = Target::InternetGateway("igw-1".into());
    assert_eq!(sm(&net, &fun).cause, Some(Cause::SecretsManagerNoRoute));
    net.tables[0].routes[1].target = Target::Other("pcx-1".into());
    let c = sm(&net, &fun);
    assert_eq!((c.status, c.cause), (super::super::Status::Warn, None));
}

#[test]
fn an_endpoint_named_by_url_is_used_without_private_dns() {
    let (mut net, fun) = healthy();
    net.endpoints[0].private_dns = false;
    let url = "https://vpce-sm-0a1b2c3d.secretsmanager.us-east-1.vpce.amazonaws.com";
    let named = service_findings(
        &net,
        &fun,
        "secretsmanager",
        Some(url),
        Cause::SecretsManagerNoRoute,
        "us-east-1",
    );
    assert!(named.is_empty(), "{named:#?}");
    // Its group must still admit the function.
    net.groups.get_mut("sg-ep").unwrap().ingress.clear();
    let named = service_findings(
        &net,
        &fun,
        "secretsmanager",
        Some(url),
        Cause::SecretsManagerNoRoute,
        "us-east-1",
    );
    assert_eq!(named[0].cause, Some(Cause::VpcEndpointSecurityGroupBlocks));
    // A URL naming no endpoint of this VPC cannot be followed: a warning, not a fail.
    let other = service_findings(
        &net,
        &fun,
        "secretsmanager",
        Some("https://proxy.internal:8443"),
        Cause::SecretsManagerNoRoute,
        "us-east-1",
    );
    assert_eq!(
        (other.len(), other[0].status),
        (1, super::super::Status::Warn)
    );
}
