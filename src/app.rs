//! What the Lambda face and the command line share: the process's clients and settings
//! ([`App`], built once), and the handler of one invocation payload ([`invoke`]), so the
//! CLI's `step` command runs exactly the Lambda's code path.

use crate::config::{self, Settings};
use crate::db::{DbOptions, MySqlOptions, PgOptions, TrustAnchors};
use crate::deadline::Deadline;
use crate::event::{self, Invocation};
use crate::failure::{Cause, Failure};
use crate::rotation::{Invoker, Rotator};
use crate::store::{Rds, SecretsManager};
use crate::telemetry;
use serde_json::Value;
use std::time::Duration;

/// Starts logging (once per process) with the scrubber watching every password read from now
/// on, so each is hidden from the log lines of the invocation that read it.
pub fn init_logging(sink: telemetry::Sink, format: telemetry::LogFormat) {
    crate::secret::watch_new_passwords(telemetry::register_sensitive);
    telemetry::init_with(sink, format);
}

/// What the process builds once: clients and settings, or the reason it could not.
pub struct App {
    rotator: Result<Rotator, Failure>,
    margin: Duration,
    sdk: aws_config::SdkConfig,
    lambda: aws_sdk_lambda::Client,
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
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        App {
            rotator,
            margin,
            sdk,
            lambda,
        }
    }

    /// The shared AWS configuration (the operator commands build their clients from it).
    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The region in use, or "" when none is configured.
    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// A Lambda client (diagnose names the runtime of another rotation function with it).
    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        &self.lambda
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
        postgres: PgOptions {
            password_encryption: settings.pg_password_encryption,
        },
        mysql: MySqlOptions {
            dual_password: settings.mysql_dual_password,
        },
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
            rotator
                .run_step(&ev, deadline, Invoker::SecretsManager)
                .await?;
            Ok(Value::Null)
        }
        Invocation::Diagnose { secret_id } => {
            let rotator = app.rotator()?;
            // In Lambda the function knows its own name: a secret rotated by another
            // function (the one it is about to replace) is then a warning, not a fault.
            let ctx = crate::diagnose::Context {
                // "_" is cargo-lambda's placeholder name under `cargo lambda watch`.
                this_function: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                    .ok()
                    .filter(|n| !n.is_empty() && n != "_"),
                lambda: Some(app.lambda.clone()),
            };
            let report = crate::diagnose::run_with(rotator, &secret_id, deadline, &ctx).await;
            Ok(report.to_json())
        }
        Invocation::Repair {
            secret_id,
            apply,
            function_timeout_s,
        } => {
            let rotator = app.rotator()?;
            // At the start of an invocation the time left is the function's own timeout
            // (rounded up to whole seconds, as Lambda configures it).
            let own = deadline.remaining().as_millis().div_ceil(1000) as u64;
            let req = crate::repair::Request {
                secret_id,
                apply,
                function_timeout: Duration::from_secs(function_timeout_s.unwrap_or(own)),
            };
            Ok(crate::repair::run(rotator, &req, deadline).await.to_json())
        }
    }
}
