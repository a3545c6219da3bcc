//! Nothing secret leaks: every password and RotationToken the suite used (recorded by the
//! harness) is searched for in everything the binary printed during the suite, and in the
//! database servers' statement logs. `scripts/test` runs this after the rest of the suite.

use crate::common::*;

fn read(path: &std::path::Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[test]
#[ignore = "run by scripts/test after the whole suite, over its output"]
fn no_secret_value_appears_in_anything_the_suite_printed() {
    let dir = output_dir();
    let secrets: Vec<String> = read(&dir.join("secrets.txt"))
        .lines()
        .filter(|l| l.len() >= 8)
        .map(str::to_string)
        .collect();
    let printed = read(&dir.join("binary-output.log"));
    assert!(
        secrets.len() >= 10,
        "the suite recorded too few secrets to mean anything: {}",
        secrets.len()
    );
    assert!(
        printed.lines().count() >= 100,
        "the suite printed too little to mean anything"
    );
    let s = services();
    let sources = [
        ("binary output", printed),
        ("PostgreSQL log", read(&s.pg_log)),
        ("MariaDB general log", read(&s.mariadb_general_log)),
        ("MySQL general log", read(&s.mysql_general_log)),
    ];
    let leaks = find_leaks(&secrets, &sources);
    println!(
        "scanned {} secrets over {} sources",
        secrets.len(),
        sources.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

/// Every source holding a recorded secret, verbatim or JSON-escaped: one pass per source over
/// every secret at once (Aho-Corasick), since the suite records thousands of secrets and
/// prints megabytes.
fn find_leaks(secrets: &[String], sources: &[(&str, String)]) -> Vec<String> {
    let mut patterns = Vec::new();
    for secret in secrets {
        patterns.push(secret.clone());
        let escaped = serde_json::to_string(secret).unwrap();
        patterns.push(escaped[1..escaped.len() - 1].to_string());
    }
    let matcher = aho_corasick::AhoCorasick::new(&patterns).unwrap();
    let mut leaks = Vec::new();
    for (name, text) in sources {
        if let Some(m) = matcher.find(text.as_str()) {
            leaks.push(format!(
                "{name} contains a recorded secret of {} characters at byte {}",
                patterns[m.pattern().as_usize()].len(),
                m.start()
            ));
        }
    }
    leaks
}

#[test]
fn a_planted_secret_fails_the_scan() {
    let secrets = vec![
        "Pw'planted\\\"one".to_string(),
        "another-recorded-secret".to_string(),
    ];
    let clean = (
        "clean",
        r#"{"event":"step_succeeded","message":"***"}"#.to_string(),
    );
    assert!(find_leaks(&secrets, std::slice::from_ref(&clean)).is_empty());
    // JSON-escaped, as a log line would hold it.
    let escaped = serde_json::to_string(&secrets[0]).unwrap();
    let planted = ("planted", format!(r#"{{"message":{escaped}}}"#));
    let raw = (
        "raw",
        format!("ALTER USER x IDENTIFIED BY '{}'", secrets[1]),
    );
    let leaks = find_leaks(&secrets, &[clean, planted, raw]);
    assert_eq!(leaks.len(), 2, "{leaks:?}");
}
