//! What `repair` looks at: the staging labels (DescribeSecret), the age of AWSPENDING, and a
//! read-only login with each stored password, made the way diagnose makes them
//! (`db::connect`, AWSPENDING and AWSPREVIOUS with AWSCURRENT's TLS setting).
//! The evidence of a failed login is copied into the report's `logins` entries (output);
//! what a login means is decided on its cause and signals.

use crate::config::Strategy;
use crate::db;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::{alternating, Rotator};
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretStore as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// What one stored version did at the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Login {
    /// No version holds the label (or it is the AWSCURRENT version).
    #[default]
    Absent,
    /// The version has no value yet (RotateSecret staged it, createSecret never stored it).
    NoValue,
    /// The value cannot be the account's password (not valid JSON, another user or host):
    /// not tried.
    Unusable,
    /// The database refused the password.
    Refused,
    /// It logged in.
    Ok,
}

impl Login {
    /// The `outcome` of the report's `logins` entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Login::Absent => "absent",
            Login::NoValue => "no_value",
            Login::Unusable => "unusable",
            Login::Refused => "refused",
            Login::Ok => "login_ok",
        }
    }

    /// A few words for sentences.
    pub fn describe(self) -> &'static str {
        match self {
            Login::Absent => "is not there",
            Login::NoValue => "has no value (createSecret never stored it)",
            Login::Unusable => "does not name this account",
            Login::Refused => "is refused by the database",
            Login::Ok => "logs in",
        }
    }
}

/// Everything one look at the secret found.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The secret's ARN (as DescribeSecret gives it).
    pub arn: String,
    /// `ROTATION_STRATEGY`.
    pub strategy: Strategy,
    /// Version id to its staging labels, sorted (compared between the check and the re-check).
    pub labels: BTreeMap<String, Vec<String>>,
    /// The AWSCURRENT version.
    pub current_version: Option<String>,
    /// The AWSPENDING version, when it is not the AWSCURRENT one.
    pub pending_version: Option<String>,
    /// The AWSPREVIOUS version.
    pub previous_version: Option<String>,
    /// AWSCURRENT's login.
    pub current: Login,
    /// AWSPENDING's login.
    pub pending: Login,
    /// AWSPREVIOUS's login (only tried when AWSCURRENT is refused).
    pub previous: Login,
    /// The youngest of: the AWSPENDING version, the secret's last change, its last rotation.
    pub pending_age: Option<Duration>,
    /// How long a rotation may run: four steps of the function timeout.
    pub window: Duration,
    /// One entry per login tried (`secret`, `version_id`, `user`, `outcome`, `tls`, `code`).
    pub logins: Vec<Value>,
    /// What stopped the look short (the state is then `undetermined`).
    pub failure: Option<Failure>,
}

impl Observation {
    /// Nothing seen yet.
    pub fn new(arn: &str, strategy: Strategy, window: Duration) -> Self {
        Observation {
            arn: arn.to_string(),
            strategy,
            labels: BTreeMap::new(),
            current_version: None,
            pending_version: None,
            previous_version: None,
            current: Login::Absent,
            pending: Login::Absent,
            previous: Login::Absent,
            pending_age: None,
            window,
            logins: Vec::new(),
            failure: None,
        }
    }

    /// Whether a rotation may still be working on AWSPENDING: its age (an unknown age counts
    /// as young) is under the window. A window of zero says none runs.
    pub fn rotation_may_be_running(&self) -> bool {
        !self.window.is_zero() && self.pending_age.is_none_or(|age| age < self.window)
    }

    /// The version holding a label.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(_, l)| l.iter().any(|s| s == stage))
            .map(|(v, _)| v.as_str())
    }
}

fn age_of(t: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    t.map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
}

struct Tried {
    login: Login,
    entry: Value,
}

/// One read-only login: `Ok`/`Refused`, or the failure that says nothing about the password
/// (network, TLS, access rule), which stops the look.
async fn try_login(
    r: &Rotator,
    secret: &DbSecret,
    role: SecretRole,
    version: &str,
    deadline: &Deadline,
) -> Result<Tried, Failure> {
    match db::connect(secret, role, &r.db, deadline).await {
        Ok(session) => {
            let entry = json!({"secret": role.as_str(), "version_id": version, "user": secret.username,
                "outcome": Login::Ok.as_str(), "tls": session.tls().as_str()});
            drop(session);
            Ok(Tried {
                login: Login::Ok,
                entry,
            })
        }
        Err(f) if f.cause == Cause::DbLoginFailed => Ok(Tried {
            login: Login::Refused,
            entry: json!({"secret": role.as_str(), "version_id": version, "user": secret.username,
                "outcome": Login::Refused.as_str(),
                "tls": f.evidence.get("tls_mode_used").cloned().unwrap_or(Value::Null),
                "code": f.evidence.get("code").cloned().unwrap_or(Value::Null)}),
        }),
        Err(f) => Err(f),
    }
}

/// MySQL 8+ and MariaDB answer a user no account admits from here (an alternating pair's
/// clone before setSecret creates it) with a decoy exchange: MySQL picks the plugin from the
/// user name and may ask for `sha256_password`; MariaDB borrows the plugin of some existing
/// account and may ask for ed25519. The client performs neither. Once AWSCURRENT has logged
/// in, that answer to AWSPENDING means it does not log in: a clone made by rotation from a
/// user that logs in uses neither method, and the only action it can lead to, removing the
/// AWSPENDING label, is undone by the printed command.
fn is_mysql_decoy(f: &Failure) -> bool {
    f.cause == Cause::DbAuthMethodUnsupported
        && f.signals
            .auth_method
            .as_deref()
            .is_some_and(crate::db::mysql::error::may_be_decoy)
}

/// The `refused` entry for [`is_mysql_decoy`], naming the method the server asked for.
fn decoy_refusal(secret: &DbSecret, version: &str, f: &Failure) -> Tried {
    Tried {
        login: Login::Refused,
        entry: json!({"secret": SecretRole::Pending.as_str(), "version_id": version,
            "user": secret.username, "outcome": Login::Refused.as_str(),
            "tls": f.evidence.get("tls_mode_used").cloned().unwrap_or(Value::Null),
            "code": Value::Null, "method": f.signals.auth_method.as_deref()}),
    }
}

/// Looks at the secret once. Never fails as a whole: a failure is kept in the observation.
pub async fn observe(
    r: &Rotator,
    secret_id: &str,
    window: Duration,
    deadline: &Deadline,
) -> Observation {
    let mut o = Observation::new(secret_id, r.settings.strategy, window);
    if let Err(f) = look(r, secret_id, deadline, &mut o).await {
        o.failure = Some(f);
    }
    o
}

async fn look(
    r: &Rotator,
    secret_id: &str,
    deadline: &Deadline,
    o: &mut Observation,
) -> Result<(), Failure> {
    let (d, dates) = r.sm.describe_dated(deadline, secret_id).await?;
    o.arn = d.arn.clone();
    o.labels = d
        .versions
        .iter()
        .map(|(v, l)| {
            let mut l = l.clone();
            l.sort();
            (v.clone(), l)
        })
        .collect();
    let holders = d
        .versions
        .values()
        .filter(|l| l.iter().any(|s| s == "AWSCURRENT"))
        .count();
    if holders != 1 {
        return Err(Failure::new(
            Cause::AwsServiceError,
            format!("{holders} versions hold AWSCURRENT"),
        )
        .with("aws_error_code", "staging_labels")
        .remedy("Exactly one version must hold AWSCURRENT: inspect the labels with aws secretsmanager describe-secret and fix them by hand."));
    }
    let current_version = o.version_with("AWSCURRENT").unwrap_or_default().to_string();
    o.current_version = Some(current_version.clone());
    o.pending_version = o
        .version_with("AWSPENDING")
        .filter(|v| *v != current_version)
        .map(str::to_string);
    o.previous_version = o
        .version_with("AWSPREVIOUS")
        .filter(|v| *v != current_version)
        .map(str::to_string);

    let text =
        r.sm.get_value(
            deadline,
            &o.arn,
            SecretRole::Current,
            Some(&current_version),
        )
        .await?
        .ok_or_else(|| crate::rotation::not_found(SecretRole::Current, &o.arn))?;
    let current = DbSecret::parse(text.expose(), SecretRole::Current)?;
    let tried = try_login(r, &current, SecretRole::Current, &current_version, deadline).await?;
    o.current = tried.login;
    o.logins.push(tried.entry);

    let now = SystemTime::now();
    let mut ages = vec![
        age_of(dates.last_changed, now),
        age_of(dates.last_rotated, now),
    ];
    if let Some(pending_version) = o.pending_version.clone() {
        let value =
            r.sm.get_value_dated(deadline, &o.arn, SecretRole::Pending, &pending_version)
                .await?;
        o.pending = match value {
            None => Login::NoValue,
            Some((text, created)) => {
                ages.push(age_of(created, now));
                match other_version(&current, text.expose(), SecretRole::Pending, o.strategy) {
                    None => Login::Unusable,
                    Some(pending) => {
                        let tried = match try_login(
                            r,
                            &pending,
                            SecretRole::Pending,
                            &pending_version,
                            deadline,
                        )
                        .await
                        {
                            Err(f) if o.current == Login::Ok && is_mysql_decoy(&f) => {
                                decoy_refusal(&pending, &pending_version, &f)
                            }
                            other => other?,
                        };
                        o.logins.push(tried.entry);
                        tried.login
                    }
                }
            }
        };
    }
    // The youngest date bounds the pending version's age from below: the safe side.
    o.pending_age = ages.into_iter().flatten().min();

    if o.current == Login::Refused {
        if let Some(previous_version) = o.previous_version.clone() {
            let value =
                r.sm.get_value(
                    deadline,
                    &o.arn,
                    SecretRole::Previous,
                    Some(&previous_version),
                )
                .await?;
            o.previous = match value {
                None => Login::NoValue,
                Some(text) => {
                    match other_version(&current, text.expose(), SecretRole::Previous, o.strategy) {
                        None => Login::Unusable,
                        Some(previous) => {
                            let tried = try_login(
                                r,
                                &previous,
                                SecretRole::Previous,
                                &previous_version,
                                deadline,
                            )
                            .await?;
                            o.logins.push(tried.entry);
                            tried.login
                        }
                    }
                }
            };
        }
    }
    Ok(())
}

/// AWSPENDING or AWSPREVIOUS as a login, when it can be this account's: the same host, and
/// the same user (single user) or one of the pair (alternating users). Anything else is
/// never connected to. Logs in with AWSCURRENT's TLS setting, as rotation does.
fn other_version(
    current: &DbSecret,
    text: &str,
    role: SecretRole,
    strategy: Strategy,
) -> Option<DbSecret> {
    let s = DbSecret::parse(text, role).ok()?.with_ssl_of(current);
    let user_ok = match strategy {
        Strategy::SingleUser => s.username == current.username,
        Strategy::AlternatingUsers => {
            alternating::check_pair(current, &s).is_ok() || s.username == current.username
        }
    };
    (user_ok && s.host == current.host && s.port == current.port && s.family == current.family)
        .then_some(s)
}
