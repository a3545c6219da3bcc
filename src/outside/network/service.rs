//! `network_secrets_manager` and `network_rds_api`: from every function subnet to an AWS API,
//! through an interface endpoint reachable by name, else a NAT route and the NAT gateway's
//! own way out.

use super::eval::{EPHEMERAL, INTERNET};
use super::model::*;
use super::path::{acl_leg, flow, End, IngressCause, Net};
use super::read::Reader;
use super::{ConfigCheck, Finding, SecretFacts};
use crate::failure::Cause;
use crate::outside::AwsError;
use serde_json::json;

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
    let (candidates, chosen) = match choose_endpoint(&net.endpoints, &vpc, service, named) {
        Ok(found) => found,
        Err(url) => return vec![Finding::warn(json!({"endpoint_url": url, "vpc": vpc}), format!("the function calls {url}, which is no {service} endpoint of {vpc}: its path is not evaluated"))],
    };
    let function = End {
        name: "function",
        subnet: None,
        groups: &fun.security_group_ids,
    };
    let mut out = Vec::new();
    if let Some(e) = chosen {
        // Private DNS answers through the Amazon resolver; other servers must forward to it.
        if named.is_none() && !net.dns_servers.is_empty() {
            out.push(Finding::warn(json!({"vpc": vpc, "dns_servers": net.dns_servers, "vpc_endpoint": e.id}), format!("{vpc} resolves through {}: {}'s private name resolves only if they forward to the Amazon resolver", net.dns_servers.join(", "), e.id)));
        }
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

/// The interface endpoints of `service` in `vpc` that exist, and the one the function's calls
/// reach: the one `named` by URL, else the usable one with private DNS. Err: a URL that names
/// none of them (its path cannot be followed).
pub fn choose_endpoint<'a>(
    endpoints: &'a [Endpoint],
    vpc: &str,
    service: &str,
    named: Option<&'a str>,
) -> Result<(Vec<&'a Endpoint>, Option<&'a Endpoint>), &'a str> {
    let suffix = format!(".{service}");
    let candidates: Vec<&Endpoint> = endpoints
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
        Some(url) => Some(*candidates.iter().find(|e| url.contains(&e.id)).ok_or(url)?),
        None => candidates
            .iter()
            .copied()
            .filter(usable)
            .find(|e| e.private_dns),
    };
    Ok((candidates, chosen))
}

/// The Secrets Manager endpoint the function's calls reach (for the endpoint policy check):
/// None when it is in no VPC or reaches Secrets Manager otherwise; Err: a read failed.
pub async fn secrets_manager_endpoint(
    reader: &mut Reader,
    fun: &Function,
) -> Result<Option<Endpoint>, AwsError> {
    let Some(first) = fun.subnet_ids.first() else {
        return Ok(None);
    };
    let vpc = reader
        .subnets(std::slice::from_ref(first))
        .await?
        .remove(0)
        .vpc_id;
    let endpoints = reader.endpoints(&vpc).await?;
    let named = fun
        .environment
        .get("SECRETS_MANAGER_ENDPOINT")
        .filter(|v| !v.is_empty());
    Ok(choose_endpoint(
        &endpoints,
        &vpc,
        "secretsmanager",
        named.map(String::as_str),
    )
    .ok()
    .and_then(|(_, e)| e.cloned()))
}

/// Reads the function's subnets and VPC, with `extra` subnets and groups; Err: a denied read.
pub(super) async fn gather(
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
        dns_servers: reader.dns_servers(&vpc).await?,
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

pub(super) fn unread(name: &'static str, e: &AwsError) -> ConfigCheck {
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
