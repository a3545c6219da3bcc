//! `diagnose`: the read-only preflight of a secret and its database, from the CLI
//! (`diagnose --secret-id`) or a Lambda diagnose event, both through [`run`]. Each check is
//! timed, names a cause when it fails, and is skipped when a fact it needs is missing;
//! nothing is changed.
//!
//! The checks made from inside the function are one ordered list of values, `here()` below;
//! `list.rs` runs a list (and holds the check names). Another scope of checks is one more
//! list with its own environment, facts and needs, run by the same `list::run`, its checks
//! appended to the same [`Report`]. Where each check's run lives:
//! - `probes.rs`: `secrets_manager_endpoint` (DNS, TCP, TLS, HTTP) and `database_reachable`
//!   (TCP).
//! - `describe.rs`: `describe_secret` (labels, rotation enabled, which function rotates).
//! - this file: `current_secret_readable`, `secret_json_valid`.
//! - `tls.rs` (and `chain.rs`, the server's chain): `tls`.
//! - `database.rs`: `login_current`, `login_pending`, `login_previous`,
//!   `mysql_secondary_password`.
//! - `alternating.rs`: the master's checks for alternating users.
//! - `config.rs`: `--scope config`, the configuration checks read from outside
//!   ([`crate::outside::config`]) as checks of the same report, and their text.
//! - `report.rs`: the report, its statuses and text; `wire.rs`: its JSON shape.

mod alternating;
mod chain;
pub mod config;
mod database;
mod describe;
mod list;
mod probes;
mod report;
mod tls;
mod wire;

pub use config::Scope;
pub use list::CheckName;
pub use report::{Check, Failed, Outcome, Report, Status, Warning};

use crate::app::App;
use crate::commands::Format;
use crate::config::Strategy;
use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::outside;
use crate::rotation::Rotator;
use crate::secret::{DbSecret, Password, SecretRole};
use crate::store::{Description, SecretStore as _};
use list::{always, Entry, Ran, Running};
use std::time::Duration;

/// `diagnose`: every check, nothing changed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The secret's ARN or name.
    #[arg(long)]
    pub secret_id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The time the checks may take.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// The function that is to rotate the secret: rotation on any other one is a warning;
    /// with `--scope config`, the function whose configuration is checked (else the
    /// secret's own).
    #[arg(long)]
    pub function: Option<String>,
    /// Which checks: `here` (from where this runs), `config` (the configuration around the
    /// function, read through AWS APIs with the caller's credentials), or `all`.
    #[arg(long, value_enum, default_value_t = Scope::Here)]
    pub scope: Scope,
    /// The deadline of a Lambda invocation; without it the checks have `timeout_ms`.
    #[arg(skip)]
    pub deadline: Option<Deadline>,
}

impl Args {
    /// The Lambda diagnose event's: the invocation's deadline, and this function's own name
    /// (a secret rotated by another function, the one it is about to replace, is then a
    /// warning, not a fault).
    pub fn invoked(secret_id: String, deadline: Deadline) -> Args {
        Args {
            secret_id,
            format: Format::Json,
            timeout_ms: deadline.remaining().as_millis() as u64,
            // "_" is cargo-lambda's placeholder name under `cargo lambda watch`.
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .ok()
                .filter(|n| !n.is_empty() && n != "_"),
            scope: Scope::Here,
            deadline: Some(deadline),
        }
    }
}

/// Runs the checks of the scope; never fails as a whole (the report says what is wrong)
/// unless the `here` checks' configuration is unusable (reported by
/// [`crate::commands::rotator`]). The `config` checks need only the caller's credentials.
pub async fn run(app: &App, args: Args) -> Result<Report, Failure> {
    let deadline = args
        .deadline
        .unwrap_or_else(|| Deadline::after(Duration::from_millis(args.timeout_ms), app.margin()));
    let clients = outside::Clients::new(app.sdk());
    let mut checks = Vec::new();
    if args.scope.here() {
        let r = crate::commands::rotator(app, "diagnose")?;
        let ctx = Context {
            this_function: args.function.clone(),
            clients: Some(clients.clone().as_function()),
        };
        let env = Env {
            r,
            secret_id: &args.secret_id,
            deadline,
            ctx: &ctx,
        };
        checks = list::run(&here(), &env).await;
    }
    if args.scope.config() {
        let found = config::checks(
            &clients,
            &args.secret_id,
            args.function.as_deref(),
            None,
            deadline.remaining(),
        )
        .await;
        checks.extend(found);
    }
    Ok(Report {
        secret_id: args.secret_id,
        checks,
    })
}

/// Who runs the checks: the function that will rotate the secret (a secret rotated by any
/// other function is then a warning), and the clients to name the other function's runtime.
#[derive(Clone, Default)]
pub struct Context {
    /// `AWS_LAMBDA_FUNCTION_NAME` in Lambda, `diagnose --function` in the CLI.
    pub this_function: Option<String>,
    /// Reads the runtime of the secret's current rotation function (best effort).
    pub clients: Option<outside::Clients>,
}

/// What the checks made from inside the function run with.
struct Env<'r> {
    r: &'r Rotator,
    secret_id: &'r str,
    deadline: Deadline,
    ctx: &'r Context,
}

/// What the checks hand on to the ones after them.
#[derive(Default)]
struct Facts {
    /// The Secrets Manager endpoint answered.
    endpoint: bool,
    /// DescribeSecret's answer (also when its labels fail the check).
    description: Option<Description>,
    /// AWSCURRENT's value.
    current_text: Option<Password>,
    /// AWSCURRENT parsed.
    current: Option<DbSecret>,
    /// The database's port accepts a connection.
    reachable: bool,
    /// Whether AWSPREVIOUS logged in.
    previous: database::Previous,
    /// The master of alternating users, as far as it was read.
    master: alternating::MasterFacts,
}

/// What a check made from inside the function may need.
#[derive(Debug, Clone, Copy)]
enum Need {
    Endpoint,
    Description,
    CurrentText,
    Current,
    Reachable,
    MasterSecret,
    MasterDatabase,
    MasterSession,
}

impl list::Need<Facts> for Need {
    fn met(self, f: &Facts) -> bool {
        match self {
            Need::Endpoint => f.endpoint,
            Need::Description => f.description.is_some(),
            Need::CurrentText => f.current_text.is_some(),
            Need::Current => f.current.is_some(),
            Need::Reachable => f.reachable,
            Need::MasterSecret => f.master.readable,
            Need::MasterDatabase => f.master.secret.is_some(),
            Need::MasterSession => f.master.session.is_some(),
        }
    }

    fn unmet(self) -> &'static str {
        match self {
            Need::Endpoint => "the endpoint is not reachable",
            Need::Description => "DescribeSecret failed",
            Need::CurrentText => "AWSCURRENT is not readable",
            Need::Current => "no valid AWSCURRENT secret",
            Need::Reachable => "the database is not reachable",
            Need::MasterSecret => "the master secret is not readable",
            Need::MasterDatabase => "the master's database is unknown",
            Need::MasterSession => "the master does not log in",
        }
    }
}

type HereEntry<'r> = Entry<Env<'r>, Facts, Need>;

/// The checks made from inside the function, in order. A new check is one entry: its name,
/// what it needs (a missing need skips it, with the need's reason), when it applies (when
/// not, it is left out of the report), and its run.
#[rustfmt::skip]
fn here<'r>() -> Vec<HereEntry<'r>> {
    use CheckName as N;
    use Need::*;
    const DB: &[Need] = &[Current, Reachable];
    const MASTER: &[Need] = &[Current, Reachable, MasterSecret, MasterDatabase];
    const PRIVILEGE: &[Need] = &[Current, Reachable, MasterSecret, MasterDatabase, MasterSession];
    let e = |name, needs, applies, run| Entry { name, needs, applies, run };
    vec![
        e(N::SecretsManagerEndpoint, &[],            always,       probes::endpoint),
        e(N::DescribeSecret,         &[Endpoint],    always,       describe::check),
        e(N::CurrentSecretReadable,  &[Description], always,       current_readable),
        e(N::SecretJsonValid,        &[CurrentText], always,       json_valid),
        e(N::DatabaseReachable,      &[Current],     always,       probes::database),
        e(N::Tls,                    DB,             always,       tls::check),
        e(N::LoginCurrent,           DB,             always,       database::login_current),
        e(N::LoginPending,           DB,             has_pending,  database::login_pending),
        e(N::LoginPrevious,          DB,             has_previous, database::login_previous),
        e(N::MasterSecretReadable,   DB,             alternating,  alternating::read),
        e(N::RdsApiReachable,        DB,             rds_managed,  alternating::rds_api),
        e(N::MasterLogin,            MASTER,         alternating,  alternating::login),
        e(N::ManageUsersPrivilege,   PRIVILEGE,      alternating,  alternating::privilege),
        e(N::MysqlSecondaryPassword, DB,             secondary,    database::secondary_password),
    ]
}

fn has_pending(_: &Env<'_>, f: &Facts) -> bool {
    has_version(f, SecretRole::Pending)
}

fn has_previous(_: &Env<'_>, f: &Facts) -> bool {
    has_version(f, SecretRole::Previous)
}

/// AWSPENDING / AWSPREVIOUS are checked when present: logging in with them spots drift.
fn has_version(f: &Facts, role: SecretRole) -> bool {
    f.description
        .as_ref()
        .is_some_and(|d| d.version_with(role.stage()).is_some())
}

fn alternating(env: &Env<'_>, _: &Facts) -> bool {
    env.r.settings.strategy == Strategy::AlternatingUsers
}

/// The master secret is RDS-managed: its database comes from the RDS API.
fn rds_managed(env: &Env<'_>, f: &Facts) -> bool {
    alternating(env, f) && f.master.rds_managed.is_some()
}

/// A single user of an engine that may keep a secondary password.
fn secondary(env: &Env<'_>, f: &Facts) -> bool {
    !alternating(env, f)
        && f.current
            .as_ref()
            .is_some_and(|c| c.family.may_have_secondary_password())
}

/// `current_secret_readable`: AWSCURRENT read (and decrypted).
fn current_readable<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(d) = &f.description else {
            return Ran::NotApplicable;
        };
        let got = env
            .r
            .sm
            .get_value(
                &env.deadline,
                env.secret_id,
                SecretRole::Current,
                d.version_with(SecretRole::Current.stage()),
            )
            .await
            .and_then(|v| {
                v.ok_or_else(|| crate::rotation::not_found(SecretRole::Current, env.secret_id))
            });
        match got {
            Ok(text) => {
                f.current_text = Some(text);
                Ran::Passed("AWSCURRENT read and decrypted".to_string())
            }
            Err(e) => Ran::Failed(e),
        }
    })
}

/// `secret_json_valid`: AWSCURRENT is a complete secret of a supported engine.
fn json_valid<'a>(_: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(text) = &f.current_text else {
            return Ran::NotApplicable;
        };
        match DbSecret::parse(text.expose(), SecretRole::Current) {
            Ok(s) => {
                let detail = format!(
                    "engine {}, host {}, port {}, user {}",
                    s.engine, s.host, s.port, s.username
                );
                f.current = Some(s);
                Ran::Passed(detail)
            }
            Err(e) => Ran::Failed(e),
        }
    })
}
