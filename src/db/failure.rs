//! Failure builders every driver shares, so that the same fact reads the same whichever
//! engine produced it.

use crate::failure::{Cause, DbCode, Failure};
use crate::net::Phase;
use std::time::Duration;

/// No usable connection to the database server: `engine` (`PostgreSQL`, `MySQL`) at
/// `host:port` failed in `phase` after `elapsed`.
pub fn unreachable(
    engine: &str,
    host: &str,
    port: u16,
    phase: Phase,
    elapsed: Duration,
) -> Failure {
    Failure::new(
        Cause::DbUnreachable,
        format!("cannot reach {engine} at {host}:{port} ({phase})"),
    )
    .with("host", host)
    .with("port", port)
    .phase(phase)
    .with("elapsed_ms", elapsed.as_millis() as u64)
}

/// The connection was made but the login handshake did not finish within the per-attempt
/// connect timeout.
pub fn handshake_timeout(engine: &str, host: &str, port: u16, elapsed: Duration) -> Failure {
    Failure::new(
        Cause::DbUnreachable,
        format!("{engine} at {host}:{port} did not complete the login handshake in time"),
    )
    .with("host", host)
    .with("port", port)
    .phase(Phase::Handshake)
    .with("elapsed_ms", elapsed.as_millis() as u64)
}

/// An established connection dropped while `operation` ran.
pub fn dropped(host: &str, operation: &str, code: DbCode) -> Failure {
    Failure::new(
        Cause::DbUnavailable,
        format!("the connection to {host} dropped during {operation}"),
    )
    .with("host", host)
    .db_code(code)
}

/// The user the secret names has no account or role on the server (alternating users: the
/// original user must exist before it can be alternated with).
pub fn original_user_missing(user: &str) -> Failure {
    Failure::new(
        Cause::DbAccessRuleMissing,
        format!("the user {user} does not exist: there is nothing to alternate with"),
    )
    .with("user", user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_names_the_phase_as_signal_and_evidence() {
        let f = unreachable("MySQL", "db", 3306, Phase::Dns, Duration::from_millis(7));
        assert_eq!(f.cause, Cause::DbUnreachable);
        assert_eq!(f.signals.phase, Some(Phase::Dns));
        assert_eq!(f.evidence["phase"], "dns");
        assert_eq!(f.evidence["elapsed_ms"], 7);
        assert_eq!(f.message, "cannot reach MySQL at db:3306 (dns)");
    }
}
