//! GetRandomPassword answering without a password: createSecret fails with a named cause and
//! writes nothing (an empty password must never reach setSecret).

use crate::common::fault::FaultServer;
use crate::common::*;

#[tokio::test]
async fn a_random_password_answer_without_a_password_fails_and_writes_nothing() {
    let arn = create_secret(&pg_secret(&unique("dsr_randpw"), &password("randpw"))).await;
    let token = start_rotation(&arn).await;
    let fault = FaultServer::start();
    fault.answer_always("GetRandomPassword", 200, "{}");
    let run = step(
        &arn,
        &token,
        "createSecret",
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    let ev = run.expect_failure("aws_service_error", &["service", "operation", "missing"]);
    assert_eq!(ev["operation"], "GetRandomPassword");
    assert_eq!(ev["missing"], "RandomPassword");
    assert_eq!(fault.calls("GetRandomPassword"), 1);
    assert_eq!(fault.calls("PutSecretValue"), 0, "nothing is written");
    assert!(value_at(&arn, "AWSPENDING", Some(&token)).await.is_none());
}
