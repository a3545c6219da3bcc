//! How `diagnose` runs a list of checks. A list is values in order: each [`Entry`] names its
//! check, declares what it needs (facts an earlier check hands on: a value read, or a check
//! that passed) and when it applies, and holds its run. The runner makes them in order, times
//! each, and skips one whose need is unmet with that need's reason; no check writes its own
//! skip cascade. A list is generic over what its checks run with (`E`) and hand on (`F`), so
//! another scope of checks plugs in as one more list of entries.
//!
//! Check names are the [`CheckName`] table.

use super::report::{Check, Outcome, Warning};
use crate::failure::Failure;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

macro_rules! check_names {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal; )*) => {
        /// The name of a check, as the report spells it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CheckName {
            $( $(#[$doc])* $variant, )*
        }

        impl CheckName {
            /// Every check name, in the order of the table below.
            pub const ALL: &'static [CheckName] = &[$(CheckName::$variant),*];

            /// The stable snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $(CheckName::$variant => $name,)* }
            }
        }
    };
}

check_names! {
    /// DNS, TCP, TLS and one HTTP answer from the Secrets Manager endpoint.
    SecretsManagerEndpoint => "secrets_manager_endpoint";
    /// DescribeSecret: labels, rotation enabled, which function rotates.
    DescribeSecret => "describe_secret";
    /// AWSCURRENT read and decrypted.
    CurrentSecretReadable => "current_secret_readable";
    /// AWSCURRENT is a complete, valid secret JSON.
    SecretJsonValid => "secret_json_valid";
    /// A TCP connection to the database.
    DatabaseReachable => "database_reachable";
    /// Verified TLS and the CA the server's chain ends at.
    Tls => "tls";
    /// AWSCURRENT logs in.
    LoginCurrent => "login_current";
    /// AWSPENDING, when present, logs in or is refused.
    LoginPending => "login_pending";
    /// AWSPREVIOUS, when present, logs in or is refused as the strategy expects.
    LoginPrevious => "login_previous";
    /// Alternating users: the master secret is readable.
    MasterSecretReadable => "master_secret_readable";
    /// Alternating users, RDS-managed master: the RDS API answers.
    RdsApiReachable => "rds_api_reachable";
    /// Alternating users: the master logs in where it may.
    MasterLogin => "master_login";
    /// Alternating users: the master may create users and grant roles.
    ManageUsersPrivilege => "manage_users_privilege";
    /// MySQL single user: the account's secondary password.
    MysqlSecondaryPassword => "mysql_secondary_password";
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check came to.
pub enum Ran {
    /// Passed, with what was seen.
    Passed(String),
    /// Passed with warnings.
    Warned(String, Vec<Warning>),
    /// Failed.
    Failed(Failure),
    /// Could not be made here, and why (found while running, not a need declared).
    Skipped(String),
    /// Does not apply after all (not shown in the report).
    NotApplicable,
}

impl From<Result<String, Failure>> for Ran {
    fn from(r: Result<String, Failure>) -> Ran {
        match r {
            Ok(detail) => Ran::Passed(detail),
            Err(f) => Ran::Failed(f),
        }
    }
}

/// A check's run in progress.
pub type Running<'a> = Pin<Box<dyn Future<Output = Ran> + Send + 'a>>;

/// A fact a check may need: met or not in the facts handed on so far, and the reason a check
/// is skipped when it is not.
pub trait Need<F>: Copy {
    /// Whether the facts hold it.
    fn met(self, facts: &F) -> bool;
    /// Why a check that needs it is skipped when they do not.
    fn unmet(self) -> &'static str;
}

/// One check of a list.
pub struct Entry<E, F, N: 'static> {
    /// Its name.
    pub name: CheckName,
    /// What must be met before it runs; the first unmet one skips it with its reason.
    pub needs: &'static [N],
    /// Whether it belongs in this report at all (a strategy, a label present); false leaves
    /// it out.
    pub applies: fn(&E, &F) -> bool,
    /// The check itself: reads what it needs from the facts, adds what it found.
    pub run: for<'a> fn(&'a E, &'a mut F) -> Running<'a>,
}

/// For [`Entry::applies`]: always.
pub fn always<E, F>(_: &E, _: &F) -> bool {
    true
}

/// Makes the checks of `list` in order with `env`, starting from no facts.
pub async fn run<E, F, N>(list: &[Entry<E, F, N>], env: &E) -> Vec<Check>
where
    E: Sync,
    F: Default + Send,
    N: Need<F> + Sync + 'static,
{
    let mut facts = F::default();
    let mut checks = Vec::new();
    for entry in list {
        if !(entry.applies)(env, &facts) {
            continue;
        }
        let name = Cow::Borrowed(entry.name.as_str());
        if let Some(need) = entry.needs.iter().find(|n| !n.met(&facts)) {
            checks.push(skipped(name, need.unmet()));
            continue;
        }
        let started = Instant::now();
        let ran = (entry.run)(env, &mut facts).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (detail, outcome) = match ran {
            Ran::Passed(detail) => (detail, Outcome::Passed(Vec::new())),
            Ran::Warned(detail, warnings) => (detail, Outcome::Passed(warnings)),
            Ran::Failed(f) => (f.message.clone(), Outcome::Failed(Box::new(f.into()))),
            Ran::Skipped(why) => {
                checks.push(skipped(name, &why));
                continue;
            }
            Ran::NotApplicable => continue,
        };
        checks.push(Check {
            name,
            duration_ms,
            detail,
            outcome,
        });
    }
    checks
}

/// A check not made, and why.
fn skipped(name: Cow<'static, str>, why: &str) -> Check {
    Check {
        name,
        duration_ms: 0,
        detail: format!("skipped: {why}"),
        outcome: Outcome::Skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen {
        first: bool,
    }

    #[derive(Clone, Copy)]
    struct First;

    impl Need<Seen> for First {
        fn met(self, facts: &Seen) -> bool {
            facts.first
        }
        fn unmet(self) -> &'static str {
            "the first check failed"
        }
    }

    fn pass<'a>(_: &'a bool, facts: &'a mut Seen) -> Running<'a> {
        Box::pin(async move {
            facts.first = true;
            Ran::Passed("fine".into())
        })
    }

    fn fail<'a>(_: &'a bool, _: &'a mut Seen) -> Running<'a> {
        Box::pin(async { Ran::Failed(Failure::new(crate::failure::Cause::DbUnreachable, "no")) })
    }

    fn when_flag(flag: &bool, _: &Seen) -> bool {
        *flag
    }

    fn list(
        first: for<'a> fn(&'a bool, &'a mut Seen) -> Running<'a>,
    ) -> Vec<Entry<bool, Seen, First>> {
        vec![
            Entry {
                name: CheckName::DatabaseReachable,
                needs: &[],
                applies: always,
                run: first,
            },
            Entry {
                name: CheckName::Tls,
                needs: &[First],
                applies: always,
                run: pass,
            },
            Entry {
                name: CheckName::LoginPending,
                needs: &[First],
                applies: when_flag,
                run: pass,
            },
        ]
    }

    #[tokio::test]
    async fn an_unmet_need_skips_with_its_reason_and_applies_leaves_out() {
        let checks = run(&list(fail), &false).await;
        let got: Vec<_> = checks
            .iter()
            .map(|c| (c.name.as_ref(), c.status(), c.detail.as_str()))
            .collect();
        use super::super::report::Status;
        assert_eq!(
            got,
            [
                ("database_reachable", Status::Fail, "no"),
                ("tls", Status::Skipped, "skipped: the first check failed"),
            ]
        );
        let checks = run(&list(pass), &true).await;
        assert!(checks.iter().all(|c| c.status() == Status::Ok));
        assert_eq!(checks.len(), 3);
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for n in CheckName::ALL {
            assert!(seen.insert(n.as_str()));
            assert!(n
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
