//! The Lambda face: serves invocations through the Lambda Runtime API, each handled by
//! [`crate::commands::invoke`] inside its own scrubber scope; a failure's `errorType` is its cause
//! code.

use crate::app::App;
use crate::commands::invoke;
use crate::deadline::{process_start_epoch_ms, Deadline, HeaderDeadline};
use crate::failure::Failure;
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
            let (deadline, read) = Deadline::at_epoch_ms(ev.context.deadline, app.margin());
            let span =
                tracing::info_span!("invocation", request_id = ev.context.request_id.as_str());
            if let HeaderDeadline::Duration(_) = read {
                span.in_scope(|| header_is_a_duration(ev.context.deadline));
            }
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

/// The warning for a deadline header that is a duration (a local emulator's), not an epoch.
fn header_is_a_duration(deadline_ms: u64) {
    let mut evidence = serde_json::Map::new();
    evidence.insert("deadline_ms_header".into(), deadline_ms.into());
    evidence.insert(
        "process_start_epoch_ms".into(),
        process_start_epoch_ms().into(),
    );
    evidence.insert("taken_as_timeout_ms".into(), deadline_ms.into());
    telemetry::finding(
        crate::failure::Finding::DeadlineHeaderIsADuration.code(),
        &format!(
            "Lambda-Runtime-Deadline-Ms is {deadline_ms}, earlier than the start of this process: taken as a timeout of {deadline_ms} ms from now (a local emulator such as cargo-lambda's sends a duration; AWS sends an epoch time)"
        ),
        &evidence,
    );
}
