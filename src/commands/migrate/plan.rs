//! The decisions of a migration, pure: whether the secret is already on the target, what the
//! preflight's answer means, which schedule to keep, and the command that switches back.

use crate::outside::RotationRules;
use crate::text::{function_name, shell_quote};
use serde::Deserialize;

/// Whether rotation was on before the migration (RotateSecret turns it on; switching back
/// turns it off again if it was off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Rotation was enabled.
    On,
    /// A function may have been set, but rotation was disabled.
    Off,
}

impl Rotation {
    /// DescribeSecret's `RotationEnabled`.
    pub fn from_enabled(enabled: bool) -> Rotation {
        if enabled {
            Rotation::On
        } else {
            Rotation::Off
        }
    }
}

/// The command that puts the secret back the way it was: its old function and rules (with
/// rotation cancelled again if it was off), or no rotation when it had no function.
pub fn switch_back(
    arn: &str,
    old: Option<&str>,
    rules: Option<&RotationRules>,
    was: Rotation,
) -> String {
    let id = shell_quote(arn);
    let Some(old) = old else {
        return format!("aws secretsmanager cancel-rotate-secret --secret-id {id}");
    };
    let mut cmd =
        format!("aws secretsmanager rotate-secret --secret-id {id} --rotation-lambda-arn {old}");
    if let Some(r) = rules.filter(|r| !r.is_empty()) {
        cmd.push_str(&format!(
            " --rotation-rules {}",
            shell_quote(&r.to_string())
        ));
    }
    cmd.push_str(" --no-rotate-immediately");
    if was == Rotation::Off {
        cmd.push_str(&format!(
            " && aws secretsmanager cancel-rotate-secret --secret-id {id}"
        ));
    }
    cmd
}

/// Whether rotation is already on and uses the target function (by function name, so a name
/// and an ARN of one function agree).
pub fn already_on(old: Option<&str>, was: Rotation, target_arn: &str) -> bool {
    was == Rotation::On && old.map(function_name) == Some(function_name(target_arn))
}

/// The schedule RotateSecret is to keep: the secret's own rules when it has any, else the
/// `--schedule` expression, else none.
pub fn schedule(kept: Option<&RotationRules>, given: Option<&str>) -> Option<RotationRules> {
    match (kept, given) {
        (Some(r), _) if !r.is_empty() => Some(r.clone()),
        (_, Some(expr)) => Some(RotationRules::schedule(expr)),
        _ => None,
    }
}

/// The refusal when `--apply` has no schedule to keep.
pub const NO_SCHEDULE: &str = "the secret has no rotation schedule to keep: pass --schedule 'rate(30 days)' (or a cron expression)";

/// What the target function answered to the diagnose event, as far as migrate decides on it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreflightAnswer {
    /// The diagnose report's verdict.
    #[serde(default)]
    pub ok: Option<bool>,
    /// Its checks.
    #[serde(default)]
    pub checks: Vec<CheckAnswer>,
    /// Lambda's error payload, when the function failed.
    #[serde(default, rename = "errorType")]
    pub error_type: Option<String>,
    /// Lambda's error message, when the function failed.
    #[serde(default, rename = "errorMessage")]
    pub error_message: Option<String>,
}

/// One check of the answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckAnswer {
    /// The check's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Passed, failed, or skipped (`None`).
    #[serde(default)]
    pub ok: Option<bool>,
    /// The cause code of a failed check.
    #[serde(default)]
    pub cause: Option<String>,
}

impl PreflightAnswer {
    /// Reads an invocation's payload; anything else than a diagnose report or a Lambda
    /// error payload reads as an empty answer (which does not pass).
    pub fn read(body: &serde_json::Value) -> PreflightAnswer {
        serde_json::from_value(body.clone()).unwrap_or_default()
    }
}

/// Whether the preflight passed: `Err` holds the refusal. `function_error` is Lambda's
/// `FunctionError` (the function itself failed); `target` names the function.
pub fn verdict(
    answer: &PreflightAnswer,
    function_error: Option<&str>,
    target: &str,
) -> Result<(), String> {
    if let Some(kind) = function_error {
        return Err(format!(
            "the preflight failed inside {} ({kind}): {}: {}",
            function_name(target),
            answer.error_type.as_deref().unwrap_or("unknown"),
            answer.error_message.as_deref().unwrap_or("")
        ));
    }
    if answer.ok == Some(true) {
        return Ok(());
    }
    let failed: Vec<String> = answer
        .checks
        .iter()
        .filter(|c| c.ok == Some(false))
        .map(|c| {
            format!(
                "{} ({})",
                c.name.as_deref().unwrap_or("?"),
                c.cause.as_deref().unwrap_or("?")
            )
        })
        .collect();
    Err(if failed.is_empty() {
        "the preflight did not return a diagnose report".to_string()
    } else {
        format!("the preflight found a problem: {}", failed.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    const OLD: &str = "arn:aws:lambda:us-east-1:123456789012:function:old";

    fn days(n: i64) -> RotationRules {
        RotationRules {
            automatically_after_days: Some(n),
            ..RotationRules::default()
        }
    }

    #[test]
    fn switching_back_restores_the_old_function_and_its_rules() {
        assert_eq!(
            switch_back(ARN, Some(OLD), Some(&days(30)), Rotation::On),
            format!("aws secretsmanager rotate-secret --secret-id {ARN} --rotation-lambda-arn {OLD} --rotation-rules '{{\"AutomaticallyAfterDays\":30}}' --no-rotate-immediately")
        );
    }

    #[test]
    fn switching_back_cancels_rotation_again_when_it_was_off() {
        let cmd = switch_back(ARN, Some(OLD), None, Rotation::Off);
        assert_eq!(
            cmd,
            format!("aws secretsmanager rotate-secret --secret-id {ARN} --rotation-lambda-arn {OLD} --no-rotate-immediately && aws secretsmanager cancel-rotate-secret --secret-id {ARN}")
        );
        // Empty rules are not passed (the CLI would refuse them).
        assert_eq!(
            switch_back(
                ARN,
                Some(OLD),
                Some(&RotationRules::default()),
                Rotation::Off
            ),
            cmd
        );
    }

    #[test]
    fn switching_back_a_secret_without_a_function_cancels_rotation() {
        for was in [Rotation::On, Rotation::Off] {
            assert_eq!(
                switch_back("my secret", None, Some(&days(7)), was),
                "aws secretsmanager cancel-rotate-secret --secret-id 'my secret'"
            );
        }
    }

    #[test]
    fn already_on_needs_rotation_on_and_the_same_function_name() {
        let target = "arn:aws:lambda:us-east-1:123456789012:function:new";
        assert!(already_on(Some("new"), Rotation::On, target));
        assert!(already_on(Some(target), Rotation::On, target));
        assert!(!already_on(Some(target), Rotation::Off, target));
        assert!(!already_on(Some(OLD), Rotation::On, target));
        assert!(!already_on(None, Rotation::On, target));
    }

    #[test]
    fn the_secrets_own_schedule_wins_over_the_one_given() {
        assert_eq!(
            schedule(Some(&days(30)), Some("rate(7 days)")),
            Some(days(30))
        );
        assert_eq!(
            schedule(Some(&RotationRules::default()), Some("rate(7 days)")),
            Some(RotationRules::schedule("rate(7 days)"))
        );
        assert_eq!(schedule(None, None), None);
        assert_eq!(schedule(Some(&RotationRules::default()), None), None);
    }

    #[test]
    fn a_passing_report_passes_and_failed_checks_are_named_with_their_cause() {
        let pass =
            PreflightAnswer::read(&json!({"ok": true, "checks": [{"name": "a", "ok": true}]}));
        assert_eq!(verdict(&pass, None, "new"), Ok(()));
        let fail = PreflightAnswer::read(&json!({"ok": false, "checks": [
            {"name": "secret_readable", "ok": true},
            {"name": "login_current", "ok": false, "cause": "db_login_failed"},
            {"name": "tls", "ok": null},
        ]}));
        assert_eq!(
            verdict(&fail, None, "new"),
            Err("the preflight found a problem: login_current (db_login_failed)".to_string())
        );
    }

    #[test]
    fn anything_but_a_diagnose_report_does_not_pass() {
        for body in [json!(null), json!("ok"), json!({}), json!({"ok": "true"})] {
            assert_eq!(
                verdict(&PreflightAnswer::read(&body), None, "new"),
                Err("the preflight did not return a diagnose report".to_string()),
                "{body}"
            );
        }
    }

    #[test]
    fn a_function_error_names_the_function_and_lambdas_error() {
        let body = json!({"errorType": "Runtime.ExitError", "errorMessage": "exited"});
        assert_eq!(
            verdict(&PreflightAnswer::read(&body), Some("Unhandled"), OLD),
            Err(
                "the preflight failed inside old (Unhandled): Runtime.ExitError: exited"
                    .to_string()
            )
        );
        // Even a report that says ok does not pass when the function failed.
        let ok = PreflightAnswer::read(&json!({"ok": true}));
        assert!(verdict(&ok, Some("Handled"), "x").is_err());
    }
}
