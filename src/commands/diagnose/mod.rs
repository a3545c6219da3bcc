//! `diagnose`: the read-only preflight of a secret and its database, from the CLI
//! (`diagnose --secret-id`) or a Lambda diagnose event. Each check is timed, names a cause
//! when it fails, and is skipped when a check it needs has failed; nothing is changed.
//!
//! Where each check lives:
//! - `probes.rs`: `secrets_manager_endpoint` (DNS, TCP, TLS, HTTP) and `database_reachable`
//!   (TCP).
//! - `describe.rs`: `describe_secret` (labels, rotation enabled, which function rotates).
//! - this file: `current_secret_readable`, `secret_json_valid`, and the order of all checks.
//! - `tls.rs`: `tls` (verified TLS, the CA the server's chain ends at).
//! - `database.rs`: `login_current`, `login_pending`, `login_previous`,
//!   `mysql_secondary_password`.
//! - `alternating.rs`: the master's checks for alternating users.
//! - `report.rs`: the report, its statuses, JSON and text.

mod alternating;
mod chain;
mod database;
mod describe;
mod probes;
mod report;
mod tls;

pub use report::{Check, Report, Warning};

use crate::deadline::Deadline;

use crate::failure::Failure;
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretStore as _;
use std::time::Instant;

/// Who runs the checks: in Lambda the function's own name (a secret rotated by any other
/// function is then a warning), and a Lambda client to name the other function's runtime.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The function that will rotate the secret (`AWS_LAMBDA_FUNCTION_NAME` in Lambda,
    /// `diagnose --function` in the CLI).
    pub this_function: Option<String>,
    /// Reads the runtime of the secret's current rotation function (best effort).
    pub lambda: Option<aws_sdk_lambda::Client>,
}

/// The checks made so far.
struct Runner {
    checks: Vec<Check>,
}

impl Runner {
    /// A check not made, and why.
    fn skip(&mut self, name: &'static str, why: &str) {
        self.checks.push(Check {
            name,
            ok: None,
            duration_ms: 0,
            detail: format!("skipped: {why}"),
            failure: None,
            warnings: Vec::new(),
        });
    }

    /// A check made: passed with its detail, or failed with its failure. Gives the value a
    /// later check needs, when it passed.
    fn record<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(T, String), Failure>,
    ) -> Option<T> {
        let duration_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok((v, detail)) => {
                self.checks.push(Check {
                    name,
                    ok: Some(true),
                    duration_ms,
                    detail,
                    failure: None,
                    warnings: Vec::new(),
                });
                Some(v)
            }
            Err(f) => {
                self.checks.push(Check {
                    name,
                    ok: Some(false),
                    duration_ms,
                    detail: f.message.clone(),
                    failure: Some(f),
                    warnings: Vec::new(),
                });
                None
            }
        }
    }

    /// Like [`Runner::record`], with the warnings of a check that passed.
    fn record_warned<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(T, String), Failure>,
        warnings: Vec<Warning>,
    ) -> Option<T> {
        let got = self.record(name, started, r);
        if got.is_some() {
            if let Some(last) = self.checks.last_mut() {
                last.warnings = warnings;
            }
        }
        got
    }
}

/// Runs every check; never fails as a whole, the report says what is wrong.
pub async fn run(r: &Rotator, secret_id: &str, deadline: Deadline) -> Report {
    run_with(r, secret_id, deadline, &Context::default()).await
}

/// [`run`], knowing which function will rotate the secret.
pub async fn run_with(r: &Rotator, secret_id: &str, deadline: Deadline, ctx: &Context) -> Report {
    let mut run = Runner { checks: Vec::new() };
    let t = Instant::now();
    let endpoint_ok = run
        .record(
            "secrets_manager_endpoint",
            t,
            probes::probe_endpoint(r.sm.endpoint(), &deadline).await,
        )
        .is_some();

    let description = if endpoint_ok {
        let t = Instant::now();
        let d = r.sm.describe(&deadline, secret_id).await;
        match d {
            Ok(d) => {
                let (detail, warnings) = describe::describe_detail(&d, ctx, &deadline).await;
                run.record_warned("describe_secret", t, detail, warnings);
                Some(d)
            }
            Err(f) => {
                run.record::<()>("describe_secret", t, Err(f));
                None
            }
        }
    } else {
        run.skip("describe_secret", "the endpoint is not reachable");
        None
    };

    let current_text = match &description {
        Some(d) => {
            let t = Instant::now();
            let got =
                r.sm.get_value(
                    &deadline,
                    secret_id,
                    SecretRole::Current,
                    d.version_with("AWSCURRENT"),
                )
                .await
                .and_then(|v| {
                    v.ok_or_else(|| crate::rotation::not_found(SecretRole::Current, secret_id))
                });
            run.record(
                "current_secret_readable",
                t,
                got.map(|v| (v, "AWSCURRENT read and decrypted".to_string())),
            )
        }
        None => {
            run.skip("current_secret_readable", "DescribeSecret failed");
            None
        }
    };

    let current = match current_text {
        Some(text) => {
            let t = Instant::now();
            let parsed = DbSecret::parse(text.expose(), SecretRole::Current);
            run.record(
                "secret_json_valid",
                t,
                parsed.map(|s| {
                    let detail = format!(
                        "engine {}, host {}, port {}, user {}",
                        s.engine, s.host, s.port, s.username
                    );
                    (s, detail)
                }),
            )
        }
        None => {
            run.skip("secret_json_valid", "AWSCURRENT is not readable");
            None
        }
    };

    let Some(current) = current else {
        for name in ["database_reachable", "tls", "login_current"] {
            run.skip(name, "no valid AWSCURRENT secret");
        }
        return Report {
            secret_id: secret_id.to_string(),
            checks: run.checks,
        };
    };

    let t = Instant::now();
    let reachable = run
        .record(
            "database_reachable",
            t,
            probes::tcp_probe(&current, &deadline, r.db.connect_timeout).await,
        )
        .is_some();
    if !reachable {
        run.skip("tls", "the database is not reachable");
        run.skip("login_current", "the database is not reachable");
        return Report {
            secret_id: secret_id.to_string(),
            checks: run.checks,
        };
    }

    let t = Instant::now();
    let tls = tls::check(r, &current, &deadline).await;
    run.record("tls", t, tls);

    let t = Instant::now();
    let login = database::login_current(r, &current, &deadline).await;
    run.record("login_current", t, login);

    // AWSPENDING / AWSPREVIOUS, when present: logging in with them spots drift.
    let mut previous_logs_in = false;
    if let Some(d) = &description {
        for role in [SecretRole::Pending, SecretRole::Previous] {
            let name = if role == SecretRole::Pending {
                "login_pending"
            } else {
                "login_previous"
            };
            let Some(version) = d.version_with(role.stage()) else {
                continue;
            };
            let t = Instant::now();
            let result =
                database::login_other(r, secret_id, &current, role, version, &deadline).await;
            let logs_in = run.record(name, t, result);
            if role == SecretRole::Previous {
                previous_logs_in = logs_in == Some(true);
            }
        }
    }
    if r.settings.strategy == crate::config::Strategy::AlternatingUsers {
        alternating::checks(&mut run, r, &current, &deadline).await;
    } else if current.family.may_have_secondary_password() {
        database::mysql_secondary_password(&mut run, r, &current, previous_logs_in, &deadline)
            .await;
    }
    Report {
        secret_id: secret_id.to_string(),
        checks: run.checks,
    }
}
