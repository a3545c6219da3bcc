//! The Lambda face: serves invocations through the Lambda Runtime API, each handled by
//! [`crate::app::invoke`] inside its own scrubber scope; a failure's `errorType` is its cause
//! code.

use crate::app::{invoke, App};
use crate::diagnosis::{Deadline, Failure};
use crate::telemetry;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// A failed invocation as Lambda reports it: `errorType` is the cause code.
impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Diagnostic {
        Diagnostic {
            error_type: f.cause.code().to_string(),
            error_message: telemetry::scrub(&f.message),
        }
    }
}

/// Serves invocations through the Lambda Runtime API until the process is stopped.
pub async fn serve(app: App) -> Result<(), lambda_runtime::Error> {
    let app = Arc::new(app);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let app = Arc::clone(&app);
        async move {
            let deadline = Deadline::at_epoch_ms(ev.context.deadline, app.margin());
            let span =
                tracing::info_span!("invocation", request_id = ev.context.request_id.as_str());
            // One scrubber scope per invocation: the secrets it read are hidden in every line
            // it logs and in its error message (scrubbed here, inside the scope), then
            // forgotten, so a warm process does not accumulate them.
            telemetry::scoped(async {
                invoke(&app, ev.payload, deadline)
                    .instrument(span)
                    .await
                    .map_err(|mut f| {
                        f.message = telemetry::scrub(&f.message);
                        f
                    })
            })
            .await
        }
    }))
    .await
}
