//! setSecret: make the database accept the pending password.

use super::login::Attempts;
use super::{Outcome, StepCtx};
use crate::config::Strategy;
use crate::failure::{Cause, Failure};
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretStore;
use crate::telemetry;

/// The pending secret may only name the account being rotated, on the same host: a
/// tampered pending value must never redirect the password change. Checked before any
/// connection is made.
pub(super) fn check_user(current: &DbSecret, pending: &DbSecret) -> Result<(), Failure> {
    if pending.username == current.username && pending.host == current.host {
        return Ok(());
    }
    Err(Failure::new(
        Cause::UserMismatch,
        "the pending secret names another user or host than the current one",
    )
    .with("expected_user", current.username.as_str())
    .with("found_user", pending.username.as_str())
    .with("expected_host", current.host.as_str())
    .with("found_host", pending.host.as_str()))
}

pub(super) async fn run<S: SecretStore>(ctx: &StepCtx<'_, S>) -> Result<Outcome, Failure> {
    let current = ctx.current().await?;
    let pending = ctx.required_pending().await?;
    match ctx.rotator.settings.strategy {
        Strategy::SingleUser => single_user(ctx, &current, &pending).await,
        Strategy::AlternatingUsers => super::alternating::set_secret(ctx, &current, &pending).await,
    }
}

/// Single user: log in as the user and change its own password.
///
/// The order is AWSCURRENT, then AWSPENDING, then AWSPREVIOUS. On a first run AWSCURRENT logs
/// in, so one connection does the work; on a retry after the change, AWSCURRENT is refused and
/// AWSPENDING logs in (`already_set`), which is what the reference's pending-first order
/// decides too, with one connection less on the common path.
async fn single_user<S: SecretStore>(
    ctx: &StepCtx<'_, S>,
    current: &DbSecret,
    pending: &DbSecret,
) -> Result<Outcome, Failure> {
    check_user(current, pending)?;
    let opts = &ctx.rotator.db;
    let deadline = &ctx.deadline;
    let mut attempts = Attempts::default();

    let session = match attempts
        .try_candidate(current, SecretRole::Current, opts, deadline)
        .await?
    {
        Some(s) => Some(s),
        None => {
            if let Some(s) = attempts
                .try_candidate(pending, SecretRole::Pending, opts, deadline)
                .await?
            {
                drop(s);
                return Ok(Outcome::AlreadySet);
            }
            let previous = ctx
                .rotator
                .sm
                .get_value(deadline, ctx.secret_id(), SecretRole::Previous, None)
                .await?;
            match previous {
                None => None,
                Some(text) => {
                    // AWSPREVIOUS logs in with AWSCURRENT's TLS setting, as in the reference.
                    let previous =
                        DbSecret::parse(text.expose(), SecretRole::Previous)?.with_ssl_of(current);
                    if previous.username != current.username || previous.host != current.host {
                        None
                    } else {
                        let s = attempts
                            .try_candidate(&previous, SecretRole::Previous, opts, deadline)
                            .await?;
                        if s.is_some() {
                            let mut evidence = serde_json::Map::new();
                            evidence.insert("user".into(), current.username.as_str().into());
                            evidence.insert("host".into(), current.host.as_str().into());
                            telemetry::finding(
                                crate::failure::Finding::PreviousCredentialsUsed.code(),
                                "only the AWSPREVIOUS credentials log in: the database password had drifted back",
                                &evidence,
                            );
                        }
                        s
                    }
                }
            }
        }
    };
    let Some(mut session) = session else {
        return Err(attempts.login_failed(
            &current.username,
            &format!(
                "the database refused {} with every stored password (AWSCURRENT, AWSPENDING, AWSPREVIOUS)",
                current.username
            ),
        ));
    };
    let changed = session
        .set_password(&current.username, &pending.password, opts, deadline)
        .await;
    match changed {
        // MySQL 3891: the password logged in with is only the secondary one. With dual
        // passwords that is a retry after the change (AWSCURRENT stays valid as secondary):
        // AWSPENDING is then the primary, and nothing may change again, or AWSCURRENT is lost.
        Err(f) if f.is_mysql_code(3891) => {
            drop(session);
            match attempts
                .try_candidate(pending, SecretRole::Pending, opts, deadline)
                .await?
            {
                Some(_) => Ok(Outcome::AlreadySet),
                None => Err(f
                    .with("user", current.username.as_str())
                    .with("attempts", attempts.into_values())),
            }
        }
        Err(f) => Err(f.with("user", current.username.as_str())),
        Ok(_) => Ok(Outcome::PasswordSet),
    }
}
