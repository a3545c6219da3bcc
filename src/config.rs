//! Settings read from the environment: the reference functions' variables with their
//! names, meanings and defaults, plus this project's own (both tables are in the README).

use crate::engine::Engine;
use std::time::Duration;

/// How the rotated credentials are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One user whose password changes in place.
    SingleUser,
    /// Two users (`name` and `name_clone`) that take turns, managed by a master user.
    AlternatingUsers,
}

impl Strategy {
    /// The name used in events and in `ROTATION_STRATEGY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single_user",
            Strategy::AlternatingUsers => "alternating_users",
        }
    }
}

/// What to do when the secret has no `ssl` key and TLS fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFallback {
    /// Fall back to plaintext and report `tls_downgraded` (the reference behaviour).
    Allow,
    /// Refuse.
    Deny,
}

/// How the PostgreSQL password verifier is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgPasswordEncryption {
    /// SCRAM-SHA-256 verifier computed client-side.
    ScramSha256,
    /// md5 hash computed client-side, for legacy clients.
    Md5,
}

/// GetRandomPassword options (the reference's variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// `EXCLUDE_CHARACTERS`; `None` means the engine's default.
    pub exclude_characters: Option<String>,
    /// `PASSWORD_LENGTH`.
    pub length: i64,
    /// `EXCLUDE_NUMBERS`.
    pub exclude_numbers: bool,
    /// `EXCLUDE_PUNCTUATION`.
    pub exclude_punctuation: bool,
    /// `EXCLUDE_UPPERCASE`.
    pub exclude_uppercase: bool,
    /// `EXCLUDE_LOWERCASE`.
    pub exclude_lowercase: bool,
    /// `REQUIRE_EACH_INCLUDED_TYPE`.
    pub require_each_included_type: bool,
}

impl PasswordPolicy {
    /// The characters to exclude for an engine: the variable if set, else the reference's default.
    pub fn exclude_for(&self, engine: Engine) -> String {
        match &self.exclude_characters {
            Some(chars) => chars.clone(),
            None => engine.default_excluded_characters().to_string(),
        }
    }
}

/// All settings of one process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ROTATION_STRATEGY`.
    pub strategy: Strategy,
    /// Password generation.
    pub password: PasswordPolicy,
    /// `USERNAME_CHARACTER_LIMIT` (MySQL alternating users).
    pub username_character_limit: usize,
    /// `DB_CONNECT_TIMEOUT_MS`.
    pub db_connect_timeout: Duration,
    /// `DEADLINE_MARGIN_MS`.
    pub deadline_margin: Duration,
    /// `DB_CA_BUNDLE`: extra PEM trust anchors.
    pub db_ca_bundle: Option<String>,
    /// `TLS_FALLBACK`.
    pub tls_fallback: TlsFallback,
    /// `PG_PASSWORD_ENCRYPTION`.
    pub pg_password_encryption: PgPasswordEncryption,
    /// `SECRETS_MANAGER_ENDPOINT`.
    pub secrets_manager_endpoint: Option<String>,
    /// `MYSQL_DUAL_PASSWORD`: single-user rotation on MySQL 8.0.14+ keeps the replaced
    /// password as the account's secondary password (`RETAIN CURRENT PASSWORD`).
    pub mysql_dual_password: bool,
}

/// A setting with a value this function cannot use.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} has an invalid value: {expected}")]
pub struct SettingError {
    /// The variable.
    pub name: &'static str,
    /// What it should be.
    pub expected: &'static str,
}

/// `DEADLINE_MARGIN_MS` when unset: time kept back before the deadline to classify and report.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// `SECRETS_MANAGER_ENDPOINT` from the process environment, when set and not empty (the
/// operator commands' clients honour it as the function does).
pub fn secrets_manager_endpoint() -> Option<String> {
    std::env::var("SECRETS_MANAGER_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Reads the process environment.
pub fn from_env() -> Result<Settings, SettingError> {
    from_lookup(|name| std::env::var(name).ok())
}

/// Booleans are true for true/1/y/yes in any case, as in the reference functions.
pub fn parse_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "y" | "yes"
    )
}

/// Reads settings through a lookup function (the environment, or a map in tests).
pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
    let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
    let flag = |name: &str, default: bool| get(name).map(|v| parse_bool(&v)).unwrap_or(default);
    let number = |name: &'static str, default: u64, expected: &'static str| match nonempty(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| SettingError { name, expected }),
    };

    let strategy = match nonempty("ROTATION_STRATEGY").as_deref().map(str::trim) {
        None | Some("single_user") => Strategy::SingleUser,
        Some("alternating_users") => Strategy::AlternatingUsers,
        Some(_) => {
            return Err(SettingError {
                name: "ROTATION_STRATEGY",
                expected: "single_user or alternating_users",
            })
        }
    };
    let tls_fallback = match nonempty("TLS_FALLBACK").as_deref().map(str::trim) {
        None | Some("allow") => TlsFallback::Allow,
        Some("deny") => TlsFallback::Deny,
        Some(_) => {
            return Err(SettingError {
                name: "TLS_FALLBACK",
                expected: "allow or deny",
            })
        }
    };
    let pg_password_encryption = match nonempty("PG_PASSWORD_ENCRYPTION").as_deref().map(str::trim)
    {
        None | Some("scram-sha-256") => PgPasswordEncryption::ScramSha256,
        Some("md5") => PgPasswordEncryption::Md5,
        Some(_) => {
            return Err(SettingError {
                name: "PG_PASSWORD_ENCRYPTION",
                expected: "scram-sha-256 or md5",
            })
        }
    };
    let mysql_dual_password = flag("MYSQL_DUAL_PASSWORD", false);
    if mysql_dual_password && strategy != Strategy::SingleUser {
        // Alternating users already keep the previous credentials working.
        return Err(SettingError {
            name: "MYSQL_DUAL_PASSWORD",
            expected: "false with ROTATION_STRATEGY=alternating_users (dual passwords are for single_user)",
        });
    }
    let length = number("PASSWORD_LENGTH", 32, "a whole number from 1 to 4096")?;
    if !(1..=4096).contains(&length) {
        return Err(SettingError {
            name: "PASSWORD_LENGTH",
            expected: "a whole number from 1 to 4096",
        });
    }

    Ok(Settings {
        strategy,
        password: PasswordPolicy {
            // The reference treats an unset variable as its default; an explicitly empty one
            // excludes nothing.
            exclude_characters: get("EXCLUDE_CHARACTERS"),
            length: length as i64,
            exclude_numbers: flag("EXCLUDE_NUMBERS", false),
            exclude_punctuation: flag("EXCLUDE_PUNCTUATION", false),
            exclude_uppercase: flag("EXCLUDE_UPPERCASE", false),
            exclude_lowercase: flag("EXCLUDE_LOWERCASE", false),
            require_each_included_type: flag("REQUIRE_EACH_INCLUDED_TYPE", true),
        },
        username_character_limit: number("USERNAME_CHARACTER_LIMIT", 16, "a whole number")?
            as usize,
        db_connect_timeout: Duration::from_millis(number(
            "DB_CONNECT_TIMEOUT_MS",
            5000,
            "milliseconds",
        )?),
        deadline_margin: Duration::from_millis(number(
            "DEADLINE_MARGIN_MS",
            DEFAULT_DEADLINE_MARGIN.as_millis() as u64,
            "milliseconds",
        )?),
        db_ca_bundle: nonempty("DB_CA_BUNDLE"),
        tls_fallback,
        pg_password_encryption,
        secrets_manager_endpoint: nonempty("SECRETS_MANAGER_ENDPOINT"),
        mysql_dual_password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_reference_functions() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.strategy, Strategy::SingleUser);
        assert_eq!(s.password.length, 32);
        assert!(s.password.require_each_included_type);
        assert!(!s.password.exclude_numbers);
        assert_eq!(s.password.exclude_for(Engine::Postgres), ":/@\"'\\");
        assert_eq!(s.password.exclude_for(Engine::MariaDb), "/@\"'\\");
        assert_eq!(s.username_character_limit, 16);
        assert_eq!(s.db_connect_timeout, Duration::from_millis(5000));
        assert_eq!(s.deadline_margin, DEFAULT_DEADLINE_MARGIN);
        assert_eq!(s.tls_fallback, TlsFallback::Allow);
        assert_eq!(s.pg_password_encryption, PgPasswordEncryption::ScramSha256);
    }

    #[test]
    fn booleans_accept_the_reference_spellings() {
        for yes in ["true", "TRUE", "1", "y", "Yes"] {
            assert!(parse_bool(yes), "{yes}");
        }
        for no in ["false", "0", "n", "no", "", "off"] {
            assert!(!parse_bool(no), "{no}");
        }
        let s = settings(&[
            ("EXCLUDE_NUMBERS", "Y"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "no"),
        ])
        .unwrap();
        assert!(s.password.exclude_numbers);
        assert!(!s.password.require_each_included_type);
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            settings(&[("ROTATION_STRATEGY", "multi")])
                .unwrap_err()
                .name,
            "ROTATION_STRATEGY"
        );
        assert_eq!(
            settings(&[("PASSWORD_LENGTH", "0")]).unwrap_err().name,
            "PASSWORD_LENGTH"
        );
        let s = settings(&[("EXCLUDE_CHARACTERS", "")]).unwrap();
        assert_eq!(s.password.exclude_for(Engine::Postgres), "");
    }

    #[test]
    fn mysql_dual_password_is_off_by_default_and_for_single_user_only() {
        assert!(!settings(&[]).unwrap().mysql_dual_password);
        assert!(
            settings(&[("MYSQL_DUAL_PASSWORD", "true")])
                .unwrap()
                .mysql_dual_password
        );
        let err = settings(&[
            ("MYSQL_DUAL_PASSWORD", "yes"),
            ("ROTATION_STRATEGY", "alternating_users"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "MYSQL_DUAL_PASSWORD");
    }
}
