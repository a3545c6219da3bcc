//! The Lambda face: one handler for rotation and diagnose events, shared with the CLI's
//! `step` command so both run the same code path.

use crate::config::{self, Settings};
use crate::db::{DbOptions, TrustAnchors};
use crate::diagnosis::{Cause, Deadline, Failure};
use crate::event::{self, Invocation};
use crate::rotation::Rotator;
use crate::store::{Rds, SecretsManager};
use crate::telemetry;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// What the process builds once: clients and settings, or the reason it could not.
pub struct App {
    rotator: Result<Rotator, Failure>,
    margin: Duration,
}

impl App {
    /// Reads the environment and builds the clients (no network calls).
    pub async fn from_env() -> App {
        let settings = config::from_env();
        let margin = settings
            .as_ref()
            .map(|s| s.deadline_margin)
            .unwrap_or(Duration::from_millis(1500));
        let sdk = crate::store::load_sdk_config().await;
        let rotator = match settings {
            Ok(settings) => build(settings, &sdk),
            Err(e) => Err(Failure::new(Cause::InternalError, e.to_string())
                .with("setting", e.name)
                .with("expected", e.expected)
                .remedy(format!(
                    "Fix the function's environment variable {}: {}.",
                    e.name, e.expected
                ))),
        };
        App { rotator, margin }
    }

    /// `DEADLINE_MARGIN_MS`.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// The rotator, or the configuration failure every invocation reports.
    pub fn rotator(&self) -> Result<&Rotator, Failure> {
        self.rotator.as_ref().map_err(Clone::clone)
    }
}

fn build(settings: Settings, sdk: &aws_config::SdkConfig) -> Result<Rotator, Failure> {
    let anchors = TrustAnchors::load(settings.db_ca_bundle.as_deref())?;
    let db = DbOptions {
        connect_timeout: settings.db_connect_timeout,
        anchors,
        tls_fallback: settings.tls_fallback,
        pg_password_encryption: settings.pg_password_encryption,
    };
    let sm = SecretsManager::new(sdk, settings.secrets_manager_endpoint.as_deref());
    let rds = Rds::new(sdk);
    Ok(Rotator {
        sm,
        settings,
        db,
        rds,
    })
}

/// Handles one invocation payload within `deadline`. Rotation events return `null` on
/// success; diagnose events return the report.
pub async fn invoke(app: &App, mut payload: Value, deadline: Deadline) -> Result<Value, Failure> {
    let invocation = match event::parse(&payload) {
        Ok(inv) => {
            // The parsed event holds its own (wiped) copy of the RotationToken.
            crate::secret::wipe_value(&mut payload);
            inv
        }
        Err(f) => {
            let step = payload
                .get("Step")
                .and_then(Value::as_str)
                .filter(|s| event::Step::parse(s).is_some())
                .unwrap_or("unknown");
            telemetry::step_failed(step, deadline.elapsed().as_millis() as u64, &f);
            return Err(f);
        }
    };
    match invocation {
        Invocation::Rotate(ev) => {
            let rotator = match app.rotator() {
                Ok(r) => r,
                Err(f) => {
                    telemetry::step_failed(ev.step.as_str(), 0, &f);
                    return Err(f);
                }
            };
            rotator.run_step(&ev, deadline, false).await?;
            Ok(Value::Null)
        }
        Invocation::Diagnose { secret_id } => {
            let rotator = app.rotator()?;
            let report = crate::diagnosis::checks::run(rotator, &secret_id, deadline).await;
            Ok(report.to_json())
        }
    }
}

/// A failed invocation as Lambda reports it: `errorType` is the cause code.
#[derive(Debug)]
pub struct LambdaFailure(pub Failure);

impl From<LambdaFailure> for Diagnostic {
    fn from(f: LambdaFailure) -> Diagnostic {
        Diagnostic {
            error_type: f.0.cause.code().to_string(),
            error_message: telemetry::scrub(&f.0.message),
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
                        LambdaFailure(f)
                    })
            })
            .await
        }
    }))
    .await
}
