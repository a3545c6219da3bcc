//! A small evaluator of IAM policy documents (key policies, endpoint policies) for one
//! request: which statement allows or denies it, or why it cannot be decided from the
//! document alone. It knows only the condition keys whose value is certain for a rotation
//! call; any other condition makes the answer [`Decision::Undecided`], never a guess.

use serde_json::Value;
use std::collections::BTreeMap;

/// One call to judge: who calls what on which resource, and the condition keys whose
/// values are known for that call.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The IAM action, e.g. `kms:Decrypt`.
    pub action: &'a str,
    /// The resource ARN (`*` for actions without a resource).
    pub resource: &'a str,
    /// The calling role's ARN.
    pub principal_arn: &'a str,
    /// The calling role's account id.
    pub account: &'a str,
    /// Known condition keys, lowercased, and their values.
    pub context: &'a BTreeMap<String, String>,
}

/// The document's answer for one request. Statements are named by `Sid`, else by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allowed {
        /// The allowing statement.
        statement: String,
        /// Whether it names the caller's account rather than the caller: in a key policy,
        /// a delegation to IAM, whose side the caller's own policies decide.
        via_account: bool,
    },
    /// A Deny statement applies.
    ExplicitDeny {
        /// The denying statement.
        statement: String,
    },
    /// No statement allows it.
    ImplicitDeny {
        /// An Allow statement that matched all but its condition, if any: the one to fix.
        near: Option<String>,
    },
    /// A statement that may apply has a condition (or element) that cannot be evaluated.
    Undecided {
        /// The statement.
        statement: String,
        /// What could not be evaluated.
        reason: String,
    },
}

/// Evaluates `doc` for `req`: an explicit Deny wins over any Allow; a Deny that may apply
/// makes an Allow undecided.
pub fn evaluate(doc: &Value, req: &Request) -> Decision {
    let statements: Vec<&Value> = match &doc["Statement"] {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![&doc["Statement"]],
        _ => Vec::new(),
    };
    let mut allowed = None;
    let mut undecided_allow = None;
    let mut undecided_deny = None;
    let mut near = None;
    for (i, st) in statements.iter().enumerate() {
        let label = st["Sid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map_or_else(|| i.to_string(), str::to_string);
        let deny = st["Effect"].as_str() == Some("Deny");
        let Some(via_account) = principal_matches(st, req) else {
            continue;
        };
        if !listed(st, "Action", "NotAction", |p| wildcard(p, req.action, true))
            || !listed(st, "Resource", "NotResource", |p| {
                wildcard(p, req.resource, false)
            })
        {
            continue;
        }
        match condition(&st["Condition"], req) {
            Ok(true) if deny => return Decision::ExplicitDeny { statement: label },
            Ok(true) => {
                allowed.get_or_insert((label, via_account));
            }
            Ok(false) if !deny => {
                near.get_or_insert(label);
            }
            Ok(false) => {}
            Err(reason) if deny => {
                undecided_deny.get_or_insert((label, reason));
            }
            Err(reason) => {
                undecided_allow.get_or_insert((label, reason));
            }
        }
    }
    if let Some((statement, reason)) = undecided_deny {
        return Decision::Undecided { statement, reason };
    }
    match (allowed, undecided_allow) {
        (Some((statement, via_account)), _) => Decision::Allowed {
            statement,
            via_account,
        },
        (None, Some((statement, reason))) => Decision::Undecided { statement, reason },
        (None, None) => Decision::ImplicitDeny { near },
    }
}

/// The values of a string-or-array element.
fn values(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `Action`/`Resource` (or their `Not` forms) admit the request; absent both: any.
fn listed(st: &Value, key: &str, not_key: &str, matches: impl Fn(&str) -> bool) -> bool {
    if st.get(key).is_some() {
        values(&st[key]).into_iter().any(&matches)
    } else if st.get(not_key).is_some() {
        !values(&st[not_key]).into_iter().any(&matches)
    } else {
        true
    }
}

/// Whether the statement's `Principal` (or `NotPrincipal`) names the caller: `*`, its role
/// ARN, its account id or the account root (`Some(true)`: through its account only).
/// Absent both (an identity policy): yes.
fn principal_matches(st: &Value, req: &Request) -> Option<bool> {
    let root = format!(":iam::{}:root", req.account);
    let names = |p: &Value| -> Option<bool> {
        if p.as_str() == Some("*") {
            return Some(false);
        }
        let listed = values(&p["AWS"]);
        if listed.iter().any(|a| *a == "*" || *a == req.principal_arn) {
            Some(false)
        } else if listed
            .iter()
            .any(|a| *a == req.account || (a.starts_with("arn:") && a.ends_with(&root)))
        {
            Some(true)
        } else {
            None
        }
    };
    if let Some(p) = st.get("Principal") {
        names(p)
    } else if let Some(p) = st.get("NotPrincipal") {
        match names(p) {
            Some(_) => None,
            None => Some(false),
        }
    } else {
        Some(false)
    }
}

/// `*` and `?` matching; actions ignore case, resources do not.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Greedy matching with one backtrack point: linear enough for policy-sized strings.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The `Condition` block: `Ok(true)` when every operator and key holds, `Ok(false)` when
/// one certainly does not, `Err(reason)` when one cannot be evaluated.
fn condition(block: &Value, req: &Request) -> Result<bool, String> {
    let Some(ops) = block.as_object() else {
        return Ok(true);
    };
    let mut result = Ok(true);
    for (op, keys) in ops {
        let Some(keys) = keys.as_object() else {
            return Err(format!("condition {op} is not an object"));
        };
        for (key, expected) in keys {
            match test(op, key, &values(expected), req) {
                Ok(true) => {}
                // A certain false decides the block even if another key is unknown.
                Ok(false) => return Ok(false),
                Err(reason) => result = Err(reason),
            }
        }
    }
    result
}

/// One operator on one key.
fn test(op: &str, key: &str, expected: &[&str], req: &Request) -> Result<bool, String> {
    let undecidable = || {
        Err(format!(
            "condition {op} on {key} cannot be evaluated from the configuration"
        ))
    };
    if op.contains(':') {
        // ForAnyValue:/ForAllValues: are for multivalued keys, none of which is known.
        return undecidable();
    }
    // Every known key is present in the request, so IfExists changes nothing.
    let base = op.strip_suffix("IfExists").unwrap_or(op);
    let Some(actual) = req.context.get(&key.to_lowercase()) else {
        return undecidable();
    };
    let any = |f: &dyn Fn(&str) -> bool| expected.iter().any(|e| f(e));
    let answer = match base {
        "StringEquals" | "ArnEquals" => any(&|e| e == actual),
        "StringNotEquals" | "ArnNotEquals" => !any(&|e| e == actual),
        "StringEqualsIgnoreCase" => any(&|e| e.eq_ignore_ascii_case(actual)),
        "StringNotEqualsIgnoreCase" => !any(&|e| e.eq_ignore_ascii_case(actual)),
        "StringLike" | "ArnLike" => any(&|e| wildcard(e, actual, false)),
        "StringNotLike" | "ArnNotLike" => !any(&|e| wildcard(e, actual, false)),
        // Null: "true" asks that the key be absent; known keys are present.
        "Null" => any(&|e| e == "false"),
        _ => return undecidable(),
    };
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/rotator";
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

    fn ctx() -> BTreeMap<String, String> {
        [
            ("kms:encryptioncontext:secretarn", SECRET),
            ("kms:viaservice", "secretsmanager.us-east-1.amazonaws.com"),
            ("aws:principalarn", ROLE),
            ("kms:calleraccount", "123456789012"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn eval(doc: Value, action: &str) -> Decision {
        let context = ctx();
        let req = Request {
            action,
            resource: SECRET,
            principal_arn: ROLE,
            account: "123456789012",
            context: &context,
        };
        evaluate(&doc, &req)
    }

    fn allowed(s: &str) -> Decision {
        Decision::Allowed {
            statement: s.into(),
            via_account: false,
        }
    }

    #[test]
    fn a_single_statement_object_with_a_wildcard_action_allows() {
        let doc = json!({"Statement": {"Sid": "All", "Effect": "Allow", "Principal": "*",
            "Action": "secretsmanager:*", "Resource": "*"}});
        assert_eq!(
            eval(doc.clone(), "secretsmanager:PutSecretValue"),
            allowed("All")
        );
        assert_eq!(
            eval(doc, "kms:Decrypt"),
            Decision::ImplicitDeny { near: None }
        );
    }

    #[test]
    fn explicit_deny_wins_over_allow_whatever_the_order() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"},
            {"Sid": "NoPut", "Effect": "Deny", "Principal": {"AWS": ROLE},
             "Action": ["secretsmanager:PutSecretValue"], "Resource": "*"}]});
        assert_eq!(
            eval(doc.clone(), "secretsmanager:putsecretvalue"),
            Decision::ExplicitDeny {
                statement: "NoPut".into()
            }
        );
        assert_eq!(eval(doc, "secretsmanager:GetSecretValue"), allowed("0"));
    }

    #[test]
    fn not_action_and_not_resource_invert_the_match() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": "*",
            "NotAction": "secretsmanager:Delete*", "NotResource": "arn:aws:secretsmanager:*:*:secret:other-*"}]});
        assert_eq!(
            eval(doc.clone(), "secretsmanager:GetSecretValue"),
            allowed("0")
        );
        assert_eq!(
            eval(doc, "secretsmanager:DeleteSecret"),
            Decision::ImplicitDeny { near: None }
        );
    }

    #[test]
    fn principals_by_role_account_root_and_account_id_match_services_do_not() {
        for (p, via_account) in [
            (json!({"AWS": ROLE}), false),
            (
                json!({"AWS": ["arn:aws:iam::999999999999:root", "arn:aws:iam::123456789012:root"]}),
                true,
            ),
            (
                json!({"AWS": "arn:aws-us-gov:iam::123456789012:root"}),
                true,
            ),
            (json!({"AWS": "123456789012"}), true),
        ] {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": p, "Action": "kms:*", "Resource": "*"}]});
            let statement = "0".to_string();
            assert_eq!(
                eval(doc, "kms:Decrypt"),
                Decision::Allowed {
                    statement,
                    via_account
                }
            );
        }
        let doc = json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"}]});
        assert_eq!(
            eval(doc, "kms:Decrypt"),
            Decision::ImplicitDeny { near: None }
        );
        for p in [
            json!({"Service": "lambda.amazonaws.com"}),
            json!({"AWS": "arn:aws:iam::123456789012:role/other"}),
        ] {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": p, "Action": "kms:*", "Resource": "*"}]});
            assert_eq!(
                eval(doc, "kms:Decrypt"),
                Decision::ImplicitDeny { near: None }
            );
        }
    }

    #[test]
    fn an_encryption_context_naming_another_secret_is_a_near_miss() {
        let cond = |arn: &str, op: &str| {
            json!({"Statement": [{"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": ROLE},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                "Condition": {op: {"kms:EncryptionContext:SecretARN": arn},
                              "StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}}}]})
        };
        assert_eq!(
            eval(
                cond(
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ",
                    "StringEquals"
                ),
                "kms:Decrypt"
            ),
            Decision::ImplicitDeny {
                near: Some("Use".into())
            }
        );
        assert_eq!(
            eval(cond(SECRET, "StringEquals"), "kms:Decrypt"),
            allowed("Use")
        );
        assert_eq!(
            eval(
                cond("arn:aws:secretsmanager:*:*:secret:db-*", "ArnLike"),
                "kms:GenerateDataKey"
            ),
            allowed("Use")
        );
    }

    #[test]
    fn an_unknown_condition_key_is_undecided_never_a_deny() {
        let doc = json!({"Statement": [{"Sid": "Tagged", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "db"}}}]});
        match eval(doc, "kms:Decrypt") {
            Decision::Undecided { statement, reason } => {
                assert_eq!(statement, "Tagged");
                assert!(reason.contains("aws:PrincipalTag/team"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A certain mismatch on another key of the same statement still decides it.
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1", "kms:CallerAccount": "999999999999"}}}]});
        assert_eq!(
            eval(doc, "kms:Decrypt"),
            Decision::ImplicitDeny {
                near: Some("0".into())
            }
        );
    }

    #[test]
    fn a_deny_that_may_apply_makes_an_allow_undecided() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Sid": "OffHours", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}}]});
        assert!(
            matches!(eval(doc, "kms:Decrypt"), Decision::Undecided { statement, .. } if statement == "OffHours")
        );
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:PrincipalArn": ROLE}}}]});
        assert_eq!(eval(doc, "kms:Decrypt"), allowed("0"));
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard(
            "secretsmanager:*Secret*",
            "secretsmanager:PutSecretValue",
            true
        ));
        assert!(wildcard(
            "kms:GenerateDataKey?",
            "KMS:GenerateDataKeyX",
            true
        ));
        assert!(!wildcard("arn:aws:*:db-*", "arn:aws:x:DB-1", false));
        assert!(wildcard("*", "", false));
        assert!(!wildcard("a*b", "acbc", false));
    }
}
