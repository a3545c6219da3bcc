//! testSecret: log in with the pending secret and run a trivial query.

use super::login::Attempts;
use super::{Outcome, StepCtx};
use crate::failure::Failure;
use crate::secret::SecretRole;
use crate::store::SecretStore;

pub(super) async fn run<S: SecretStore>(ctx: &StepCtx<'_, S>) -> Result<Outcome, Failure> {
    let pending = ctx.required_pending().await?;
    let opts = &ctx.rotator.db;
    // Recorded like setSecret's logins, so a refusal carries the same `attempts` evidence.
    let mut attempts = Attempts::default();
    let Some(mut session) = attempts
        .try_candidate(&pending, SecretRole::Pending, opts, &ctx.deadline)
        .await?
    else {
        return Err(attempts.login_failed(
            &pending.username,
            &format!(
                "the database refused {} with the AWSPENDING password (setSecret did not set it, or it was changed since)",
                pending.username
            ),
        ));
    };
    session.check(&ctx.deadline).await?;
    Ok(Outcome::LoginOk)
}
