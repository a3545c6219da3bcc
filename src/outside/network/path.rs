//! The network checks: from every function subnet to Secrets Manager
//! (`network_secrets_manager`), to the database (`network_database`) and to the RDS API
//! (`network_rds_api`), through route tables, interface endpoints, security groups and
//! network ACLs. `Net` holds what was read of one VPC; the flow functions are pure over it.

use super::eval::{
    acl_decides, free_rule_number, sg_admits, AclVerdict, Peer, Verdict, EPHEMERAL, INTERNET,
};
use super::model::*;
use super::read::Reader;
use super::{ConfigCheck, Finding, SecretFacts};
use crate::failure::Cause;
use crate::outside::AwsError;
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

fn acl_leg(
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

/// The path from every function subnet to an AWS API (`secretsmanager`, `rds`): an
/// interface endpoint reachable by name (private DNS, or `named` by URL), else the default
/// route, which only a NAT gateway makes a way out.
pub fn service_findings(
    net: &Net,
    fun: &Function,
    service: &str,
    named: Option<&str>,
    no_route: Cause,
    region: &str,
) -> Vec<Finding> {
    let fn_subnets: Vec<&Subnet> = fun
        .subnet_ids
        .iter()
        .filter_map(|i| net.subnets.get(i))
        .collect();
    let Some(vpc) = fn_subnets.first().map(|s| s.vpc_id.clone()) else {
        return vec![];
    };
    let suffix = format!(".{service}");
    let candidates: Vec<&Endpoint> = net
        .endpoints
        .iter()
        .filter(|e| e.interface && e.vpc_id == vpc && e.service_name.ends_with(&suffix))
        .filter(|e| {
            !matches!(
                e.state.as_str(),
                "deleted" | "deleting" | "failed" | "rejected" | "expired"
            )
        })
        .collect();
    let usable =
        |e: &&Endpoint| matches!(e.state.as_str(), "available" | "") && !e.subnet_ids.is_empty();
    let chosen = match named {
        Some(url) => match candidates.iter().find(|e| url.contains(&e.id)) {
            Some(e) => Some(*e),
            None => return vec![Finding::warn(json!({"endpoint_url": url, "vpc": vpc}), format!("the function calls {url}, which is no {service} endpoint of {vpc}: its path is not evaluated"))],
        },
        None => candidates.iter().copied().filter(usable).find(|e| e.private_dns),
    };
    let function = End {
        name: "function",
        subnet: None,
        groups: &fun.security_group_ids,
    };
    let mut out = Vec::new();
    if let Some(e) = chosen {
        let ingress = IngressCause {
            cause: Cause::VpcEndpointSecurityGroupBlocks,
            key: "vpc_endpoint",
        };
        for fs in &fn_subnets {
            for es in &e.subnet_ids {
                let Some(es) = net.subnets.get(es) else {
                    out.push(Finding::warn(
                        json!({"vpc_endpoint": e.id, "subnet": es}),
                        format!("subnet {es} of {} was not read", e.id),
                    ));
                    continue;
                };
                let to = End {
                    name: &e.id,
                    subnet: Some(es),
                    groups: &e.security_group_ids,
                };
                out.extend(flow(
                    net,
                    End {
                        subnet: Some(fs),
                        ..function
                    },
                    to,
                    443,
                    Some(ingress),
                ));
            }
        }
        return out;
    }
    let unnamed: Vec<String> = candidates
        .iter()
        .map(|e| {
            format!(
                "{} without private DNS ({})",
                e.id,
                if e.state.is_empty() {
                    "state unknown"
                } else {
                    &e.state
                }
            )
        })
        .collect();
    for fs in &fn_subnets {
        let Some(table) = net.table_for(fs) else {
            out.push(Finding::warn(
                json!({"subnet": fs.id}),
                format!("no route table was read for {}", fs.id),
            ));
            continue;
        };
        let default = table.routes.iter().find(|r| r.destination == "0.0.0.0/0");
        let mut found = unnamed.clone();
        match default.map(|r| (&r.target, r.active)) {
            Some((Target::Nat(nat), true)) => {
                out.extend(flow(
                    net,
                    End {
                        subnet: Some(fs),
                        ..function
                    },
                    End {
                        name: nat,
                        subnet: None,
                        groups: &[],
                    },
                    443,
                    None,
                ));
                out.extend(through_nat(net, fs, table, nat, 443, no_route));
                continue;
            }
            Some((Target::Other(target), true)) => {
                out.push(Finding::warn(
                    json!({"subnet": fs.id, "route_table": table.id, "target": target}),
                    format!(
                        "{}'s default route goes to {target}, which these checks cannot follow",
                        fs.id
                    ),
                ));
                continue;
            }
            Some((Target::InternetGateway(igw), true)) => found.push(format!(
                "0.0.0.0/0 to {igw} only: a function has no public IP"
            )),
            Some((target, false)) => found.push(format!("0.0.0.0/0 to {target:?} is a blackhole")),
            _ => found.push("no default route".into()),
        }
        let remedy = match candidates.first() {
            Some(e) => format!("aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --private-dns-enabled", e.id),
            None => format!(
                "aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface --service-name com.amazonaws.{region}.{service} --subnet-ids {} --security-group-ids <a group admitting TCP 443 from {}> --private-dns-enabled",
                fun.subnet_ids.join(" "),
                fun.security_group_ids.join(", ")
            ),
        };
        out.push(Finding::fail(
            no_route,
            json!({"subnet": fs.id, "route_table": table.id, "found": found}),
            remedy,
            format!(
                "{} has neither a {service} endpoint reachable by name nor a NAT route ({})",
                fs.id,
                found.join("; ")
            ),
        ));
    }
    out
}

/// The NAT gateway's side of a way out: it is usable, its subnet routes to an internet
/// gateway, and that subnet's ACL lets the request and its return through (the NAT's own
/// connections use ports 1024-65535 too).
fn through_nat(
    net: &Net,
    fs: &Subnet,
    table: &RouteTable,
    id: &str,
    port: i32,
    no_route: Cause,
) -> Vec<Finding> {
    let Some(nat) = net.nats.iter().find(|n| n.id == id) else {
        return vec![Finding::warn(
            json!({"subnet": fs.id, "nat_gateway": id}),
            format!("{id} was not found among the VPC's NAT gateways"),
        )];
    };
    let Some(ns) = net.subnets.get(&nat.subnet_id) else {
        return vec![Finding::warn(
            json!({"nat_gateway": id}),
            format!("the subnet of {id} was not read"),
        )];
    };
    let no = |found: String| {
        let remedy = format!("Route 0.0.0.0/0 of {} (the subnet of {id}) to an internet gateway (aws ec2 create-route --route-table-id <its table> --destination-cidr-block 0.0.0.0/0 --gateway-id <igw>), or add an interface endpoint.", ns.id);
        vec![Finding::fail(
            no_route,
            json!({"subnet": fs.id, "route_table": table.id, "found": [found]}),
            remedy,
            format!("{}'s NAT route leads nowhere", fs.id),
        )]
    };
    if !matches!(nat.state.as_str(), "available" | "pending" | "") {
        return no(format!("{id} is {}", nat.state));
    }
    if !nat.public {
        return vec![Finding::warn(
            json!({"subnet": fs.id, "nat_gateway": id}),
            format!("{id} is a private NAT gateway: where it leads is not followed"),
        )];
    }
    let Some(nat_table) = net.table_for(ns) else {
        return vec![Finding::warn(
            json!({"subnet": ns.id}),
            format!("no route table was read for {}", ns.id),
        )];
    };
    match nat_table
        .routes
        .iter()
        .find(|r| r.destination == INTERNET && r.active)
        .map(|r| &r.target)
    {
        Some(Target::InternetGateway(_)) => {}
        Some(Target::Other(t)) => {
            return vec![Finding::warn(
                json!({"subnet": ns.id, "route_table": nat_table.id, "target": t}),
                format!(
                "the default route of {id}'s subnet goes to {t}, which these checks cannot follow"
            ),
            )]
        }
        _ => {
            return no(format!(
                "{id} in {} whose table {} has no internet gateway route",
                ns.id, nat_table.id
            ))
        }
    }
    if ns.id == fs.id {
        return vec![];
    }
    let from = format!("function in {} ({})", fs.id, fs.cidr);
    let out_needed = json!({"protocol": "tcp", "port": port, "from": from, "to": format!("the internet through {id}")});
    let back = json!({"protocol": "tcp", "port": "1024-65535", "from": format!("the internet through {id}"), "to": from});
    let p = (port, port);
    [
        (false, p, fs.cidr.as_str(), &out_needed),
        (true, p, INTERNET, &out_needed),
        (false, EPHEMERAL, INTERNET, &back),
        (true, EPHEMERAL, fs.cidr.as_str(), &back),
    ]
    .into_iter()
    .filter_map(|(egress, ports, peer, needed)| acl_leg(net, ns, egress, ports, peer, needed))
    .collect()
}

/// Reads the function's subnets and VPC, with `extra` subnets and groups; Err: a denied read.
async fn gather(
    reader: &mut Reader,
    fun: &Function,
    extra_subnets: &[String],
    extra_groups: &[String],
) -> Result<Net, AwsError> {
    let own = reader.subnets(&fun.subnet_ids).await?;
    let vpc = own.first().map(|s| s.vpc_id.clone()).unwrap_or_default();
    let mut net = Net {
        tables: reader.route_tables(&vpc).await?,
        acls: reader.network_acls(&vpc).await?,
        endpoints: reader.endpoints(&vpc).await?,
        nats: reader.nat_gateways(&vpc).await?,
        ..Net::default()
    };
    let mut subnet_ids: Vec<String> = net
        .endpoints
        .iter()
        .filter(|e| e.interface)
        .flat_map(|e| e.subnet_ids.clone())
        .chain(extra_subnets.iter().cloned())
        .collect();
    let mut group_ids: Vec<String> = net
        .endpoints
        .iter()
        .filter(|e| e.interface)
        .flat_map(|e| e.security_group_ids.clone())
        .chain(fun.security_group_ids.iter().cloned())
        .chain(extra_groups.iter().cloned())
        .collect();
    subnet_ids.extend(fun.subnet_ids.iter().cloned());
    subnet_ids.extend(net.nats.iter().map(|n| n.subnet_id.clone()));
    subnet_ids.sort();
    subnet_ids.dedup();
    group_ids.sort();
    group_ids.dedup();
    net.subnets = reader
        .subnets(&subnet_ids)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    net.groups = reader
        .groups(&group_ids)
        .await?
        .into_iter()
        .map(|g| (g.id.clone(), g))
        .collect();
    Ok(net)
}

fn unread(name: &'static str, e: &AwsError) -> ConfigCheck {
    ConfigCheck::from_findings(name, vec![Finding::unread(e)], "")
}

/// `network_secrets_manager`.
pub async fn secrets_manager(reader: &mut Reader, fun: &Function) -> ConfigCheck {
    const NAME: &str = "network_secrets_manager";
    if fun.subnet_ids.is_empty() {
        return ConfigCheck::from_findings(
            NAME,
            vec![],
            "the function is in no VPC: Lambda's own network reaches Secrets Manager",
        );
    }
    let net = match gather(reader, fun, &[], &[]).await {
        Ok(n) => n,
        Err(e) => return unread(NAME, &e),
    };
    let named = fun
        .environment
        .get("SECRETS_MANAGER_ENDPOINT")
        .filter(|v| !v.is_empty());
    let findings = service_findings(
        &net,
        fun,
        "secretsmanager",
        named.map(String::as_str),
        Cause::SecretsManagerNoRoute,
        &reader.region(),
    );
    ConfigCheck::from_findings(
        NAME,
        findings,
        "every function subnet reaches Secrets Manager on TCP 443",
    )
}

/// `network_rds_api`: only for alternating users whose master secret RDS manages.
pub async fn rds_api(reader: &mut Reader, fun: &Function, secret: &SecretFacts) -> ConfigCheck {
    const NAME: &str = "network_rds_api";
    if !secret.rds_managed_master {
        return ConfigCheck::skipped(
            NAME,
            "the rotation does not call the RDS API (no RDS-managed master secret)",
        );
    }
    if fun.subnet_ids.is_empty() {
        return ConfigCheck::from_findings(
            NAME,
            vec![],
            "the function is in no VPC: Lambda's own network reaches the RDS API",
        );
    }
    let net = match gather(reader, fun, &[], &[]).await {
        Ok(n) => n,
        Err(e) => return unread(NAME, &e),
    };
    let findings = service_findings(
        &net,
        fun,
        "rds",
        None,
        Cause::RdsApiNoRoute,
        &reader.region(),
    );
    ConfigCheck::from_findings(
        NAME,
        findings,
        "every function subnet reaches the RDS API on TCP 443",
    )
}

/// Whether `host` names an RDS endpoint (else nothing can be read about its network).
pub fn is_rds_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.ends_with(".rds.amazonaws.com") || h.ends_with(".rds.amazonaws.com.cn")
}

/// `network_database`: the RDS instance or cluster behind the secret's host.
pub async fn database(reader: &mut Reader, fun: &Function, secret: &SecretFacts) -> ConfigCheck {
    const NAME: &str = "network_database";
    let Some(host) = secret.host.as_deref().filter(|h| !h.is_empty()) else {
        return ConfigCheck::skipped(NAME, "the secret names no host");
    };
    if !is_rds_host(host) {
        let f = Finding::warn(
            json!({"host": host}),
            format!("{host} is no RDS endpoint: its network cannot be read from the configuration"),
        );
        return ConfigCheck::from_findings(NAME, vec![f], "");
    }
    let db = match reader.database(host).await {
        Err(e) => return unread(NAME, &e),
        Ok(None) => {
            let f = Finding::warn(
                json!({"host": host}),
                format!(
                    "no RDS instance or cluster of this account and region has the endpoint {host}"
                ),
            );
            return ConfigCheck::from_findings(NAME, vec![f], "");
        }
        Ok(Some(db)) => db,
    };
    let port = secret.port.map(i32::from).unwrap_or(db.port);
    let outside = |function_vpc: Value, detail: String| {
        let cmd = format!("aws lambda update-function-configuration --function-name {} --vpc-config 'SubnetIds={},SecurityGroupIds=<a group of {}>'", crate::text::shell_quote(&fun.name), db.subnet_ids.join(","), db.vpc_id);
        Finding::fail(
            Cause::FunctionOutsideDbVpc,
            json!({"function_vpc": function_vpc, "db_vpc": db.vpc_id, "db_instance": db.id}),
            cmd,
            detail,
        )
    };
    if fun.subnet_ids.is_empty() {
        let f = if db.publicly_accessible {
            Finding::warn(json!({"function_vpc": null, "db_vpc": db.vpc_id, "db_instance": db.id}), format!("the function is in no VPC and {} is public: its security groups would have to admit Lambda's public addresses, which cannot be read", db.id))
        } else {
            outside(
                Value::Null,
                format!(
                    "the function is in no VPC and {} is not publicly accessible",
                    db.id
                ),
            )
        };
        return ConfigCheck::from_findings(NAME, vec![f], "");
    }
    let net = match gather(reader, fun, &db.subnet_ids, &db.security_group_ids).await {
        Ok(n) => n,
        Err(e) => return unread(NAME, &e),
    };
    let fn_subnets: Vec<&Subnet> = fun
        .subnet_ids
        .iter()
        .filter_map(|i| net.subnets.get(i))
        .collect();
    let fn_vpc = fn_subnets
        .first()
        .map(|s| s.vpc_id.clone())
        .unwrap_or_default();
    if fn_vpc != db.vpc_id {
        let other = fn_subnets
            .iter()
            .filter_map(|s| net.table_for(s))
            .flat_map(|t| t.routes.iter())
            .find_map(|r| match &r.target {
                Target::Other(t) => Some(t.clone()),
                _ => None,
            });
        let f = match other {
            Some(t) => Finding::warn(json!({"function_vpc": fn_vpc, "db_vpc": db.vpc_id, "target": t}), format!("the function's VPC routes to {t}: a path to {} through it is not followed", db.vpc_id)),
            None if db.publicly_accessible => Finding::warn(json!({"function_vpc": fn_vpc, "db_vpc": db.vpc_id}), format!("{} is public: a path through a NAT gateway to its public address is not evaluated", db.id)),
            None => outside(json!(fn_vpc), format!("the function is in {fn_vpc}, {} in {}, and no peering or transit route is seen", db.id, db.vpc_id)),
        };
        return ConfigCheck::from_findings(NAME, vec![f], "");
    }
    let function = End {
        name: "function",
        subnet: None,
        groups: &fun.security_group_ids,
    };
    let ingress = IngressCause {
        cause: Cause::DbSecurityGroupBlocks,
        key: "db_instance",
    };
    let mut findings = Vec::new();
    for fs in &fn_subnets {
        for ds in &db.subnet_ids {
            let Some(ds) = net.subnets.get(ds) else {
                continue;
            };
            let to = End {
                name: &db.id,
                subnet: Some(ds),
                groups: &db.security_group_ids,
            };
            findings.extend(flow(
                &net,
                End {
                    subnet: Some(fs),
                    ..function
                },
                to,
                port,
                Some(ingress),
            ));
        }
    }
    ConfigCheck::from_findings(
        NAME,
        findings,
        &format!("every function subnet reaches {} on TCP {port}", db.id),
    )
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
