//! The one wrapper every AWS call goes through, for Secrets Manager and RDS alike: the call
//! runs within the deadline (a cut names the phase it was stuck in), is logged as an
//! `aws_call` event, and its error is classified onto a cause.

use super::classify::{classify, name_deadline_phase, CallContext, Service};
use crate::deadline::{Deadline, Wait};
use crate::failure::Failure;
use crate::secret::SecretRole;
use crate::telemetry;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Instant;

/// One AWS service at one endpoint.
#[derive(Debug, Clone)]
pub(super) struct Api {
    service: Service,
    endpoint: String,
}

/// What a call is about, for the evidence of its failure.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct About<'a> {
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
        let started = Instant::now();
        let endpoint = self.endpoint.clone();
        let wait = match self.service {
            Service::SecretsManager => Wait::SecretsManager {
                operation,
                endpoint,
            },
            Service::Rds => Wait::Rds {
                operation,
                endpoint,
            },
        };
        let result = deadline
            .run(wait, async {
                fut.await.map_err(|err| {
                    let ctx = CallContext {
                        service: self.service,
                        operation,
                        endpoint: &self.endpoint,
                        secret: about.secret,
                        secret_id: about.secret_id,
                    };
                    classify(&ctx, &err, started.elapsed())
                })
            })
            .await;
        let result = match result {
            // Only failures the deadline cut are probed; the others come back unchanged.
            Err(f) => Err(name_deadline_phase(f, &self.endpoint, deadline).await),
            ok => ok,
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(f) => f.cause.code(),
        };
        telemetry::aws_call(
            self.service.as_str(),
            operation,
            started.elapsed().as_millis() as u64,
            outcome,
        );
        result
    }
}
