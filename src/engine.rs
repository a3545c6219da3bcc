//! Engine facts: what each `engine` value of a secret implies before any connection (its
//! family, default port and database, the characters a generated password leaves out, the
//! longest user name, and how that is counted). Everything outside `src/db/` asks these
//! methods instead of matching on the engine.

use std::fmt;

/// The database family: decides the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFamily {
    /// postgres, aurora-postgresql.
    Postgres,
    /// mysql, aurora-mysql, mariadb.
    MySql,
}

impl EngineFamily {
    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            EngineFamily::Postgres => 5432,
            EngineFamily::MySql => 3306,
        }
    }

    /// Whether an account can keep a secondary password beside its primary one (MySQL
    /// 8.0.14+ `RETAIN CURRENT PASSWORD`; the server version decides at connect time).
    pub fn may_have_secondary_password(self) -> bool {
        matches!(self, EngineFamily::MySql)
    }

    /// The name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineFamily::Postgres => "postgres",
            EngineFamily::MySql => "mysql",
        }
    }
}

/// A supported `engine` value of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `postgres`.
    Postgres,
    /// `aurora-postgresql`.
    AuroraPostgresql,
    /// `mysql`.
    MySql,
    /// `aurora-mysql`.
    AuroraMySql,
    /// `mariadb`.
    MariaDb,
}

/// How a user-name limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameUnit {
    /// UTF-8 bytes (PostgreSQL identifiers).
    Bytes,
    /// Characters (MySQL and MariaDB user names).
    Characters,
}

impl NameUnit {
    /// The length of `name` in this unit.
    pub fn length(self, name: &str) -> usize {
        match self {
            NameUnit::Bytes => name.len(),
            NameUnit::Characters => name.chars().count(),
        }
    }

    /// The unit in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            NameUnit::Bytes => "bytes",
            NameUnit::Characters => "characters",
        }
    }
}

/// The longest user name an engine accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameLimit {
    /// The most `unit`s a name may have.
    pub max: usize,
    /// How names are counted.
    pub unit: NameUnit,
    /// Whether the limit is `USERNAME_CHARACTER_LIMIT` (and can be raised there).
    pub configured: bool,
}

impl Engine {
    /// Every supported engine.
    pub const ALL: [Engine; 5] = [
        Engine::Postgres,
        Engine::AuroraPostgresql,
        Engine::MySql,
        Engine::AuroraMySql,
        Engine::MariaDb,
    ];

    /// The engine an `engine` value names (exactly as the reference functions spell them).
    pub fn parse(value: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.as_str() == value)
    }

    /// The `engine` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::AuroraPostgresql => "aurora-postgresql",
            Engine::MySql => "mysql",
            Engine::AuroraMySql => "aurora-mysql",
            Engine::MariaDb => "mariadb",
        }
    }

    /// Its family (the driver that speaks to it).
    pub fn family(self) -> EngineFamily {
        match self {
            Engine::Postgres | Engine::AuroraPostgresql => EngineFamily::Postgres,
            Engine::MySql | Engine::AuroraMySql | Engine::MariaDb => EngineFamily::MySql,
        }
    }

    /// The port when the secret names none.
    pub fn default_port(self) -> u16 {
        self.family().default_port()
    }

    /// The database when the secret names none: PostgreSQL always connects to one
    /// (`postgres`, as the reference does); MySQL and MariaDB need none.
    pub fn default_database(self) -> Option<&'static str> {
        match self.family() {
            EngineFamily::Postgres => Some("postgres"),
            EngineFamily::MySql => None,
        }
    }

    /// The characters GetRandomPassword leaves out when `EXCLUDE_CHARACTERS` is unset: the
    /// reference functions' defaults (PostgreSQL also leaves out `:`, which libpq
    /// connection URIs cannot hold unescaped).
    pub fn default_excluded_characters(self) -> &'static str {
        match self.family() {
            EngineFamily::Postgres => ":/@\"'\\",
            EngineFamily::MySql => "/@\"'\\",
        }
    }

    /// The longest user name: PostgreSQL truncates identifiers beyond 63 bytes
    /// (NAMEDATALEN - 1); MariaDB allows 80 characters; MySQL and Aurora MySQL take
    /// `configured` (`USERNAME_CHARACTER_LIMIT`, 16 by default as in the reference, for
    /// MySQL 5.6).
    pub fn username_limit(self, configured: usize) -> NameLimit {
        match self {
            Engine::Postgres | Engine::AuroraPostgresql => NameLimit {
                max: 63,
                unit: NameUnit::Bytes,
                configured: false,
            },
            Engine::MariaDb => NameLimit {
                max: 80,
                unit: NameUnit::Characters,
                configured: false,
            },
            Engine::MySql | Engine::AuroraMySql => NameLimit {
                max: configured,
                unit: NameUnit::Characters,
                configured: true,
            },
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_value_round_trips_and_nothing_else_parses() {
        for e in Engine::ALL {
            assert_eq!(Engine::parse(e.as_str()), Some(e));
        }
        assert_eq!(Engine::parse("oracle"), None);
        assert_eq!(Engine::parse("Postgres"), None);
    }

    #[test]
    fn facts_follow_the_reference_functions() {
        assert_eq!(Engine::AuroraPostgresql.default_port(), 5432);
        assert_eq!(Engine::MariaDb.default_port(), 3306);
        assert_eq!(Engine::Postgres.default_database(), Some("postgres"));
        assert_eq!(Engine::MySql.default_database(), None);
        assert_eq!(Engine::Postgres.default_excluded_characters(), ":/@\"'\\");
        assert_eq!(Engine::MariaDb.default_excluded_characters(), "/@\"'\\");
        assert_eq!(Engine::MariaDb.username_limit(16).max, 80);
        let my = Engine::AuroraMySql.username_limit(32);
        assert_eq!((my.max, my.configured), (32, true));
        assert_eq!(NameUnit::Bytes.length("é"), 2);
        assert_eq!(NameUnit::Characters.length("é"), 1);
    }
}
