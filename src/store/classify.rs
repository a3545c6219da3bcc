//! Classification of AWS SDK errors onto the cause taxonomy, for every AWS adapter.
//!
//! The Rust SDK reports errors the service model does not list (AccessDeniedException on
//! GetSecretValue, for one) as unhandled: they are classified by their error code
//! (`ProvideErrorMetadata::code`) and, where the code is shared by two causes, by the message
//! in [`names_kms`] / [`names_vpc_endpoint`] / [`names_stage_mismatch`], each pinned by a test.

use crate::deadline::Deadline;

use crate::failure::{Cause, Failure};
use crate::net::{self, Phase};
use crate::secret::SecretRole;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error;
use std::time::Duration;

/// The AWS service a call went to (defined beside the waits it names).
pub use crate::deadline::Service;

/// The error codes AWS answers a call the caller lacks permission for with: the one list for
/// rotation's causes and the operator commands' `AwsError::denied`.
pub const DENIED_CODES: [&str; 3] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
];

/// Whether an AWS error code says the caller lacks permission.
pub fn is_denied(code: &str) -> bool {
    DENIED_CODES.contains(&code)
}

/// A call the watchdog cut short says `"phase": "response"`, but the SDK may have been stuck
/// connecting (retrying a connect that a security group or NACL silently drops: the classic
/// "no activity" of a function in a VPC without an endpoint, cut short by a short function
/// timeout). A fresh TCP connect to the endpoint, bounded to a slice of the time kept back for
/// reporting, tells the two apart: no address is `dns`, no connection is `connect`, a
/// connection is `response`. Failures not cut by the deadline are returned as they are.
pub async fn name_deadline_phase(f: Failure, endpoint: &str, deadline: &Deadline) -> Failure {
    if !f.signals.cut_by_deadline {
        return f;
    }
    // Keep most of the margin for reporting; skip the probe when there is too little left.
    let budget = deadline
        .remaining()
        .saturating_sub(Duration::from_millis(500))
        .min(Duration::from_millis(500));
    if budget < Duration::from_millis(50) {
        return f;
    }
    let (host, port) = net::endpoint_address(endpoint);
    let probe = async {
        let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(_) => return Phase::Dns,
        };
        let Some(addr) = addrs.first() else {
            return Phase::Dns;
        };
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => Phase::Response,
            Err(_) => Phase::Connect,
        }
    };
    let phase = tokio::time::timeout(budget, probe)
        .await
        .unwrap_or(Phase::Connect);
    f.phase(phase)
}

/// Whether an error message is about KMS (Secrets Manager decrypts with KMS).
pub fn names_kms(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("kms") || m.contains("decrypt")
}

/// Whether an access-denied message blames a VPC endpoint policy.
pub fn names_vpc_endpoint(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("vpc endpoint") || m.contains("vpce-") || m.contains("vpc_endpoint")
}

/// Whether an InvalidRequestException says the version asked for does not hold the label
/// asked for (GetSecretValue with both VersionId and VersionStage): there is no such value.
pub fn names_stage_mismatch(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("versionstage") && m.contains("versionid") && m.contains("not associated")
}

/// Everything known about the call that failed.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    /// The service.
    pub service: Service,
    /// The API operation.
    pub operation: &'static str,
    /// The endpoint URL in use.
    pub endpoint: &'a str,
    /// Which secret the call was about (Secrets Manager reads).
    pub secret: Option<SecretRole>,
    /// The SecretId (for `secret_not_found`).
    pub secret_id: Option<&'a str>,
}

/// Maps an SDK error onto a cause.
pub fn classify<E, R>(ctx: &CallContext<'_>, err: &SdkError<E, R>, elapsed: Duration) -> Failure
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug,
{
    let elapsed_ms = elapsed.as_millis() as u64;
    let unreachable = |phase: Phase| {
        // Only rotation's two services have causes of their own; an operator command reports
        // another service's failure as the read it could not make.
        let cause = match ctx.service {
            Service::SecretsManager => Cause::SecretsManagerUnreachable,
            Service::Rds => Cause::RdsApiUnreachable,
            _ => Cause::AwsServiceError,
        };
        let mut f = Failure::new(
            cause,
            format!(
                "{} call to {} could not complete ({phase})",
                ctx.operation,
                ctx.service.title()
            ),
        );
        if cause == Cause::AwsServiceError {
            f = f.with("service", ctx.service.as_str());
        }
        f.with("endpoint", ctx.endpoint)
            .with("operation", ctx.operation)
            .phase(phase)
            .with("elapsed_ms", elapsed_ms)
    };
    match err {
        SdkError::DispatchFailure(d) => {
            let phase = match d.as_connector_error() {
                Some(c) if c.is_timeout() => Phase::Connect,
                Some(c) => Phase::of_error(c),
                None => Phase::Connect,
            };
            return unreachable(phase);
        }
        SdkError::TimeoutError(_) => return unreachable(Phase::Response),
        SdkError::ResponseError(_) => return unreachable(Phase::Response),
        _ => {}
    }
    let code = err.code().unwrap_or("Unknown").to_string();
    let message = err.message().unwrap_or("").to_string();
    let role = ctx.secret.map(SecretRole::as_str);

    let is_kms_code = code.starts_with("KMS") || code == "DecryptionFailure";
    let denied = is_denied(&code);
    let mut f = match ctx.service {
        Service::SecretsManager
            if is_kms_code
                || (denied && names_kms(&message))
                || (code == "InvalidRequestException" && names_kms(&message)) =>
        {
            let mut f = Failure::new(
                Cause::KmsAccessDenied,
                format!("{} was refused by KMS: {message}", ctx.operation),
            )
            .with("operation", ctx.operation)
            .aws_code(&code);
            if let Some(role) = role {
                f = f.with("secret", role);
            }
            f
        }
        Service::SecretsManager if denied => {
            let policy = if names_vpc_endpoint(&message) {
                "vpc_endpoint"
            } else {
                "identity_or_resource"
            };
            let mut f = Failure::new(
                Cause::SecretsManagerAccessDenied,
                format!("{} was denied: {message}", ctx.operation),
            )
            .with("operation", ctx.operation)
            .aws_code(&code)
            .with("policy", policy);
            if policy == "vpc_endpoint" {
                f = f.remedy("The VPC endpoint policy of the Secrets Manager interface endpoint does not allow this call: add the function's role (or this secret) to the endpoint policy.");
            }
            f
        }
        // Read as "no such value", as a missing version is: the caller decides what it means.
        Service::SecretsManager
            if code == "InvalidRequestException" && names_stage_mismatch(&message) =>
        {
            Failure::new(
                Cause::SecretNotFound,
                format!(
                    "{} found no such value: the version does not hold that label",
                    ctx.operation
                ),
            )
            .with("secret", role.unwrap_or("current"))
            .with("secret_id", ctx.secret_id.unwrap_or(""))
            .aws_code(&code)
        }
        Service::SecretsManager if code == "ResourceNotFoundException" => Failure::new(
            Cause::SecretNotFound,
            format!("{} found no such secret", ctx.operation),
        )
        .with("secret", role.unwrap_or("current"))
        .with("secret_id", ctx.secret_id.unwrap_or("")),
        Service::Rds if denied => Failure::new(
            Cause::RdsApiAccessDenied,
            format!("{} was denied: {message}", ctx.operation),
        )
        .with("operation", ctx.operation)
        .aws_code(&code),
        _ => Failure::new(
            Cause::AwsServiceError,
            format!("{} failed with {code}: {message}", ctx.operation),
        )
        .with("service", ctx.service.as_str())
        .with("operation", ctx.operation)
        .aws_code(&code),
    };
    // Every answer from the service carries its code as a signal, in the evidence or not.
    f.signals.aws_code = Some(code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_cut_names_the_phase_a_fresh_connect_reaches() {
        let deadline = Deadline::after(Duration::from_secs(10), Duration::from_secs(3));
        let cut = || {
            Failure::new(Cause::SecretsManagerUnreachable, "cut")
                .phase(Phase::Response)
                .cut_by_deadline()
        };
        let listening = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = format!("http://{}", listening.local_addr().unwrap());
        let f = name_deadline_phase(cut(), &open, &deadline).await;
        assert_eq!(f.evidence["phase"], "response");

        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let f = name_deadline_phase(cut(), &closed, &deadline).await;
        assert_eq!(f.evidence["phase"], "connect");

        let f = name_deadline_phase(cut(), "https://no-such-host.invalid", &deadline).await;
        assert_eq!(f.evidence["phase"], "dns");

        // Only deadline cuts are probed.
        let own = Failure::new(Cause::SecretsManagerUnreachable, "sdk").phase(Phase::Tls);
        let f = name_deadline_phase(own, &closed, &deadline).await;
        assert_eq!(f.evidence["phase"], "tls");
    }

    #[test]
    fn kms_and_vpc_endpoint_messages_are_pinned() {
        assert!(names_kms("Access to KMS is not allowed"));
        assert!(names_kms(
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
        ));
        assert!(!names_kms("User: arn:aws:sts::1:assumed-role/r is not authorized to perform: secretsmanager:GetSecretValue"));
        assert!(names_vpc_endpoint("User: arn:aws:sts::1:assumed-role/r is not authorized to perform: secretsmanager:GetSecretValue on resource: x because no VPC endpoint policy allows the secretsmanager:GetSecretValue action"));
        assert!(!names_vpc_endpoint(
            "because no identity-based policy allows the action"
        ));
        assert!(names_stage_mismatch(
            "You provided a VersionStage that is not associated to the provided VersionId."
        ));
        assert!(!names_stage_mismatch(
            "You can't perform this operation on the secret because it was marked for deletion."
        ));
    }
}
