//! `kms_key_policy`: a customer managed key behind the secret (or the master secret) must be
//! usable, and its key policy (or a grant) must let the function's role decrypt, and for the
//! secret's own key generate data keys, through Secrets Manager for that secret. A policy that
//! delegates to IAM (the account root) allows here; `role_permissions` checks the role's side.

use super::document::{evaluate, Decision, Request};
use super::role::KeyUse;
use super::{unread, with_statement, PolicyCheck, Status, Subject};
use crate::failure::Cause;
use crate::outside::Clients;
use serde_json::{json, Value};

const NAME: &str = "kms_key_policy";

/// The key alias of the AWS managed key for Secrets Manager.
const AWS_MANAGED: &str = "alias/aws/secretsmanager";

/// The check, and the customer managed keys it found (for `role_permissions`).
pub(super) async fn check(clients: &Clients, s: &Subject) -> (PolicyCheck, Vec<KeyUse>) {
    let mut uses = Vec::new();
    let mut keys = vec![(
        s.secret_key.clone(),
        s.secret_arn.clone(),
        &["kms:Decrypt", "kms:GenerateDataKey"][..],
    )];
    if let Some(master) = &s.master_arn {
        keys.push((s.master_key.clone(), master.clone(), &["kms:Decrypt"][..]));
    }
    let mut results = Vec::new();
    for (key, secret, actions) in keys {
        match key.filter(|k| !k.is_empty() && !k.ends_with(AWS_MANAGED)) {
            None => results.push(Outcome::NotApplicable(format!(
                "{secret} uses the AWS managed key aws/secretsmanager, whose policy admits the account's principals through Secrets Manager"
            ))),
            Some(key) => {
                results.push(one_key(clients, s, &key, &secret, actions, &mut uses).await)
            }
        }
    }
    if let Some(reason) = &s.master_unread {
        results.push(Outcome::Checked(PolicyCheck::new(
            NAME,
            Status::Skipped,
            format!("the master secret's key: {reason}"),
        )));
    }
    // The worst verdict stands for the check; a key that could not be read outranks an
    // ok one (the check is then incomplete), and both outrank a key that needs no check.
    let rank = |o: &Outcome| match o {
        Outcome::Checked(c) => match c.status {
            Status::Fail => 0,
            Status::Warn => 1,
            Status::Skipped => 2,
            Status::Ok => 3,
        },
        Outcome::NotApplicable(_) => 4,
    };
    results.sort_by_key(rank);
    let mut checks = results.into_iter().map(|o| match o {
        Outcome::Checked(c) => c,
        Outcome::NotApplicable(why) => PolicyCheck::new(NAME, Status::Skipped, why),
    });
    let mut first = checks.next().expect("the secret's key is always judged");
    if first.status == Status::Ok {
        for other in checks.filter(|c| c.status == Status::Ok) {
            first.detail = format!("{}; {}", first.detail, other.detail);
        }
    }
    (first, uses)
}

/// One key's verdict, or why it needs none.
enum Outcome {
    Checked(PolicyCheck),
    NotApplicable(String),
}

async fn one_key(
    clients: &Clients,
    s: &Subject,
    key: &str,
    secret: &str,
    actions: &'static [&'static str],
    uses: &mut Vec<KeyUse>,
) -> Outcome {
    let mut aws_managed = false;
    let check = key_verdict(clients, s, key, secret, actions, uses, &mut aws_managed).await;
    if aws_managed {
        Outcome::NotApplicable(check.detail)
    } else {
        Outcome::Checked(check)
    }
}

/// The verdict on one customer managed key; `aws_managed` is set when it is AWS managed
/// after all (the verdict then only says so).
async fn key_verdict(
    clients: &Clients,
    s: &Subject,
    key: &str,
    secret: &str,
    actions: &'static [&'static str],
    uses: &mut Vec<KeyUse>,
    aws_managed: &mut bool,
) -> PolicyCheck {
    let described = s
        .reads
        .once("DescribeKey", key, || {
            clients.call(
                "kms",
                "DescribeKey",
                clients.kms.describe_key().key_id(key).send(),
            )
        })
        .await;
    let meta = match described.map(|d| d.key_metadata) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return PolicyCheck::new(
                NAME,
                Status::Warn,
                format!("DescribeKey returned nothing for {key}"),
            )
        }
        Err(e) => return PolicyCheck::new(NAME, Status::Skipped, unread(&e)),
    };
    let key_id = meta.key_id().to_string();
    let key_arn = meta.arn().unwrap_or(key).to_string();
    if meta.key_manager().map(|m| m.as_str()) == Some("AWS") {
        *aws_managed = true;
        return PolicyCheck::new(
            NAME,
            Status::Skipped,
            format!("{secret} uses an AWS managed key ({key_id})"),
        );
    }
    uses.push((key_arn.clone(), secret.to_string(), actions));
    let state = meta
        .key_state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    match state.as_str() {
        "Enabled" => {}
        "Disabled" | "PendingDeletion" | "PendingReplicaDeletion" => {
            let remedy = if state == "Disabled" {
                format!("aws kms enable-key --key-id {key_id}")
            } else {
                format!("aws kms cancel-key-deletion --key-id {key_id} && aws kms enable-key --key-id {key_id}")
            };
            return PolicyCheck::failed(
                NAME,
                Cause::KmsKeyUnusable,
                format!(
                    "the key {key_id} of {secret} is {state}: nothing can be decrypted with it"
                ),
                json!({"key_id": key_id, "key_state": state, "secret": secret}),
                remedy,
            );
        }
        other => {
            let mut c = PolicyCheck::new(
                NAME,
                Status::Warn,
                format!(
                    "the key {key_id} is in state {other}: whether it can decrypt now is not known"
                ),
            );
            c.evidence.insert("key_id".into(), json!(key_id));
            c.evidence.insert("key_state".into(), json!(other));
            return c;
        }
    }
    let policy = s
        .reads
        .once("GetKeyPolicy", &key_id, || {
            clients.call(
                "kms",
                "GetKeyPolicy",
                clients
                    .kms
                    .get_key_policy()
                    .key_id(&key_id)
                    .policy_name("default")
                    .send(),
            )
        })
        .await;
    let text = match policy {
        Ok(p) => p.policy().unwrap_or_default().to_string(),
        Err(e) => return PolicyCheck::new(NAME, Status::Skipped, unread(&e)),
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        return PolicyCheck::new(
            NAME,
            Status::Warn,
            format!("the policy of key {key_id} is not JSON this check can read"),
        );
    };
    let context = s.context(Some(secret));
    let mut missing = Vec::new();
    let mut allowed_by = Vec::new();
    for action in actions {
        let req = Request {
            action,
            resource: &key_arn,
            principal_arn: &s.role_arn,
            account: &s.account,
            context: &context,
        };
        match evaluate(&doc, &req) {
            Decision::Allowed {
                statement,
                via_account,
            } => allowed_by.push(if via_account {
                format!("{action} by statement {statement} (delegated to IAM: role_permissions checks the role's side)")
            } else {
                format!("{action} by statement {statement}")
            }),
            Decision::ExplicitDeny { statement } => {
                return denies(s, &key_id, secret, &doc, vec![*action], statement, true);
            }
            Decision::ImplicitDeny { near } => missing.push((*action, near)),
            Decision::Undecided { statement, reason } => {
                let mut c = PolicyCheck::new(
                    NAME,
                    Status::Warn,
                    format!("cannot decide {action} in the policy of key {key_id}: statement {statement}: {reason}"),
                );
                c.evidence.insert("key_id".into(), json!(key_id));
                c.evidence.insert("statement".into(), json!(statement));
                return c;
            }
        }
    }
    if missing.is_empty() {
        return PolicyCheck::new(
            NAME,
            Status::Ok,
            format!("key {key_id} allows the role {}", allowed_by.join(", ")),
        );
    }
    // A grant can allow what the key policy does not.
    let grants = s
        .reads
        .once("ListGrants", &key_id, || {
            clients.call(
                "kms",
                "ListGrants",
                clients.kms.list_grants().key_id(&key_id).send(),
            )
        })
        .await;
    let grants = match grants {
        Ok(g) => g.grants.unwrap_or_default(),
        Err(e) => {
            return PolicyCheck::new(
                NAME,
                Status::Warn,
                format!(
                "the policy of key {key_id} does not allow {}; whether a grant does is unknown: {}",
                missing[0].0,
                unread(&e)
            ),
            )
        }
    };
    missing.retain(|(action, _)| {
        let op = action.trim_start_matches("kms:");
        !grants.iter().any(|g| {
            g.grantee_principal() == Some(s.role_arn.as_str())
                && g.operations().iter().any(|o| o.as_str() == op)
        })
    });
    if missing.is_empty() {
        return PolicyCheck::new(
            NAME,
            Status::Ok,
            format!("key {key_id}: a grant allows the role what its policy does not"),
        );
    }
    let statement = missing[0].1.clone().unwrap_or_else(|| "none".into());
    let actions = missing.iter().map(|(a, _)| *a).collect();
    denies(s, &key_id, secret, &doc, actions, statement, false)
}

fn denies(
    s: &Subject,
    key_id: &str,
    secret: &str,
    doc: &Value,
    actions: Vec<&'static str>,
    statement: String,
    explicit: bool,
) -> PolicyCheck {
    let evidence = json!({"key_id": key_id, "statement": statement, "actions": actions, "role": s.role_arn, "secret": secret});
    let (detail, remedy) = if explicit {
        (
            format!("statement {statement} of the policy of key {key_id} denies the role {}", actions.join(", ")),
            format!("Narrow statement {statement} so it does not deny {} to {} for {secret}, then apply the edited policy with: aws kms put-key-policy --key-id {key_id} --policy-name default --policy file://key-policy.json", actions.join(", "), s.role_arn),
        )
    } else {
        let add = json!({
            "Sid": "AllowSecretRotation",
            "Effect": "Allow",
            "Principal": {"AWS": s.role_arn},
            "Action": actions,
            "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:ViaService": format!("secretsmanager.{}.amazonaws.com", s.region),
                "kms:EncryptionContext:SecretARN": secret,
            }},
        });
        let why = if statement == "none" {
            "no statement allows".to_string()
        } else {
            format!("statement {statement} would allow, but its condition does not hold for this role and secret, and no other statement allows")
        };
        (
            format!(
                "the policy of key {key_id}: {why} the role {} for {secret}",
                actions.join(", ")
            ),
            format!(
                "aws kms put-key-policy --key-id {key_id} --policy-name default --policy {}",
                crate::text::shell_quote(&with_statement(doc, add))
            ),
        )
    };
    PolicyCheck::failed(NAME, Cause::KmsKeyPolicyDenies, detail, evidence, remedy)
}
