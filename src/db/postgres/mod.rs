//! PostgreSQL: tokio-postgres over postgres-native-tls with SCRAM-SHA-256 login.
//!
//! - this file: connecting and logging in, the session, and running one statement under the
//!   deadline;
//! - [`error`]: what failed and why (the SQLSTATE table and the one failure builder);
//! - `password`: password changes, sent as a verifier computed here ([`scram`]) so the
//!   plaintext never reaches SQL text or the server's statement log, under an advisory lock;
//! - `alternate`: alternating users (the clone is a member of the original role).

pub mod error;
pub mod scram;

mod alternate;
mod password;

use super::{Attempt, DbOptions, TlsMode};
use crate::deadline::{Deadline, Wait};
use crate::failure::Failure;
use error::{Operation, Site};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_postgres::config::SslMode;

/// An open connection; the driver task ends when it is dropped.
pub struct PgSession {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
    /// TLS mode in use.
    pub tls: TlsMode,
    /// The host logged in to (evidence of statement failures).
    host: String,
    port: u16,
    user: String,
}

impl Drop for PgSession {
    fn drop(&mut self) {
        // Dropping the client ends the connection; aborting makes sure no socket lingers.
        self.task.abort();
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
    let site = Site {
        host: &s.host,
        port: s.port,
        user: &s.username,
        database: s.database(),
        tls: a.tls,
    };
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
                        port: s.port,
                        user: s.username.clone(),
                    })
                }
                Ok(Err(e)) => Err(error::failure(
                    &e,
                    Operation::Login,
                    &site,
                    started.elapsed(),
                )),
                Err(_) => Err(super::failure::handshake_timeout(
                    "PostgreSQL",
                    &s.host,
                    s.port,
                    started.elapsed(),
                )),
            }
        })
        .await
        .map_err(|f| f.with("user", s.username.as_str()))
}

impl PgSession {
    /// Where this session is logged in, for failures.
    fn site(&self) -> Site<'_> {
        Site {
            host: &self.host,
            port: self.port,
            user: &self.user,
            database: None,
            tls: self.tls,
        }
    }

    /// Runs `work` as `op` under the deadline. A failure names the host, and for a wait the
    /// server cut short (our lock or statement timeout), how long it waited and how much time
    /// was left.
    async fn run<T>(
        &self,
        op: Operation,
        deadline: &Deadline,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Failure> {
        let started = Instant::now();
        deadline
            .run(
                Wait::DbStatement {
                    operation: op.as_str(),
                },
                async {
                    work.await.map_err(|e| {
                        let f = error::failure(&e, op, &self.site(), started.elapsed());
                        if f.cause == crate::failure::Cause::FunctionTimeoutImminent {
                            f.with("elapsed_ms", started.elapsed().as_millis() as u64)
                                .with("remaining_ms", deadline.remaining().as_millis() as u64)
                        } else {
                            f
                        }
                    })
                },
            )
            .await
    }

    /// Runs one or more statements without results.
    async fn statement(
        &self,
        op: Operation,
        deadline: &Deadline,
        sql: &str,
    ) -> Result<(), Failure> {
        self.run(op, deadline, self.client.batch_execute(sql)).await
    }

    /// `SELECT 1`.
    pub async fn check(&mut self, deadline: &Deadline) -> Result<(), Failure> {
        self.statement(Operation::Select, deadline, "SELECT 1")
            .await
    }
}
