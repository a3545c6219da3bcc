//! PostgreSQL failures: the operations a session runs ([`Operation`]), the one table from
//! SQLSTATE to cause ([`cause_of_sqlstate`]) and the one builder ([`failure`]) that turns any
//! tokio-postgres error, at login or on a statement, into a [`Failure`] with its evidence.
//!
//! tokio-postgres keeps its error kinds private. What it does expose decides first: the
//! server's SQLSTATE (`as_db_error`), `is_closed`, and the typed errors in the source chain
//! (`native_tls::Error` for TLS, `io::Error` and its kind for the network). Where it reports a
//! fact only as a boxed string (TLS not offered, an unsupported authentication method) or std
//! reports a failed DNS lookup only as text, the text decides, in one function each, pinned by
//! a test.
//!
//! Over 400 lines only because its unit tests (about 115 lines) live beside the table.

use super::super::failure;
use super::super::{tls, TlsMode};
use crate::failure::{Cause, DbCode, Failure};
use crate::net::{chain_text, source_chain, Phase};
use std::io::ErrorKind;
use std::time::Duration;
use tokio_postgres::error::{DbError, SqlState};

/// The engine's name in messages.
const ENGINE: &str = "PostgreSQL";

/// What a session was doing when PostgreSQL failed: it picks the cause of some SQLSTATEs and
/// names the statement in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Connecting and logging in.
    Login,
    /// `SET lock_timeout`, `SET statement_timeout` before the risky statements.
    SetTimeouts,
    /// `pg_advisory_lock` serialising two setSecrets on the same user.
    Lock,
    /// `ALTER ROLE ... PASSWORD`.
    AlterPassword,
    /// Reading `pg_roles` (does a role exist, may the master manage roles).
    LookupRole,
    /// `CREATE ROLE ... LOGIN` for the clone of an alternating pair.
    CreateUser,
    /// `GRANT original TO clone`.
    Grant,
    /// `ALTER ROLE clone SET role = original`.
    AlterRole,
    /// `SELECT 1`.
    Select,
}

impl Operation {
    /// The name in events (`statement_kind`, `operation`) and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::SetTimeouts => "set_timeouts",
            Operation::Lock => "lock",
            Operation::AlterPassword => "alter_password",
            Operation::LookupRole => "lookup_role",
            Operation::CreateUser => "create_user",
            Operation::Grant => "grant",
            Operation::AlterRole => "alter_role",
            Operation::Select => "select",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server a failure came from and the user logging in (or logged in) there.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// Host name or address.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// The login user.
    pub user: &'a str,
    /// The database logged in to, when the secret names one.
    pub database: Option<&'a str>,
    /// TLS or plaintext.
    pub tls: TlsMode,
}

/// The one table from SQLSTATE to cause, for logins and statements alike.
pub fn cause_of_sqlstate(state: &SqlState, op: Operation) -> Cause {
    match *state {
        // 28P01 invalid_password (also an unknown role under a password rule: PostgreSQL
        // does not tell the two apart).
        SqlState::INVALID_PASSWORD => Cause::DbLoginFailed,
        // 28000 invalid_authorization_specification: no pg_hba rule admits this user from
        // here (a TLS-only rule is told apart by `hba_rejects_plaintext`).
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION => Cause::DbAccessRuleMissing,
        // 3D000 invalid_catalog_name: the database does not exist.
        SqlState::INVALID_CATALOG_NAME => Cause::DbDatabaseMissing,
        // 42501 insufficient_privilege.
        SqlState::INSUFFICIENT_PRIVILEGE => Cause::DbPermissionDenied,
        // 25006 read_only_sql_transaction: a standby, or a read-only default.
        SqlState::READ_ONLY_SQL_TRANSACTION => Cause::DbReadOnly,
        // 55P03 lock_not_available, 57014 query_canceled: our lock_timeout /
        // statement_timeout, set to end before the deadline.
        SqlState::LOCK_NOT_AVAILABLE | SqlState::QUERY_CANCELED => Cause::FunctionTimeoutImminent,
        // 22023 invalid_parameter_value on ALTER ROLE: a password-check hook (passwordcheck).
        SqlState::INVALID_PARAMETER_VALUE if op == Operation::AlterPassword => {
            Cause::DbPasswordRejected
        }
        // 55000 object_not_in_prerequisite_state at login: the database does not accept
        // connections right now (ALLOW_CONNECTIONS false).
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE if op == Operation::Login => {
            Cause::DbUnavailable
        }
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up,
        // in recovery).
        SqlState::ADMIN_SHUTDOWN | SqlState::CRASH_SHUTDOWN | SqlState::CANNOT_CONNECT_NOW => {
            Cause::DbUnavailable
        }
        // Class 53 insufficient_resources (53300 too_many_connections, 53100 disk_full, ...)
        // and class 08 connection_exception.
        _ if state.code().starts_with("53") || state.code().starts_with("08") => {
            Cause::DbUnavailable
        }
        _ => Cause::InternalError,
    }
}

/// Whether a 28000 refusal is pg_hba's answer to a plaintext connection on a TLS-only rule
/// ("... no encryption"). SQLSTATE 28000 is shared with every other refusal, so the message
/// is the only signal; pinned by a test.
pub fn hba_rejects_plaintext(server_message: &str) -> bool {
    server_message.contains("no encryption")
}

/// The authentication method the server asked for, when tokio-postgres refused it: it says
/// "unsupported SASL mechanism" for SASL other than SCRAM-SHA-256 and "unsupported
/// authentication method" for GSSAPI, SSPI, Kerberos and SCM credentials, as boxed strings
/// that name no method. Pinned by a test.
pub fn unsupported_auth_method(text: &str) -> Option<&'static str> {
    if text.contains("unsupported SASL mechanism") {
        Some("sasl (a mechanism other than scram-sha-256)")
    } else if text.contains("unsupported authentication method") {
        Some("gss, sspi or kerberos (not a password method)")
    } else {
        None
    }
}

/// Whether the server answered the TLS request with "no": tokio-postgres reports that as a
/// boxed string, the only signal. Pinned by a test.
pub fn tls_not_offered(text: &str) -> bool {
    text.contains("server does not support TLS")
}

/// The phase a login's I/O error names.
fn io_phase(kind: ErrorKind, chain: &str) -> Phase {
    match kind {
        // A connection was made and then broken: the startup exchange was cut off.
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => Phase::Handshake,
        // std reports a failed name lookup as an uncategorised io::Error: its text is the
        // only signal. Any other failure before a connection existed is the connect phase.
        kind => Phase::of_io_kind(kind).unwrap_or(match Phase::from_text(chain) {
            Phase::Dns => Phase::Dns,
            _ => Phase::Connect,
        }),
    }
}

/// Any tokio-postgres error as a failure: a SQLSTATE through [`cause_of_sqlstate`]; at login,
/// the network, TLS and authentication failures; on an open session, the connection dropped.
/// `elapsed` is how long the login had been running.
pub fn failure(
    err: &tokio_postgres::Error,
    op: Operation,
    at: &Site<'_>,
    elapsed: Duration,
) -> Failure {
    match err.as_db_error() {
        Some(db) => server_failure(db, op, at),
        None if op == Operation::Login => login_failure(err, at, elapsed),
        // On an open session an error without a SQLSTATE is a broken connection.
        None => failure::dropped(at.host, op.as_str(), DbCode::ConnectionClosed)
            .with("statement_kind", op.as_str()),
    }
}

/// A SQLSTATE: at login, the evidence names the secret's facts to fix; on a statement, the
/// statement and the host.
fn server_failure(db: &DbError, op: Operation, at: &Site<'_>) -> Failure {
    let code = db.code().code();
    let server_message = db.message();
    let cause = match cause_of_sqlstate(db.code(), op) {
        Cause::DbAccessRuleMissing
            if at.tls == TlsMode::Plain && hba_rejects_plaintext(server_message) =>
        {
            Cause::DbTlsRequired
        }
        cause => cause,
    };
    let f = Failure::new(cause, message(cause, op, at, code, server_message))
        .db_code(DbCode::SqlState(code.to_string()))
        .with("server_message", server_message);
    if op != Operation::Login {
        return f
            .with("statement_kind", op.as_str())
            .with("operation", op.as_str())
            .with("host", at.host);
    }
    match cause {
        Cause::DbLoginFailed => f.with("user", at.user),
        Cause::DbTlsRequired | Cause::DbReadOnly | Cause::DbUnavailable => f.with("host", at.host),
        Cause::DbAccessRuleMissing => f.with("user", at.user).with("host", at.host),
        Cause::DbDatabaseMissing => f.with("dbname", at.database.unwrap_or("")),
        Cause::DbPermissionDenied => f.with("user", at.user).with("statement_kind", op.as_str()),
        Cause::FunctionTimeoutImminent => f.with("operation", op.as_str()),
        _ => f,
    }
}

/// The message of a SQLSTATE failure.
fn message(cause: Cause, op: Operation, at: &Site<'_>, code: &str, server: &str) -> String {
    let (host, user) = (at.host, at.user);
    match (cause, op) {
        (Cause::FunctionTimeoutImminent, Operation::Login) => {
            format!("{op} waited on a lock until the function deadline was near")
        }
        (Cause::FunctionTimeoutImminent, _) => {
            format!("{op} waited (on a lock) until the function deadline was near: {server}")
        }
        (_, op) if op != Operation::Login => format!("{op} failed: {server}"),
        (Cause::DbLoginFailed, _) => format!("PostgreSQL rejected the password of {user}"),
        (Cause::DbTlsRequired, _) => format!("PostgreSQL at {host} requires TLS for {user}"),
        (Cause::DbAccessRuleMissing, _) => {
            format!("PostgreSQL at {host} has no rule admitting {user} from here")
        }
        (Cause::DbDatabaseMissing, _) => "the secret's database does not exist".to_string(),
        (Cause::DbPermissionDenied, _) => format!("{user} may not {op}"),
        (Cause::DbReadOnly, _) => format!("{host} is read-only (a replica or reader)"),
        (Cause::DbUnavailable, _) => {
            format!("PostgreSQL at {host} is not accepting work right now")
        }
        (Cause::DbPasswordRejected, _) => "PostgreSQL refused the new password".to_string(),
        _ => format!("unexpected PostgreSQL error {code} during {op}"),
    }
}

/// A login that failed without a SQLSTATE.
fn login_failure(err: &tokio_postgres::Error, at: &Site<'_>, elapsed: Duration) -> Failure {
    // The evidence has always shown the causes below tokio-postgres's own "error ...".
    let chain = std::error::Error::source(err)
        .map(chain_text)
        .unwrap_or_default();
    let unreachable = |phase| {
        failure::unreachable(ENGINE, at.host, at.port, phase, elapsed).with("error", chain.as_str())
    };
    if err.is_closed() {
        return unreachable(Phase::Handshake);
    }
    if source_chain(err).any(|e| e.is::<native_tls::Error>()) {
        return match tls::verification_reason(&chain) {
            Some(reason) => Failure::new(
                Cause::DbTlsVerificationFailed,
                format!("the certificate of {} did not verify ({reason})", at.host),
            )
            .with("host", at.host)
            .tls_reason(reason)
            .with("tls_error", chain.as_str()),
            None => unreachable(Phase::Tls),
        };
    }
    if tls_not_offered(&chain) {
        return Failure::new(
            Cause::DbTlsUnavailable,
            format!(
                "\"ssl\" asks for TLS but PostgreSQL at {} does not offer it",
                at.host
            ),
        )
        .with("host", at.host);
    }
    if let Some(method) = unsupported_auth_method(&chain) {
        return Failure::new(
            Cause::DbAuthMethodUnsupported,
            format!(
                "PostgreSQL asks {} for an authentication method this client cannot perform",
                at.user
            ),
        )
        .auth_method(method)
        .with("user", at.user)
        .with("error", chain.as_str());
    }
    match source_chain(err).find_map(|e| e.downcast_ref::<std::io::Error>()) {
        Some(io) => unreachable(io_phase(io.kind(), &chain)),
        None => Failure::internal("login", err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_the_event_names() {
        use Operation::*;
        for (op, name) in [
            (Login, "login"),
            (SetTimeouts, "set_timeouts"),
            (Lock, "lock"),
            (AlterPassword, "alter_password"),
            (LookupRole, "lookup_role"),
            (CreateUser, "create_user"),
            (Grant, "grant"),
            (AlterRole, "alter_role"),
            (Select, "select"),
        ] {
            assert_eq!(op.as_str(), name);
        }
    }

    #[test]
    fn boxed_string_texts_are_pinned() {
        assert_eq!(
            unsupported_auth_method("unsupported authentication method"),
            Some("gss, sspi or kerberos (not a password method)")
        );
        assert!(unsupported_auth_method("unsupported SASL mechanism")
            .unwrap()
            .starts_with("sasl"));
        assert_eq!(unsupported_auth_method("password missing"), None);
        assert!(tls_not_offered("server does not support TLS"));
        assert!(!tls_not_offered("certificate verify failed"));
    }

    #[test]
    fn io_kinds_name_the_login_phase() {
        let refused = "Connection refused (os error 111)";
        assert_eq!(
            io_phase(ErrorKind::ConnectionRefused, refused),
            Phase::Connect
        );
        assert_eq!(
            io_phase(ErrorKind::TimedOut, "connection timed out"),
            Phase::Connect
        );
        assert_eq!(
            io_phase(ErrorKind::UnexpectedEof, "early eof"),
            Phase::Handshake
        );
        assert_eq!(
            io_phase(ErrorKind::ConnectionReset, "Connection reset by peer"),
            Phase::Handshake
        );
        // std's resolver error has no kind of its own.
        assert_eq!(
            io_phase(
                ErrorKind::Other,
                "failed to lookup address information: Name or service not known"
            ),
            Phase::Dns
        );
        assert_eq!(
            io_phase(ErrorKind::InvalidInput, "could not resolve any addresses"),
            Phase::Connect
        );
    }

    #[test]
    fn hba_plaintext_refusal_text_is_pinned() {
        // PostgreSQL 12+ wording (auth.c), for a `hostnossl ... reject` rule and for no rule.
        assert!(hba_rejects_plaintext(
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"u\", database \"postgres\", no encryption"
        ));
        assert!(hba_rejects_plaintext(
            "no pg_hba.conf entry for host \"10.0.0.5\", user \"u\", database \"app\", no encryption"
        ));
        assert!(!hba_rejects_plaintext(
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"u\", database \"postgres\", SSL encryption"
        ));
    }

    #[test]
    fn sqlstates_map_onto_causes() {
        use Operation::*;
        let cases = [
            ("28P01", Login, Cause::DbLoginFailed),
            ("28000", Login, Cause::DbAccessRuleMissing),
            ("3D000", Login, Cause::DbDatabaseMissing),
            ("42501", AlterPassword, Cause::DbPermissionDenied),
            ("25006", AlterPassword, Cause::DbReadOnly),
            ("55P03", AlterPassword, Cause::FunctionTimeoutImminent),
            ("57014", AlterPassword, Cause::FunctionTimeoutImminent),
            ("22023", AlterPassword, Cause::DbPasswordRejected),
            ("22023", Login, Cause::InternalError),
            ("55000", Login, Cause::DbUnavailable),
            ("55000", Select, Cause::InternalError),
            ("53300", Login, Cause::DbUnavailable),
            ("53100", AlterPassword, Cause::DbUnavailable),
            ("57P01", Select, Cause::DbUnavailable),
            ("57P03", Login, Cause::DbUnavailable),
            ("08006", Select, Cause::DbUnavailable),
            ("XX000", Select, Cause::InternalError),
        ];
        for (code, op, cause) in cases {
            assert_eq!(
                cause_of_sqlstate(&SqlState::from_code(code), op),
                cause,
                "{code} during {op}"
            );
        }
    }
}
