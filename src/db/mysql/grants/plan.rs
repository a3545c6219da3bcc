//! The statements that make one account's grants equal to another's, given both accounts'
//! `SHOW GRANTS` as read by [`super::parse`]: the privilege list and the object are reused
//! verbatim, and only the grantee is replaced.
//!
//! Over 400 lines only because its unit tests (about 175 lines, pinning each grant form) live
//! beside the code they test.

use super::holdings::{covers, holdings, is_proxy, OnObject, ALL};
use super::parse::{GrantLine, Privilege};
use crate::db::mysql::version::Flavor;
use crate::db::mysql::Operation;
use std::collections::{BTreeMap, BTreeSet};

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

/// One statement of a grant sync, and what it is (grant or revoke, the statement kind of a
/// refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// [`Operation::Grant`] or [`Operation::Revoke`].
    pub kind: Operation,
    /// The statement.
    pub sql: String,
    /// The role granted, for a role grant (granting a role needs its ADMIN OPTION, which
    /// even a master with ALL PRIVILEGES may lack).
    pub role: Option<String>,
}

fn grant(sql: String) -> Planned {
    Planned {
        kind: Operation::Grant,
        sql,
        role: None,
    }
}

fn grant_role(role: &str, sql: String) -> Planned {
    Planned {
        kind: Operation::Grant,
        sql,
        role: Some(role.to_string()),
    }
}

fn revoke(sql: String) -> Planned {
    Planned {
        kind: Operation::Revoke,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::mysql::grants::parse::parse_all;

    fn lines(text: &[&str]) -> Vec<GrantLine> {
        parse_all(text).unwrap()
    }

    fn sqls(plan: &[Planned]) -> Vec<&str> {
        plan.iter().map(|p| p.sql.as_str()).collect()
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
        assert!(plan.iter().all(|p| p.kind == Operation::Grant));
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
        assert_eq!(kinds[..2], [Operation::Grant; 2]);
        assert!(kinds[2..].iter().all(|k| *k == Operation::Revoke));
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
}
