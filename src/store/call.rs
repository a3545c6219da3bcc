//! The one wrapper every AWS call goes through ([`run`]), for rotation's Secrets Manager and
//! RDS and the operator commands' reads alike: the call runs within the deadline (a cut names the phase it was stuck in), is logged as an
//! `aws_call` event, and its error is classified onto a cause. Also: the endpoint URL a
//! client built from the shared configuration calls, as the SDK resolves it.

use super::classify::{classify, name_deadline_phase, CallContext, Service};
use crate::deadline::{Deadline, Wait};
use crate::failure::Failure;
use crate::secret::SecretRole;
use crate::telemetry;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Instant;

/// The endpoint URL configured for one service, as a client built with
/// `Builder::from(&SdkConfig)` takes it: an endpoint set in code on the shared configuration,
/// else the service's own `AWS_ENDPOINT_URL_<SERVICE>` (or profile `endpoint_url` in its
/// services section), else the global `AWS_ENDPOINT_URL`. `service_id` is the SDK's service
/// id, e.g. `Secrets Manager`. The SDK offers no getter, so this makes the same look-ups.
pub fn configured_endpoint_url(sdk: &aws_types::SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    sdk.service_config()
        .zip(key)
        .and_then(|(conf, key)| conf.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// The region of the shared configuration, or `""` when none is configured.
pub fn region(sdk: &aws_types::SdkConfig) -> String {
    sdk.region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default()
}

/// The value of a future that is ready at once (an SDK endpoint resolver answers without
/// waiting), or `None` if it is not.
pub fn now<T>(fut: impl Future<Output = T>) -> Option<T> {
    let fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// The URL a service's SDK calls: its default endpoint resolver run over the region, the
/// FIPS and dual-stack settings and the configured endpoint (which it returns as given), so
/// the partition's domain is right (`amazonaws.com.cn` in China). One expansion per SDK
/// crate, as each has its own resolver and parameter types.
macro_rules! sdk_endpoint {
    ($sdk_crate:ident, $sdk:expr, $service_id:expr, $override:expr) => {{
        use $sdk_crate::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let sdk: &::aws_types::SdkConfig = $sdk;
        let configured: Option<String> = $override
            .map(str::to_string)
            .or_else(|| $crate::store::call::configured_endpoint_url(sdk, $service_id));
        let params = Params::builder()
            .set_region(Some($crate::store::call::region(sdk)).filter(|r| !r.is_empty()))
            .set_use_fips(sdk.use_fips())
            .set_use_dual_stack(sdk.use_dual_stack())
            .set_endpoint(configured.clone())
            .build();
        let resolver = DefaultResolver::new();
        let resolved = params
            .ok()
            .and_then(|p| $crate::store::call::now(resolver.resolve_endpoint(&p)))
            .and_then(Result::ok)
            .map(|e| e.url().to_string());
        // No region and no endpoint: nothing to resolve; the call itself will say so.
        resolved.or(configured).unwrap_or_default()
    }};
}
pub(crate) use sdk_endpoint;

/// One AWS service at one endpoint.
#[derive(Debug, Clone)]
pub(super) struct Api {
    service: Service,
    endpoint: String,
}

/// What a call is about, for the evidence of its failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    /// Which secret (Secrets Manager reads and writes).
    pub secret: Option<SecretRole>,
    /// The SecretId (for `secret_not_found`).
    pub secret_id: Option<&'a str>,
}

impl Api {
    /// The service at `endpoint`.
    pub fn new(service: Service, endpoint: String) -> Self {
        Api { service, endpoint }
    }

    /// The endpoint URL in use.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs one SDK call within the deadline, logs it and classifies its failure.
    pub async fn call<T, E, R, F>(
        &self,
        deadline: &Deadline,
        operation: &'static str,
        about: About<'_>,
        fut: F,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        run(
            Caller::Function,
            self.service,
            &self.endpoint,
            deadline,
            operation,
            about,
            fut,
        )
        .await
    }
}

/// Whose credentials a call is made with: the rotation function's role, or an operator's
/// (the read-only commands). Each `aws_call` event says which, so the role's policy is
/// checked against the function's calls and the operator's policy against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The rotation function (its steps, and diagnose run as it).
    Function,
    /// The operator commands (audit, migrate, logs, diagnose --scope config).
    Operator,
}

impl Caller {
    /// `function` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::Function => "function",
            Caller::Operator => "operator",
        }
    }
}

/// Runs one SDK call to `service` at `endpoint` within the deadline's budget, logs it as an
/// `aws_call` event and classifies its failure onto a cause. A cut names the phase the call
/// was stuck in.
pub async fn run<T, E, R, F>(
    caller: Caller,
    service: Service,
    endpoint: &str,
    deadline: &Deadline,
    operation: &'static str,
    about: About<'_>,
    fut: F,
) -> Result<T, Failure>
where
    F: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let started = Instant::now();
    let wait = Wait::api(service, operation, endpoint.to_string());
    let result = deadline
        .run(wait, async {
            fut.await.map_err(|err| {
                let ctx = CallContext {
                    service,
                    operation,
                    endpoint,
                    secret: about.secret,
                    secret_id: about.secret_id,
                };
                classify(&ctx, &err, started.elapsed())
            })
        })
        .await;
    let result = match result {
        // Only failures the deadline cut are probed; the others come back unchanged.
        Err(f) => Err(name_deadline_phase(f, endpoint, deadline).await),
        ok => ok,
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(f) => f.cause.code(),
    };
    telemetry::aws_call(
        service.as_str(),
        operation,
        started.elapsed().as_millis() as u64,
        outcome,
        caller.as_str(),
    );
    result
}
