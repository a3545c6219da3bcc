//! Classification of AWS SDK errors onto the cause taxonomy, for every AWS adapter.
//!
//! The Rust SDK reports errors the service model does not list (AccessDeniedException on
//! GetSecretValue, for one) as unhandled: they are classified by their error code
//! (`ProvideErrorMetadata::code`) and, where the code is shared by two causes, by the message
//! in [`names_kms`] / [`names_vpc_endpoint`], each pinned by a test.

use crate::diagnosis::{Cause, Deadline, Failure};
use crate::secret::SecretRole;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error;
use std::time::Duration;

/// The AWS service a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS Secrets Manager.
    SecretsManager,
    /// Amazon RDS.
    Rds,
}

impl Service {
    /// The name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Rds => "rds",
        }
    }
}

/// Where a call failed before the service answered.
pub fn network_phase(err: &(dyn Error + 'static)) -> &'static str {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    let mut text = String::new();
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable => return "connect",
                _ => {}
            }
        }
        text.push_str(&e.to_string().to_ascii_lowercase());
        text.push('\n');
        cur = e.source();
    }
    phase_from_text(&text)
}

/// The phase named by an error chain's text, when no typed error says it (hyper-util's
/// connector reports DNS failures only as text).
pub fn phase_from_text(text: &str) -> &'static str {
    let text = text.to_ascii_lowercase();
    if text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no such host")
    {
        "dns"
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        "tls"
    } else if text.contains("connection refused")
        || text.contains("tcp connect")
        || text.contains("timed out")
        || text.contains("unreachable")
    {
        "connect"
    } else {
        "response"
    }
}

/// The host and port of an endpoint URL (`https://host[:port][/...]`).
pub fn endpoint_address(endpoint: &str) -> (String, u16) {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        443
    };
    let (host, port) = match authority.strip_prefix('[') {
        // [IPv6]:port
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (v6, None),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.and_then(|p| p.parse::<u16>().ok()).unwrap_or(default);
    (host.to_string(), port)
}

/// A call the watchdog cut short says `"phase": "response"`, but the SDK may have been stuck
/// connecting (retrying a connect that a security group or NACL silently drops: the classic
/// "no activity" of a function in a VPC without an endpoint, cut short by a short function
/// timeout). A fresh TCP connect to the endpoint, bounded to a slice of the time kept back for
/// reporting, tells the two apart: no address is `dns`, no connection is `connect`, a
/// connection is `response`. Failures without `"deadline": true` are returned as they are.
pub async fn name_deadline_phase(f: Failure, endpoint: &str, deadline: &Deadline) -> Failure {
    if f.evidence.get("deadline") != Some(&serde_json::Value::Bool(true)) {
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
    let (host, port) = endpoint_address(endpoint);
    let probe = async {
        let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(_) => return "dns",
        };
        let Some(addr) = addrs.first() else {
            return "dns";
        };
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => "response",
            Err(_) => "connect",
        }
    };
    let phase = tokio::time::timeout(budget, probe)
        .await
        .unwrap_or("connect");
    f.with("phase", phase)
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
    let unreachable = |phase: &str| {
        let (cause, what) = match ctx.service {
            Service::SecretsManager => (Cause::SecretsManagerUnreachable, "Secrets Manager"),
            Service::Rds => (Cause::RdsApiUnreachable, "the RDS API"),
        };
        Failure::new(
            cause,
            format!(
                "{} call to {what} could not complete ({phase})",
                ctx.operation
            ),
        )
        .with("endpoint", ctx.endpoint)
        .with("operation", ctx.operation)
        .with("phase", phase)
        .with("elapsed_ms", elapsed_ms)
    };
    match err {
        SdkError::DispatchFailure(d) => {
            let phase = match d.as_connector_error() {
                Some(c) if c.is_timeout() => "connect",
                Some(c) => network_phase(c),
                None => "connect",
            };
            return unreachable(phase);
        }
        SdkError::TimeoutError(_) => return unreachable("response"),
        SdkError::ResponseError(_) => return unreachable("response"),
        _ => {}
    }
    let code = err.code().unwrap_or("Unknown").to_string();
    let message = err.message().unwrap_or("").to_string();
    let role = ctx.secret.map(SecretRole::as_str);

    let is_kms_code = code.starts_with("KMS") || code == "DecryptionFailure";
    let denied = code == "AccessDeniedException"
        || code == "AccessDenied"
        || code == "UnauthorizedOperation";
    match ctx.service {
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
            .with("aws_error_code", code.as_str());
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
            .with("aws_error_code", code.as_str())
            .with("policy", policy);
            if policy == "vpc_endpoint" {
                f = f.remedy("The VPC endpoint policy of the Secrets Manager interface endpoint does not allow this call: add the function's role (or this secret) to the endpoint policy.");
            }
            f
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
        .with("aws_error_code", code.as_str()),
        _ => Failure::new(
            Cause::AwsServiceError,
            format!("{} failed with {code}: {message}", ctx.operation),
        )
        .with("service", ctx.service.as_str())
        .with("operation", ctx.operation)
        .with("aws_error_code", code.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_text_is_pinned() {
        assert_eq!(
            phase_from_text(
                "dns error: failed to lookup address information: Name or service not known"
            ),
            "dns"
        );
        assert_eq!(
            phase_from_text("invalid peer certificate: UnknownIssuer"),
            "tls"
        );
        assert_eq!(
            phase_from_text("tcp connect error: Connection refused (os error 111)"),
            "connect"
        );
        assert_eq!(
            phase_from_text("connection closed before message completed"),
            "response"
        );
    }

    #[tokio::test]
    async fn a_deadline_cut_names_the_phase_a_fresh_connect_reaches() {
        let deadline = Deadline::after(Duration::from_secs(10), Duration::from_secs(3));
        let cut = || {
            Failure::new(Cause::SecretsManagerUnreachable, "cut")
                .with("phase", "response")
                .with("deadline", true)
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
        let own = Failure::new(Cause::SecretsManagerUnreachable, "sdk").with("phase", "tls");
        let f = name_deadline_phase(own, &closed, &deadline).await;
        assert_eq!(f.evidence["phase"], "tls");
    }

    #[test]
    fn endpoint_addresses_parse() {
        assert_eq!(
            endpoint_address("https://secretsmanager.us-east-1.amazonaws.com"),
            ("secretsmanager.us-east-1.amazonaws.com".to_string(), 443)
        );
        assert_eq!(
            endpoint_address("http://127.0.0.1:45000/"),
            ("127.0.0.1".to_string(), 45000)
        );
        assert_eq!(
            endpoint_address("https://[::1]:8443"),
            ("::1".to_string(), 8443)
        );
        assert_eq!(
            endpoint_address("http://localhost"),
            ("localhost".to_string(), 80)
        );
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
    }
}
