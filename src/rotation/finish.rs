//! finishSecret: move AWSCURRENT to the pending version (Secrets Manager moves AWSPREVIOUS).

use super::{Outcome, StepCtx};
use crate::diagnosis::Failure;

pub(super) async fn run(ctx: &StepCtx<'_>) -> Result<Outcome, Failure> {
    // The preconditions already returned AlreadyCurrent if the token holds AWSCURRENT.
    let from = ctx.description.version_with("AWSCURRENT");
    let sm = &ctx.rotator.sm;
    match sm
        .promote(&ctx.deadline, ctx.secret_id(), &ctx.event.token, from)
        .await
    {
        Ok(()) => Ok(Outcome::Promoted),
        Err(failure) => {
            // Two finishSecret invocations at once: the other one may have moved the label
            // between our DescribeSecret and our call. That is success, not a failure.
            match sm.describe(&ctx.deadline, ctx.secret_id()).await {
                Ok(d) if d.has(&ctx.event.token, "AWSCURRENT") => Ok(Outcome::AlreadyCurrent),
                _ => Err(failure),
            }
        }
    }
}
