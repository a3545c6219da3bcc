//! AWS SDK shapes into the model's values: security group rules, route tables (with each
//! route's target named) and network ACL entries.

use crate::outside::network::model::*;

/// One inbound or outbound permission.
pub fn sg_rule(p: &aws_sdk_ec2::types::IpPermission) -> SgRule {
    SgRule {
        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        cidrs: p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_string))
            .collect(),
        groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id().map(str::to_string))
            .collect(),
        ipv6: !p.ipv6_ranges().is_empty(),
    }
}

/// A route table, its associations and routes.
pub fn route_table(t: &aws_sdk_ec2::types::RouteTable) -> RouteTable {
    let assoc = t.associations();
    RouteTable {
        id: t.route_table_id().unwrap_or_default().into(),
        vpc_id: t.vpc_id().unwrap_or_default().into(),
        main: assoc.iter().any(|a| a.main() == Some(true)),
        subnet_ids: assoc
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        routes: t
            .routes()
            .iter()
            .filter_map(|r| {
                let destination = r
                    .destination_cidr_block()
                    .or(r.destination_prefix_list_id())?
                    .to_string();
                let gateway = r.gateway_id().unwrap_or_default();
                let target = if gateway == "local" {
                    Target::Local
                } else if let Some(nat) = r.nat_gateway_id() {
                    Target::Nat(nat.into())
                } else if gateway.starts_with("igw-") {
                    Target::InternetGateway(gateway.into())
                } else {
                    let other = [
                        r.vpc_peering_connection_id(),
                        r.transit_gateway_id(),
                        r.network_interface_id(),
                        r.instance_id(),
                        r.local_gateway_id(),
                        r.carrier_gateway_id(),
                        r.core_network_arn(),
                        Some(gateway),
                    ];
                    Target::Other(
                        other
                            .into_iter()
                            .flatten()
                            .find(|s| !s.is_empty())
                            .unwrap_or("unknown")
                            .to_string(),
                    )
                };
                let active = r.state().map(|s| s.as_str() != "blackhole").unwrap_or(true);
                Some(Route {
                    destination,
                    target,
                    active,
                })
            })
            .collect(),
    }
}

/// A network ACL, its associations and entries.
pub fn network_acl(a: &aws_sdk_ec2::types::NetworkAcl) -> NetworkAcl {
    NetworkAcl {
        id: a.network_acl_id().unwrap_or_default().into(),
        vpc_id: a.vpc_id().unwrap_or_default().into(),
        default: a.is_default().unwrap_or(false),
        subnet_ids: a
            .associations()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_string))
            .collect(),
        entries: a
            .entries()
            .iter()
            .map(|e| AclEntry {
                rule_number: e.rule_number().unwrap_or(32767),
                egress: e.egress().unwrap_or(false),
                allow: e
                    .rule_action()
                    .map(|r| r.as_str() == "allow")
                    .unwrap_or(false),
                protocol: e.protocol().unwrap_or("-1").to_string(),
                ports: e
                    .port_range()
                    .map(|p| (p.from().unwrap_or(0), p.to().unwrap_or(65535))),
                cidr: e.cidr_block().map(str::to_string),
            })
            .collect(),
    }
}
