//! What an account holds, gathered from all its `SHOW GRANTS` lines (MySQL 8 prints static
//! and dynamic global privileges on separate lines), and what that lets it do.

use super::parse::{GrantLine, Privilege};
use std::collections::{BTreeMap, BTreeSet};

/// What an account holds on one object, gathered from all its lines (MySQL 8 prints static
/// and dynamic global privileges on separate lines).
#[derive(Debug, Default, Clone)]
pub(super) struct OnObject {
    pub(super) set: BTreeSet<Privilege>,
    pub(super) grant_option: bool,
    /// The lines as printed: (privilege list, grant option).
    pub(super) lines: Vec<(String, bool)>,
}

#[derive(Debug, Default)]
pub(super) struct Holdings {
    pub(super) objects: BTreeMap<String, OnObject>,
    pub(super) roles: BTreeMap<String, bool>,
    pub(super) default_role: Option<String>,
    pub(super) partial_revokes: BTreeMap<String, BTreeSet<Privilege>>,
}

pub(super) fn holdings(lines: &[GrantLine]) -> Holdings {
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

pub(super) const ALL: &str = "ALL PRIVILEGES";
pub(super) const PROXY: &str = "PROXY";

pub(super) fn is_proxy(o: &OnObject) -> bool {
    o.set.iter().any(|(name, _)| name == PROXY)
}

/// Whether holding `set` gives privilege `p`: held as such, a column privilege held for the
/// whole table, or anything but PROXY under ALL PRIVILEGES.
pub(super) fn covers(set: &BTreeSet<Privilege>, p: &Privilege) -> bool {
    set.contains(p)
        || (p.1.is_some() && set.contains(&(p.0.clone(), None)))
        || (p.0 != PROXY && set.contains(&(ALL.to_string(), None)))
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
    use crate::db::mysql::grants::parse::parse_all;

    fn lines(text: &[&str]) -> Vec<GrantLine> {
        parse_all(text).unwrap()
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
