//! `SHOW GRANTS`, understood, and one account's grants copied to another: lines read in
//! [`parse`], what they add up to in [`holdings`], the statements that copy them in [`plan`];
//! this module runs them through the session.
//!
//! Why text: `SHOW GRANTS` is the one view of an account's privileges that MySQL 5.x, MySQL
//! 8+/9 (dynamic privileges, roles, partial revokes) and MariaDB (roles) all offer, that needs
//! no SELECT on the grant tables, and whose object names come back quoted by the server
//! itself. The session that runs `SHOW GRANTS` also runs the rewritten statements, with
//! `sql_quote_show_create = 1` and without `ANSI_QUOTES`, so the server's quoting of the
//! verbatim parts means the same when it reads them back.

pub mod holdings;
pub mod parse;
pub mod plan;

use super::error::{ER_NONEXISTING_GRANT, ER_NONEXISTING_PROC_GRANT, ER_NONEXISTING_TABLE_GRANT};
use super::sql::Account;
use super::{text, Flavor, MySession, Operation};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use parse::{parse_all, parse_line, GrantLine, Unreadable};
use plan::{default_roles_statement, plan_sync, Planned};
use std::collections::BTreeSet;

/// Server errors that mean "that grant is already gone": a REVOKE that finds nothing to do.
const ALREADY_REVOKED: [u16; 3] = [
    ER_NONEXISTING_GRANT,
    ER_NONEXISTING_TABLE_GRANT,
    ER_NONEXISTING_PROC_GRANT,
];

fn unreadable_grants(account: &Account, line: usize, why: Unreadable) -> Failure {
    Failure::new(
        Cause::InternalError,
        format!(
            "SHOW GRANTS FOR {} returned a line this function cannot read ({})",
            account.sql(),
            why.0
        ),
    )
    .with("user", account.user.as_str())
    .with("account_host", account.host.as_str())
    .with("line", line as u64)
}

impl MySession {
    /// MySQL 8 keeps default roles in `mysql.default_roles`, not in `SHOW GRANTS`.
    fn has_default_roles_table(&self) -> bool {
        self.version
            .is_some_and(|v| v.flavor == Flavor::MySql && v.major >= 8)
    }

    /// `SHOW GRANTS FOR account`, read.
    async fn show_grants(
        &mut self,
        account: &Account,
        deadline: &Deadline,
    ) -> Result<Vec<GrantLine>, Failure> {
        let sql = format!("SHOW GRANTS FOR {}", account.sql());
        let lines: Vec<String> = self
            .rows(deadline, Operation::ShowGrants, &sql, Vec::new())
            .await?
            .into_iter()
            .filter_map(|mut r| text(&mut r, 0))
            .collect();
        parse_all(&lines).map_err(|(i, why)| unreadable_grants(account, i, why))
    }

    /// MySQL 8's default roles of an account (`mysql.default_roles`), quoted for SQL.
    async fn default_roles(
        &mut self,
        account: &Account,
        deadline: &Deadline,
    ) -> Result<BTreeSet<String>, Failure> {
        let rows = self
            .rows(
                deadline,
                Operation::LookupUser,
                "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles WHERE USER = ? AND HOST = ?",
                vec![account.user.as_str().into(), account.host.as_str().into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                Account {
                    user: text(&mut r, 0).unwrap_or_default(),
                    host: text(&mut r, 1).unwrap_or_default(),
                }
                .sql()
            })
            .collect())
    }

    /// Makes `target`'s grants (roles and default roles included) those of `source`.
    pub(super) async fn sync_grants(
        &mut self,
        source: &Account,
        target: &Account,
        deadline: &Deadline,
    ) -> Result<(), Failure> {
        let from = self.show_grants(source, deadline).await?;
        let to = self.show_grants(target, deadline).await?;
        let target_sql = target.sql();
        let mut plan = plan_sync(&from, &to, &target_sql, self.flavor());
        if self.has_default_roles_table() {
            let want = self.default_roles(source, deadline).await?;
            let have = self.default_roles(target, deadline).await?;
            plan.extend(default_roles_statement(&want, &have, &target_sql));
        }
        for Planned { kind, sql, role } in plan {
            match self.statement(deadline, kind, &sql).await {
                Ok(()) => {}
                Err(f)
                    if kind == Operation::Revoke
                        && ALREADY_REVOKED.iter().any(|&code| f.is_mysql_code(code)) => {}
                Err(f) => {
                    let f = f
                        .with("account_user", target.user.as_str())
                        .with("account_host", target.host.as_str());
                    return Err(match (f.cause, role) {
                        (Cause::DbPermissionDenied, Some(role)) => f
                            .remedy(format!("Granting the role {role} to {} needs the role itself WITH ADMIN OPTION: GRANT {role} TO <master> WITH ADMIN OPTION (ALL PRIVILEGES is not enough).", target.user))
                            .with("role", role),
                        (Cause::DbPermissionDenied, None) => f.remedy(format!(
                            "The master copies the grants of {} to {}: it needs CREATE USER and each of those privileges WITH GRANT OPTION (for example ALL PRIVILEGES ON *.* WITH GRANT OPTION).",
                            source.user, target.user
                        )),
                        (_, _) => f,
                    });
                }
            }
        }
        Ok(())
    }

    /// The logged-in account's own `SHOW GRANTS`, the lines this function can read (diagnose
    /// only reports, so an unreadable line is left out rather than refused).
    async fn own_grants(&mut self, deadline: &Deadline) -> Result<Vec<GrantLine>, Failure> {
        Ok(self
            .rows(deadline, Operation::ShowGrants, "SHOW GRANTS", Vec::new())
            .await?
            .into_iter()
            .filter_map(|mut r| text(&mut r, 0))
            .filter_map(|l| parse_line(&l).ok())
            .collect())
    }

    /// Whether the logged-in user may create users and grant privileges: its own `SHOW
    /// GRANTS` holds CREATE USER (or ALL PRIVILEGES) on `*.*` WITH GRANT OPTION.
    pub async fn can_manage_users(&mut self, deadline: &Deadline) -> Result<bool, Failure> {
        Ok(holdings::can_manage_users(
            &self.own_grants(deadline).await?,
        ))
    }

    /// Whether the logged-in account may keep a secondary password when it changes its own
    /// (APPLICATION_PASSWORD_ADMIN, CREATE USER or ALL on `*.*`, from `SHOW GRANTS`).
    pub async fn may_retain_current_password(
        &mut self,
        deadline: &Deadline,
    ) -> Result<bool, Failure> {
        Ok(holdings::may_retain_current_password(
            &self.own_grants(deadline).await?,
        ))
    }
}
