//! The Secrets Manager adapter: the six calls rotation makes, each within the deadline,
//! each logged as an `aws_call` event, each failure classified.

use super::call::{About, Api};
use super::classify::Service;
use super::{SecretStore, StageMove};
use crate::config::PasswordPolicy;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{Engine, Password, SecretRole};
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What DescribeSecret says about the secret.
#[derive(Debug, Clone)]
pub struct Description {
    /// The secret's ARN.
    pub arn: String,
    /// Whether rotation is enabled.
    pub rotation_enabled: bool,
    /// The rotation function configured on the secret, if any (also when rotation is off).
    pub rotation_lambda_arn: Option<String>,
    /// Version id to staging labels.
    pub versions: HashMap<String, Vec<String>>,
}

impl Description {
    /// The version holding a staging label.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// Whether a version holds a label.
    pub fn has(&self, version_id: &str, stage: &str) -> bool {
        self.versions
            .get(version_id)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// When DescribeSecret says the secret last changed and was last rotated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dates {
    /// `LastChangedDate`.
    pub last_changed: Option<SystemTime>,
    /// `LastRotatedDate`.
    pub last_rotated: Option<SystemTime>,
}

fn system_time(t: &aws_smithy_types::DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

/// Secret values by (secret ARN, version id), wiped when evicted or dropped.
type VersionCache = HashMap<(String, String), zeroize::Zeroizing<String>>;

/// Secrets Manager, as rotation uses it.
#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
    api: Api,
    /// A version's value never changes once written, so values are cached by
    /// (secret ARN, version id) for the life of the process: a warm Lambda then reads each
    /// version once per rotation instead of once per step.
    /// The values are wiped when evicted or dropped.
    cache: Arc<Mutex<VersionCache>>,
}

impl SecretsManager {
    /// Builds the client from the shared AWS configuration, honouring
    /// `SECRETS_MANAGER_ENDPOINT` as the reference functions do.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint_override: Option<&str>) -> Self {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = endpoint_override {
            builder = builder.endpoint_url(url);
        }
        let config = builder.build();
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let endpoint = endpoint_override
            .map(str::to_string)
            .or_else(|| sdk.endpoint_url().map(str::to_string))
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").ok())
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        SecretsManager {
            client: Client::from_conf(config),
            api: Api::new(Service::SecretsManager, endpoint),
            cache: Arc::default(),
        }
    }

    /// The endpoint URL in use.
    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    /// DescribeSecret, with when the secret last changed and was last rotated (repair judges
    /// from them whether a rotation may still be running).
    pub async fn describe_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
    ) -> Result<(Description, Dates), Failure> {
        let out = self
            .api
            .call(
                deadline,
                "DescribeSecret",
                about(SecretRole::Current, secret_id),
                self.client.describe_secret().secret_id(secret_id).send(),
            )
            .await?;
        let dates = Dates {
            last_changed: out.last_changed_date().and_then(system_time),
            last_rotated: out.last_rotated_date().and_then(system_time),
        };
        let description = Description {
            arn: out.arn().unwrap_or(secret_id).to_string(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            rotation_lambda_arn: out
                .rotation_lambda_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
        };
        Ok((description, dates))
    }

    /// GetSecretValue of one version, uncached, with the version's creation date: repair
    /// needs the age of an AWSPENDING version.
    pub async fn get_value_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: &str,
    ) -> Result<Option<(Password, Option<SystemTime>)>, Failure> {
        self.fetch_value(deadline, secret_id, role, Some(version_id))
            .await
    }

    async fn fetch_value(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: Option<&str>,
    ) -> Result<Option<(Password, Option<SystemTime>)>, Failure> {
        let mut req = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(role.stage());
        if let Some(v) = version_id {
            req = req.version_id(v);
        }
        let result = self
            .api
            .call(
                deadline,
                "GetSecretValue",
                about(role, secret_id),
                req.send(),
            )
            .await;
        match result {
            Ok(out) => {
                let Some(text) = out.secret_string() else {
                    return Err(Failure::new(
                        Cause::SecretJsonInvalid,
                        format!("the {} secret is binary, not a JSON string", role.as_str()),
                    )
                    .with("secret", role.as_str())
                    .with("expected", "a SecretString holding a JSON object"));
                };
                let text = Password::new(text);
                if let Some(v) = out.version_id() {
                    self.remember(secret_id, v, text.expose());
                }
                Ok(Some((text, out.created_date().and_then(system_time))))
            }
            Err(f) if f.cause == Cause::SecretNotFound => Ok(None),
            Err(f) => Err(f),
        }
    }

    fn remember(&self, secret_id: &str, version_id: &str, text: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a long-lived process rotating many secrets keeps only recent versions.
        if cache.len() > 256 {
            cache.clear();
        }
        cache.insert(
            (secret_id.to_string(), version_id.to_string()),
            zeroize::Zeroizing::new(text.to_string()),
        );
    }

    /// UpdateSecretVersionStage: `stage` off `version_id` (repair's stale AWSPENDING). Secrets
    /// Manager refuses it when the label is no longer on that version, so a label that moved
    /// in the meantime is never removed from its new version.
    pub async fn remove_stage(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        stage: &str,
        version_id: &str,
    ) -> Result<(), Failure> {
        let change = StageMove {
            stage,
            to: None,
            from: Some(version_id),
        };
        self.update_stage(deadline, secret_id, change).await
    }
}

/// The AWS adapter of the protocol's calls.
impl SecretStore for SecretsManager {
    /// DescribeSecret.
    async fn describe(&self, deadline: &Deadline, secret_id: &str) -> Result<Description, Failure> {
        Ok(self.describe_dated(deadline, secret_id).await?.0)
    }

    /// The tags of a secret (DescribeSecret), as (key, value) pairs: RDS-managed master
    /// secrets name their database in a system tag.
    async fn tags(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
    ) -> Result<Vec<(String, String)>, Failure> {
        let out = self
            .api
            .call(
                deadline,
                "DescribeSecret",
                about(role, secret_id),
                self.client.describe_secret().secret_id(secret_id).send(),
            )
            .await?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    /// GetSecretValue by stage (and version id when known). `Ok(None)` when Secrets Manager
    /// has no such value (ResourceNotFoundException): the caller decides whether that is the
    /// expected miss (AWSPENDING in createSecret, no AWSPREVIOUS yet) or a failure.
    async fn get_value(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: Option<&str>,
    ) -> Result<Option<Password>, Failure> {
        if let Some(v) = version_id {
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&(secret_id.to_string(), v.to_string()))
                .cloned();
            if let Some(text) = cached {
                // Registered again with the scrubber: this invocation reads it anew.
                return Ok(Some(Password::new(text.as_str())));
            }
        }
        Ok(self
            .fetch_value(deadline, secret_id, role, version_id)
            .await?
            .map(|(text, _)| text))
    }

    /// GetRandomPassword with the reference's settings.
    async fn random_password(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        policy: &PasswordPolicy,
        engine: Engine,
    ) -> Result<Password, Failure> {
        let req = self
            .client
            .get_random_password()
            .password_length(policy.length)
            .exclude_characters(policy.exclude_for(engine))
            .exclude_numbers(policy.exclude_numbers)
            .exclude_punctuation(policy.exclude_punctuation)
            .exclude_uppercase(policy.exclude_uppercase)
            .exclude_lowercase(policy.exclude_lowercase)
            .require_each_included_type(policy.require_each_included_type);
        let about = About {
            secret: None,
            secret_id: Some(secret_id),
        };
        let out = self
            .api
            .call(deadline, "GetRandomPassword", about, req.send())
            .await?;
        Ok(Password::new(out.random_password().unwrap_or_default()))
    }

    /// PutSecretValue of the pending version, with the RotationToken when given.
    async fn put_pending(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&Password>,
    ) -> Result<(), Failure> {
        let req = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages("AWSPENDING")
            .set_rotation_token(rotation_token.map(|t| t.expose().to_string()));
        self.api
            .call(
                deadline,
                "PutSecretValue",
                about(SecretRole::Pending, secret_id),
                req.send(),
            )
            .await?;
        self.remember(secret_id, token, value);
        Ok(())
    }

    /// UpdateSecretVersionStage.
    async fn update_stage(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        change: StageMove<'_>,
    ) -> Result<(), Failure> {
        let req = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(change.stage)
            .set_move_to_version_id(change.to.map(str::to_string))
            .set_remove_from_version_id(change.from.map(str::to_string));
        let about = About {
            secret: None,
            secret_id: Some(secret_id),
        };
        self.api
            .call(deadline, "UpdateSecretVersionStage", about, req.send())
            .await?;
        Ok(())
    }
}

fn about(role: SecretRole, secret_id: &str) -> About<'_> {
    About {
        secret: Some(role),
        secret_id: Some(secret_id),
    }
}
