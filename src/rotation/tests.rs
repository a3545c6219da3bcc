//! The rotation protocol against the in-memory store: preconditions, each step twice,
//! retries after a failed call, and races with a second invocation or a second rotation.
//! No database is reached: every case here fails or succeeds before a connection (the
//! database halves of setSecret and testSecret are in the real-service suites). Over 400
//! lines: one file per protocol, so the cases read as one list.

use super::{Invoker, Outcome, Rotator};
use crate::deadline::Deadline;
use crate::event::{RotationEvent, Step};
use crate::failure::{Cause, Failure};
use crate::secret::Stage;
use crate::secret::{DbSecret, Password, SecretRole};
use crate::store::memory::{self, MemoryStore};
use serde_json::{json, Value};
use std::time::Duration;

const CURRENT: &str = "v0";

fn rotator(env: &[(&str, &str)]) -> (Rotator<MemoryStore>, MemoryStore) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = crate::config::from_lookup(|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    // No database answers within 200 ms here; RDS is built, never called.
    crate::rotation::Rotator::in_memory(settings)
}

fn secret_json(user: &str, extra: Value) -> String {
    let mut v = json!({
        "engine": "postgres",
        // A port nothing listens on: a step that wrongly connects fails loudly.
        "host": "127.0.0.1",
        "port": 9,
        "username": user,
        "password": "current-password-1",
        "note": "kept",
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v.to_string()
}

fn event(step: Step, arn: &str, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: arn.to_string(),
        token: token.to_string(),
        rotation_token: None,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10), Duration::from_millis(100))
}

async fn run(
    r: &Rotator<MemoryStore>,
    step: Step,
    arn: &str,
    token: &str,
) -> Result<Outcome, Failure> {
    r.run_step(
        &event(step, arn, token),
        deadline(),
        Invoker::SecretsManager,
    )
    .await
}

fn stages(store: &MemoryStore, arn: &str, version: &str) -> Vec<String> {
    let mut s = store.secret(arn).unwrap().versions[version].stages.clone();
    s.sort();
    s
}

fn pending_value(store: &MemoryStore, arn: &str, token: &str) -> DbSecret {
    let text = store.secret(arn).unwrap().versions[token]
        .value
        .clone()
        .unwrap();
    DbSecret::parse(&text, SecretRole::Pending).unwrap()
}

/// A secret with AWSCURRENT on `v0` and a rotation started with token `t1`.
fn started(store: &MemoryStore) -> String {
    let arn = store.create("app", CURRENT, &secret_json("app", json!({})));
    store.start_rotation(&arn, "t1");
    arn
}

#[tokio::test]
async fn create_secret_twice_stores_one_pending_value() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    assert_eq!(
        run(&r, Step::CreateSecret, &arn, "t1").await.unwrap(),
        Outcome::PendingCreated
    );
    let first = pending_value(&store, &arn, "t1");
    assert_eq!(first.username, "app");
    assert_ne!(first.password.expose(), "current-password-1");
    assert_eq!(first.password.expose().chars().count(), 32);
    // PostgreSQL's default exclusions hold.
    assert!(!first
        .password
        .expose()
        .contains([':', '/', '@', '"', '\'', '\\']));
    assert_eq!(
        first.keys(),
        ["engine", "host", "port", "username", "password", "note"]
    );

    assert_eq!(
        run(&r, Step::CreateSecret, &arn, "t1").await.unwrap(),
        Outcome::PendingExists
    );
    assert_eq!(store.calls("PutSecretValue"), 1);
    assert_eq!(store.calls("GetRandomPassword"), 1);
    assert_eq!(pending_value(&store, &arn, "t1").password, first.password);
}

#[tokio::test]
async fn create_secret_racing_another_keeps_the_first_value() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    // The other createSecret writes between our read of AWSPENDING and our PutSecretValue.
    let other = secret_json("app", json!({"password": "the-other-one"}));
    store.before_next("PutSecretValue", move |state| {
        let s = state.secrets.get_mut("app").unwrap();
        s.versions.get_mut("t1").unwrap().value = Some(other);
    });
    assert_eq!(
        run(&r, Step::CreateSecret, &arn, "t1").await.unwrap(),
        Outcome::PendingExists
    );
    assert_eq!(
        pending_value(&store, &arn, "t1").password.expose(),
        "the-other-one"
    );
}

#[tokio::test]
async fn create_secret_passes_the_rotation_token() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    let mut ev = event(Step::CreateSecret, &arn, "t1");
    ev.rotation_token = Some(Password::new("cross-account-token"));
    r.run_step(&ev, deadline(), Invoker::SecretsManager)
        .await
        .unwrap();
    assert_eq!(
        store.secret(&arn).unwrap().last_rotation_token.as_deref(),
        Some("cross-account-token")
    );
}

#[tokio::test]
async fn a_failed_call_writes_nothing_and_the_retry_succeeds() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    store.fail_next(
        "GetRandomPassword",
        Failure::new(Cause::SecretsManagerUnreachable, "injected"),
    );
    let f = run(&r, Step::CreateSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::SecretsManagerUnreachable);
    assert_eq!(store.calls("PutSecretValue"), 0);
    assert!(store.secret(&arn).unwrap().versions["t1"].value.is_none());
    assert_eq!(
        run(&r, Step::CreateSecret, &arn, "t1").await.unwrap(),
        Outcome::PendingCreated
    );
}

#[tokio::test]
async fn a_broken_current_secret_fails_create_before_any_write() {
    let (r, store) = rotator(&[]);
    let arn = store.create("app", CURRENT, r#"{"engine":"postgres","host":"h"}"#);
    store.start_rotation(&arn, "t1");
    let f = run(&r, Step::CreateSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::SecretJsonMissingKey);
    assert_eq!(store.calls("GetRandomPassword"), 0);
    assert_eq!(store.calls("PutSecretValue"), 0);
}

#[tokio::test]
async fn preconditions_refuse_before_the_step_runs() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    let f = run(&r, Step::SetSecret, &arn, "nope").await.unwrap_err();
    assert_eq!(f.cause, Cause::VersionNotStaged);

    store.with_state(|s| s.secrets.get_mut("app").unwrap().rotation_enabled = false);
    let f = run(&r, Step::CreateSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::RotationNotEnabled);
    assert_eq!(store.calls("GetSecretValue"), 0);

    // The rotate command plays Secrets Manager: rotation off, and a token not yet staged.
    let local = r
        .run_step(
            &event(Step::CreateSecret, &arn, "t9"),
            deadline(),
            Invoker::Local,
        )
        .await
        .unwrap();
    assert_eq!(local, Outcome::PendingCreated);
    assert_eq!(stages(&store, &arn, "t9"), ["AWSPENDING"]);
}

#[tokio::test]
async fn a_second_rotation_that_moved_awspending_stops_the_first() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    // Another rotation starts: AWSPENDING moves to its token, and t1, left without a
    // label, is deprecated (DescribeSecret no longer lists it).
    store.start_rotation(&arn, "t2");
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        let f = run(&r, step, &arn, "t1").await.unwrap_err();
        assert_eq!(f.cause, Cause::VersionNotStaged, "{step:?}");
    }
    assert_eq!(stages(&store, &arn, CURRENT), ["AWSCURRENT"]);
    assert_eq!(store.calls("UpdateSecretVersionStage"), 0);
    // The second rotation goes on undisturbed.
    assert_eq!(
        run(&r, Step::CreateSecret, &arn, "t2").await.unwrap(),
        Outcome::PendingCreated
    );
    assert_eq!(
        run(&r, Step::FinishSecret, &arn, "t2").await.unwrap(),
        Outcome::Promoted
    );
}

#[tokio::test]
async fn a_token_left_with_another_label_names_the_pending_holder() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    run(&r, Step::FinishSecret, &arn, "t1").await.unwrap();
    // The old version now holds AWSPREVIOUS; a new rotation stages t2.
    store.start_rotation(&arn, "t2");
    let f = run(&r, Step::SetSecret, &arn, CURRENT).await.unwrap_err();
    assert_eq!(f.cause, Cause::VersionNotPending);
    assert_eq!(f.evidence["pending_version_id"], "t2");
    assert!(
        f.remedy.contains("--remove-from-version-id t2"),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn finish_secret_moves_current_and_previous_once() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    assert_eq!(
        run(&r, Step::FinishSecret, &arn, "t1").await.unwrap(),
        Outcome::Promoted
    );
    assert_eq!(stages(&store, &arn, "t1"), ["AWSCURRENT", "AWSPENDING"]);
    assert_eq!(stages(&store, &arn, CURRENT), ["AWSPREVIOUS"]);
    // Again: the preconditions see AWSCURRENT on the token and change nothing.
    assert_eq!(
        run(&r, Step::FinishSecret, &arn, "t1").await.unwrap(),
        Outcome::AlreadyCurrent
    );
    assert_eq!(store.calls("UpdateSecretVersionStage"), 1);
    // Every step on a token that is already current is done.
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        assert_eq!(
            run(&r, step, &arn, "t1").await.unwrap(),
            Outcome::AlreadyCurrent
        );
    }
}

#[tokio::test]
async fn finish_secret_racing_another_finish_is_already_current() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    // The other finishSecret moves AWSCURRENT between our DescribeSecret and our move:
    // ours then names a version that no longer holds the label, and is refused.
    store.before_next("UpdateSecretVersionStage", |state| {
        let s = state.secrets.get_mut("app").unwrap();
        s.versions.get_mut(CURRENT).unwrap().stages = vec!["AWSPREVIOUS".into()];
        s.versions
            .get_mut("t1")
            .unwrap()
            .stages
            .push("AWSCURRENT".into());
    });
    assert_eq!(
        run(&r, Step::FinishSecret, &arn, "t1").await.unwrap(),
        Outcome::AlreadyCurrent
    );
    assert_eq!(stages(&store, &arn, CURRENT), ["AWSPREVIOUS"]);
}

#[tokio::test]
async fn a_refused_finish_is_reported_and_moves_nothing() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    store.fail_next(
        "UpdateSecretVersionStage",
        Failure::new(Cause::SecretsManagerAccessDenied, "injected")
            .aws_code("AccessDeniedException"),
    );
    let f = run(&r, Step::FinishSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::SecretsManagerAccessDenied);
    assert_eq!(stages(&store, &arn, CURRENT), ["AWSCURRENT"]);
    // The retry Secrets Manager makes then succeeds.
    assert_eq!(
        run(&r, Step::FinishSecret, &arn, "t1").await.unwrap(),
        Outcome::Promoted
    );
}

#[tokio::test]
async fn set_and_test_need_the_pending_value() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    for step in [Step::SetSecret, Step::TestSecret] {
        let f = run(&r, step, &arn, "t1").await.unwrap_err();
        assert_eq!(f.cause, Cause::SecretNotFound, "{step:?}");
        assert_eq!(f.evidence["secret"], "pending");
        assert_eq!(f.evidence["version_id"], "t1");
    }
}

#[tokio::test]
async fn a_tampered_pending_secret_is_refused_before_any_connection() {
    let (r, store) = rotator(&[]);
    let arn = started(&store);
    store.with_state(|s| {
        let v = s
            .secrets
            .get_mut("app")
            .unwrap()
            .versions
            .get_mut("t1")
            .unwrap();
        v.value = Some(secret_json("postgres", json!({"password": "pending-pw-1"})));
    });
    let f = run(&r, Step::SetSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::UserMismatch);
    assert_eq!(f.evidence["expected_user"], "app");
    assert_eq!(f.evidence["found_user"], "postgres");
}

#[tokio::test]
async fn alternating_users_create_the_other_user_and_back() {
    let (r, store) = rotator(&[("ROTATION_STRATEGY", "alternating_users")]);
    let arn = store.create(
        "app",
        CURRENT,
        &secret_json("app", json!({"masterarn": "arn:master"})),
    );
    store.start_rotation(&arn, "t1");
    run(&r, Step::CreateSecret, &arn, "t1").await.unwrap();
    assert_eq!(pending_value(&store, &arn, "t1").username, "app_clone");

    // From the clone, the pair goes back to the original.
    let clone = store.create(
        "clone",
        CURRENT,
        &secret_json("app_clone", json!({"masterarn": "arn:master"})),
    );
    store.start_rotation(&clone, "t1");
    run(&r, Step::CreateSecret, &clone, "t1").await.unwrap();
    assert_eq!(pending_value(&store, &clone, "t1").username, "app");
}

#[tokio::test]
async fn alternating_users_without_masterarn_write_nothing() {
    let (r, store) = rotator(&[("ROTATION_STRATEGY", "alternating_users")]);
    let arn = started(&store);
    let f = run(&r, Step::CreateSecret, &arn, "t1").await.unwrap_err();
    assert_eq!(f.cause, Cause::SecretJsonMissingKey);
    assert_eq!(f.evidence["key"], "masterarn");
    assert_eq!(store.calls("GetRandomPassword"), 0);
    assert_eq!(store.calls("PutSecretValue"), 0);
}

#[tokio::test]
async fn the_store_keeps_secrets_managers_label_rules() {
    use crate::store::{SecretStore, StageMove};
    let store = MemoryStore::new();
    let arn = started(&store);
    let d = deadline();
    // Another value for an existing token is refused.
    store.put_pending(&d, &arn, "t1", "a", None).await.unwrap();
    store.put_pending(&d, &arn, "t1", "a", None).await.unwrap();
    let f = store
        .put_pending(&d, &arn, "t1", "b", None)
        .await
        .unwrap_err();
    assert!(f.is_aws_code("ResourceExistsException"));
    // A label on another version must be named to move.
    let blind = StageMove {
        stage: Stage::Current,
        to: Some("t1"),
        from: None,
    };
    let f = store.update_stage(&d, &arn, blind).await.unwrap_err();
    assert!(f.is_aws_code("InvalidParameterException"));
    let off = StageMove {
        stage: Stage::Pending,
        to: None,
        from: Some("t1"),
    };
    store.update_stage(&d, &arn, off).await.unwrap();
    assert!(store.secret(&arn).unwrap().holder("AWSPENDING").is_none());
    // Reads by stage and version must agree.
    assert!(store
        .get_value(&d, &arn, SecretRole::Current, Some("t1"))
        .await
        .unwrap()
        .is_none());
    let f = store
        .describe(&d, &memory::arn_of("missing"))
        .await
        .unwrap_err();
    assert_eq!(f.cause, Cause::SecretNotFound);
}
