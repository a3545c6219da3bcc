//! What the Lambda face and the command line share: the process's clients and settings
//! ([`App`], built once), which every command runs with, and the start of logging.

use crate::config::{self, Settings};
use crate::db::{DbOptions, TrustAnchors};
use crate::failure::{Cause, Failure};
use crate::rotation::Rotator;
use crate::store::{Rds, SecretsManager};
use crate::telemetry;
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
            .unwrap_or(config::DEFAULT_DEADLINE_MARGIN);
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
        crate::store::call::region(&self.sdk)
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
    let db = DbOptions::from_settings(&settings, anchors);
    let sm = SecretsManager::new(sdk, settings.secrets_manager_endpoint.as_deref());
    let rds = Rds::new(sdk);
    Ok(Rotator {
        sm,
        settings,
        db,
        rds,
    })
}
