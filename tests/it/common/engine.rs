//! One fixture per database engine behind one trait, for the suites that run the same
//! scenario on every engine (tests/it/repair.rs, tests/it/causes_db.rs): a login user, a master
//! for alternating users, the user's secret, a login as the user, and the engine's facts
//! those scenarios assert (the server's code for a wrong password, its name limit).

use super::mysql::{self, Server};
use super::*;

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
    ($engine:ty, $server:expr, $($rest:tt)*) => {
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
