//! The login checks of `diagnose`: AWSCURRENT logs in (`login_current`); AWSPENDING and
//! AWSPREVIOUS, when present, log in or are refused as the strategy expects (drift shows
//! here); and for a MySQL single user, the account's secondary password
//! (`mysql_secondary_password`). Read-only: logins and SELECTs, nothing is changed.

use super::Runner;
use crate::config::Strategy;
use crate::db;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretStore as _;

/// `login_current`: AWSCURRENT logs in, over the TLS its `ssl` setting asks for.
pub(super) async fn login_current(
    r: &Rotator,
    current: &DbSecret,
    deadline: &Deadline,
) -> Result<((), String), Failure> {
    let s = db::connect(current, SecretRole::Current, &r.db, deadline).await?;
    Ok((
        (),
        format!(
            "logged in as {} (tls: {})",
            current.username,
            s.tls().as_str()
        ),
    ))
}

/// `login_pending` / `login_previous`: the stored `version` of `role`, with AWSCURRENT's TLS
/// setting. Gives whether it logged in; a refusal passes (the expected state between
/// rotations), anything else fails.
pub(super) async fn login_other(
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
/// read it, else whether AWSPREVIOUS logged in beside AWSCURRENT (`previous_logs_in`).
pub(super) async fn mysql_secondary_password(
    run: &mut Runner,
    r: &Rotator,
    current: &DbSecret,
    previous_logs_in: bool,
    deadline: &Deadline,
) {
    use crate::db::mysql::{dual_password_unsupported, supports_dual_password};
    const NAME: &str = "mysql_secondary_password";
    let dual = r.db.mysql.dual_password;
    let t = std::time::Instant::now();
    let mut session = match db::connect(current, SecretRole::Current, &r.db, deadline).await {
        Ok(db::Session::MySql(s)) => s,
        Ok(_) => return,
        Err(_) => return run.skip(NAME, "AWSCURRENT does not log in"),
    };
    let version = session.version();
    if !supports_dual_password(version.as_ref()) {
        if dual {
            run.record::<()>(NAME, t, Err(dual_password_unsupported(version.as_ref())));
        } else {
            run.skip(
                NAME,
                "the server has no dual passwords (MySQL 8.0.14 or later)",
            );
        }
        return;
    }
    let result = async {
        let has = session.has_secondary_password(deadline).await?;
        let mut detail = match has {
            Some(true) => "the account has a secondary password".to_string(),
            Some(false) => "the account has no secondary password".to_string(),
            None if previous_logs_in => {
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
        Ok(((), detail))
    }
    .await;
    run.record(NAME, t, result);
}
