//! PostgreSQL: tokio-postgres over postgres-native-tls, SCRAM-SHA-256 login, and password
//! changes sent as a verifier computed here, so the plaintext never reaches SQL text or the
//! server's statement log.

use super::{quote_ident, tls, Attempt, DbOptions, TlsMode};
use crate::config::PgPasswordEncryption;
use crate::diagnosis::{Cause, DbCode, Deadline, Failure, Wait};
use crate::secret::Password;
use crate::telemetry;
use std::time::{Duration, Instant};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

/// An open connection; the driver task ends when it is dropped.
pub struct PgSession {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
    /// TLS mode in use.
    pub tls: TlsMode,
    /// The host logged in to (evidence of statement failures).
    host: String,
}

impl Drop for PgSession {
    fn drop(&mut self) {
        // Dropping the client ends the connection; aborting makes sure no socket lingers.
        self.task.abort();
    }
}

/// What a tokio-postgres error is, when it carries no SQLSTATE (its kinds are private; the
/// Display text of the kind is the only signal, and stays in this one function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// TCP (or DNS) could not connect.
    Connect,
    /// The server does not offer TLS.
    TlsNotOffered,
    /// The TLS handshake failed.
    Tls,
    /// The server asked for an authentication method the client cannot perform.
    Authentication,
    /// The connection was closed or broken.
    Closed,
    /// Timed out waiting for the server.
    Timeout,
    /// Anything else.
    Other,
}

/// Classifies by the text of the error and its first source (pinned by a test).
pub fn client_error_kind(display: &str, source: Option<&str>) -> ClientErrorKind {
    let source = source.unwrap_or("");
    if display.starts_with("error connecting to server") {
        ClientErrorKind::Connect
    } else if display.starts_with("error performing TLS handshake") {
        if source.contains("server does not support TLS") {
            ClientErrorKind::TlsNotOffered
        } else {
            ClientErrorKind::Tls
        }
    } else if display.starts_with("authentication error") {
        ClientErrorKind::Authentication
    } else if display.starts_with("connection closed")
        || display.starts_with("error communicating with the server")
    {
        ClientErrorKind::Closed
    } else if display.starts_with("timeout waiting for server") {
        ClientErrorKind::Timeout
    } else {
        ClientErrorKind::Other
    }
}

/// The authentication method the server asked for, from the text of tokio-postgres's
/// refusal: it says "unsupported SASL mechanism" for SASL other than SCRAM-SHA-256 and
/// "unsupported authentication method" for GSSAPI, SSPI, Kerberos and SCM credentials, and
/// names no method. Pinned by a test.
pub fn unsupported_auth_method(text: &str) -> &'static str {
    if text.contains("SASL") {
        "sasl (a mechanism other than scram-sha-256)"
    } else {
        "gss, sspi or kerberos (not a password method)"
    }
}

fn error_chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.join(": ")
}

/// Whether a 28000 refusal is pg_hba's answer to a plaintext connection on a TLS-only rule
/// ("... no encryption"). SQLSTATE 28000 is shared with every other refusal, so the message
/// is the only signal; pinned by a test.
pub fn hba_rejects_plaintext(server_message: &str) -> bool {
    server_message.contains("no encryption")
}

/// The one table from SQLSTATE to cause, for logins (`during` = `login`) and statements
/// (`during` = the statement kind, e.g. `alter_password`).
pub fn cause_of_sqlstate(state: &SqlState, during: &str) -> Cause {
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
        SqlState::INVALID_PARAMETER_VALUE if during == "alter_password" => {
            Cause::DbPasswordRejected
        }
        // 55000 object_not_in_prerequisite_state at login: the database does not accept
        // connections right now (ALLOW_CONNECTIONS false).
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE if during == "login" => Cause::DbUnavailable,
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

/// Maps a server (SQLSTATE) error during login onto a cause, with the evidence causes.md
/// lists for it. `during` says what was running.
pub fn classify_db_error(
    db: &tokio_postgres::error::DbError,
    a: &Attempt<'_>,
    during: &'static str,
) -> Failure {
    let code = db.code().code();
    let server_message = db.message().to_string();
    let s = a.secret;
    let mut cause = cause_of_sqlstate(db.code(), during);
    if cause == Cause::DbAccessRuleMissing
        && a.tls == TlsMode::Plain
        && hba_rejects_plaintext(&server_message)
    {
        cause = Cause::DbTlsRequired;
    }
    let message = match cause {
        Cause::DbLoginFailed => format!("PostgreSQL rejected the password of {}", s.username),
        Cause::DbTlsRequired => {
            format!("PostgreSQL at {} requires TLS for {}", s.host, s.username)
        }
        Cause::DbAccessRuleMissing => format!(
            "PostgreSQL at {} has no rule admitting {} from here",
            s.host, s.username
        ),
        Cause::DbDatabaseMissing => "the secret's database does not exist".to_string(),
        Cause::DbPermissionDenied => format!("{} may not {during}", s.username),
        Cause::DbReadOnly => format!("{} is read-only (a replica or reader)", s.host),
        Cause::FunctionTimeoutImminent => {
            format!("{during} waited on a lock until the function deadline was near")
        }
        Cause::DbUnavailable => {
            format!("PostgreSQL at {} is not accepting work right now", s.host)
        }
        Cause::DbPasswordRejected => "PostgreSQL refused the new password".to_string(),
        _ => format!("unexpected PostgreSQL error {code} during {during}"),
    };
    let f = Failure::new(cause, message)
        .db_code(DbCode::SqlState(code.to_string()))
        .with("server_message", server_message.as_str());
    match cause {
        Cause::DbLoginFailed => f.with("user", s.username.as_str()),
        Cause::DbTlsRequired | Cause::DbReadOnly | Cause::DbUnavailable => {
            f.with("host", s.host.as_str())
        }
        Cause::DbAccessRuleMissing => f
            .with("user", s.username.as_str())
            .with("host", s.host.as_str()),
        Cause::DbDatabaseMissing => f.with("dbname", s.database().unwrap_or("")),
        Cause::DbPermissionDenied => f
            .with("user", s.username.as_str())
            .with("statement_kind", during),
        Cause::FunctionTimeoutImminent => f.with("operation", during),
        _ => f,
    }
}

/// Maps any tokio-postgres error onto a cause.
pub fn classify(
    err: &tokio_postgres::Error,
    a: &Attempt<'_>,
    during: &'static str,
    elapsed: Duration,
) -> Failure {
    if let Some(db) = err.as_db_error() {
        return classify_db_error(db, a, during);
    }
    let s = a.secret;
    let chain = error_chain_text(err);
    let first_source = std::error::Error::source(err).map(|e| e.to_string());
    let elapsed_ms = elapsed.as_millis() as u64;
    let unreachable = |phase: &str| {
        Failure::new(
            Cause::DbUnreachable,
            format!("cannot reach PostgreSQL at {}:{} ({phase})", s.host, s.port),
        )
        .with("host", s.host.as_str())
        .with("port", s.port)
        .with("phase", phase)
        .with("elapsed_ms", elapsed_ms)
    };
    match client_error_kind(&err.to_string(), first_source.as_deref()) {
        ClientErrorKind::Connect | ClientErrorKind::Timeout => {
            let phase = match crate::net::Phase::from_text(&chain).as_str() {
                "dns" => "dns",
                _ => "connect",
            };
            unreachable(phase).with("error", chain.as_str())
        }
        ClientErrorKind::TlsNotOffered => Failure::new(
            Cause::DbTlsUnavailable,
            format!(
                "\"ssl\" asks for TLS but PostgreSQL at {} does not offer it",
                s.host
            ),
        )
        .with("host", s.host.as_str()),
        ClientErrorKind::Tls => match tls::verification_reason(&chain) {
            Some(reason) => Failure::new(
                Cause::DbTlsVerificationFailed,
                format!("the certificate of {} did not verify ({reason})", s.host),
            )
            .with("host", s.host.as_str())
            .tls_reason(reason)
            .with("tls_error", chain.as_str()),
            None => unreachable("tls").with("error", chain.as_str()),
        },
        ClientErrorKind::Authentication => {
            let method = unsupported_auth_method(&chain);
            Failure::new(
                Cause::DbAuthMethodUnsupported,
                format!(
                    "PostgreSQL asks {} for an authentication method this client cannot perform",
                    s.username
                ),
            )
            .with("method", method)
            .with("user", s.username.as_str())
            .with("error", chain.as_str())
        }
        ClientErrorKind::Closed if during == "login" => {
            unreachable("handshake").with("error", chain.as_str())
        }
        ClientErrorKind::Closed => Failure::new(
            Cause::DbUnavailable,
            format!("the connection to {} dropped during {during}", s.host),
        )
        .with("host", s.host.as_str())
        .db_code(DbCode::ConnectionClosed),
        ClientErrorKind::Other => Failure::internal(during, err),
    }
}

/// Connects and logs in once, in the given TLS mode.
pub async fn connect(
    a: Attempt<'_>,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<PgSession, Failure> {
    let s = a.secret;
    let per_attempt = deadline.cap(opts.connect_timeout);
    let mut config = tokio_postgres::Config::new();
    config
        .host(&s.host)
        .port(s.port)
        .user(&s.username)
        .password(s.password.expose())
        .application_name("db-secret-rotator")
        .connect_timeout(per_attempt)
        .ssl_mode(match a.tls {
            TlsMode::Verified => SslMode::Require,
            TlsMode::Plain => SslMode::Disable,
        });
    if let Some(db) = s.database() {
        config.dbname(db);
    }
    let connector = postgres_native_tls::MakeTlsConnector::new(opts.anchors.connector()?);
    let started = Instant::now();
    let wait = Wait::DbConnect {
        host: s.host.clone(),
        port: s.port,
    };
    deadline
        .run(wait, async {
            // connect_timeout bounds TCP; this bounds TLS and authentication too.
            match tokio::time::timeout(
                per_attempt + Duration::from_millis(50),
                config.connect(connector),
            )
            .await
            {
                Ok(Ok((client, connection))) => {
                    let task = tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    Ok(PgSession {
                        client,
                        task,
                        tls: a.tls,
                        host: s.host.clone(),
                    })
                }
                Ok(Err(e)) => Err(classify(&e, &a, "login", started.elapsed())),
                Err(_) => Err(Failure::new(
                    Cause::DbUnreachable,
                    format!(
                        "PostgreSQL at {}:{} did not complete the login handshake in time",
                        s.host, s.port
                    ),
                )
                .with("host", s.host.as_str())
                .with("port", s.port)
                .with("phase", "handshake")
                .with("elapsed_ms", started.elapsed().as_millis() as u64)),
            }
        })
        .await
        .map_err(|f| f.with("user", s.username.as_str()))
}

/// Quotes a string literal (standard_conforming_strings on, as since PostgreSQL 9.1; the
/// E'' form makes backslashes safe either way).
pub fn quote_literal(value: &str) -> String {
    let mut out = String::from("E'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl PgSession {
    async fn statement(
        &self,
        deadline: &Deadline,
        operation: &'static str,
        sql: &str,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        deadline
            .run(Wait::DbStatement { operation }, async {
                self.client.batch_execute(sql).await.map_err(|e| {
                    self.in_context(pg_statement_failure(&e, operation), started, deadline)
                })
            })
            .await
    }

    /// Adds what the session knows to a statement failure: the host, and for a wait cut
    /// short, how long it waited and how much time was left.
    fn in_context(&self, f: Failure, started: Instant, deadline: &Deadline) -> Failure {
        let f = f.with("host", self.host.as_str());
        if f.cause == Cause::FunctionTimeoutImminent {
            f.with("elapsed_ms", started.elapsed().as_millis() as u64)
                .with("remaining_ms", deadline.remaining().as_millis() as u64)
        } else {
            f
        }
    }

    /// Keeps a lock wait from outliving the deadline: the server cancels the statement itself,
    /// a little before the watchdog would. A wait the watchdog cut short would only drop the
    /// connection, and a backend waiting on a lock does not notice that: its ALTER ROLE would
    /// still run once the lock is released, after the step has reported failure.
    async fn bound_statements(&self, deadline: &Deadline) -> Result<(), Failure> {
        const SERVER_FIRST: Duration = Duration::from_millis(200);
        let ms = deadline
            .budget()
            .saturating_sub(SERVER_FIRST)
            .as_millis()
            .max(1);
        self.statement(
            deadline,
            "set_timeouts",
            &format!("SET lock_timeout = {ms}; SET statement_timeout = {ms}"),
        )
        .await
    }

    /// Sets the password of `user` as a verifier computed here.
    pub async fn set_password(
        &mut self,
        user: &str,
        new: &Password,
        encryption: PgPasswordEncryption,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
        let (verifier, method) = match encryption {
            PgPasswordEncryption::ScramSha256 => (
                super::scram::verifier(new.expose())?,
                "scram-sha-256 verifier",
            ),
            PgPasswordEncryption::Md5 => (
                postgres_protocol::password::md5(new.expose().as_bytes(), user),
                "md5 hash",
            ),
        };
        self.bound_statements(deadline).await?;
        // Two setSecrets at once (Secrets Manager retries a step it thinks timed out) would
        // otherwise both update the role's catalog row, and one fails with "tuple
        // concurrently updated" (XX000). The second waits here, then sets the same password;
        // the lock ends with the session.
        self.statement(
            deadline,
            "lock",
            &format!(
                "SELECT pg_advisory_lock(hashtext({}))",
                quote_literal(&format!("db-secret-rotator password {user}"))
            ),
        )
        .await?;
        let sql = format!(
            "ALTER ROLE {} WITH PASSWORD {}",
            quote_ident(user, '"'),
            quote_literal(&verifier)
        );
        self.statement(deadline, "alter_password", &sql).await?;
        telemetry::password_changed(user, method);
        Ok(method)
    }

    /// `SELECT 1`.
    pub async fn check(&mut self, deadline: &Deadline) -> Result<(), Failure> {
        self.statement(deadline, "select", "SELECT 1").await
    }
}

/// A failed statement on an open session: only the SQLSTATE matters here (the same table as
/// for logins, [`cause_of_sqlstate`]).
fn pg_statement_failure(err: &tokio_postgres::Error, operation: &'static str) -> Failure {
    match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let cause = cause_of_sqlstate(db.code(), operation);
            let message = match cause {
                Cause::FunctionTimeoutImminent => format!(
                    "{operation} waited (on a lock) until the function deadline was near: {}",
                    db.message()
                ),
                _ => format!("{operation} failed: {}", db.message()),
            };
            Failure::new(cause, message)
                .db_code(DbCode::SqlState(code.to_string()))
                .with("statement_kind", operation)
                .with("operation", operation)
                .with("server_message", db.message())
        }
        None => Failure::new(
            Cause::DbUnavailable,
            format!("the connection dropped during {operation}"),
        )
        .db_code(DbCode::ConnectionClosed)
        .with("statement_kind", operation),
    }
}

// ---------------------------------------------------------------- alternating users

/// Alternating users on PostgreSQL, run as the master.
///
/// The clone is a member of the original role (`GRANT original TO clone`) and its sessions
/// act as the original (`ALTER ROLE clone SET role = 'original'`). So privileges never need
/// copying (membership carries them, including those granted later), pg_hba group rules
/// (`+group`, which match indirect members) apply to the clone as they do to the original,
/// and every object the clone creates is owned by the original: ownership never drifts
/// between the two users. The original is never made a member of the clone; when the
/// pending user is the original, only its password changes.
impl PgSession {
    async fn role_exists(&self, deadline: &Deadline, role: &str) -> Result<bool, Failure> {
        deadline
            .run(
                Wait::DbStatement {
                    operation: "lookup_role",
                },
                async {
                    self.client
                        .query_opt(
                            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                            &[&role],
                        )
                        .await
                        .map(|row| row.is_some())
                        .map_err(|e| pg_statement_failure(&e, "lookup_role"))
                },
            )
            .await
    }

    /// `CREATE ROLE clone LOGIN` (no password yet: a role without one cannot log in with a
    /// password). Another setSecret creating it at the same moment is not an error.
    async fn create_login_role(&self, deadline: &Deadline, role: &str) -> Result<bool, Failure> {
        let sql = format!("CREATE ROLE {} LOGIN", quote_ident(role, '"'));
        deadline
            .run(
                Wait::DbStatement {
                    operation: "create_user",
                },
                async {
                    match self.client.batch_execute(&sql).await {
                        Ok(()) => Ok(true),
                        // 42710 duplicate_object: created concurrently.
                        Err(e) if e.code() == Some(&SqlState::DUPLICATE_OBJECT) => Ok(false),
                        Err(e) => Err(pg_statement_failure(&e, "create_user")),
                    }
                },
            )
            .await
    }

    /// Makes the pending user of an alternating pair ready: creates the clone if missing,
    /// keeps its membership and role setting in place, and sets the pending password unless
    /// it already logs in.
    pub async fn ensure_alternate_user(
        &mut self,
        user: &super::AlternateUser<'_>,
        encryption: PgPasswordEncryption,
        deadline: &Deadline,
    ) -> Result<super::AlternateChange, Failure> {
        self.bound_statements(deadline).await?;
        let original = user.original();
        // Two setSecrets at once (Secrets Manager retries) would otherwise race on the same
        // catalog rows ("tuple concurrently updated"); the lock ends with the session.
        self.statement(
            deadline,
            "lock",
            &format!(
                "SELECT pg_advisory_lock(hashtext({}))",
                quote_literal(&format!("db-secret-rotator alternating {original}"))
            ),
        )
        .await?;
        if !self.role_exists(deadline, original).await? {
            return Err(Failure::new(
                Cause::DbAccessRuleMissing,
                format!("the role {original} does not exist: there is nothing to alternate with"),
            )
            .with("user", original)
            .with("server_message", "role does not exist")
            .remedy(format!(
                "Create the role {original} again (with its privileges), or point the secret at an existing user."
            )));
        }
        let mut created = false;
        if user.pending_is_clone() {
            let clone = user.pending;
            if !self.role_exists(deadline, clone).await? {
                created = self.create_login_role(deadline, clone).await?;
            }
            self.statement(
                deadline,
                "grant",
                &format!(
                    "GRANT {} TO {}",
                    quote_ident(original, '"'),
                    quote_ident(clone, '"')
                ),
            )
            .await?;
            self.statement(
                deadline,
                "alter_role",
                &format!(
                    "ALTER ROLE {} SET role = {}",
                    quote_ident(clone, '"'),
                    quote_literal(original)
                ),
            )
            .await?;
        }
        let password_changed = created || !user.password_in_place;
        if password_changed {
            self.set_password(user.pending, user.password, encryption, deadline)
                .await?;
        }
        Ok(super::AlternateChange {
            created,
            password_changed,
        })
    }

    /// Whether the logged-in user may create roles and manage memberships (CREATEROLE or
    /// superuser).
    pub async fn can_manage_users(&mut self, deadline: &Deadline) -> Result<bool, Failure> {
        deadline
            .run(
                Wait::DbStatement {
                    operation: "lookup_role",
                },
                async {
                    self.client
                        .query_one(
                            "SELECT rolcreaterole OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                            &[],
                        )
                        .await
                        .map(|row| row.get::<_, bool>(0))
                        .map_err(|e| pg_statement_failure(&e, "lookup_role"))
                },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_error_texts_are_pinned() {
        use ClientErrorKind::*;
        assert_eq!(
            client_error_kind(
                "error connecting to server: Connection refused (os error 111)",
                None
            ),
            Connect
        );
        assert_eq!(
            client_error_kind(
                "error performing TLS handshake: server does not support TLS",
                Some("server does not support TLS")
            ),
            TlsNotOffered
        );
        assert_eq!(
            client_error_kind(
                "error performing TLS handshake",
                Some("certificate verify failed")
            ),
            Tls
        );
        assert_eq!(
            client_error_kind(
                "authentication error: unsupported authentication method",
                Some("unsupported authentication method")
            ),
            Authentication
        );
        assert_eq!(client_error_kind("connection closed", None), Closed);
        assert_eq!(client_error_kind("db error", None), Other);
    }

    #[test]
    fn unsupported_auth_method_text_is_pinned() {
        assert_eq!(
            unsupported_auth_method("unsupported authentication method"),
            "gss, sspi or kerberos (not a password method)"
        );
        assert!(unsupported_auth_method("unsupported SASL mechanism").starts_with("sasl"));
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
        let cases = [
            ("28P01", "login", Cause::DbLoginFailed),
            ("28000", "login", Cause::DbAccessRuleMissing),
            ("3D000", "login", Cause::DbDatabaseMissing),
            ("42501", "alter_password", Cause::DbPermissionDenied),
            ("25006", "alter_password", Cause::DbReadOnly),
            ("55P03", "alter_password", Cause::FunctionTimeoutImminent),
            ("57014", "alter_password", Cause::FunctionTimeoutImminent),
            ("22023", "alter_password", Cause::DbPasswordRejected),
            ("22023", "login", Cause::InternalError),
            ("55000", "login", Cause::DbUnavailable),
            ("53300", "login", Cause::DbUnavailable),
            ("53100", "alter_password", Cause::DbUnavailable),
            ("57P01", "select", Cause::DbUnavailable),
            ("57P03", "login", Cause::DbUnavailable),
            ("08006", "select", Cause::DbUnavailable),
            ("XX000", "select", Cause::InternalError),
        ];
        for (code, during, cause) in cases {
            assert_eq!(
                cause_of_sqlstate(&SqlState::from_code(code), during),
                cause,
                "{code} during {during}"
            );
        }
    }

    #[test]
    fn literals_and_identifiers_are_quoted() {
        assert_eq!(quote_literal("a'b\\c"), "E'a''b\\\\c'");
        assert_eq!(quote_ident("we\"ird%User", '"'), "\"we\"\"ird%User\"");
    }
}
