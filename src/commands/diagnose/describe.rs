//! The `describe_secret` check of `diagnose`: DescribeSecret's answer judged. Several
//! AWSCURRENT labels fail; rotation not enabled (the failure every rotation step would stop
//! on, from `rotation::preconditions`), rotation on another function (named with its
//! runtime, read from Lambda) and an AWSPENDING left on another version are warnings.

use super::list::{Ran, Running};
use super::report::Warning;
use super::{Context, Env, Facts};
use crate::deadline::Deadline;
use crate::failure::{Failure, Finding};
use crate::rotation::preconditions;
use crate::secret::SecretRole;
use crate::store::{Description, SecretStore as _};
use serde_json::Map;
use std::time::Duration;

/// `describe_secret`: DescribeSecret answers, and its answer is judged. The description is
/// handed on even when the judgement fails it (AWSCURRENT can still be read).
pub(super) fn check<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let d = match env.r.sm.describe(&env.deadline, env.secret_id).await {
            Ok(d) => d,
            Err(e) => return Ran::Failed(e),
        };
        let (judged, warnings) = describe_detail(&d, env.ctx, &env.deadline).await;
        f.description = Some(d);
        match judged {
            Ok(detail) => Ran::Warned(detail, warnings),
            Err(e) => Ran::Failed(e),
        }
    })
}

/// The runtime of a function, for naming it ("python3.7"), or why it is unknown.
async fn runtime_of(ctx: &Context, function: &str, deadline: &Deadline) -> String {
    let Some(clients) = &ctx.clients else {
        return "runtime unknown".to_string();
    };
    let call = clients.call(
        "lambda",
        "GetFunctionConfiguration",
        clients
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send(),
    );
    // A best-effort name: it may not hold up the checks past the deadline.
    match tokio::time::timeout(deadline.cap(Duration::from_secs(3)), call).await {
        Ok(Ok(out)) => out
            .runtime()
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "container image".to_string()),
        Ok(Err(e)) if e.code == "unreachable" => {
            "runtime not readable: no answer from Lambda".to_string()
        }
        Ok(Err(e)) => format!("runtime not readable: {}", e.code),
        Err(_) => "runtime unknown: Lambda did not answer in time".to_string(),
    }
}

/// DescribeSecret's answer judged: several AWSCURRENT labels fail; rotation not enabled, on
/// another function or in progress are warnings with their remedies.
pub(super) async fn describe_detail(
    d: &Description,
    ctx: &Context,
    deadline: &Deadline,
) -> (Result<String, Failure>, Vec<Warning>) {
    if let Err(f) = one_current(d) {
        return (Err(f), Vec::new());
    }
    let this = ctx.this_function.as_deref();
    let switch = format!(
        "db-secret-rotator migrate --secret-id {} --function {} --apply",
        d.arn,
        this.unwrap_or("THIS_FUNCTION")
    );
    let mut warnings = Vec::new();
    let (function, other) = rotation_function(d, ctx, deadline).await;
    if !d.rotation_enabled {
        // The failure every step would stop on, reported before rotation is switched on.
        warnings.push(Warning::from_failure(
            preconditions::rotation_not_enabled(),
            format!("When this preflight passes, point the secret's rotation at this function: {switch}"),
        ));
    }
    if let Some(other) = other {
        warnings.push(other.warning(&switch));
    }
    warnings.extend(stale_pending(d));
    let enabled = if d.rotation_enabled {
        "rotation enabled"
    } else {
        "rotation not enabled"
    };
    let detail = format!("{function}; {enabled}; {} versions", d.versions.len());
    (Ok(detail), warnings)
}

/// Exactly one version holds AWSCURRENT, or the failure naming the ones that do (the same
/// judgement repair makes).
fn one_current(d: &Description) -> Result<(), Failure> {
    d.sole_current().map(|_| ())
}

/// The function rotating the secret, when it is not the one this preflight runs for.
struct OtherFunction {
    arn: String,
    name: String,
    runtime: String,
}

impl OtherFunction {
    fn warning(self, switch: &str) -> Warning {
        let mut evidence = Map::new();
        evidence.insert("function_arn".into(), self.arn.into());
        evidence.insert("runtime".into(), self.runtime.as_str().into());
        Warning::finding(
            Finding::RotationOnOtherFunction,
            format!(
                "the secret is rotated by another function: {} ({})",
                self.name, self.runtime
            ),
            format!("When this preflight passes, switch the secret to this function (the command prints how to switch back): {switch}"),
            evidence,
        )
    }
}

/// Which function rotates the secret, for the detail; and another one than this, when this
/// one is known.
async fn rotation_function(
    d: &Description,
    ctx: &Context,
    deadline: &Deadline,
) -> (String, Option<OtherFunction>) {
    let Some(arn) = &d.rotation_lambda_arn else {
        return ("no rotation function".to_string(), None);
    };
    let this = ctx.this_function.as_deref();
    let name = crate::text::function_name(arn);
    if this.is_some_and(|t| crate::text::function_name(t) == name) {
        return (format!("rotation function: this one ({name})"), None);
    }
    let runtime = runtime_of(ctx, arn, deadline).await;
    let part = format!("rotation function: {name} ({runtime})");
    let other = this.is_some().then(|| OtherFunction {
        arn: arn.clone(),
        name: name.to_string(),
        runtime,
    });
    (part, other)
}

/// AWSPENDING on a version that is not AWSCURRENT: a rotation in progress, or one stopped.
fn stale_pending(d: &Description) -> Option<Warning> {
    let p = d.version_with(SecretRole::Pending.stage())?;
    if d.has(p, SecretRole::Current.stage()) {
        return None;
    }
    let mut evidence = Map::new();
    evidence.insert("pending_version_id".into(), p.into());
    Some(Warning::finding(
        Finding::StalePendingLabel,
        format!("AWSPENDING sits on version {p}, not on AWSCURRENT: a rotation is in progress, or one stopped before finishSecret"),
        format!(
            "Let a running rotation finish (Secrets Manager retries it); if none is running, remove the label: {}",
            // The command `repair` prints for the same state.
            crate::store::StageMove::new(SecretRole::Pending.stage(), None, Some(p)).cli_command(&d.arn)
        ),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(enabled: bool, function: Option<&str>, versions: &[(&str, &[&str])]) -> Description {
        Description {
            rotation_lambda_arn: function.map(str::to_string),
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:s".into(),
            rotation_enabled: enabled,
            versions: versions
                .iter()
                .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect(),
        }
    }

    fn deadline() -> Deadline {
        Deadline::after(Duration::from_secs(30), Duration::from_secs(1))
    }

    #[tokio::test]
    async fn rotation_off_and_a_stale_label_are_warnings_with_their_commands() {
        let d = desc(
            false,
            None,
            &[("c", &["AWSCURRENT"]), ("p", &["AWSPENDING"])],
        );
        let ctx = Context {
            this_function: Some("mine".into()),
            clients: None,
        };
        let (result, warnings) = describe_detail(&d, &ctx, &deadline()).await;
        let detail = result.unwrap();
        assert!(detail.contains("rotation not enabled"), "{detail}");
        let codes: Vec<&str> = warnings.iter().map(|w| w.code.as_ref()).collect();
        assert_eq!(codes, ["rotation_not_enabled", "stale_pending_label"]);
        assert!(warnings[0].remedy.contains("--function mine --apply"));
        assert!(warnings[1]
            .remedy
            .contains("--version-stage AWSPENDING --remove-from-version-id p"));
        assert_eq!(warnings[1].evidence["pending_version_id"], "p");
    }

    #[tokio::test]
    async fn another_function_warns_only_when_this_one_is_known() {
        let other = "arn:aws:lambda:us-east-1:1:function:old";
        let d = desc(true, Some(other), &[("c", &["AWSCURRENT"])]);
        let (_, anonymous) = describe_detail(&d, &Context::default(), &deadline()).await;
        assert!(anonymous.is_empty());
        let ctx = Context {
            this_function: Some("mine".into()),
            clients: None,
        };
        let (_, warnings) = describe_detail(&d, &ctx, &deadline()).await;
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "rotation_on_other_function");
        assert_eq!(warnings[0].evidence["runtime"], "runtime unknown");
        let ctx = Context {
            this_function: Some("old".into()),
            clients: None,
        };
        let (_, mine) = describe_detail(&d, &ctx, &deadline()).await;
        assert!(mine.is_empty());
    }

    #[tokio::test]
    async fn two_awscurrent_labels_fail() {
        let d = desc(
            true,
            None,
            &[("a", &["AWSCURRENT"]), ("b", &["AWSCURRENT"])],
        );
        let (result, _) = describe_detail(&d, &Context::default(), &deadline()).await;
        let f = result.unwrap_err();
        assert_eq!(f.cause, crate::failure::Cause::StagingLabelsInvalid);
        assert_eq!(f.evidence["versions_holding_current"], 2);
        assert_eq!(f.evidence["version_ids"], serde_json::json!(["a", "b"]));
        assert!(f.signals.aws_code.is_none(), "no AWS error code was sent");
    }
}
