//! `repair` on the in-memory store: the action, and the races between the first look, the
//! re-check and the action, each scripted as "another rotation starts just before this
//! call". The stored passwords are tried by a [`Probe`] that accepts a fixed list, so no
//! database is reached; the real-service suite runs the same races against moto and the
//! three engines.

use super::{repair, Outcome, Probe, Request, State};
use crate::db::TlsMode;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole};
use crate::store::memory::{self, MemoryStore};
use serde_json::json;
use std::time::Duration;

const OLD: &str = "old-password-1";
const NEW: &str = "new-password-2";

/// Logs in exactly the passwords listed; refuses every other one.
struct Accepts(&'static [&'static str]);

impl Probe for Accepts {
    async fn log_in(
        &self,
        secret: &DbSecret,
        _role: SecretRole,
        _deadline: &Deadline,
    ) -> Result<TlsMode, Failure> {
        if self.0.contains(&secret.password.expose()) {
            Ok(TlsMode::Plain)
        } else {
            Err(
                Failure::new(Cause::DbLoginFailed, "password authentication failed")
                    .with("tls_mode_used", "none"),
            )
        }
    }
}

fn rotator() -> (Rotator<MemoryStore>, MemoryStore) {
    let settings = crate::config::from_lookup(|_| None).unwrap();
    // No database answers within 200 ms here; RDS is built, never called.
    crate::rotation::Rotator::in_memory(settings)
}

fn secret_json(password: &str) -> String {
    json!({"engine": "postgres", "host": "127.0.0.1", "port": 9, "username": "app",
        "password": password})
    .to_string()
}

/// AWSCURRENT (`v0`, the old password) and a rotation `t1` that createSecret never filled.
fn stuck_after_create(store: &MemoryStore) -> String {
    let arn = store.create("app", "v0", &secret_json(OLD));
    store.start_rotation(&arn, "t1");
    arn
}

/// As [`stuck_after_create`], with `t1` holding the new password.
fn stuck_after_set(store: &MemoryStore) -> String {
    let arn = stuck_after_create(store);
    store.with_state(|s| {
        s.secrets
            .get_mut("app")
            .unwrap()
            .versions
            .get_mut("t1")
            .unwrap()
            .value = Some(secret_json(NEW));
    });
    arn
}

/// `apply` with a function timeout of 0: no rotation is taken to be running.
fn apply(arn: &str) -> Request {
    Request {
        secret_id: arn.to_string(),
        apply: true,
        function_timeout: Duration::ZERO,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10), Duration::from_millis(100))
}

fn holder(store: &MemoryStore, arn: &str, stage: &str) -> Option<String> {
    store.secret(arn).unwrap().holder(stage).map(str::to_string)
}

#[tokio::test]
async fn a_stale_pending_label_is_removed() {
    let (r, store) = rotator();
    let arn = stuck_after_create(&store);
    let dry = Request {
        apply: false,
        ..apply(&arn)
    };
    let report = repair(&r, &Accepts(&[OLD]), &dry, deadline()).await;
    assert_eq!(report.verdict.state, State::StalePendingLabel);
    assert_eq!(report.outcome, Outcome::DryRun);
    assert_eq!(holder(&store, &arn, "AWSPENDING").as_deref(), Some("t1"));

    let report = repair(&r, &Accepts(&[OLD]), &apply(&arn), deadline()).await;
    assert_eq!(report.outcome, Outcome::Applied, "{}", report.to_text());
    assert_eq!(report.state_after, Some(State::Healthy));
    assert!(report.ok());
    assert_eq!(holder(&store, &arn, "AWSPENDING"), None);
    assert_eq!(holder(&store, &arn, "AWSCURRENT").as_deref(), Some("v0"));
}

#[tokio::test]
async fn a_rotation_starting_before_the_recheck_makes_apply_refuse() {
    let (r, store) = rotator();
    let arn = stuck_after_create(&store);
    // DescribeSecret 1 is the look, 2 the re-check: a rotation starts right before it.
    store.before_next("DescribeSecret", |_| {});
    let a = arn.clone();
    store.before_next("DescribeSecret", move |s| {
        memory::start_rotation(s, &a, "t2")
    });
    let report = repair(&r, &Accepts(&[OLD]), &apply(&arn), deadline()).await;
    assert_eq!(report.verdict.state, State::StalePendingLabel);
    assert_eq!(report.outcome, Outcome::Refused);
    assert!(
        report.detail.contains("staging labels moved"),
        "{}",
        report.detail
    );
    assert!(!report.ok());
    assert_eq!(
        store.calls("UpdateSecretVersionStage"),
        0,
        "nothing was tried"
    );
    assert_eq!(holder(&store, &arn, "AWSPENDING").as_deref(), Some("t2"));
}

#[tokio::test]
async fn a_rotation_starting_at_the_action_makes_the_label_removal_fail() {
    let (r, store) = rotator();
    let arn = stuck_after_create(&store);
    // After the re-check, right before the label removal.
    let a = arn.clone();
    store.before_next("UpdateSecretVersionStage", move |s| {
        memory::start_rotation(s, &a, "t2")
    });
    let report = repair(&r, &Accepts(&[OLD]), &apply(&arn), deadline()).await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.to_text());
    let f = report.failure.as_ref().expect("the refusal is kept");
    assert_eq!(f.cause, Cause::AwsServiceError);
    assert_eq!(
        f.signals.aws_code.as_deref(),
        Some("InvalidParameterException")
    );
    // The new rotation's AWSPENDING survives.
    assert_eq!(holder(&store, &arn, "AWSPENDING").as_deref(), Some("t2"));
}

#[tokio::test]
async fn set_not_finished_is_promoted_as_finish_secret_does() {
    let (r, store) = rotator();
    let arn = stuck_after_set(&store);
    let report = repair(&r, &Accepts(&[NEW]), &apply(&arn), deadline()).await;
    assert_eq!(report.verdict.state, State::SetNotFinished);
    assert_eq!(report.outcome, Outcome::Applied, "{}", report.to_text());
    assert_eq!(report.state_after, Some(State::Healthy));
    assert_eq!(holder(&store, &arn, "AWSCURRENT").as_deref(), Some("t1"));
    assert_eq!(holder(&store, &arn, "AWSPREVIOUS").as_deref(), Some("v0"));
}

#[tokio::test]
async fn a_rotation_starting_at_the_promotion_makes_finish_secret_refuse_it() {
    let (r, store) = rotator();
    let arn = stuck_after_set(&store);
    // DescribeSecret 1 is the look, 2 the re-check, 3 finishSecret's own precondition check.
    store.before_next("DescribeSecret", |_| {});
    store.before_next("DescribeSecret", |_| {});
    let a = arn.clone();
    store.before_next("DescribeSecret", move |s| {
        memory::start_rotation(s, &a, "t2")
    });
    let report = repair(&r, &Accepts(&[NEW]), &apply(&arn), deadline()).await;
    assert_eq!(report.verdict.state, State::SetNotFinished);
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.to_text());
    // `t1` lost its only label, so DescribeSecret no longer lists it (Secrets Manager
    // leaves unlabelled versions out too): finishSecret's precondition refuses it.
    assert_eq!(
        report.failure.as_ref().map(|f| f.cause),
        Some(Cause::VersionNotStaged)
    );
    assert_eq!(
        store.calls("UpdateSecretVersionStage"),
        0,
        "nothing was moved"
    );
    assert_eq!(holder(&store, &arn, "AWSCURRENT").as_deref(), Some("v0"));
    assert_eq!(holder(&store, &arn, "AWSPENDING").as_deref(), Some("t2"));
}

#[tokio::test]
async fn a_version_naming_another_host_is_never_tried() {
    let (r, store) = rotator();
    let arn = stuck_after_create(&store);
    let elsewhere = json!({"engine": "postgres", "host": "elsewhere.example", "port": 9,
        "username": "app", "password": NEW})
    .to_string();
    store.with_state(|s| {
        s.secrets
            .get_mut("app")
            .unwrap()
            .versions
            .get_mut("t1")
            .unwrap()
            .value = Some(elsewhere);
    });
    // Were it tried, it would log in and the state would be undetermined.
    let report = repair(&r, &Accepts(&[OLD, NEW]), &apply(&arn), deadline()).await;
    assert_eq!(report.observation.pending, super::Login::Unusable);
    assert_eq!(
        report.observation.logins.len(),
        1,
        "only AWSCURRENT was tried"
    );
    assert_eq!(report.outcome, Outcome::Applied);
}

#[tokio::test]
async fn not_exactly_one_awscurrent_is_undetermined_without_an_invented_aws_code() {
    let (r, store) = rotator();
    let arn = stuck_after_create(&store);
    store.with_state(|s| {
        let secret = s.secrets.get_mut("app").unwrap();
        secret
            .versions
            .get_mut("t1")
            .unwrap()
            .stages
            .push("AWSCURRENT".into());
    });
    let report = repair(&r, &Accepts(&[OLD]), &apply(&arn), deadline()).await;
    assert_eq!(report.verdict.state, State::Undetermined);
    assert_eq!(report.verdict.cause, Some(Cause::StagingLabelsInvalid));
    let v = report.to_json();
    assert_eq!(v["cause"], "staging_labels_invalid");
    assert_eq!(v["labels"]["t1"], json!(["AWSCURRENT", "AWSPENDING"]));
    assert_eq!(store.calls("GetSecretValue"), 0, "no value was read");
}

#[test]
fn the_json_report_keeps_its_fields_and_order() {
    use super::observe::Observation;
    use crate::rotation::login::LoginAttempt;
    let secret = DbSecret::parse(&secret_json(OLD), SecretRole::Current).unwrap();
    let mut o = Observation::new("arn:x", crate::config::Strategy::SingleUser, Duration::ZERO);
    o.labels.insert("v0".into(), vec!["AWSCURRENT".into()]);
    o.current_version = Some("v0".into());
    o.current = super::Login::Ok;
    o.logins.push(
        LoginAttempt::logged_in(&secret, SecretRole::Current, TlsMode::Plain).of_version("v0"),
    );
    let req = Request {
        secret_id: "arn:x".into(),
        apply: false,
        function_timeout: Duration::ZERO,
    };
    let mut report = super::Report::of_first_look(&req, o);
    report.detail = "nothing to change".into();
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        concat!(
            r#"{"secret_id":"arn:x","ok":true,"state":"healthy","#,
            r#""summary":"AWSCURRENT logs in and no rotation is pending","#,
            r#""strategy":"single_user","labels":{"v0":["AWSCURRENT"]},"#,
            r#""logins":[{"secret":"current","version_id":"v0","user":"app","outcome":"login_ok","tls":"none"}],"#,
            r#""pending_age_s":null,"rotation_window_s":0,"action":null,"apply":false,"#,
            r#""outcome":"no_action","detail":"nothing to change"}"#
        )
    );
    let text = crate::commands::Report::to_text(&report);
    assert!(
        text.contains("logins:   current  app  login_ok (tls: none)"),
        "{text}"
    );
    assert!(!text.contains(OLD) && !serde_json::to_string(&report).unwrap().contains(OLD));
}
