//! finishSecret: move AWSCURRENT to the pending version (Secrets Manager moves AWSPREVIOUS).

use super::{Outcome, StepCtx};
use crate::diagnosis::Failure;

pub(super) async fn run(ctx: &StepCtx<'_>) -> Result<Outcome, Failure> {
    // The preconditions already returned AlreadyCurrent if the token holds AWSCURRENT.
    let from = ctx.description.version_with("AWSCURRENT");
    ctx.rotator
        .sm
        .promote(&ctx.deadline, ctx.secret_id(), &ctx.event.token, from)
        .await?;
    Ok(Outcome::Promoted)
}
