//! createSecret: build the pending secret from the current one and store it as AWSPENDING.

use super::{Outcome, StepCtx};
use crate::config::Strategy;
use crate::failure::Failure;
use crate::store::SecretStore;

pub(super) async fn run<S: SecretStore>(ctx: &StepCtx<'_, S>) -> Result<Outcome, Failure> {
    let rotator = ctx.rotator;
    // Reading AWSCURRENT first validates its JSON: a broken secret fails here, not later.
    let current = ctx.current().await?;
    if ctx.pending().await?.is_some() {
        return Ok(Outcome::PendingExists);
    }
    if rotator.settings.strategy == Strategy::AlternatingUsers {
        // Fail before GetRandomPassword and PutSecretValue: a name the engine cannot hold, or
        // no master to create it with, would leave a pending version no setSecret can set.
        super::alternating::masterarn(&current)?;
        super::alternating::checked_alternate(&current, &rotator.settings)?;
    }
    let password = rotator
        .sm
        .random_password(
            &ctx.deadline,
            ctx.secret_id(),
            &rotator.settings.password,
            current.engine,
        )
        .await?;
    let pending = match rotator.settings.strategy {
        Strategy::SingleUser => current.with_credentials(&current.username, password),
        Strategy::AlternatingUsers => {
            super::alternating::pending_secret(&current, password, &rotator.settings)?
        }
    };
    let put = rotator
        .sm
        .put_pending(
            &ctx.deadline,
            ctx.secret_id(),
            &ctx.event.token,
            &pending.to_secret_string(),
            ctx.event.rotation_token.as_ref(),
        )
        .await;
    match put {
        Ok(()) => Ok(Outcome::PendingCreated),
        // Two createSecret invocations at once: Secrets Manager keeps the first value for the
        // token and refuses the second with ResourceExistsException. The pending secret
        // exists, which is all this step promises.
        Err(f) if f.is_aws_code("ResourceExistsException") => match ctx.pending().await? {
            Some(_) => Ok(Outcome::PendingExists),
            None => Err(f),
        },
        Err(f) => Err(f),
    }
}
