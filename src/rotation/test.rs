//! testSecret: log in with the pending secret and run a trivial query.

use super::{Outcome, StepCtx};
use crate::db;
use crate::diagnosis::Failure;
use crate::secret::SecretRole;

pub(super) async fn run(ctx: &StepCtx<'_>) -> Result<Outcome, Failure> {
    let pending = ctx.required_pending().await?;
    let opts = &ctx.rotator.db;
    let mut session = db::connect(&pending, SecretRole::Pending, opts, &ctx.deadline).await?;
    session.check(&ctx.deadline).await?;
    Ok(Outcome::LoginOk)
}
