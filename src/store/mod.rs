//! AWS adapters: Secrets Manager (and, for RDS-managed masters, RDS). Each call runs within
//! the deadline, is logged as an `aws_call` event, and has its errors classified in
//! [`classify`].

pub mod classify;
pub mod rds;
pub mod secrets;

pub use rds::Rds;
pub use secrets::{Dates, Description, SecretsManager};

/// Loads the shared AWS configuration once per process: region, credentials and the
/// `AWS_ENDPOINT_URL*` overrides come from the standard sources.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        // Three attempts with backoff; every call is also bounded by the deadline watchdog,
        // so retries can never run past the function deadline.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(2500))
                .build(),
        )
        .load()
        .await
}
