//! MariaDB and MySQL helpers for the integration tests: an admin session whose fixture DDL
//! stays out of the general log, accounts with any name, host part, password and TLS
//! requirement, logins as those accounts, and secrets pointing at them.
//!
//! Each helper takes the [`Server`]; the `maria_*` names are the MariaDB ones (the MariaDB
//! tests were written first), and the MySQL tests pass [`Server::MySql`].

use super::services;
use mysql_async::prelude::Queryable;
use serde_json::Value;

/// Serialises the tests that change a server-global setting (`sql_mode`, `super_read_only`,
/// `max_connections`, …; they hold it for writing) against every other test of that server
/// (they hold it for reading). One lock per server for the whole suite: it holds because the
/// suite is one test process (tests/README.md).
fn global_lock(server: Server) -> &'static tokio::sync::RwLock<()> {
    static MARIADB: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
    static MYSQL: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
    match server {
        Server::MariaDb => &MARIADB,
        Server::MySql => &MYSQL,
    }
}

/// Holds the server's [`global_lock`] for reading: for a test that uses the server.
pub async fn shared(server: Server) -> tokio::sync::RwLockReadGuard<'static, ()> {
    global_lock(server).read().await
}

/// Holds the server's [`global_lock`] for writing: for a test that changes a global setting.
pub async fn exclusive(server: Server) -> tokio::sync::RwLockWriteGuard<'static, ()> {
    global_lock(server).write().await
}

/// Which of the two local servers (`scripts/services`): MariaDB 10.11 or Oracle MySQL 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// MariaDB, port `DSR_MARIADB_PORT`.
    MariaDb,
    /// Oracle MySQL, port `DSR_MYSQL_PORT`.
    MySql,
}

impl Server {
    /// The server's port on 127.0.0.1.
    pub fn port(self) -> u16 {
        match self {
            Server::MariaDb => services().mariadb_port,
            Server::MySql => services().mysql_port,
        }
    }

    /// The host name its certificate carries.
    pub fn host(self) -> &'static str {
        match self {
            Server::MariaDb => services().mariadb_host.as_str(),
            Server::MySql => services().mysql_host.as_str(),
        }
    }

    /// The `engine` of a secret for it.
    pub fn engine(self) -> &'static str {
        match self {
            Server::MariaDb => "mariadb",
            Server::MySql => "mysql",
        }
    }

    fn admin(self) -> (&'static str, &'static str) {
        let s = services();
        match self {
            Server::MariaDb => (&s.mariadb_admin_user, &s.mariadb_admin_password),
            Server::MySql => (&s.mysql_admin_user, &s.mysql_admin_password),
        }
    }

    /// Its general log file.
    pub fn general_log_path(self) -> &'static std::path::Path {
        match self {
            Server::MariaDb => &services().mariadb_general_log,
            Server::MySql => &services().mysql_general_log,
        }
    }
}

fn admin_opts(server: Server) -> mysql_async::OptsBuilder {
    let (user, pw) = server.admin();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(pw))
        .prefer_socket(false);
    match server {
        Server::MariaDb => opts,
        // caching_sha2_password: TLS spares the RSA key exchange (127.0.0.1: not verified).
        Server::MySql => opts.ssl_opts(
            mysql_async::SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
    }
}

/// An admin session (all privileges) whose statements never reach the general log, in
/// `NO_BACKSLASH_ESCAPES` so that [`lit`] quoting holds whatever the global `sql_mode` is.
pub async fn maria_admin() -> mysql_async::Conn {
    admin_on(Server::MariaDb).await
}

/// [`maria_admin`] on either server.
pub async fn admin_on(server: Server) -> mysql_async::Conn {
    let mut conn = mysql_async::Conn::new(admin_opts(server))
        .await
        .unwrap_or_else(|e| {
            panic!("admin connection to {server:?} (is `scripts/services up` running?): {e}")
        });
    conn.query_drop("SET SESSION sql_log_off = 1, SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    conn
}

/// A string literal for the admin session (`NO_BACKSLASH_ESCAPES`: only quotes doubled).
pub fn lit(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A name (database, table, user), backtick-quoted.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An account name `'user'@'host'`, backtick-quoted.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", ident(user), ident(host))
}

/// Creates an account; the server hashes the password itself (so a login with a
/// password the rotator set proves its client-side hash right).
pub async fn maria_create_user(user: &str, host: &str, password: &str, require_ssl: bool) {
    create_user_on(Server::MariaDb, user, host, password, require_ssl).await
}

/// [`maria_create_user`] on either server.
pub async fn create_user_on(
    server: Server,
    user: &str,
    host: &str,
    password: &str,
    require_ssl: bool,
) {
    let mut admin = admin_on(server).await;
    let require = if require_ssl { " REQUIRE SSL" } else { "" };
    admin
        .query_drop(format!(
            "CREATE USER {} IDENTIFIED BY {}{require}",
            account(user, host),
            lit(password)
        ))
        .await
        .unwrap();
}

/// Sets an account's password behind the rotator's back.
pub async fn set_password_on(server: Server, user: &str, host: &str, password: &str) {
    let mut admin = admin_on(server).await;
    admin
        .query_drop(format!(
            "ALTER USER {} IDENTIFIED BY {}",
            account(user, host),
            lit(password)
        ))
        .await
        .unwrap();
}

/// The stored authentication string (hash) of an account.
pub async fn maria_auth_string(user: &str, host: &str) -> String {
    auth_string_on(Server::MariaDb, user, host).await
}

/// [`maria_auth_string`] on either server.
pub async fn auth_string_on(server: Server, user: &str, host: &str) -> String {
    let mut admin = admin_on(server).await;
    admin
        .exec_first::<String, _, _>(
            "SELECT authentication_string FROM mysql.user WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Logs in as a user to `localhost` over verified TLS (the test CA) or plaintext, and runs
/// `SELECT CURRENT_USER()`; gives the account the server matched.
pub async fn maria_login(
    user: &str,
    password: &str,
    tls: bool,
) -> Result<String, mysql_async::Error> {
    login_on(Server::MariaDb, user, password, tls).await
}

/// [`maria_login`] on either server.
pub async fn login_on(
    server: Server,
    user: &str,
    password: &str,
    tls: bool,
) -> Result<String, mysql_async::Error> {
    let s = services();
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    if tls {
        let pem = std::fs::read(&s.ca_file).unwrap();
        opts = opts.ssl_opts(mysql_async::SslOpts::default().with_root_certs(vec![pem.into()]));
    }
    let mut conn = mysql_async::Conn::new(opts).await?;
    let who: Option<String> = conn.query_first("SELECT CURRENT_USER()").await?;
    let _ = conn.disconnect().await;
    Ok(who.unwrap_or_default())
}

/// The server error number of a failed login, if it was a server error.
pub fn server_code(err: &mysql_async::Error) -> Option<u16> {
    match err {
        mysql_async::Error::Server(e) => Some(e.code),
        _ => None,
    }
}

/// Sets a server's GLOBAL `sql_mode` (new sessions take it); gives the previous value.
pub async fn set_global_sql_mode_on(server: Server, mode: &str) -> String {
    let mut admin = admin_on(server).await;
    let old: String = admin
        .query_first("SELECT @@GLOBAL.sql_mode")
        .await
        .unwrap()
        .unwrap_or_default();
    admin
        .query_drop(format!("SET GLOBAL sql_mode = {}", lit(mode)))
        .await
        .unwrap();
    old
}

/// Everything a server's general log holds so far.
pub fn general_log_on(server: Server) -> String {
    std::fs::read(server.general_log_path())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A secret for a MariaDB account on the local server (`localhost`, the name on its
/// certificate).
pub fn maria_secret(user: &str, password: &str) -> Value {
    secret_on(Server::MariaDb, user, password)
}

/// A secret for the server's admin, the local master for alternating users (all privileges
/// with grant option, as the RDS master user has).
pub fn admin_secret(server: Server) -> Value {
    let (user, pw) = server.admin();
    secret_on(server, user, pw)
}

/// [`maria_secret`] for either server (engine `mariadb` or `mysql`).
pub fn secret_on(server: Server, user: &str, password: &str) -> Value {
    serde_json::json!({
        "engine": server.engine(),
        "host": server.host(),
        "username": user,
        "password": password,
        "port": server.port(),
    })
}

// ---------------------------------------------------------------- alternating users

/// Runs fixture statements in an admin session (out of the general log, NO_BACKSLASH_ESCAPES),
/// each asserted to succeed.
pub async fn do_on(server: Server, statements: &[String]) {
    let mut admin = admin_on(server).await;
    for sql in statements {
        admin
            .query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("fixture statement failed: {e}"));
    }
}

/// `SHOW GRANTS FOR user@host` as the server prints it (backtick quoting), sorted; the global
/// line without its `IDENTIFIED BY PASSWORD` / `REQUIRE` / limits tail, so lines of two
/// accounts compare after replacing the grantee.
pub async fn grants_on(server: Server, user: &str, host: &str) -> Vec<String> {
    let mut admin = admin_on(server).await;
    let mut lines: Vec<String> = admin
        .query(format!("SHOW GRANTS FOR {}", account(user, host)))
        .await
        .unwrap();
    let grantee = account(user, host);
    for line in &mut lines {
        if let Some(at) = line.find(&format!("{grantee} IDENTIFIED")) {
            line.truncate(at + grantee.len());
        }
    }
    lines.sort();
    lines
}

/// The grants of `user@host` written for `other@host`, for comparison with [`grants_on`].
pub async fn grants_as_on(server: Server, user: &str, other: &str, host: &str) -> Vec<String> {
    let (from, to) = (account(user, host), account(other, host));
    let mut lines: Vec<String> = grants_on(server, user, host)
        .await
        .into_iter()
        .map(|l| l.replace(&from, &to))
        .collect();
    lines.sort();
    lines
}

/// The host parts of every account of `user`, sorted (MySQL keeps roles as accounts under their own names).
pub async fn hosts_on(server: Server, user: &str) -> Vec<String> {
    let mut admin = admin_on(server).await;
    let sql = match server {
        Server::MariaDb => "SELECT Host FROM mysql.user WHERE User = ? AND is_role = 'N'",
        Server::MySql => "SELECT Host FROM mysql.user WHERE User = ?",
    };
    let mut hosts: Vec<String> = admin.exec(sql, (user,)).await.unwrap();
    hosts.sort();
    hosts
}

/// `mysql.user.ssl_type` of an account: '' (none), 'ANY' (REQUIRE SSL), 'X509', 'SPECIFIED'.
pub async fn ssl_type_on(server: Server, user: &str, host: &str) -> String {
    let mut admin = admin_on(server).await;
    admin
        .exec_first::<String, _, _>(
            "SELECT ssl_type FROM mysql.user WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account {user}@{host}"))
}

/// Logs in as a user over verified TLS to `localhost` and runs one query; gives the first
/// column of each row.
pub async fn query_as_on(
    server: Server,
    user: &str,
    password: &str,
    sql: &str,
) -> Result<Vec<String>, mysql_async::Error> {
    let s = services();
    let pem = std::fs::read(&s.ca_file).unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
        .ssl_opts(mysql_async::SslOpts::default().with_root_certs(vec![pem.into()]));
    let mut conn = mysql_async::Conn::new(opts).await?;
    let rows: Result<Vec<String>, _> = conn.query(sql).await;
    let _ = conn.disconnect().await;
    rows
}

/// A master for alternating users: an account for `%` with these global privileges (e.g.
/// `ALL PRIVILEGES ON *.* … WITH GRANT OPTION`, given as the text after GRANT up to TO and
/// after TO's grantee), and its secret. Returns (user, secret ARN).
pub async fn master_on(server: Server, privileges: &str, with: &str) -> (String, String) {
    let name = short_unique("dsr_master");
    let pw = super::password("master");
    create_user_on(server, &name, "%", &pw, false).await;
    do_on(
        server,
        &[format!(
            "GRANT {privileges} TO {} {with}",
            account(&name, "%")
        )],
    )
    .await;
    let arn = super::create_secret(&secret_on(server, &name, &pw)).await;
    (name, arn)
}

/// An account's TLS requirement and limits as `mysql.user` holds them: ssl_type, ssl_cipher,
/// x509_issuer, x509_subject, max_user_connections.
pub async fn requirement_on(
    server: Server,
    user: &str,
    host: &str,
) -> (String, String, String, String, u64) {
    let mut admin = admin_on(server).await;
    let row: Option<mysql_async::Row> = admin
        .exec_first(
            "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_user_connections \
             FROM mysql.user WHERE User = ? AND Host = ?",
            (user, host),
        )
        .await
        .unwrap();
    let mut row = row.unwrap_or_else(|| panic!("no account {user}@{host}"));
    let mut text = |i: usize| -> String {
        let v: Option<Vec<u8>> = row.take(i);
        String::from_utf8_lossy(&v.unwrap_or_default()).into_owned()
    };
    let (t, c, i, s) = (text(0), text(1), text(2), text(3));
    let n: u64 = row.take(4).unwrap_or(0);
    (t, c, i, s, n)
}

/// A unique name short enough for MySQL (32 characters), also with `_clone` appended:
/// `prefix` (at most 16 characters), `_` and 9 hexadecimal digits of [`super::unique`].
pub fn short_unique(prefix: &str) -> String {
    use std::hash::{Hash, Hasher};
    assert!(prefix.len() <= 16, "{prefix}");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    super::unique(prefix).hash(&mut h);
    format!("{prefix}_{:09x}", h.finish() & 0xf_ffff_ffff)
}
