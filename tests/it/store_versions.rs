//! The Secrets Manager adapter's version cache against moto: a cached value is only served
//! for a stage the version still holds, as Secrets Manager itself answers.

use crate::common::*;
use db_secret_rotator::deadline::Deadline;
use db_secret_rotator::secret::{SecretRole, Stage};
use db_secret_rotator::store::{SecretStore, SecretsManager, StageMove};
use serde_json::json;
use std::time::Duration;

async fn adapter() -> SecretsManager {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&services().moto)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    SecretsManager::new(&sdk, None)
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60), Duration::from_secs(1))
}

/// Writes a pending version through the adapter (which caches its value); returns its id.
async fn pending_through(store: &SecretsManager, arn: &str) -> String {
    let token = uuid::Uuid::new_v4().to_string();
    let value = json!({"username": "u", "password": password("pending")}).to_string();
    store
        .put_pending(&deadline(), arn, &token, &value, None)
        .await
        .unwrap();
    let read = store
        .get_value(&deadline(), arn, SecretRole::Pending, Some(&token))
        .await
        .unwrap();
    assert!(read.is_some(), "the pending value reads back");
    token
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_whose_stage_the_adapter_removed_is_not_served_from_the_cache() {
    let arn = create_secret(&json!({"username": "u", "password": password("cur")})).await;
    let store = adapter().await;
    let token = pending_through(&store, &arn).await;

    store
        .update_stage(
            &deadline(),
            &arn,
            StageMove::new(Stage::Pending, None, Some(&token)),
        )
        .await
        .unwrap();
    let read = store
        .get_value(&deadline(), &arn, SecretRole::Pending, Some(&token))
        .await
        .unwrap();
    assert!(read.is_none(), "the version no longer holds AWSPENDING");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_moved_by_someone_else_is_seen_after_describe() {
    let arn = create_secret(&json!({"username": "u", "password": password("cur")})).await;
    let store = adapter().await;
    let token = pending_through(&store, &arn).await;

    // Another actor (an operator, or repair) takes AWSPENDING off the version.
    remove_pending(&arn, &token).await;
    let description = store.describe(&deadline(), &arn).await.unwrap();
    assert!(!description.has(&token, Stage::Pending));
    let read = store
        .get_value(&deadline(), &arn, SecretRole::Pending, Some(&token))
        .await
        .unwrap();
    assert!(read.is_none(), "Secrets Manager has no AWSPENDING on it");
}
