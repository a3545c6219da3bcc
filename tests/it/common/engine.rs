//! The one fixture system: one fixture per database engine behind the [`Engine`] trait (a
//! login user, a master for alternating users, the user's secret, a login as the user, and
//! the engine's facts the scenarios assert: the server's code for a wrong password, its name
//! limit), [`MysqlFamily`] for the MariaDB and MySQL scenarios that reach for the server
//! itself, the alternating-users secret every suite starts from, and the [`engine_tests!`]
//! macro that runs a generic scenario under one module per engine (`postgres::`,
//! `mariadb::`, `mysql::`, same test names).

use super::mysql::{self, Server};
use super::*;
use serde_json::json;

/// The alternating-users environment for engines whose default name limit fits `_clone`.
const ALT: &[(&str, &str)] = &[("ROTATION_STRATEGY", "alternating_users")];

/// The fixtures of one database engine (the suites are single crates: no Send bound needed).
#[allow(async_fn_in_trait)]
pub trait Engine {
    /// A login user with this password.
    async fn create_user(user: &str, pw: &str);
    /// A login user the server admits over TLS only.
    async fn create_tls_only_user(user: &str, pw: &str);
    /// Changes the password behind the rotator's back.
    async fn set_password(user: &str, pw: &str);
    /// What the server stores for the user's password (a verifier or hash): equal before
    /// and after means the password did not change.
    async fn stored_password(user: &str) -> String;
    /// A master that may manage users, and its secret's ARN (alternating users).
    async fn master() -> String;
    /// A secret for the user.
    fn secret(user: &str, pw: &str) -> Value;
    /// Whether the user logs in with this password (verified TLS).
    async fn logs_in(user: &str, pw: &str) -> bool;
    /// Lets the user see that a database does not exist: MySQL and MariaDB answer "access
    /// denied to database" (1044) instead of "unknown database" (1049) to a user without a
    /// global privilege; PostgreSQL tells everyone.
    async fn may_see_every_database(_user: &str) {}
    /// Whether the server refuses a plaintext login to a TLS-only account with the code of a
    /// wrong password (MariaDB and MySQL: 1045), so that the function tells the two apart by
    /// logging in over TLS once (the failure's `probe`).
    const TLS_REFUSAL_NEEDS_A_PROBE: bool = false;
    /// The server's code for a wrong password, as a login attempt's `code` shows it.
    fn wrong_password_code() -> Value;
    /// A new user name with this prefix that still fits the engine's limit with `_clone`
    /// appended (alternating users).
    fn user_name(prefix: &str) -> String {
        unique(prefix)
    }
    /// The environment of an alternating-users rotation.
    const ALT: &'static [(&'static str, &'static str)] = ALT;
    /// Holds the server's global lock for reading (see `mysql::global_lock`) while a test
    /// runs; `None` for PostgreSQL, where no test changes a server-global setting.
    async fn share_server() -> Option<tokio::sync::RwLockReadGuard<'static, ()>> {
        None
    }
}

/// MariaDB and MySQL: the server behind the engine, for the `mysql` helpers.
pub trait MysqlFamily: Engine {
    /// Which server.
    const SERVER: Server;
}

impl MysqlFamily for MariaDb {
    const SERVER: Server = Server::MariaDb;
}

impl MysqlFamily for MySql {
    const SERVER: Server = Server::MySql;
}

/// An alternating-users secret for `user` (already created, logging in with `pw`): a new
/// master that may manage users (`masterarn`), the secret's `ssl` as given, and a field the
/// rotation must carry forward (`note`). Gives its ARN.
pub async fn alternating_secret<E: Engine>(user: &str, pw: &str, ssl: Option<bool>) -> String {
    let mut secret = E::secret(user, pw);
    if let Some(ssl) = ssl {
        secret["ssl"] = json!(ssl);
    }
    secret["masterarn"] = json!(E::master().await);
    secret["note"] = json!("carried forward");
    create_secret(&secret).await
}

/// PostgreSQL 15, SCRAM over verified TLS.
pub struct Postgres;

impl Engine for Postgres {
    async fn create_user(user: &str, pw: &str) {
        pg_create_user(services().pg_port, user, pw, &[]).await;
    }
    async fn create_tls_only_user(user: &str, pw: &str) {
        // pg_hba admits members of dsr_tls_only through hostssl lines only.
        pg_create_user(services().pg_port, user, pw, &["dsr_tls_only"]).await;
    }
    async fn set_password(user: &str, pw: &str) {
        pg_admin()
            .await
            .batch_execute(&format!(
                "SET log_statement = 'none'; ALTER ROLE {} PASSWORD {}",
                pg_ident(user),
                pg_lit(pw)
            ))
            .await
            .unwrap();
    }
    async fn stored_password(user: &str) -> String {
        pg_rolpassword(services().pg_port, user).await
    }
    async fn master() -> String {
        let (name, pw) = pg_master(true).await;
        create_secret(&pg_secret(&name, &pw)).await
    }
    fn secret(user: &str, pw: &str) -> Value {
        pg_secret(user, pw)
    }
    async fn logs_in(user: &str, pw: &str) -> bool {
        pg_login(services().pg_port, user, pw, true).await.is_ok()
    }
    fn wrong_password_code() -> Value {
        "28P01".into()
    }
}

/// MariaDB 10.11 (mysql_native_password, verified TLS).
pub struct MariaDb;

/// Oracle MySQL 9 (caching_sha2_password, verified TLS).
pub struct MySql;

macro_rules! mysql_family_engine {
    ($engine:ident, $server:expr, $($rest:tt)*) => {
        impl Engine for $engine {
            async fn create_user(user: &str, pw: &str) {
                mysql::create_user_on($server, user, "%", pw, false).await;
            }
            async fn create_tls_only_user(user: &str, pw: &str) {
                mysql::create_user_on($server, user, "%", pw, true).await;
            }
            async fn set_password(user: &str, pw: &str) {
                mysql::set_password_on($server, user, "%", pw).await;
            }
            async fn stored_password(user: &str) -> String {
                mysql::auth_string_on($server, user, "%").await
            }
            async fn master() -> String {
                mysql::master_on($server, "ALL PRIVILEGES ON *.*", "WITH GRANT OPTION")
                    .await
                    .1
            }
            fn secret(user: &str, pw: &str) -> Value {
                mysql::secret_on($server, user, pw)
            }
            async fn logs_in(user: &str, pw: &str) -> bool {
                mysql::login_on($server, user, pw, true).await.is_ok()
            }
            async fn may_see_every_database(user: &str) {
                mysql::do_on(
                    $server,
                    &[format!("GRANT SELECT ON *.* TO {}", mysql::account(user, "%"))],
                )
                .await;
            }
            fn wrong_password_code() -> Value {
                1045.into()
            }
            const TLS_REFUSAL_NEEDS_A_PROBE: bool = true;
            async fn share_server() -> Option<tokio::sync::RwLockReadGuard<'static, ()>> {
                Some(mysql::shared($server).await)
            }
            $($rest)*
        }
    };
}

mysql_family_engine!(MariaDb, Server::MariaDb,);

// Braces: rustfmt leaves the items inside alone.
mysql_family_engine! {
    MySql,
    Server::MySql,
    // MySQL user names hold at most 32 characters.
    fn user_name(prefix: &str) -> String {
        mysql::short_unique(prefix)
    }
    // The documented setting for MySQL 8+: the default limit, 16, is MySQL 5.6's, and the
    // `_clone` of a 21-character name needs 27.
    const ALT: &'static [(&'static str, &'static str)] = &[
        ("ROTATION_STRATEGY", "alternating_users"),
        ("USERNAME_CHARACTER_LIMIT", "32"),
    ];
}

/// The tests of a suite, in one module per engine: each `shared` scenario (an
/// `async fn<E: Engine>()`, or `<E: MysqlFamily>`) under the same name in every engine's
/// module, then each engine's own tests (an `async fn()`, or `test_name = function` where two
/// engines' own tests share a name but not a body):
///
/// ```ignore
/// crate::engine_tests! {
///     shared: [scenario_a, scenario_b],
///     postgres: Postgres [],
///     mariadb: MariaDb [mariadb_only],
///     mysql: MySql [mysql_only],
/// }
/// ```
///
/// Each test holds its server's global lock for reading ([`Engine::share_server`]); a suite
/// whose tests take the lock themselves, some for writing, starts with `locks: by_each_test,`.
#[macro_export]
macro_rules! engine_tests {
    (locks: by_each_test, shared: $shared:tt, $($module:ident: $engine:ident $own:tt),+ $(,)?) => {
        $($crate::engine_tests!(@engine by_each_test, $module, $engine, $shared, $own);)+
    };
    (shared: $shared:tt, $($module:ident: $engine:ident $own:tt),+ $(,)?) => {
        $($crate::engine_tests!(@engine shared, $module, $engine, $shared, $own);)+
    };
    (
        @engine $locks:ident, $module:ident, $engine:ident,
        [$($shared:ident),* $(,)?], [$($own:ident $(= $own_fn:ident)?),* $(,)?]
    ) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $shared() {
                    let _shared = $crate::engine_tests!(@lock $locks, $engine);
                    super::$shared::<$engine>().await
                }
            )*
            $(
                #[tokio::test]
                async fn $own() {
                    let _shared = $crate::engine_tests!(@lock $locks, $engine);
                    $crate::engine_tests!(@own $own $($own_fn)?)
                }
            )*
        }
    };
    (@lock shared, $engine:ident) => {
        <$engine as $crate::common::engine::Engine>::share_server().await
    };
    (@lock by_each_test, $engine:ident) => {
        ()
    };
    (@own $own:ident) => { super::$own().await };
    (@own $own:ident $own_fn:ident) => { super::$own_fn().await };
}
