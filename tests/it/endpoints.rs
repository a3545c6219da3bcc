//! Which endpoint the function calls, as the SDK resolves it: the service-specific
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` wins over the global `AWS_ENDPOINT_URL`, and what
//! `diagnose` probes is the endpoint the calls go to.

use crate::common::fault::closed_port;
use crate::common::*;

#[tokio::test]
async fn the_service_specific_endpoint_is_probed_and_called_over_the_global_one() {
    let user = unique("dsr_endpoint");
    let pw = password("endpoint");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;

    // The global variable names a port nothing listens on: any call that used it would fail.
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let (_run, report) = diagnose_json(
        &arn,
        &[
            ("AWS_ENDPOINT_URL", nowhere.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", services().moto.as_str()),
        ],
    );
    let endpoint = report_check(&report, "secrets_manager_endpoint");
    assert_eq!(endpoint["ok"], true, "{endpoint}");
    let detail = endpoint["detail"].as_str().unwrap();
    assert!(detail.starts_with(&moto_addr()), "{endpoint}");
    let described = report_check(&report, "describe_secret");
    assert_eq!(described["ok"], true, "{described}");
}
