//! `rotation_function`: the function exists, its timeout holds one step's worst case, its
//! reserved concurrency lets Secrets Manager's invocations through, and its resource policy
//! lets Secrets Manager invoke it.

use super::model::Function;
use super::read::Reader;
use super::{ConfigCheck, Finding};
use crate::failure::Cause;
use crate::outside::policy::document::wildcard;
use crate::outside::AwsError;
use crate::text::shell_quote;
use serde_json::{json, Value};

/// Below this, Secrets Manager's invocations are throttled into a loop of retries.
pub const MIN_CONCURRENCY: i32 = 10;

/// The shortest timeout that holds one step's worst case, in seconds: one Secrets Manager
/// connect, one database connect (`DB_CONNECT_TIMEOUT_MS`) and the margin kept back to name
/// a failure (`DEADLINE_MARGIN_MS`), read from the function's own environment. Err: the
/// environment holds a setting the function would refuse.
pub fn needed_timeout_s(f: &Function) -> Result<i64, String> {
    let settings =
        crate::config::from_lookup(|k| f.environment.get(k).cloned()).map_err(|e| e.to_string())?;
    let ms =
        crate::store::AWS_CONNECT_TIMEOUT + settings.db_connect_timeout + settings.deadline_margin;
    Ok(ms.as_millis().div_ceil(1000) as i64)
}

/// Whether a resource policy lets `secretsmanager.amazonaws.com` invoke the function for this
/// secret: Some(true) yes, Some(false) no, None when a condition cannot be evaluated.
pub fn policy_allows_secrets_manager(policy: &str, secret_arn: &str) -> Option<bool> {
    let doc: Value = serde_json::from_str(policy).ok()?;
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        v @ Value::Object(_) => vec![v.clone()],
        _ => vec![],
    };
    let account = secret_arn.split(':').nth(4).unwrap_or_default();
    let mut allowed = Some(false);
    for s in &statements {
        let principal = match &s["Principal"] {
            Value::String(p) => p == "*",
            Value::Object(m) => {
                m.get("Service")
                    .is_some_and(|v| any_str(v, |x| x == "secretsmanager.amazonaws.com"))
                    || m.get("AWS").is_some_and(|v| any_str(v, |x| x == "*"))
            }
            _ => false,
        };
        let action = any_str(&s["Action"], |a| {
            let a = a.to_ascii_lowercase();
            a == "lambda:invokefunction" || a == "lambda:*" || a == "*"
        });
        if !principal || !action {
            continue;
        }
        let applies = conditions_hold(&s["Condition"], secret_arn, account);
        match (s["Effect"].as_str(), applies) {
            (Some("Deny"), Some(true)) => return Some(false),
            (Some("Deny"), None) => return None,
            (Some("Allow"), Some(true)) => allowed = allowed.map(|_| true),
            (Some("Allow"), None) if allowed == Some(false) => allowed = None,
            _ => {}
        }
    }
    allowed
}

fn any_str(v: &Value, pred: impl Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => pred(s),
        Value::Array(a) => a.iter().filter_map(Value::as_str).any(pred),
        _ => false,
    }
}

/// Whether a statement's conditions hold for this secret: only the source ARN and account are
/// understood; any other key makes it undecidable (None).
fn conditions_hold(cond: &Value, secret_arn: &str, account: &str) -> Option<bool> {
    let Value::Object(ops) = cond else {
        return Some(true);
    };
    let mut all = true;
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            return None;
        };
        for (key, want) in keys {
            let hit = match (op.as_str(), key.to_ascii_lowercase().as_str()) {
                ("ArnLike" | "StringLike", "aws:sourcearn") => {
                    any_str(want, |p| wildcard(p, secret_arn, false))
                }
                ("ArnEquals" | "StringEquals", "aws:sourcearn") => {
                    any_str(want, |p| p == secret_arn)
                }
                ("StringEquals", "aws:sourceaccount") => any_str(want, |p| p == account),
                _ => return None,
            };
            all &= hit;
        }
    }
    Some(all)
}

/// The findings on a function that was read.
pub fn findings(
    f: &Function,
    concurrency: &Result<Option<i32>, AwsError>,
    policy: &Result<Option<String>, AwsError>,
    secret_arn: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = shell_quote(&f.name);
    match needed_timeout_s(f) {
        Err(e) => out.push(Finding::warn(json!({"function": f.name}), format!("the function's environment cannot be read as settings: {e}"))),
        Ok(needed) if f.timeout_s < needed => out.push(Finding::fail(
            Cause::FunctionTimeoutTooShort,
            json!({"function": f.name, "timeout_s": f.timeout_s, "needed_s": needed}),
            format!("aws lambda update-function-configuration --function-name {name} --timeout {}", needed.max(30)),
            format!("timeout {} s cannot hold one step's worst case ({needed} s: connects and the deadline margin)", f.timeout_s),
        )),
        Ok(_) => {}
    }
    match concurrency {
        Err(e) => out.push(Finding::unread(e)),
        Ok(Some(n)) if *n < MIN_CONCURRENCY => out.push(Finding::fail(
            Cause::FunctionConcurrencyTooLow,
            json!({"function": f.name, "reserved_concurrency": n}),
            format!("aws lambda put-function-concurrency --function-name {name} --reserved-concurrent-executions {MIN_CONCURRENCY}"),
            format!("reserved concurrency {n} is below {MIN_CONCURRENCY}: Secrets Manager's invocations are throttled"),
        )),
        Ok(_) => {}
    }
    let account = f.arn.split(':').nth(4).filter(|a| !a.is_empty());
    let add = format!(
        "aws lambda add-permission --function-name {name} --statement-id SecretsManagerAccess --action lambda:InvokeFunction --principal secretsmanager.amazonaws.com{}",
        account.map(|a| format!(" --source-account {a}")).unwrap_or_default()
    );
    let missing = |detail: &str| {
        Finding::fail(
            Cause::FunctionInvokePermissionMissing,
            json!({"function": f.name}),
            add.clone(),
            detail.to_string(),
        )
    };
    match policy {
        Err(e) => out.push(Finding::unread(e)),
        Ok(None) => out.push(missing(
            "the function has no resource policy: Secrets Manager cannot invoke it",
        )),
        Ok(Some(doc)) => match policy_allows_secrets_manager(doc, secret_arn) {
            Some(true) => {}
            Some(false) => out.push(missing(
                "the resource policy does not let secretsmanager.amazonaws.com invoke the function",
            )),
            None => out.push(Finding::warn(
                json!({"function": f.name}),
                "the resource policy has a condition these checks cannot evaluate".into(),
            )),
        },
    }
    out
}

/// The `rotation_function` check.
pub async fn check(
    reader: &mut Reader,
    fun: &Result<Option<Function>, AwsError>,
    asked: &str,
    secret_arn: &str,
) -> ConfigCheck {
    const NAME: &str = "rotation_function";
    let f = match fun {
        Err(e) => return ConfigCheck::from_findings(NAME, vec![Finding::unread(e)], ""),
        Ok(None) => {
            let finding = Finding::fail(
                Cause::FunctionNotFound,
                json!({"function": asked}),
                format!("aws secretsmanager rotate-secret --secret-id {} --rotation-lambda-arn <an existing rotation function ARN>", shell_quote(secret_arn)),
                format!("the rotation function {asked} does not exist"),
            );
            return ConfigCheck::from_findings(NAME, vec![finding], "");
        }
        Ok(Some(f)) => f,
    };
    let concurrency = reader.concurrency(&f.name).await;
    let policy = reader.policy(&f.name).await;
    ConfigCheck::from_findings(
        NAME,
        findings(f, &concurrency, &policy, secret_arn),
        "exists; timeout, reserved concurrency and invoke permission fit",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::network::Status;

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

    fn fun(timeout: i64) -> Function {
        Function {
            name: "rot".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:rot".into(),
            timeout_s: timeout,
            ..Function::default()
        }
    }

    #[test]
    fn needed_timeout_comes_from_the_functions_own_settings() {
        assert_eq!(needed_timeout_s(&fun(30)), Ok(9));
        let mut f = fun(30);
        f.environment
            .insert("DB_CONNECT_TIMEOUT_MS".into(), "20000".into());
        assert_eq!(needed_timeout_s(&f), Ok(24));
        f.environment
            .insert("DEADLINE_MARGIN_MS".into(), "soon".into());
        assert!(needed_timeout_s(&f).is_err());
    }

    #[test]
    fn policies_for_secrets_manager() {
        let allow = |cond: Value| {
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "secretsmanager.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": "x", "Condition": cond}]}).to_string()
        };
        assert_eq!(
            policy_allows_secrets_manager(&allow(Value::Null), SECRET),
            Some(true)
        );
        assert_eq!(
            policy_allows_secrets_manager(
                &allow(json!({"StringEquals": {"AWS:SourceAccount": "123456789012"}})),
                SECRET
            ),
            Some(true)
        );
        assert_eq!(
            policy_allows_secrets_manager(
                &allow(
                    json!({"ArnLike": {"AWS:SourceArn": "arn:aws:secretsmanager:*:123456789012:secret:db-*"}})
                ),
                SECRET
            ),
            Some(true)
        );
        assert_eq!(
            policy_allows_secrets_manager(
                &allow(
                    json!({"ArnLike": {"AWS:SourceArn": "arn:aws:secretsmanager:*:*:secret:other-*"}})
                ),
                SECRET
            ),
            Some(false)
        );
        assert_eq!(
            policy_allows_secrets_manager(
                &allow(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
                SECRET
            ),
            None
        );
        let other = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "lambda:InvokeFunction"}]}).to_string();
        assert_eq!(policy_allows_secrets_manager(&other, SECRET), Some(false));
    }

    #[test]
    fn function_findings_name_each_fault_with_its_command() {
        let f = fun(3);
        let out = findings(&f, &Ok(Some(2)), &Ok(None), SECRET);
        let causes: Vec<_> = out.iter().map(|x| x.cause).collect();
        assert_eq!(
            causes,
            vec![
                Some(Cause::FunctionTimeoutTooShort),
                Some(Cause::FunctionConcurrencyTooLow),
                Some(Cause::FunctionInvokePermissionMissing)
            ]
        );
        assert_eq!(out[0].evidence["needed_s"], 9);
        assert!(out[1]
            .remedy
            .as_deref()
            .unwrap()
            .contains("--reserved-concurrent-executions 10"));
        assert!(out[2]
            .remedy
            .as_deref()
            .unwrap()
            .contains("--source-account 123456789012"));
        let policy = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "secretsmanager.amazonaws.com"}, "Action": "lambda:InvokeFunction"}]}).to_string();
        assert!(findings(&fun(30), &Ok(None), &Ok(Some(policy.clone())), SECRET).is_empty());
        assert!(findings(&fun(30), &Ok(Some(10)), &Ok(Some(policy)), SECRET).is_empty());
        let denied = AwsError {
            code: "AccessDeniedException".into(),
            message: String::new(),
            action: "lambda:GetPolicy".into(),
        };
        let out = findings(&fun(30), &Ok(None), &Err(denied), SECRET);
        assert_eq!(out[0].status, Status::Skipped);
    }
}
