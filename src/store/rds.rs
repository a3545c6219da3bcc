//! The RDS adapter, for alternating users whose master secret is RDS-managed: such a secret
//! holds only `username` and `password`, so where the master logs in (host, port, engine)
//! comes from DescribeDBInstances / DescribeDBClusters, and so do the replica and reader
//! endpoints that decide whether the rotated user's host belongs to the master's database.
//!
//! Each call goes through the shared AWS call wrapper ([`super::call`]): within the deadline
//! (`Wait::Rds`), logged as an `aws_call` event, its errors classified
//! (`rds_api_unreachable`, `rds_api_access_denied`, `aws_service_error`).

use super::call::{About, Api};
use super::classify::Service;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use aws_sdk_rds::types::Filter;
use aws_sdk_rds::Client;
use std::future::Future;

/// TEST ONLY: when set, every host name read from the RDS API is replaced by this value.
///
/// moto emulates the RDS API but hands out endpoint names (`*.rds.amazonaws.com`) that do
/// not resolve, so the integration tests point them at the local database with
/// `DSR_TEST_ONLY_RDS_HOST_OVERRIDE=localhost`. It never applies to hosts from a secret, and it
/// has no place in a deployed function: the function warns once at start-up when it is set.
pub const TEST_ONLY_HOST_OVERRIDE: &str = "DSR_TEST_ONLY_RDS_HOST_OVERRIDE";

/// The database an RDS-managed master secret belongs to, from its system tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryResource {
    /// `aws:rds:primaryDBInstanceArn`.
    Instance(String),
    /// `aws:rds:primaryDBClusterArn`.
    Cluster(String),
}

impl PrimaryResource {
    /// Finds the system tag RDS puts on the secrets it manages. RDS spells the keys
    /// `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn`; they are compared without
    /// case, as the reference functions do.
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        tags.into_iter()
            .find_map(|(key, value)| match key.to_ascii_lowercase().as_str() {
                "aws:rds:primarydbinstancearn" => Some(PrimaryResource::Instance(value.into())),
                "aws:rds:primarydbclusterarn" => Some(PrimaryResource::Cluster(value.into())),
                _ => None,
            })
    }

    /// The ARN (or identifier) to describe.
    pub fn id(&self) -> &str {
        match self {
            PrimaryResource::Instance(id) | PrimaryResource::Cluster(id) => id,
        }
    }
}

/// The RDS resource behind a host name that looks like an RDS endpoint
/// (`<id>.<random>.<region>.rds.amazonaws.com`, clusters `<id>.cluster-<random>...`), for
/// masters that are not RDS-managed but sit on another host than the rotated user.
pub fn resource_of_endpoint(host: &str) -> Option<PrimaryResource> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !(host.ends_with(".rds.amazonaws.com") || host.ends_with(".rds.amazonaws.com.cn")) {
        return None;
    }
    let mut labels = host.split('.');
    let id = labels.next().filter(|l| !l.is_empty())?.to_string();
    match labels.next() {
        Some(second) if second.starts_with("cluster-") => Some(PrimaryResource::Cluster(id)),
        Some(_) => Some(PrimaryResource::Instance(id)),
        None => None,
    }
}

/// Where an RDS database answers, as the RDS API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEndpoints {
    /// The `Engine` (postgres, aurora-postgresql, mysql, aurora-mysql, mariadb).
    pub engine: String,
    /// The writer endpoint: the instance endpoint, or the cluster endpoint.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Endpoints that read from it: read replicas, the cluster reader endpoint, and the
    /// cluster's member instances.
    pub readers: Vec<String>,
}

impl DbEndpoints {
    /// Whether `host` is this database: its writer endpoint or one of its readers (DNS
    /// names compare without case).
    pub fn serves(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        std::iter::once(&self.host)
            .chain(&self.readers)
            .any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(host))
    }
}

/// The RDS API, as alternating users needs it. Built once per process.
#[derive(Clone)]
pub struct Rds {
    client: Client,
    api: Api,
    host_override: Option<String>,
}

impl Rds {
    /// Builds the client from the shared AWS configuration (`AWS_ENDPOINT_URL_RDS`, else
    /// `AWS_ENDPOINT_URL`, come with it, as the SDK resolves them), reading the test-only host override from the
    /// environment.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let host_override = std::env::var(TEST_ONLY_HOST_OVERRIDE)
            .ok()
            .filter(|v| !v.is_empty());
        Rds::with_host_override(sdk, host_override)
    }

    /// As [`Rds::new`], with the test-only host override given explicitly.
    pub fn with_host_override(sdk: &aws_config::SdkConfig, host_override: Option<String>) -> Self {
        let endpoint = super::call::sdk_endpoint!(aws_sdk_rds, sdk, "RDS", None::<&str>);
        if let Some(host) = &host_override {
            tracing::warn!(
                event = "test_only_override",
                variable = TEST_ONLY_HOST_OVERRIDE,
                host = host.as_str(),
                "{TEST_ONLY_HOST_OVERRIDE} is set: every host read from the RDS API is replaced by {host} (test only; unset it in a deployed function)"
            );
        }
        Rds {
            client: Client::new(sdk),
            api: Api::new(Service::Rds, endpoint),
            host_override,
        }
    }

    /// The endpoint URL in use.
    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    /// A host name read from the API, after the test-only override.
    fn api_host(&self, host: &str) -> String {
        match &self.host_override {
            Some(replacement) => {
                tracing::debug!(
                    event = "test_only_override",
                    from = host,
                    to = replacement.as_str(),
                    "RDS host {host} replaced by {replacement} ({TEST_ONLY_HOST_OVERRIDE})"
                );
                replacement.clone()
            }
            None => host.to_string(),
        }
    }

    async fn call<T, E, R, F>(
        &self,
        deadline: &Deadline,
        operation: &'static str,
        fut: F,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>>,
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        self.api
            .call(deadline, operation, About::default(), fut)
            .await
    }

    /// The endpoints of the database an RDS-managed master secret belongs to.
    pub async fn endpoints(
        &self,
        deadline: &Deadline,
        resource: &PrimaryResource,
    ) -> Result<DbEndpoints, Failure> {
        self.lookup(deadline, resource).await?
    }

    /// As [`Rds::endpoints`], but `Ok(None)` when RDS has no such database (a host that
    /// only looks like an RDS endpoint).
    pub async fn endpoints_if_exists(
        &self,
        deadline: &Deadline,
        resource: &PrimaryResource,
    ) -> Result<Option<DbEndpoints>, Failure> {
        Ok(self.lookup(deadline, resource).await?.ok())
    }

    /// The endpoints; the inner `Err` says RDS has no such database (its own error, or an
    /// empty answer), the outer one that the question could not be answered.
    async fn lookup(&self, deadline: &Deadline, resource: &PrimaryResource) -> Lookup {
        match resource {
            PrimaryResource::Instance(id) => self.instance(deadline, id).await,
            PrimaryResource::Cluster(id) => self.cluster(deadline, id).await,
        }
    }

    async fn instance(&self, deadline: &Deadline, id: &str) -> Lookup {
        // The SDK's typed error, not a code compared as text, says the instance is missing.
        let mut missing = false;
        let send = async {
            let out = self
                .client
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await;
            missing = out.as_ref().is_err_and(|e| {
                e.as_service_error()
                    .is_some_and(|e| e.is_db_instance_not_found_fault())
            });
            out
        };
        let out = match self.call(deadline, "DescribeDBInstances", send).await {
            Ok(out) => out,
            Err(f) if missing => return Ok(Err(f)),
            Err(f) => return Err(f),
        };
        let Some(db) = out.db_instances().first() else {
            return Ok(Err(not_found("DescribeDBInstances", id)));
        };
        let Some(endpoint) = db
            .endpoint()
            .and_then(|e| e.address().map(|a| (a, e.port())))
        else {
            return Err(no_endpoint("DescribeDBInstances", id));
        };
        let replicas = db.read_replica_db_instance_identifiers().to_vec();
        let readers = self.instance_addresses(deadline, replicas).await?;
        Ok(Ok(DbEndpoints {
            engine: db.engine().unwrap_or_default().to_string(),
            host: self.api_host(endpoint.0),
            port: port("DescribeDBInstances", id, endpoint.1)?,
            readers,
        }))
    }

    async fn cluster(&self, deadline: &Deadline, id: &str) -> Lookup {
        let mut missing = false;
        let send = async {
            let out = self
                .client
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await;
            missing = out.as_ref().is_err_and(|e| {
                e.as_service_error()
                    .is_some_and(|e| e.is_db_cluster_not_found_fault())
            });
            out
        };
        let out = match self.call(deadline, "DescribeDBClusters", send).await {
            Ok(out) => out,
            Err(f) if missing => return Ok(Err(f)),
            Err(f) => return Err(f),
        };
        let Some(cluster) = out.db_clusters().first() else {
            return Ok(Err(not_found("DescribeDBClusters", id)));
        };
        let Some(host) = cluster.endpoint() else {
            return Err(no_endpoint("DescribeDBClusters", id));
        };
        let members: Vec<String> = cluster
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier().map(str::to_string))
            .collect();
        let mut readers: Vec<String> = cluster
            .reader_endpoint()
            .map(|r| self.api_host(r))
            .into_iter()
            .collect();
        readers.extend(self.instance_addresses(deadline, members).await?);
        Ok(Ok(DbEndpoints {
            engine: cluster.engine().unwrap_or_default().to_string(),
            host: self.api_host(host),
            port: port("DescribeDBClusters", id, cluster.port())?,
            readers,
        }))
    }

    /// The endpoint addresses of instances, in one call (none for an empty list).
    async fn instance_addresses(
        &self,
        deadline: &Deadline,
        ids: Vec<String>,
    ) -> Result<Vec<String>, Failure> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder()
            .name("db-instance-id")
            .set_values(Some(ids))
            .build();
        let out = self
            .call(
                deadline,
                "DescribeDBInstances",
                self.client.describe_db_instances().filters(filter).send(),
            )
            .await?;
        Ok(out
            .db_instances()
            .iter()
            .filter_map(|db| db.endpoint().and_then(|e| e.address()))
            .map(|a| self.api_host(a))
            .collect())
    }
}

/// Endpoints found; `Ok(Err(_))`: RDS has no such database; `Err(_)`: no answer.
type Lookup = Result<Result<DbEndpoints, Failure>, Failure>;

/// RDS answered without the database asked for: no AWS error code to report, as none came.
fn not_found(operation: &'static str, id: &str) -> Failure {
    Failure::new(
        Cause::AwsServiceError,
        format!("{operation} found no database {id}"),
    )
    .with("service", "rds")
    .with("operation", operation)
    .with("db_identifier", id)
    .remedy("Check the database the secret names (its aws:rds:primaryDBInstanceArn / primaryDBClusterArn tag, or its host): RDS lists no such database in this account and region.")
}

fn no_endpoint(operation: &'static str, id: &str) -> Failure {
    Failure::new(
        Cause::AwsServiceError,
        format!("{operation}: {id} has no endpoint yet (still being created?)"),
    )
    .with("service", "rds")
    .with("operation", operation)
    .with("missing", "Endpoint")
    .with("db_identifier", id)
    .remedy("Wait until the database is available, then rotate again.")
}

fn port(operation: &'static str, id: &str, port: Option<i32>) -> Result<u16, Failure> {
    port.and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            Failure::new(
                Cause::AwsServiceError,
                format!("{operation}: {id} reports no usable port"),
            )
            .with("service", "rds")
            .with("operation", operation)
            .with("missing", "Port")
            .with("db_identifier", id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tags_are_found_in_any_case() {
        let tags = [
            ("aws:secretsmanager:owningService", "rds"),
            (
                "aws:rds:primaryDBInstanceArn",
                "arn:aws:rds:us-east-1:1:db:a",
            ),
        ];
        assert_eq!(
            PrimaryResource::from_tags(tags),
            Some(PrimaryResource::Instance(
                "arn:aws:rds:us-east-1:1:db:a".into()
            ))
        );
        assert_eq!(
            PrimaryResource::from_tags([("AWS:RDS:PRIMARYDBCLUSTERARN", "c")]),
            Some(PrimaryResource::Cluster("c".into()))
        );
        assert_eq!(PrimaryResource::from_tags([("Name", "x")]), None);
    }

    #[test]
    fn rds_endpoint_names_map_to_their_resource() {
        assert_eq!(
            resource_of_endpoint("mydb.abc123.us-east-1.rds.amazonaws.com"),
            Some(PrimaryResource::Instance("mydb".into()))
        );
        assert_eq!(
            resource_of_endpoint("Prod.cluster-abc123.eu-west-1.rds.amazonaws.com."),
            Some(PrimaryResource::Cluster("prod".into()))
        );
        assert_eq!(resource_of_endpoint("db.internal.example"), None);
        assert_eq!(resource_of_endpoint("localhost"), None);
    }

    #[test]
    fn the_endpoint_is_the_sdks_for_the_partition() {
        let sdk = |region: &str| {
            aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.to_string()))
                .build()
        };
        assert_eq!(
            Rds::with_host_override(&sdk("cn-north-1"), None).endpoint(),
            "https://rds.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            Rds::with_host_override(&sdk("us-east-1"), None).endpoint(),
            "https://rds.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn a_database_rds_does_not_list_carries_no_aws_code_aws_never_sent() {
        let f = not_found("DescribeDBInstances", "mydb");
        assert_eq!(f.cause, Cause::AwsServiceError);
        assert_eq!(f.evidence["db_identifier"], "mydb");
        assert!(
            f.evidence.get("aws_error_code").is_none(),
            "{:?}",
            f.evidence
        );
        assert!(f.signals.aws_code.is_none());
    }

    #[test]
    fn a_database_serves_its_writer_and_readers_only() {
        let e = DbEndpoints {
            engine: "postgres".into(),
            host: "w.x.rds.amazonaws.com".into(),
            port: 5432,
            readers: vec!["r.x.rds.amazonaws.com".into()],
        };
        assert!(e.serves("W.x.rds.amazonaws.com"));
        assert!(e.serves("r.x.rds.amazonaws.com."));
        assert!(!e.serves("other.x.rds.amazonaws.com"));
    }
}
