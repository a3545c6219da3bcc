//! `SHOW GRANTS` lines, read: each line tokenized (quoted names and literals are single
//! tokens, so a hostile name such as `` `x TO y` `` or a REQUIRE SUBJECT holding `GRANT OPTION`
//! cannot fake a keyword) and read into privileges on an object, role grants, a default role
//! or a partial revoke, without its grantee. The privilege list and the object are kept as the
//! server printed them, to be reused verbatim.
//!
//! What is dropped from a line: the grantee, and everything after it except `WITH GRANT
//! OPTION` / `WITH ADMIN OPTION` (`IDENTIFIED BY PASSWORD '*…'`, `REQUIRE …` and resource
//! limits, which old servers print on the global line: the password is set separately, and
//! TLS requirements and limits are copied from `mysql.user`, whose columns are typed values
//! rather than literals escaped in a mode-dependent way).

use crate::db::mysql::sql::read_quoted;
use std::collections::BTreeSet;

/// One token of a `SHOW GRANTS` line, with its byte span in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    /// An unquoted word (keyword, privilege name, `*.*`, `.`, a number).
    Word(&'a str),
    /// A quoted name or literal (backtick, single or double quote), unescaped.
    Quoted(String),
    /// `(`, `)`, `,`, `@` or `;`.
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

impl Token<'_> {
    fn is_word(&self, keyword: &str) -> bool {
        matches!(self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
}

fn is_punct(c: char) -> bool {
    matches!(c, '(' | ')' | ',' | '@' | ';')
}

fn tokenize(line: &str) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = line[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let (tok, end) = if matches!(c, '`' | '\'' | '"') {
            let (value, after) = read_quoted(&line[i..])?;
            (Tok::Quoted(value), line.len() - after.len())
        } else if is_punct(c) {
            (Tok::Punct(c), i + 1)
        } else {
            let rest = &line[i..];
            let len = rest
                .find(|c: char| c.is_whitespace() || is_punct(c) || matches!(c, '`' | '\'' | '"'))
                .unwrap_or(rest.len());
            (Tok::Word(&rest[..len]), i + len)
        };
        out.push(Token { tok, start: i, end });
        i = end;
    }
    Some(out)
}

/// The index of the first unparenthesized token that is `keyword`.
fn find_word(tokens: &[Token<'_>], keyword: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            _ if depth == 0 && t.is_word(keyword) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits at unparenthesized commas.
fn split_commas<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Punct(',') if depth == 0 => {
                parts.push(&tokens[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[from..]);
    parts
}

fn span<'a>(line: &'a str, tokens: &[Token<'_>]) -> Option<&'a str> {
    Some(&line[tokens.first()?.start..tokens.last()?.end])
}

/// One privilege: its name (upper case, single-spaced: `SELECT`, `CREATE TEMPORARY TABLES`,
/// `ALL PRIVILEGES`) and, for a column privilege, the column as the server quoted it.
pub type Privilege = (String, Option<String>);

/// One line of `SHOW GRANTS FOR account`, without its grantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantLine {
    /// `GRANT <privileges> ON <object> TO … [WITH GRANT OPTION]`.
    Privileges {
        /// The privilege list as printed (reused verbatim in GRANT).
        list: String,
        /// The privileges, one per column for column privileges; `USAGE` left out.
        set: BTreeSet<Privilege>,
        /// The object as printed: `*.*`, `` `db`.* ``, `` `db`.`t` ``, `` PROCEDURE `db`.`p` ``,
        /// or the proxied account of a PROXY grant.
        object: String,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
    },
    /// `GRANT <role>[, <role>…] TO … [WITH ADMIN OPTION]` (MariaDB roles, MySQL 8 roles).
    Roles {
        /// Each role as printed (MariaDB `` `r` ``, MySQL `` `r`@`%` ``).
        roles: Vec<String>,
        /// `WITH ADMIN OPTION`.
        admin: bool,
    },
    /// `SET DEFAULT ROLE <role> FOR …` (MariaDB).
    DefaultRole(String),
    /// `REVOKE <privileges> ON <object> FROM …` (MySQL 8 partial revokes).
    PartialRevoke {
        /// The privilege list as printed.
        list: String,
        /// The privileges.
        set: BTreeSet<Privilege>,
        /// The object as printed.
        object: String,
    },
}

/// A `SHOW GRANTS` line this module cannot read. Carries no text of the line: the global
/// line of older servers holds the account's password hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SHOW GRANTS line could not be read ({0})")]
pub struct Unreadable(pub &'static str);

fn privileges(line: &str, tokens: &[Token<'_>]) -> Result<BTreeSet<Privilege>, Unreadable> {
    let mut set = BTreeSet::new();
    for item in split_commas(tokens) {
        let open = item.iter().position(|t| t.is_punct('('));
        let words = &item[..open.unwrap_or(item.len())];
        let mut name = Vec::new();
        for t in words {
            match t.tok {
                Tok::Word(w) => name.push(w.to_ascii_uppercase()),
                _ => return Err(Unreadable("privilege name")),
            }
        }
        if name.is_empty() {
            return Err(Unreadable("empty privilege"));
        }
        let name = name.join(" ");
        match open {
            None if name == "USAGE" => {}
            None => {
                set.insert((name, None));
            }
            Some(open) => {
                let close = item
                    .iter()
                    .rposition(|t| t.is_punct(')'))
                    .filter(|&c| c > open && c == item.len() - 1)
                    .ok_or(Unreadable("column list"))?;
                for column in split_commas(&item[open + 1..close]) {
                    let column = span(line, column).ok_or(Unreadable("empty column"))?;
                    set.insert((name.clone(), Some(column.to_string())));
                }
            }
        }
    }
    Ok(set)
}

/// Skips the grantee (`user@host`, or a lone name) at the start of `tokens`.
fn skip_grantee<'t, 'a>(tokens: &'t [Token<'a>]) -> Result<&'t [Token<'a>], Unreadable> {
    match tokens {
        [_, at, _, rest @ ..] if at.is_punct('@') => Ok(rest),
        [_, rest @ ..] => Ok(rest),
        [] => Err(Unreadable("no grantee")),
    }
}

fn has_pair(tokens: &[Token<'_>], first: &str, second: &str) -> bool {
    tokens
        .windows(2)
        .any(|w| w[0].is_word(first) && w[1].is_word(second))
}

/// Reads one `SHOW GRANTS` line.
pub fn parse_line(line: &str) -> Result<GrantLine, Unreadable> {
    let tokens = tokenize(line).ok_or(Unreadable("unterminated quote"))?;
    let Some(first) = tokens.first() else {
        return Err(Unreadable("empty line"));
    };
    if first.is_word("SET") {
        // SET DEFAULT ROLE <role> FOR <grantee>
        let for_at = find_word(&tokens, "FOR").ok_or(Unreadable("SET without FOR"))?;
        if !(tokens.len() > 3 && tokens[1].is_word("DEFAULT") && tokens[2].is_word("ROLE")) {
            return Err(Unreadable("SET other than DEFAULT ROLE"));
        }
        let role = span(line, &tokens[3..for_at]).ok_or(Unreadable("no default role"))?;
        return Ok(GrantLine::DefaultRole(role.to_string()));
    }
    let revoke = first.is_word("REVOKE");
    if !revoke && !first.is_word("GRANT") {
        return Err(Unreadable("neither GRANT, REVOKE nor SET"));
    }
    let to_at =
        find_word(&tokens, if revoke { "FROM" } else { "TO" }).ok_or(Unreadable("no grantee"))?;
    let head = &tokens[1..to_at];
    let tail = skip_grantee(&tokens[to_at + 1..])?;
    match find_word(head, "ON") {
        Some(on_at) => {
            let list_tokens = &head[..on_at];
            let list = span(line, list_tokens)
                .ok_or(Unreadable("no privileges"))?
                .to_string();
            let set = privileges(line, list_tokens)?;
            let object = span(line, &head[on_at + 1..])
                .ok_or(Unreadable("no object"))?
                .to_string();
            Ok(if revoke {
                GrantLine::PartialRevoke { list, set, object }
            } else {
                GrantLine::Privileges {
                    list,
                    set,
                    object,
                    grant_option: has_pair(tail, "GRANT", "OPTION"),
                }
            })
        }
        None if !revoke => {
            let mut roles = Vec::new();
            for role in split_commas(head) {
                roles.push(
                    span(line, role)
                        .ok_or(Unreadable("empty role"))?
                        .to_string(),
                );
            }
            Ok(GrantLine::Roles {
                roles,
                admin: has_pair(tail, "ADMIN", "OPTION"),
            })
        }
        None => Err(Unreadable("REVOKE without ON")),
    }
}

/// Reads every line; the first unreadable one is reported by its position.
pub fn parse_all<S: AsRef<str>>(lines: &[S]) -> Result<Vec<GrantLine>, (usize, Unreadable)> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(l.as_ref()).map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, column: Option<&str>) -> Privilege {
        (name.to_string(), column.map(str::to_string))
    }

    #[test]
    fn mariadb_show_grants_lines_are_read() {
        // Verbatim MariaDB 10.11 output for a hostile user name, with a REQUIRE SUBJECT that
        // spells a clause, and a role.
        let l = parse_line("GRANT PROCESS ON *.* TO `x'y``z%U`@`%` IDENTIFIED BY PASSWORD '*0D3CED9BEC10A777AEC23CCC353A8C08A633045E' REQUIRE ISSUER 'x\"y' SUBJECT '/CN=a\\\\b'' WITH GRANT OPTION' WITH MAX_QUERIES_PER_HOUR 5").unwrap();
        assert_eq!(
            l,
            GrantLine::Privileges {
                list: "PROCESS".into(),
                set: [p("PROCESS", None)].into(),
                object: "*.*".into(),
                grant_option: false,
            }
        );
        let l = parse_line(
            "GRANT SELECT (`a`), INSERT, UPDATE (`b`, `c``d`) ON `explore_db`.`t` TO `x'y``z%U`@`%` WITH GRANT OPTION",
        )
        .unwrap();
        assert_eq!(
            l,
            GrantLine::Privileges {
                list: "SELECT (`a`), INSERT, UPDATE (`b`, `c``d`)".into(),
                set: [
                    p("SELECT", Some("`a`")),
                    p("INSERT", None),
                    p("UPDATE", Some("`b`")),
                    p("UPDATE", Some("`c``d`"))
                ]
                .into(),
                object: "`explore_db`.`t`".into(),
                grant_option: true,
            }
        );
        let l = parse_line("GRANT USAGE ON *.* TO `u`@`127.0.0.1`").unwrap();
        assert!(matches!(l, GrantLine::Privileges { ref set, .. } if set.is_empty()));
        assert_eq!(
            parse_line("GRANT `explore_role` TO `x'y``z%U`@`%` WITH ADMIN OPTION").unwrap(),
            GrantLine::Roles {
                roles: vec!["`explore_role`".into()],
                admin: true
            }
        );
        assert_eq!(
            parse_line("SET DEFAULT ROLE `explore_role` FOR `x'y``z%U`@`%`").unwrap(),
            GrantLine::DefaultRole("`explore_role`".into())
        );
        let l =
            parse_line("GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION").unwrap();
        assert!(
            matches!(l, GrantLine::Privileges { ref object, grant_option: true, .. } if object == "``@`%`")
        );
        let l =
            parse_line("GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `db`.`p` TO `u`@`%`").unwrap();
        assert!(
            matches!(l, GrantLine::Privileges { ref object, ref set, .. } if object == "PROCEDURE `db`.`p`" && set.contains(&p("ALTER ROUTINE", None)))
        );
        // A name that spells TO, ON and WITH GRANT OPTION is one token.
        let l =
            parse_line("GRANT SELECT ON `a TO b`.`ON x WITH GRANT OPTION` TO `TO`@`ON`").unwrap();
        assert!(
            matches!(l, GrantLine::Privileges { ref object, grant_option: false, .. } if object == "`a TO b`.`ON x WITH GRANT OPTION`")
        );
    }

    #[test]
    fn mysql_show_grants_lines_are_read() {
        // MySQL 5.7: account names as string literals.
        let l = parse_line("GRANT SELECT, CREATE TEMPORARY TABLES ON `app`.* TO 'o\\'b'@'10.0.%' WITH GRANT OPTION").unwrap();
        assert!(
            matches!(l, GrantLine::Privileges { ref set, grant_option: true, .. } if set.contains(&p("CREATE TEMPORARY TABLES", None)))
        );
        // MySQL 8: dynamic privileges without spaces, role grants with hosts, partial revokes.
        let l = parse_line("GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `u`@`%`").unwrap();
        assert!(matches!(l, GrantLine::Privileges { ref set, .. } if set.len() == 2));
        assert_eq!(
            parse_line("GRANT `r1`@`%`,`r2`@`localhost` TO `u`@`%`").unwrap(),
            GrantLine::Roles {
                roles: vec!["`r1`@`%`".into(), "`r2`@`localhost`".into()],
                admin: false
            }
        );
        assert!(matches!(
            parse_line("REVOKE INSERT ON `mysql`.* FROM `u`@`%`").unwrap(),
            GrantLine::PartialRevoke { ref object, .. } if object == "`mysql`.*"
        ));
    }

    #[test]
    fn unreadable_lines_are_refused_without_their_text() {
        for bad in [
            "",
            "GRANT SELECT ON `db`.* TO `unterminated",
            "CREATE USER `u`@`%`",
            "GRANT SELECT ON `db`.*",
            "REVOKE `r` FROM `u`@`%`",
        ] {
            let err = parse_line(bad).unwrap_err();
            assert!(!err.to_string().contains('`'), "{err}");
        }
        let (i, _) = parse_all(&["GRANT USAGE ON *.* TO `u`@`%`", "garbage"]).unwrap_err();
        assert_eq!(i, 1);
    }
}
