//! Alternating users (`ROTATION_STRATEGY=alternating_users`): two database users, `name` and
//! `name_clone`, take turns. Each rotation gives the user that is NOT current a new password
//! (creating it on the first rotation) through the master user of `masterarn`, so the
//! current user's password keeps working until the next rotation: applications that still
//! hold it are never cut off mid-rotation.
//!
//! This file decides what happens (the pair, its checks, setSecret's order); `master.rs`
//! reads and places the master secret; the drivers know how (`db::Session::
//! ensure_alternate_user`).

use super::login::Attempts;
use super::{Outcome, StepCtx};
use crate::config::Settings;
use crate::db::{self, AlternateUser};
use crate::engine::NameLimit;
use crate::failure::{Cause, Failure};
use crate::secret::{DbSecret, Password, SecretRole};
use crate::store::SecretStore;

pub use super::master::{
    check_master_host, connect_like_current, read_master, resolve_master, resolve_rds_managed,
    Master, MasterValue,
};

/// The suffix that marks the second user of a pair.
pub const CLONE_SUFFIX: &str = "_clone";

/// The other user of the pair: `name` ↔ `name_clone`.
pub fn alternate_username(name: &str) -> String {
    match name.strip_suffix(CLONE_SUFFIX) {
        Some(original) => original.to_string(),
        None => format!("{name}{CLONE_SUFFIX}"),
    }
}

/// The `masterarn` of the current secret, which alternating users cannot do without.
pub fn masterarn(current: &DbSecret) -> Result<&str, Failure> {
    current.masterarn.as_deref().filter(|a| !a.is_empty()).ok_or_else(|| {
        Failure::new(
            Cause::SecretJsonMissingKey,
            "the current secret has no 'masterarn' key: alternating users needs the master secret's ARN",
        )
        .with("key", "masterarn")
        .with("secret", SecretRole::Current.as_str())
        .remedy("Add \"masterarn\" to the secret JSON: the ARN of the secret holding the credentials of a user that may create users and change passwords (CREATEROLE on PostgreSQL).")
    })
}

/// createSecret: the pending secret is the current one with the other user of the pair and
/// a new password, every other key kept in place and order. A name the engine cannot hold
/// fails here, before anything is written.
pub fn pending_secret(
    current: &DbSecret,
    password: Password,
    settings: &Settings,
) -> Result<DbSecret, Failure> {
    let alternate = checked_alternate(current, settings)?;
    Ok(current.with_credentials(&alternate, password))
}

/// The alternate user name, checked against the engine's limit.
pub fn checked_alternate(current: &DbSecret, settings: &Settings) -> Result<String, Failure> {
    let alternate = alternate_username(&current.username);
    if alternate.is_empty() {
        return Err(Failure::new(
            Cause::SecretJsonInvalid,
            "the username of the current secret is only the _clone suffix",
        )
        .with("key", "username")
        .with("secret", SecretRole::Current.as_str())
        .with("expected", "a username with more than the _clone suffix"));
    }
    let NameLimit {
        max: limit,
        unit,
        configured,
    } = current
        .engine
        .username_limit(settings.username_character_limit);
    let length = unit.length(&alternate);
    let unit = unit.as_str();
    if length > limit {
        let expected = format!(
            "a username of at most {} {unit}, so that its alternate (with _clone appended) fits the {} limit of {limit} {unit}",
            limit.saturating_sub(CLONE_SUFFIX.len()),
            current.engine
        );
        return Err(Failure::new(
            Cause::SecretJsonInvalid,
            format!(
                "the alternate user {alternate} would be {length} {unit} long; {} allows {limit}",
                current.engine
            ),
        )
        .with("key", "username")
        .with("secret", SecretRole::Current.as_str())
        .with("expected", expected)
        .with("alternate_user", alternate.as_str())
        .with("length", length as u64)
        .with("limit", limit as u64)
        .remedy(if configured {
            "Shorten the username, or raise USERNAME_CHARACTER_LIMIT to what the server allows (32 for MySQL 5.7 and later)."
        } else {
            "Shorten the username so that it fits the engine's limit with _clone appended."
        }));
    }
    Ok(alternate)
}

/// setSecret's first check, before any connection: the pending secret must name the other
/// user of the pair, on the same host.
pub fn check_pair(current: &DbSecret, pending: &DbSecret) -> Result<(), Failure> {
    let expected = alternate_username(&current.username);
    if pending.username == expected && pending.host == current.host {
        return Ok(());
    }
    Err(Failure::new(
        Cause::UserMismatch,
        "the pending secret names another user or host than the alternate of the current user",
    )
    .with("expected_user", expected.as_str())
    .with("found_user", pending.username.as_str())
    .with("expected_host", current.host.as_str())
    .with("found_host", pending.host.as_str()))
}

/// setSecret for alternating users.
///
/// The order: the pair is checked (`user_mismatch`) and the master secret read and placed
/// (`user_mismatch` when its database is not the user's) before any connection; then
/// AWSCURRENT must log in, proving the secret is live (no AWSPREVIOUS fallback: a stale
/// secret must not be able to steer the master); then the master makes the pending user
/// ready.
///
/// Unlike the reference, a working AWSPENDING login does not end the step early: it proves
/// the password, not the privileges. On PostgreSQL the clone's membership in the original
/// role can be revoked and it still logs in (as itself, without the original's privileges
/// or pg_hba group rules); on MySQL grants are copies that drift. So the master always
/// brings the pending user in step, and the pending login only decides whether its
/// password still needs setting: `already_set` when it does not, `password_set` when it did.
pub(super) async fn set_secret<S: SecretStore>(
    ctx: &StepCtx<'_, S>,
    current: &DbSecret,
    pending: &DbSecret,
) -> Result<Outcome, Failure> {
    check_pair(current, pending)?;
    let rotator = ctx.rotator;
    let deadline = &ctx.deadline;
    let opts = &rotator.db;
    let mut master = resolve_master(&rotator.sm, &rotator.rds, deadline, current).await?;
    check_master_host(&rotator.rds, deadline, current, &mut master).await?;

    let mut attempts = Attempts::default();
    match attempts
        .try_candidate(current, SecretRole::Current, opts, deadline)
        .await?
    {
        Some(session) => drop(session),
        None => {
            return Err(attempts.login_failed(
                &current.username,
                &format!(
                    "the database refused {} with the AWSCURRENT password: the secret is not live, so the master will not act on it",
                    current.username
                ),
            ))
        }
    }
    let password_in_place = match db::connect(pending, SecretRole::Pending, opts, deadline).await {
        Ok(session) => {
            drop(session);
            true
        }
        // Any refusal means "not in place yet": the master sets it below.
        Err(_) => false,
    };

    let mut master_attempts = Attempts::default();
    let Some(mut session) = master_attempts
        .try_candidate(&master.secret, SecretRole::Master, opts, deadline)
        .await?
    else {
        return Err(master_attempts
            .login_failed(
                &master.secret.username,
                &format!(
                    "the database refused the master user {} with the master secret's password",
                    master.secret.username
                ),
            )
            .with("secret", SecretRole::Master.as_str())
            .remedy("The master secret's password does not log in: reset the master user's password to the master secret's AWSCURRENT value (for an RDS-managed master, let RDS rotate it or modify the database's master password)."));
    };
    let user = AlternateUser {
        current: &current.username,
        pending: &pending.username,
        password: &pending.password,
        password_in_place,
    };
    let change = session
        .ensure_alternate_user(&user, opts, deadline)
        .await
        .map_err(|f| {
            let f = f.with("secret", SecretRole::Master.as_str());
            if f.cause == Cause::DbPermissionDenied {
                f.with("user", master.secret.username.as_str())
            } else {
                f
            }
        })?;
    Ok(if change.password_changed {
        Outcome::PasswordSet
    } else {
        Outcome::AlreadySet
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(engine: &str, user: &str) -> DbSecret {
        DbSecret::parse(
            &serde_json::json!({"engine": engine, "host": "h", "username": user, "password": "pw-123456", "masterarn": "arn:m", "extra": 1}).to_string(),
            SecretRole::Current,
        )
        .unwrap()
    }

    fn settings() -> Settings {
        crate::config::from_lookup(|_| None).unwrap()
    }

    #[test]
    fn the_pair_swaps_name_and_clone() {
        assert_eq!(alternate_username("app"), "app_clone");
        assert_eq!(alternate_username("app_clone"), "app");
        assert_eq!(alternate_username("app_clone_clone"), "app_clone");
        assert_eq!(alternate_username("We\"ird%"), "We\"ird%_clone");
    }

    #[test]
    fn the_pending_secret_keeps_every_other_key_in_order() {
        let current = secret("postgres", "app");
        let pending =
            pending_secret(&current, Password::new("new-password-1"), &settings()).unwrap();
        assert_eq!(pending.username, "app_clone");
        assert_eq!(pending.keys(), current.keys());
        let back = pending_secret(&pending, Password::new("new-password-2"), &settings()).unwrap();
        assert_eq!(back.username, "app");
    }

    #[test]
    fn clone_names_over_the_engine_limit_are_refused() {
        let s = settings();
        let pg57 = "a".repeat(57);
        assert!(checked_alternate(&secret("postgres", &pg57), &s).is_ok());
        let f = checked_alternate(&secret("postgres", &"a".repeat(58)), &s).unwrap_err();
        assert_eq!(f.cause, Cause::SecretJsonInvalid);
        assert_eq!(f.evidence["key"], "username");
        assert!(f.evidence["expected"].as_str().unwrap().contains("57"));
        // PostgreSQL counts bytes: 29 two-byte characters + _clone = 64 bytes.
        assert!(checked_alternate(&secret("postgres", &"é".repeat(29)), &s).is_err());
        assert!(checked_alternate(&secret("mariadb", &"a".repeat(74)), &s).is_ok());
        assert!(checked_alternate(&secret("mariadb", &"a".repeat(75)), &s).is_err());
        assert!(checked_alternate(&secret("mysql", "abcdefghij"), &s).is_ok());
        let f = checked_alternate(&secret("aurora-mysql", "abcdefghijk"), &s).unwrap_err();
        assert!(f.remedy.contains("USERNAME_CHARACTER_LIMIT"));
        // From the clone back to the original: the original's name is what is checked.
        assert!(checked_alternate(&secret("mysql", "abcdefghijklmnop_clone"), &s).is_ok());
        assert!(checked_alternate(&secret("mysql", "abcdefghijklmnopq_clone"), &s).is_err());
        assert!(checked_alternate(&secret("postgres", "_clone"), &s).is_err());
    }

    #[test]
    fn the_pending_user_must_be_the_alternate_on_the_same_host() {
        let current = secret("postgres", "app");
        let ok = current.with_credentials("app_clone", Password::new("pending-pw"));
        assert!(check_pair(&current, &ok).is_ok());
        let same_user = current.with_credentials("app", Password::new("pending-pw"));
        let f = check_pair(&current, &same_user).unwrap_err();
        assert_eq!(f.cause, Cause::UserMismatch);
        assert_eq!(f.evidence["expected_user"], "app_clone");
        assert_eq!(f.evidence["found_user"], "app");
    }

    #[test]
    fn missing_masterarn_is_named() {
        let s = DbSecret::parse(
            r#"{"engine":"postgres","host":"h","username":"u","password":"p"}"#,
            SecretRole::Current,
        )
        .unwrap();
        let f = masterarn(&s).unwrap_err();
        assert_eq!(f.cause, Cause::SecretJsonMissingKey);
        assert_eq!(f.evidence["key"], "masterarn");
    }
}
