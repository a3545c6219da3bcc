//! MySQL and MariaDB: connecting (mysql_async over native-tls), the logged-in session and
//! what it learns at login (server version, account, authentication plugin), and the
//! [`Operation`] a statement's errors are classified by. The rest of the driver, by concern:
//! - [`error`]: the server error numbers as named constants, and the classification of any
//!   mysql_async error onto a cause;
//! - [`version`]: the server's version and flavour;
//! - [`sql`]: account names, literals, the native password hash, session settings;
//! - [`create_user`]: the authentication plugins `SHOW CREATE USER` names;
//! - [`password`]: which password statement to send (dual passwords, `REPLACE`, `RETAIN
//!   CURRENT PASSWORD`), and sending it;
//! - `alternate`: alternating users, as the master makes the pending user ready;
//! - [`grants`]: `SHOW GRANTS` read, and one account's grants copied to another.

mod alternate;
pub mod create_user;
pub mod error;
pub mod grants;
pub mod password;
pub mod sql;
pub mod version;

pub use password::plan::{dual_password_unsupported, supports_dual_password};
pub use version::{Flavor, ServerVersion};

use super::{Attempt, DbOptions, TlsMode};
use crate::deadline::{Deadline, Wait};
use crate::failure::{Cause, Failure};
use crate::net::Phase;
use crate::secret::Password;
use create_user::plugins_from_create_user;
use error::classify;
use mysql_async::prelude::Queryable;
use password::plan::NATIVE;
use sql::Account;
use std::time::{Duration, Instant};
use version::parse_version;

/// What was running when an error came back: decides how access errors read (a refused
/// password at login, a refused statement after it) and names the statement in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Connecting and logging in.
    Login,
    /// A read: `SELECT VERSION()`, `SHOW CREATE USER`, a `mysql.user` lookup, `SELECT 1`.
    Select,
    /// The session settings sent before a change (`sql_mode`, timeouts).
    SetTimeouts,
    /// A password statement (`ALTER USER … IDENTIFIED`, `SET PASSWORD`).
    AlterPassword,
    /// `CREATE USER` of an alternating pair's new account.
    CreateUser,
    /// `ALTER USER` of a pair's TLS requirement and resource limits.
    AlterUser,
    /// `GRANT` (and `SET DEFAULT ROLE`).
    Grant,
    /// `REVOKE`.
    Revoke,
    /// `SHOW GRANTS`.
    ShowGrants,
    /// Reading a pair's `mysql.user` or `mysql.default_roles` rows.
    LookupUser,
    /// `GET_LOCK` on a pair's named lock.
    Lock,
}

impl Operation {
    /// The name in events (`statement_kind`, `operation`) and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::Select => "select",
            Operation::SetTimeouts => "set_timeouts",
            Operation::AlterPassword => "alter_password",
            Operation::CreateUser => "create_user",
            Operation::AlterUser => "alter_user",
            Operation::Grant => "grant",
            Operation::Revoke => "revoke",
            Operation::ShowGrants => "show_grants",
            Operation::LookupUser => "lookup_user",
            Operation::Lock => "lock",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failure is about: the address and user of the connection (evidence only).
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) dbname: Option<String>,
    pub(super) tls: TlsMode,
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
                Ok(Ok(Err(e))) => return Err(classify(&e, &target, Operation::Login, started.elapsed())),
                Ok(Err(join)) if join.is_panic() => {
                    return Err(Failure::new(
                        Cause::DbAuthMethodUnsupported,
                        format!(
                            "MariaDB asks {} for ed25519 or parsec authentication, which this client does not perform",
                            s.username
                        ),
                    )
                    .auth_method(error::MARIADB_UNSUPPORTED_METHOD)
                    .with("user", s.username.as_str())
                    // MariaDB answers a user no account admits from here with the method of
                    // some other account: the remedy names both readings, as for MySQL.
                    .remedy("Either the account authenticates with ed25519 or parsec (switch it: ALTER USER … IDENTIFIED VIA mysql_native_password USING PASSWORD('…')), or no account of this user admits the function's address: MariaDB then answers with another account's method instead of error 1045. Check the user's host parts (SELECT Host FROM mysql.user WHERE User = '…')."))
                }
                Ok(Err(join)) => return Err(Failure::internal(Operation::Login.as_str(), &join)),
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
                    .phase(Phase::Connect)
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
        .map_err(|e| classify(&e, &target, Operation::Select, Duration::ZERO))?;
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
        Err(e) => return Err(classify(&e, &target, Operation::Select, Duration::ZERO)),
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
    /// The server's flavour; MySQL when the version could not be read.
    fn flavor(&self) -> Flavor {
        self.version.map(|v| v.flavor).unwrap_or(Flavor::MySql)
    }

    /// Runs one statement within the budget; errors classified as `op`. A timeout the server
    /// enforced itself (the session's lock_wait_timeout / max_statement_time: a server error
    /// code, where a deadline cut has none) gets the deadline's elapsed and remaining time, as
    /// a deadline cut does.
    async fn statement(
        &mut self,
        deadline: &Deadline,
        op: Operation,
        sql: &str,
    ) -> Result<(), Failure> {
        match self.rows(deadline, op, sql, Vec::new()).await {
            Ok(_) => Ok(()),
            Err(f) if f.cause == Cause::FunctionTimeoutImminent && f.signals.db_code.is_some() => {
                Err(f
                    .with("elapsed_ms", deadline.elapsed().as_millis() as u64)
                    .with("remaining_ms", deadline.remaining().as_millis() as u64))
            }
            Err(f) => Err(f),
        }
    }

    /// Runs a query (text protocol, or a prepared statement when `params` is not empty)
    /// within the budget; errors classified as `op`.
    async fn rows(
        &mut self,
        deadline: &Deadline,
        op: Operation,
        sql: &str,
        params: Vec<mysql_async::Value>,
    ) -> Result<Vec<mysql_async::Row>, Failure> {
        let MySession { conn, target, .. } = self;
        deadline
            .run(
                Wait::DbStatement {
                    operation: op.as_str(),
                },
                async {
                    let result = if params.is_empty() {
                        conn.query::<mysql_async::Row, _>(sql).await
                    } else {
                        conn.exec::<mysql_async::Row, _, _>(sql, params).await
                    };
                    result.map_err(|e| classify(&e, target, op, Duration::ZERO))
                },
            )
            .await
    }

    /// `SELECT 1`.
    pub async fn check(&mut self, deadline: &Deadline) -> Result<(), Failure> {
        self.statement(deadline, Operation::Select, "SELECT 1")
            .await
    }
}
