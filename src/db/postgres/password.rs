//! PostgreSQL password changes: `ALTER ROLE ... PASSWORD` with a verifier computed here
//! (SCRAM-SHA-256, or an md5 hash for legacy clients), so the plaintext never reaches SQL text
//! or the server's statement log; server-side lock and statement timeouts that end before the
//! deadline; and the advisory lock that serialises two setSecrets on the same user.

use super::error::Operation;
use super::PgSession;
use crate::config::PgPasswordEncryption;
use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::secret::Password;
use crate::telemetry;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use std::time::Duration;

/// `SELECT pg_advisory_lock(...)` on a key derived from `name`: one lock per user and purpose.
/// It ends with the session.
pub(super) fn advisory_lock_sql(name: &str) -> String {
    format!(
        "SELECT pg_advisory_lock(hashtext({}))",
        escape_literal(&format!("db-secret-rotator {name}"))
    )
}

/// `ALTER ROLE user WITH PASSWORD 'verifier'`.
fn alter_password_sql(user: &str, verifier: &str) -> String {
    format!(
        "ALTER ROLE {} WITH PASSWORD {}",
        escape_identifier(user),
        escape_literal(verifier)
    )
}

impl PgSession {
    /// Keeps a lock wait from outliving the deadline: the server cancels the statement itself,
    /// a little before the watchdog would. A wait the watchdog cut short would only drop the
    /// connection, and a backend waiting on a lock does not notice that: its ALTER ROLE would
    /// still run once the lock is released, after the step has reported failure.
    pub(super) async fn bound_statements(&self, deadline: &Deadline) -> Result<(), Failure> {
        const SERVER_FIRST: Duration = Duration::from_millis(200);
        let ms = deadline
            .budget()
            .saturating_sub(SERVER_FIRST)
            .as_millis()
            .max(1);
        self.statement(
            Operation::SetTimeouts,
            deadline,
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
        // concurrently updated" (XX000). The second waits here, then sets the same password.
        self.statement(
            Operation::Lock,
            deadline,
            &advisory_lock_sql(&format!("password {user}")),
        )
        .await?;
        self.statement(
            Operation::AlterPassword,
            deadline,
            &alter_password_sql(user, &verifier),
        )
        .await?;
        telemetry::password_changed(user, method);
        Ok(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_quoted_for_standard_conforming_strings() {
        // A backslash makes it an E'' literal, safe whatever standard_conforming_strings says.
        assert_eq!(
            advisory_lock_sql("password a'b\\c"),
            "SELECT pg_advisory_lock(hashtext( E'db-secret-rotator password a''b\\\\c'))"
        );
        assert_eq!(
            alter_password_sql("we\"ird%User", "SCRAM-SHA-256$4096:c2FsdA==$a:b"),
            "ALTER ROLE \"we\"\"ird%User\" WITH PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b'"
        );
    }
}
