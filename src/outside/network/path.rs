//! One TCP flow from a function subnet through security groups and network ACLs, over what
//! was read of one VPC ([`Net`]): pure, shared by the service and database paths
//! (`service.rs`, `database.rs`), which add routes and endpoints.

use super::eval::{acl_decides, free_rule_number, sg_admits, AclVerdict, Peer, Verdict, EPHEMERAL};
use super::model::*;
use super::Finding;
use crate::failure::Cause;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What was read of the function's VPC.
#[derive(Debug, Clone, Default)]
pub struct Net {
    /// Every subnet read, by id.
    pub subnets: HashMap<String, Subnet>,
    /// Every security group read, by id.
    pub groups: HashMap<String, SecurityGroup>,
    /// The VPC's route tables.
    pub tables: Vec<RouteTable>,
    /// The VPC's network ACLs.
    pub acls: Vec<NetworkAcl>,
    /// The VPC's endpoints.
    pub endpoints: Vec<Endpoint>,
    /// The VPC's NAT gateways.
    pub nats: Vec<NatGateway>,
    /// DNS servers of the VPC other than Amazon's (empty: Amazon's resolver).
    pub dns_servers: Vec<String>,
}

impl Net {
    /// The table a subnet uses: its explicit association, else the VPC's main table.
    pub fn table_for(&self, s: &Subnet) -> Option<&RouteTable> {
        let explicit = self.tables.iter().find(|t| t.subnet_ids.contains(&s.id));
        explicit.or_else(|| self.tables.iter().find(|t| t.main && t.vpc_id == s.vpc_id))
    }

    /// The network ACL a subnet is associated with (else the VPC's default).
    pub fn acl_for(&self, s: &Subnet) -> Option<&NetworkAcl> {
        let explicit = self.acls.iter().find(|a| a.subnet_ids.contains(&s.id));
        explicit.or_else(|| self.acls.iter().find(|a| a.default && a.vpc_id == s.vpc_id))
    }

    fn groups_of(&self, ids: &[String]) -> Vec<&SecurityGroup> {
        ids.iter().filter_map(|i| self.groups.get(i)).collect()
    }
}

/// One end of a flow: a name for people, its subnet (None: the internet) and its groups.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// `vpce-…`, the database id, or `function`.
    pub name: &'a str,
    /// Where its addresses lie (None: the internet behind a NAT gateway).
    pub subnet: Option<&'a Subnet>,
    /// Its security groups.
    pub groups: &'a [String],
}

fn describe(e: &End<'_>) -> String {
    let at = match e.subnet {
        Some(s) => format!("{} ({})", s.id, s.cidr),
        None => "the internet (0.0.0.0/0)".into(),
    };
    if e.groups.is_empty() {
        format!("{} in {at}", e.name)
    } else {
        format!("{} in {at} with {}", e.name, e.groups.join(", "))
    }
}

fn cidr_of(e: &End<'_>) -> String {
    e.subnet
        .map(|s| s.cidr.clone())
        .unwrap_or_else(|| "0.0.0.0/0".into())
}

/// The destination's ingress cause: which cause a group of the destination that blocks names,
/// and the evidence key its id goes under.
#[derive(Debug, Clone, Copy)]
pub struct IngressCause {
    /// `vpc_endpoint_security_group_blocks` or `db_security_group_blocks`.
    pub cause: Cause,
    /// `vpc_endpoint` or `db_instance`.
    pub key: &'static str,
}

/// Everything that decides one TCP flow from the function to `to` on `port`: the function's
/// egress, the destination's ingress, and the network ACLs of both subnets both ways (not
/// within one subnet).
pub fn flow(
    net: &Net,
    from: End<'_>,
    to: End<'_>,
    port: i32,
    ingress: Option<IngressCause>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(fs) = from.subnet else { return out };
    let needed =
        json!({"protocol": "tcp", "port": port, "from": describe(&from), "to": describe(&to)});
    let to_cidr = [cidr_of(&to)];
    match sg_admits(
        &net.groups_of(from.groups),
        true,
        port,
        Peer {
            groups: to.groups,
            cidrs: &to_cidr,
        },
    ) {
        Verdict::Yes => {}
        Verdict::No => {
            let target = match to.groups.first() {
                Some(g) => format!("UserIdGroupPairs=[{{GroupId={g}}}]"),
                None => format!("IpRanges=[{{CidrIp={}}}]", to_cidr[0]),
            };
            out.push(Finding::fail(
                Cause::SecurityGroupEgressBlocks,
                json!({"security_groups": from.groups, "subnet": fs.id, "needed": needed}),
                format!("aws ec2 authorize-security-group-egress --group-id {} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},{target}'", from.groups.first().map(String::as_str).unwrap_or("<function group>")),
                format!("no security group of the function ({}) lets it out to {} on TCP {port}", from.groups.join(", "), describe(&to)),
            ));
        }
        Verdict::Unknown(why) => out.push(Finding::warn(
            json!({"security_groups": from.groups, "needed": needed}),
            format!("the function's egress to TCP {port} cannot be decided: {why}"),
        )),
    }
    if let Some(ic) = ingress {
        let from_cidr = [fs.cidr.clone()];
        match sg_admits(
            &net.groups_of(to.groups),
            false,
            port,
            Peer {
                groups: from.groups,
                cidrs: &from_cidr,
            },
        ) {
            Verdict::Yes => {}
            Verdict::No => {
                let source = match from.groups.first() {
                    Some(g) => format!("--source-group {g}"),
                    None => format!("--cidr {}", fs.cidr),
                };
                out.push(Finding::fail(
                    ic.cause,
                    json!({ic.key: to.name, "security_groups": to.groups, "subnet": fs.id, "needed": needed}),
                    format!("aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port {port} {source}", to.groups.first().map(String::as_str).unwrap_or("<group>")),
                    format!("no security group of {} ({}) admits TCP {port} from the function in {}", to.name, to.groups.join(", "), fs.id),
                ));
            }
            Verdict::Unknown(why) => out.push(Finding::warn(
                json!({ic.key: to.name, "security_groups": to.groups, "needed": needed}),
                format!(
                    "{}'s ingress on TCP {port} cannot be decided: {why}",
                    to.name
                ),
            )),
        }
    }
    if to.subnet.map(|t| t.id == fs.id).unwrap_or(false) {
        return out; // ACLs do not apply within one subnet
    }
    let back = json!({"protocol": "tcp", "port": "1024-65535", "from": describe(&to), "to": describe(&from)});
    let p = (port, port);
    let mut legs = vec![
        (fs, true, p, cidr_of(&to), &needed),
        (fs, false, EPHEMERAL, cidr_of(&to), &back),
    ];
    if let Some(ts) = to.subnet {
        legs.push((ts, false, p, fs.cidr.clone(), &needed));
        legs.push((ts, true, EPHEMERAL, fs.cidr.clone(), &back));
    }
    for (subnet, egress, ports, peer, needed) in legs {
        if let Some(f) = acl_leg(net, subnet, egress, ports, &peer, needed) {
            out.push(f);
        }
    }
    out
}

pub(super) fn acl_leg(
    net: &Net,
    subnet: &Subnet,
    egress: bool,
    ports: (i32, i32),
    peer: &str,
    needed: &Value,
) -> Option<Finding> {
    let direction = if egress { "outbound" } else { "inbound" };
    let Some(acl) = net.acl_for(subnet) else {
        return Some(Finding::warn(
            json!({"subnet": subnet.id}),
            format!("no network ACL was read for {}", subnet.id),
        ));
    };
    let mut evidence = json!({"network_acl": acl.id, "subnet": subnet.id, "direction": direction, "needed": needed});
    match acl_decides(acl, egress, ports, peer) {
        AclVerdict::Allow => None,
        AclVerdict::Unknown(rule) => {
            evidence["rule_number"] = json!(rule);
            Some(Finding::warn(evidence, format!("{} rule {rule} covers only part of {peer}: {direction} TCP {}-{} cannot be decided", acl.id, ports.0, ports.1)))
        }
        AclVerdict::Deny(rule) => {
            let which = match rule {
                Some(n) => {
                    evidence["rule_number"] = json!(n);
                    format!("rule {n}")
                }
                None => {
                    evidence["implicit_deny"] = json!(true);
                    "the implicit deny".to_string()
                }
            };
            let port_range = format!("From={},To={}", ports.0, ports.1);
            let remedy = match free_rule_number(acl, egress, rule) {
                Some(n) => format!("aws ec2 create-network-acl-entry --network-acl-id {} --{} --rule-number {n} --protocol tcp --port-range {port_range} --cidr-block {peer} --rule-action allow", acl.id, if egress { "egress" } else { "ingress" }),
                None => format!("Allow {direction} TCP {}-{} for {peer} in {} before {which} (no free rule number below it: renumber the entries).", ports.0, ports.1, acl.id),
            };
            Some(Finding::fail(
                Cause::NetworkAclBlocks,
                evidence,
                remedy,
                format!(
                    "{} ({}) denies {direction} TCP {}-{} for {peer} by {which}",
                    acl.id, subnet.id, ports.0, ports.1
                ),
            ))
        }
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
