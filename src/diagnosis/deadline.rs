//! The deadline watchdog: every network wait gets a budget that ends `DEADLINE_MARGIN_MS`
//! before the Lambda deadline, and a wait cut short is named by what it waited on.
//!
//! Lambda kills a function at its deadline without a word ("no activity" in the logs). Keeping a
//! margin back means the step can always classify the wait and write its `step_failed` event.

use super::cause::{Cause, Failure};
use std::future::Future;
use std::time::{Duration, Instant};

/// What a network wait is waiting on: it decides the cause when the budget runs out.
#[derive(Debug, Clone)]
pub enum Wait {
    /// A Secrets Manager API call.
    SecretsManager {
        /// The API operation, e.g. `GetSecretValue`.
        operation: &'static str,
        /// The endpoint URL in use.
        endpoint: String,
    },
    /// An RDS API call.
    Rds {
        /// The API operation.
        operation: &'static str,
        /// The endpoint URL in use.
        endpoint: String,
    },
    /// Connecting and logging in to a database.
    DbConnect {
        /// Host name from the secret.
        host: String,
        /// Port.
        port: u16,
    },
    /// A statement on an open database connection (may wait on a lock).
    DbStatement {
        /// What the statement does, e.g. `alter_password`.
        operation: &'static str,
    },
}

/// The time left for one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    hard: Instant,
    margin: Duration,
}

impl Deadline {
    /// A deadline `total` from now, keeping `margin` back for classification and reporting.
    pub fn after(total: Duration, margin: Duration) -> Self {
        let started = Instant::now();
        // A margin larger than half the time would leave nothing to work with: cap it.
        let margin = margin.min(total / 2);
        Deadline {
            started,
            hard: started + total,
            margin,
        }
    }

    /// A deadline at a wall-clock instant given in milliseconds since the Unix epoch (Lambda's).
    pub fn at_epoch_ms(deadline_ms: u64, margin: Duration) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Deadline::after(
            Duration::from_millis(deadline_ms.saturating_sub(now_ms)),
            margin,
        )
    }

    /// Time left before the budget for network waits runs out.
    pub fn budget(&self) -> Duration {
        (self.hard - self.margin).saturating_duration_since(Instant::now())
    }

    /// Time left before the Lambda deadline itself.
    pub fn remaining(&self) -> Duration {
        self.hard.saturating_duration_since(Instant::now())
    }

    /// Time since the invocation started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A per-attempt timeout (e.g. `DB_CONNECT_TIMEOUT_MS`) cut to fit the budget.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.budget())
    }

    /// Runs `fut` within the budget; when the budget runs out, fails with the cause that
    /// `wait` names, `"deadline": true` in its evidence.
    pub async fn run<T, F>(&self, wait: Wait, fut: F) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        match tokio::time::timeout(self.budget(), fut).await {
            Ok(result) => result,
            Err(_) => Err(self.expired(&wait, started.elapsed())),
        }
    }

    /// The failure for a wait cut short by the deadline.
    pub fn expired(&self, wait: &Wait, waited: Duration) -> Failure {
        let elapsed_ms = waited.as_millis() as u64;
        let remaining_ms = self.remaining().as_millis() as u64;
        match wait {
            Wait::SecretsManager {
                operation,
                endpoint,
            } => Failure::new(
                Cause::SecretsManagerUnreachable,
                format!("Secrets Manager did not answer {operation} before the function deadline"),
            )
            .with("endpoint", endpoint.as_str())
            .with("operation", *operation)
            .with("phase", "response")
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .with("deadline", true),
            Wait::Rds {
                operation,
                endpoint,
            } => Failure::new(
                Cause::RdsApiUnreachable,
                format!("the RDS API did not answer {operation} before the function deadline"),
            )
            .with("endpoint", endpoint.as_str())
            .with("operation", *operation)
            .with("phase", "response")
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .with("deadline", true),
            Wait::DbConnect { host, port } => Failure::new(
                Cause::DbUnreachable,
                format!("no database connection to {host}:{port} before the function deadline"),
            )
            .with("host", host.as_str())
            .with("port", *port)
            .with("phase", "connect")
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms)
            .with("deadline", true),
            Wait::DbStatement { operation } => Failure::new(
                Cause::FunctionTimeoutImminent,
                format!("the database statement ({operation}) was still running near the function deadline"),
            )
            .with("operation", *operation)
            .with("elapsed_ms", elapsed_ms)
            .with("remaining_ms", remaining_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_kept_back_and_capped() {
        let d = Deadline::after(Duration::from_secs(10), Duration::from_millis(1500));
        assert!(d.budget() <= Duration::from_millis(8500));
        assert!(d.remaining() > d.budget());
        let tiny = Deadline::after(Duration::from_millis(100), Duration::from_secs(5));
        assert!(tiny.budget() > Duration::ZERO);
        assert!(d.cap(Duration::from_secs(60)) <= Duration::from_millis(8500));
    }

    #[tokio::test]
    async fn a_wait_past_the_budget_is_named_by_what_it_waited_on() {
        let d = Deadline::after(Duration::from_millis(200), Duration::from_millis(50));
        let wait = Wait::DbConnect {
            host: "db.example".into(),
            port: 5432,
        };
        let err = d
            .run(wait, async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), Failure>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.cause, Cause::DbUnreachable);
        assert_eq!(err.evidence["deadline"], true);
        assert!(
            d.remaining() > Duration::ZERO,
            "reported before the deadline"
        );
    }
}
