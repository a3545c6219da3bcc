//! MySQL and MariaDB: mysql_async over native-tls, error classification by server error
//! number, and password changes applied to the account actually logged in, with a statement
//! chosen by the server's real version and the account's authentication plugin.
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
//! - String literals: the session is switched to `NO_BACKSLASH_ESCAPES` before any literal
//!   is sent, and quotes are doubled, so a literal means the same under any global
//!   `sql_mode`. Identifiers and account names are backtick-quoted (backticks never treat a
//!   backslash as an escape).

mod alternate;
pub mod grants;

use super::{quote_ident, Attempt, DbOptions, TlsMode};
use crate::diagnosis::{Cause, DbCode, Deadline, Failure, Wait};
use crate::secret::Password;
use crate::telemetry;
use mysql_async::prelude::Queryable;
use sha1::{Digest, Sha1};
use std::time::{Duration, Instant};

/// What a failure is about: the address and user of the connection (evidence only).
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    user: String,
    dbname: Option<String>,
    tls: TlsMode,
}

impl Target {
    fn of(a: &Attempt<'_>) -> Self {
        Target {
            host: a.secret.host.clone(),
            port: a.secret.port,
            user: a.secret.username.clone(),
            dbname: a.secret.dbname.clone(),
            tls: a.tls,
        }
    }
}

/// The server family: decides the password statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Oracle MySQL (and Aurora MySQL, Percona).
    MySql,
    /// MariaDB.
    MariaDb,
}

/// A parsed `SELECT VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion {
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Patch version (0 when absent).
    pub patch: u16,
}

impl ServerVersion {
    fn at_least(&self, major: u16, minor: u16, patch: u16) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }
}

/// Parses a server version string: `8.0.36`, `9.1.0`, `5.7.44-log`, `8.0.mysql_aurora.3.05.2`,
/// `10.11.6-MariaDB-1:10.11.6+maria~deb12-log`, and the `5.5.5-10.11.6-MariaDB` form MariaDB
/// puts in its handshake for old clients. `None` when no `major.minor` can be read.
pub fn parse_version(text: &str) -> Option<ServerVersion> {
    let text = text.trim();
    let flavor = if text.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let text = match flavor {
        Flavor::MariaDb => text.strip_prefix("5.5.5-").unwrap_or(text),
        Flavor::MySql => text,
    };
    let mut parts = text.split('.');
    let mut number = |required: bool| -> Option<u16> {
        let part = parts.next();
        let digits: String = part
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) if required => None,
            Err(_) => Some(0),
        }
    };
    let major = number(true)?;
    let minor = number(true)?;
    let mut patch = number(false)?;
    // Aurora MySQL 3 (`8.0.mysql_aurora.3.x`) is compatible with MySQL 8.0.23 or later.
    if flavor == Flavor::MySql
        && (major, minor, patch) == (8, 0, 0)
        && text.contains("mysql_aurora.3")
    {
        patch = 23;
    }
    Some(ServerVersion {
        flavor,
        major,
        minor,
        patch,
    })
}

/// A MySQL account: user and host part, as `CURRENT_USER()` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User name.
    pub user: String,
    /// Host part (`%`, `127.0.0.1`, `10.0.%`, …).
    pub host: String,
}

impl Account {
    /// Splits `user@host` (the host part never contains `@`; a user name may).
    pub fn parse(current_user: &str) -> Option<Account> {
        let (user, host) = current_user.rsplit_once('@')?;
        Some(Account {
            user: user.to_string(),
            host: host.to_string(),
        })
    }

    /// The account name for SQL, backtick-quoted.
    pub fn sql(&self) -> String {
        format!(
            "{}@{}",
            quote_ident(&self.user, '`'),
            quote_ident(&self.host, '`')
        )
    }
}

/// A string literal that means the same under any `sql_mode` once the session has
/// `NO_BACKSLASH_ESCAPES` (set before every literal is sent): quotes doubled, nothing else
/// escaped.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The `mysql_native_password` hash: `*` + upper hex SHA1(SHA1(password)); the empty
/// password hashes to the empty string, as the server stores it.
pub fn native_password_hash(password: &str) -> String {
    if password.is_empty() {
        return String::new();
    }
    let inner = Sha1::digest(password.as_bytes());
    let outer = Sha1::digest(inner);
    let mut out = String::with_capacity(41);
    out.push('*');
    for b in outer {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

fn read_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    if !matches!(quote, '`' | '\'' | '"') {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    let mut pending_quote = false;
    for (i, c) in chars {
        if pending_quote {
            if c == quote {
                out.push(c);
                pending_quote = false;
                continue;
            }
            return Some((out, &s[i..]));
        }
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' && quote != '`' {
            escaped = true;
        } else if c == quote {
            pending_quote = true;
        } else {
            out.push(c);
        }
    }
    pending_quote.then_some((out, ""))
}

fn strip_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let s = s.trim_start();
    let head = s.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &s[keyword.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() || c == '\'' || c == '`' => Some(rest),
        Some(_) => None,
    }
}

fn read_word(s: &str) -> (String, &str) {
    let s = s.trim_start();
    if let Some((word, rest)) = read_quoted(s) {
        return (word, rest);
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(s.len());
    (s[..end].to_string(), &s[end..])
}

/// The authentication plugins named by `SHOW CREATE USER` (the account name is skipped as a
/// quoted token, so a hostile user name cannot fake a clause). `Some(vec![])` means the
/// account has no IDENTIFIED clause (MariaDB: no password, native plugin); `None` means the
/// text is not a CREATE USER statement. The only place the statement's text is read; pinned
/// by a unit test for MariaDB 10.x and MySQL 5.7/8.x output.
pub fn plugins_from_create_user(text: &str) -> Option<Vec<String>> {
    let rest = strip_keyword(text, "CREATE")?;
    let rest = strip_keyword(rest, "USER")?.trim_start();
    let rest = strip_keyword(rest, "IF NOT EXISTS")
        .unwrap_or(rest)
        .trim_start();
    let (_, rest) = read_quoted(rest)?;
    let rest = rest.strip_prefix('@')?;
    let (_, rest) = read_quoted(rest)?;
    let Some(rest) = strip_keyword(rest, "IDENTIFIED") else {
        return Some(Vec::new());
    };
    if let Some(rest) = strip_keyword(rest, "BY") {
        // MariaDB: IDENTIFIED BY PASSWORD '*…' is mysql_native_password.
        return strip_keyword(rest, "PASSWORD").map(|_| vec!["mysql_native_password".into()]);
    }
    let mut rest = strip_keyword(rest, "VIA").or_else(|| strip_keyword(rest, "WITH"))?;
    let mut plugins = Vec::new();
    loop {
        let (plugin, after) = read_word(rest);
        if plugin.is_empty() {
            break;
        }
        plugins.push(plugin.to_ascii_lowercase());
        rest = after;
        if let Some(after) = strip_keyword(rest, "USING").or_else(|| strip_keyword(rest, "AS")) {
            let after = after.trim_start();
            rest = match strip_keyword(after, "PASSWORD") {
                Some(p) => p.trim_start().strip_prefix('(').unwrap_or(p),
                None => after,
            };
            let (_, after) = read_word(rest);
            rest = after.trim_start().strip_prefix(')').unwrap_or(after);
        }
        match strip_keyword(rest, "OR") {
            Some(after) => rest = after,
            None => break,
        }
    }
    Some(plugins)
}

/// One password statement and the name it is reported by.
pub struct PasswordChange {
    /// The statement (may contain the plaintext: never logged).
    sql: String,
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

const NATIVE: &str = "mysql_native_password";
const METHOD_HASH: &str = "mysql_native_password hash";
const METHOD_ALTER: &str = "alter user";
const METHOD_DUAL: &str = "alter user retain current password";

/// How the logged-in account changes its own password (MySQL 8.0.13+ only; ignored elsewhere).
#[derive(Clone, Copy)]
pub struct OwnChange<'a> {
    /// The password the session logged in with: the `REPLACE` clause.
    pub current: &'a str,
    /// `MYSQL_DUAL_PASSWORD`: add `RETAIN CURRENT PASSWORD`.
    pub dual: bool,
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
    if own.is_some_and(|o| o.dual) && !supports_dual_password(version) {
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
                if o.dual {
                    sql.push_str(" RETAIN CURRENT PASSWORD");
                }
                let method = if o.dual { METHOD_DUAL } else { METHOD_ALTER };
                Ok(vec![PasswordChange { sql, method }])
            }
            None => Ok(vec![identified_by()]),
        },
        _ => Ok(vec![identified_by()]),
    }
}

/// Session settings sent before a password change: `NO_BACKSLASH_ESCAPES` (literals mean the
/// same under any global `sql_mode`), and a lock wait / statement time that ends within the
/// budget, so a blocked ALTER USER is cancelled by the server itself before the deadline.
pub fn session_settings(version: Option<&ServerVersion>, budget: Duration) -> String {
    format!(
        "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_BACKSLASH_ESCAPES'){}",
        session_timeouts(version, budget)
    )
}

/// The timeouts part of [`session_settings`]: `, SESSION lock_wait_timeout = …` and the
/// server's statement time limit, all ending within `budget`.
fn session_timeouts(version: Option<&ServerVersion>, budget: Duration) -> String {
    let ms = budget.as_millis().max(1);
    let secs = budget.as_secs().max(1);
    let mut sql = format!(", SESSION lock_wait_timeout = {secs}");
    match version {
        Some(v) if v.flavor == Flavor::MariaDb && v.at_least(10, 1, 1) => {
            sql.push_str(&format!(
                ", SESSION max_statement_time = {}.{:03}",
                ms / 1000,
                ms % 1000
            ));
        }
        Some(v) if v.flavor == Flavor::MySql && v.at_least(5, 7, 8) => {
            sql.push_str(&format!(", SESSION max_execution_time = {ms}"));
        }
        _ => {}
    }
    sql
}

// ---------------------------------------------------------------- error classification

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.join(": ")
}

/// Maps any mysql_async error onto a cause. Server errors by their error number (one line
/// per number); client errors by their type; only the TLS verification reason and the DNS
/// phase are read from text, in `tls::verification_reason` and `phase_from_text`.
fn classify(
    err: &mysql_async::Error,
    t: &Target,
    during: &'static str,
    elapsed: Duration,
) -> Failure {
    use mysql_async::{DriverError, Error, IoError};
    let elapsed_ms = elapsed.as_millis() as u64;
    let unreachable = |phase: &str| {
        Failure::new(
            Cause::DbUnreachable,
            format!("cannot reach MySQL at {}:{} ({phase})", t.host, t.port),
        )
        .with("host", t.host.as_str())
        .with("port", t.port)
        .with("phase", phase)
        .with("elapsed_ms", elapsed_ms)
    };
    let dropped = |code: &str| {
        Failure::new(
            Cause::DbUnavailable,
            format!("the connection to {} dropped during {during}", t.host),
        )
        .with("host", t.host.as_str())
        .with("code", code)
    };
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
        Error::Server(e) => classify_server(e.code, &e.message, t, during),
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
            DriverError::UnknownAuthPlugin { name } if name == "sha256_password" => {
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
                if during == "login" {
                    unreachable("handshake").with("error", d.to_string())
                } else {
                    dropped("connection_closed")
                }
            }
            _ => Failure::internal(during, err),
        },
        Error::Io(IoError::Tls(tls_err)) => {
            let text = chain_text(tls_err);
            match super::tls::verification_reason(&text) {
                Some(reason) => Failure::new(
                    Cause::DbTlsVerificationFailed,
                    format!("the certificate of {} did not verify ({reason})", t.host),
                )
                .with("host", t.host.as_str())
                .tls_reason(reason)
                .with("tls_error", text),
                None => unreachable("tls").with("error", text),
            }
        }
        Error::Io(IoError::Io(io)) => {
            use std::io::ErrorKind::*;
            let text = chain_text(io);
            match io.kind() {
                ConnectionRefused | TimedOut | HostUnreachable | NetworkUnreachable
                | AddrNotAvailable => unreachable("connect").with("error", text),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
                    if during != "login" =>
                {
                    dropped("2013")
                }
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                    unreachable("handshake").with("error", text)
                }
                _ => match crate::net::Phase::from_text(&text).as_str() {
                    "dns" => unreachable("dns").with("error", text),
                    _ if during == "login" => unreachable("connect").with("error", text),
                    _ => dropped("2013"),
                },
            }
        }
        Error::Other(_) | Error::Url(_) => Failure::internal(during, err),
    }
}

/// Maps a server error number onto a cause. `during` is what was running (`login`, or a
/// statement kind such as `alter_password`).
fn classify_server(code: u16, message: &str, t: &Target, during: &'static str) -> Failure {
    // A refused password statement may quote the statement (a syntax error does): only the
    // messages of classified errors, which never quote it, are kept for alter_password and
    // create_user (MySQL 8's CREATE USER … IDENTIFIED BY carries the plaintext).
    let f = |cause: Cause, summary: String| {
        let mut f = Failure::new(cause, summary).db_code(DbCode::MySql(code));
        if cause != Cause::InternalError || !matches!(during, "alter_password" | "create_user") {
            f = f.with("server_message", message);
        }
        f
    };
    let user = t.user.as_str();
    let host = t.host.as_str();
    match code {
        // ER_ACCESS_DENIED_ERROR / ER_ACCESS_DENIED_NO_PASSWORD_ERROR after login: MariaDB's
        // answer to a GRANT of a global privilege or of a role the user may not grant.
        1045 | 1698 if during != "login" => f(
            Cause::DbPermissionDenied,
            format!("{user} may not {during}"),
        )
        .with("user", user)
        .with("statement_kind", during),
        // ER_ACCESS_DENIED_ERROR: wrong password, no such user, or (MariaDB) a REQUIRE SSL
        // account over plaintext; db::connect's TLS probe tells the last one apart. MariaDB
        // 10.11 answers this driver ER_ACCESS_DENIED_NO_PASSWORD_ERROR (1698) at login for a
        // user that does not exist (an alternating pair's clone before its first setSecret).
        1045 | 1698 => f(
            Cause::DbLoginFailed,
            format!("MySQL rejected the password of {user}"),
        )
        .with("user", user),
        // ER_MUST_CHANGE_PASSWORD_LOGIN: the password has expired.
        1862 => f(
            Cause::DbLoginFailed,
            format!("the password of {user} has expired"),
        )
        .with("user", user)
        .remedy("The account's password has expired: reset it to the AWSCURRENT value with ALTER USER, and set PASSWORD EXPIRE NEVER (rotation replaces expiry)."),
        // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL 3118, MariaDB 4151).
        3118 | 4151 => f(Cause::DbLoginFailed, format!("the account {user} is locked"))
            .with("user", user)
            .remedy("The account is locked: ALTER USER … ACCOUNT UNLOCK."),
        // ER_INCORRECT_CURRENT_PASSWORD: the REPLACE password is not the account's primary
        // password, so the session logged in with its secondary one.
        3891 => f(
            Cause::DbLoginFailed,
            format!("the password {user} logged in with is only its secondary password"),
        )
        .with("user", user)
        .remedy("The account's primary password is neither AWSCURRENT nor AWSPENDING (AWSCURRENT logs in only as the secondary password): reset the primary password to the AWSCURRENT value (ALTER USER … IDENTIFIED BY '<AWSCURRENT>' RETAIN CURRENT PASSWORD as an admin, or DISCARD OLD PASSWORD and set it anew), then rotate again."),
        // ER_MISSING_CURRENT_PASSWORD: PASSWORD REQUIRE CURRENT, and no REPLACE clause.
        3892 => f(
            Cause::DbPermissionDenied,
            format!("{user} may change its password only by naming the current one"),
        )
        .with("user", user)
        .with("statement_kind", during)
        .remedy("The account requires its current password (PASSWORD REQUIRE CURRENT), but the server's version string did not read as MySQL 8.0.13 or later, so no REPLACE clause was sent: check what SELECT VERSION() reports through this endpoint (a proxy may rewrite it), or ALTER USER … PASSWORD REQUIRE CURRENT DEFAULT."),
        // ER_SECURE_TRANSPORT_REQUIRED: require_secure_transport=ON.
        3159 => f(
            Cause::DbTlsRequired,
            format!("MySQL at {host} requires TLS"),
        )
        .with("host", host)
        .with("tls_mode_used", t.tls.as_str()),
        // ER_HOST_NOT_PRIVILEGED: no account admits this user from this address.
        1130 => f(
            Cause::DbAccessRuleMissing,
            format!("MySQL at {host} has no account admitting {user} from here"),
        )
        .with("user", user)
        .with("host", host),
        // ER_BAD_DB_ERROR
        1049 => f(
            Cause::DbDatabaseMissing,
            "the secret's database does not exist".to_string(),
        )
        .with("dbname", t.dbname.as_deref().unwrap_or("")),
        // ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR,
        // ER_CANNOT_USER (the operation failed for the account), ER_CANT_CREATE_USER_WITH_GRANT.
        1044 | 1142 | 1227 | 1396 | 1410 => f(
            Cause::DbPermissionDenied,
            format!("{user} may not {during}"),
        )
        .with("user", user)
        .with("statement_kind", during),
        // ER_NOT_VALID_PASSWORD: validate_password / simple_password_check / cracklib.
        1819 => f(
            Cause::DbPasswordRejected,
            "the server's password policy refused the new password".to_string(),
        ),
        // ER_OPTION_PREVENTS_STATEMENT (--read-only), ER_READ_ONLY_MODE.
        1290 | 1836 => f(
            Cause::DbReadOnly,
            format!("{host} is read-only (a replica or reader)"),
        )
        .with("host", host),
        // ER_LOCK_WAIT_TIMEOUT, MariaDB ER_STATEMENT_TIMEOUT, MySQL ER_QUERY_TIMEOUT: our
        // lock_wait_timeout / max_statement_time, set to end before the deadline.
        1205 | 1969 | 3024 => f(
            Cause::FunctionTimeoutImminent,
            format!("{during} waited on a lock until the function deadline was near"),
        )
        .with("operation", during),
        // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_SERVER_SHUTDOWN,
        // ER_SERVER_OFFLINE_MODE, client-side lost connection / server gone away.
        1040 | 1203 | 1053 | 3032 | 2013 | 2006 => f(
            Cause::DbUnavailable,
            format!("MySQL at {host} is not accepting work right now"),
        )
        .with("host", host),
        // ER_NOT_SUPPORTED_AUTH_MODE
        1251 => f(
            Cause::DbAuthMethodUnsupported,
            format!("MySQL asks {user} for an authentication method this client cannot perform"),
        )
        .with("method", "unknown")
        .with("user", user),
        _ => f(
            Cause::InternalError,
            format!("unexpected MySQL error {code} during {during}"),
        ),
    }
}

// ---------------------------------------------------------------- connect

/// Aborts the connect task when the caller gives up (deadline), so no socket lingers.
struct AbortOnDrop(tokio::task::JoinHandle<Result<mysql_async::Conn, mysql_async::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An open, logged-in connection and what was learned about it.
pub struct MySession {
    conn: mysql_async::Conn,
    target: Target,
    /// TLS mode in use.
    pub tls: TlsMode,
    version: Option<ServerVersion>,
    account: Account,
    plugins: Option<Vec<String>>,
    /// The password this session logged in with (the `REPLACE` clause of its own change).
    login_password: Password,
}

impl MySession {
    /// The server version, when it could be parsed.
    pub fn version(&self) -> Option<ServerVersion> {
        self.version
    }

    /// The account logged in (`CURRENT_USER()`).
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The authentication plugin of the logged-in account, when it could be read.
    pub fn auth(&self) -> Option<&str> {
        match self.plugins.as_deref() {
            Some([one]) => Some(one.as_str()),
            Some([]) if self.version.map(|v| v.flavor) == Some(Flavor::MariaDb) => Some(NATIVE),
            _ => None,
        }
    }
}

fn connect_opts(a: &Attempt<'_>, opts: &DbOptions) -> Result<mysql_async::OptsBuilder, Failure> {
    let s = a.secret;
    let base = match a.tls {
        // Chain and host name verified, against system roots plus DB_CA_BUNDLE; one TLS
        // context per process (building one parses the whole root store).
        TlsMode::Verified => opts.anchors.mysql_opts()?,
        TlsMode::Plain => mysql_async::OptsBuilder::default(),
    };
    Ok(base
        .ip_or_hostname(s.host.as_str())
        .tcp_port(s.port)
        .user(Some(s.username.as_str()))
        .pass(Some(s.password.expose()))
        .db_name(s.dbname.as_deref())
        // On a loopback address mysql_async would otherwise reconnect over the Unix socket
        // it reads from @@socket: not the connection the secret describes, and never TLS.
        .prefer_socket(false)
        .stmt_cache_size(0)
        // Known values: no extra SELECT @@max_allowed_packet, @@wait_timeout at login.
        .max_allowed_packet(Some(16 * 1024 * 1024))
        .wait_timeout(Some(28_800))
        .connect_attribute("program_name", "db-secret-rotator"))
}

/// Connects and logs in once, in the given TLS mode; then reads the server version, the
/// account logged in and (when allowed) its authentication plugin.
pub async fn connect(
    a: Attempt<'_>,
    opts: &DbOptions,
    deadline: &Deadline,
) -> Result<MySession, Failure> {
    let s = a.secret;
    let target = Target::of(&a);
    let per_attempt = deadline.cap(opts.connect_timeout);
    let builder = connect_opts(&a, opts)?;
    let started = Instant::now();
    let wait = Wait::DbConnect {
        host: s.host.clone(),
        port: s.port,
    };
    deadline
        .run(wait, async {
            // A task of its own: mysql_async panics on a MariaDB ed25519 / parsec account
            // (those plugins are not compiled in); a task turns that into an error here.
            let task = AbortOnDrop(tokio::spawn(mysql_async::Conn::new(builder)));
            let joined = tokio::time::timeout(per_attempt + Duration::from_millis(50), async {
                let mut task = task;
                (&mut task.0).await
            })
            .await;
            let conn = match joined {
                Ok(Ok(Ok(conn))) => conn,
                Ok(Ok(Err(e))) => return Err(classify(&e, &target, "login", started.elapsed())),
                Ok(Err(join)) if join.is_panic() => {
                    return Err(Failure::new(
                        Cause::DbAuthMethodUnsupported,
                        format!(
                            "MariaDB asks {} for ed25519 or parsec authentication, which this client does not perform",
                            s.username
                        ),
                    )
                    .with("method", "ed25519 or parsec")
                    .with("user", s.username.as_str())
                    .remedy("Use mysql_native_password for this account (ALTER USER … IDENTIFIED VIA mysql_native_password USING PASSWORD('…'))."))
                }
                Ok(Err(join)) => return Err(Failure::internal("login", &join)),
                Err(_) => {
                    return Err(Failure::new(
                        Cause::DbUnreachable,
                        format!(
                            "MySQL at {}:{} did not connect and log in within the connect timeout",
                            s.host, s.port
                        ),
                    )
                    .with("host", s.host.as_str())
                    .with("port", s.port)
                    // mysql_async does not say how far it got; a silent TCP connect (a
                    // security group or NACL dropping packets) is by far the usual cause.
                    .with("phase", "connect")
                    .with("detail", "no greeting or login within the connect timeout")
                    .with("elapsed_ms", started.elapsed().as_millis() as u64))
                }
            };
            introspect(conn, target.clone(), a.tls, s.password.clone()).await
        })
        .await
        .map_err(|f| f.with("user", s.username.as_str()))
}

fn text(row: &mut mysql_async::Row, i: usize) -> Option<String> {
    let value: Option<Vec<u8>> = row.take_opt(i).and_then(Result::ok);
    value.map(|v| String::from_utf8_lossy(&v).into_owned())
}

async fn introspect(
    mut conn: mysql_async::Conn,
    target: Target,
    tls: TlsMode,
    login_password: Password,
) -> Result<MySession, Failure> {
    let row: Option<mysql_async::Row> = conn
        .query_first("SELECT VERSION(), CURRENT_USER()")
        .await
        .map_err(|e| classify(&e, &target, "select", Duration::ZERO))?;
    let mut row = row.ok_or_else(|| {
        Failure::new(
            Cause::InternalError,
            "SELECT VERSION(), CURRENT_USER() returned no row",
        )
    })?;
    let version = text(&mut row, 0).as_deref().and_then(parse_version);
    let account = text(&mut row, 1)
        .as_deref()
        .and_then(Account::parse)
        .unwrap_or_else(|| Account {
            user: target.user.clone(),
            host: "%".into(),
        });
    // Allowed for one's own account on MySQL 5.7+ and MariaDB 10.2+; best effort otherwise.
    let plugins = match conn
        .query_first::<mysql_async::Row, _>("SHOW CREATE USER CURRENT_USER()")
        .await
    {
        Ok(Some(mut row)) => text(&mut row, 0)
            .as_deref()
            .and_then(plugins_from_create_user),
        Ok(None) | Err(mysql_async::Error::Server(_)) => None,
        Err(e) => return Err(classify(&e, &target, "select", Duration::ZERO)),
    };
    Ok(MySession {
        conn,
        target,
        tls,
        version,
        account,
        plugins,
        login_password,
    })
}

impl MySession {
    async fn statement(
        &mut self,
        deadline: &Deadline,
        operation: &'static str,
        sql: &str,
    ) -> Result<(), Failure> {
        let MySession { conn, target, .. } = self;
        deadline
            .run(Wait::DbStatement { operation }, async {
                conn.query_drop(sql)
                    .await
                    .map_err(|e| classify(&e, target, operation, Duration::ZERO))
            })
            .await
            .map_err(|f| match f.cause {
                // The server cancelled it (our lock_wait_timeout / max_statement_time).
                Cause::FunctionTimeoutImminent if !f.evidence.contains_key("remaining_ms") => f
                    .with("elapsed_ms", deadline.elapsed().as_millis() as u64)
                    .with("remaining_ms", deadline.remaining().as_millis() as u64),
                _ => f,
            })
    }

    /// The account named `user`: the logged-in one, or (as a master) the one account of that
    /// name, preferring the logged-in account's host part when there are several.
    async fn account_of(&mut self, user: &str, deadline: &Deadline) -> Result<Account, Failure> {
        if user == self.account.user {
            return Ok(self.account.clone());
        }
        let MySession { conn, target, .. } = self;
        let hosts: Vec<String> = deadline
            .run(
                Wait::DbStatement {
                    operation: "select",
                },
                async {
                    conn.exec::<mysql_async::Row, _, _>(
                        "SELECT Host FROM mysql.user WHERE User = ?",
                        (user,),
                    )
                    .await
                    .map_err(|e| classify(&e, target, "select", Duration::ZERO))
                },
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
    /// statement [`password_plan`] picks. `dual` (`MYSQL_DUAL_PASSWORD`) keeps the replaced
    /// password as the secondary one; refused before any statement on a server without dual
    /// passwords. Returns the method.
    pub async fn set_password(
        &mut self,
        user: &str,
        new: &Password,
        dual: bool,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
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
                        operation: "select",
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
                dual,
            }),
        )?;
        let settings = session_settings(self.version.as_ref(), deadline.budget());
        self.statement(deadline, "set_timeouts", &settings).await?;
        self.apply_password(&account, plan, deadline)
            .await
            .map_err(|f| match f.cause {
                // RETAIN CURRENT PASSWORD on one's own account needs its own privilege (1227).
                Cause::DbPermissionDenied if dual && f.is_mysql_code(1227) => f
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
                    operation: "select",
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
            Err(mysql_async::Error::Server(e)) if matches!(e.code, 1142 | 1044 | 1143) => Ok(None),
            Err(e) => Err(classify(&e, target, "select", Duration::ZERO)),
        }
    }

    /// Whether the logged-in account may keep a secondary password when it changes its own
    /// (APPLICATION_PASSWORD_ADMIN, CREATE USER or ALL on `*.*`, from `SHOW GRANTS`).
    pub async fn may_retain_current_password(
        &mut self,
        deadline: &Deadline,
    ) -> Result<bool, Failure> {
        let MySession { conn, target, .. } = self;
        let lines: Vec<String> = deadline
            .run(
                Wait::DbStatement {
                    operation: "show_grants",
                },
                async {
                    conn.query::<String, _>("SHOW GRANTS")
                        .await
                        .map_err(|e| classify(&e, target, "show_grants", Duration::ZERO))
                },
            )
            .await?;
        let parsed: Vec<grants::GrantLine> = lines
            .iter()
            .filter_map(|l| grants::parse_line(l).ok())
            .collect();
        Ok(grants::may_retain_current_password(&parsed))
    }

    /// Runs the password statements of `plan` for `account`, the next only when the server
    /// refuses the previous for lack of privilege, and reports the change. Returns the method.
    async fn apply_password(
        &mut self,
        account: &Account,
        plan: Vec<PasswordChange>,
        deadline: &Deadline,
    ) -> Result<&'static str, Failure> {
        let last = plan.len().saturating_sub(1);
        for (i, change) in plan.into_iter().enumerate() {
            match self
                .statement(deadline, "alter_password", &change.sql)
                .await
            {
                Ok(()) => {
                    telemetry::password_changed(&account.user, change.method);
                    return Ok(change.method);
                }
                Err(f) if i < last && f.cause == Cause::DbPermissionDenied => continue,
                Err(f) => return Err(f.with("account_host", account.host.as_str())),
            }
        }
        unreachable!("password plans are never empty")
    }

    /// `SELECT 1`.
    pub async fn check(&mut self, deadline: &Deadline) -> Result<(), Failure> {
        self.statement(deadline, "select", "SELECT 1").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ServerVersion {
        parse_version(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn versions_are_parsed_not_guessed() {
        use Flavor::*;
        let cases = [
            ("8.0.36", MySql, 8, 0, 36),
            ("8.4.0-log", MySql, 8, 4, 0),
            ("9.1.0", MySql, 9, 1, 0),
            ("5.7.44-log", MySql, 5, 7, 44),
            ("5.7.12", MySql, 5, 7, 12),
            ("8.0.mysql_aurora.3.05.2", MySql, 8, 0, 23),
            ("8.0.35-27", MySql, 8, 0, 35),
            ("10.11.6-MariaDB-0+deb12u1-log", MariaDb, 10, 11, 6),
            ("5.5.5-10.11.6-MariaDB", MariaDb, 10, 11, 6),
            ("11.4.2-MariaDB-ubu2404", MariaDb, 11, 4, 2),
            ("10.6.16-MariaDB-log", MariaDb, 10, 6, 16),
        ];
        for (text, flavor, major, minor, patch) in cases {
            assert_eq!(
                v(text),
                ServerVersion {
                    flavor,
                    major,
                    minor,
                    patch
                },
                "{text}"
            );
        }
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("8"), None);
    }

    #[test]
    fn native_hash_matches_the_server() {
        assert_eq!(
            native_password_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert_eq!(native_password_hash(""), "");
        // Non-ASCII is hashed as UTF-8, as the server hashes what the client sends.
        assert_eq!(native_password_hash("pä'ss\\").len(), 41);
    }

    #[test]
    fn literals_double_quotes_and_leave_backslashes() {
        assert_eq!(quote_literal("a'b\\c"), "'a''b\\c'");
        assert_eq!(quote_literal("''"), "''''''");
        assert_eq!(quote_literal("ü"), "'ü'");
        let acct = Account::parse("we`ird'%\\U@ser@127.0.0.1").unwrap();
        assert_eq!(acct.user, "we`ird'%\\U@ser");
        assert_eq!(acct.host, "127.0.0.1");
        assert_eq!(acct.sql(), "`we``ird'%\\U@ser`@`127.0.0.1`");
    }

    #[test]
    fn create_user_texts_are_pinned() {
        let native = Some(vec!["mysql_native_password".to_string()]);
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `exp1`@`%` IDENTIFIED BY PASSWORD '*5A16B96F22427812807BDB16DFC9F56C5F1CBC4A'"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `u`@`%` IDENTIFIED BY PASSWORD '*5A16B96F22427812807BDB16DFC9F56C5F1CBC4A' REQUIRE SSL"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `u`@`localhost` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'"),
            Some(vec!["ed25519".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket"),
            Some(vec!["mysql_native_password".to_string(), "unix_socket".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `nopw`@`%`"),
            Some(vec![])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$\u{1}x''y' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT"),
            Some(vec!["caching_sha2_password".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER 'app'@'%' IDENTIFIED WITH 'mysql_native_password' AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK"),
            native
        );
        // A user name that spells a clause does not fool the parser.
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `x IDENTIFIED VIA ed25519`@`%` IDENTIFIED BY PASSWORD '*AB'"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER 'o\\'b''x'@'%' IDENTIFIED WITH sha256_password"),
            Some(vec!["sha256_password".to_string()])
        );
        assert_eq!(plugins_from_create_user("GRANT USAGE ON *.*"), None);
    }

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
            dual,
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

    #[test]
    fn session_settings_fit_the_budget() {
        let maria = parse_version("10.11.6-MariaDB");
        let mysql8 = parse_version("8.0.36");
        let s = session_settings(maria.as_ref(), Duration::from_millis(2500));
        assert!(s.contains("NO_BACKSLASH_ESCAPES"), "{s}");
        assert!(s.contains("lock_wait_timeout = 2,"), "{s}");
        assert!(s.ends_with("max_statement_time = 2.500"), "{s}");
        let s = session_settings(mysql8.as_ref(), Duration::from_millis(300));
        assert!(s.contains("lock_wait_timeout = 1,"), "{s}");
        assert!(s.ends_with("max_execution_time = 300"), "{s}");
        let s = session_settings(None, Duration::ZERO);
        assert!(s.ends_with("lock_wait_timeout = 1"), "{s}");
    }

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
                "login"
            } else {
                "alter_password"
            };
            let f = classify_server(code, "msg", &target(), during);
            assert_eq!(f.cause.code(), cause, "{code}");
            assert_eq!(f.evidence["code"], code, "{code}");
        }
        let f = classify_server(1227, "denied", &target(), "alter_password");
        assert_eq!(f.evidence["statement_kind"], "alter_password");
        let f = classify_server(1698, "Access denied", &target(), "login");
        assert_eq!(f.cause, Cause::DbLoginFailed);
        // After login, "access denied" is a refused statement, not a refused password.
        for code in [1045, 1698] {
            let f = classify_server(code, "Access denied", &target(), "grant");
            assert_eq!(f.cause, Cause::DbPermissionDenied, "{code}");
            assert_eq!(f.evidence["statement_kind"], "grant");
        }
        // A CREATE USER … IDENTIFIED BY that fails unclassified may quote its password.
        let f = classify_server(1064, "near 'secret'", &target(), "create_user");
        assert!(f.evidence.get("server_message").is_none());
        // A syntax error may quote the statement, which may hold the password.
        let f = classify_server(1064, "near 'secret'", &target(), "alter_password");
        assert!(f.evidence.get("server_message").is_none());
        let f = classify_server(1049, "Unknown database", &target(), "login");
        assert_eq!(f.evidence["dbname"], "appdb");
    }

    #[test]
    fn client_errors_map_onto_causes() {
        use mysql_async::{DriverError, Error};
        let t = target();
        let refused = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let f = classify(&refused, &t, "login", Duration::from_millis(3));
        assert_eq!(f.cause, Cause::DbUnreachable);
        assert_eq!(f.evidence["phase"], "connect");
        assert_eq!(f.evidence["elapsed_ms"], 3);
        let dns = Error::from(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(
            classify(&dns, &t, "login", Duration::ZERO).evidence["phase"],
            "dns"
        );
        let no_tls = Error::from(DriverError::NoClientSslFlagFromServer);
        assert_eq!(
            classify(&no_tls, &t, "login", Duration::ZERO).cause,
            Cause::DbTlsUnavailable
        );
        let plugin = Error::from(DriverError::UnknownAuthPlugin {
            name: "auth_gssapi_client".into(),
        });
        let f = classify(&plugin, &t, "login", Duration::ZERO);
        assert_eq!(f.cause, Cause::DbAuthMethodUnsupported);
        assert_eq!(f.evidence["method"], "auth_gssapi_client");
        let closed = Error::from(DriverError::ConnectionClosed);
        assert_eq!(
            classify(&closed, &t, "select", Duration::ZERO).cause,
            Cause::DbUnavailable
        );
        assert_eq!(
            classify(&closed, &t, "login", Duration::ZERO).evidence["phase"],
            "handshake"
        );
    }
}
