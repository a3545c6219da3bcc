//! Alternating users on PostgreSQL, run as the master.
//!
//! The clone is a member of the original role (`GRANT original TO clone`) and its sessions
//! act as the original (`ALTER ROLE clone SET role = 'original'`). So privileges never need
//! copying (membership carries them, including those granted later), pg_hba group rules
//! (`+group`, which match indirect members) apply to the clone as they do to the original,
//! and every object the clone creates is owned by the original: ownership never drifts
//! between the two users. The original is never made a member of the clone; when the
//! pending user is the original, only its password changes.

use super::error::Operation;
use super::password::advisory_lock_sql;
use super::PgSession;
use crate::config::PgPasswordEncryption;
use crate::db::{failure, AlternateChange, AlternateUser};
use crate::deadline::Deadline;
use crate::failure::Failure;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use tokio_postgres::error::SqlState;

impl PgSession {
    async fn role_exists(&self, deadline: &Deadline, role: &str) -> Result<bool, Failure> {
        self.run(Operation::LookupRole, deadline, async {
            self.client
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[&role],
                )
                .await
                .map(|row| row.is_some())
        })
        .await
    }

    /// `CREATE ROLE clone LOGIN` (no password yet: a role without one cannot log in with a
    /// password). Another setSecret creating it at the same moment is not an error.
    async fn create_login_role(&self, deadline: &Deadline, role: &str) -> Result<bool, Failure> {
        let sql = format!("CREATE ROLE {} LOGIN", escape_identifier(role));
        self.run(Operation::CreateUser, deadline, async {
            match self.client.batch_execute(&sql).await {
                Ok(()) => Ok(true),
                // 42710 duplicate_object: created concurrently.
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_OBJECT) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Makes the pending user of an alternating pair ready: creates the clone if missing,
    /// keeps its membership and role setting in place, and sets the pending password unless
    /// it already logs in.
    pub async fn ensure_alternate_user(
        &mut self,
        user: &AlternateUser<'_>,
        encryption: PgPasswordEncryption,
        deadline: &Deadline,
    ) -> Result<AlternateChange, Failure> {
        self.bound_statements(deadline).await?;
        let original = user.original();
        // Two setSecrets at once (Secrets Manager retries) would otherwise race on the same
        // catalog rows ("tuple concurrently updated").
        self.statement(
            Operation::Lock,
            deadline,
            &advisory_lock_sql(&format!("alternating {original}")),
        )
        .await?;
        if !self.role_exists(deadline, original).await? {
            return Err(failure::original_user_missing(original)
                .with("server_message", "role does not exist")
                .remedy(format!(
                    "Create the role {original} again (with its privileges), or point the secret at an existing user."
                )));
        }
        let mut created = false;
        if user.pending_is_clone() {
            let clone = user.pending;
            if !self.role_exists(deadline, clone).await? {
                created = self.create_login_role(deadline, clone).await?;
            }
            self.statement(
                Operation::Grant,
                deadline,
                &format!(
                    "GRANT {} TO {}",
                    escape_identifier(original),
                    escape_identifier(clone)
                ),
            )
            .await?;
            self.statement(
                Operation::AlterRole,
                deadline,
                &format!(
                    "ALTER ROLE {} SET role = {}",
                    escape_identifier(clone),
                    escape_literal(original)
                ),
            )
            .await?;
        }
        let password_changed = created || !user.password_in_place;
        if password_changed {
            self.set_password(user.pending, user.password, encryption, deadline)
                .await?;
        }
        Ok(AlternateChange {
            created,
            password_changed,
        })
    }

    /// Whether the logged-in user may create roles and manage memberships (CREATEROLE or
    /// superuser).
    pub async fn can_manage_users(&mut self, deadline: &Deadline) -> Result<bool, Failure> {
        self.run(Operation::LookupRole, deadline, async {
            self.client
                .query_one(
                    "SELECT rolcreaterole OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                    &[],
                )
                .await
                .map(|row| row.get::<_, bool>(0))
        })
        .await
    }
}
