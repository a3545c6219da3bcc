//! The server's version and flavour (Oracle MySQL or MariaDB), parsed from `SELECT VERSION()`
//! or the handshake: what decides the password statement, the session settings and which
//! features (dual passwords, roles tables) exist.

/// The server family: decides the password statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Oracle MySQL (and Aurora MySQL, Percona).
    MySql,
    /// MariaDB.
    MariaDb,
}

/// A parsed `SELECT VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion {
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Patch version (0 when absent).
    pub patch: u16,
}

impl ServerVersion {
    /// Whether this version is `major.minor.patch` or later.
    pub fn at_least(&self, major: u16, minor: u16, patch: u16) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }
}

/// Parses a server version string: `8.0.36`, `9.1.0`, `5.7.44-log`, `8.0.mysql_aurora.3.05.2`,
/// `10.11.6-MariaDB-1:10.11.6+maria~deb12-log`, and the `5.5.5-10.11.6-MariaDB` form MariaDB
/// puts in its handshake for old clients. `None` when no `major.minor` can be read.
pub fn parse_version(text: &str) -> Option<ServerVersion> {
    let text = text.trim();
    let flavor = if text.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let text = match flavor {
        Flavor::MariaDb => text.strip_prefix("5.5.5-").unwrap_or(text),
        Flavor::MySql => text,
    };
    let mut parts = text.split('.');
    let mut number = |required: bool| -> Option<u16> {
        let part = parts.next();
        let digits: String = part
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) if required => None,
            Err(_) => Some(0),
        }
    };
    let major = number(true)?;
    let minor = number(true)?;
    let mut patch = number(false)?;
    // Aurora MySQL 3 (`8.0.mysql_aurora.3.x`) is compatible with MySQL 8.0.23 or later.
    if flavor == Flavor::MySql
        && (major, minor, patch) == (8, 0, 0)
        && text.contains("mysql_aurora.3")
    {
        patch = 23;
    }
    Some(ServerVersion {
        flavor,
        major,
        minor,
        patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_not_guessed() {
        use Flavor::*;
        let cases = [
            ("8.0.36", MySql, 8, 0, 36),
            ("8.4.0-log", MySql, 8, 4, 0),
            ("9.1.0", MySql, 9, 1, 0),
            ("5.7.44-log", MySql, 5, 7, 44),
            ("5.7.12", MySql, 5, 7, 12),
            ("8.0.mysql_aurora.3.05.2", MySql, 8, 0, 23),
            ("8.0.35-27", MySql, 8, 0, 35),
            ("10.11.6-MariaDB-0+deb12u1-log", MariaDb, 10, 11, 6),
            ("5.5.5-10.11.6-MariaDB", MariaDb, 10, 11, 6),
            ("11.4.2-MariaDB-ubu2404", MariaDb, 11, 4, 2),
            ("10.6.16-MariaDB-log", MariaDb, 10, 6, 16),
        ];
        for (text, flavor, major, minor, patch) in cases {
            assert_eq!(
                parse_version(text),
                Some(ServerVersion {
                    flavor,
                    major,
                    minor,
                    patch
                }),
                "{text}"
            );
        }
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("8"), None);
    }
}
