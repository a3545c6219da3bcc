//! The deadline watchdog: every network wait gets a budget that ends `DEADLINE_MARGIN_MS`
//! before the Lambda deadline, and a wait cut short is named by what it waited on.
//!
//! Lambda kills a function at its deadline without a word ("no activity" in the logs). Keeping a
//! margin back means the step can always classify the wait and write its `step_failed` event.

use crate::failure::{Cause, Failure};
use crate::net::Phase;
use std::future::Future;
use std::time::{Duration, Instant};

/// The longest timeout Lambda allows a function: 900 s (15 minutes).
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// An AWS service the process calls, named as IAM actions spell it (`ec2:DescribeSubnets`).
/// Rotation calls Secrets Manager and RDS; the operator commands also read the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS Secrets Manager.
    SecretsManager,
    /// Amazon RDS.
    Rds,
    /// AWS Lambda.
    Lambda,
    /// Amazon EC2 (subnets, route tables, endpoints, security groups, network ACLs).
    Ec2,
    /// AWS KMS.
    Kms,
    /// AWS IAM.
    Iam,
    /// AWS CloudFormation.
    CloudFormation,
    /// Amazon CloudWatch Logs.
    Logs,
}

impl Service {
    /// Every service, in the order above.
    pub const ALL: [Service; 8] = [
        Service::SecretsManager,
        Service::Rds,
        Service::Lambda,
        Service::Ec2,
        Service::Kms,
        Service::Iam,
        Service::CloudFormation,
        Service::Logs,
    ];

    /// The IAM action prefix, also the name in `aws_call` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Rds => "rds",
            Service::Lambda => "lambda",
            Service::Ec2 => "ec2",
            Service::Kms => "kms",
            Service::Iam => "iam",
            Service::CloudFormation => "cloudformation",
            Service::Logs => "logs",
        }
    }

    /// The service with this IAM action prefix.
    pub fn from_prefix(prefix: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.as_str() == prefix)
    }

    /// The name people read, e.g. `Secrets Manager`.
    pub fn title(self) -> &'static str {
        match self {
            Service::SecretsManager => "Secrets Manager",
            Service::Rds => "the RDS API",
            Service::Lambda => "Lambda",
            Service::Ec2 => "EC2",
            Service::Kms => "KMS",
            Service::Iam => "IAM",
            Service::CloudFormation => "CloudFormation",
            Service::Logs => "CloudWatch Logs",
        }
    }
}

/// What a network wait is waiting on: it decides the cause when the budget runs out.
#[derive(Debug, Clone)]
pub enum Wait {
    /// A Secrets Manager API call.
    SecretsManager {
        /// The API operation, e.g. `GetSecretValue`.
        operation: &'static str,
        /// The endpoint URL in use.
        endpoint: String,
    },
    /// An RDS API call.
    Rds {
        /// The API operation.
        operation: &'static str,
        /// The endpoint URL in use.
        endpoint: String,
    },
    /// A call to another AWS service, made by an operator command (a read around a function,
    /// never a rotation step): a cut is `function_timeout_imminent` for the command to report
    /// as the read it could not make, not a rotation cause.
    Aws {
        /// The service.
        service: Service,
        /// The API operation.
        operation: &'static str,
        /// The endpoint URL in use.
        endpoint: String,
    },
    /// Connecting and logging in to a database.
    DbConnect {
        /// Host name from the secret.
        host: String,
        /// Port.
        port: u16,
    },
    /// A statement on an open database connection (may wait on a lock).
    DbStatement {
        /// What the statement does, e.g. `alter_password`.
        operation: &'static str,
    },
}

impl Wait {
    /// The wait for one AWS API call.
    pub fn api(service: Service, operation: &'static str, endpoint: String) -> Wait {
        match service {
            Service::SecretsManager => Wait::SecretsManager {
                operation,
                endpoint,
            },
            Service::Rds => Wait::Rds {
                operation,
                endpoint,
            },
            service => Wait::Aws {
                service,
                operation,
                endpoint,
            },
        }
    }

    /// The operation waited on, as events name it.
    pub fn operation(&self) -> &'static str {
        match self {
            Wait::SecretsManager { operation, .. }
            | Wait::Rds { operation, .. }
            | Wait::Aws { operation, .. }
            | Wait::DbStatement { operation } => operation,
            Wait::DbConnect { .. } => "db_connect",
        }
    }
}

fn epoch_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The wall-clock start of this process (first asked for: `main` asks first thing).
pub fn process_start_epoch_ms() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(epoch_ms_now)
}

/// How a `Lambda-Runtime-Deadline-Ms` value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderDeadline {
    /// An epoch time: this much time is left (zero when it has passed).
    Epoch(Duration),
    /// Earlier than the process start, so not an epoch time: a timeout of this length.
    Duration(Duration),
}

/// Reads a deadline header given the process start and the current time (epoch ms).
pub fn interpret_deadline_header(
    header_ms: u64,
    process_start_ms: u64,
    now_ms: u64,
) -> HeaderDeadline {
    if header_ms < process_start_ms {
        HeaderDeadline::Duration(Duration::from_millis(header_ms))
    } else {
        HeaderDeadline::Epoch(Duration::from_millis(header_ms.saturating_sub(now_ms)))
    }
}

/// The time left for one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    hard: Instant,
    margin: Duration,
}

impl Deadline {
    /// A deadline `total` from now, keeping `margin` back for classification and reporting.
    pub fn after(total: Duration, margin: Duration) -> Self {
        let started = Instant::now();
        // A margin larger than half the time would leave nothing to work with: cap it.
        let margin = margin.min(total / 2);
        Deadline {
            started,
            hard: started + total,
            margin,
        }
    }

    /// A deadline at a wall-clock instant given in milliseconds since the Unix epoch (Lambda's
    /// `Lambda-Runtime-Deadline-Ms`), with what the header was read as.
    ///
    /// A deadline earlier than the start of this process cannot be an epoch time: local
    /// emulators (cargo-lambda's `cargo lambda watch`) send the function timeout itself, e.g.
    /// `600000`. Such a value is taken as a duration from now ([`HeaderDeadline::Duration`],
    /// which the caller reports) instead of failing every call at once against a deadline that
    /// passed in 1970.
    pub fn at_epoch_ms(deadline_ms: u64, margin: Duration) -> (Self, HeaderDeadline) {
        let read = interpret_deadline_header(deadline_ms, process_start_epoch_ms(), epoch_ms_now());
        let left = match read {
            HeaderDeadline::Epoch(left) => left,
            HeaderDeadline::Duration(total) => total,
        };
        (Deadline::after(left, margin), read)
    }

    /// The failure for a wait that never began because the budget had already run out: no
    /// endpoint or database is to blame, the function's time was used up before the call.
    pub fn passed_before(&self, operation: &str) -> Option<Failure> {
        if self.budget() > Duration::ZERO {
            return None;
        }
        let elapsed_ms = self.elapsed().as_millis() as u64;
        let remaining_ms = self.remaining().as_millis() as u64;
        Some(
            Failure::new(
                Cause::FunctionTimeoutImminent,
                format!(
                    "no time was left for {operation}: the function deadline (less DEADLINE_MARGIN_MS) had passed before the call began, {elapsed_ms} ms into the invocation"
                ),
            )
            .with("operation", operation)
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .with("margin_ms", self.margin.as_millis() as u64)
            .with("deadline_passed_before_call", true)
            .remedy("Raise the function timeout (or lower DEADLINE_MARGIN_MS): the time ran out before this call started, so nothing was waited on. Locally, give the invocation a longer deadline (--timeout-ms)."),
        )
    }

    /// Time left before the budget for network waits runs out.
    pub fn budget(&self) -> Duration {
        (self.hard - self.margin).saturating_duration_since(Instant::now())
    }

    /// Time left before the Lambda deadline itself.
    pub fn remaining(&self) -> Duration {
        self.hard.saturating_duration_since(Instant::now())
    }

    /// Time since the invocation started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A per-attempt timeout (e.g. `DB_CONNECT_TIMEOUT_MS`) cut to fit the budget.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.budget())
    }

    /// Runs `fut` within the budget; when the budget runs out, fails with the cause that
    /// `wait` names, `"deadline": true` in its evidence.
    pub async fn run<T, F>(&self, wait: Wait, fut: F) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        // A call that would start with no time left is not the endpoint's fault: say so
        // instead of naming what it would have waited on.
        if let Some(f) = self.passed_before(wait.operation()) {
            return Err(f);
        }
        let started = Instant::now();
        match tokio::time::timeout(self.budget(), fut).await {
            Ok(result) => result,
            Err(_) => Err(self.expired(&wait, started.elapsed())),
        }
    }

    /// The failure for a wait cut short by the deadline.
    pub fn expired(&self, wait: &Wait, waited: Duration) -> Failure {
        let elapsed_ms = waited.as_millis() as u64;
        let remaining_ms = self.remaining().as_millis() as u64;
        match wait {
            Wait::SecretsManager {
                operation,
                endpoint,
            }
            | Wait::Rds {
                operation,
                endpoint,
            } => {
                let (cause, service) = match wait {
                    Wait::SecretsManager { .. } => {
                        (Cause::SecretsManagerUnreachable, "Secrets Manager")
                    }
                    _ => (Cause::RdsApiUnreachable, "the RDS API"),
                };
                Failure::new(
                    cause,
                    format!("{service} did not answer {operation} before the function deadline"),
                )
                .with("endpoint", endpoint.as_str())
                .with("operation", *operation)
                .phase(Phase::Response)
                .with("elapsed_ms", elapsed_ms)
                .with("remaining_ms", remaining_ms)
                .cut_by_deadline()
            }
            Wait::Aws {
                service,
                operation,
                endpoint,
            } => Failure::new(
                Cause::FunctionTimeoutImminent,
                format!(
                    "{} did not answer {operation} before the deadline",
                    service.title()
                ),
            )
            .with("service", service.as_str())
            .with("endpoint", endpoint.as_str())
            .with("operation", *operation)
            .phase(Phase::Response)
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .cut_by_deadline(),
            Wait::DbConnect { host, port } => Failure::new(
                Cause::DbUnreachable,
                format!("no database connection to {host}:{port} before the function deadline"),
            )
            .with("host", host.as_str())
            .with("port", *port)
            .phase(Phase::Connect)
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .cut_by_deadline(),
            Wait::DbStatement { operation } => Failure::new(
                Cause::FunctionTimeoutImminent,
                format!("the database statement ({operation}) was still running near the function deadline"),
            )
            .with("operation", *operation)
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip_through_their_iam_prefix() {
        for s in Service::ALL {
            assert_eq!(Service::from_prefix(s.as_str()), Some(s));
        }
        assert_eq!(Service::from_prefix("s3"), None);
    }

    #[test]
    fn a_deadline_before_the_process_start_is_a_duration() {
        let start = 1_780_000_000_000;
        // cargo-lambda's emulator: the timeout itself.
        assert_eq!(
            interpret_deadline_header(600_000, start, start + 5),
            HeaderDeadline::Duration(Duration::from_millis(600_000))
        );
        // AWS: an epoch time 3 s from now.
        assert_eq!(
            interpret_deadline_header(start + 3_005, start, start + 5),
            HeaderDeadline::Epoch(Duration::from_millis(3_000))
        );
        // A real deadline that has passed stays an epoch time with nothing left.
        assert_eq!(
            interpret_deadline_header(start + 1, start, start + 5),
            HeaderDeadline::Epoch(Duration::ZERO)
        );
    }

    #[tokio::test]
    async fn a_call_after_the_deadline_blames_the_deadline_not_the_endpoint() {
        let d = Deadline::after(Duration::ZERO, Duration::from_millis(50));
        let wait = Wait::SecretsManager {
            operation: "DescribeSecret",
            endpoint: "https://secretsmanager.us-east-1.amazonaws.com".into(),
        };
        let err = d
            .run(wait, async { Ok::<(), Failure>(()) })
            .await
            .unwrap_err();
        assert_eq!(err.cause, Cause::FunctionTimeoutImminent);
        assert_eq!(err.evidence["deadline_passed_before_call"], true);
        assert_eq!(err.evidence["operation"], "DescribeSecret");
        assert!(err.evidence.get("endpoint").is_none(), "{:?}", err.evidence);
    }

    #[test]
    fn margin_is_kept_back_and_capped() {
        let d = Deadline::after(Duration::from_secs(10), Duration::from_millis(1500));
        assert!(d.budget() <= Duration::from_millis(8500));
        assert!(d.remaining() > d.budget());
        let tiny = Deadline::after(Duration::from_millis(100), Duration::from_secs(5));
        assert!(tiny.budget() > Duration::ZERO);
        assert!(d.cap(Duration::from_secs(60)) <= Duration::from_millis(8500));
    }

    #[tokio::test]
    async fn a_wait_past_the_budget_is_named_by_what_it_waited_on() {
        let d = Deadline::after(Duration::from_millis(200), Duration::from_millis(50));
        let wait = Wait::DbConnect {
            host: "db.example".into(),
            port: 5432,
        };
        let err = d
            .run(wait, async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), Failure>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.cause, Cause::DbUnreachable);
        assert_eq!(err.evidence["deadline"], true);
        assert!(
            d.remaining() > Duration::ZERO,
            "reported before the deadline"
        );
    }

    #[test]
    fn each_api_wait_names_its_own_service() {
        let d = Deadline::after(Duration::from_secs(10), Duration::from_secs(1));
        let endpoint = "https://example.invalid".to_string();
        let sm = d.expired(
            &Wait::SecretsManager {
                operation: "GetSecretValue",
                endpoint: endpoint.clone(),
            },
            Duration::from_millis(5),
        );
        let rds = d.expired(
            &Wait::Rds {
                operation: "DescribeDBInstances",
                endpoint,
            },
            Duration::from_millis(5),
        );
        assert_eq!(sm.cause, Cause::SecretsManagerUnreachable);
        assert!(sm
            .message
            .starts_with("Secrets Manager did not answer GetSecretValue"));
        assert_eq!(rds.cause, Cause::RdsApiUnreachable);
        assert!(rds
            .message
            .starts_with("the RDS API did not answer DescribeDBInstances"));
        // An operator read names its service, and no rotation cause.
        let ec2 = d.expired(
            &Wait::api(
                Service::Ec2,
                "DescribeSubnets",
                "https://ec2.example".into(),
            ),
            Duration::from_millis(5),
        );
        assert_eq!(ec2.cause, Cause::FunctionTimeoutImminent);
        assert_eq!(ec2.evidence["service"], "ec2");
        assert!(ec2
            .message
            .starts_with("EC2 did not answer DescribeSubnets"));
        for f in [&sm, &rds, &ec2] {
            assert!(f.signals.cut_by_deadline);
            assert_eq!(f.signals.phase, Some(Phase::Response));
            assert_eq!(f.evidence["elapsed_ms"], 5);
        }
    }
}
