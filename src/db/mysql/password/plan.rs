//! The password statement to send, planned from the server's version and flavour, the
//! account's authentication plugins and whether the account changes its own password
//! (`REPLACE`, and `RETAIN CURRENT PASSWORD` for dual passwords). Pure: the session runs the
//! plan (see the parent module).

use crate::db::mysql::sql::{native_password_hash, quote_literal, Account};
use crate::db::mysql::version::{Flavor, ServerVersion};
use crate::failure::{Cause, Failure};

/// One password statement and the name it is reported by.
pub struct PasswordChange {
    /// The statement (may contain the plaintext: never logged).
    pub(in crate::db::mysql) sql: String,
    /// The `method` of `password_changed`.
    pub method: &'static str,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

pub(in crate::db::mysql) const NATIVE: &str = "mysql_native_password";
pub(in crate::db::mysql) const METHOD_HASH: &str = "mysql_native_password hash";
const METHOD_ALTER: &str = "alter user";
const METHOD_DUAL: &str = "alter user retain current password";

/// What becomes of the replaced password when an account changes its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldPassword {
    /// It stops working.
    Discard,
    /// `MYSQL_DUAL_PASSWORD`: it stays valid as the secondary password
    /// (`RETAIN CURRENT PASSWORD`, MySQL 8.0.14+).
    KeepAsSecondary,
}

impl OldPassword {
    /// The choice `MYSQL_DUAL_PASSWORD` makes.
    pub fn from_dual_password_setting(dual_password: bool) -> Self {
        if dual_password {
            OldPassword::KeepAsSecondary
        } else {
            OldPassword::Discard
        }
    }
}

/// How the logged-in account changes its own password (MySQL 8.0.13+ only; ignored elsewhere).
#[derive(Clone, Copy)]
pub struct OwnChange<'a> {
    /// The password the session logged in with: the `REPLACE` clause.
    pub current: &'a str,
    /// Whether to add `RETAIN CURRENT PASSWORD`.
    pub old: OldPassword,
}

/// Whether a server supports `RETAIN CURRENT PASSWORD` (Oracle MySQL 8.0.14 and later).
pub fn supports_dual_password(version: Option<&ServerVersion>) -> bool {
    version.is_some_and(|v| v.flavor == Flavor::MySql && v.at_least(8, 0, 14))
}

/// `MYSQL_DUAL_PASSWORD` on a server without dual passwords: refused before any change.
pub fn dual_password_unsupported(version: Option<&ServerVersion>) -> Failure {
    let server = match version {
        Some(v) if v.flavor == Flavor::MariaDb => {
            format!("MariaDB {}.{}.{}", v.major, v.minor, v.patch)
        }
        Some(v) => format!("MySQL {}.{}.{}", v.major, v.minor, v.patch),
        None => "a server whose version could not be read".to_string(),
    };
    Failure::new(
        Cause::DbAuthMethodUnsupported,
        format!("MYSQL_DUAL_PASSWORD is set, but {server} has no dual passwords (MySQL 8.0.14 or later)"),
    )
    .with("method", "dual_password")
    .with("setting", "MYSQL_DUAL_PASSWORD")
    .with("server_version", server)
    .remedy("Dual passwords (ALTER USER … RETAIN CURRENT PASSWORD) need Oracle MySQL 8.0.14 or later (RDS for MySQL 8.0.14+, 8.4, Aurora MySQL 3); MariaDB has none. Unset MYSQL_DUAL_PASSWORD for this function, or upgrade the server.")
}

/// The statements to try, in order, to set `account`'s password to `new` (the next one only
/// when the server refuses the previous for lack of privilege).
///
/// - MariaDB (any version), native plugin or unknown: `SET PASSWORD FOR acct = '*HASH'`.
///   Another plugin (ed25519, unix_socket, gssapi, pam, several plugins at once): refused
///   as `db_auth_method_unsupported` rather than silently switching the account's plugin.
/// - MySQL 8.0 and later (9.x too), or a MySQL version that cannot be read:
///   `ALTER USER acct IDENTIFIED BY '…'` (keeps the plugin; MySQL rewrites it in its logs).
///   For the logged-in account's own password (`own`) on 8.0.13+: `… REPLACE '<current>'`,
///   and with `own.dual` (8.0.14+, else refused here) `… RETAIN CURRENT PASSWORD`.
/// - MySQL 5.7.6 and later 5.x, native plugin or unknown: `ALTER USER acct IDENTIFIED WITH
///   mysql_native_password AS '*HASH'` (needs CREATE USER), then `ALTER USER acct
///   IDENTIFIED BY '…'` (allowed for one's own account). Another plugin: `IDENTIFIED BY`.
/// - MySQL before 5.7.6: `SET PASSWORD FOR acct = '*HASH'` (there the literal is the hash).
///
/// Never `PASSWORD()`: gone in MySQL 8, and it would put the plaintext in the SQL text.
pub fn password_plan(
    version: Option<&ServerVersion>,
    plugins: Option<&[String]>,
    account: &Account,
    new: &str,
    own: Option<OwnChange<'_>>,
) -> Result<Vec<PasswordChange>, Failure> {
    if own.is_some_and(|o| o.old == OldPassword::KeepAsSecondary)
        && !supports_dual_password(version)
    {
        return Err(dual_password_unsupported(version));
    }
    let acct = account.sql();
    let hash = || quote_literal(&native_password_hash(new));
    let set_hash = || PasswordChange {
        sql: format!("SET PASSWORD FOR {acct} = {}", hash()),
        method: METHOD_HASH,
    };
    let identified_by = || PasswordChange {
        sql: format!("ALTER USER {acct} IDENTIFIED BY {}", quote_literal(new)),
        method: METHOD_ALTER,
    };
    let native = match plugins {
        None => None,
        Some([]) => Some(true),
        Some([one]) => Some(one == NATIVE),
        Some(_) => Some(false),
    };
    let flavor = version.map(|v| v.flavor);
    if flavor == Some(Flavor::MariaDb) {
        return match native {
            None | Some(true) => Ok(vec![set_hash()]),
            Some(false) => {
                let method = plugins.unwrap_or_default().join(" OR ");
                Err(Failure::new(
                    Cause::DbAuthMethodUnsupported,
                    format!(
                        "the account {acct} authenticates with {method}: its password cannot be set without switching its plugin"
                    ),
                )
                .with("method", method)
                .with("user", account.user.as_str())
                .remedy("Use mysql_native_password for this account (ALTER USER … IDENTIFIED VIA mysql_native_password USING PASSWORD('…')), or rotate it outside this function."))
            }
        };
    }
    match version {
        Some(v) if v.major < 8 && v.at_least(5, 7, 6) => {
            if native.unwrap_or(true) {
                Ok(vec![
                    PasswordChange {
                        sql: format!(
                            "ALTER USER {acct} IDENTIFIED WITH mysql_native_password AS {}",
                            hash()
                        ),
                        method: METHOD_HASH,
                    },
                    identified_by(),
                ])
            } else {
                Ok(vec![identified_by()])
            }
        }
        Some(v) if v.major < 8 => Ok(vec![set_hash()]),
        Some(v) if v.at_least(8, 0, 13) => match own {
            Some(o) => {
                let mut sql = format!(
                    "ALTER USER {acct} IDENTIFIED BY {} REPLACE {}",
                    quote_literal(new),
                    quote_literal(o.current)
                );
                let method = match o.old {
                    OldPassword::KeepAsSecondary => {
                        sql.push_str(" RETAIN CURRENT PASSWORD");
                        METHOD_DUAL
                    }
                    OldPassword::Discard => METHOD_ALTER,
                };
                Ok(vec![PasswordChange { sql, method }])
            }
            None => Ok(vec![identified_by()]),
        },
        _ => Ok(vec![identified_by()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::mysql::version::parse_version;

    fn plan(
        version: &str,
        plugins: Option<&[&str]>,
    ) -> Result<Vec<(String, &'static str)>, Failure> {
        let plugins: Option<Vec<String>> =
            plugins.map(|p| p.iter().map(|s| s.to_string()).collect());
        let acct = Account {
            user: "app'x".into(),
            host: "10.0.%".into(),
        };
        password_plan(
            parse_version(version).as_ref(),
            plugins.as_deref(),
            &acct,
            "new'pw\\",
            None,
        )
        .map(|p| p.into_iter().map(|c| (c.sql, c.method)).collect())
    }

    fn own_plan(version: &str, dual: bool) -> Result<Vec<(String, &'static str)>, Failure> {
        let acct = Account {
            user: "app'x".into(),
            host: "10.0.%".into(),
        };
        let own = OwnChange {
            current: "cur'pw\\",
            old: OldPassword::from_dual_password_setting(dual),
        };
        password_plan(
            parse_version(version).as_ref(),
            Some(&["caching_sha2_password".to_string()]),
            &acct,
            "new'pw\\",
            Some(own),
        )
        .map(|p| p.into_iter().map(|c| (c.sql, c.method)).collect())
    }

    #[test]
    fn own_password_changes_replace_the_current_one_and_dual_retains_it() {
        let acct = "`app'x`@`10.0.%`";
        let replace = format!("ALTER USER {acct} IDENTIFIED BY 'new''pw\\' REPLACE 'cur''pw\\'");
        for v in ["8.0.13", "8.4.3", "9.7.4", "8.0.mysql_aurora.3.05.2"] {
            assert_eq!(
                own_plan(v, false).unwrap(),
                [(replace.clone(), METHOD_ALTER)],
                "{v}"
            );
        }
        // Before 8.0.13 there is no REPLACE clause.
        assert_eq!(
            own_plan("8.0.12", false).unwrap(),
            [(
                format!("ALTER USER {acct} IDENTIFIED BY 'new''pw\\'"),
                METHOD_ALTER
            )]
        );
        for v in ["8.0.14", "8.4.3", "9.7.4", "8.0.mysql_aurora.3.05.2"] {
            assert_eq!(
                own_plan(v, true).unwrap(),
                [(format!("{replace} RETAIN CURRENT PASSWORD"), METHOD_DUAL)],
                "{v}"
            );
        }
        // Refused, before any statement, where there are no dual passwords.
        for v in [
            "8.0.13",
            "5.7.44",
            "10.11.6-MariaDB",
            "11.4.2-MariaDB",
            "unknown",
        ] {
            let f = own_plan(v, true).unwrap_err();
            assert_eq!(f.cause, Cause::DbAuthMethodUnsupported, "{v}");
            assert_eq!(f.evidence["setting"], "MYSQL_DUAL_PASSWORD", "{v}");
            assert!(f.remedy.contains("8.0.14"), "{v}");
        }
    }

    #[test]
    fn the_statement_follows_version_and_plugin() {
        let hash = native_password_hash("new'pw\\");
        let acct = "`app'x`@`10.0.%`";
        // MariaDB: the hash, for the logged-in account's own host part.
        for v in [
            "10.11.6-MariaDB-log",
            "5.5.5-10.3.39-MariaDB",
            "11.4.2-MariaDB",
        ] {
            for plugins in [None, Some(&["mysql_native_password"][..]), Some(&[][..])] {
                assert_eq!(
                    plan(v, plugins).unwrap(),
                    [(format!("SET PASSWORD FOR {acct} = '{hash}'"), METHOD_HASH)],
                    "{v} {plugins:?}"
                );
            }
        }
        let err = plan("10.11.6-MariaDB", Some(&["ed25519"])).unwrap_err();
        assert_eq!(err.cause, Cause::DbAuthMethodUnsupported);
        assert_eq!(err.evidence["method"], "ed25519");
        // MySQL 8.x and 9.x (and an unreadable MySQL version): IDENTIFIED BY, any plugin.
        let alter = (
            format!("ALTER USER {acct} IDENTIFIED BY 'new''pw\\'"),
            METHOD_ALTER,
        );
        for v in [
            "8.0.36",
            "8.4.0",
            "9.1.0",
            "8.0.mysql_aurora.3.05.2",
            "unknown",
        ] {
            for plugins in [
                None,
                Some(&["caching_sha2_password"][..]),
                Some(&["mysql_native_password"][..]),
            ] {
                assert_eq!(
                    plan(v, plugins).unwrap(),
                    std::slice::from_ref(&alter),
                    "{v}"
                );
            }
        }
        // MySQL 5.7: the hash (needs CREATE USER), then IDENTIFIED BY (own account).
        let with_as = (
            format!("ALTER USER {acct} IDENTIFIED WITH mysql_native_password AS '{hash}'"),
            METHOD_HASH,
        );
        assert_eq!(
            plan("5.7.44-log", None).unwrap(),
            [with_as.clone(), alter.clone()]
        );
        assert_eq!(
            plan("5.7.44", Some(&["sha256_password"])).unwrap(),
            std::slice::from_ref(&alter)
        );
        // MySQL 5.6: SET PASSWORD with the hash.
        assert_eq!(
            plan("5.6.51", None).unwrap(),
            [(format!("SET PASSWORD FOR {acct} = '{hash}'"), METHOD_HASH)]
        );
        // Never PASSWORD().
        for v in ["5.6.51", "5.7.44", "8.0.36", "9.0.1", "10.11.6-MariaDB"] {
            for (sql, _) in plan(v, None).unwrap() {
                assert!(!sql.to_ascii_uppercase().contains("PASSWORD("), "{sql}");
            }
        }
    }
}
