//! MariaDB helpers for the integration tests: an admin session whose fixture DDL stays out
//! of the general log, accounts with any name, host part, password and TLS requirement,
//! logins as those accounts, and secrets pointing at them.

use super::services;
use mysql_async::prelude::Queryable;
use serde_json::Value;

/// Serialises tests that change MariaDB's GLOBAL `sql_mode` (they take it for writing)
/// against the other tests of the same binary (they take it for reading).
pub fn sql_mode_lock() -> &'static tokio::sync::RwLock<()> {
    static LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
    &LOCK
}

fn admin_opts() -> mysql_async::OptsBuilder {
    let s = services();
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(s.mariadb_port)
        .user(Some(s.mariadb_admin_user.as_str()))
        .pass(Some(s.mariadb_admin_password.as_str()))
        .prefer_socket(false)
}

/// An admin session (all privileges) whose statements never reach the general log, in
/// `NO_BACKSLASH_ESCAPES` so that [`lit`] quoting holds whatever the global `sql_mode` is.
pub async fn maria_admin() -> mysql_async::Conn {
    let mut conn = mysql_async::Conn::new(admin_opts())
        .await
        .expect("admin connection to MariaDB (is `scripts/services up` running?)");
    conn.query_drop("SET SESSION sql_log_off = 1, SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    conn
}

/// A string literal for the admin session (`NO_BACKSLASH_ESCAPES`: only quotes doubled).
pub fn lit(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// An account name `'user'@'host'`, backtick-quoted.
pub fn account(user: &str, host: &str) -> String {
    format!(
        "`{}`@`{}`",
        user.replace('`', "``"),
        host.replace('`', "``")
    )
}

/// Creates an account; the server hashes the password itself (so a login with a
/// password the rotator set proves its client-side hash right).
pub async fn maria_create_user(user: &str, host: &str, password: &str, require_ssl: bool) {
    let mut admin = maria_admin().await;
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
pub async fn maria_set_password(user: &str, host: &str, password: &str) {
    let mut admin = maria_admin().await;
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
    let mut admin = maria_admin().await;
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
    let s = services();
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .tcp_port(s.mariadb_port)
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

/// Sets MariaDB's GLOBAL `sql_mode` (new sessions take it); gives the previous value.
pub async fn maria_set_global_sql_mode(mode: &str) -> String {
    let mut admin = maria_admin().await;
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

/// Everything MariaDB's general log holds so far.
pub fn maria_general_log() -> String {
    std::fs::read(&services().mariadb_general_log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A secret for a MariaDB account on the local server (`localhost`, the name on its
/// certificate).
pub fn maria_secret(user: &str, password: &str) -> Value {
    serde_json::json!({
        "engine": "mariadb",
        "host": services().mariadb_host,
        "username": user,
        "password": password,
        "port": services().mariadb_port,
    })
}
