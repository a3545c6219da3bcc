//! `network_database`: from every function subnet to the RDS instance or cluster whose
//! endpoint is the secret's host: the same VPC, the database's groups, the function's egress
//! and the ACLs of both subnets.

use super::model::*;
use super::path::{flow, End, IngressCause};
use super::read::{Read, Reader};
use super::service::{gather, unread};
use super::{ConfigCheck, Finding, SecretFacts};
use crate::failure::Cause;
use serde_json::{json, Value};

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
    // The database's own port decides the flows; a secret naming another one is reported
    // apart, since no network change would fix it.
    let port = if db.port > 0 {
        db.port
    } else {
        secret.port.map(i32::from).unwrap_or(0)
    };
    let mismatch = secret
        .port
        .map(i32::from)
        .filter(|p| db.port > 0 && *p != db.port)
        .map(|p| {
            Finding::warn(
                json!({"db_instance": db.id, "secret_port": p, "db_port": db.port}),
                format!(
                    "the secret names port {p}, but {} listens on {}: fix the secret's port",
                    db.id, db.port
                ),
            )
        });
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
                // A gateway endpoint (S3, DynamoDB) leads to no other VPC.
                Target::Other(t) if !t.starts_with("vpce-") => Some(t.clone()),
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
    let mut findings: Vec<Finding> = mismatch.into_iter().collect();
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

impl Reader {
    /// The RDS instance or cluster whose endpoint is `host` (looked up by the identifier its
    /// first label names); None when there is none in this account and region.
    pub async fn database(&mut self, host: &str) -> Read<Option<Database>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(hit) = self.databases.get(&host) {
            return hit.clone();
        }
        let read = self.read_database(&host).await;
        self.databases.insert(host, read.clone());
        read
    }

    async fn read_database(&mut self, host: &str) -> Read<Option<Database>> {
        let id = host.split('.').next().unwrap_or_default().to_string();
        let c = self.clients.clone();
        let same = |a: Option<&str>| a.map(|a| a.eq_ignore_ascii_case(host)).unwrap_or(false);
        match c
            .call(
                "rds",
                "DescribeDBInstances",
                c.rds
                    .describe_db_instances()
                    .db_instance_identifier(&id)
                    .send(),
            )
            .await
        {
            Err(e) if !e.code.contains("NotFound") => return Err(e),
            Err(_) => {}
            Ok(out) => {
                if let Some(i) = out
                    .db_instances()
                    .iter()
                    .find(|i| same(i.endpoint().and_then(|e| e.address())))
                {
                    let group = i.db_subnet_group();
                    let all: Vec<_> = group.map(|g| g.subnets().to_vec()).unwrap_or_default();
                    let az = i.availability_zone();
                    let here: Vec<String> = all
                        .iter()
                        .filter(|s| {
                            az.is_some()
                                && s.subnet_availability_zone().and_then(|z| z.name()) == az
                        })
                        .filter_map(|s| s.subnet_identifier().map(str::to_string))
                        .collect();
                    let subnet_ids = if here.is_empty() {
                        all.iter()
                            .filter_map(|s| s.subnet_identifier().map(str::to_string))
                            .collect()
                    } else {
                        here
                    };
                    return Ok(Some(Database {
                        id: i.db_instance_identifier().unwrap_or(&id).into(),
                        kind: "instance",
                        port: i.endpoint().and_then(|e| e.port()).unwrap_or_default(),
                        vpc_id: group.and_then(|g| g.vpc_id()).unwrap_or_default().into(),
                        subnet_ids,
                        security_group_ids: i
                            .vpc_security_groups()
                            .iter()
                            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                            .collect(),
                        publicly_accessible: i.publicly_accessible().unwrap_or(false),
                        engine: i.engine().map(str::to_string),
                        engine_version: i.engine_version().map(str::to_string),
                    }));
                }
            }
        }
        let out = match c
            .call(
                "rds",
                "DescribeDBClusters",
                c.rds
                    .describe_db_clusters()
                    .db_cluster_identifier(&id)
                    .send(),
            )
            .await
        {
            Err(e) if e.code.contains("NotFound") => return Ok(None),
            other => other?,
        };
        let Some(k) = out.db_clusters().iter().find(|k| {
            same(k.endpoint())
                || same(k.reader_endpoint())
                || k.custom_endpoints().iter().any(|e| same(Some(e)))
        }) else {
            return Ok(None);
        };
        let group_name = k.db_subnet_group().unwrap_or_default().to_string();
        let groups = c
            .call(
                "rds",
                "DescribeDBSubnetGroups",
                c.rds
                    .describe_db_subnet_groups()
                    .db_subnet_group_name(group_name)
                    .send(),
            )
            .await?;
        let group = groups.db_subnet_groups().first();
        Ok(Some(Database {
            id: k.db_cluster_identifier().unwrap_or(&id).into(),
            kind: "cluster",
            port: k.port().unwrap_or_default(),
            vpc_id: group.and_then(|g| g.vpc_id()).unwrap_or_default().into(),
            subnet_ids: group
                .map(|g| {
                    g.subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            security_group_ids: k
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
            publicly_accessible: k.publicly_accessible().unwrap_or(false),
            engine: k.engine().map(str::to_string),
            engine_version: k.engine_version().map(str::to_string),
        }))
    }
}
