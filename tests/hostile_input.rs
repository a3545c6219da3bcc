//! Hostile input never panics and always ends in a cause: property tests over the event and
//! secret JSON parsers, with control characters, Unicode and SQL fragments.

use db_secret_rotator::event;
use db_secret_rotator::failure::Cause;
use db_secret_rotator::secret::{DbSecret, SecretRole};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const SQLISH: &[&str] = &[
    "'; DROP ROLE postgres; --",
    "\" OR 1=1 --",
    "`; DROP USER root; #",
    "\\'\\\"\\\\",
    "%",
    "\u{0}",
    "\u{202e}gnp.exe",
    "Ω≈ç√∫",
    "\n\r\t",
];

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        prop::sample::select(SQLISH).prop_map(str::to_string),
        "[\\x00-\\x1f]{1,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_event_parses_or_is_invalid_event(v in any_json()) {
        if let Err(f) = event::parse(&v) {
            prop_assert_eq!(f.cause, Cause::InvalidEvent);
            prop_assert!(f.evidence.contains_key("field"));
        }
    }

    #[test]
    fn rotation_events_with_hostile_fields_are_validated(step in hostile_string(), id in hostile_string(), token in hostile_string()) {
        let v = json!({"Step": step, "SecretId": id, "ClientRequestToken": token});
        match event::parse(&v) {
            Ok(_) => {
                // Only printable ASCII, non-empty fields, and a real step get through.
                prop_assert!(event::Step::parse(&step).is_some());
                for s in [&id, &token] {
                    prop_assert!(!s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b)));
                }
            }
            Err(f) => prop_assert_eq!(f.cause, Cause::InvalidEvent),
        }
    }

    #[test]
    fn any_secret_text_parses_or_has_a_secret_json_cause(text in ".{0,200}") {
        if let Err(f) = DbSecret::parse(&text, SecretRole::Current) {
            prop_assert!(matches!(f.cause, Cause::SecretJsonInvalid | Cause::SecretJsonMissingKey | Cause::UnsupportedEngine));
        }
    }

    #[test]
    fn any_secret_object_parses_or_has_a_secret_json_cause(v in any_json(), engine in prop::sample::select(&["postgres", "mysql", "mariadb", "oracle", ""][..])) {
        let mut v = v;
        if let Value::Object(m) = &mut v {
            m.insert("engine".into(), json!(engine));
        }
        if let Err(f) = DbSecret::parse(&v.to_string(), SecretRole::Pending) {
            prop_assert!(matches!(f.cause, Cause::SecretJsonInvalid | Cause::SecretJsonMissingKey | Cause::UnsupportedEngine));
            prop_assert_eq!(&f.evidence.get("secret").cloned(), &Some(json!("pending")));
        }
    }

    #[test]
    fn hostile_credentials_are_carried_verbatim_and_never_printed(user in hostile_string(), pw in "[^\\x00-\\x1f]{6,64}", db in hostile_string()) {
        let v = json!({"engine": "postgres", "host": "db.example", "username": user, "password": pw, "dbname": db});
        match DbSecret::parse(&v.to_string(), SecretRole::Current) {
            Ok(s) => {
                prop_assert_eq!(&s.username, &user);
                prop_assert_eq!(s.password.expose(), pw.as_str());
                let shown = format!("{:?}", s);
                prop_assert!(!shown.contains(pw.as_str()));
                let back: Value = serde_json::from_str(&s.to_secret_string()).unwrap();
                prop_assert_eq!(back, v);
            }
            Err(f) => {
                // Control characters in a username or dbname are refused, with the key named.
                prop_assert_eq!(f.cause, Cause::SecretJsonInvalid);
                let key = f.evidence.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                prop_assert!(key == "username" || key == "dbname", "{}", key);
            }
        }
    }
}

#[test]
fn oversized_secrets_are_refused_with_a_cause() {
    let big = json!({"engine": "postgres", "host": "h", "username": "u", "password": "p", "pad": "x".repeat(70_000)});
    let f = DbSecret::parse(&big.to_string(), SecretRole::Current).unwrap_err();
    assert_eq!(f.cause, Cause::SecretJsonInvalid);
    assert!(f.evidence["size_bytes"].as_u64().unwrap() > 65_536);
}
