//! SQL text for MySQL and MariaDB: account names, string literals, the
//! `mysql_native_password` hash, reading a quoted token back, and the session settings sent
//! before any literal.
//!
//! String literals: the session is switched to `NO_BACKSLASH_ESCAPES` before any literal is
//! sent, and quotes are doubled, so a literal means the same under any global `sql_mode`.
//! Identifiers and account names are backtick-quoted (backticks never treat a backslash as an
//! escape).

use super::version::{Flavor, ServerVersion};
use crate::db::quote_ident;
use sha1::{Digest, Sha1};
use std::time::Duration;

/// A MySQL account: user and host part, as `CURRENT_USER()` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User name.
    pub user: String,
    /// Host part (`%`, `127.0.0.1`, `10.0.%`, …).
    pub host: String,
}

impl Account {
    /// Splits `user@host` (the host part never contains `@`; a user name may).
    pub fn parse(current_user: &str) -> Option<Account> {
        let (user, host) = current_user.rsplit_once('@')?;
        Some(Account {
            user: user.to_string(),
            host: host.to_string(),
        })
    }

    /// The account name for SQL, backtick-quoted.
    pub fn sql(&self) -> String {
        format!(
            "{}@{}",
            quote_ident(&self.user, '`'),
            quote_ident(&self.host, '`')
        )
    }
}

/// A string literal that means the same under any `sql_mode` once the session has
/// `NO_BACKSLASH_ESCAPES` (set before every literal is sent): quotes doubled, nothing else
/// escaped.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The `mysql_native_password` hash: `*` + upper hex SHA1(SHA1(password)); the empty
/// password hashes to the empty string, as the server stores it.
pub fn native_password_hash(password: &str) -> String {
    if password.is_empty() {
        return String::new();
    }
    let inner = Sha1::digest(password.as_bytes());
    let outer = Sha1::digest(inner);
    let mut out = String::with_capacity(41);
    out.push('*');
    for b in outer {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Reads one quoted token (backtick, single or double quote) at the start of `s`, as the
/// server prints it: the doubled quote is a quote, and inside `'` or `"` a backslash escapes
/// the next character. Returns the unescaped value and the rest; `None` when `s` does not
/// start with a quote or the quote is not closed.
pub(crate) fn read_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    if !matches!(quote, '`' | '\'' | '"') {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    let mut pending_quote = false;
    for (i, c) in chars {
        if pending_quote {
            if c == quote {
                out.push(c);
                pending_quote = false;
                continue;
            }
            return Some((out, &s[i..]));
        }
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' && quote != '`' {
            escaped = true;
        } else if c == quote {
            pending_quote = true;
        } else {
            out.push(c);
        }
    }
    pending_quote.then_some((out, ""))
}

/// Session settings sent before a password change: `NO_BACKSLASH_ESCAPES` (literals mean the
/// same under any global `sql_mode`), and a lock wait / statement time that ends within the
/// budget, so a blocked ALTER USER is cancelled by the server itself before the deadline.
pub fn session_settings(version: Option<&ServerVersion>, budget: Duration) -> String {
    format!(
        "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_BACKSLASH_ESCAPES'){}",
        session_timeouts(version, budget)
    )
}

/// The timeouts part of [`session_settings`]: `, SESSION lock_wait_timeout = …` and the
/// server's statement time limit, all ending within `budget` (see [`server_limit`]).
pub(crate) fn session_timeouts(version: Option<&ServerVersion>, budget: Duration) -> String {
    let limit = server_limit(budget);
    let ms = limit.as_millis().max(1);
    let secs = limit.as_secs().max(1);
    let mut sql = format!(", SESSION lock_wait_timeout = {secs}");
    match version {
        Some(v) if v.flavor == Flavor::MariaDb && v.at_least(10, 1, 1) => {
            sql.push_str(&format!(
                ", SESSION max_statement_time = {}.{:03}",
                ms / 1000,
                ms % 1000
            ));
        }
        Some(v) if v.flavor == Flavor::MySql && v.at_least(5, 7, 8) => {
            sql.push_str(&format!(", SESSION max_execution_time = {ms}"));
        }
        _ => {}
    }
    sql
}

/// The server's own time limits end a tenth of the budget (at most 250 ms) before it. The
/// server starts its clock when the statement arrives, after the budget was read: a limit of
/// the whole budget would end just after the client's deadline, and the deadline, not the
/// server's cancellation (whose error names the lock wait), would end the statement.
fn server_limit(budget: Duration) -> Duration {
    budget - (budget / 10).min(Duration::from_millis(250))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::mysql::version::parse_version;

    #[test]
    fn native_hash_matches_the_server() {
        assert_eq!(
            native_password_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert_eq!(native_password_hash(""), "");
        // Non-ASCII is hashed as UTF-8, as the server hashes what the client sends.
        assert_eq!(native_password_hash("pä'ss\\").len(), 41);
    }

    #[test]
    fn literals_double_quotes_and_leave_backslashes() {
        assert_eq!(quote_literal("a'b\\c"), "'a''b\\c'");
        assert_eq!(quote_literal("''"), "''''''");
        assert_eq!(quote_literal("ü"), "'ü'");
        let acct = Account::parse("we`ird'%\\U@ser@127.0.0.1").unwrap();
        assert_eq!(acct.user, "we`ird'%\\U@ser");
        assert_eq!(acct.host, "127.0.0.1");
        assert_eq!(acct.sql(), "`we``ird'%\\U@ser`@`127.0.0.1`");
    }

    #[test]
    fn session_settings_fit_the_budget() {
        let maria = parse_version("10.11.6-MariaDB");
        let mysql8 = parse_version("8.0.36");
        // The server's limits end before the budget: 250 ms (at most) for its answer.
        let s = session_settings(maria.as_ref(), Duration::from_millis(3100));
        assert!(s.contains("NO_BACKSLASH_ESCAPES"), "{s}");
        assert!(s.contains("lock_wait_timeout = 2,"), "{s}");
        assert!(s.ends_with("max_statement_time = 2.850"), "{s}");
        let s = session_settings(mysql8.as_ref(), Duration::from_millis(300));
        assert!(s.contains("lock_wait_timeout = 1,"), "{s}");
        assert!(s.ends_with("max_execution_time = 270"), "{s}");
        let s = session_settings(None, Duration::ZERO);
        assert!(s.ends_with("lock_wait_timeout = 1"), "{s}");
    }
}
