//! Logging in with a list of candidate credentials, keeping a record of each attempt for the
//! `db_login_failed` evidence.

use crate::db::{self, DbOptions, Session};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{DbSecret, SecretRole};
use serde_json::{json, Value};

/// The attempts made so far, as `{secret, tls, outcome, code}` objects.
#[derive(Debug, Default)]
pub(super) struct Attempts(Vec<Value>);

impl Attempts {
    /// Tries one login. Only an authentication refusal lets the caller go on to the next
    /// candidate; any other failure (network, TLS, access rule) is the answer.
    pub async fn try_login(
        &mut self,
        secret: &DbSecret,
        role: SecretRole,
        opts: &DbOptions,
        deadline: &Deadline,
    ) -> Result<Option<Session>, Failure> {
        match db::connect(secret, role, opts, deadline).await {
            Ok(session) => {
                self.0.push(json!({
                    "secret": role.as_str(),
                    "user": secret.username,
                    "tls": session.tls().as_str(),
                    "outcome": "login_ok",
                }));
                Ok(Some(session))
            }
            Err(f) => {
                self.0.push(json!({
                    "secret": role.as_str(),
                    "user": secret.username,
                    "tls": f.evidence.get("tls_mode_used").cloned().unwrap_or(Value::Null),
                    "outcome": f.cause.code(),
                    "code": f.evidence.get("code").cloned().unwrap_or(Value::Null),
                }));
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
        Value::Array(self.0)
    }

    /// The final failure when no candidate logged in.
    pub fn login_failed(self, user: &str, message: &str) -> Failure {
        Failure::new(Cause::DbLoginFailed, message)
            .with("user", user)
            .with("attempts", Value::Array(self.0))
    }
}
