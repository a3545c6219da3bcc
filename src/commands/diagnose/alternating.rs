//! The alternating-users checks of `diagnose`: the master secret is readable
//! (`master_secret_readable`), for an RDS-managed master the RDS API answers
//! (`rds_api_reachable`), the master logs in where it may (`master_login`), and it may create
//! users and grant roles (`manage_users_privilege`). Each hands on what the next needs
//! ([`MasterFacts`]); the list skips one whose need is missing.

use super::list::{Ran, Running};
use super::{Env, Facts};
use crate::db::{self, Session};
use crate::failure::{Cause, Failure};
use crate::rotation::alternating::{self as alt, MasterValue};
use crate::secret::{DbSecret, SecretRole};
use crate::store::rds::DbEndpoints;

/// The master as far as the checks read it.
#[derive(Default)]
pub(super) struct MasterFacts {
    /// `master_secret_readable` passed.
    pub readable: bool,
    /// An RDS-managed master's keys, until `rds_api_reachable` completes them.
    pub rds_managed: Option<serde_json::Map<String, serde_json::Value>>,
    /// The master's credentials and database (and the RDS view of it, when asked).
    pub secret: Option<(DbSecret, Option<DbEndpoints>)>,
    /// The master's session and user name, once it logged in.
    pub session: Option<(Session, String)>,
}

/// `master_secret_readable`: the secret `masterarn` names.
pub(super) fn read<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(current) = &f.current else {
            return Ran::NotApplicable;
        };
        let value = match alt::read_master(&env.r.sm, &env.deadline, current).await {
            Ok(v) => v,
            Err(e) => return Ran::Failed(e),
        };
        f.master.readable = true;
        match value {
            MasterValue::Complete(s) => {
                let detail = format!(
                    "engine {}, host {}, port {}, user {}",
                    s.engine, s.host, s.port, s.username
                );
                f.master.secret = Some((s, None));
                Ran::Passed(detail)
            }
            MasterValue::RdsManaged(map) => {
                f.master.rds_managed = Some(map);
                Ran::Passed(
                    "RDS-managed (username and password only): connection details come from the RDS API"
                        .to_string(),
                )
            }
        }
    })
}

/// `rds_api_reachable`: an RDS-managed master's database, from the RDS API.
pub(super) fn rds_api<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let (Some(current), Some(map)) = (&f.current, f.master.rds_managed.take()) else {
            return Ran::NotApplicable;
        };
        let r = env.r;
        match alt::resolve_rds_managed(&r.sm, &r.rds, &env.deadline, current, map).await {
            Ok((s, e)) => {
                let detail = format!(
                    "{} at {}:{}; {} replica/reader endpoint(s)",
                    e.engine,
                    e.host,
                    e.port,
                    e.readers.len()
                );
                f.master.secret = Some((s, Some(e)));
                Ran::Passed(detail)
            }
            Err(e) => Ran::Failed(e),
        }
    })
}

/// `master_login`: the master logs in, on a host it may act on.
pub(super) fn login<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let (Some(current), Some((secret, rds))) = (&f.current, f.master.secret.clone()) else {
            return Ran::NotApplicable;
        };
        let r = env.r;
        let deadline = &env.deadline;
        let login = async {
            let mut master = alt::Master {
                secret: alt::connect_like_current(secret, current)?,
                rds,
            };
            alt::check_master_host(&r.rds, deadline, current, &mut master).await?;
            let session = db::connect(&master.secret, SecretRole::Master, &r.db, deadline).await?;
            Ok::<_, Failure>((session, master.secret))
        }
        .await;
        match login {
            Ok((session, master)) => {
                let detail = format!(
                    "logged in as {} at {}:{} (tls: {})",
                    master.username,
                    master.host,
                    master.port,
                    session.tls().as_str()
                );
                f.master.session = Some((session, master.username));
                Ran::Passed(detail)
            }
            Err(e) => Ran::Failed(e),
        }
    })
}

/// `manage_users_privilege`: the master may create users and grant roles.
pub(super) fn privilege<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some((session, master_user)) = &mut f.master.session else {
            return Ran::NotApplicable;
        };
        match session.can_manage_users(&env.deadline).await {
            Ok(true) => Ran::Passed(format!("{master_user} may create users and grant roles")),
            Ok(false) => Ran::Failed(
                Failure::new(
                    Cause::DbPermissionDenied,
                    format!("the master user {master_user} may not create users or grant roles"),
                )
                .with("user", master_user.as_str())
                .with("statement_kind", "create_user")
                .with("secret", SecretRole::Master.as_str()),
            ),
            Err(e) => Ran::Failed(e),
        }
    })
}
