//! The login checks of `diagnose`: AWSCURRENT logs in (`login_current`); AWSPENDING and
//! AWSPREVIOUS, when present, log in or are refused as the strategy expects (drift shows
//! here); and for a MySQL single user, the account's secondary password
//! (`mysql_secondary_password`). Read-only: logins and SELECTs, nothing is changed.

use super::list::{Ran, Running};
use super::{Env, Facts};
use crate::config::Strategy;
use crate::db;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretStore as _;

/// Whether AWSPREVIOUS logged in beside AWSCURRENT (`login_previous`): for a MySQL account
/// that may not read `mysql.user`, the sign of a secondary password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Previous {
    /// Not tried (no AWSPREVIOUS), or it did not log in.
    #[default]
    NotSeen,
    /// AWSPREVIOUS logs in.
    LogsIn,
}

/// `login_current`: AWSCURRENT logs in, over the TLS its `ssl` setting asks for.
pub(super) fn login_current<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(current) = &f.current else {
            return Ran::NotApplicable;
        };
        let r = env.r;
        let detail = db::connect(current, SecretRole::Current, &r.db, &env.deadline)
            .await
            .map(|s| {
                format!(
                    "logged in as {} (tls: {})",
                    current.username,
                    s.tls().as_str()
                )
            });
        detail.into()
    })
}

/// `login_pending`: the AWSPENDING version, when present.
pub(super) fn login_pending<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move { login_stage(env, f, SecretRole::Pending).await.1 })
}

/// `login_previous`: the AWSPREVIOUS version, when present.
pub(super) fn login_previous<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let (logs_in, ran) = login_stage(env, f, SecretRole::Previous).await;
        f.previous = logs_in;
        ran
    })
}

async fn login_stage(env: &Env<'_>, f: &Facts, role: SecretRole) -> (Previous, Ran) {
    let (Some(current), Some(d)) = (&f.current, &f.description) else {
        return (Previous::NotSeen, Ran::NotApplicable);
    };
    let Some(version) = d.version_with(role.stage()) else {
        return (Previous::NotSeen, Ran::NotApplicable);
    };
    match login_other(env.r, env.secret_id, current, role, version, &env.deadline).await {
        Ok((true, detail)) => (Previous::LogsIn, Ran::Passed(detail)),
        Ok((false, detail)) => (Previous::NotSeen, Ran::Passed(detail)),
        Err(e) => (Previous::NotSeen, Ran::Failed(e)),
    }
}

/// `login_pending` / `login_previous`: the stored `version` of `role`, with AWSCURRENT's TLS
/// setting. Gives whether it logged in; a refusal passes (the expected state between
/// rotations), anything else fails.
async fn login_other(
    r: &Rotator,
    secret_id: &str,
    current: &DbSecret,
    role: SecretRole,
    version: &str,
    deadline: &Deadline,
) -> Result<(bool, String), Failure> {
    let text =
        r.sm.get_value(deadline, secret_id, role, Some(version))
            .await?;
    let Some(text) = text else {
        return Ok((false, "no value".to_string()));
    };
    let s = DbSecret::parse(text.expose(), role)?.with_ssl_of(current);
    let detail = match db::connect(&s, role, &r.db, deadline).await {
        Ok(_) if role == SecretRole::Previous
            && r.settings.strategy == Strategy::AlternatingUsers =>
        {
            "AWSPREVIOUS (the other user of the pair) logs in, as expected"
        }
        Ok(_) if role == SecretRole::Previous && r.db.mysql.dual_password => {
            "AWSPREVIOUS logs in: it is the account's secondary password (MYSQL_DUAL_PASSWORD), as expected"
        }
        Ok(_) if role == SecretRole::Previous => {
            "AWSPREVIOUS still logs in: the database accepts an old password (drift)"
        }
        Ok(_) => "AWSPENDING logs in",
        Err(f) if f.cause == Cause::DbLoginFailed => {
            return Ok((false, format!("{} is refused, as expected", role.stage())));
        }
        Err(f) => return Err(f),
    };
    Ok((true, detail.to_string()))
}

/// MySQL single user: whether the account has a secondary password (dual passwords,
/// MySQL 8.0.14+), and, with `MYSQL_DUAL_PASSWORD`, whether the server and the account's
/// privileges allow the rotation to keep one. Read-only: `mysql.user` when the account may
/// read it, else whether AWSPREVIOUS logged in beside AWSCURRENT ([`Previous`]).
pub(super) fn secondary_password<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(current) = &f.current else {
            return Ran::NotApplicable;
        };
        mysql_secondary_password(env.r, current, f.previous, &env.deadline).await
    })
}

async fn mysql_secondary_password(
    r: &Rotator,
    current: &DbSecret,
    previous: Previous,
    deadline: &Deadline,
) -> Ran {
    use crate::db::mysql::{dual_password_unsupported, supports_dual_password};
    let dual = r.db.mysql.dual_password;
    let mut session = match db::connect(current, SecretRole::Current, &r.db, deadline).await {
        Ok(db::Session::MySql(s)) => s,
        Ok(_) => return Ran::NotApplicable,
        Err(_) => return Ran::Skipped("AWSCURRENT does not log in".to_string()),
    };
    let version = session.version();
    if !supports_dual_password(version.as_ref()) {
        return if dual {
            Ran::Failed(dual_password_unsupported(version.as_ref()))
        } else {
            Ran::Skipped("the server has no dual passwords (MySQL 8.0.14 or later)".to_string())
        };
    }
    let result = async {
        let has = session.has_secondary_password(deadline).await?;
        let mut detail = match has {
            Some(true) => "the account has a secondary password".to_string(),
            Some(false) => "the account has no secondary password".to_string(),
            None if previous == Previous::LogsIn => {
                "the account has a secondary password (AWSPREVIOUS logs in beside AWSCURRENT)"
                    .to_string()
            }
            None => "no secondary password seen (the account may not read mysql.user; AWSPREVIOUS does not log in)".to_string(),
        };
        if dual {
            if !session.may_retain_current_password(deadline).await? {
                let acct = session.account().sql();
                return Err(Failure::new(
                    Cause::DbPermissionDenied,
                    format!("MYSQL_DUAL_PASSWORD is set, but {acct} may not keep a secondary password"),
                )
                .with("user", current.username.as_str())
                .with("statement_kind", "alter_password")
                .with("privilege", "APPLICATION_PASSWORD_ADMIN")
                .remedy(format!(
                    "GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO {acct}; (or unset MYSQL_DUAL_PASSWORD)."
                )));
            }
            detail.push_str("; MYSQL_DUAL_PASSWORD: the account may keep one (APPLICATION_PASSWORD_ADMIN)");
        }
        Ok(detail)
    }
    .await;
    result.into()
}
