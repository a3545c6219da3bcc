//! finishSecret: move AWSCURRENT to the pending version (Secrets Manager moves AWSPREVIOUS).

use super::{Outcome, StepCtx};
use crate::failure::Failure;
use crate::secret::Stage;
use crate::store::{SecretStore, StageMove};

pub(super) async fn run<S: SecretStore>(ctx: &StepCtx<'_, S>) -> Result<Outcome, Failure> {
    // The preconditions already returned AlreadyCurrent if the token holds AWSCURRENT.
    let from = ctx.description.version_with(Stage::Current);
    let sm = &ctx.rotator.sm;
    let change = StageMove {
        stage: Stage::Current,
        to: Some(&ctx.event.token),
        from,
    };
    match sm
        .update_stage(&ctx.deadline, ctx.secret_id(), change)
        .await
    {
        Ok(()) => Ok(Outcome::Promoted),
        Err(failure) => {
            // Two finishSecret invocations at once: the other one may have moved the label
            // between our DescribeSecret and our call. That is success, not a failure.
            match sm.describe(&ctx.deadline, ctx.secret_id()).await {
                Ok(d) if d.has(&ctx.event.token, Stage::Current) => Ok(Outcome::AlreadyCurrent),
                _ => Err(failure),
            }
        }
    }
}
