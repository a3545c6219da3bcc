//! MySQL and MariaDB failures: the server error numbers this driver tells apart, as named
//! constants (MySQL's own names, from its error reference; MariaDB's where only MariaDB has
//! the error), and the classification of any mysql_async
//! error onto a cause. Server errors are classified by number, one line per number; client
//! errors by their type; only the TLS verification reason and the DNS phase are read from
//! text (`tls::verification_reason`, `Phase::from_text`).
//!
//! Longer than the other files by design: one constant and one classification arm per
//! server error number, and their tests beside them.

use super::{Operation, Target};
use crate::db::failure;
use crate::db::tls;
use crate::failure::{Cause, DbCode, Failure};
use crate::net::{chain_text, Phase};
use std::time::Duration;

/// The method MySQL 8+ may ask of a user no account admits (a decoy exchange, its plugin
/// picked from the user name), and which this client does not perform.
pub const MYSQL_DECOY_METHOD: &str = "sha256_password";

/// The methods of a MariaDB account this client does not perform. MariaDB answers a user no
/// account admits with the method of some existing account, so these can be a decoy too.
pub const MARIADB_UNSUPPORTED_METHOD: &str = "ed25519 or parsec";

/// Whether a `db_auth_method_unsupported` answer naming `method` may be the server's decoy
/// for a user it does not admit, rather than the account's own method.
pub fn may_be_decoy(method: &str) -> bool {
    method == MYSQL_DECOY_METHOD || method == MARIADB_UNSUPPORTED_METHOD
}

/// Access denied for a database (no privilege on the schema).
pub const ER_DBACCESS_DENIED_ERROR: u16 = 1044;
/// Access denied for a user: wrong password, no such user, or (MariaDB) REQUIRE SSL over plaintext.
pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;
/// The database named at login does not exist.
pub const ER_BAD_DB_ERROR: u16 = 1049;
/// Too many connections (`max_connections` reached).
pub const ER_CON_COUNT_ERROR: u16 = 1040;
/// The server is shutting down.
pub const ER_SERVER_SHUTDOWN: u16 = 1053;
/// A syntax error in the statement (whose message may quote the statement).
pub const ER_PARSE_ERROR: u16 = 1064;
/// No account admits this user from this client address.
pub const ER_HOST_NOT_PRIVILEGED: u16 = 1130;
/// REVOKE of a global or database privilege the account does not hold.
pub const ER_NONEXISTING_GRANT: u16 = 1141;
/// A table privilege is missing for the statement.
pub const ER_TABLEACCESS_DENIED_ERROR: u16 = 1142;
/// A column privilege is missing for the statement.
pub const ER_COLUMNACCESS_DENIED_ERROR: u16 = 1143;
/// REVOKE of a table privilege the account does not hold.
pub const ER_NONEXISTING_TABLE_GRANT: u16 = 1147;
/// The user has more connections than `max_user_connections` allows.
pub const ER_TOO_MANY_USER_CONNECTIONS: u16 = 1203;
/// `lock_wait_timeout` (or `innodb_lock_wait_timeout`) ran out.
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// The statement needs a privilege (SUPER, CREATE USER, a dynamic one) the user lacks.
pub const ER_SPECIFIC_ACCESS_DENIED_ERROR: u16 = 1227;
/// The server asks for an authentication method the client does not support.
pub const ER_NOT_SUPPORTED_AUTH_MODE: u16 = 1251;
/// The server's options (`--read-only`, `--super-read-only`) prevent the statement.
pub const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
/// An account operation (CREATE USER, ALTER USER, DROP USER) failed for the account.
pub const ER_CANNOT_USER: u16 = 1396;
/// REVOKE of a routine privilege the account does not hold.
pub const ER_NONEXISTING_PROC_GRANT: u16 = 1403;
/// GRANT may not create an account (`NO_AUTO_CREATE_USER`, or no CREATE USER privilege).
pub const ER_CANT_CREATE_USER_WITH_GRANT: u16 = 1410;
/// Access denied for a user without a password (MariaDB: also a user that does not exist).
pub const ER_ACCESS_DENIED_NO_PASSWORD_ERROR: u16 = 1698;
/// The password policy (validate_password, simple_password_check, cracklib) refused it.
pub const ER_NOT_VALID_PASSWORD: u16 = 1819;
/// The server is in read-only mode.
pub const ER_READ_ONLY_MODE: u16 = 1836;
/// The account's password has expired and must be changed before any statement.
pub const ER_MUST_CHANGE_PASSWORD_LOGIN: u16 = 1862;
/// MariaDB: `max_statement_time` cancelled the statement.
pub const ER_STATEMENT_TIMEOUT: u16 = 1969;
/// MySQL: `max_execution_time` cancelled the statement.
pub const ER_QUERY_TIMEOUT: u16 = 3024;
/// The server is in offline mode.
pub const ER_SERVER_OFFLINE_MODE: u16 = 3032;
/// MySQL: the account is locked (ACCOUNT LOCK).
pub const ER_ACCOUNT_HAS_BEEN_LOCKED: u16 = 3118;
/// MariaDB: the account is locked (ACCOUNT LOCK); MariaDB numbers the same error 4151.
pub const MARIADB_ER_ACCOUNT_HAS_BEEN_LOCKED: u16 = 4151;
/// `require_secure_transport = ON` refuses a plaintext connection.
pub const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159;
/// The REPLACE password is not the account's current (primary) password.
pub const ER_INCORRECT_CURRENT_PASSWORD: u16 = 3891;
/// PASSWORD REQUIRE CURRENT, and the statement has no REPLACE clause.
pub const ER_MISSING_CURRENT_PASSWORD: u16 = 3892;
/// Client error: the server went away (a proxy may forward it as a server error).
pub const CR_SERVER_GONE_ERROR: u16 = 2006;
/// Client error: the connection was lost during a query.
pub const CR_SERVER_LOST: u16 = 2013;

/// The connection dropped after login: the client's lost-connection error.
fn lost(t: &Target, op: Operation) -> Failure {
    // Events have always carried this client error number as the text "2013".
    failure::dropped(&t.host, op.as_str(), DbCode::MySql(CR_SERVER_LOST)).with("code", "2013")
}

/// Maps any mysql_async error onto a cause. `op` is what was running; `elapsed` the time
/// spent connecting (evidence of an unreachable server).
pub(super) fn classify(
    err: &mysql_async::Error,
    t: &Target,
    op: Operation,
    elapsed: Duration,
) -> Failure {
    use mysql_async::{DriverError, Error, IoError};
    let unreachable = |phase: Phase| failure::unreachable("MySQL", &t.host, t.port, phase, elapsed);
    let auth_unsupported = |method: &str| {
        Failure::new(
            Cause::DbAuthMethodUnsupported,
            format!(
                "MySQL asks {} for the {method} authentication method, which this client does not perform",
                t.user
            ),
        )
        .auth_method(method)
        .with("user", t.user.as_str())
    };
    match err {
        Error::Server(e) => classify_server(e.code, &e.message, t, op),
        Error::Driver(d) => match d {
            DriverError::NoClientSslFlagFromServer => Failure::new(
                Cause::DbTlsUnavailable,
                format!(
                    "TLS is required but the server at {} does not offer it",
                    t.host
                ),
            )
            .with("host", t.host.as_str()),
            // MySQL 8+ hides whether an account exists: for a user no account admits from
            // here it runs a decoy exchange with a plugin picked from the user name, which
            // may be this one; so the remedy names both readings.
            DriverError::UnknownAuthPlugin { name } if name == MYSQL_DECOY_METHOD => {
                auth_unsupported(name).remedy("Either the account authenticates with sha256_password (switch it: ALTER USER … IDENTIFIED WITH caching_sha2_password BY '…'), or no account of this user admits the function's address: MySQL then answers with a decoy exchange instead of error 1130. Check the user's host parts (SELECT Host FROM mysql.user WHERE User = '…').")
            }
            DriverError::UnknownAuthPlugin { name } => auth_unsupported(name),
            DriverError::MysqlOldPasswordDisabled => auth_unsupported("mysql_old_password"),
            DriverError::CleartextPluginDisabled => auth_unsupported("mysql_clear_password"),
            DriverError::ConnectionClosed
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. }
            | DriverError::PacketTooLarge
            | DriverError::BadCompressedPacketHeader
            | DriverError::CantParseServerVersion { .. } => {
                if op == Operation::Login {
                    unreachable(Phase::Handshake).with("error", d.to_string())
                } else {
                    failure::dropped(&t.host, op.as_str(), DbCode::ConnectionClosed)
                }
            }
            _ => Failure::internal(op.as_str(), err),
        },
        Error::Io(IoError::Tls(tls_err)) => {
            let text = chain_text(tls_err);
            match tls::verification_reason(&text) {
                Some(reason) => Failure::new(
                    Cause::DbTlsVerificationFailed,
                    format!("the certificate of {} did not verify ({reason})", t.host),
                )
                .with("host", t.host.as_str())
                .tls_reason(reason)
                .with("tls_error", text),
                None => unreachable(Phase::Tls).with("error", text),
            }
        }
        Error::Io(IoError::Io(io)) => {
            use std::io::ErrorKind::*;
            let text = chain_text(io);
            match io.kind() {
                ConnectionRefused | TimedOut | HostUnreachable | NetworkUnreachable
                | AddrNotAvailable => unreachable(Phase::Connect).with("error", text),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
                    if op != Operation::Login =>
                {
                    lost(t, op)
                }
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                    unreachable(Phase::Handshake).with("error", text)
                }
                _ => match Phase::from_text(&text) {
                    Phase::Dns => unreachable(Phase::Dns).with("error", text),
                    _ if op == Operation::Login => unreachable(Phase::Connect).with("error", text),
                    _ => lost(t, op),
                },
            }
        }
        Error::Other(_) | Error::Url(_) => Failure::internal(op.as_str(), err),
    }
}

/// Maps a server error number onto a cause, given what was running.
pub(super) fn classify_server(code: u16, message: &str, t: &Target, op: Operation) -> Failure {
    // A refused password statement may quote the statement (a syntax error does): only the
    // messages of classified errors, which never quote it, are kept for alter_password and
    // create_user (MySQL 8's CREATE USER … IDENTIFIED BY carries the plaintext).
    let f = |cause: Cause, summary: String| {
        let mut f = Failure::new(cause, summary).db_code(DbCode::MySql(code));
        if cause != Cause::InternalError
            || !matches!(op, Operation::AlterPassword | Operation::CreateUser)
        {
            f = f.with("server_message", message);
        }
        f
    };
    let user = t.user.as_str();
    let host = t.host.as_str();
    let login = op == Operation::Login;
    match code {
        // After login, MariaDB's answer to a GRANT of a global privilege or of a role the
        // user may not grant.
        ER_ACCESS_DENIED_ERROR | ER_ACCESS_DENIED_NO_PASSWORD_ERROR if !login => f(
            Cause::DbPermissionDenied,
            format!("{user} may not {op}"),
        )
        .with("user", user)
        .with("statement_kind", op.as_str()),
        // Wrong password, no such user, or (MariaDB) a REQUIRE SSL account over plaintext;
        // db::connect's TLS probe tells the last one apart. MariaDB 10.11 answers this driver
        // 1698 at login for a user that does not exist (an alternating pair's clone before
        // its first setSecret).
        ER_ACCESS_DENIED_ERROR | ER_ACCESS_DENIED_NO_PASSWORD_ERROR => f(
            Cause::DbLoginFailed,
            format!("MySQL rejected the password of {user}"),
        )
        .with("user", user),
        ER_MUST_CHANGE_PASSWORD_LOGIN => f(
            Cause::DbLoginFailed,
            format!("the password of {user} has expired"),
        )
        .with("user", user)
        .remedy("The account's password has expired: reset it to the AWSCURRENT value with ALTER USER, and set PASSWORD EXPIRE NEVER (rotation replaces expiry)."),
        ER_ACCOUNT_HAS_BEEN_LOCKED | MARIADB_ER_ACCOUNT_HAS_BEEN_LOCKED => {
            f(Cause::DbLoginFailed, format!("the account {user} is locked"))
                .with("user", user)
                .remedy("The account is locked: ALTER USER … ACCOUNT UNLOCK.")
        }
        // The session logged in with the account's secondary password.
        ER_INCORRECT_CURRENT_PASSWORD => f(
            Cause::DbLoginFailed,
            format!("the password {user} logged in with is only its secondary password"),
        )
        .with("user", user)
        .remedy("The account's primary password is neither AWSCURRENT nor AWSPENDING (AWSCURRENT logs in only as the secondary password): reset the primary password to the AWSCURRENT value (ALTER USER … IDENTIFIED BY '<AWSCURRENT>' RETAIN CURRENT PASSWORD as an admin, or DISCARD OLD PASSWORD and set it anew), then rotate again."),
        ER_MISSING_CURRENT_PASSWORD => f(
            Cause::DbPermissionDenied,
            format!("{user} may change its password only by naming the current one"),
        )
        .with("user", user)
        .with("statement_kind", op.as_str())
        .remedy("The account requires its current password (PASSWORD REQUIRE CURRENT), but the server's version string did not read as MySQL 8.0.13 or later, so no REPLACE clause was sent: check what SELECT VERSION() reports through this endpoint (a proxy may rewrite it), or ALTER USER … PASSWORD REQUIRE CURRENT DEFAULT."),
        ER_SECURE_TRANSPORT_REQUIRED => f(
            Cause::DbTlsRequired,
            format!("MySQL at {host} requires TLS"),
        )
        .with("host", host)
        .with("tls_mode_used", t.tls.as_str()),
        ER_HOST_NOT_PRIVILEGED => f(
            Cause::DbAccessRuleMissing,
            format!("MySQL at {host} has no account admitting {user} from here"),
        )
        .with("user", user)
        .with("host", host),
        ER_BAD_DB_ERROR => f(
            Cause::DbDatabaseMissing,
            "the secret's database does not exist".to_string(),
        )
        .with("dbname", t.dbname.as_deref().unwrap_or("")),
        ER_DBACCESS_DENIED_ERROR
        | ER_TABLEACCESS_DENIED_ERROR
        | ER_SPECIFIC_ACCESS_DENIED_ERROR
        | ER_CANNOT_USER
        | ER_CANT_CREATE_USER_WITH_GRANT => f(
            Cause::DbPermissionDenied,
            format!("{user} may not {op}"),
        )
        .with("user", user)
        .with("statement_kind", op.as_str()),
        ER_NOT_VALID_PASSWORD => f(
            Cause::DbPasswordRejected,
            "the server's password policy refused the new password".to_string(),
        ),
        ER_OPTION_PREVENTS_STATEMENT | ER_READ_ONLY_MODE => f(
            Cause::DbReadOnly,
            format!("{host} is read-only (a replica or reader)"),
        )
        .with("host", host),
        // Our lock_wait_timeout / max_statement_time, set to end before the deadline.
        ER_LOCK_WAIT_TIMEOUT | ER_STATEMENT_TIMEOUT | ER_QUERY_TIMEOUT => f(
            Cause::FunctionTimeoutImminent,
            format!("{op} waited on a lock until the function deadline was near"),
        )
        .with("operation", op.as_str()),
        ER_CON_COUNT_ERROR
        | ER_TOO_MANY_USER_CONNECTIONS
        | ER_SERVER_SHUTDOWN
        | ER_SERVER_OFFLINE_MODE
        | CR_SERVER_LOST
        | CR_SERVER_GONE_ERROR => f(
            Cause::DbUnavailable,
            format!("MySQL at {host} is not accepting work right now"),
        )
        .with("host", host),
        ER_NOT_SUPPORTED_AUTH_MODE => f(
            Cause::DbAuthMethodUnsupported,
            format!("MySQL asks {user} for an authentication method this client cannot perform"),
        )
        .with("method", "unknown")
        .with("user", user),
        _ => f(
            Cause::InternalError,
            format!("unexpected MySQL error {code} during {op}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::TlsMode;

    fn target() -> Target {
        Target {
            host: "db".into(),
            port: 3306,
            user: "app".into(),
            dbname: Some("appdb".into()),
            tls: TlsMode::Plain,
        }
    }

    #[test]
    fn server_error_numbers_map_onto_causes() {
        let cases = [
            (1045, "db_login_failed"),
            (3159, "db_tls_required"),
            (1130, "db_access_rule_missing"),
            (1049, "db_database_missing"),
            (1044, "db_permission_denied"),
            (1142, "db_permission_denied"),
            (1227, "db_permission_denied"),
            (1396, "db_permission_denied"),
            (1410, "db_permission_denied"),
            (1819, "db_password_rejected"),
            (1290, "db_read_only"),
            (1836, "db_read_only"),
            (1040, "db_unavailable"),
            (1053, "db_unavailable"),
            (2013, "db_unavailable"),
            (2006, "db_unavailable"),
            (1205, "function_timeout_imminent"),
            (1969, "function_timeout_imminent"),
            (1251, "db_auth_method_unsupported"),
            (3891, "db_login_failed"),
            (3892, "db_permission_denied"),
            (1064, "internal_error"),
        ];
        for (code, cause) in cases {
            // 1045 names a refused password only at login (below: after login).
            let during = if code == 1045 {
                Operation::Login
            } else {
                Operation::AlterPassword
            };
            let f = classify_server(code, "msg", &target(), during);
            assert_eq!(f.cause.code(), cause, "{code}");
            assert_eq!(f.evidence["code"], code, "{code}");
        }
        let f = classify_server(1227, "denied", &target(), Operation::AlterPassword);
        assert_eq!(f.evidence["statement_kind"], "alter_password");
        let f = classify_server(1698, "Access denied", &target(), Operation::Login);
        assert_eq!(f.cause, Cause::DbLoginFailed);
        // After login, "access denied" is a refused statement, not a refused password.
        for code in [1045, 1698] {
            let f = classify_server(code, "Access denied", &target(), Operation::Grant);
            assert_eq!(f.cause, Cause::DbPermissionDenied, "{code}");
            assert_eq!(f.evidence["statement_kind"], "grant");
        }
        // A CREATE USER … IDENTIFIED BY that fails unclassified may quote its password.
        let f = classify_server(1064, "near 'secret'", &target(), Operation::CreateUser);
        assert!(f.evidence.get("server_message").is_none());
        // A syntax error may quote the statement, which may hold the password.
        let f = classify_server(1064, "near 'secret'", &target(), Operation::AlterPassword);
        assert!(f.evidence.get("server_message").is_none());
        let f = classify_server(1049, "Unknown database", &target(), Operation::Login);
        assert_eq!(f.evidence["dbname"], "appdb");
    }

    #[test]
    fn client_errors_map_onto_causes() {
        use mysql_async::{DriverError, Error};
        let t = target();
        let refused = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let f = classify(&refused, &t, Operation::Login, Duration::from_millis(3));
        assert_eq!(f.cause, Cause::DbUnreachable);
        assert_eq!(f.evidence["phase"], "connect");
        assert_eq!(f.evidence["elapsed_ms"], 3);
        let dns = Error::from(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(
            classify(&dns, &t, Operation::Login, Duration::ZERO).evidence["phase"],
            "dns"
        );
        let no_tls = Error::from(DriverError::NoClientSslFlagFromServer);
        assert_eq!(
            classify(&no_tls, &t, Operation::Login, Duration::ZERO).cause,
            Cause::DbTlsUnavailable
        );
        let plugin = Error::from(DriverError::UnknownAuthPlugin {
            name: "auth_gssapi_client".into(),
        });
        let f = classify(&plugin, &t, Operation::Login, Duration::ZERO);
        assert_eq!(f.cause, Cause::DbAuthMethodUnsupported);
        assert_eq!(f.evidence["method"], "auth_gssapi_client");
        // The decoy exchange's plugin is a typed signal, for repair to decide on.
        let decoy = Error::from(DriverError::UnknownAuthPlugin {
            name: "sha256_password".into(),
        });
        let f = classify(&decoy, &t, Operation::Login, Duration::ZERO);
        assert_eq!(f.signals.auth_method.as_deref(), Some("sha256_password"));
        assert_eq!(f.evidence["method"], "sha256_password");
        assert!(f.remedy.contains("decoy"));
        let closed = Error::from(DriverError::ConnectionClosed);
        let f = classify(&closed, &t, Operation::Select, Duration::ZERO);
        assert_eq!(f.cause, Cause::DbUnavailable);
        assert_eq!(f.evidence["code"], "connection_closed");
        assert_eq!(f.message, "the connection to db dropped during select");
        // A reset after login: the lost-connection error, "2013" in events as always.
        let reset = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let f = classify(&reset, &t, Operation::AlterPassword, Duration::ZERO);
        assert_eq!(f.cause, Cause::DbUnavailable);
        assert_eq!(f.evidence["code"], "2013");
        assert!(f.is_mysql_code(CR_SERVER_LOST));
        assert_eq!(
            classify(&closed, &t, Operation::Login, Duration::ZERO).evidence["phase"],
            "handshake"
        );
    }
}
