//! The secret JSON as typed values. Passwords live in [`Password`], which never prints and is
//! wiped when dropped, and every key of the original object is kept (in order, wiped when
//! dropped too) so unknown keys are carried forward. (Over 400 lines only with its tests: a
//! table of every bad input and its cause.)

use crate::failure::{Cause, Failure};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

/// Secrets Manager refuses values over 64 KiB; anything larger did not come from it.
pub const MAX_SECRET_BYTES: usize = 65_536;

/// What every new [`Password`] is shown to: the log scrubber, which `app::init_logging`
/// installs, so that neither secrets nor logging depends on the other.
static WATCHER: OnceLock<fn(&str)> = OnceLock::new();

/// Installs the function every new [`Password`] is shown to (once per process; later calls
/// keep the first).
pub fn watch_new_passwords(watcher: fn(&str)) {
    let _ = WATCHER.set(watcher);
}

/// A password (or any secret string). `Debug` and `Display` print `***`, every value wrapped
/// is shown to the log scrubber (for the invocation that read it), so it cannot reach a log
/// line even by mistake, and its bytes are overwritten with zeros when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret string and shows it to the watcher (the log scrubber).
    pub fn new(value: impl Into<String>) -> Self {
        let value = Zeroizing::new(value.into());
        if let Some(watch) = WATCHER.get() {
            watch(&value);
        }
        Password(value)
    }

    /// The plaintext, for the one place that needs it (a login or a verifier).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which version of which secret a value came from (the `secret` evidence field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRole {
    /// The rotated secret, AWSCURRENT.
    Current,
    /// The rotated secret, AWSPENDING.
    Pending,
    /// The rotated secret, AWSPREVIOUS.
    Previous,
    /// The master secret named by `masterarn`.
    Master,
}

impl SecretRole {
    /// The evidence value and the label in events.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretRole::Current => "current",
            SecretRole::Pending => "pending",
            SecretRole::Previous => "previous",
            SecretRole::Master => "master",
        }
    }

    /// The staging label this role is read with.
    pub fn stage(self) -> Stage {
        match self {
            SecretRole::Current | SecretRole::Master => Stage::Current,
            SecretRole::Pending => Stage::Pending,
            SecretRole::Previous => Stage::Previous,
        }
    }
}

/// A staging label of the rotation protocol. Secrets Manager also keeps labels of its
/// users' own, which stay strings where versions are listed; the protocol reads and moves
/// only these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `AWSCURRENT`: the value applications read.
    Current,
    /// `AWSPENDING`: the value a rotation is installing.
    Pending,
    /// `AWSPREVIOUS`: the value AWSCURRENT replaced.
    Previous,
}

impl Stage {
    /// The label as Secrets Manager spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Current => "AWSCURRENT",
            Stage::Pending => "AWSPENDING",
            Stage::Previous => "AWSPREVIOUS",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::engine::{Engine, EngineFamily};

/// The `ssl` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslSetting {
    /// Absent: TLS first, plaintext only after a TLS failure (reported).
    Absent,
    /// `true`: TLS required, chain and host name verified.
    Required,
    /// `false`: plaintext.
    Disabled,
}

/// Overwrites every string of a JSON value (keys and values) with zeros, in place.
pub fn wipe_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_value),
        Value::Object(map) => wipe_map(map),
        _ => {}
    }
}

fn wipe_map(map: &mut Map<String, Value>) {
    for (_, mut v) in std::mem::take(map) {
        wipe_value(&mut v);
    }
}

/// The secret's object as read: wiped when dropped, since it holds the password.
#[derive(Clone, Default)]
struct RawSecret(Map<String, Value>);

impl Drop for RawSecret {
    fn drop(&mut self) {
        wipe_map(&mut self.0);
    }
}

/// Counts bytes written, to size a buffer exactly before serializing a secret into it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A database secret, parsed and validated.
#[derive(Clone)]
pub struct DbSecret {
    /// The `engine` value.
    pub engine: Engine,
    /// Its family.
    pub family: EngineFamily,
    /// Host name.
    pub host: String,
    /// Port (default by engine).
    pub port: u16,
    /// User name.
    pub username: String,
    /// Password.
    pub password: Password,
    /// Database name, if given.
    pub dbname: Option<String>,
    /// The `ssl` key.
    pub ssl: SslSetting,
    /// `masterarn`, if given.
    pub masterarn: Option<String>,
    /// Every key as read, in order: what is written back, with changes.
    raw: RawSecret,
}

impl fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSecret")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("dbname", &self.dbname)
            .field("ssl", &self.ssl)
            .finish_non_exhaustive()
    }
}

fn invalid(role: SecretRole, key: Option<&str>, expected: &str) -> Failure {
    let what = match key {
        Some(k) => format!(
            "key '{k}' of the {} secret is not {expected}",
            role.as_str()
        ),
        None => format!("the {} secret is not {expected}", role.as_str()),
    };
    let mut f = Failure::new(Cause::SecretJsonInvalid, what)
        .with("secret", role.as_str())
        .with("expected", expected);
    if let Some(k) = key {
        f = f.with("key", k);
    }
    f
}

fn missing(role: SecretRole, key: &str) -> Failure {
    Failure::new(
        Cause::SecretJsonMissingKey,
        format!("the {} secret has no '{key}' key", role.as_str()),
    )
    .with("key", key)
    .with("secret", role.as_str())
}

/// Parses the JSON text into an object, refusing oversized and non-object values.
pub fn parse_object(text: &str, role: SecretRole) -> Result<Map<String, Value>, Failure> {
    if text.len() > MAX_SECRET_BYTES {
        return Err(
            invalid(role, None, "at most 65536 bytes").with("size_bytes", text.len() as u64)
        );
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(role, None, "a JSON object")),
    }
}

/// Whether a secret key must be present (and not empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}

fn string_key(
    map: &Map<String, Value>,
    role: SecretRole,
    key: &str,
    presence: Presence,
) -> Result<Option<String>, Failure> {
    let required = presence == Presence::Required;
    match map.get(key) {
        None | Some(Value::Null) if required => Err(missing(role, key)),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() && required => {
            Err(invalid(role, Some(key), "a non-empty string"))
        }
        Some(Value::String(s)) => {
            if s.chars().any(char::is_control) && key != "password" {
                return Err(invalid(role, Some(key), "free of control characters"));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid(role, Some(key), "a string")),
    }
}

fn port_key(map: &Map<String, Value>, role: SecretRole, default: u16) -> Result<u16, Failure> {
    let bad = || invalid(role, Some("port"), "a port number (1-65535)");
    match map.get("port") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(bad),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

fn ssl_key(map: &Map<String, Value>, role: SecretRole) -> Result<SslSetting, Failure> {
    match map.get("ssl") {
        None | Some(Value::Null) => Ok(SslSetting::Absent),
        Some(Value::Bool(true)) => Ok(SslSetting::Required),
        Some(Value::Bool(false)) => Ok(SslSetting::Disabled),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(SslSetting::Required),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(SslSetting::Disabled),
        Some(_) => Err(invalid(
            role,
            Some("ssl"),
            "a boolean or \"true\"/\"false\"",
        )),
    }
}

impl DbSecret {
    /// Parses and validates a secret string read as `role`.
    pub fn parse(text: &str, role: SecretRole) -> Result<DbSecret, Failure> {
        let map = parse_object(text, role)?;
        DbSecret::from_map(map, role)
    }

    /// Validates an already parsed object.
    pub fn from_map(map: Map<String, Value>, role: SecretRole) -> Result<DbSecret, Failure> {
        let engine = string_key(&map, role, "engine", Presence::Required)?.unwrap_or_default();
        let engine = Engine::parse(&engine).ok_or_else(|| {
            Failure::new(
                Cause::UnsupportedEngine,
                format!("the {} secret names an unsupported engine", role.as_str()),
            )
            .with("engine", engine.as_str())
            .with("secret", role.as_str())
        })?;
        let host = string_key(&map, role, "host", Presence::Required)?.unwrap_or_default();
        let username = string_key(&map, role, "username", Presence::Required)?.unwrap_or_default();
        let password = match map.get("password") {
            None | Some(Value::Null) => return Err(missing(role, "password")),
            Some(Value::String(s)) => Password::new(s.as_str()),
            Some(_) => return Err(invalid(role, Some("password"), "a string")),
        };
        let dbname =
            string_key(&map, role, "dbname", Presence::Optional)?.filter(|d| !d.is_empty());
        let port = port_key(&map, role, engine.default_port())?;
        let ssl = ssl_key(&map, role)?;
        let masterarn = string_key(&map, role, "masterarn", Presence::Optional)?;
        Ok(DbSecret {
            engine,
            family: engine.family(),
            host,
            port,
            username,
            password,
            dbname,
            ssl,
            masterarn,
            raw: RawSecret(map),
        })
    }

    /// The database to connect to: `dbname`, else the engine's default.
    pub fn database(&self) -> Option<&str> {
        self.dbname
            .as_deref()
            .or_else(|| self.engine.default_database())
    }

    /// A copy with a new username and password, every other key kept in place and order.
    pub fn with_credentials(&self, username: &str, password: Password) -> DbSecret {
        let mut next = self.clone();
        next.raw
            .0
            .insert("username".into(), Value::String(username.to_string()));
        let old = next.raw.0.insert(
            "password".into(),
            Value::String(password.expose().to_string()),
        );
        if let Some(mut old) = old {
            wipe_value(&mut old);
        }
        next.username = username.to_string();
        next.password = password;
        next
    }

    /// A copy with the `ssl` setting of another secret (AWSPREVIOUS logs in with AWSCURRENT's).
    pub fn with_ssl_of(&self, other: &DbSecret) -> DbSecret {
        let mut next = self.clone();
        next.ssl = other.ssl;
        next
    }

    /// The JSON text to store. Contains the password: only ever passed to PutSecretValue.
    /// Written into a buffer of the exact size (no reallocation leaves a copy behind) and
    /// wiped when dropped.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        let mut count = Counter(0);
        // Serializing a map of JSON values cannot fail.
        let _ = serde_json::to_writer(&mut count, &self.raw.0);
        let mut buf = Zeroizing::new(Vec::with_capacity(count.0));
        let _ = serde_json::to_writer(&mut *buf, &self.raw.0);
        // serde_json writes UTF-8 only; the buffer moves into the String without a copy.
        Zeroizing::new(String::from_utf8(std::mem::take(&mut *buf)).unwrap_or_default())
    }

    /// The keys, in order (for tests and diagnostics; values are not exposed).
    pub fn keys(&self) -> Vec<String> {
        self.raw.0.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DbSecret, Failure> {
        DbSecret::parse(text, SecretRole::Current)
    }

    #[test]
    fn a_full_secret_parses_and_keeps_key_order() {
        let s = parse(r#"{"engine":"postgres","host":"db","username":"app","password":"pw","port":"6543","ssl":"TRUE","extra":{"a":1},"dbname":"appdb"}"#).unwrap();
        assert_eq!(s.port, 6543);
        assert_eq!(s.ssl, SslSetting::Required);
        assert_eq!(s.database(), Some("appdb"));
        let next = s.with_credentials("app", Password::new("new"));
        assert_eq!(
            next.keys(),
            ["engine", "host", "username", "password", "port", "ssl", "extra", "dbname"]
        );
        assert!(next.to_secret_string().contains(r#""extra":{"a":1}"#));
        assert_eq!(format!("{:?}", next.password), "***");
        assert!(!format!("{next:?}").contains("new"));
    }

    #[test]
    fn defaults_by_engine() {
        let pg =
            parse(r#"{"engine":"aurora-postgresql","host":"h","username":"u","password":"p"}"#)
                .unwrap();
        assert_eq!(
            (pg.port, pg.database(), pg.ssl),
            (5432, Some("postgres"), SslSetting::Absent)
        );
        let my =
            parse(r#"{"engine":"mariadb","host":"h","username":"u","password":"p","ssl":false}"#)
                .unwrap();
        assert_eq!(
            (my.port, my.database(), my.ssl),
            (3306, None, SslSetting::Disabled)
        );
    }

    #[test]
    fn each_bad_input_has_its_cause() {
        let cases = [
            (
                r#"{"engine":"postgres","username":"u","password":"p"}"#,
                "secret_json_missing_key",
                Some("host"),
            ),
            (
                r#"{"host":"h","username":"u","password":"p"}"#,
                "secret_json_missing_key",
                Some("engine"),
            ),
            (
                r#"{"engine":"oracle","host":"h","username":"u","password":"p"}"#,
                "unsupported_engine",
                None,
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u","password":"p","port":true}"#,
                "secret_json_invalid",
                Some("port"),
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u","password":"p","port":70000}"#,
                "secret_json_invalid",
                Some("port"),
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u","password":"p","ssl":"maybe"}"#,
                "secret_json_invalid",
                Some("ssl"),
            ),
            (
                r#"{"engine":"postgres","host":"h","username":7,"password":"p"}"#,
                "secret_json_invalid",
                Some("username"),
            ),
            (
                r#"{"engine":"postgres","host":"h\nx","username":"u","password":"p"}"#,
                "secret_json_invalid",
                Some("host"),
            ),
            (r#"["not","an","object"]"#, "secret_json_invalid", None),
            ("not json", "secret_json_invalid", None),
        ];
        for (text, code, key) in cases {
            let f = parse(text).unwrap_err();
            assert_eq!(f.cause.code(), code, "{text}");
            assert_eq!(f.evidence.get("key").and_then(Value::as_str), key, "{text}");
        }
        let big = format!(
            r#"{{"engine":"postgres","host":"h","username":"u","password":"{}"}}"#,
            "x".repeat(70_000)
        );
        assert_eq!(parse(&big).unwrap_err().cause, Cause::SecretJsonInvalid);
    }
}

/// Hostile input never panics and always ends in a cause: property tests over the secret
/// JSON parser, with any JSON, control characters, Unicode and SQL fragments.
#[cfg(test)]
pub(crate) mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Any JSON value, nested a little.
    pub(crate) fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::hash_map(".{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const SQLISH: &[&str] = &[
        "'; DROP ROLE postgres; --",
        "\" OR 1=1 --",
        "`; DROP USER root; #",
        "\\'\\\"\\\\",
        "%",
        "\u{0}",
        "\u{202e}gnp.exe",
        "Ω≈ç√∫",
        "\n\r\t",
    ];

    /// Any string, an SQL fragment, or control characters.
    pub(crate) fn hostile_string() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,64}",
            prop::sample::select(SQLISH).prop_map(str::to_string),
            "[\\x00-\\x1f]{1,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_secret_text_parses_or_has_a_secret_json_cause(text in ".{0,200}") {
            if let Err(f) = DbSecret::parse(&text, SecretRole::Current) {
                prop_assert!(matches!(f.cause, Cause::SecretJsonInvalid | Cause::SecretJsonMissingKey | Cause::UnsupportedEngine));
            }
        }

        #[test]
        fn any_secret_object_parses_or_has_a_secret_json_cause(v in any_json(), engine in prop::sample::select(&["postgres", "mysql", "mariadb", "oracle", ""][..])) {
            let mut v = v;
            if let Value::Object(m) = &mut v {
                m.insert("engine".into(), json!(engine));
            }
            if let Err(f) = DbSecret::parse(&v.to_string(), SecretRole::Pending) {
                prop_assert!(matches!(f.cause, Cause::SecretJsonInvalid | Cause::SecretJsonMissingKey | Cause::UnsupportedEngine));
                prop_assert_eq!(&f.evidence.get("secret").cloned(), &Some(json!("pending")));
            }
        }

        #[test]
        fn hostile_credentials_are_carried_verbatim_and_never_printed(user in hostile_string(), pw in "[^\\x00-\\x1f]{6,64}", db in hostile_string()) {
            let v = json!({"engine": "postgres", "host": "db.example", "username": user, "password": pw, "dbname": db});
            match DbSecret::parse(&v.to_string(), SecretRole::Current) {
                Ok(s) => {
                    prop_assert_eq!(&s.username, &user);
                    prop_assert_eq!(s.password.expose(), pw.as_str());
                    let shown = format!("{:?}", s);
                    prop_assert!(!shown.contains(pw.as_str()));
                    let back: Value = serde_json::from_str(&s.to_secret_string()).unwrap();
                    prop_assert_eq!(back, v);
                }
                Err(f) => {
                    // Control characters in a username or dbname are refused, with the key named.
                    prop_assert_eq!(f.cause, Cause::SecretJsonInvalid);
                    let key = f.evidence.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                    prop_assert!(key == "username" || key == "dbname", "{}", key);
                }
            }
        }
    }

    #[test]
    fn oversized_secrets_are_refused_with_a_cause() {
        let big = json!({"engine": "postgres", "host": "h", "username": "u", "password": "p", "pad": "x".repeat(70_000)});
        let f = DbSecret::parse(&big.to_string(), SecretRole::Current).unwrap_err();
        assert_eq!(f.cause, Cause::SecretJsonInvalid);
        assert!(f.evidence["size_bytes"].as_u64().unwrap() > 65_536);
    }
}
