//! Database drivers behind one small interface: connect (with the `ssl` key's semantics),
//! change a password, run a trivial query. Each driver classifies its own errors.

pub mod failure;
pub mod mysql;
pub mod postgres;
pub mod tls;

use crate::config::{PgPasswordEncryption, TlsFallback};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{DbSecret, EngineFamily, Password, SecretRole, SslSetting};
use crate::telemetry;
use serde_json::{json, Value};
use std::time::Duration;
pub use tls::TrustAnchors;

/// Connection settings: those every driver uses, then each engine's own.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `DB_CONNECT_TIMEOUT_MS`, cut to the deadline on every attempt.
    pub connect_timeout: Duration,
    /// System roots plus `DB_CA_BUNDLE`.
    pub anchors: TrustAnchors,
    /// `TLS_FALLBACK`.
    pub tls_fallback: TlsFallback,
    /// PostgreSQL only.
    pub postgres: PgOptions,
    /// MySQL and MariaDB only.
    pub mysql: MySqlOptions,
}

impl DbOptions {
    /// The options the settings give, with the trust anchors already read.
    pub fn from_settings(settings: &crate::config::Settings, anchors: TrustAnchors) -> DbOptions {
        DbOptions {
            connect_timeout: settings.db_connect_timeout,
            anchors,
            tls_fallback: settings.tls_fallback,
            postgres: PgOptions {
                password_encryption: settings.pg_password_encryption,
            },
            mysql: MySqlOptions {
                dual_password: settings.mysql_dual_password,
            },
        }
    }
}

/// Settings only the PostgreSQL driver reads.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// `PG_PASSWORD_ENCRYPTION`: how the verifier is computed client-side.
    pub password_encryption: PgPasswordEncryption,
}

/// Settings only the MySQL / MariaDB driver reads.
#[derive(Debug, Clone, Copy)]
pub struct MySqlOptions {
    /// `MYSQL_DUAL_PASSWORD`: single-user changes keep the replaced password as secondary.
    pub dual_password: bool,
}

/// The TLS mode of one connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS with chain and host name verified.
    Verified,
    /// Plaintext.
    Plain,
}

impl TlsMode {
    /// The `tls` field of `db_connected` and of login attempts.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Verified => "verified",
            TlsMode::Plain => "none",
        }
    }
}

/// Who is logging in where: the secret, which stage it came from, how.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The credentials and address.
    pub secret: &'a DbSecret,
    /// Which stage's credentials (the `secret` field of events).
    pub role: SecretRole,
    /// TLS or not.
    pub tls: TlsMode,
}

/// An open, logged-in connection.
pub enum Session {
    /// PostgreSQL.
    Postgres(postgres::PgSession),
    /// MySQL or MariaDB.
    MySql(mysql::MySession),
}

impl Session {
    /// Changes the password of `user` (the logged-in user, or another one as the master).
    pub async fn set_password(
        &mut self,
        user: &str,
        new: &Password,
        opts: &DbOptions,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
        match self {
            Session::Postgres(_) if opts.mysql.dual_password => Err(
                mysql::dual_password_unsupported(None)
                    .with("server_version", "PostgreSQL")
                    .remedy("MYSQL_DUAL_PASSWORD applies to MySQL 8.0.14 or later only: unset it for this function (PostgreSQL has no dual passwords; use alternating users for zero downtime)."),
            ),
            Session::Postgres(s) => {
                s.set_password(user, new, opts.postgres.password_encryption, deadline)
                    .await
            }
            Session::MySql(s) => {
                s.set_password(
                    user,
                    new,
                    mysql::password::OldPassword::from_dual_password_setting(opts.mysql.dual_password),
                    deadline,
                )
                    .await
            }
        }
    }

    /// Runs a trivial query.
    pub async fn check(&mut self, deadline: &Deadline) -> Result<(), Failure> {
        match self {
            Session::Postgres(s) => s.check(deadline).await,
            Session::MySql(s) => s.check(deadline).await,
        }
    }

    /// The TLS mode the session uses.
    pub fn tls(&self) -> TlsMode {
        match self {
            Session::Postgres(s) => s.tls,
            Session::MySql(s) => s.tls,
        }
    }

    /// The authentication method of the logged-in account, when known (`db_connected`).
    pub fn auth(&self) -> Option<&str> {
        match self {
            Session::Postgres(_) => None,
            Session::MySql(s) => s.auth(),
        }
    }
}

async fn attempt(
    a: Attempt<'_>,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<Session, Failure> {
    let started = std::time::Instant::now();
    let result = match a.secret.family {
        EngineFamily::Postgres => postgres::connect(a, opts, deadline)
            .await
            .map(Session::Postgres),
        EngineFamily::MySql => mysql::connect(a, opts, deadline).await.map(Session::MySql),
    };
    match result {
        Ok(session) => {
            telemetry::db_connected(&telemetry::Connected {
                engine: a.secret.family.as_str(),
                host: &a.secret.host,
                port: a.secret.port,
                user: &a.secret.username,
                secret: a.role.as_str(),
                tls: a.tls.as_str(),
                auth: session.auth(),
                duration_ms: started.elapsed().as_millis() as u64,
            });
            Ok(session)
        }
        Err(f) => {
            // A refused attempt is still a connection (TCP, maybe TLS): counted by the
            // benchmark and the call budget, visible at DEBUG.
            tracing::debug!(
                event = "db_connect_failed",
                engine = a.secret.family.as_str(),
                host = a.secret.host.as_str(),
                port = a.secret.port,
                user = a.secret.username.as_str(),
                secret = a.role.as_str(),
                tls = a.tls.as_str(),
                cause = f.cause.code(),
                duration_ms = started.elapsed().as_millis() as u64,
                "login to {} as {} with the {} secret failed: {}",
                a.secret.host,
                a.secret.username,
                a.role.as_str(),
                f.cause
            );
            Err(f
                .with("secret", a.role.as_str())
                .with("tls_mode_used", a.tls.as_str()))
        }
    }
}

fn is_tls_failure(f: &Failure) -> bool {
    matches!(
        f.cause,
        Cause::DbTlsUnavailable | Cause::DbTlsVerificationFailed
    )
}

/// Logs in with `secret` as `role`, following its `ssl` key:
/// - `true`: TLS, chain and host name verified;
/// - `false`: plaintext;
/// - absent: TLS first; plaintext only after a TLS failure (never after an authentication
///   failure), reported as a `tls_downgraded` finding, and refused when `TLS_FALLBACK=deny`.
///
/// A plaintext login refused like a wrong password is retried once over TLS purely as a
/// diagnostic: servers that require TLS for an account (MariaDB REQUIRE SSL) say 1045, exactly
/// as for a wrong password; if TLS logs in, the cause is `db_tls_required`.
///
/// A transient refusal (`db_unavailable`: too many connections, server starting or stopping)
/// is retried with backoff while the budget allows another attempt.
pub async fn connect(
    secret: &DbSecret,
    role: SecretRole,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<Session, Failure> {
    let mut backoff = Duration::from_millis(200);
    let mut tries = 1u64;
    loop {
        match connect_once(secret, role, opts, deadline).await {
            Err(f) if f.cause == Cause::DbUnavailable && tries < 5 => {
                // Only when a whole attempt still fits after the pause.
                if deadline.budget() <= backoff + opts.connect_timeout.min(Duration::from_secs(2)) {
                    return Err(f.with("tries", tries));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                tries += 1;
            }
            Err(f) if tries > 1 => return Err(f.with("tries", tries)),
            other => return other,
        }
    }
}

async fn connect_once(
    secret: &DbSecret,
    role: SecretRole,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<Session, Failure> {
    let with = |tls| Attempt { secret, role, tls };
    match secret.ssl {
        SslSetting::Required => attempt(with(TlsMode::Verified), opts, deadline).await,
        SslSetting::Disabled => {
            let plain = attempt(with(TlsMode::Plain), opts, deadline).await;
            probe_tls_required(plain, with(TlsMode::Verified), opts, deadline).await
        }
        SslSetting::Absent => match attempt(with(TlsMode::Verified), opts, deadline).await {
            Err(tls_failure) if is_tls_failure(&tls_failure) => {
                if opts.tls_fallback == TlsFallback::Deny {
                    return Err(tls_failure.with("tls_fallback", "deny"));
                }
                let mut evidence = serde_json::Map::new();
                evidence.insert("host".into(), secret.host.as_str().into());
                evidence.insert("port".into(), secret.port.into());
                evidence.insert("secret".into(), role.as_str().into());
                evidence.insert("tls_failure".into(), tls_failure.cause.code().into());
                if let Some(reason) = tls_failure.evidence.get("reason") {
                    evidence.insert("reason".into(), reason.clone());
                }
                telemetry::finding(
                    crate::failure::Finding::TlsDowngraded.code(),
                    "the secret has no ssl key and TLS failed: falling back to plaintext (set \"ssl\": true to forbid this)",
                    &evidence,
                );
                match attempt(with(TlsMode::Plain), opts, deadline).await {
                    Ok(session) => Ok(session),
                    // The server wants TLS and TLS failed: the TLS failure is what to fix.
                    Err(plain) if plain.cause == Cause::DbTlsRequired => Err(tls_failure),
                    Err(plain) => Err(plain),
                }
            }
            other => other,
        },
    }
}

async fn probe_tls_required(
    plain: Result<Session, Failure>,
    tls: Attempt<'_>,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<Session, Failure> {
    let failure = match plain {
        Err(f) if f.cause == Cause::DbLoginFailed => f,
        other => return other,
    };
    // Only a diagnostic: the session is closed at once, whatever happens.
    match attempt(tls, opts, deadline).await {
        Ok(session) => {
            drop(session);
            let server_message = failure
                .evidence
                .get("server_message")
                .cloned()
                .unwrap_or(Value::Null);
            Err(Failure::new(
                Cause::DbTlsRequired,
                format!(
                    "{} refuses {} without TLS (the same credentials log in over TLS)",
                    tls.secret.host, tls.secret.username
                ),
            )
            .with("host", tls.secret.host.as_str())
            .with("user", tls.secret.username.as_str())
            .with("tls_mode_used", "none")
            .with("server_message", server_message)
            .with("probe", json!({"tls": "verified", "outcome": "login_ok"})))
        }
        Err(_) => Err(failure),
    }
}

/// Quotes an identifier for SQL (PostgreSQL `"`, MySQL/MariaDB backtick).
pub fn quote_ident(name: &str, quote: char) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push(quote);
    for c in name.chars() {
        if c == quote {
            out.push(quote);
        }
        out.push(c);
    }
    out.push(quote);
    out
}

// ---------------------------------------------------------------- alternating users

/// The pending user of an alternating pair, as the master makes it ready in setSecret.
#[derive(Debug, Clone, Copy)]
pub struct AlternateUser<'a> {
    /// The user of AWSCURRENT: the one whose privileges the pending user must have.
    pub current: &'a str,
    /// The user of AWSPENDING: `current` with `_clone` appended, or with it stripped.
    pub pending: &'a str,
    /// The pending password.
    pub password: &'a Password,
    /// The pending password already logs in: keep it, bring only the privileges in step.
    pub password_in_place: bool,
}

impl AlternateUser<'_> {
    /// The user of the pair without the `_clone` suffix: it owns the objects.
    pub fn original(&self) -> &str {
        if self.pending_is_clone() {
            self.current
        } else {
            self.pending
        }
    }

    /// Whether the pending user is the clone (`current` + `_clone`).
    pub fn pending_is_clone(&self) -> bool {
        self.pending.len() > self.current.len()
    }
}

/// What [`Session::ensure_alternate_user`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlternateChange {
    /// The pending user did not exist and was created.
    pub created: bool,
    /// The pending user's password was set.
    pub password_changed: bool,
}

/// Alternating users: the per-engine work the master does (rotation::alternating decides
/// what, each driver knows how).
impl Session {
    /// As the master: creates the pending user of the pair if missing, brings its
    /// privileges (and TLS requirement) in step with the current user's, and sets its
    /// password unless `user.password_in_place`.
    ///
    /// PostgreSQL: see `postgres::PgSession::ensure_alternate_user` (membership and role
    /// setting, so ownership never drifts). MySQL/MariaDB: see `mysql::MySession::
    /// ensure_alternate_user` (the clone gets the original's accounts for each of its real
    /// host parts, REQUIRE and limits, and its grants synced faithfully: WITH GRANT OPTION
    /// kept, revoked grants removed, roles included).
    pub async fn ensure_alternate_user(
        &mut self,
        user: &AlternateUser<'_>,
        opts: &DbOptions,
        deadline: &Deadline,
    ) -> Result<AlternateChange, Failure> {
        match self {
            Session::Postgres(s) => {
                s.ensure_alternate_user(user, opts.postgres.password_encryption, deadline)
                    .await
            }
            Session::MySql(s) => s.ensure_alternate_user(user, deadline).await,
        }
    }

    /// Whether the logged-in user may manage users (PostgreSQL: CREATEROLE or superuser;
    /// MySQL/MariaDB: CREATE USER and the global GRANT OPTION).
    pub async fn can_manage_users(&mut self, deadline: &Deadline) -> Result<bool, Failure> {
        match self {
            Session::Postgres(s) => s.can_manage_users(deadline).await,
            Session::MySql(s) => s.can_manage_users(deadline).await,
        }
    }
}
