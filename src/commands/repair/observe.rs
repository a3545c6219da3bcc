//! What `repair` looks at: the staging labels (DescribeSecret), the age of AWSPENDING, and a
//! read-only login with each stored password ([`Probe`]: the database in production, made
//! the way diagnose makes them, AWSPENDING and AWSPREVIOUS with AWSCURRENT's TLS setting).
//! Each login is recorded as a [`LoginAttempt`] for the report; what a login means is
//! decided on its cause and signals.

use crate::config::Strategy;
use crate::db::{self, DbOptions, TlsMode};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::rotation::login::{names_this_account, LoginAttempt};
use crate::secret::Stage;
use crate::secret::{DbSecret, SecretRole};
use crate::store::SecretAdmin;
use std::collections::BTreeMap;
use std::future::Future;
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
    /// `ROTATION_STRATEGY` (`None` when the function's settings could not be read).
    pub strategy: Option<Strategy>,
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
    /// One entry per login tried.
    pub logins: Vec<LoginAttempt>,
    /// What stopped the look short (the state is then `undetermined`).
    pub failure: Option<Failure>,
}

impl Observation {
    /// Nothing seen yet.
    pub fn new(arn: &str, strategy: Strategy, window: Duration) -> Self {
        Observation {
            arn: arn.to_string(),
            strategy: Some(strategy),
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

    /// A look that could not be taken: the function's settings could not be read.
    pub fn unconfigured(arn: &str, window: Duration, failure: Failure) -> Self {
        Observation {
            strategy: None,
            failure: Some(failure),
            ..Observation::new(arn, Strategy::SingleUser, window)
        }
    }

    /// Whether a rotation may still be working on AWSPENDING: its age (an unknown age counts
    /// as young) is under the window. A window of zero says none runs.
    pub fn rotation_may_be_running(&self) -> bool {
        !self.window.is_zero() && self.pending_age.is_none_or(|age| age < self.window)
    }
}

fn age_of(t: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    t.map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
}

/// How repair tries a stored password: one read-only login, closed at once. Production
/// logs in to the database ([`DbOptions`]); the unit tests of the re-check and the action
/// answer from a list, so they run on the in-memory store without a server.
pub trait Probe: Sync {
    /// Logs in as `secret` and closes the session: the TLS mode used, or the failure.
    fn log_in(
        &self,
        secret: &DbSecret,
        role: SecretRole,
        deadline: &Deadline,
    ) -> impl Future<Output = Result<TlsMode, Failure>> + Send;
}

/// The database itself.
impl Probe for DbOptions {
    async fn log_in(
        &self,
        secret: &DbSecret,
        role: SecretRole,
        deadline: &Deadline,
    ) -> Result<TlsMode, Failure> {
        db::connect(secret, role, self, deadline)
            .await
            .map(|session| session.tls())
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

/// Looks at the secret once. Never fails as a whole: a failure is kept in the observation.
pub async fn observe<S: SecretAdmin>(
    store: &S,
    probe: &impl Probe,
    secret_id: &str,
    strategy: Strategy,
    window: Duration,
    deadline: &Deadline,
) -> Observation {
    let mut o = Observation::new(secret_id, strategy, window);
    let mut look = Look {
        store,
        probe,
        strategy,
        deadline,
        o: &mut o,
    };
    if let Err(f) = look.run(secret_id).await {
        o.failure = Some(f);
    }
    o
}

/// One look in progress: where it reads and logs in, and what it has seen so far.
struct Look<'a, S, P> {
    store: &'a S,
    probe: &'a P,
    strategy: Strategy,
    deadline: &'a Deadline,
    o: &'a mut Observation,
}

impl<S: SecretAdmin, P: Probe> Look<'_, S, P> {
    async fn run(&mut self, secret_id: &str) -> Result<(), Failure> {
        let (d, dates) = self.store.describe_dated(self.deadline, secret_id).await?;
        let o = &mut *self.o;
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
        let current_version = d.sole_current()?.to_string();
        let other = |stage| {
            d.version_with(stage)
                .filter(|v| *v != current_version)
                .map(str::to_string)
        };
        o.pending_version = other(Stage::Pending);
        o.previous_version = other(Stage::Previous);
        o.current_version = Some(current_version.clone());

        let text = self
            .store
            .get_value(
                self.deadline,
                &d.arn,
                SecretRole::Current,
                Some(&current_version),
            )
            .await?
            .ok_or_else(|| crate::rotation::not_found(SecretRole::Current, &d.arn))?;
        let current = DbSecret::parse(text.expose(), SecretRole::Current)?;
        self.o.current = self
            .probe_login(&current, SecretRole::Current, &current_version)
            .await?;

        let now = SystemTime::now();
        let mut ages = vec![
            age_of(dates.last_changed, now),
            age_of(dates.last_rotated, now),
        ];
        if let Some(version) = self.o.pending_version.clone() {
            let (login, created) = self.other(&current, SecretRole::Pending, &version).await?;
            self.o.pending = login;
            ages.push(age_of(created, now));
        }
        // The youngest date bounds the pending version's age from below: the safe side.
        self.o.pending_age = ages.into_iter().flatten().min();

        if self.o.current == Login::Refused {
            if let Some(version) = self.o.previous_version.clone() {
                self.o.previous = self
                    .other(&current, SecretRole::Previous, &version)
                    .await?
                    .0;
            }
        }
        Ok(())
    }

    /// AWSPENDING or AWSPREVIOUS: read it (with its creation date), and try it when it names
    /// this account ([`names_this_account`]); anything else is never connected to.
    async fn other(
        &mut self,
        current: &DbSecret,
        role: SecretRole,
        version: &str,
    ) -> Result<(Login, Option<SystemTime>), Failure> {
        let arn = self.o.arn.clone();
        let value = self
            .store
            .get_value_dated(self.deadline, &arn, role, version)
            .await?;
        let Some((text, created)) = value else {
            return Ok((Login::NoValue, None));
        };
        let login = match DbSecret::parse(text.expose(), role) {
            // Logs in with AWSCURRENT's TLS setting, as rotation does.
            Ok(s) if names_this_account(current, &s, self.strategy) => {
                self.probe_login(&s.with_ssl_of(current), role, version)
                    .await?
            }
            _ => Login::Unusable,
        };
        Ok((login, created))
    }

    /// One read-only login, recorded: `Ok`/`Refused`, or the failure that says nothing about
    /// the password (network, TLS, access rule), which stops the look. For AWSPENDING, once
    /// AWSCURRENT logged in, a MySQL decoy exchange ([`is_mysql_decoy`]) is a refusal.
    async fn probe_login(
        &mut self,
        secret: &DbSecret,
        role: SecretRole,
        version: &str,
    ) -> Result<Login, Failure> {
        let (login, attempt) = match self.probe.log_in(secret, role, self.deadline).await {
            Ok(tls) => (Login::Ok, LoginAttempt::logged_in(secret, role, tls)),
            Err(f) if f.cause == Cause::DbLoginFailed => (
                Login::Refused,
                LoginAttempt::failed(secret, role, &f).with_outcome(Login::Refused.as_str()),
            ),
            Err(f)
                if role == SecretRole::Pending
                    && self.o.current == Login::Ok
                    && is_mysql_decoy(&f) =>
            {
                let mut attempt = LoginAttempt::failed(secret, role, &f)
                    .with_outcome(Login::Refused.as_str())
                    .with_method(f.signals.auth_method.as_deref());
                // The decoy carries no server code of its own.
                attempt.code = Some(serde_json::Value::Null);
                (Login::Refused, attempt)
            }
            Err(f) => return Err(f),
        };
        self.o.logins.push(attempt.of_version(version));
        Ok(login)
    }
}
