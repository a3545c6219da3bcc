//! Password changes on MySQL and MariaDB, applied to the account actually logged in (or, as a
//! master, to the one account of a user), with a statement chosen by the server's real
//! version and the account's authentication plugin ([`plan`]); and whether the account
//! holds a secondary password (a question diagnose asks).
//!
//! Why the statements look the way they do:
//! - The account is the one `CURRENT_USER()` names (user *and* host part), not `'user'@'%'`:
//!   an account `'app'@'10.0.%'` is another account than `'app'@'%'`, and changing the wrong
//!   one leaves the login broken.
//! - MariaDB, and MySQL before 8.0 with `mysql_native_password`: the hash
//!   (`*` + upper hex SHA1(SHA1(password))) is computed here, so the plaintext never reaches
//!   SQL text, and MariaDB's general log (which, unlike MySQL's, does not rewrite passwords)
//!   never holds it. MariaDB refuses `ALTER USER` on one's own account without the
//!   CREATE USER privilege (error 1227), but always allows `SET PASSWORD FOR` one's own
//!   account, so that is the statement used there.
//! - MySQL 8.0 and later: `ALTER USER … IDENTIFIED BY '…'` keeps the account's plugin
//!   (`caching_sha2_password` by default, whose verifier is salted server-side and cannot be
//!   computed here), and MySQL rewrites the password out of its general log, slow log and
//!   binary log itself.
//! - MySQL 8.0.13 and later, the logged-in account's own password: `… REPLACE '<the password
//!   logged in with>'`, which an account created with `PASSWORD REQUIRE CURRENT` needs (3892
//!   without it), and which makes the server check that the password being replaced is the
//!   primary one. With `MYSQL_DUAL_PASSWORD` (8.0.14+) `RETAIN CURRENT PASSWORD` is added: the
//!   replaced password stays valid as the secondary password (the older secondary is
//!   discarded), so the password an application holds keeps logging in until the next
//!   rotation.
//! - The plugin is read with `SHOW CREATE USER CURRENT_USER()`, which both servers allow for
//!   one's own account without privileges (`mysql.user` is refused to ordinary users). When
//!   it cannot be read, MariaDB and MySQL 5.x default to `mysql_native_password` (their
//!   default plugin); MySQL 8+ uses `IDENTIFIED BY`, which is right for every plugin.

pub mod plan;

use super::create_user::plugins_from_create_user;
use super::error::{
    classify, ER_COLUMNACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR,
    ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR,
};
use super::sql::{session_settings, Account};
use super::{text, MySession, Operation};
use crate::deadline::{Deadline, Wait};
use crate::failure::{Cause, Failure};
use crate::secret::Password;
use crate::telemetry;
use mysql_async::prelude::Queryable;
pub use plan::OldPassword;
use plan::{
    dual_password_unsupported, password_plan, supports_dual_password, OwnChange, PasswordChange,
};
use std::time::Duration;

impl MySession {
    /// The account named `user`: the logged-in one, or (as a master) the one account of that
    /// name, preferring the logged-in account's host part when there are several.
    async fn account_of(&mut self, user: &str, deadline: &Deadline) -> Result<Account, Failure> {
        if user == self.account.user {
            return Ok(self.account.clone());
        }
        let hosts: Vec<String> = self
            .rows(
                deadline,
                Operation::Select,
                "SELECT Host FROM mysql.user WHERE User = ?",
                vec![user.into()],
            )
            .await?
            .into_iter()
            .filter_map(|mut r| text(&mut r, 0))
            .collect();
        let pick = match hosts.as_slice() {
            [one] => Some(one.clone()),
            many => many
                .iter()
                .find(|h| **h == self.account.host)
                .or_else(|| many.iter().find(|h| *h == "%"))
                .cloned(),
        };
        pick.map(|host| Account {
            user: user.to_string(),
            host,
        })
        .ok_or_else(|| {
            Failure::new(
                Cause::DbAccessRuleMissing,
                format!("no single account of {user} to change the password of"),
            )
            .with("user", user)
            .with("hosts", hosts)
        })
    }

    /// Sets the password of `user` (the logged-in account, or another as a master) with the
    /// statement [`password_plan`] picks. [`OldPassword::KeepAsSecondary`]
    /// (`MYSQL_DUAL_PASSWORD`) keeps the replaced password as the secondary one; refused
    /// before any statement on a server without dual passwords. Returns the method.
    pub async fn set_password(
        &mut self,
        user: &str,
        new: &Password,
        old: OldPassword,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
        let dual = old == OldPassword::KeepAsSecondary;
        if dual && !supports_dual_password(self.version.as_ref()) {
            return Err(dual_password_unsupported(self.version.as_ref()));
        }
        let account = self.account_of(user, deadline).await?;
        let own = account == self.account;
        let plugins = if own {
            self.plugins.clone()
        } else {
            let MySession { conn, .. } = self;
            let sql = format!("SHOW CREATE USER {}", account.sql());
            match deadline
                .run(
                    Wait::DbStatement {
                        operation: Operation::Select.as_str(),
                    },
                    async { Ok(conn.query_first::<mysql_async::Row, _>(sql).await) },
                )
                .await?
            {
                Ok(Some(mut row)) => text(&mut row, 0)
                    .as_deref()
                    .and_then(plugins_from_create_user),
                _ => None,
            }
        };
        let plan = password_plan(
            self.version.as_ref(),
            plugins.as_deref(),
            &account,
            new.expose(),
            own.then(|| OwnChange {
                current: self.login_password.expose(),
                old,
            }),
        )?;
        let settings = session_settings(self.version.as_ref(), deadline.budget());
        self.statement(deadline, Operation::SetTimeouts, &settings)
            .await?;
        self.apply_password(&account, plan, deadline)
            .await
            .map_err(|f| match f.cause {
                // RETAIN CURRENT PASSWORD on one's own account needs its own privilege.
                Cause::DbPermissionDenied if dual && f.is_mysql_code(ER_SPECIFIC_ACCESS_DENIED_ERROR) => f
                    .with("privilege", "APPLICATION_PASSWORD_ADMIN")
                    .remedy(format!(
                        "MYSQL_DUAL_PASSWORD needs the account to keep a secondary password: GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO {}; (or unset MYSQL_DUAL_PASSWORD).",
                        account.sql()
                    )),
                _ => f,
            })
    }

    /// Whether the logged-in account has a secondary password (`mysql.user.User_attributes`,
    /// MySQL 8.0.14+). `None` when the server has no dual passwords or the account may not
    /// read `mysql.user`.
    pub async fn has_secondary_password(
        &mut self,
        deadline: &Deadline,
    ) -> Result<Option<bool>, Failure> {
        if !supports_dual_password(self.version.as_ref()) {
            return Ok(None);
        }
        let (user, host) = (self.account.user.clone(), self.account.host.clone());
        let MySession { conn, target, .. } = self;
        let answer = deadline
            .run(
                Wait::DbStatement {
                    operation: Operation::Select.as_str(),
                },
                async {
                    Ok(conn
                        .exec_first::<Option<i64>, _, _>(
                            "SELECT JSON_CONTAINS_PATH(User_attributes, 'one', '$.additional_password') \
                             FROM mysql.user WHERE User = ? AND Host = ?",
                            (user, host),
                        )
                        .await)
                },
            )
            .await?;
        match answer {
            Ok(row) => Ok(Some(row.flatten() == Some(1))),
            // No SELECT on mysql.user: not known from here.
            Err(mysql_async::Error::Server(e))
                if matches!(
                    e.code,
                    ER_TABLEACCESS_DENIED_ERROR
                        | ER_DBACCESS_DENIED_ERROR
                        | ER_COLUMNACCESS_DENIED_ERROR
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(&e, target, Operation::Select, Duration::ZERO)),
        }
    }

    /// Runs the password statements of `plan` for `account`, the next only when the server
    /// refuses the previous for lack of privilege, and reports the change. Returns the method.
    pub(super) async fn apply_password(
        &mut self,
        account: &Account,
        plan: Vec<PasswordChange>,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
        // Refused for lack of privilege: the next statement may not need it.
        let mut refused = None;
        for change in plan {
            match self
                .statement(deadline, Operation::AlterPassword, &change.sql)
                .await
            {
                Ok(()) => {
                    telemetry::password_changed(&account.user, change.method);
                    return Ok(change.method);
                }
                Err(f) if f.cause == Cause::DbPermissionDenied => refused = Some(f),
                Err(f) => return Err(f.with("account_host", account.host.as_str())),
            }
        }
        Err(match refused {
            Some(f) => f.with("account_host", account.host.as_str()),
            None => Failure::new(
                Cause::InternalError,
                format!("no password statement was planned for {}", account.sql()),
            ),
        })
    }
}
