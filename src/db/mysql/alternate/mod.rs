//! Alternating users on MySQL and MariaDB: what the master does in setSecret.
//!
//! The original user (the name without `_clone`) is the one privileges are given to, as on
//! PostgreSQL, where the clone is a member acting as the original. MySQL has no such
//! inheritance, so on every rotation the master brings the clone in step with the original,
//! whichever of the two is pending:
//! - accounts: the clone gets an account for every host part the original has (`'app'@'%'`
//!   and `'app'@'10.0.%'` are two accounts, and a login matches the most specific one);
//! - TLS requirement and resource limits, read as typed columns from `mysql.user`;
//! - grants, synced faithfully from `SHOW GRANTS` (see [`super::grants::plan::plan_sync`]): what the
//!   original gained is granted, WITH GRANT OPTION / WITH ADMIN OPTION kept, what it lost is
//!   revoked, roles and the default role included;
//! - then the pending user's password, on each of its accounts.
//!
//! Why the original and not "the current user" as the source: with the current user as the
//! source, a grant given to the original while the clone is current would be revoked at the
//! next rotation (the original would be synced from the clone), and an operator would have to
//! look up which user is current before every GRANT. With the original as the source there is
//! one fixed name to grant to, and the clone follows at the next rotation.
//!
//! All of it runs in one master session with `NO_BACKSLASH_ESCAPES` (and, where the server has
//! it, `NO_AUTO_CREATE_USER`, so a GRANT never creates an account without a password), without
//! `ANSI_QUOTES`, every statement bounded by the budget, and under a named lock per pair, so
//! two setSecrets at once (Secrets Manager retries) do not race on CREATE USER.

mod account;

use super::password::plan::{password_plan, PasswordChange, METHOD_HASH};
use super::sql::{native_password_hash, quote_literal, Account};
use super::{text, Flavor, MySession, Operation};
use crate::db::{failure, AlternateChange, AlternateUser};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::Password;
use crate::telemetry;
use account::{create_user_sql, master_settings, AccountRow, Limits, Require};
use sha1::{Digest, Sha1};

/// The named lock of a pair: at most 64 characters whatever the user name.
fn lock_name(original: &str) -> String {
    let digest = Sha1::digest(original.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("db-secret-rotator alt {hex}")
}

impl MySession {
    /// Takes the pair's named lock for the rest of the session (it ends with the session).
    async fn lock_pair(&mut self, original: &str, deadline: &Deadline) -> Result<(), Failure> {
        let secs = deadline.budget().as_secs().max(1);
        let rows = self
            .rows(
                deadline,
                Operation::Lock,
                "SELECT GET_LOCK(?, ?)",
                vec![lock_name(original).into(), secs.into()],
            )
            .await?;
        let got: Option<i64> = rows
            .into_iter()
            .next()
            .and_then(|mut r| r.take_opt(0))
            .and_then(Result::ok);
        match got {
            Some(1) => Ok(()),
            _ => Err(Failure::new(
                Cause::FunctionTimeoutImminent,
                format!(
                    "another setSecret for {original} held the pair's lock until the budget ran out"
                ),
            )
            .with("operation", Operation::Lock.as_str())
            .with("elapsed_ms", deadline.elapsed().as_millis() as u64)
            .with("remaining_ms", deadline.remaining().as_millis() as u64)),
        }
    }

    /// The `mysql.user` rows of both users of the pair.
    async fn pair_rows(
        &mut self,
        original: &str,
        clone: &str,
        deadline: &Deadline,
    ) -> Result<Vec<AccountRow>, Failure> {
        // MariaDB keeps roles in mysql.user too (is_role = 'Y', empty host).
        let roles = if self.flavor() == Flavor::MariaDb {
            " AND is_role <> 'Y'"
        } else {
            ""
        };
        let sql = format!(
            "SELECT User, Host, plugin, authentication_string, ssl_type, ssl_cipher, x509_issuer, \
             x509_subject, max_questions, max_updates, max_connections, max_user_connections \
             FROM mysql.user WHERE User IN (?, ?){roles}"
        );
        let rows = self
            .rows(
                deadline,
                Operation::LookupUser,
                &sql,
                vec![original.into(), clone.into()],
            )
            .await
            .map_err(|f| {
                if f.cause == Cause::DbPermissionDenied {
                    f.remedy("The master needs SELECT on mysql.user (to find every host part of the user) besides CREATE USER and GRANT OPTION.")
                } else {
                    f
                }
            })?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                let mut number =
                    |i: usize| -> i64 { r.take_opt(i).and_then(Result::ok).unwrap_or(0) };
                let limits = Limits {
                    queries: number(8),
                    updates: number(9),
                    connections: number(10),
                    user_connections: number(11),
                };
                let mut string = |i: usize| text(&mut r, i).unwrap_or_default();
                AccountRow {
                    user: string(0),
                    host: string(1),
                    plugin: string(2),
                    auth: string(3),
                    require: Require {
                        ssl_type: string(4),
                        cipher: string(5),
                        issuer: string(6),
                        subject: string(7),
                    },
                    limits,
                }
            })
            .collect())
    }

    /// Sets `new` on an existing account of the pair as the master. MariaDB: `ALTER USER …
    /// IDENTIFIED BY PASSWORD '*HASH'` (the CREATE USER privilege the master has anyway),
    /// then `SET PASSWORD` (which needs UPDATE on the mysql schema instead); MySQL: the
    /// single-user plan for the account's plugin and the server's version.
    async fn set_pair_password(
        &mut self,
        row: &AccountRow,
        new: &Password,
        deadline: &Deadline,
    ) -> Result<(), Failure> {
        let account = row.account();
        let plugins = row.plugins();
        let mut plan = password_plan(
            self.version.as_ref(),
            Some(plugins.as_slice()),
            &account,
            new.expose(),
            None,
        )?;
        if self.flavor() == Flavor::MariaDb {
            plan.insert(
                0,
                PasswordChange {
                    sql: format!(
                        "ALTER USER {} IDENTIFIED BY PASSWORD {}",
                        account.sql(),
                        quote_literal(&native_password_hash(new.expose()))
                    ),
                    method: METHOD_HASH,
                },
            );
        }
        self.apply_password(&account, plan, deadline).await?;
        Ok(())
    }

    /// As the master: brings the clone of the pair in step with the original (accounts for
    /// every host part, TLS requirement, limits, grants, roles) and sets the pending user's
    /// password, unless it is already the pending one. See the module documentation.
    pub async fn ensure_alternate_user(
        &mut self,
        user: &AlternateUser<'_>,
        deadline: &Deadline,
    ) -> Result<AlternateChange, Failure> {
        let settings = master_settings(self.version.as_ref(), deadline.budget());
        self.statement(deadline, Operation::SetTimeouts, &settings)
            .await?;
        let original = user.original();
        let clone = if user.pending_is_clone() {
            user.pending
        } else {
            user.current
        };
        self.lock_pair(original, deadline).await?;
        let rows = self.pair_rows(original, clone, deadline).await?;
        let originals: Vec<AccountRow> = rows
            .iter()
            .filter(|r| r.user == original)
            .cloned()
            .collect();
        if originals.is_empty() {
            return Err(failure::original_user_missing(original)
                .with("server_message", "no row in mysql.user")
                .remedy(format!(
                    "Create the user {original} again (with its privileges), or point the secret at an existing user."
                )));
        }
        let mut created = false;
        let mut password_changed = false;
        for o in &originals {
            let target = Account {
                user: clone.to_string(),
                host: o.host.clone(),
            };
            match rows.iter().find(|r| r.user == clone && r.host == o.host) {
                None if user.pending_is_clone() => {
                    let (sql, method) = create_user_sql(
                        self.version.as_ref(),
                        &o.plugin,
                        &target,
                        user.password.expose(),
                        &o.require,
                        &o.limits,
                    );
                    self.statement(deadline, Operation::CreateUser, &sql)
                        .await
                        .map_err(|f| f.with("account_host", o.host.as_str()))?;
                    telemetry::password_changed(clone, method);
                    created = true;
                    password_changed = true;
                }
                // The clone is the user in AWSCURRENT and lacks this host part (added to the
                // original since): its password is not known here, so the account is created
                // when the clone is next pending.
                None => continue,
                Some(c) if c.require != o.require || c.limits != o.limits => {
                    let sql = format!(
                        "ALTER USER {} {} {}",
                        target.sql(),
                        o.require.clause(),
                        o.limits.clause()
                    );
                    self.statement(deadline, Operation::AlterUser, &sql)
                        .await
                        .map_err(|f| f.with("account_host", o.host.as_str()))?;
                }
                Some(_) => {}
            }
            self.sync_grants(&o.account(), &target, deadline).await?;
        }
        // The pending user's existing accounts at the original's host parts (accounts created
        // above already have the password).
        for o in &originals {
            let Some(row) = rows
                .iter()
                .find(|r| r.user == user.pending && r.host == o.host)
            else {
                continue;
            };
            if row.needs_password(user.password.expose(), user.password_in_place) {
                self.set_pair_password(row, user.password, deadline).await?;
                password_changed = true;
            }
        }
        Ok(AlternateChange {
            created,
            password_changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_64_characters() {
        let long = "x".repeat(80);
        assert!(lock_name(&long).len() <= 64);
        assert_ne!(lock_name("a"), lock_name("b"));
    }
}
