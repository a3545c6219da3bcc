//! The Secrets Manager adapter: the six calls rotation makes, each within the deadline,
//! each logged as an `aws_call` event, each failure classified; and the cache of version
//! values ([`cache`]).

mod cache;

use super::call::{About, Api};
use super::classify::Service;
use super::{SecretAdmin, SecretStore, StageMove};
use crate::config::PasswordPolicy;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{Engine, Password, SecretRole, Stage};
use aws_sdk_secretsmanager::Client;
use cache::VersionCache;
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
    pub fn version_with(&self, stage: Stage) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage.as_str()))
            .map(|(id, _)| id.as_str())
    }

    /// Whether a version holds a label.
    pub fn has(&self, version_id: &str, stage: Stage) -> bool {
        self.versions
            .get(version_id)
            .is_some_and(|stages| stages.iter().any(|s| s == stage.as_str()))
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

/// Secrets Manager, as rotation uses it.
#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
    api: Api,
    /// A version's value never changes once written, so values are cached by
    /// (secret, version id) for the life of the process, with the labels each version holds:
    /// a warm Lambda then reads each version once per rotation instead of once per step.
    cache: Arc<Mutex<VersionCache>>,
}

impl SecretsManager {
    /// Builds the client from the shared AWS configuration, honouring
    /// `SECRETS_MANAGER_ENDPOINT` (`endpoint_override`) as the reference functions do. Without
    /// it the endpoint is the SDK's own: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else
    /// `AWS_ENDPOINT_URL`, else the region's endpoint in its partition.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint_override: Option<&str>) -> Self {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = endpoint_override {
            builder = builder.endpoint_url(url);
        }
        let endpoint = super::call::sdk_endpoint!(
            aws_sdk_secretsmanager,
            sdk,
            "Secrets Manager",
            endpoint_override
        );
        SecretsManager {
            client: Client::from_conf(builder.build()),
            api: Api::new(Service::SecretsManager, endpoint),
            cache: Arc::default(),
        }
    }

    /// The endpoint URL in use.
    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
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
            .version_stage(role.stage().as_str());
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
                    // The answer names every label the version holds; at least the one asked.
                    let mut stages = out.version_stages().to_vec();
                    if !stages.iter().any(|s| s == role.stage().as_str()) {
                        stages.push(role.stage().to_string());
                    }
                    self.cache().insert(secret_id, v, text.expose(), &stages);
                }
                Ok(Some((text, out.created_date().and_then(system_time))))
            }
            Err(f) if f.cause == Cause::SecretNotFound => Ok(None),
            Err(f) => Err(f),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VersionCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The dated reads repair makes, for the adapter.
impl SecretAdmin for SecretsManager {
    /// DescribeSecret, with when the secret last changed and was last rotated (repair judges
    /// from them whether a rotation may still be running).
    async fn describe_dated(
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
        let versions = out.version_ids_to_stages().cloned().unwrap_or_default();
        self.cache()
            .learn(&[secret_id, out.arn().unwrap_or(secret_id)], &versions);
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
            versions,
        };
        Ok((description, dates))
    }

    /// GetSecretValue of one version, uncached, with the version's creation date: repair
    /// needs the age of an AWSPENDING version.
    async fn get_value_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: &str,
    ) -> Result<Option<(Password, Option<SystemTime>)>, Failure> {
        self.fetch_value(deadline, secret_id, role, Some(version_id))
            .await
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
            let cached = self.cache().get(secret_id, v, role.stage().as_str());
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
        // An answer without a password must never become an empty password that setSecret
        // would set.
        match out.random_password().filter(|p| !p.is_empty()) {
            Some(p) => Ok(Password::new(p)),
            None => Err(Failure::new(
                Cause::AwsServiceError,
                "GetRandomPassword answered without a password; nothing was written",
            )
            .with("service", Service::SecretsManager.as_str())
            .with("operation", "GetRandomPassword")
            .with("missing", "RandomPassword")
            .remedy("Rotate again. If it persists, check what answers at the Secrets Manager endpoint (a proxy or an emulator may drop the RandomPassword field).")),
        }
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
            .version_stages(Stage::Pending.as_str())
            .set_rotation_token(rotation_token.map(|t| t.expose().to_string()));
        self.api
            .call(
                deadline,
                "PutSecretValue",
                about(SecretRole::Pending, secret_id),
                req.send(),
            )
            .await?;
        self.cache()
            .insert(secret_id, token, value, &[Stage::Pending.to_string()]);
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
            .version_stage(change.stage.as_str())
            .set_move_to_version_id(change.to.map(str::to_string))
            .set_remove_from_version_id(change.from.map(str::to_string));
        let about = About {
            secret: None,
            secret_id: Some(secret_id),
        };
        self.api
            .call(deadline, "UpdateSecretVersionStage", about, req.send())
            .await?;
        self.cache()
            .moved(secret_id, change.stage.as_str(), change.to);
        Ok(())
    }
}

fn about(role: SecretRole, secret_id: &str) -> About<'_> {
    About {
        secret: Some(role),
        secret_id: Some(secret_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::{Credentials, Region, SharedCredentialsProvider};
    use std::time::Duration;

    /// The environment as the SDK's loader hands it over: `AWS_ENDPOINT_URL_<SERVICE>` values.
    #[derive(Debug)]
    struct ServiceEnv(Vec<(&'static str, &'static str)>);

    impl aws_types::service_config::LoadServiceConfig for ServiceEnv {
        fn load_config(
            &self,
            key: aws_types::service_config::ServiceConfigKey<'_>,
        ) -> Option<String> {
            let name = format!(
                "{}_{}",
                key.env(),
                key.service_id().to_ascii_uppercase().replace(' ', "_")
            );
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn sdk(region: &str, global: Option<&str>, service: ServiceEnv) -> aws_config::SdkConfig {
        let mut b = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )))
            .service_config(service);
        if let Some(url) = global {
            b = b.endpoint_url(url);
        }
        b.build()
    }

    #[test]
    fn the_service_specific_endpoint_wins_over_the_global_one_as_in_the_sdk() {
        let sm = SecretsManager::new(
            &sdk(
                "us-east-1",
                Some("http://global.example:1"),
                ServiceEnv(vec![(
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    "http://sm.example:2",
                )]),
            ),
            None,
        );
        assert_eq!(sm.endpoint(), "http://sm.example:2");
        // SECRETS_MANAGER_ENDPOINT (the reference functions' variable) wins over both.
        let sm = SecretsManager::new(
            &sdk(
                "us-east-1",
                Some("http://global.example:1"),
                ServiceEnv(vec![(
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    "http://sm.example:2",
                )]),
            ),
            Some("http://override.example:3"),
        );
        assert_eq!(sm.endpoint(), "http://override.example:3");
        let sm = SecretsManager::new(
            &sdk(
                "us-east-1",
                Some("http://global.example:1"),
                ServiceEnv(vec![]),
            ),
            None,
        );
        assert_eq!(sm.endpoint(), "http://global.example:1");
    }

    #[test]
    fn the_default_endpoint_is_the_partitions() {
        let sm = SecretsManager::new(&sdk("cn-north-1", None, ServiceEnv(vec![])), None);
        assert_eq!(
            sm.endpoint(),
            "https://secretsmanager.cn-north-1.amazonaws.com.cn"
        );
        let sm = SecretsManager::new(&sdk("eu-west-1", None, ServiceEnv(vec![])), None);
        assert_eq!(
            sm.endpoint(),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
    }

    /// An HTTP endpoint that answers every request with 200 and `body`.
    async fn answering(body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Read the head and the body its content-length announces.
                    loop {
                        let Ok(n) = conn.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn a_random_password_answer_without_a_password_is_a_failure_not_an_empty_password() {
        let url = answering("{}").await;
        let sm = SecretsManager::new(&sdk("us-east-1", None, ServiceEnv(vec![])), Some(&url));
        let deadline = Deadline::after(Duration::from_secs(20), Duration::from_secs(1));
        let policy = PasswordPolicy {
            exclude_characters: None,
            length: 32,
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        };
        let err = sm
            .random_password(&deadline, "arn:s", &policy, Engine::Postgres)
            .await
            .expect_err("an empty password must never be set");
        assert_eq!(err.cause, Cause::AwsServiceError);
        assert_eq!(err.evidence["operation"], "GetRandomPassword");
        assert!(err.signals.aws_code.is_none(), "AWS sent no error code");
    }
}
