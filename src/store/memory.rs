//! An in-memory [`SecretStore`] with Secrets Manager's rules for versions and staging labels,
//! for fast unit tests of the rotation protocol (preconditions, idempotence, retries, races)
//! beside the real-service suites. Tests script it: a failure for the next call of an
//! operation, or a change made by "someone else" just before it.
//!
//! The rules it keeps, as Secrets Manager does: PutSecretValue with a token that already has
//! the same value is a success, with another value `ResourceExistsException`; a label is on
//! at most one version; UpdateSecretVersionStage must name the version a label leaves
//! (`InvalidParameterException` otherwise); moving AWSCURRENT puts AWSPREVIOUS on the version
//! it left. Failures look as the AWS adapter's classification makes them. (Over 400 lines in
//! one file: the rules are one state machine, kept beside the calls they govern.)

use super::{Dates, Description, SecretAdmin, SecretStore, StageMove};
use crate::config::PasswordPolicy;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::Stage;
use crate::secret::{Engine, Password, SecretRole};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One version of a secret.
#[derive(Debug, Clone, Default)]
pub struct Version {
    /// The value; `None` for a version RotateSecret staged and createSecret has not filled.
    pub value: Option<String>,
    /// Its staging labels.
    pub stages: Vec<String>,
}

/// One secret.
#[derive(Debug, Clone, Default)]
pub struct Secret {
    /// Whether rotation is enabled.
    pub rotation_enabled: bool,
    /// Version id to version.
    pub versions: HashMap<String, Version>,
    /// Tags, as (key, value).
    pub tags: Vec<(String, String)>,
    /// The RotationToken of the last PutSecretValue.
    pub last_rotation_token: Option<String>,
}

impl Secret {
    /// The version holding `stage`.
    pub fn holder(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    fn take_stage(&mut self, stage: &str) {
        for v in self.versions.values_mut() {
            v.stages.retain(|s| s != stage);
        }
    }

    fn add_stage(&mut self, version: &str, stage: &str) {
        let v = self.versions.entry(version.to_string()).or_default();
        if !v.stages.iter().any(|s| s == stage) {
            v.stages.push(stage.to_string());
        }
    }
}

/// Everything the store holds: secrets by name.
#[derive(Debug, Default)]
pub struct State {
    /// Secrets by name.
    pub secrets: HashMap<String, Secret>,
}

type Hook = Box<dyn FnOnce(&mut State) + Send>;

#[derive(Default)]
struct Inner {
    state: State,
    failures: HashMap<&'static str, Vec<Failure>>,
    hooks: HashMap<&'static str, Vec<Hook>>,
    calls: HashMap<&'static str, usize>,
    passwords: u64,
}

/// The in-memory store. Clones share their state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

const ARN_PREFIX: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:";

/// The ARN the store gives the secret `name`.
pub fn arn_of(name: &str) -> String {
    format!("{ARN_PREFIX}{name}")
}

fn name_of(secret_id: &str) -> &str {
    secret_id.strip_prefix(ARN_PREFIX).unwrap_or(secret_id)
}

/// A refusal as the AWS adapter classifies it: `ResourceNotFoundException` is
/// `secret_not_found`, every other code `aws_service_error` with the code as its signal.
fn refused(operation: &str, code: &str, role: Option<SecretRole>, secret_id: &str) -> Failure {
    let f = if code == "ResourceNotFoundException" {
        Failure::new(
            Cause::SecretNotFound,
            format!("{operation} found no such secret"),
        )
        .with("secret", role.map_or("current", SecretRole::as_str))
        .with("secret_id", secret_id)
    } else {
        Failure::new(
            Cause::AwsServiceError,
            format!("{operation} failed with {code}"),
        )
        .with("service", "secretsmanager")
        .with("operation", operation)
        .aws_code(code)
    };
    let mut f = f;
    f.signals.aws_code = Some(code.to_string());
    f
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the secret `name` with rotation enabled and `value` as AWSCURRENT of version
    /// `version`. Returns its ARN.
    pub fn create(&self, name: &str, version: &str, value: &str) -> String {
        let mut secret = Secret {
            rotation_enabled: true,
            ..Secret::default()
        };
        secret.versions.insert(
            version.to_string(),
            Version {
                value: Some(value.to_string()),
                stages: vec!["AWSCURRENT".into()],
            },
        );
        self.lock().state.secrets.insert(name.to_string(), secret);
        arn_of(name)
    }

    /// Changes the state directly (test set-up and inspection).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.lock().state)
    }

    /// The secret `secret_id` as it is now.
    pub fn secret(&self, secret_id: &str) -> Option<Secret> {
        self.lock().state.secrets.get(name_of(secret_id)).cloned()
    }

    /// What RotateSecret does before it invokes the function: a new version `token`
    /// without a value, staged AWSPENDING (taken from any version that held it).
    pub fn start_rotation(&self, secret_id: &str, token: &str) {
        self.with_state(|s| start_rotation(s, secret_id, token));
    }

    /// The next call of `operation` fails with `failure` (queued in order).
    pub fn fail_next(&self, operation: &'static str, failure: Failure) {
        self.lock()
            .failures
            .entry(operation)
            .or_default()
            .push(failure);
    }

    /// Just before the next call of `operation` runs, `change` is applied: another
    /// invocation acting at the same time.
    pub fn before_next(
        &self,
        operation: &'static str,
        change: impl FnOnce(&mut State) + Send + 'static,
    ) {
        self.lock()
            .hooks
            .entry(operation)
            .or_default()
            .push(Box::new(change));
    }

    /// How often `operation` was called.
    pub fn calls(&self, operation: &str) -> usize {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// Counts the call, runs its hook, then its scripted failure or `op` on the state.
    fn call<T>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&mut Inner) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut inner = self.lock();
        *inner.calls.entry(operation).or_default() += 1;
        if let Some(hook) = take_first(&mut inner.hooks, operation) {
            hook(&mut inner.state);
        }
        if let Some(f) = take_first(&mut inner.failures, operation) {
            return Err(f);
        }
        op(&mut inner)
    }
}

/// The first of the queued items for `operation`.
fn take_first<T>(queues: &mut HashMap<&'static str, Vec<T>>, operation: &str) -> Option<T> {
    let queue = queues.get_mut(operation)?;
    (!queue.is_empty()).then(|| queue.remove(0))
}

/// RotateSecret's staging, on a state (usable inside [`MemoryStore::before_next`]).
pub fn start_rotation(state: &mut State, secret_id: &str, token: &str) {
    if let Some(secret) = state.secrets.get_mut(name_of(secret_id)) {
        secret.take_stage("AWSPENDING");
        secret.versions.entry(token.to_string()).or_default();
        secret.add_stage(token, "AWSPENDING");
    }
}

fn secret_mut<'a>(
    state: &'a mut State,
    operation: &str,
    role: Option<SecretRole>,
    secret_id: &str,
) -> Result<&'a mut Secret, Failure> {
    state
        .secrets
        .get_mut(name_of(secret_id))
        .ok_or_else(|| refused(operation, "ResourceNotFoundException", role, secret_id))
}

impl SecretStore for MemoryStore {
    async fn describe(&self, deadline: &Deadline, secret_id: &str) -> Result<Description, Failure> {
        deadline_check(deadline, "DescribeSecret")?;
        self.call("DescribeSecret", |inner| {
            let s = secret_mut(
                &mut inner.state,
                "DescribeSecret",
                Some(SecretRole::Current),
                secret_id,
            )?;
            Ok(Description {
                arn: arn_of(name_of(secret_id)),
                rotation_enabled: s.rotation_enabled,
                rotation_lambda_arn: None,
                versions: s
                    .versions
                    .iter()
                    .filter(|(_, v)| !v.stages.is_empty())
                    .map(|(id, v)| (id.clone(), v.stages.clone()))
                    .collect(),
            })
        })
    }

    async fn get_value(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: Option<&str>,
    ) -> Result<Option<Password>, Failure> {
        deadline_check(deadline, "GetSecretValue")?;
        self.call("GetSecretValue", |inner| {
            let s = secret_mut(&mut inner.state, "GetSecretValue", Some(role), secret_id)?;
            let stage = role.stage().as_str();
            let id = match version_id {
                Some(v) => Some(v),
                None => s.holder(stage),
            };
            // Both given: they must name the same version, or there is no such value.
            let value = id
                .and_then(|id| s.versions.get(id))
                .filter(|v| v.stages.iter().any(|x| x == stage))
                .and_then(|v| v.value.as_deref());
            Ok(value.map(Password::new))
        })
    }

    async fn tags(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
    ) -> Result<Vec<(String, String)>, Failure> {
        deadline_check(deadline, "DescribeSecret")?;
        self.call("DescribeSecret", |inner| {
            Ok(
                secret_mut(&mut inner.state, "DescribeSecret", Some(role), secret_id)?
                    .tags
                    .clone(),
            )
        })
    }

    async fn random_password(
        &self,
        deadline: &Deadline,
        _secret_id: &str,
        policy: &PasswordPolicy,
        engine: Engine,
    ) -> Result<Password, Failure> {
        deadline_check(deadline, "GetRandomPassword")?;
        self.call("GetRandomPassword", |inner| {
            let excluded = policy.exclude_for(engine);
            let classes = [
                (policy.exclude_lowercase, "abcdefghijklmnopqrstuvwxyz"),
                (policy.exclude_uppercase, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                (policy.exclude_numbers, "0123456789"),
                (
                    policy.exclude_punctuation,
                    "!#$%&()*+,-.:;<=>?@[]^_{|}~/\"'\\",
                ),
            ];
            let alphabet: Vec<char> = classes
                .iter()
                .filter(|(excluded, _)| !excluded)
                .flat_map(|(_, chars)| chars.chars())
                .filter(|c| !excluded.contains(*c))
                .collect();
            if alphabet.is_empty() {
                return Err(refused(
                    "GetRandomPassword",
                    "InvalidParameterException",
                    None,
                    "",
                ));
            }
            // Distinct per call (a counter and a random seed); the protocol needs a new
            // value, not an unpredictable one.
            inner.passwords += 1;
            let mut x = uuid::Uuid::new_v4().as_u128() ^ u128::from(inner.passwords);
            let text: String = (0..policy.length.max(0))
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[((x >> 64) % alphabet.len() as u128) as usize]
                })
                .collect();
            Ok(Password::new(text))
        })
    }

    async fn put_pending(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&Password>,
    ) -> Result<(), Failure> {
        deadline_check(deadline, "PutSecretValue")?;
        self.call("PutSecretValue", |inner| {
            let op = "PutSecretValue";
            let s = secret_mut(&mut inner.state, op, Some(SecretRole::Pending), secret_id)?;
            match s.versions.get(token).and_then(|v| v.value.as_deref()) {
                Some(existing) if existing == value => return Ok(()),
                Some(_) => {
                    return Err(refused(
                        op,
                        "ResourceExistsException",
                        Some(SecretRole::Pending),
                        secret_id,
                    ))
                }
                None => {}
            }
            s.versions.entry(token.to_string()).or_default().value = Some(value.to_string());
            s.take_stage("AWSPENDING");
            s.add_stage(token, "AWSPENDING");
            s.last_rotation_token = rotation_token.map(|t| t.expose().to_string());
            Ok(())
        })
    }

    async fn update_stage(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        change: StageMove<'_>,
    ) -> Result<(), Failure> {
        deadline_check(deadline, "UpdateSecretVersionStage")?;
        self.call("UpdateSecretVersionStage", |inner| {
            let op = "UpdateSecretVersionStage";
            let s = secret_mut(&mut inner.state, op, None, secret_id)?;
            let holder = s.holder(change.stage.as_str()).map(str::to_string);
            let invalid = || refused(op, "InvalidParameterException", None, secret_id);
            if let Some(to) = change.to {
                if !s.versions.contains_key(to) {
                    return Err(refused(op, "ResourceNotFoundException", None, secret_id));
                }
            }
            match (change.from, holder.as_deref()) {
                // The label must still be where the caller saw it.
                (Some(from), h) if h != Some(from) => return Err(invalid()),
                // A label on another version must be named to be moved.
                (None, Some(h)) if change.to != Some(h) => return Err(invalid()),
                _ => {}
            }
            if change.from.is_some() {
                s.take_stage(change.stage.as_str());
            }
            if let Some(to) = change.to {
                s.add_stage(to, change.stage.as_str());
            }
            if change.stage == Stage::Current {
                if let (Some(from), Some(_)) = (change.from, change.to) {
                    s.take_stage("AWSPREVIOUS");
                    s.add_stage(from, "AWSPREVIOUS");
                }
            }
            Ok(())
        })
    }
}

/// The dated reads, as the same calls (counted, hooked and failed as DescribeSecret and
/// GetSecretValue). The store keeps no clock: every date is unknown, which the commands take
/// as "may be young".
impl SecretAdmin for MemoryStore {
    async fn describe_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
    ) -> Result<(Description, Dates), Failure> {
        Ok((self.describe(deadline, secret_id).await?, Dates::default()))
    }

    async fn get_value_dated(
        &self,
        deadline: &Deadline,
        secret_id: &str,
        role: SecretRole,
        version_id: &str,
    ) -> Result<Option<(Password, Option<SystemTime>)>, Failure> {
        let value = self
            .get_value(deadline, secret_id, role, Some(version_id))
            .await?;
        Ok(value.map(|v| (v, None)))
    }
}

/// A call with no time left fails as the AWS adapter's would.
fn deadline_check(deadline: &Deadline, operation: &str) -> Result<(), Failure> {
    match deadline.passed_before(operation) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}
