//! `SHOW CREATE USER`, read: the authentication plugins an account uses. The only place the
//! statement's text is read; the account name is skipped as a quoted token, so a hostile user
//! name cannot fake a clause.

use super::sql::read_quoted;

fn strip_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let s = s.trim_start();
    let head = s.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &s[keyword.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() || c == '\'' || c == '`' => Some(rest),
        Some(_) => None,
    }
}

fn read_word(s: &str) -> (String, &str) {
    let s = s.trim_start();
    if let Some((word, rest)) = read_quoted(s) {
        return (word, rest);
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(s.len());
    (s[..end].to_string(), &s[end..])
}

/// The authentication plugins named by `SHOW CREATE USER`. `Some(vec![])` means the account
/// has no IDENTIFIED clause (MariaDB: no password, native plugin); `None` means the text is
/// not a CREATE USER statement. Pinned by a unit test for MariaDB 10.x and MySQL 5.7/8.x
/// output.
pub fn plugins_from_create_user(text: &str) -> Option<Vec<String>> {
    let rest = strip_keyword(text, "CREATE")?;
    let rest = strip_keyword(rest, "USER")?.trim_start();
    let rest = strip_keyword(rest, "IF NOT EXISTS")
        .unwrap_or(rest)
        .trim_start();
    let (_, rest) = read_quoted(rest)?;
    let rest = rest.strip_prefix('@')?;
    let (_, rest) = read_quoted(rest)?;
    let Some(rest) = strip_keyword(rest, "IDENTIFIED") else {
        return Some(Vec::new());
    };
    if let Some(rest) = strip_keyword(rest, "BY") {
        // MariaDB: IDENTIFIED BY PASSWORD '*…' is mysql_native_password.
        return strip_keyword(rest, "PASSWORD").map(|_| vec!["mysql_native_password".into()]);
    }
    let mut rest = strip_keyword(rest, "VIA").or_else(|| strip_keyword(rest, "WITH"))?;
    let mut plugins = Vec::new();
    loop {
        let (plugin, after) = read_word(rest);
        if plugin.is_empty() {
            break;
        }
        plugins.push(plugin.to_ascii_lowercase());
        rest = after;
        if let Some(after) = strip_keyword(rest, "USING").or_else(|| strip_keyword(rest, "AS")) {
            let after = after.trim_start();
            rest = match strip_keyword(after, "PASSWORD") {
                Some(p) => p.trim_start().strip_prefix('(').unwrap_or(p),
                None => after,
            };
            let (_, after) = read_word(rest);
            rest = after.trim_start().strip_prefix(')').unwrap_or(after);
        }
        match strip_keyword(rest, "OR") {
            Some(after) => rest = after,
            None => break,
        }
    }
    Some(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_user_texts_are_pinned() {
        let native = Some(vec!["mysql_native_password".to_string()]);
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `exp1`@`%` IDENTIFIED BY PASSWORD '*5A16B96F22427812807BDB16DFC9F56C5F1CBC4A'"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `u`@`%` IDENTIFIED BY PASSWORD '*5A16B96F22427812807BDB16DFC9F56C5F1CBC4A' REQUIRE SSL"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `u`@`localhost` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'"),
            Some(vec!["ed25519".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket"),
            Some(vec!["mysql_native_password".to_string(), "unix_socket".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `nopw`@`%`"),
            Some(vec![])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$\u{1}x''y' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT"),
            Some(vec!["caching_sha2_password".to_string()])
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER 'app'@'%' IDENTIFIED WITH 'mysql_native_password' AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK"),
            native
        );
        // A user name that spells a clause does not fool the parser.
        assert_eq!(
            plugins_from_create_user(
                "CREATE USER `x IDENTIFIED VIA ed25519`@`%` IDENTIFIED BY PASSWORD '*AB'"
            ),
            native
        );
        assert_eq!(
            plugins_from_create_user("CREATE USER 'o\\'b''x'@'%' IDENTIFIED WITH sha256_password"),
            Some(vec!["sha256_password".to_string()])
        );
        assert_eq!(plugins_from_create_user("GRANT USAGE ON *.*"), None);
    }
}
