//! What the operator commands read about the world around a rotation function, with the
//! caller's credentials (never the function's): the clients they use, each read within the
//! command's deadline through the one AWS call wrapper, and how their AWS errors read
//! ([`Clients`], [`AwsError`]), the hosted rotation applications a function may come from,
//! when Lambda deprecates each runtime ([`runtimes`]), the checks of the policies around the
//! function ([`policy`]), what an old rotation function's package and stack say
//! ([`legacy`]), and a function's log group read back as invocations ([`logs`]). Read-only.

pub mod config;
pub mod legacy;
pub mod logs;
pub mod network;
pub mod policy;
pub mod runtimes;

use crate::config::Strategy;
use crate::deadline::{Deadline, Service};
use crate::engine::Engine;
use crate::store::call::{sdk_endpoint, About, Caller};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// The clients the operator commands use, built once from the shared AWS configuration, with
/// the deadline every read must finish within. Every read goes through [`Clients::call`].
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
    /// The endpoint URL each client calls, in the order of [`Service::ALL`].
    endpoints: Vec<String>,
    deadline: Deadline,
    /// Whose credentials the reads are made with, as each `aws_call` event says.
    caller: Caller,
}

impl Clients {
    /// The budget of [`Clients::new`]: a command without a deadline of its own may read for
    /// as long as the longest Lambda invocation.
    pub const DEFAULT_BUDGET: Duration = crate::deadline::LAMBDA_MAX_TIMEOUT;

    /// Builds the clients (no network calls) for a command with no deadline of its own: every
    /// read must finish within [`Clients::DEFAULT_BUDGET`] from now. `SECRETS_MANAGER_ENDPOINT`
    /// is honoured, as by the function.
    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        let deadline =
            Deadline::after(Self::DEFAULT_BUDGET, crate::config::DEFAULT_DEADLINE_MARGIN);
        Clients::with_deadline(sdk, deadline)
    }

    /// The same clients for reads the rotation function makes itself (diagnose's `here`
    /// checks, which in Lambda run with the function's role): their `aws_call` events say
    /// `caller: function`, so the role's policy is checked against them.
    pub fn as_function(mut self) -> Clients {
        self.caller = Caller::Function;
        self
    }

    /// As [`Clients::new`], with the command's deadline: a command line's `--timeout-ms`
    /// (`Deadline::after(timeout, app.margin())`), or the Lambda invocation's.
    pub fn with_deadline(sdk: &aws_config::SdkConfig, deadline: Deadline) -> Clients {
        let sm_override = crate::config::secrets_manager_endpoint();
        let mut sm = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = &sm_override {
            sm = sm.endpoint_url(url);
        }
        let endpoints = Service::ALL
            .into_iter()
            .map(|service| match service {
                Service::SecretsManager => sdk_endpoint!(
                    aws_sdk_secretsmanager,
                    sdk,
                    "Secrets Manager",
                    sm_override.as_deref()
                ),
                Service::Rds => sdk_endpoint!(aws_sdk_rds, sdk, "RDS", None::<&str>),
                Service::Lambda => sdk_endpoint!(aws_sdk_lambda, sdk, "Lambda", None::<&str>),
                Service::Ec2 => sdk_endpoint!(aws_sdk_ec2, sdk, "EC2", None::<&str>),
                Service::Kms => sdk_endpoint!(aws_sdk_kms, sdk, "KMS", None::<&str>),
                Service::Iam => sdk_endpoint!(aws_sdk_iam, sdk, "IAM", None::<&str>),
                Service::CloudFormation => {
                    sdk_endpoint!(aws_sdk_cloudformation, sdk, "CloudFormation", None::<&str>)
                }
                Service::Logs => {
                    sdk_endpoint!(aws_sdk_cloudwatchlogs, sdk, "CloudWatch Logs", None::<&str>)
                }
            })
            .collect();
        Clients {
            sm: aws_sdk_secretsmanager::Client::from_conf(sm.build()),
            lambda: aws_sdk_lambda::Client::new(sdk),
            ec2: aws_sdk_ec2::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            caller: Caller::Operator,
            endpoints,
            deadline,
        }
    }

    /// The deadline every read must finish within.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// The endpoint URL a service's client calls, as the SDK resolves it.
    pub fn endpoint(&self, service: Service) -> &str {
        let at = Service::ALL.iter().position(|s| *s == service).unwrap_or(0);
        self.endpoints.get(at).map_or("", String::as_str)
    }

    /// Runs one read through the one AWS call wrapper (`store::call::run`): within the
    /// deadline, logged as an `aws_call` event, its error classified by code into an
    /// [`AwsError`] that names the IAM action (`service:Operation`), so a denied read can be
    /// reported as the permission it lacked. `service` is the IAM prefix (`ec2`, `lambda`,
    /// `secretsmanager`, `rds`, `kms`, `iam`, `cloudformation`, `logs`). A read the deadline
    /// cut is `unreachable`, its message saying so.
    ///
    /// The SDK's request future moves to the heap here: a command awaits many reads in one
    /// future, and each request inline would make that future larger than a thread's stack.
    pub fn call<'a, T, E, R, F>(
        &'a self,
        service: &'static str,
        operation: &'static str,
        fut: F,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, AwsError>> + Send + 'a>>
    where
        F: std::future::Future<
                Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
            > + Send
            + 'a,
        T: Send + 'a,
        E: ProvideErrorMetadata + std::error::Error + Send + 'static,
        R: std::fmt::Debug + Send + 'static,
    {
        Box::pin(self.call_inline(service, operation, fut))
    }

    async fn call_inline<T, E, R, F>(
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
        let action = format!("{service}:{operation}");
        let Some(known) = Service::from_prefix(service) else {
            // A prefix outside the list is a programming error: say so instead of calling.
            return Err(AwsError {
                code: "unknown_service".to_string(),
                message: format!("{service} is not a service Clients knows"),
                action,
            });
        };
        // AWS's own code and message, kept as they came: checks report them.
        let mut answered: Option<AwsError> = None;
        let fut = async { fut.await.inspect_err(|e| answered = Some(aws_error(e))) };
        let result = crate::store::call::run(
            self.caller,
            known,
            self.endpoint(known),
            &self.deadline,
            operation,
            About::default(),
            fut,
        )
        .await;
        result.map_err(|f| {
            let mut err = answered.take().unwrap_or_else(|| AwsError {
                code: "unreachable".to_string(),
                message: f.message.clone(),
                action: String::new(),
            });
            err.action = action;
            err
        })
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
    /// Whether the caller lacks permission (the one list rotation's causes use too).
    pub fn denied(&self) -> bool {
        crate::store::classify::is_denied(&self.code)
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
    /// The engine (`postgres`, `mysql`, `mariadb`), when this function supports it.
    pub engine: Option<Engine>,
    /// Single user or alternating users (MultiUser), when known.
    pub strategy: Option<Strategy>,
}

/// Whether a function's description says it is a db-secret-rotator deployment: this
/// project's template writes its name into the description, so the name anywhere in it
/// counts.
pub fn describes_this_project(description: &str) -> bool {
    description.contains("db-secret-rotator")
}

/// Whether a function is a db-secret-rotator deployment, from its configuration alone: an
/// OS-only runtime (`provided.*`) whose description names this project, or whose
/// environment has this project's own variables (`has_variable` is asked for names only; no
/// value is looked at).
pub fn is_this_project(
    runtime: Option<&str>,
    description: Option<&str>,
    has_variable: impl Fn(&str) -> bool,
) -> bool {
    let os_only = runtime.is_some_and(|r| r.starts_with("provided"));
    let described = description.is_some_and(describes_this_project);
    os_only && (described || (has_variable("ROTATION_STRATEGY") && has_variable("TLS_FALLBACK")))
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
    // SecretsManagerRDS<Engine>Rotation<SingleUser|MultiUser>: the names AWS publishes.
    let (engine, rest) = name
        .strip_prefix("SecretsManagerRDS")
        .and_then(|r| {
            [
                ("PostgreSQLRotation", Engine::Postgres),
                ("MySQLRotation", Engine::MySql),
                ("MariaDBRotation", Engine::MariaDb),
            ]
            .into_iter()
            .find_map(|(prefix, engine)| r.strip_prefix(prefix).map(|rest| (Some(engine), rest)))
        })
        .unwrap_or((None, ""));
    let strategy = match rest {
        "SingleUser" => Some(Strategy::SingleUser),
        "MultiUser" => Some(Strategy::AlternatingUsers),
        _ => None,
    };
    HostedApp {
        engine: engine.filter(|_| strategy.is_some()),
        strategy,
        name,
    }
}

/// A secret's rotation rules, serialised as the AWS CLI's `--rotation-rules` takes them
/// (only the fields that are set).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    /// `AutomaticallyAfterDays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    /// `ScheduleExpression`: `rate(30 days)` or `cron(...)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// `Duration`: the rotation window, e.g. `3h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

impl RotationRules {
    /// The rules Secrets Manager answered with.
    pub fn from_sdk(rules: &aws_sdk_secretsmanager::types::RotationRulesType) -> RotationRules {
        RotationRules {
            automatically_after_days: rules.automatically_after_days(),
            schedule_expression: rules.schedule_expression().map(str::to_string),
            duration: rules.duration().map(str::to_string),
        }
    }

    /// A schedule expression alone (`--schedule`).
    pub fn schedule(expression: &str) -> RotationRules {
        RotationRules {
            schedule_expression: Some(expression.to_string()),
            ..RotationRules::default()
        }
    }

    /// Whether no field is set (Secrets Manager then has no schedule to keep).
    pub fn is_empty(&self) -> bool {
        self == &RotationRules::default()
    }

    /// The rules for RotateSecret.
    pub fn to_sdk(&self) -> aws_sdk_secretsmanager::types::RotationRulesType {
        aws_sdk_secretsmanager::types::RotationRulesType::builder()
            .set_automatically_after_days(self.automatically_after_days)
            .set_schedule_expression(self.schedule_expression.clone())
            .set_duration(self.duration.clone())
            .build()
    }
}

impl std::fmt::Display for RotationRules {
    /// The JSON `--rotation-rules` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

/// A Secrets Manager date as RFC 3339, for reports.
pub fn date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_that_never_answers_is_cut_by_the_clients_deadline() {
        // Accepts connections (the kernel's backlog) and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&url)
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"),
            ))
            .build();
        // Long enough that building the clients (eight endpoint resolutions, slow in a debug
        // build on a loaded machine) leaves time for the call to start: the cut must be the
        // read's, not "no time was left" before it.
        let deadline = Deadline::after(Duration::from_millis(2000), Duration::from_millis(100));
        let clients = Clients::with_deadline(&sdk, deadline);
        assert_eq!(clients.endpoint(Service::Ec2), url);
        let err = clients
            .call(
                "ec2",
                "DescribeSubnets",
                clients.ec2.describe_subnets().send(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, "unreachable");
        assert_eq!(err.action, "ec2:DescribeSubnets");
        assert!(err.message.contains("before the deadline"), "{err}");
        assert!(!err.denied());
    }

    #[test]
    fn one_denied_list_serves_rotation_and_the_operator_commands() {
        for code in crate::store::classify::DENIED_CODES {
            let e = AwsError {
                code: code.to_string(),
                message: String::new(),
                action: String::new(),
            };
            assert!(e.denied(), "{code}");
        }
    }

    #[test]
    fn a_description_naming_the_project_anywhere_marks_it_ours() {
        assert!(describes_this_project(
            "Secrets Manager rotation for PostgreSQL, MySQL and MariaDB (db-secret-rotator)"
        ));
        assert!(describes_this_project("db-secret-rotator"));
        assert!(!describes_this_project("Rotates RDS PostgreSQL secrets"));
        // The exact spelling counts: another project's name is not this one.
        assert!(!describes_this_project("db secret rotator"));
        assert!(!describes_this_project("DB-Secret-Rotator"));
        assert!(!describes_this_project(""));
    }

    #[test]
    fn only_an_os_only_runtime_named_or_configured_as_this_project_is_this_project() {
        let none = |_: &str| false;
        let ours_vars = |n: &str| n == "ROTATION_STRATEGY" || n == "TLS_FALLBACK";
        assert!(is_this_project(
            Some("provided.al2023"),
            Some("db-secret-rotator"),
            none
        ));
        assert!(is_this_project(Some("provided.al2023"), None, ours_vars));
        assert!(!is_this_project(
            Some("python3.7"),
            Some("db-secret-rotator"),
            ours_vars
        ));
        assert!(!is_this_project(
            Some("provided.al2023"),
            Some("other"),
            none
        ));
        assert!(!is_this_project(None, Some("db-secret-rotator"), ours_vars));
    }

    #[test]
    fn hosted_application_names_give_engine_and_strategy() {
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser");
        assert_eq!(a.engine, Some(Engine::Postgres));
        assert_eq!(a.strategy, Some(Strategy::SingleUser));
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMySQLRotationMultiUser");
        assert_eq!(
            (a.engine, a.strategy),
            (Some(Engine::MySql), Some(Strategy::AlternatingUsers))
        );
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSMariaDBRotationSingleUser");
        assert_eq!(a.engine, Some(Engine::MariaDb));
        let a = hosted_app("arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSOracleRotationSingleUser");
        assert_eq!(a.engine, None);
        assert_eq!(a.strategy, None);
        assert_eq!(a.name, "SecretsManagerRDSOracleRotationSingleUser");
        // A known engine with an unknown suffix names neither.
        let a = hosted_app("applications/SecretsManagerRDSPostgreSQLRotationTripleUser");
        assert_eq!((a.engine, a.strategy), (None, None));
        assert_eq!(hosted_app("").name, "");
    }

    #[test]
    fn rotation_rules_print_as_the_cli_takes_them() {
        let r = RotationRules {
            automatically_after_days: Some(30),
            duration: Some("3h".into()),
            ..RotationRules::default()
        };
        assert_eq!(
            r.to_string(),
            r#"{"AutomaticallyAfterDays":30,"Duration":"3h"}"#
        );
        assert_eq!(RotationRules::default().to_string(), "{}");
        assert!(RotationRules::default().is_empty());
        assert!(!RotationRules::schedule("rate(30 days)").is_empty());
        assert_eq!(RotationRules::from_sdk(&r.to_sdk()), r);
    }
}
