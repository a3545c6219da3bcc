//! The rotation protocol: event preconditions, then one of the four steps (one file each).
//!
//! Every step is idempotent: Secrets Manager retries whole rotations, and any step may run
//! twice, or twice at once.

pub(crate) mod alternating;
mod create;
mod finish;
pub mod login;
mod master;
pub mod preconditions;
mod set;
mod test;
#[cfg(test)]
mod tests;

use crate::config::Settings;
use crate::db::DbOptions;
use crate::deadline::Deadline;
use crate::event::{RotationEvent, Step};
use crate::failure::{Cause, Failure};
use crate::secret::Stage;
use crate::secret::{DbSecret, SecretRole};
use crate::store::{Description, Rds, SecretStore, SecretsManager};
use crate::telemetry;
use std::time::Duration;
use tracing::Instrument;

/// How a step ended well (the `outcome` of `step_succeeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// createSecret stored a new AWSPENDING value.
    PendingCreated,
    /// createSecret found the pending value already there.
    PendingExists,
    /// setSecret changed the password.
    PasswordSet,
    /// setSecret found the pending password already working.
    AlreadySet,
    /// testSecret logged in with the pending secret.
    LoginOk,
    /// finishSecret moved AWSCURRENT.
    Promoted,
    /// The version is already AWSCURRENT: nothing to do.
    AlreadyCurrent,
}

impl Outcome {
    /// The name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::PendingCreated => "pending_created",
            Outcome::PendingExists => "pending_exists",
            Outcome::PasswordSet => "password_set",
            Outcome::AlreadySet => "already_set",
            Outcome::LoginOk => "login_ok",
            Outcome::Promoted => "promoted",
            Outcome::AlreadyCurrent => "already_current",
        }
    }
}

/// Who runs a step, which decides two preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invoker {
    /// Secrets Manager (the Lambda, or the `step` command acting as it): rotation must be
    /// enabled, and the token must already be a version staged AWSPENDING.
    SecretsManager,
    /// The `rotate` command, which plays Secrets Manager's part: rotation need not be
    /// enabled, and createSecret may stage a token that is not a version yet.
    Local,
}

/// Everything a step needs, built once per process. The steps reach Secrets Manager only
/// through `S` ([`SecretStore`]); diagnose, repair and the operator commands use the AWS
/// adapter's own calls (dated reads, endpoints), so they take the default.
#[derive(Clone)]
pub struct Rotator<S = SecretsManager> {
    /// Secrets Manager.
    pub sm: S,
    /// Settings from the environment.
    pub settings: Settings,
    /// Database connection options.
    pub db: DbOptions,
    /// RDS, for RDS-managed master secrets (alternating users).
    pub rds: Rds,
}

/// One step's view of the world.
pub(crate) struct StepCtx<'a, S> {
    pub rotator: &'a Rotator<S>,
    pub event: &'a RotationEvent,
    pub deadline: Deadline,
    pub description: Description,
}

impl<S: SecretStore> StepCtx<'_, S> {
    pub fn secret_id(&self) -> &str {
        &self.description.arn
    }

    /// Reads and parses the AWSCURRENT secret.
    pub async fn current(&self) -> Result<DbSecret, Failure> {
        let version = self.description.version_with(Stage::Current);
        let text = self
            .rotator
            .sm
            .get_value(
                &self.deadline,
                self.secret_id(),
                SecretRole::Current,
                version,
            )
            .await?
            .ok_or_else(|| not_found(SecretRole::Current, self.secret_id()))?;
        DbSecret::parse(text.expose(), SecretRole::Current)
    }

    /// Reads and parses the pending secret of this rotation (None if createSecret has not
    /// stored it yet).
    pub async fn pending(&self) -> Result<Option<DbSecret>, Failure> {
        let text = self
            .rotator
            .sm
            .get_value(
                &self.deadline,
                self.secret_id(),
                SecretRole::Pending,
                Some(&self.event.token),
            )
            .await?;
        text.map(|t| DbSecret::parse(t.expose(), SecretRole::Pending))
            .transpose()
    }

    /// The pending secret, which must exist after createSecret.
    pub async fn required_pending(&self) -> Result<DbSecret, Failure> {
        self.pending().await?.ok_or_else(|| {
            not_found(SecretRole::Pending, self.secret_id())
                .with("version_id", self.event.token.as_str())
                .remedy("The AWSPENDING version has no value: createSecret did not complete. Rotate again (aws secretsmanager rotate-secret --secret-id <id>).")
        })
    }
}

/// The failure for a secret value Secrets Manager does not have.
pub fn not_found(role: SecretRole, secret_id: &str) -> Failure {
    Failure::new(
        Cause::SecretNotFound,
        format!(
            "the {} secret has no value in Secrets Manager",
            role.as_str()
        ),
    )
    .with("secret", role.as_str())
    .with("secret_id", secret_id)
}

impl<S: SecretStore> Rotator<S> {
    /// Runs one step as the Lambda handler does: validation, preconditions, the step, and
    /// its `step_started` / `step_succeeded` / `step_failed` events.
    pub async fn run_step(
        &self,
        event: &RotationEvent,
        deadline: Deadline,
        invoker: Invoker,
    ) -> Result<Outcome, Failure> {
        let span = tracing::info_span!(
            "step",
            secret_id = event.secret_id.as_str(),
            step = event.step.as_str(),
            version_id = event.token.as_str()
        );
        async {
            let step = event.step.as_str();
            telemetry::step_started(step, self.settings.strategy.as_str());
            // The watchdog of last resort: every wait inside is already bounded, so this only
            // fires on a bug, and still answers before Lambda's deadline.
            let guard = deadline
                .remaining()
                .saturating_sub(Duration::from_millis(100));
            let result =
                match tokio::time::timeout(guard, self.step(event, deadline, invoker)).await {
                    Ok(r) => r,
                    Err(_) => Err(Failure::new(
                        Cause::FunctionTimeoutImminent,
                        format!("{step} was still running near the function deadline"),
                    )
                    .with("operation", step)
                    .with("elapsed_ms", deadline.elapsed().as_millis() as u64)
                    .with("remaining_ms", deadline.remaining().as_millis() as u64)),
                };
            let duration_ms = deadline.elapsed().as_millis() as u64;
            match &result {
                Ok(outcome) => telemetry::step_succeeded(step, duration_ms, outcome.as_str()),
                Err(f) => telemetry::step_failed(step, duration_ms, f),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn step(
        &self,
        event: &RotationEvent,
        deadline: Deadline,
        invoker: Invoker,
    ) -> Result<Outcome, Failure> {
        let description = self.sm.describe(&deadline, &event.secret_id).await?;
        let precondition = match invoker {
            Invoker::SecretsManager => preconditions::check(&description, &event.token)?,
            // createSecret may stage a token that is not a version yet.
            Invoker::Local
                if event.step == Step::CreateSecret
                    && !description.versions.contains_key(&event.token) =>
            {
                None
            }
            Invoker::Local => preconditions::check_staging(&description, &event.token)?,
        };
        if let Some(done) = precondition {
            return Ok(done);
        }
        let ctx = StepCtx {
            rotator: self,
            event,
            deadline,
            description,
        };
        match event.step {
            Step::CreateSecret => create::run(&ctx).await,
            Step::SetSecret => set::run(&ctx).await,
            Step::TestSecret => test::run(&ctx).await,
            Step::FinishSecret => finish::run(&ctx).await,
        }
    }

    /// Plays Secrets Manager's part for local work: a new token, then the four steps in
    /// order, each with its own deadline. Returns the token.
    pub async fn rotate(&self, secret_id: &str, timeout: Duration) -> Result<String, Failure> {
        let token = uuid::Uuid::new_v4().to_string();
        for step in Step::ALL {
            let event = RotationEvent {
                step,
                secret_id: secret_id.to_string(),
                token: token.clone(),
                rotation_token: None,
            };
            let deadline = Deadline::after(timeout, self.settings.deadline_margin);
            self.run_step(&event, deadline, Invoker::Local).await?;
        }
        Ok(token)
    }
}

#[cfg(test)]
impl Rotator<crate::store::memory::MemoryStore> {
    /// A rotator over the in-memory store for unit tests: a database connect gives up after
    /// 200 ms, and the RDS client is built but never called.
    pub(crate) fn in_memory(
        settings: crate::config::Settings,
    ) -> (Self, crate::store::memory::MemoryStore) {
        let mut db = DbOptions::from_settings(
            &settings,
            crate::db::TrustAnchors::load(None).expect("no bundle to read"),
        );
        db.connect_timeout = std::time::Duration::from_millis(200);
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let store = crate::store::memory::MemoryStore::new();
        let rotator = Rotator {
            sm: store.clone(),
            settings,
            db,
            rds: crate::store::Rds::with_host_override(&sdk, None),
        };
        (rotator, store)
    }
}
