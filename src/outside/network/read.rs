//! Reads the network model through [`Clients::call`], each object once: a [`Reader`] keeps
//! what it read (and the errors) keyed by id or VPC, so checks over many secrets make calls
//! that grow with the distinct functions, VPCs and groups, not with the secrets.

use super::model::*;
use crate::outside::{AwsError, Clients};
use std::collections::HashMap;

use super::convert;

/// A read, or the AWS error that stopped it.
pub type Read<T> = Result<T, AwsError>;

/// The cache of everything read for the configuration checks.
pub struct Reader {
    pub(super) clients: Clients,
    functions: HashMap<String, Read<Option<Function>>>,
    concurrency: HashMap<String, Read<Option<i32>>>,
    policies: HashMap<String, Read<Option<String>>>,
    subnets: HashMap<String, Read<Subnet>>,
    groups: HashMap<String, Read<SecurityGroup>>,
    tables: HashMap<String, Read<Vec<RouteTable>>>,
    acls: HashMap<String, Read<Vec<NetworkAcl>>>,
    endpoints: HashMap<String, Read<Vec<Endpoint>>>,
    nats: HashMap<String, Read<Vec<NatGateway>>>,
    dns: HashMap<String, Read<Vec<String>>>,
    pub(super) databases: HashMap<String, Read<Option<Database>>>,
}

fn missing(code: &str, action: &str, id: &str) -> AwsError {
    AwsError {
        code: code.into(),
        message: format!("{id} does not exist"),
        action: action.into(),
    }
}

/// The ids a cache holds no answer for yet.
fn unread<T>(cache: &HashMap<String, Read<T>>, ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|i| !cache.contains_key(*i))
        .cloned()
        .collect()
}

/// Records one read of `wanted`: each object it gave, the call's error for every id when it
/// failed, and a not-found for an id the answer left out.
fn record<T>(
    cache: &mut HashMap<String, Read<T>>,
    wanted: &[String],
    got: Read<Vec<(String, T)>>,
    not_found: &str,
    action: &str,
) {
    match got {
        Err(e) => wanted.iter().for_each(|i| {
            cache.insert(i.clone(), Err(e.clone()));
        }),
        Ok(objects) => {
            cache.extend(objects.into_iter().map(|(id, o)| (id, Ok(o))));
            for i in wanted {
                cache
                    .entry(i.clone())
                    .or_insert_with(|| Err(missing(not_found, action, i)));
            }
        }
    }
}

/// The answers for `ids`, in order (every id was recorded before).
fn in_order<T: Clone>(cache: &HashMap<String, Read<T>>, ids: &[String]) -> Read<Vec<T>> {
    ids.iter().map(|i| cache[i].clone()).collect()
}

fn strings(v: &[String]) -> Vec<String> {
    v.to_vec()
}

/// One paged Describe* of a VPC's objects, read once per reader: the cache, then every page
/// through the SDK's paginator, each page one logged read.
macro_rules! by_vpc {
    ($self:ident, $cache:ident, $vpc:expr, $op:literal, $request:ident, $filter:ident, |$page:ident| $items:expr) => {{
        if let Some(hit) = $self.$cache.get($vpc) {
            return hit.clone();
        }
        let c = &$self.clients;
        let read = async {
            let mut pages = c
                .ec2
                .$request()
                .$filter(vpc_filter($vpc))
                .into_paginator()
                .send();
            let mut all = Vec::new();
            while let Some($page) = c.call("ec2", $op, pages.try_next()).await? {
                all.extend($items);
            }
            Ok(all)
        }
        .await;
        $self.$cache.insert($vpc.to_string(), read.clone());
        read
    }};
}

impl Reader {
    /// A reader with nothing read yet.
    pub fn new(clients: Clients) -> Reader {
        Reader {
            clients,
            functions: HashMap::new(),
            concurrency: HashMap::new(),
            policies: HashMap::new(),
            subnets: HashMap::new(),
            groups: HashMap::new(),
            tables: HashMap::new(),
            acls: HashMap::new(),
            endpoints: HashMap::new(),
            nats: HashMap::new(),
            dns: HashMap::new(),
            databases: HashMap::new(),
        }
    }

    /// The region the clients call (for remedies naming a service endpoint).
    pub fn region(&self) -> String {
        self.clients
            .ec2
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "<region>".into())
    }

    /// GetFunctionConfiguration; None when the function does not exist.
    pub async fn function(&mut self, name: &str) -> Read<Option<Function>> {
        if let Some(hit) = self.functions.get(name) {
            return hit.clone();
        }
        let c = &self.clients;
        let got = c
            .call(
                "lambda",
                "GetFunctionConfiguration",
                c.lambda
                    .get_function_configuration()
                    .function_name(name)
                    .send(),
            )
            .await;
        let read = match got {
            Err(e) if e.not_found() => Ok(None),
            Err(e) => Err(e),
            Ok(out) => Ok(Some(Function {
                name: out.function_name().unwrap_or(name).to_string(),
                arn: out.function_arn().unwrap_or_default().to_string(),
                timeout_s: out.timeout().unwrap_or(3) as i64,
                subnet_ids: out
                    .vpc_config()
                    .map(|v| strings(v.subnet_ids()))
                    .unwrap_or_default(),
                security_group_ids: out
                    .vpc_config()
                    .map(|v| strings(v.security_group_ids()))
                    .unwrap_or_default(),
                environment: out
                    .environment()
                    .and_then(|e| e.variables())
                    .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })),
        };
        self.functions.insert(name.to_string(), read.clone());
        read
    }

    /// GetFunctionConcurrency: the reserved concurrency, None when unset.
    pub async fn concurrency(&mut self, name: &str) -> Read<Option<i32>> {
        if let Some(hit) = self.concurrency.get(name) {
            return hit.clone();
        }
        let c = &self.clients;
        let read = c
            .call(
                "lambda",
                "GetFunctionConcurrency",
                c.lambda
                    .get_function_concurrency()
                    .function_name(name)
                    .send(),
            )
            .await
            .map(|o| o.reserved_concurrent_executions());
        self.concurrency.insert(name.to_string(), read.clone());
        read
    }

    /// GetPolicy: the resource policy document, None when the function has none.
    pub async fn policy(&mut self, name: &str) -> Read<Option<String>> {
        if let Some(hit) = self.policies.get(name) {
            return hit.clone();
        }
        let c = &self.clients;
        let read = match c
            .call(
                "lambda",
                "GetPolicy",
                c.lambda.get_policy().function_name(name).send(),
            )
            .await
        {
            Err(e) if e.not_found() => Ok(None),
            other => other.map(|o| o.policy().map(str::to_string)),
        };
        self.policies.insert(name.to_string(), read.clone());
        read
    }

    /// DescribeSubnets for the ids not read yet, then the subnets asked for, in order.
    pub async fn subnets(&mut self, ids: &[String]) -> Read<Vec<Subnet>> {
        let wanted = unread(&self.subnets, ids);
        if !wanted.is_empty() {
            let c = &self.clients;
            let request = c
                .ec2
                .describe_subnets()
                .set_subnet_ids(Some(wanted.clone()));
            let got = c
                .call("ec2", "DescribeSubnets", request.send())
                .await
                .map(|out| {
                    out.subnets()
                        .iter()
                        .map(|s| Subnet {
                            id: s.subnet_id().unwrap_or_default().into(),
                            vpc_id: s.vpc_id().unwrap_or_default().into(),
                            az: s.availability_zone().unwrap_or_default().into(),
                            cidr: s.cidr_block().unwrap_or_default().into(),
                        })
                        .map(|s| (s.id.clone(), s))
                        .collect()
                });
            record(
                &mut self.subnets,
                &wanted,
                got,
                "InvalidSubnetID.NotFound",
                "ec2:DescribeSubnets",
            );
        }
        in_order(&self.subnets, ids)
    }

    /// DescribeSecurityGroups for the ids not read yet, then the groups asked for, in order.
    pub async fn groups(&mut self, ids: &[String]) -> Read<Vec<SecurityGroup>> {
        let wanted = unread(&self.groups, ids);
        if !wanted.is_empty() {
            let c = &self.clients;
            let request = c
                .ec2
                .describe_security_groups()
                .set_group_ids(Some(wanted.clone()));
            let got = c
                .call("ec2", "DescribeSecurityGroups", request.send())
                .await
                .map(|out| {
                    out.security_groups()
                        .iter()
                        .map(|g| SecurityGroup {
                            id: g.group_id().unwrap_or_default().into(),
                            vpc_id: g.vpc_id().unwrap_or_default().into(),
                            ingress: g.ip_permissions().iter().map(convert::sg_rule).collect(),
                            egress: g
                                .ip_permissions_egress()
                                .iter()
                                .map(convert::sg_rule)
                                .collect(),
                        })
                        .map(|g| (g.id.clone(), g))
                        .collect()
                });
            record(
                &mut self.groups,
                &wanted,
                got,
                "InvalidGroup.NotFound",
                "ec2:DescribeSecurityGroups",
            );
        }
        in_order(&self.groups, ids)
    }

    /// DescribeRouteTables of a VPC.
    pub async fn route_tables(&mut self, vpc: &str) -> Read<Vec<RouteTable>> {
        by_vpc!(
            self,
            tables,
            vpc,
            "DescribeRouteTables",
            describe_route_tables,
            filters,
            |page| page.route_tables().iter().map(convert::route_table)
        )
    }

    /// DescribeNetworkAcls of a VPC.
    pub async fn network_acls(&mut self, vpc: &str) -> Read<Vec<NetworkAcl>> {
        by_vpc!(
            self,
            acls,
            vpc,
            "DescribeNetworkAcls",
            describe_network_acls,
            filters,
            |page| page.network_acls().iter().map(convert::network_acl)
        )
    }

    /// DescribeVpcEndpoints of a VPC.
    pub async fn endpoints(&mut self, vpc: &str) -> Read<Vec<Endpoint>> {
        by_vpc!(
            self,
            endpoints,
            vpc,
            "DescribeVpcEndpoints",
            describe_vpc_endpoints,
            filters,
            |page| page.vpc_endpoints().iter().map(|e| {
                Endpoint {
                    id: e.vpc_endpoint_id().unwrap_or_default().into(),
                    vpc_id: e.vpc_id().unwrap_or_default().into(),
                    service_name: e.service_name().unwrap_or_default().into(),
                    interface: e.vpc_endpoint_type().map(|t| t.as_str()) == Some("Interface"),
                    subnet_ids: strings(e.subnet_ids()),
                    security_group_ids: e
                        .groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect(),
                    private_dns: e.private_dns_enabled().unwrap_or(false),
                    policy: e.policy_document().map(str::to_string),
                    state: e
                        .state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .unwrap_or_default(),
                }
            })
        )
    }

    /// The DNS servers a VPC's DHCP options name other than the Amazon resolver (DescribeVpcs,
    /// DescribeDhcpOptions): empty when the VPC resolves through Amazon's.
    pub async fn dns_servers(&mut self, vpc: &str) -> Read<Vec<String>> {
        if let Some(hit) = self.dns.get(vpc) {
            return hit.clone();
        }
        let read = self.read_dns(vpc).await;
        self.dns.insert(vpc.to_string(), read.clone());
        read
    }

    async fn read_dns(&self, vpc: &str) -> Read<Vec<String>> {
        let c = &self.clients;
        let vpcs = c
            .call(
                "ec2",
                "DescribeVpcs",
                c.ec2.describe_vpcs().vpc_ids(vpc).send(),
            )
            .await?;
        let id = vpcs
            .vpcs()
            .first()
            .and_then(|v| v.dhcp_options_id())
            .unwrap_or("default");
        if id == "default" {
            return Ok(vec![]);
        }
        let out = c
            .call(
                "ec2",
                "DescribeDhcpOptions",
                c.ec2.describe_dhcp_options().dhcp_options_ids(id).send(),
            )
            .await?;
        Ok(out
            .dhcp_options()
            .iter()
            .flat_map(|o| o.dhcp_configurations())
            .filter(|d| d.key() == Some("domain-name-servers"))
            .flat_map(|d| d.values())
            .filter_map(|v| v.value())
            .filter(|v| !v.eq_ignore_ascii_case("AmazonProvidedDNS"))
            .map(str::to_string)
            .collect())
    }

    /// DescribeNatGateways of a VPC.
    pub async fn nat_gateways(&mut self, vpc: &str) -> Read<Vec<NatGateway>> {
        by_vpc!(
            self,
            nats,
            vpc,
            "DescribeNatGateways",
            describe_nat_gateways,
            filter,
            |page| page.nat_gateways().iter().map(|n| {
                NatGateway {
                    id: n.nat_gateway_id().unwrap_or_default().into(),
                    subnet_id: n.subnet_id().unwrap_or_default().into(),
                    public: n
                        .connectivity_type()
                        .map(|t| t.as_str() != "private")
                        .unwrap_or(true),
                    state: n
                        .state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .unwrap_or_default(),
                }
            })
        )
    }
}

fn vpc_filter(vpc: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(vpc)
        .build()
}
