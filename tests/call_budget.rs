//! The call budget, pinned: AWS API calls and database connections per rotation, per engine
//! and strategy, counted from the function's own events in one long-lived process (as in
//! Lambda). A change that adds a call fails here; lower the pins when calls are removed.

mod common;

use common::driver::Function;
use common::*;
use std::collections::BTreeMap;

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_single_user_call_budget() {
    let s = services();
    let user = unique("dsr_budget_pg");
    let old = password("old");
    pg_create_user(s.pg_port, &user, &old, &[]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;

    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &[]).await;
    let mut rotations = vec![f.rotate(&arn).await, f.rotate(&arn).await];
    f.finish(&mut rotations).await;

    // A fresh process (a cold Lambda, as every 30-day rotation is): 9 Secrets Manager calls.
    // The reference functions make 14 and open 3 connections.
    assert_eq!(
        rotations[0].aws_calls,
        calls(&[
            ("secretsmanager:DescribeSecret", 4),
            ("secretsmanager:GetSecretValue", 2),
            ("secretsmanager:GetRandomPassword", 1),
            ("secretsmanager:PutSecretValue", 1),
            ("secretsmanager:UpdateSecretVersionStage", 1),
        ])
    );
    // A warm process already holds AWSCURRENT's value: versions never change, so it is reused.
    assert_eq!(rotations[1].aws_calls["secretsmanager:GetSecretValue"], 1);
    assert_eq!(rotations[1].calls_to("secretsmanager"), 8);
    for r in &rotations {
        assert_eq!(
            r.db_connections, 2,
            "setSecret logs in once, testSecret once"
        );
    }
}
