//! The events the function is invoked with, validated before anything else happens.

use crate::failure::{Cause, Failure};
use serde_json::Value;
use std::fmt;

/// One of the four rotation steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Build and store the AWSPENDING secret.
    CreateSecret,
    /// Set the pending password in the database.
    SetSecret,
    /// Log in with the pending secret.
    TestSecret,
    /// Move AWSCURRENT to the pending version.
    FinishSecret,
}

impl Step {
    /// The four steps in the order Secrets Manager runs them.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The name Secrets Manager uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    /// Parses a step name.
    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Secrets Manager rotation event.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationEvent {
    /// The step to run.
    pub step: Step,
    /// The secret's ARN or name.
    pub secret_id: String,
    /// The version being rotated (ClientRequestToken).
    pub token: String,
    /// Passed to PutSecretValue, never logged.
    pub rotation_token: Option<crate::secret::Password>,
}

impl fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationEvent")
            .field("step", &self.step)
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// What the function was invoked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// A rotation step.
    Rotate(RotationEvent),
    /// The read-only diagnose report.
    Diagnose {
        /// The secret to check.
        secret_id: String,
    },
    /// `repair`: name the state of a stuck rotation; with `apply`, take its safe action.
    Repair {
        /// The secret to repair.
        secret_id: String,
        /// `Apply` (default false: a dry run).
        apply: bool,
        /// `FunctionTimeoutSeconds`, when given (default: this invocation's own timeout).
        function_timeout_s: Option<u64>,
    },
}

fn bad(field: &str, why: &str) -> Failure {
    Failure::new(Cause::InvalidEvent, format!("event field {field} {why}")).with("field", field)
}

/// A field value must be present, non-empty, printable ASCII and of sane length.
fn text_field(event: &Value, field: &str, max_len: usize) -> Result<String, Failure> {
    match event.get(field) {
        None | Some(Value::Null) => Err(bad(field, "is missing")),
        Some(Value::String(s)) if s.is_empty() => Err(bad(field, "is empty")),
        Some(Value::String(s)) if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            Err(bad(field, "is not printable ASCII"))
        }
        Some(Value::String(s)) if s.len() > max_len => Err(bad(field, "is too long")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(field, "is not a string")),
    }
}

/// Validates a raw invocation payload.
pub fn parse(event: &Value) -> Result<Invocation, Failure> {
    if !event.is_object() {
        return Err(bad("Step", "is missing (the event is not a JSON object)"));
    }
    if let Some(action) = event.get("Action") {
        return match action.as_str() {
            Some("diagnose") => Ok(Invocation::Diagnose {
                secret_id: text_field(event, "SecretId", 2048)?,
            }),
            Some("repair") => Ok(Invocation::Repair {
                secret_id: text_field(event, "SecretId", 2048)?,
                apply: match event.get("Apply") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(bad("Apply", "is not a boolean")),
                },
                function_timeout_s: match event.get("FunctionTimeoutSeconds") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_u64()
                            .filter(|s| *s <= crate::deadline::LAMBDA_MAX_TIMEOUT.as_secs())
                            .ok_or_else(|| {
                                bad(
                                    "FunctionTimeoutSeconds",
                                    "is not a number of seconds (0-900)",
                                )
                            })?,
                    ),
                },
            }),
            _ => Err(bad("Action", "is not \"diagnose\" or \"repair\"")),
        };
    }
    let step_name = text_field(event, "Step", 64)?;
    let step = Step::parse(&step_name).ok_or_else(|| bad("Step", "is not a rotation step"))?;
    let secret_id = text_field(event, "SecretId", 2048)?;
    let token = text_field(event, "ClientRequestToken", 64)?;
    // The RotationToken is opaque; it only has to be a usable string when present.
    let rotation_token = match event.get("RotationToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(crate::secret::Password::new(s.clone())),
        Some(_) => return Err(bad("RotationToken", "is not a string")),
    };
    Ok(Invocation::Rotate(RotationEvent {
        step,
        secret_id,
        token,
        rotation_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rotation_event_parses() {
        let inv = parse(&json!({"Step":"setSecret","SecretId":"arn:x","ClientRequestToken":"t-1","RotationToken":"rt"})).unwrap();
        match inv {
            Invocation::Rotate(e) => {
                assert_eq!(e.step, Step::SetSecret);
                assert!(e.rotation_token.is_some());
                assert!(!format!("{e:?}").contains("rt\""));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&json!({"Action":"diagnose","SecretId":"s"})).unwrap(),
            Invocation::Diagnose {
                secret_id: "s".into()
            }
        );
    }

    #[test]
    fn a_repair_event_is_a_dry_run_unless_apply_is_true() {
        assert_eq!(
            parse(&json!({"Action":"repair","SecretId":"s"})).unwrap(),
            Invocation::Repair {
                secret_id: "s".into(),
                apply: false,
                function_timeout_s: None
            }
        );
        assert_eq!(
            parse(
                &json!({"Action":"repair","SecretId":"s","Apply":true,"FunctionTimeoutSeconds":60})
            )
            .unwrap(),
            Invocation::Repair {
                secret_id: "s".into(),
                apply: true,
                function_timeout_s: Some(60)
            }
        );
    }

    #[test]
    fn invalid_events_name_the_field() {
        let cases = [
            (json!({"SecretId":"s","ClientRequestToken":"t"}), "Step"),
            (
                json!({"Step":"dropTable","SecretId":"s","ClientRequestToken":"t"}),
                "Step",
            ),
            (
                json!({"Step":"setSecret","ClientRequestToken":"t"}),
                "SecretId",
            ),
            (
                json!({"Step":"setSecret","SecretId":"","ClientRequestToken":"t"}),
                "SecretId",
            ),
            (
                json!({"Step":"setSecret","SecretId":"s\u{7}","ClientRequestToken":"t"}),
                "SecretId",
            ),
            (
                json!({"Step":"setSecret","SecretId":"sé","ClientRequestToken":"t"}),
                "SecretId",
            ),
            (
                json!({"Step":"setSecret","SecretId":"s","ClientRequestToken":5}),
                "ClientRequestToken",
            ),
            (
                json!({"Step":"setSecret","SecretId":"s"}),
                "ClientRequestToken",
            ),
            (json!({"Action":"drop","SecretId":"s"}), "Action"),
            (json!({"Action":"repair"}), "SecretId"),
            (
                json!({"Action":"repair","SecretId":"s","Apply":"yes"}),
                "Apply",
            ),
            (
                json!({"Action":"repair","SecretId":"s","FunctionTimeoutSeconds":-1}),
                "FunctionTimeoutSeconds",
            ),
            (json!("just a string"), "Step"),
        ];
        for (event, field) in cases {
            let f = parse(&event).unwrap_err();
            assert_eq!(f.cause, Cause::InvalidEvent, "{event}");
            assert_eq!(f.evidence["field"], field, "{event}");
        }
    }
}

/// Hostile input never panics and always ends in a cause: property tests over the event
/// parser, with any JSON, control characters, Unicode and SQL fragments (the strategies are
/// the secret parser's, in `secret::props`).
#[cfg(test)]
mod props {
    use super::*;
    use crate::secret::props::{any_json, hostile_string};
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_event_parses_or_is_invalid_event(v in any_json()) {
            if let Err(f) = parse(&v) {
                prop_assert_eq!(f.cause, Cause::InvalidEvent);
                prop_assert!(f.evidence.contains_key("field"));
            }
        }

        #[test]
        fn rotation_events_with_hostile_fields_are_validated(step in hostile_string(), id in hostile_string(), token in hostile_string()) {
            let v = json!({"Step": step, "SecretId": id, "ClientRequestToken": token});
            match parse(&v) {
                Ok(_) => {
                    // Only printable ASCII, non-empty fields, and a real step get through.
                    prop_assert!(Step::parse(&step).is_some());
                    for s in [&id, &token] {
                        prop_assert!(!s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b)));
                    }
                }
                Err(f) => prop_assert_eq!(f.cause, Cause::InvalidEvent),
            }
        }
    }
}
