//! The [`Failure`] every fallible operation returns: its [`Cause`], a one-line message, the
//! remedy, the evidence (output only) and the typed [`Signals`] code decides on; and the
//! [`Finding`] table (`finding.rs`) of what is worth a look but fails nothing.
//!
//! Drivers and adapters classify their own errors (`db::postgres`, `db::mysql`,
//! `store::classify`) and build a [`Failure`] here; nothing above them inspects error text.

pub mod cause;
pub mod finding;

pub use cause::Cause;
pub use finding::Finding;
use serde_json::{Map, Value};
use std::fmt;

/// Facts observed while failing: codes, phases, timings, stage labels. Never a secret value.
pub type Evidence = Map<String, Value>;

/// A classified failure: the cause, a one-line summary, the remedy and the evidence.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{cause}: {message}")]
pub struct Failure {
    /// The documented cause.
    pub cause: Cause,
    /// One human sentence (no secret values).
    pub message: String,
    /// The remedy: the cause's default unless a more specific one applies.
    pub remedy: String,
    /// Observed facts (boxed: failures travel in every `Result` and should stay small).
    /// Output only: code never reads it back to decide; it decides on [`Failure::signals`].
    pub evidence: Box<Evidence>,
    /// The typed facts code may decide on.
    pub signals: Box<Signals>,
}

/// The typed facts of a failure that code may decide on (retry, fall back, re-classify).
/// Each setter on [`Failure`] also writes the fact into the evidence, under the key events
/// have always used, so the output does not depend on which of the two a caller reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// The AWS error code of a service's answer (`ResourceExistsException`).
    pub aws_code: Option<String>,
    /// The database server's error code.
    pub db_code: Option<DbCode>,
    /// Where a network connection failed.
    pub phase: Option<crate::net::Phase>,
    /// The authentication method (plugin) the server asked for, when the client could not
    /// perform it.
    pub auth_method: Option<String>,
    /// Why the server's certificate did not verify.
    pub tls_reason: Option<TlsReason>,
    /// The deadline watchdog cut the wait short.
    pub cut_by_deadline: bool,
}

/// Why a database server's certificate did not verify (the `reason` of
/// `db_tls_verification_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsReason {
    /// The certificate names another host (or the secret's host is an IP address or a CNAME).
    HostnameMismatch,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// The chain does not end at a trusted CA: the anchor is missing from `DB_CA_BUNDLE` and
    /// the system roots.
    UntrustedCa,
    /// Any other verification failure (or an unusable `DB_CA_BUNDLE`).
    Other,
}

impl TlsReason {
    /// The name in events (`"reason"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TlsReason::HostnameMismatch => "hostname_mismatch",
            TlsReason::Expired => "expired",
            TlsReason::UntrustedCa => "untrusted_ca",
            TlsReason::Other => "other",
        }
    }
}

impl fmt::Display for TlsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TlsReason> for Value {
    fn from(reason: TlsReason) -> Value {
        Value::String(reason.as_str().to_string())
    }
}

/// A database server's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCode {
    /// A PostgreSQL SQLSTATE (`28P01`).
    SqlState(String),
    /// A MySQL or MariaDB server error number (`1045`).
    MySql(u16),
    /// The server closed the connection without an error code.
    ConnectionClosed,
}

impl DbCode {
    /// The value in the evidence's `code` field.
    pub fn to_value(&self) -> Value {
        match self {
            DbCode::SqlState(s) => Value::String(s.clone()),
            DbCode::MySql(n) => Value::from(*n),
            DbCode::ConnectionClosed => Value::String("connection_closed".into()),
        }
    }
}

impl Failure {
    /// A failure with the cause's default remedy and no evidence yet.
    pub fn new(cause: Cause, message: impl Into<String>) -> Self {
        Failure {
            cause,
            message: message.into(),
            remedy: cause.remedy().to_string(),
            evidence: Box::default(),
            signals: Box::default(),
        }
    }

    /// Records the AWS error code (evidence `aws_error_code`).
    pub fn aws_code(mut self, code: &str) -> Self {
        self.signals.aws_code = Some(code.to_string());
        self.with("aws_error_code", code)
    }

    /// Records the database server's error code (evidence `code`).
    pub fn db_code(mut self, code: DbCode) -> Self {
        let value = code.to_value();
        self.signals.db_code = Some(code);
        self.with("code", value)
    }

    /// Records the network phase a connection failed in (evidence `phase`).
    pub fn phase(mut self, phase: crate::net::Phase) -> Self {
        self.signals.phase = Some(phase);
        self.with("phase", phase.as_str())
    }

    /// Records the authentication method the server asked for (evidence `method`).
    pub fn auth_method(mut self, method: &str) -> Self {
        self.signals.auth_method = Some(method.to_string());
        self.with("method", method)
    }

    /// Records why the certificate did not verify (evidence `reason`).
    pub fn tls_reason(mut self, reason: TlsReason) -> Self {
        self.signals.tls_reason = Some(reason);
        self.with("reason", reason)
    }

    /// Marks the failure as cut short by the deadline (evidence `"deadline": true`).
    pub fn cut_by_deadline(mut self) -> Self {
        self.signals.cut_by_deadline = true;
        self.with("deadline", true)
    }

    /// Whether the AWS error code is `code`.
    pub fn is_aws_code(&self, code: &str) -> bool {
        self.signals.aws_code.as_deref() == Some(code)
    }

    /// Whether the MySQL/MariaDB server error number is `code`.
    pub fn is_mysql_code(&self, code: u16) -> bool {
        self.signals.db_code == Some(DbCode::MySql(code))
    }

    /// Adds one evidence field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }

    /// Replaces the remedy with a more specific one.
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = remedy.into();
        self
    }

    /// An unclassified error: its chain (already free of secrets) becomes the evidence.
    pub fn internal(context: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let chain = crate::net::source_chain(err)
            .map(|e| Value::String(e.to_string()))
            .collect();
        Failure::new(Cause::InternalError, format!("{context}: unexpected error"))
            .with("error_chain", Value::Array(chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_setter_also_writes_its_evidence_key() {
        let f = Failure::new(Cause::DbTlsVerificationFailed, "x")
            .tls_reason(TlsReason::UntrustedCa)
            .auth_method("sha256_password")
            .db_code(DbCode::MySql(1045))
            .cut_by_deadline();
        assert_eq!(f.signals.tls_reason, Some(TlsReason::UntrustedCa));
        assert_eq!(f.evidence["reason"], "untrusted_ca");
        assert_eq!(f.signals.auth_method.as_deref(), Some("sha256_password"));
        assert_eq!(f.evidence["method"], "sha256_password");
        assert!(f.is_mysql_code(1045));
        assert_eq!(f.evidence["code"], 1045);
        assert!(f.signals.cut_by_deadline);
        assert_eq!(f.evidence["deadline"], true);
    }
}
