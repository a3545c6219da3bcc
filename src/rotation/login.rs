//! Logging in with stored credentials: the record of one login attempt ([`LoginAttempt`],
//! shared by the steps' `db_login_failed` evidence and the commands' reports), the steps'
//! list of candidates (`Attempts`), and the rule for which stored version may be tried as
//! the account's login at all ([`names_this_account`]).

use crate::config::Strategy;
use crate::db::{self, DbOptions, Session, TlsMode};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{DbSecret, SecretRole};
use serde::Serialize;
use serde_json::Value;

/// One login attempt as reports and evidence show it. The password is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginAttempt {
    /// The stage the credentials came from (`current`, `pending`, `previous`, `master`).
    pub secret: &'static str,
    /// The version tried, when the caller names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The user that logged in or was refused.
    pub user: String,
    /// `login_ok`, or what the attempt ended in (a cause code, or the caller's own word).
    pub outcome: &'static str,
    /// The TLS mode used (`verified`, `none`), when the connection got that far.
    pub tls: Option<String>,
    /// The database's error code of a failed attempt (`null` when it gave none); absent when
    /// it logged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Value>,
    /// The authentication method the server asked for and the client could not perform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl LoginAttempt {
    /// `secret` of `role` logged in over `tls`.
    pub fn logged_in(secret: &DbSecret, role: SecretRole, tls: TlsMode) -> Self {
        LoginAttempt {
            secret: role.as_str(),
            version_id: None,
            user: secret.username.clone(),
            outcome: "login_ok",
            tls: Some(tls.as_str().to_string()),
            code: None,
            method: None,
        }
    }

    /// `secret` of `role` failed with `f`; the outcome is the failure's cause code.
    pub fn failed(secret: &DbSecret, role: SecretRole, f: &Failure) -> Self {
        LoginAttempt {
            secret: role.as_str(),
            version_id: None,
            user: secret.username.clone(),
            outcome: f.cause.code(),
            tls: f
                .evidence
                .get("tls_mode_used")
                .and_then(Value::as_str)
                .map(str::to_string),
            // Copied from the evidence (output only): it is what the failure itself shows.
            code: Some(f.evidence.get("code").cloned().unwrap_or(Value::Null)),
            method: None,
        }
    }

    /// The same attempt, naming the version tried.
    pub fn of_version(mut self, version_id: &str) -> Self {
        self.version_id = Some(version_id.to_string());
        self
    }

    /// The same attempt, with the caller's word for how it ended.
    pub fn with_outcome(mut self, outcome: &'static str) -> Self {
        self.outcome = outcome;
        self
    }

    /// The same attempt, naming the authentication method the server asked for.
    pub fn with_method(mut self, method: Option<&str>) -> Self {
        self.method = method.map(str::to_string);
        self
    }
}

/// The attempts made so far.
#[derive(Debug, Default)]
pub(super) struct Attempts(Vec<LoginAttempt>);

impl Attempts {
    /// Tries one candidate and records it. Only an authentication refusal (`Ok(None)`) lets
    /// the caller go on to the next candidate; any other failure (network, TLS, access rule)
    /// is the answer. The session is kept for the caller's work.
    pub async fn try_candidate(
        &mut self,
        secret: &DbSecret,
        role: SecretRole,
        opts: &DbOptions,
        deadline: &Deadline,
    ) -> Result<Option<Session>, Failure> {
        match db::connect(secret, role, opts, deadline).await {
            Ok(session) => {
                self.0
                    .push(LoginAttempt::logged_in(secret, role, session.tls()));
                Ok(Some(session))
            }
            Err(f) => {
                self.0.push(LoginAttempt::failed(secret, role, &f));
                if f.cause == Cause::DbLoginFailed {
                    Ok(None)
                } else {
                    Err(f)
                }
            }
        }
    }

    /// The attempts, for the evidence of another failure.
    pub fn into_values(self) -> Value {
        attempts_value(&self.0)
    }

    /// The final failure when no candidate logged in.
    pub fn login_failed(self, user: &str, message: &str) -> Failure {
        Failure::new(Cause::DbLoginFailed, message)
            .with("user", user)
            .with("attempts", attempts_value(&self.0))
    }
}

fn attempts_value(attempts: &[LoginAttempt]) -> Value {
    // A struct of strings and JSON values always serialises.
    serde_json::to_value(attempts).unwrap_or(Value::Null)
}

/// Whether `other` (an AWSPENDING or AWSPREVIOUS value, with AWSCURRENT's TLS setting) can be
/// this account's login, so that trying it is safe: the same host, port and engine family,
/// and the same user (single user) or one of the pair (alternating users). A value naming
/// anything else is never connected to: a tampered or foreign version must not send the
/// password to another server or log in as another user.
pub fn names_this_account(current: &DbSecret, other: &DbSecret, strategy: Strategy) -> bool {
    let user_ok = match strategy {
        Strategy::SingleUser => other.username == current.username,
        Strategy::AlternatingUsers => {
            super::alternating::check_pair(current, other).is_ok()
                || other.username == current.username
        }
    };
    user_ok
        && other.host == current.host
        && other.port == current.port
        && other.family == current.family
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::DbCode;
    use serde_json::json;

    fn secret(user: &str, host: &str) -> DbSecret {
        let text = json!({"engine": "postgres", "host": host, "port": 5432,
            "username": user, "password": "pw-not-shown"})
        .to_string();
        DbSecret::parse(&text, SecretRole::Current).unwrap()
    }

    #[test]
    fn an_attempt_serialises_to_the_fields_of_the_evidence_and_reports() {
        let s = secret("app", "db.example");
        let ok = LoginAttempt::logged_in(&s, SecretRole::Current, TlsMode::Verified);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"secret":"current","user":"app","outcome":"login_ok","tls":"verified"}"#
        );
        let refused = Failure::new(Cause::DbLoginFailed, "no")
            .with("tls_mode_used", "none")
            .db_code(DbCode::SqlState("28P01".into()));
        let a = LoginAttempt::failed(&s, SecretRole::Pending, &refused).of_version("v1");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"secret": "pending", "version_id": "v1", "user": "app",
                "outcome": "db_login_failed", "tls": "none", "code": "28P01"})
        );
        let bare = Failure::new(Cause::DbUnreachable, "down");
        let a = LoginAttempt::failed(&s, SecretRole::Pending, &bare)
            .with_outcome("refused")
            .with_method(Some("sha256_password"));
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"secret": "pending", "user": "app", "outcome": "refused", "tls": null,
                "code": null, "method": "sha256_password"})
        );
        assert!(!serde_json::to_string(&a).unwrap().contains("pw-not-shown"));
    }

    #[test]
    fn only_a_version_naming_this_account_may_be_tried() {
        let current = secret("app", "db.example");
        for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
            assert!(names_this_account(&current, &current, strategy));
            let elsewhere = secret("app", "evil.example");
            assert!(!names_this_account(&current, &elsewhere, strategy));
        }
        let stranger = secret("root", "db.example");
        assert!(!names_this_account(
            &current,
            &stranger,
            Strategy::SingleUser
        ));
        assert!(!names_this_account(
            &current,
            &stranger,
            Strategy::AlternatingUsers
        ));
        let clone = secret(
            &crate::rotation::alternating::alternate_username("app"),
            "db.example",
        );
        assert!(!names_this_account(&current, &clone, Strategy::SingleUser));
        assert!(names_this_account(
            &current,
            &clone,
            Strategy::AlternatingUsers
        ));
    }
}
