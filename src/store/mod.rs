//! Where secrets are kept: the [`SecretStore`] trait the rotation steps use (and
//! [`SecretAdmin`], the dated reads the operator commands add), its AWS adapter
//! ([`SecretsManager`]), an in-memory store for unit tests of the protocol ([`memory`]), and
//! the RDS adapter that completes RDS-managed master secrets ([`Rds`]). Every AWS call goes
//! through one wrapper ([`call`]): within the deadline, logged as an `aws_call` event, its
//! errors classified in [`classify`].

pub mod call;
pub mod classify;
#[cfg(test)]
pub mod memory;
pub mod rds;
pub mod secrets;

pub use rds::Rds;
pub use secrets::{Dates, Description, SecretsManager};

use crate::config::PasswordPolicy;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{Engine, Password, SecretRole, Stage};
use crate::text::shell_quote;
use std::future::Future;
use std::time::SystemTime;

/// One UpdateSecretVersionStage: `stage` onto `to` and off `from` (either may be absent).
/// Secrets Manager refuses it when `from` does not hold the label, so a label that moved in
/// the meantime is never taken from its new version.
#[derive(Debug, Clone, Copy)]
pub struct StageMove<'a> {
    /// The staging label.
    pub stage: Stage,
    /// The version that gets it.
    pub to: Option<&'a str>,
    /// The version that loses it.
    pub from: Option<&'a str>,
}

impl<'a> StageMove<'a> {
    /// `stage` onto `to` and off `from`.
    pub fn new(stage: Stage, to: Option<&'a str>, from: Option<&'a str>) -> Self {
        StageMove { stage, to, from }
    }

    /// The AWS CLI command that makes this move on `arn` (`aws secretsmanager
    /// update-secret-version-stage`), each word quoted for a POSIX shell when it needs it:
    /// what reports print for an operator to paste.
    pub fn cli_command(&self, arn: &str) -> String {
        let mut cmd = format!(
            "aws secretsmanager update-secret-version-stage --secret-id {} --version-stage {}",
            shell_quote(arn),
            self.stage
        );
        if let Some(v) = self.to {
            cmd.push_str(&format!(" --move-to-version-id {}", shell_quote(v)));
        }
        if let Some(v) = self.from {
            cmd.push_str(&format!(" --remove-from-version-id {}", shell_quote(v)));
        }
        cmd
    }
}

/// Secrets Manager as the rotation protocol sees it: the calls the four steps make. Every
/// call takes the deadline and fails with a classified [`Failure`].
pub trait SecretStore: Send + Sync {
    /// DescribeSecret: the ARN, whether rotation is on, and each version's labels.
    fn describe(
        &self,
        deadline: &Deadline,
        secret_id: &str,
    ) -> impl Future<Output = Result<Description, Failure>> + Send;

    /// GetSecretValue of `role`'s stage (and of `version_id` when given); `Ok(None)` when
    /// there is no such value.
    fn get_value(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<Password>, Failure>> + Send;

    /// The secret's tags, as (key, value) pairs (RDS-managed masters name their database
    /// in one).
    fn tags(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Failure>> + Send;

    /// GetRandomPassword under `policy`, leaving out the engine's characters.
    fn random_password(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        policy: &PasswordPolicy,
        engine: Engine,
    ) -> impl Future<Output = Result<Password, Failure>> + Send;

    /// PutSecretValue of `value` as version `token`, staged AWSPENDING, with the
    /// RotationToken when given. The same value again is a success; another value for an
    /// existing token is refused (`ResourceExistsException`).
    fn put_pending(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&Password>,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// UpdateSecretVersionStage.
    fn update_stage(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        change: StageMove<'_>,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// What the operator commands read beyond the steps' calls: the dates that tell whether a
/// rotation may still be running. Both stores implement it, so a command written against it
/// is unit-tested on the in-memory store.
pub trait SecretAdmin: SecretStore {
    /// DescribeSecret, with when the secret last changed and was last rotated.
    fn describe_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
    ) -> impl Future<Output = Result<(Description, Dates), Failure>> + Send;

    /// GetSecretValue of `version_id` under `role`'s stage, uncached, with the version's
    /// creation date; `Ok(None)` when there is no such value.
    fn get_value_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<(Password, Option<SystemTime>)>, Failure>> + Send;
}

impl Description {
    /// The one version holding AWSCURRENT. None or several is `staging_labels_invalid`
    /// (with `versions_holding_current`): the secret then has no one live value, and nothing
    /// that reads "the current password" can go on.
    pub fn sole_current(&self) -> Result<&str, Failure> {
        let mut holders: Vec<&str> = self
            .versions
            .iter()
            .filter(|(_, stages)| stages.iter().any(|s| s == Stage::Current.as_str()))
            .map(|(id, _)| id.as_str())
            .collect();
        if let [only] = holders[..] {
            return Ok(only);
        }
        holders.sort_unstable();
        let n = holders.len();
        Err(Failure::new(
            Cause::StagingLabelsInvalid,
            format!("{n} versions hold AWSCURRENT"),
        )
        .with("versions_holding_current", n)
        .with("version_ids", holders)
        .remedy(format!(
            "Exactly one version must hold AWSCURRENT: move it onto the version whose value logs in with aws secretsmanager update-secret-version-stage --secret-id {} --version-stage AWSCURRENT --move-to-version-id <version_id> (and --remove-from-version-id for any other).",
            shell_quote(&self.arn)
        )))
    }
}

/// How long one connect to an AWS endpoint may take before the SDK gives up on it.
pub const AWS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2500);

/// Loads the shared AWS configuration once per process: region, credentials and the
/// `AWS_ENDPOINT_URL*` overrides come from the standard sources.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        // Three attempts with backoff; every call is also bounded by the deadline watchdog,
        // so retries can never run past the function deadline.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(AWS_CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(versions: &[(&str, &[&str])]) -> Description {
        Description {
            arn: "arn".into(),
            rotation_enabled: true,
            rotation_lambda_arn: None,
            versions: versions
                .iter()
                .map(|(v, l)| (v.to_string(), l.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn exactly_one_version_must_hold_awscurrent() {
        let one = description(&[("a", &["AWSCURRENT"]), ("b", &["AWSPENDING"])]);
        assert_eq!(one.sole_current().unwrap(), "a");
        for (d, n) in [
            (description(&[("b", &["AWSPENDING"])]), 0),
            (
                description(&[("a", &["AWSCURRENT"]), ("b", &["AWSCURRENT"])]),
                2,
            ),
        ] {
            let f = d.sole_current().unwrap_err();
            assert_eq!(f.cause, Cause::StagingLabelsInvalid);
            assert_eq!(f.evidence["versions_holding_current"], n);
            assert!(
                f.signals.aws_code.is_none(),
                "no AWS error code is invented"
            );
        }
    }
}
