//! The rotation protocol: event preconditions, then one of the four steps (one file each).
//!
//! Every step is idempotent: Secrets Manager retries whole rotations, and any step may run
//! twice, or twice at once.

pub(crate) mod alternating;
mod create;
mod finish;
mod login;
pub mod preconditions;
mod set;
mod test;

use crate::config::Settings;
use crate::db::DbOptions;
use crate::diagnosis::{Cause, Deadline, Failure};
use crate::event::{RotationEvent, Step};
use crate::secret::{DbSecret, SecretRole};
use crate::store::{Description, Rds, SecretsManager};
use crate::telemetry;
use std::time::Duration;
use tracing::Instrument;

pub use preconditions::check as check_preconditions;

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

/// Everything a step needs, built once per process.
#[derive(Clone)]
pub struct Rotator {
    /// Secrets Manager.
    pub sm: SecretsManager,
    /// Settings from the environment.
    pub settings: Settings,
    /// Database connection options.
    pub db: DbOptions,
    /// RDS, for RDS-managed master secrets (alternating users).
    pub rds: Rds,
}

/// One step's view of the world.
pub(crate) struct StepCtx<'a> {
    pub rotator: &'a Rotator,
    pub event: &'a RotationEvent,
    pub deadline: Deadline,
    pub description: Description,
}

impl StepCtx<'_> {
    pub fn secret_id(&self) -> &str {
        &self.description.arn
    }

    /// Reads and parses the AWSCURRENT secret.
    pub async fn current(&self) -> Result<DbSecret, Failure> {
        let version = self.description.version_with("AWSCURRENT");
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

impl Rotator {
    /// Runs one step as the Lambda handler does: validation, preconditions, the step, and
    /// its `step_started` / `step_succeeded` / `step_failed` events.
    ///
    /// `local` is for the `rotate` command, which plays Secrets Manager's part: rotation need
    /// not be enabled, and createSecret may stage a token Secrets Manager has not staged.
    pub async fn run_step(
        &self,
        event: &RotationEvent,
        deadline: Deadline,
        local: bool,
    ) -> Result<Outcome, Failure> {
        let span = tracing::info_span!(
            "step",
            secret_id = event.secret_id.as_str(),
            step = event.step.as_str(),
            version_id = event.token.as_str()
        );
        async {
            let step = event.step.as_str();
            telemetry::step_started(step, self.settings.strategy.as_str(), None);
            // The watchdog of last resort: every wait inside is already bounded, so this only
            // fires on a bug, and still answers before Lambda's deadline.
            let guard = deadline
                .remaining()
                .saturating_sub(Duration::from_millis(100));
            let result = match tokio::time::timeout(guard, self.step(event, deadline, local)).await
            {
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
        local: bool,
    ) -> Result<Outcome, Failure> {
        let description = self.sm.describe(&deadline, &event.secret_id).await?;
        // Local runs stand in for Secrets Manager: rotation need not be enabled, and
        // createSecret may stage a token that is not a version yet.
        let unstaged_create = local
            && event.step == Step::CreateSecret
            && !description.versions.contains_key(&event.token);
        if !unstaged_create {
            if let Some(done) = preconditions::check(&description, &event.token, !local)? {
                return Ok(done);
            }
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
            self.run_step(&event, deadline, true).await?;
        }
        Ok(token)
    }
}
