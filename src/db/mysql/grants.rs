//! `SHOW GRANTS`, understood: each line read into privileges on an object, role grants or a
//! default role, and the statements that make one account's grants equal to another's.
//!
//! Why text: `SHOW GRANTS` is the one view of an account's privileges that MySQL 5.x, MySQL
//! 8+/9 (dynamic privileges, roles, partial revokes) and MariaDB (roles) all offer, that needs
//! no SELECT on the grant tables, and whose object names come back quoted by the server
//! itself. Each line is tokenized (quoted names and literals are single tokens, so a
//! hostile name such as `` `x TO y` `` or a REQUIRE SUBJECT holding `GRANT OPTION` cannot
//! fake a keyword); the privilege list and the object are then reused verbatim, and only the
//! grantee is replaced. The session that runs `SHOW GRANTS` also runs the rewritten
//! statements, with `sql_quote_show_create = 1` and without `ANSI_QUOTES`, so the server's
//! quoting of the verbatim parts means the same when it reads them back.
//!
//! What is dropped from a line: the grantee, and everything after it except `WITH GRANT
//! OPTION` / `WITH ADMIN OPTION` (`IDENTIFIED BY PASSWORD '*…'`, `REQUIRE …` and resource
//! limits, which old servers print on the global line: the password is set separately, and
//! TLS requirements and limits are copied from `mysql.user`, whose columns are typed values
//! rather than literals escaped in a mode-dependent way).

use super::{read_quoted, Flavor};
use std::collections::{BTreeMap, BTreeSet};

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

/// What an account holds on one object, gathered from all its lines (MySQL 8 prints static
/// and dynamic global privileges on separate lines).
#[derive(Debug, Default, Clone)]
struct OnObject {
    set: BTreeSet<Privilege>,
    grant_option: bool,
    /// The lines as printed: (privilege list, grant option).
    lines: Vec<(String, bool)>,
}

#[derive(Debug, Default)]
struct Holdings {
    objects: BTreeMap<String, OnObject>,
    roles: BTreeMap<String, bool>,
    default_role: Option<String>,
    partial_revokes: BTreeMap<String, BTreeSet<Privilege>>,
}

fn holdings(lines: &[GrantLine]) -> Holdings {
    let mut h = Holdings::default();
    for line in lines {
        match line {
            GrantLine::Privileges {
                list,
                set,
                object,
                grant_option,
            } => {
                let o = h.objects.entry(object.clone()).or_default();
                o.set.extend(set.iter().cloned());
                o.grant_option |= grant_option;
                o.lines.push((list.clone(), *grant_option));
            }
            GrantLine::Roles { roles, admin } => {
                for r in roles {
                    *h.roles.entry(r.clone()).or_default() |= admin;
                }
            }
            GrantLine::DefaultRole(r) => h.default_role = Some(r.clone()),
            GrantLine::PartialRevoke { set, object, .. } => {
                h.partial_revokes
                    .entry(object.clone())
                    .or_default()
                    .extend(set.iter().cloned());
            }
        }
    }
    h
}

const ALL: &str = "ALL PRIVILEGES";
const PROXY: &str = "PROXY";

fn is_proxy(o: &OnObject) -> bool {
    o.set.iter().any(|(name, _)| name == PROXY)
}

/// Whether holding `set` gives privilege `p`: held as such, a column privilege held for the
/// whole table, or anything but PROXY under ALL PRIVILEGES.
fn covers(set: &BTreeSet<Privilege>, p: &Privilege) -> bool {
    set.contains(p)
        || (p.1.is_some() && set.contains(&(p.0.clone(), None)))
        || (p.0 != PROXY && set.contains(&(ALL.to_string(), None)))
}

/// `SELECT (`a`, `b`), INSERT`: privileges written for GRANT / REVOKE.
fn render(set: &BTreeSet<Privilege>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut columns: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, column) in set {
        match column {
            None => parts.push(name.clone()),
            Some(c) => columns.entry(name).or_default().push(c),
        }
    }
    for (name, cols) in columns {
        parts.push(format!("{name} ({})", cols.join(", ")));
    }
    parts.join(", ")
}

/// One statement of a grant sync, and what it is (`grant` or `revoke`, the statement kind of
/// a refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// `grant` or `revoke`.
    pub kind: &'static str,
    /// The statement.
    pub sql: String,
    /// The role granted, for a role grant (granting a role needs its ADMIN OPTION, which
    /// even a master with ALL PRIVILEGES may lack).
    pub role: Option<String>,
}

fn grant(sql: String) -> Planned {
    Planned {
        kind: "grant",
        sql,
        role: None,
    }
}

fn grant_role(role: &str, sql: String) -> Planned {
    Planned {
        kind: "grant",
        sql,
        role: Some(role.to_string()),
    }
}

fn revoke(sql: String) -> Planned {
    Planned {
        kind: "revoke",
        sql,
        role: None,
    }
}

/// The statements that give `target` (an account name already quoted for SQL) exactly the
/// grants of `source`, given both accounts' `SHOW GRANTS`. Empty when they already match.
///
/// Order, so that the target never lacks a privilege it should have for longer than one
/// statement: first every privilege, role and admin/grant option the target lacks is granted
/// (GRANT only adds); then the default role; then only what the target holds beyond the
/// source is revoked, privilege by privilege (`REVOKE INSERT ON db.* …`, `REVOKE GRANT OPTION
/// ON …`, `REVOKE role …`). The one exception: a target holding ALL PRIVILEGES on an object
/// where the source holds less cannot have "ALL minus some" revoked, so ALL is revoked and the
/// source's lines for that object are granted again at once. Revoking everything and granting
/// it back (`REVOKE ALL PRIVILEGES, GRANT OPTION FROM …`) would be simpler, but it would leave
/// the account without its privileges between the two, and the clone of alternating users is
/// synced while it may be the user in AWSCURRENT.
pub fn plan_sync(
    source: &[GrantLine],
    target: &[GrantLine],
    target_sql: &str,
    flavor: Flavor,
) -> Vec<Planned> {
    let src = holdings(source);
    let dst = holdings(target);
    let empty = OnObject::default();
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    let grant_lines = |o: &OnObject, object: &str, out: &mut Vec<Planned>| {
        for (list, go) in &o.lines {
            if list.eq_ignore_ascii_case("USAGE") && !go {
                continue;
            }
            let with = if *go { " WITH GRANT OPTION" } else { "" };
            out.push(grant(format!(
                "GRANT {list} ON {object} TO {target_sql}{with}"
            )));
        }
    };

    let mut global_granted = false;
    for (object, s) in &src.objects {
        let d = dst.objects.get(object).unwrap_or(&empty);
        let lacking =
            s.set.iter().any(|p| !covers(&d.set, p)) || (s.grant_option && !d.grant_option);
        if lacking {
            grant_lines(s, object, &mut adds);
            global_granted |= object == "*.*";
        }
    }
    for (role, admin) in &src.roles {
        if dst.roles.get(role).is_none_or(|d| *admin && !d) {
            let with = if *admin { " WITH ADMIN OPTION" } else { "" };
            adds.push(grant_role(
                role,
                format!("GRANT {role} TO {target_sql}{with}"),
            ));
        }
    }
    // MySQL 8 partial revokes are restrictions: the source's are applied (again after a
    // global GRANT, which may lift them), the target's own are lifted by granting them.
    for (object, set) in &src.partial_revokes {
        let have = dst.partial_revokes.get(object);
        let missing: BTreeSet<Privilege> = if global_granted {
            set.clone()
        } else {
            set.iter()
                .filter(|p| have.is_none_or(|h| !h.contains(*p)))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            adds.push(revoke(format!(
                "REVOKE {} ON {object} FROM {target_sql}",
                render(&missing)
            )));
        }
    }
    for (object, set) in &dst.partial_revokes {
        let keep = src.partial_revokes.get(object);
        let extra: BTreeSet<Privilege> = set
            .iter()
            .filter(|p| keep.is_none_or(|k| !k.contains(*p)))
            .cloned()
            .collect();
        if !extra.is_empty() {
            adds.push(grant(format!(
                "GRANT {} ON {object} TO {target_sql}",
                render(&extra)
            )));
        }
    }
    if src.default_role != dst.default_role {
        let role = src.default_role.as_deref().unwrap_or("NONE");
        adds.push(grant(format!("SET DEFAULT ROLE {role} FOR {target_sql}")));
    }

    for (object, d) in &dst.objects {
        let s = src.objects.get(object).unwrap_or(&empty);
        if is_proxy(d) {
            if d.set.iter().any(|p| !s.set.contains(p)) || (d.grant_option && !s.grant_option) {
                removes.push(revoke(format!(
                    "REVOKE PROXY ON {object} FROM {target_sql}"
                )));
                grant_lines(s, object, &mut removes);
            }
            continue;
        }
        let extra: BTreeSet<Privilege> = d
            .set
            .iter()
            .filter(|p| !covers(&s.set, p))
            .cloned()
            .collect();
        let drop_option = d.grant_option && !s.grant_option;
        if extra.iter().any(|(name, _)| name == ALL) {
            removes.push(revoke(format!(
                "REVOKE ALL PRIVILEGES ON {object} FROM {target_sql}"
            )));
            if drop_option {
                removes.push(revoke(format!(
                    "REVOKE GRANT OPTION ON {object} FROM {target_sql}"
                )));
            }
            grant_lines(s, object, &mut removes);
            continue;
        }
        if !extra.is_empty() {
            removes.push(revoke(format!(
                "REVOKE {} ON {object} FROM {target_sql}",
                render(&extra)
            )));
        }
        if drop_option {
            removes.push(revoke(format!(
                "REVOKE GRANT OPTION ON {object} FROM {target_sql}"
            )));
        }
    }
    for (role, admin) in &dst.roles {
        match src.roles.get(role) {
            None => removes.push(revoke(format!("REVOKE {role} FROM {target_sql}"))),
            Some(false) if *admin => match flavor {
                Flavor::MariaDb => removes.push(revoke(format!(
                    "REVOKE ADMIN OPTION FOR {role} FROM {target_sql}"
                ))),
                // MySQL has no REVOKE ADMIN OPTION FOR: revoke the role, grant it again.
                Flavor::MySql => {
                    removes.push(revoke(format!("REVOKE {role} FROM {target_sql}")));
                    removes.push(grant_role(role, format!("GRANT {role} TO {target_sql}")));
                }
            },
            Some(_) => {}
        }
    }
    adds.extend(removes);
    adds
}

/// The MySQL 8 statement that gives `target` the default roles `source_roles` (each an
/// account name already quoted for SQL), when its own `target_roles` differ. MySQL keeps
/// default roles in `mysql.default_roles`, not in `SHOW GRANTS`.
pub fn default_roles_statement(
    source_roles: &BTreeSet<String>,
    target_roles: &BTreeSet<String>,
    target_sql: &str,
) -> Option<Planned> {
    if source_roles == target_roles {
        return None;
    }
    let roles = if source_roles.is_empty() {
        "NONE".to_string()
    } else {
        source_roles.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Some(grant(format!("SET DEFAULT ROLE {roles} TO {target_sql}")))
}

/// Whether an account's own grants let it create users and grant privileges: CREATE USER (or
/// ALL PRIVILEGES) on `*.*` together with the global GRANT OPTION. Privileges that reach the
/// account only through a role are not counted.
pub fn can_manage_users(lines: &[GrantLine]) -> bool {
    let h = holdings(lines);
    h.objects.get("*.*").is_some_and(|g| {
        g.grant_option
            && (g.set.contains(&(ALL.to_string(), None))
                || g.set.contains(&("CREATE USER".to_string(), None)))
    })
}

/// Whether an account with these grants may keep a secondary password when it changes its
/// own (`RETAIN CURRENT PASSWORD`, MySQL 8.0.14+): APPLICATION_PASSWORD_ADMIN, CREATE USER or
/// ALL PRIVILEGES on `*.*`.
pub fn may_retain_current_password(lines: &[GrantLine]) -> bool {
    let h = holdings(lines);
    h.objects.get("*.*").is_some_and(|g| {
        [ALL, "CREATE USER", "APPLICATION_PASSWORD_ADMIN"]
            .iter()
            .any(|p| g.set.contains(&(p.to_string(), None)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, column: Option<&str>) -> Privilege {
        (name.to_string(), column.map(str::to_string))
    }

    fn lines(text: &[&str]) -> Vec<GrantLine> {
        parse_all(text).unwrap()
    }

    fn sqls(plan: &[Planned]) -> Vec<&str> {
        plan.iter().map(|p| p.sql.as_str()).collect()
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

    const T: &str = "`u_clone`@`%`";

    #[test]
    fn matching_grants_need_no_statement() {
        let grants = [
            "GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB'",
            "GRANT SELECT ON `d`.* TO `u`@`%` WITH GRANT OPTION",
            "GRANT `r` TO `u`@`%`",
            "SET DEFAULT ROLE `r` FOR `u`@`%`",
        ];
        let clone: Vec<String> = grants
            .iter()
            .map(|g| g.replace("`u`", "`u_clone`"))
            .collect();
        assert!(plan_sync(
            &lines(&grants),
            &parse_all(&clone).unwrap(),
            T,
            Flavor::MariaDb
        )
        .is_empty());
    }

    #[test]
    fn a_new_account_gets_every_grant_with_its_options() {
        let source = lines(&[
            "GRANT PROCESS ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB' REQUIRE SSL",
            "GRANT SELECT (`a`), INSERT ON `d`.`t` TO `u`@`%` WITH GRANT OPTION",
            "GRANT USAGE ON `e`.* TO `u`@`%` WITH GRANT OPTION",
            "GRANT `r` TO `u`@`%` WITH ADMIN OPTION",
            "SET DEFAULT ROLE `r` FOR `u`@`%`",
        ]);
        let target = lines(&["GRANT USAGE ON *.* TO `u_clone`@`%`"]);
        let plan = plan_sync(&source, &target, T, Flavor::MariaDb);
        assert_eq!(
            sqls(&plan),
            [
                "GRANT PROCESS ON *.* TO `u_clone`@`%`",
                "GRANT SELECT (`a`), INSERT ON `d`.`t` TO `u_clone`@`%` WITH GRANT OPTION",
                "GRANT USAGE ON `e`.* TO `u_clone`@`%` WITH GRANT OPTION",
                "GRANT `r` TO `u_clone`@`%` WITH ADMIN OPTION",
                "SET DEFAULT ROLE `r` FOR `u_clone`@`%`",
            ]
        );
        assert!(plan.iter().all(|p| p.kind == "grant"));
        let roles: Vec<_> = plan.iter().map(|p| p.role.as_deref()).collect();
        assert_eq!(roles, [None, None, None, Some("`r`"), None]);
    }

    #[test]
    fn only_what_the_target_holds_beyond_the_source_is_revoked_after_the_grants() {
        let source = lines(&[
            "GRANT USAGE ON *.* TO `u`@`%`",
            "GRANT SELECT, UPDATE ON `d`.* TO `u`@`%`",
            "GRANT SELECT (`a`) ON `d`.`t` TO `u`@`%`",
            "GRANT `keep` TO `u`@`%`",
        ]);
        let target = lines(&[
            "GRANT PROCESS ON *.* TO `u_clone`@`%`",
            "GRANT SELECT, INSERT ON `d`.* TO `u_clone`@`%` WITH GRANT OPTION",
            "GRANT SELECT (`a`, `b`) ON `d`.`t` TO `u_clone`@`%`",
            "GRANT DELETE ON `gone`.* TO `u_clone`@`%` WITH GRANT OPTION",
            "GRANT `keep` TO `u_clone`@`%` WITH ADMIN OPTION",
            "GRANT `extra` TO `u_clone`@`%`",
            "SET DEFAULT ROLE `extra` FOR `u_clone`@`%`",
        ]);
        let plan = plan_sync(&source, &target, T, Flavor::MariaDb);
        assert_eq!(
            sqls(&plan),
            [
                // UPDATE is missing on d.*: the source's line is granted (adds only).
                "GRANT SELECT, UPDATE ON `d`.* TO `u_clone`@`%`",
                "SET DEFAULT ROLE NONE FOR `u_clone`@`%`",
                "REVOKE PROCESS ON *.* FROM `u_clone`@`%`",
                "REVOKE INSERT ON `d`.* FROM `u_clone`@`%`",
                "REVOKE GRANT OPTION ON `d`.* FROM `u_clone`@`%`",
                "REVOKE SELECT (`b`) ON `d`.`t` FROM `u_clone`@`%`",
                "REVOKE DELETE ON `gone`.* FROM `u_clone`@`%`",
                "REVOKE GRANT OPTION ON `gone`.* FROM `u_clone`@`%`",
                "REVOKE `extra` FROM `u_clone`@`%`",
                "REVOKE ADMIN OPTION FOR `keep` FROM `u_clone`@`%`",
            ]
        );
        let kinds: Vec<_> = plan.iter().map(|p| p.kind).collect();
        assert_eq!(kinds[..2], ["grant", "grant"]);
        assert!(kinds[2..].iter().all(|k| *k == "revoke"));
    }

    #[test]
    fn all_privileges_is_revoked_whole_and_the_source_granted_again_at_once() {
        let source = lines(&["GRANT SELECT ON `d`.* TO `u`@`%`"]);
        let target = lines(&["GRANT ALL PRIVILEGES ON `d`.* TO `u_clone`@`%` WITH GRANT OPTION"]);
        assert_eq!(
            sqls(&plan_sync(&source, &target, T, Flavor::MariaDb)),
            [
                "REVOKE ALL PRIVILEGES ON `d`.* FROM `u_clone`@`%`",
                "REVOKE GRANT OPTION ON `d`.* FROM `u_clone`@`%`",
                "GRANT SELECT ON `d`.* TO `u_clone`@`%`",
            ]
        );
        // The other way round ALL covers SELECT: grant ALL, revoke nothing.
        let plan = plan_sync(&target, &source, T, Flavor::MariaDb);
        assert_eq!(
            sqls(&plan),
            ["GRANT ALL PRIVILEGES ON `d`.* TO `u_clone`@`%` WITH GRANT OPTION"]
        );
    }

    #[test]
    fn proxy_grants_are_copied_and_removed_as_proxy() {
        let source = lines(&["GRANT PROXY ON `a`@`%` TO `u`@`%`"]);
        let target = lines(&["GRANT PROXY ON `b`@`%` TO `u_clone`@`%`"]);
        assert_eq!(
            sqls(&plan_sync(&source, &target, T, Flavor::MariaDb)),
            [
                "GRANT PROXY ON `a`@`%` TO `u_clone`@`%`",
                "REVOKE PROXY ON `b`@`%` FROM `u_clone`@`%`",
            ]
        );
    }

    #[test]
    fn mysql8_roles_partial_revokes_and_default_roles() {
        let source = lines(&[
            "GRANT SELECT, INSERT ON *.* TO `u`@`%`",
            "REVOKE INSERT ON `mysql`.* FROM `u`@`%`",
            "GRANT `r1`@`%` TO `u`@`%`",
        ]);
        let target = lines(&[
            "GRANT USAGE ON *.* TO `u_clone`@`%`",
            "REVOKE SELECT ON `sys`.* FROM `u_clone`@`%`",
            "GRANT `r1`@`%`,`r2`@`%` TO `u_clone`@`%` WITH ADMIN OPTION",
        ]);
        assert_eq!(
            sqls(&plan_sync(&source, &target, T, Flavor::MySql)),
            [
                "GRANT SELECT, INSERT ON *.* TO `u_clone`@`%`",
                "REVOKE INSERT ON `mysql`.* FROM `u_clone`@`%`",
                "GRANT SELECT ON `sys`.* TO `u_clone`@`%`",
                "REVOKE `r1`@`%` FROM `u_clone`@`%`",
                "GRANT `r1`@`%` TO `u_clone`@`%`",
                "REVOKE `r2`@`%` FROM `u_clone`@`%`",
            ]
        );
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            default_roles_statement(&roles(&["`r1`@`%`"]), &roles(&["`r1`@`%`"]), T),
            None
        );
        assert_eq!(
            default_roles_statement(&roles(&["`r1`@`%`", "`r2`@`%`"]), &roles(&[]), T)
                .unwrap()
                .sql,
            "SET DEFAULT ROLE `r1`@`%`, `r2`@`%` TO `u_clone`@`%`"
        );
        assert_eq!(
            default_roles_statement(&roles(&[]), &roles(&["`r1`@`%`"]), T)
                .unwrap()
                .sql,
            "SET DEFAULT ROLE NONE TO `u_clone`@`%`"
        );
    }

    #[test]
    fn managing_users_needs_create_user_and_the_global_grant_option() {
        let yes = [
            &["GRANT ALL PRIVILEGES ON *.* TO `m`@`%` IDENTIFIED BY PASSWORD '*AB' WITH GRANT OPTION"][..],
            &["GRANT SELECT, CREATE USER ON *.* TO `m`@`%` WITH GRANT OPTION"][..],
            // RDS MySQL's master: a long list, GRANT OPTION at the end.
            &["GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER ON *.* TO 'admin'@'%' WITH GRANT OPTION"][..],
        ];
        for g in yes {
            assert!(can_manage_users(&lines(g)), "{g:?}");
        }
        let no = [
            &["GRANT CREATE USER ON *.* TO `m`@`%`"][..],
            &["GRANT SELECT ON *.* TO `m`@`%` WITH GRANT OPTION"][..],
            &[
                "GRANT USAGE ON *.* TO `m`@`%`",
                "GRANT ALL PRIVILEGES ON `d`.* TO `m`@`%` WITH GRANT OPTION",
            ][..],
        ];
        for g in no {
            assert!(!can_manage_users(&lines(g)), "{g:?}");
        }
    }
}
