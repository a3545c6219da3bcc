//! Alternating users on MySQL and MariaDB: what the master does in setSecret.
//!
//! The original user (the name without `_clone`) is the one privileges are given to, as on
//! PostgreSQL, where the clone is a member acting as the original. MySQL has no such
//! inheritance, so on every rotation the master brings the clone in step with the original,
//! whichever of the two is pending:
//! - accounts: the clone gets an account for every host part the original has (`'app'@'%'`
//!   and `'app'@'10.0.%'` are two accounts, and a login matches the most specific one);
//! - TLS requirement and resource limits, read as typed columns from `mysql.user`;
//! - grants, synced faithfully from `SHOW GRANTS` (see [`super::grants::plan_sync`]): what the
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

use super::grants::{self, GrantLine, Planned};
use super::{
    native_password_hash, password_plan, quote_literal, session_timeouts, text, Account, Flavor,
    MySession, PasswordChange, ServerVersion, METHOD_HASH, NATIVE,
};
use crate::db::{AlternateChange, AlternateUser};
use crate::diagnosis::{Cause, Deadline, Failure, Wait};
use crate::secret::Password;
use crate::telemetry;
use mysql_async::prelude::Queryable;
use sha1::{Digest, Sha1};
use std::collections::BTreeSet;
use std::time::Duration;

/// The `password_changed` method of an account created with `IDENTIFIED BY` (MySQL 8+, where
/// the verifier is salted by the server and MySQL rewrites the password out of its logs).
const METHOD_CREATE: &str = "create user";

/// Server errors that mean "that grant is already gone" (ER_NONEXISTING_GRANT,
/// ER_NONEXISTING_TABLE_GRANT, ER_NONEXISTING_PROC_GRANT): a REVOKE that finds nothing to do.
const ALREADY_REVOKED: [u64; 3] = [1141, 1147, 1403];

/// An account's TLS requirement, as `mysql.user` holds it (`ssl_type`, `ssl_cipher`,
/// `x509_issuer`, `x509_subject`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Require {
    /// `''`, `ANY`, `X509` or `SPECIFIED`.
    pub ssl_type: String,
    /// Required cipher, for `SPECIFIED`.
    pub cipher: String,
    /// Required certificate issuer, for `SPECIFIED`.
    pub issuer: String,
    /// Required certificate subject, for `SPECIFIED`.
    pub subject: String,
}

impl Require {
    /// The `REQUIRE …` clause that gives an account this requirement. The values are typed
    /// columns, quoted here for the session's `NO_BACKSLASH_ESCAPES`; `SHOW CREATE USER`
    /// would give literals whose backslashes MariaDB escapes whatever the `sql_mode`.
    pub fn clause(&self) -> String {
        match self.ssl_type.to_ascii_uppercase().as_str() {
            "" => "REQUIRE NONE".into(),
            "ANY" => "REQUIRE SSL".into(),
            "X509" => "REQUIRE X509".into(),
            _ => {
                let parts: Vec<String> = [
                    ("ISSUER", &self.issuer),
                    ("SUBJECT", &self.subject),
                    ("CIPHER", &self.cipher),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k} {}", quote_literal(v)))
                .collect();
                if parts.is_empty() {
                    "REQUIRE SSL".into()
                } else {
                    format!("REQUIRE {}", parts.join(" AND "))
                }
            }
        }
    }
}

/// An account's resource limits (`mysql.user` `max_questions`, `max_updates`,
/// `max_connections`, `max_user_connections`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// MAX_QUERIES_PER_HOUR.
    pub queries: i64,
    /// MAX_UPDATES_PER_HOUR.
    pub updates: i64,
    /// MAX_CONNECTIONS_PER_HOUR.
    pub connections: i64,
    /// MAX_USER_CONNECTIONS.
    pub user_connections: i64,
}

impl Limits {
    /// The `WITH MAX_…` clause that gives an account exactly these limits.
    pub fn clause(&self) -> String {
        format!(
            "WITH MAX_QUERIES_PER_HOUR {} MAX_UPDATES_PER_HOUR {} MAX_CONNECTIONS_PER_HOUR {} MAX_USER_CONNECTIONS {}",
            self.queries, self.updates, self.connections, self.user_connections
        )
    }
}

/// One row of `mysql.user` for a user of the pair.
#[derive(Clone)]
struct AccountRow {
    user: String,
    host: String,
    plugin: String,
    /// The stored verifier (a hash): compared, never logged.
    auth: String,
    require: Require,
    limits: Limits,
}

impl AccountRow {
    fn account(&self) -> Account {
        Account {
            user: self.user.clone(),
            host: self.host.clone(),
        }
    }

    fn plugins(&self) -> Vec<String> {
        if self.plugin.is_empty() {
            Vec::new()
        } else {
            vec![self.plugin.clone()]
        }
    }

    /// Whether `new` must be set: compared with the stored hash when the account uses the
    /// native plugin (so a second setSecret changes nothing, and a retry after a partial
    /// failure finishes the accounts still missing it); otherwise the pending login decides.
    fn needs_password(&self, new: &str, pending_logs_in: bool) -> bool {
        let native = self.plugin.is_empty() || self.plugin == NATIVE;
        if native && (self.auth.is_empty() || self.auth.starts_with('*')) {
            return self.auth != native_password_hash(new);
        }
        !pending_logs_in
    }
}

/// The master session's settings: literals and identifiers read the same whatever the
/// global `sql_mode` (no ANSI_QUOTES, NO_BACKSLASH_ESCAPES), no account created by a GRANT
/// (`NO_AUTO_CREATE_USER`, which MySQL 8 removed along with that behaviour), names in
/// `SHOW GRANTS` always quoted, and timeouts ending within the budget.
pub fn master_settings(version: Option<&ServerVersion>, budget: Duration) -> String {
    let mode = match version {
        Some(v) if v.flavor == Flavor::MariaDb || v.major < 8 => {
            "NO_BACKSLASH_ESCAPES,NO_AUTO_CREATE_USER"
        }
        _ => "NO_BACKSLASH_ESCAPES",
    };
    format!(
        "SET SESSION sql_mode = '{mode}', SESSION sql_quote_show_create = 1{}",
        session_timeouts(version, budget)
    )
}

/// The CREATE USER statement for a new account of the pair, with its password, TLS
/// requirement and limits in one statement (the account never exists without them), and the
/// `password_changed` method.
///
/// - MariaDB, MySQL before 5.7.6: `IDENTIFIED BY PASSWORD '*HASH'` (hash computed here).
/// - MySQL 5.7.6 to 8.0, native plugin: `IDENTIFIED WITH mysql_native_password AS '*HASH'`.
/// - MySQL 8+ (and an unreadable MySQL version), or another plugin on 5.7:
///   `IDENTIFIED WITH <the original's plugin> BY '…'` (`caching_sha2_password` verifiers are
///   salted by the server), or plain `IDENTIFIED BY` for a plugin that takes no password.
pub fn create_user_sql(
    version: Option<&ServerVersion>,
    plugin: &str,
    account: &Account,
    new: &str,
    require: &Require,
    limits: &Limits,
) -> (String, &'static str) {
    let hash = || quote_literal(&native_password_hash(new));
    let native = plugin.is_empty() || plugin == NATIVE;
    let by = || {
        let password_plugins = ["caching_sha2_password", "sha256_password", NATIVE];
        if password_plugins.contains(&plugin) {
            format!("IDENTIFIED WITH {plugin} BY {}", quote_literal(new))
        } else {
            format!("IDENTIFIED BY {}", quote_literal(new))
        }
    };
    let (identified, method) = match version {
        Some(v) if v.flavor == Flavor::MariaDb => {
            (format!("IDENTIFIED BY PASSWORD {}", hash()), METHOD_HASH)
        }
        Some(v) if v.major < 8 && v.at_least(5, 7, 6) && native => (
            format!("IDENTIFIED WITH mysql_native_password AS {}", hash()),
            METHOD_HASH,
        ),
        Some(v) if v.major < 8 && v.at_least(5, 7, 6) => (by(), METHOD_CREATE),
        Some(v) if v.major < 8 => (format!("IDENTIFIED BY PASSWORD {}", hash()), METHOD_HASH),
        _ => (by(), METHOD_CREATE),
    };
    let mut sql = format!("CREATE USER {} {identified}", account.sql());
    if !require.ssl_type.is_empty() {
        sql.push(' ');
        sql.push_str(&require.clause());
    }
    if *limits != Limits::default() {
        sql.push(' ');
        sql.push_str(&limits.clause());
    }
    (sql, method)
}

/// The named lock of a pair: at most 64 characters whatever the user name.
fn lock_name(original: &str) -> String {
    let digest = Sha1::digest(original.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("db-secret-rotator alt {hex}")
}

fn unreadable_grants(account: &Account, line: usize, why: grants::Unreadable) -> Failure {
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
    fn flavor(&self) -> Flavor {
        self.version.map(|v| v.flavor).unwrap_or(Flavor::MySql)
    }

    fn has_default_roles_table(&self) -> bool {
        self.version
            .is_some_and(|v| v.flavor == Flavor::MySql && v.major >= 8)
    }

    /// Runs a query (text protocol, or a prepared statement when `params` is not empty)
    /// within the budget; errors classified as `operation`.
    async fn rows(
        &mut self,
        deadline: &Deadline,
        operation: &'static str,
        sql: &str,
        params: Vec<mysql_async::Value>,
    ) -> Result<Vec<mysql_async::Row>, Failure> {
        let MySession { conn, target, .. } = self;
        deadline
            .run(Wait::DbStatement { operation }, async {
                let result = if params.is_empty() {
                    conn.query::<mysql_async::Row, _>(sql).await
                } else {
                    conn.exec::<mysql_async::Row, _, _>(sql, params).await
                };
                result.map_err(|e| super::classify(&e, target, operation, Duration::ZERO))
            })
            .await
    }

    /// Takes the pair's named lock for the rest of the session (it ends with the session).
    async fn lock_pair(&mut self, original: &str, deadline: &Deadline) -> Result<(), Failure> {
        let secs = deadline.budget().as_secs().max(1);
        let rows = self
            .rows(
                deadline,
                "lock",
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
            .with("operation", "lock")
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
                "lookup_user",
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

    /// `SHOW GRANTS FOR account`, read.
    async fn show_grants(
        &mut self,
        account: &Account,
        deadline: &Deadline,
    ) -> Result<Vec<GrantLine>, Failure> {
        let sql = format!("SHOW GRANTS FOR {}", account.sql());
        let lines: Vec<String> = self
            .rows(deadline, "show_grants", &sql, Vec::new())
            .await?
            .into_iter()
            .filter_map(|mut r| text(&mut r, 0))
            .collect();
        grants::parse_all(&lines).map_err(|(i, why)| unreadable_grants(account, i, why))
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
                "lookup_user",
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
    async fn sync_grants(
        &mut self,
        source: &Account,
        target: &Account,
        deadline: &Deadline,
    ) -> Result<(), Failure> {
        let from = self.show_grants(source, deadline).await?;
        let to = self.show_grants(target, deadline).await?;
        let target_sql = target.sql();
        let mut plan = grants::plan_sync(&from, &to, &target_sql, self.flavor());
        if self.has_default_roles_table() {
            let want = self.default_roles(source, deadline).await?;
            let have = self.default_roles(target, deadline).await?;
            plan.extend(grants::default_roles_statement(&want, &have, &target_sql));
        }
        for Planned { kind, sql, role } in plan {
            match self.statement(deadline, kind, &sql).await {
                Ok(()) => {}
                Err(f)
                    if kind == "revoke"
                        && f.evidence
                            .get("code")
                            .and_then(|c| c.as_u64())
                            .is_some_and(|c| ALREADY_REVOKED.contains(&c)) => {}
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
        self.statement(deadline, "set_timeouts", &settings).await?;
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
            return Err(Failure::new(
                Cause::DbAccessRuleMissing,
                format!("the user {original} has no account: there is nothing to alternate with"),
            )
            .with("user", original)
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
                    self.statement(deadline, "create_user", &sql)
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
                    self.statement(deadline, "alter_user", &sql)
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

    /// Whether the logged-in user may create users and grant privileges: its own `SHOW
    /// GRANTS` holds CREATE USER (or ALL PRIVILEGES) on `*.*` WITH GRANT OPTION. Lines this
    /// function cannot read are left out (diagnose only reports).
    pub async fn can_manage_users(&mut self, deadline: &Deadline) -> Result<bool, Failure> {
        let lines: Vec<GrantLine> = self
            .rows(deadline, "show_grants", "SHOW GRANTS", Vec::new())
            .await?
            .into_iter()
            .filter_map(|mut r| text(&mut r, 0))
            .filter_map(|l| grants::parse_line(&l).ok())
            .collect();
        Ok(grants::can_manage_users(&lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::mysql::parse_version;

    fn acct() -> Account {
        Account {
            user: "o'b`x%_clone".into(),
            host: "10.0.%".into(),
        }
    }

    #[test]
    fn require_clauses_follow_the_columns() {
        let r = |t: &str, c: &str, i: &str, s: &str| Require {
            ssl_type: t.into(),
            cipher: c.into(),
            issuer: i.into(),
            subject: s.into(),
        };
        assert_eq!(r("", "", "", "").clause(), "REQUIRE NONE");
        assert_eq!(r("ANY", "", "", "").clause(), "REQUIRE SSL");
        assert_eq!(r("X509", "", "", "").clause(), "REQUIRE X509");
        assert_eq!(
            r("SPECIFIED", "AES256-SHA", "/CN=ca", "/CN=a\\b'c").clause(),
            "REQUIRE ISSUER '/CN=ca' AND SUBJECT '/CN=a\\b''c' AND CIPHER 'AES256-SHA'"
        );
        assert_eq!(r("SPECIFIED", "", "", "").clause(), "REQUIRE SSL");
    }

    #[test]
    fn create_user_follows_version_and_plugin() {
        let new = "n'w\\";
        let hash = native_password_hash(new);
        let tls = Require {
            ssl_type: "ANY".into(),
            ..Require::default()
        };
        let none = Require::default();
        let limits = Limits {
            user_connections: 5,
            ..Limits::default()
        };
        let sql = |v: &str, plugin: &str, require: &Require, limits: &Limits| {
            create_user_sql(
                parse_version(v).as_ref(),
                plugin,
                &acct(),
                new,
                require,
                limits,
            )
        };
        let a = "`o'b``x%_clone`@`10.0.%`";
        assert_eq!(
            sql("10.11.6-MariaDB", "mysql_native_password", &tls, &limits),
            (
                format!("CREATE USER {a} IDENTIFIED BY PASSWORD '{hash}' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 5"),
                METHOD_HASH
            )
        );
        assert_eq!(
            sql(
                "5.7.44-log",
                "mysql_native_password",
                &none,
                &Limits::default()
            ),
            (
                format!("CREATE USER {a} IDENTIFIED WITH mysql_native_password AS '{hash}'"),
                METHOD_HASH
            )
        );
        assert_eq!(
            sql("5.6.51", "", &none, &Limits::default()).0,
            format!("CREATE USER {a} IDENTIFIED BY PASSWORD '{hash}'")
        );
        // MySQL 8+ / 9: the original's plugin, the password for the server to hash.
        for v in ["8.0.36", "8.4.0", "9.1.0", "garbage"] {
            assert_eq!(
                sql(v, "caching_sha2_password", &tls, &Limits::default()),
                (
                    format!("CREATE USER {a} IDENTIFIED WITH caching_sha2_password BY 'n''w\\' REQUIRE SSL"),
                    METHOD_CREATE
                ),
                "{v}"
            );
        }
        assert_eq!(
            sql("8.0.36", "auth_socket", &none, &Limits::default()).0,
            format!("CREATE USER {a} IDENTIFIED BY 'n''w\\'")
        );
        assert_eq!(
            sql("5.7.44", "sha256_password", &none, &Limits::default()).0,
            format!("CREATE USER {a} IDENTIFIED WITH sha256_password BY 'n''w\\'")
        );
    }

    #[test]
    fn master_settings_never_keep_ansi_quotes() {
        let maria = parse_version("10.11.6-MariaDB");
        let s = master_settings(maria.as_ref(), Duration::from_secs(3));
        assert!(
            s.starts_with("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,NO_AUTO_CREATE_USER', SESSION sql_quote_show_create = 1, SESSION lock_wait_timeout = 3"),
            "{s}"
        );
        let mysql8 = parse_version("8.0.36");
        let s = master_settings(mysql8.as_ref(), Duration::from_secs(3));
        assert!(
            s.starts_with("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES',"),
            "{s}"
        );
        assert!(s.contains("max_execution_time"), "{s}");
    }

    #[test]
    fn lock_names_fit_64_characters() {
        let long = "x".repeat(80);
        assert!(lock_name(&long).len() <= 64);
        assert_ne!(lock_name("a"), lock_name("b"));
    }

    #[test]
    fn a_stored_native_hash_decides_whether_the_password_is_set() {
        let row = |plugin: &str, auth: String| AccountRow {
            user: "u".into(),
            host: "%".into(),
            plugin: plugin.into(),
            auth,
            require: Require::default(),
            limits: Limits::default(),
        };
        let same = row(NATIVE, native_password_hash("pw"));
        assert!(!same.needs_password("pw", false));
        assert!(same.needs_password("other", true));
        let sha2 = row("caching_sha2_password", "$A$005$xyz".into());
        assert!(sha2.needs_password("pw", false));
        assert!(!sha2.needs_password("pw", true));
    }
}
