//! The alternating-users checks of `diagnose`: the master secret is readable
//! (`master_secret_readable`), for an RDS-managed master the RDS API answers
//! (`rds_api_reachable`), the master logs in where it may (`master_login`), and it may create
//! users and grant roles (`manage_users_privilege`). Each is skipped when one it needs failed.

use super::Runner;
use crate::db;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole};
use std::time::Instant;

/// Alternating users: the master secret is readable, (RDS-managed) the RDS API answers,
/// the master logs in where it may, and it may manage users. Each is skipped when the one
/// before it failed.
pub(super) async fn checks(run: &mut Runner, r: &Rotator, current: &DbSecret, deadline: &Deadline) {
    use crate::rotation::alternating::{self as alt, MasterValue};
    let t = Instant::now();
    let read = alt::read_master(&r.sm, deadline, current).await.map(|v| {
        let detail = match &v {
            MasterValue::Complete(s) => format!(
                "engine {}, host {}, port {}, user {}",
                s.engine, s.host, s.port, s.username
            ),
            MasterValue::RdsManaged(_) => {
                "RDS-managed (username and password only): connection details come from the RDS API"
                    .to_string()
            }
        };
        (v, detail)
    });
    let after = |run: &mut Runner, names: &[&'static str], why: &str| {
        for name in names {
            run.skip(name, why);
        }
    };
    let Some(value) = run.record("master_secret_readable", t, read) else {
        after(
            run,
            &["master_login", "manage_users_privilege"],
            "the master secret is not readable",
        );
        return;
    };
    let resolved = match value {
        MasterValue::Complete(s) => Some((s, None)),
        MasterValue::RdsManaged(map) => {
            let t = Instant::now();
            let got = alt::resolve_rds_managed(&r.sm, &r.rds, deadline, current, map)
                .await
                .map(|(s, e)| {
                    let detail = format!(
                        "{} at {}:{}; {} replica/reader endpoint(s)",
                        e.engine,
                        e.host,
                        e.port,
                        e.readers.len()
                    );
                    ((s, Some(e)), detail)
                });
            run.record("rds_api_reachable", t, got)
        }
    };
    let Some((secret, rds)) = resolved else {
        after(
            run,
            &["master_login", "manage_users_privilege"],
            "the master's database is unknown",
        );
        return;
    };
    let t = Instant::now();
    let login = async {
        let mut master = alt::Master {
            secret: alt::connect_like_current(secret, current)?,
            rds,
        };
        alt::check_master_host(&r.rds, deadline, current, &mut master).await?;
        let session = db::connect(&master.secret, SecretRole::Master, &r.db, deadline).await?;
        let detail = format!(
            "logged in as {} at {}:{} (tls: {})",
            master.secret.username,
            master.secret.host,
            master.secret.port,
            session.tls().as_str()
        );
        Ok(((session, master.secret.username), detail))
    }
    .await;
    let Some((mut session, master_user)) = run.record("master_login", t, login) else {
        after(
            run,
            &["manage_users_privilege"],
            "the master does not log in",
        );
        return;
    };
    let t = Instant::now();
    let privilege = match session.can_manage_users(deadline).await {
        Ok(true) => Ok((
            (),
            format!("{master_user} may create users and grant roles"),
        )),
        Ok(false) => Err(Failure::new(
            Cause::DbPermissionDenied,
            format!("the master user {master_user} may not create users or grant roles"),
        )
        .with("user", master_user.as_str())
        .with("statement_kind", "create_user")
        .with("secret", SecretRole::Master.as_str())),
        Err(f) => Err(f),
    };
    run.record("manage_users_privilege", t, privilege);
}
