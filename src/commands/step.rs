//! `step`: ONE rotation step, run exactly as the Lambda handler runs it: the arguments become
//! the rotation event, handed to [`crate::commands::invoke`] with a deadline `--timeout-ms`
//! away. Its report is the step's [`Outcome`]; the step's log lines (on stdout) tell it as it
//! runs, so the command line prints nothing more and exits 0 or 1.

use crate::app::App;
use crate::deadline::Deadline;
use crate::failure::Failure;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// Run ONE rotation step exactly as the Lambda handler does.
#[derive(clap::Args)]
pub struct Args {
    /// The secret's ARN or name.
    #[arg(long)]
    pub secret_id: String,
    /// The version being rotated (ClientRequestToken).
    #[arg(long)]
    pub token: String,
    /// createSecret, setSecret, testSecret or finishSecret.
    #[arg(long)]
    pub step: String,
    /// Passed to PutSecretValue (cross-account rotation); never logged.
    #[arg(long)]
    pub rotation_token: Option<String>,
    /// The deadline, as if Lambda had this long left.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Args")
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field("step", &self.step)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "***"),
            )
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Runs the step through the Lambda handler's code path.
pub async fn run(app: &App, args: Args) -> Outcome {
    let mut event =
        json!({"Step": args.step, "SecretId": args.secret_id, "ClientRequestToken": args.token});
    if let Some(rt) = args.rotation_token {
        event["RotationToken"] = Value::String(rt);
    }
    let deadline = Deadline::after(Duration::from_millis(args.timeout_ms), app.margin());
    crate::commands::invoke(app, event, deadline)
        .await
        .map(|_| ())
        .into()
}

/// What a step (or a whole rotation) came to: ok, or the failure it stopped on.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Whether it succeeded.
    pub ok: bool,
    /// The failure's cause code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// The failure's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The failure's remedy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl From<Result<(), Failure>> for Outcome {
    fn from(r: Result<(), Failure>) -> Outcome {
        match r {
            Ok(()) => Outcome {
                ok: true,
                cause: None,
                message: None,
                remedy: None,
            },
            Err(f) => Outcome {
                ok: false,
                cause: Some(f.cause.code()),
                message: Some(f.message),
                remedy: Some(f.remedy),
            },
        }
    }
}

impl crate::commands::Report for Outcome {
    fn ok(&self) -> bool {
        self.ok
    }

    /// The step's result as the `step_failed` text line words it.
    fn to_text(&self) -> String {
        match (&self.cause, &self.message, &self.remedy) {
            (Some(cause), Some(message), Some(remedy)) => {
                format!("FAILED {cause}\nmessage  {message}\nremedy   {remedy}\n")
            }
            _ => "ok\n".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Report as _;
    use crate::failure::Cause;

    #[test]
    fn a_failure_gives_its_cause_and_remedy_and_never_the_rotation_token() {
        let failed: Outcome = Err(Failure::new(Cause::DbLoginFailed, "refused")).into();
        assert!(!failed.ok());
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["cause"], "db_login_failed");
        assert!(failed
            .to_text()
            .contains("remedy   The password was changed"));
        let ok: Outcome = Ok(()).into();
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"ok":true}"#);
        let args = Args {
            secret_id: "s".into(),
            token: "t".into(),
            step: "setSecret".into(),
            rotation_token: Some("hidden-token".into()),
            timeout_ms: 1,
        };
        assert!(!format!("{args:?}").contains("hidden-token"));
    }
}
