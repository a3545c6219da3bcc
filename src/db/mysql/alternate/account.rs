//! One account of an alternating pair as `mysql.user` holds it (plugin, stored verifier, TLS
//! requirement, resource limits, all typed columns), and the SQL that creates such an account
//! or gives it the same requirement and limits.

use crate::db::mysql::password::plan::{METHOD_HASH, NATIVE};
use crate::db::mysql::sql::{native_password_hash, quote_literal, session_timeouts, Account};
use crate::db::mysql::version::{Flavor, ServerVersion};
use std::time::Duration;

/// The `password_changed` method of an account created with `IDENTIFIED BY` (MySQL 8+, where
/// the verifier is salted by the server and MySQL rewrites the password out of its logs).
const METHOD_CREATE: &str = "create user";

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
pub(super) struct AccountRow {
    pub(super) user: String,
    pub(super) host: String,
    pub(super) plugin: String,
    /// The stored verifier (a hash): compared, never logged.
    pub(super) auth: String,
    pub(super) require: Require,
    pub(super) limits: Limits,
}

impl AccountRow {
    pub(super) fn account(&self) -> Account {
        Account {
            user: self.user.clone(),
            host: self.host.clone(),
        }
    }

    pub(super) fn plugins(&self) -> Vec<String> {
        if self.plugin.is_empty() {
            Vec::new()
        } else {
            vec![self.plugin.clone()]
        }
    }

    /// Whether `new` must be set: compared with the stored hash when the account uses the
    /// native plugin (so a second setSecret changes nothing, and a retry after a partial
    /// failure finishes the accounts still missing it); otherwise the pending login decides.
    pub(super) fn needs_password(&self, new: &str, pending_logs_in: bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::mysql::version::parse_version;

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
            s.starts_with("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,NO_AUTO_CREATE_USER', SESSION sql_quote_show_create = 1, SESSION lock_wait_timeout = 2"),
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
