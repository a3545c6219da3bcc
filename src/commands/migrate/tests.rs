//! The migrate report over hand-built migrations: which keys each phase adds, in the
//! contract's order, and the text of a dry run, a switch and a refusal.

use super::*;
use crate::commands::Report as _;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
const OLD: &str = "arn:aws:lambda:us-east-1:123456789012:function:old";
const NEW: &str = "arn:aws:lambda:us-east-1:123456789012:function:new";

fn function(arn: &str, runtime: &str) -> FunctionReport {
    FunctionReport {
        arn: arn.to_string(),
        name: crate::text::function_name(arn).to_string(),
        runtime: Some(runtime.to_string()),
        readable: true,
        error: None,
    }
}

/// A migration through the switch-back phase: described, target and current function read.
fn read_so_far(dry_run: bool) -> Migration {
    let rules = RotationRules {
        automatically_after_days: Some(30),
        ..RotationRules::default()
    };
    let mut m = Migration::new(SECRET, dry_run);
    m.secret = Some(Described {
        secret_arn: SECRET.to_string(),
        rotation_enabled: true,
        rotation_rules: Some(rules.clone()),
        function: Some(OLD.to_string()),
    });
    m.to = Some(function(NEW, "provided.al2023"));
    m.current = Some(Current {
        from: Some(function(OLD, "python3.7")),
        switch_back: switch_back(SECRET, Some(OLD), Some(&rules), Rotation::On),
    });
    m
}

fn keys(m: &Migration) -> Vec<String> {
    match serde_json::to_value(m).unwrap() {
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        other => panic!("{other}"),
    }
}

#[test]
fn a_refusal_before_describe_holds_only_the_request_and_the_reason() {
    let mut m = Migration::new("nosuch", true);
    m.refused = Some("DescribeSecret failed: ResourceNotFoundException: no".to_string());
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"secret_id":"nosuch","dry_run":true,"refused":"DescribeSecret failed: ResourceNotFoundException: no","applied":false}"#
    );
    assert!(!m.passed());
    assert_eq!(
        m.to_text(),
        "migrate nosuch\n  REFUSED: DescribeSecret failed: ResourceNotFoundException: no\n  nothing was changed\n"
    );
}

#[test]
fn each_phase_adds_its_keys_in_the_contracts_order() {
    let mut m = read_so_far(false);
    m.note = Some(ALREADY_ON);
    assert_eq!(
        keys(&m),
        [
            "secret_id",
            "dry_run",
            "secret_arn",
            "rotation_enabled",
            "rotation_rules",
            "to",
            "from",
            "switch_back",
            "applied",
            "note"
        ]
    );
    let mut m = read_so_far(false);
    m.preflight = Some(serde_json::json!({"ok": true, "checks": []}));
    m.plan = Some(Plan {
        new_rotation_rules: m.secret.as_ref().unwrap().rotation_rules.clone(),
    });
    m.applied = true;
    m.rotate_immediately = Some(false);
    assert_eq!(
        keys(&m)[7..],
        [
            "switch_back",
            "preflight",
            "new_rotation_rules",
            "applied",
            "rotate_immediately"
        ]
    );
    // A secret without a function: `from` is null, not missing.
    let mut m = read_so_far(true);
    m.current.as_mut().unwrap().from = None;
    assert_eq!(
        serde_json::to_value(&m).unwrap()["from"],
        serde_json::Value::Null
    );
}

#[test]
fn the_text_says_what_was_done_and_how_to_switch_back() {
    let mut dry = read_so_far(true);
    dry.plan = Some(Plan {
        new_rotation_rules: None,
    });
    let text = dry.to_text();
    assert!(text.starts_with(&format!(
        "migrate {SECRET}\n  from old (python3.7) to new (provided.al2023)\n  schedule {{\"AutomaticallyAfterDays\":30}}\n"
    )), "{text}");
    assert!(
        text.contains(&format!(
            "db-secret-rotator migrate --secret-id {SECRET} --function {NEW} --apply"
        )),
        "{text}"
    );
    assert!(text.ends_with(&format!("  switch back: aws secretsmanager rotate-secret --secret-id {SECRET} --rotation-lambda-arn {OLD} --rotation-rules '{{\"AutomaticallyAfterDays\":30}}' --no-rotate-immediately\n")), "{text}");

    let mut applied = read_so_far(false);
    applied.applied = true;
    applied.rotate_immediately = Some(true);
    assert!(applied
        .to_text()
        .contains("  APPLIED: rotation now uses new; a rotation starts now\n"));

    let mut already = read_so_far(false);
    already.note = Some(ALREADY_ON);
    let text = already.to_text();
    assert!(text.contains(&format!("  {ALREADY_ON}\n")), "{text}");
    assert!(!text.contains("dry run"), "{text}");
}

#[test]
fn the_report_stops_at_the_first_refusal_and_says_where() {
    let mut refused = read_so_far(false);
    refused.refused = Some("the preflight found a problem: login_current (db_login_failed)".into());
    let report = Report::of(vec![read_so_far(true), refused]);
    assert!(!report.ok());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
    assert!(report.to_text().ends_with(&format!(
        "migrate: stopped at {SECRET} (1 of the secret(s) before it handled)\n"
    )));
    let none = Report::of(Vec::new());
    assert!(none.ok());
    assert_eq!(none.to_text(), "migrate: no secret to move\n");
}
