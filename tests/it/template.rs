//! What cfn-lint cannot see in `template.yaml`: the dashboard body (a JSON string inside
//! `!Sub`) is valid JSON whose widgets read this stack's log group and Region, the
//! Serverless Application Repository version is the crate's, and `DB_CA_BUNDLE` defaults to
//! the RDS roots `scripts/package` ships, reserved concurrency below 10 is refused, and a
//! permissions boundary reaches the role. Plain text reading: the template's layout is fixed
//! (two-space indentation), and `scripts/check-deploy` lints the YAML itself.

use serde_json::Value;

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap()
}

/// The `|-` block under `key` (its more-indented lines, indentation removed).
fn block_after(text: &str, key: &str) -> String {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in template.yaml"));
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let mut lines = text[start..].lines();
    let head = lines.next().unwrap();
    let indent = head.len() - head.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    let strip = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| if l.len() >= strip { &l[strip..] } else { "" })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `${...}` in `body`, and the body with each replaced by a placeholder.
fn substitute(body: &str) -> (Vec<String>, String) {
    let mut names = Vec::new();
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("unterminated ${") + at;
        let name = &rest[at + 2..end];
        names.push(name.to_string());
        out.push_str(&format!("<{name}>"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (names, out)
}

#[test]
fn the_dashboard_body_is_json_whose_widgets_read_this_stack() {
    let (names, body) = substitute(&block_after(&template(), "DashboardBody: !Sub |-"));
    for name in &names {
        assert!(
            [
                "RotationFunction",
                "RotationLogGroup",
                "StepFailedAlarm",
                "AWS::Region"
            ]
            .contains(&name.as_str()),
            "the dashboard refers to ${{{name}}}"
        );
    }
    let dashboard: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON ({e}):\n{body}"));
    let widgets = dashboard["widgets"].as_array().unwrap();
    let mut kinds = std::collections::BTreeMap::new();
    for w in widgets {
        let kind = w["type"].as_str().unwrap();
        *kinds.entry(kind).or_insert(0) += 1;
        let p = &w["properties"];
        if kind != "text" {
            assert_eq!(p["region"], "<AWS::Region>", "{w}");
            assert!(p["title"].is_string(), "{w}");
        }
        if kind == "log" {
            let query = p["query"].as_str().unwrap();
            assert!(
                query.starts_with("SOURCE '<RotationLogGroup>' | "),
                "{query}"
            );
        }
        if kind == "metric" {
            assert!(!p["metrics"].as_array().unwrap().is_empty(), "{w}");
        }
        for key in ["x", "y", "width", "height"] {
            assert!(w[key].is_u64(), "{key} of {w}");
        }
        assert!(w["x"].as_u64().unwrap() + w["width"].as_u64().unwrap() <= 24);
    }
    assert_eq!(kinds.get("metric"), Some(&3), "{kinds:?}");
    assert_eq!(kinds.get("log"), Some(&3), "{kinds:?}");
    // Failures by cause come from the EMF metric, without the successes' Cause "none".
    assert!(body.contains(r#"MetricName=\"StepFailed\" NOT Cause=\"none\""#));
    assert!(body.contains(r#"filter event = \"step_failed\" | fields @timestamp"#));
}

#[test]
fn the_application_version_is_the_crate_version() {
    let text = template();
    let sar = block_after(&text, "AWS::ServerlessRepo::Application:");
    let version = sar
        .lines()
        .find_map(|l| l.strip_prefix("SemanticVersion: "))
        .expect("SemanticVersion in the ServerlessRepo metadata");
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
    assert!(sar.lines().any(|l| l == "ReadmeUrl: README.md"), "{sar}");
}

#[test]
fn db_ca_bundle_defaults_to_the_shipped_rds_roots() {
    let text = template();
    assert!(
        text.contains(
            "  dbCaBundlePath:\n    Type: String\n    Default: /var/task/rds-roots.pem\n"
        ),
        "dbCaBundlePath must default to /var/task/rds-roots.pem"
    );
    let package =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package")).unwrap();
    assert!(package.contains(r#"cp "$roots" "$dir/rds-roots.pem""#));
    assert!(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/rds-roots.pem")).is_file()
    );
}

/// The `AllowedPattern` of a parameter, as CloudFormation applies it (to the whole value).
fn allowed_pattern(param: &str) -> regex::Regex {
    let block = block_after(&template(), &format!("  {param}:\n"));
    let pattern = block
        .lines()
        .find_map(|l| l.strip_prefix("AllowedPattern: "))
        .unwrap_or_else(|| panic!("{param} has no AllowedPattern"));
    let pattern = pattern.trim().trim_matches('"');
    regex::Regex::new(&format!("^(?:{pattern})$")).unwrap()
}

#[test]
fn reserved_concurrency_below_10_is_refused_and_empty_means_unreserved() {
    let allowed = allowed_pattern("reservedConcurrency");
    for ok in ["", "10", "11", "50", "100", "9999"] {
        assert!(allowed.is_match(ok), "{ok:?} should be accepted");
    }
    for refused in ["0", "1", "9", "09", "-1", "10000", "ten", " 10"] {
        assert!(!allowed.is_match(refused), "{refused:?} should be refused");
    }
    let text = template();
    assert!(text.contains(
        "ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref reservedConcurrency, !Ref AWS::NoValue]"
    ));
}

#[test]
fn a_permissions_boundary_reaches_the_role_only_when_given() {
    let allowed = allowed_pattern("permissionsBoundaryArn");
    for ok in [
        "",
        "arn:aws:iam::123456789012:policy/boundaries/rotation",
        "arn:aws-us-gov:iam::123456789012:policy/b",
        "arn:aws:iam::aws:policy/PowerUserAccess",
    ] {
        assert!(allowed.is_match(ok), "{ok:?} should be accepted");
    }
    for refused in [
        "arn:aws:iam::123456789012:role/rotation",
        "boundary",
        "arn:aws:iam::1234:policy/b",
    ] {
        assert!(!allowed.is_match(refused), "{refused:?} should be refused");
    }
    let text = template();
    assert!(text.contains(
        "  HasPermissionsBoundary: !Not [!Equals [!Ref permissionsBoundaryArn, \"\"]]\n"
    ));
    let role = block_after(&text, "  RotationFunctionRole:\n");
    assert!(
        role.contains(
            "\n  PermissionsBoundary: !If [HasPermissionsBoundary, !Ref permissionsBoundaryArn, !Ref AWS::NoValue]\n"
        ),
        "the role's Properties lack the conditional PermissionsBoundary:\n{role}"
    );
    // Offered in the console's parameter groups with the function's settings.
    let groups = block_after(&text, "    ParameterGroups:\n");
    assert!(groups.contains("- permissionsBoundaryArn"), "{groups}");
}
