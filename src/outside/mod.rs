//! What the operator commands read about the world around a rotation function, with the
//! caller's credentials (never the function's): the clients they use and how their AWS errors
//! read ([`Clients`], [`AwsError`]), the hosted rotation applications a function may come
//! from, and when Lambda deprecates each runtime ([`runtimes`]). Read-only.

pub mod network;
pub mod runtimes;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{json, Map, Value};

/// The clients the operator commands use, built once from the shared AWS configuration.
/// Every read goes through [`Clients::call`].
#[derive(Clone)]
pub struct Clients {
    /// Secrets Manager.
    pub sm: aws_sdk_secretsmanager::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// EC2: subnets, route tables, endpoints, security groups, network ACLs.
    pub ec2: aws_sdk_ec2::Client,
    /// RDS: the instance or cluster behind a secret's host.
    pub rds: aws_sdk_rds::Client,
    /// KMS: the secret's key and its policy.
    pub kms: aws_sdk_kms::Client,
    /// IAM: the function role's policies, and their simulation.
    pub iam: aws_sdk_iam::Client,
    /// CloudFormation: the stack behind a function.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// CloudWatch Logs: the function's log group.
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    /// Builds the clients (no network calls). `SECRETS_MANAGER_ENDPOINT` is honoured, as by
    /// the function.
    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        let mut sm = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Ok(url) = std::env::var("SECRETS_MANAGER_ENDPOINT") {
            if !url.is_empty() {
                sm = sm.endpoint_url(url);
            }
        }
        Clients {
            sm: aws_sdk_secretsmanager::Client::from_conf(sm.build()),
            lambda: aws_sdk_lambda::Client::new(sdk),
            ec2: aws_sdk_ec2::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
        }
    }

    /// Runs one read: logged as an `aws_call` event, its error classified by code into an
    /// [`AwsError`] that names the IAM action (`service:Operation`), so a denied read can be
    /// reported as the permission it lacked.
    pub async fn call<T, E, R, F>(
        &self,
        service: &'static str,
        operation: &'static str,
        fut: F,
    ) -> Result<T, AwsError>
    where
        F: std::future::Future<
            Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
        >,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let started = std::time::Instant::now();
        let result = fut.await.map_err(|e| {
            let mut err = aws_error(&e);
            err.action = format!("{service}:{operation}");
            err
        });
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        crate::telemetry::aws_call(
            service,
            operation,
            started.elapsed().as_millis() as u64,
            outcome,
        );
        result
    }
}

/// An AWS call that failed: its error code (or how it failed to reach AWS) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The AWS error code, e.g. `AccessDeniedException`; `unreachable` when no answer came.
    pub code: String,
    /// The service's message, or the transport error.
    pub message: String,
    /// The IAM action of the call (`ec2:DescribeSubnets`), when it was made through
    /// [`Clients::call`]; empty otherwise.
    pub action: String,
}

impl AwsError {
    /// Whether the caller lacks permission.
    pub fn denied(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation"
        )
    }

    /// Whether the resource does not exist.
    pub fn not_found(&self) -> bool {
        self.code == "ResourceNotFoundException"
    }

    /// Whether the endpoint does not implement the operation (an emulator, or a partition
    /// without the API): a check that needs it is skipped, not failed.
    pub fn not_implemented(&self) -> bool {
        matches!(
            self.code.as_str(),
            "NotImplemented"
                | "NotImplementedException"
                | "InvalidAction"
                | "UnknownOperationException"
        )
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Classifies an SDK error by its code (unmodelled errors included), never by its text.
pub fn aws_error<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err.code() {
        Some(code) => AwsError {
            code: code.to_string(),
            message: err.message().unwrap_or("").to_string(),
            action: String::new(),
        },
        None => {
            let chain = crate::net::chain_text(err);
            AwsError {
                code: "unreachable".to_string(),
                message: crate::telemetry::scrub(&chain),
                action: String::new(),
            }
        }
    }
}

/// What the hosted rotation application a function came from says, from its
/// `serverlessrepo:applicationId` tag alone (no secret value is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedApp {
    /// The application name, e.g. `SecretsManagerRDSPostgreSQLRotationSingleUser`.
    pub name: String,
    /// The engine family (`postgres`, `mysql`, `mariadb`), when this function supports it.
    pub engine: Option<&'static str>,
    /// `single_user` or `alternating_users` (MultiUser), when known.
    pub strategy: Option<&'static str>,
}

/// The tag AWS's Serverless Application Repository puts on the functions it deploys.
pub const APPLICATION_TAG: &str = "serverlessrepo:applicationId";

/// Parses an application id (`arn:aws:serverlessrepo:REGION:ACCOUNT:applications/NAME`).
pub fn hosted_app(application_id: &str) -> HostedApp {
    let name = application_id
        .rsplit('/')
        .next()
        .unwrap_or(application_id)
        .to_string();
    let rest = name.strip_prefix("SecretsManagerRDS");
    let (engine, rest) = match rest {
        Some(r) if r.starts_with("PostgreSQLRotation") => (Some("postgres"), &r[18..]),
        Some(r) if r.starts_with("MySQLRotation") => (Some("mysql"), &r[13..]),
        Some(r) if r.starts_with("MariaDBRotation") => (Some("mariadb"), &r[15..]),
        _ => (None, ""),
    };
    let strategy = match rest {
        "SingleUser" => Some("single_user"),
        "MultiUser" => Some("alternating_users"),
        _ => None,
    };
    HostedApp {
        name,
        engine: engine.filter(|_| strategy.is_some()),
        strategy,
    }
}

/// The rotation rules as the AWS CLI's `--rotation-rules` takes them.
pub fn rules_json(rules: &aws_sdk_secretsmanager::types::RotationRulesType) -> Value {
    let mut m = Map::new();
    if let Some(days) = rules.automatically_after_days() {
        m.insert("AutomaticallyAfterDays".into(), json!(days));
    }
    if let Some(expr) = rules.schedule_expression() {
        m.insert("ScheduleExpression".into(), json!(expr));
    }
    if let Some(duration) = rules.duration() {
        m.insert("Duration".into(), json!(duration));
    }
    Value::Object(m)
}

/// A Secrets Manager date as RFC 3339, for reports.
pub fn date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_application_names_give_engine_and_strategy() {
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser");
        assert_eq!(a.engine, Some("postgres"));
        assert_eq!(a.strategy, Some("single_user"));
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMySQLRotationMultiUser");
        assert_eq!(
            (a.engine, a.strategy),
            (Some("mysql"), Some("alternating_users"))
        );
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMariaDBRotationSingleUser");
        assert_eq!(a.engine, Some("mariadb"));
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSOracleRotationSingleUser");
        assert_eq!(a.engine, None);
        assert_eq!(a.name, "SecretsManagerRDSOracleRotationSingleUser");
    }
}
