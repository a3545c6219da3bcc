//! How AWS decides on one flow, over the read model: IPv4 ranges, security groups (stateful,
//! the union of their rules) and network ACLs (stateless, by rule number, first match wins,
//! an implicit deny last). Each answer is yes, no, or "cannot tell" with the reason, so a
//! check never turns a guess into a fail.

use super::model::{NetworkAcl, SecurityGroup};

/// The ports a client uses for its side of a connection, which return traffic goes to.
pub const EPHEMERAL: (i32, i32) = (1024, 65535);

/// The public internet as a peer.
pub const INTERNET: &str = "0.0.0.0/0";

/// The rule number AWS shows for the implicit deny (`*`).
const IMPLICIT_RULE: i32 = 32767;

/// Whether a security group admits a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A rule admits it.
    Yes,
    /// No rule admits it.
    No,
    /// A rule might (a prefix list, a CIDR covering only part of the peer's range).
    Unknown(String),
}

/// The other end of a flow as a security group sees it: the groups it carries and the address
/// ranges its address may come from (every one must be admitted).
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// Its security groups.
    pub groups: &'a [String],
    /// The IPv4 ranges its address lies in.
    pub cidrs: &'a [String],
}

/// An IPv4 CIDR as its first and last address.
pub fn range(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let octets: Vec<u8> = addr
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    if octets.len() != 4 {
        return None;
    }
    let ip = u32::from_be_bytes([octets[0], octets[1], octets[2], octets[3]]);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((ip & mask, (ip & mask) | !mask))
}

/// How a rule's range relates to a peer's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Every address of the peer is in the rule's range.
    Covers,
    /// None is.
    Disjoint,
    /// Some are (or a range could not be read).
    Partial,
}

/// The address ranges no public AWS endpoint lies in (RFC 1918, carrier-grade NAT, link-local).
const PRIVATE: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
];

/// How `rule` relates to `peer`. The peer `0.0.0.0/0` stands for the public internet (an AWS
/// API behind a NAT gateway): a rule for a private range never matches it.
pub fn overlap(rule: &str, peer: &str) -> Overlap {
    if peer == INTERNET && rule != INTERNET {
        let private = PRIVATE.iter().any(
            |p| matches!((range(p), range(rule)), (Some((a, b)), Some((c, d))) if a <= c && d <= b),
        );
        if private {
            return Overlap::Disjoint;
        }
    }
    match (range(rule), range(peer)) {
        (Some((a, b)), Some((c, d))) if a <= c && d <= b => Overlap::Covers,
        (Some((a, b)), Some((c, d))) if b < c || d < a => Overlap::Disjoint,
        _ => Overlap::Partial,
    }
}

fn tcp(protocol: &str) -> bool {
    matches!(protocol, "-1" | "tcp" | "6" | "all")
}

/// Whether the security groups admit TCP `port` from (ingress) or to (egress) `peer`.
pub fn sg_admits(groups: &[&SecurityGroup], egress: bool, port: i32, peer: Peer<'_>) -> Verdict {
    let rules = groups
        .iter()
        .flat_map(|g| if egress { &g.egress } else { &g.ingress })
        .filter(|r| tcp(&r.protocol))
        .filter(|r| match (r.from_port, r.to_port) {
            (Some(from), Some(to)) if from >= 0 && to >= 0 => from <= port && port <= to,
            _ => true,
        })
        .collect::<Vec<_>>();
    if rules
        .iter()
        .any(|r| r.groups.iter().any(|g| peer.groups.contains(g)))
    {
        return Verdict::Yes;
    }
    let mut unknown = None;
    let mut all_covered = !peer.cidrs.is_empty();
    for cidr in peer.cidrs {
        let relations = rules
            .iter()
            .flat_map(|r| r.cidrs.iter())
            .map(|c| (c, overlap(c, cidr)))
            .collect::<Vec<_>>();
        if relations.iter().any(|(_, o)| *o == Overlap::Covers) {
            continue;
        }
        all_covered = false;
        if let Some((c, _)) = relations.iter().find(|(_, o)| *o == Overlap::Partial) {
            unknown = Some(format!("{c} covers only part of {cidr}"));
        }
    }
    if all_covered {
        return Verdict::Yes;
    }
    if let Some(list) = rules.iter().flat_map(|r| r.prefix_lists.iter()).next() {
        return Verdict::Unknown(format!("prefix list {list} is not resolved"));
    }
    if rules.iter().any(|r| r.ipv6) {
        return Verdict::Unknown("an IPv6 rule is not evaluated".into());
    }
    match unknown {
        Some(reason) => Verdict::Unknown(reason),
        None => Verdict::No,
    }
}

/// What a network ACL does with a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclVerdict {
    /// Allowed on every port of the range.
    Allow,
    /// Denied on some port, by this rule (None: the implicit deny).
    Deny(Option<i32>),
    /// This rule's range covers only part of the peer's, so the outcome depends on the address.
    Unknown(i32),
}

/// Evaluates `acl` for TCP on `ports` to (egress) or from (ingress) `peer_cidr`: entries by
/// rule number, the first match deciding for the ports it covers, the implicit deny last.
pub fn acl_decides(
    acl: &NetworkAcl,
    egress: bool,
    ports: (i32, i32),
    peer_cidr: &str,
) -> AclVerdict {
    let mut entries = acl
        .entries
        .iter()
        .filter(|e| e.egress == egress && tcp(&e.protocol))
        .collect::<Vec<_>>();
    entries.sort_by_key(|e| e.rule_number);
    let mut open = vec![ports];
    for e in entries {
        let Some(cidr) = &e.cidr else { continue };
        let (lo, hi) = e.ports.unwrap_or((0, 65535));
        let touches = open.iter().any(|(a, b)| lo <= *b && *a <= hi);
        if !touches {
            continue;
        }
        match overlap(cidr, peer_cidr) {
            Overlap::Disjoint => continue,
            Overlap::Partial => return AclVerdict::Unknown(e.rule_number),
            Overlap::Covers if !e.allow => {
                return AclVerdict::Deny((e.rule_number != IMPLICIT_RULE).then_some(e.rule_number))
            }
            Overlap::Covers => {
                open = open
                    .into_iter()
                    .flat_map(|(a, b)| {
                        let mut rest = Vec::new();
                        if a < lo {
                            rest.push((a, b.min(lo - 1)));
                        }
                        if b > hi {
                            rest.push((a.max(hi + 1), b));
                        }
                        if hi < a || b < lo {
                            rest = vec![(a, b)];
                        }
                        rest
                    })
                    .collect();
                if open.is_empty() {
                    return AclVerdict::Allow;
                }
            }
        }
    }
    AclVerdict::Deny(None)
}

/// A free rule number to insert an allow before `blocking` (None: the implicit deny).
pub fn free_rule_number(acl: &NetworkAcl, egress: bool, blocking: Option<i32>) -> Option<i32> {
    let used = |n: i32| {
        acl.entries
            .iter()
            .any(|e| e.egress == egress && e.rule_number == n)
    };
    match blocking {
        Some(rule) => (1..rule).rev().find(|n| !used(*n)),
        None => {
            let top = acl
                .entries
                .iter()
                .filter(|e| e.egress == egress && e.rule_number < IMPLICIT_RULE)
                .map(|e| e.rule_number)
                .max()
                .unwrap_or(0);
            let next = (top / 10 + 1) * 10;
            (next < IMPLICIT_RULE).then_some(next.max(100))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::network::model::{AclEntry, SgRule};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn entry(n: i32, egress: bool, allow: bool, ports: Option<(i32, i32)>, cidr: &str) -> AclEntry {
        AclEntry {
            rule_number: n,
            egress,
            allow,
            protocol: "6".into(),
            ports,
            cidr: Some(cidr.into()),
        }
    }

    fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
        NetworkAcl {
            id: "acl-1".into(),
            vpc_id: "vpc-1".into(),
            default: false,
            subnet_ids: vec![],
            entries,
        }
    }

    #[test]
    fn ranges_and_overlaps() {
        assert_eq!(range("10.0.1.0/24"), Some((0x0a000100, 0x0a0001ff)));
        assert_eq!(range("0.0.0.0/0"), Some((0, u32::MAX)));
        assert_eq!(range("10.0.1.7"), Some((0x0a000107, 0x0a000107)));
        assert_eq!(range("10.0.1.0/33"), None);
        assert_eq!(overlap("10.0.0.0/16", "10.0.1.0/24"), Overlap::Covers);
        assert_eq!(overlap("10.1.0.0/16", "10.0.1.0/24"), Overlap::Disjoint);
        assert_eq!(overlap("10.0.1.0/25", "10.0.1.0/24"), Overlap::Partial);
        assert_eq!(overlap("pl-123", "10.0.1.0/24"), Overlap::Partial);
        assert_eq!(overlap("10.0.0.0/16", INTERNET), Overlap::Disjoint);
        assert_eq!(overlap("52.94.0.0/16", INTERNET), Overlap::Partial);
        assert_eq!(overlap(INTERNET, INTERNET), Overlap::Covers);
    }

    #[test]
    fn security_groups_admit_by_group_or_covering_cidr() {
        let rule = |from, to, cidrs: &[&str], groups: &[&str]| SgRule {
            protocol: "tcp".into(),
            from_port: Some(from),
            to_port: Some(to),
            cidrs: s(cidrs),
            groups: s(groups),
            prefix_lists: vec![],
            ipv6: false,
        };
        let g = SecurityGroup {
            id: "sg-e".into(),
            vpc_id: "vpc-1".into(),
            ingress: vec![
                rule(443, 443, &[], &["sg-f"]),
                rule(5432, 5432, &["10.0.0.0/16"], &[]),
            ],
            egress: vec![],
        };
        let groups = s(&["sg-f"]);
        let cidrs = s(&["10.0.1.0/24"]);
        let from_fn = Peer {
            groups: &groups,
            cidrs: &cidrs,
        };
        assert_eq!(sg_admits(&[&g], false, 443, from_fn), Verdict::Yes);
        assert_eq!(sg_admits(&[&g], false, 5432, from_fn), Verdict::Yes);
        assert_eq!(sg_admits(&[&g], false, 3306, from_fn), Verdict::No);
        assert_eq!(sg_admits(&[&g], true, 443, from_fn), Verdict::No);
        let other = s(&["sg-x"]);
        let wide = s(&["10.0.0.0/8"]);
        let stranger = Peer {
            groups: &other,
            cidrs: &wide,
        };
        assert_eq!(sg_admits(&[&g], false, 443, stranger), Verdict::No);
        assert!(matches!(
            sg_admits(&[&g], false, 5432, stranger),
            Verdict::Unknown(_)
        ));
        let all = SecurityGroup {
            egress: vec![SgRule {
                protocol: "-1".into(),
                cidrs: s(&["0.0.0.0/0"]),
                ..SgRule::default()
            }],
            ..SecurityGroup::default()
        };
        assert_eq!(sg_admits(&[&all], true, 443, stranger), Verdict::Yes);
        let v6 = SecurityGroup {
            egress: vec![SgRule {
                protocol: "tcp".into(),
                from_port: Some(443),
                to_port: Some(443),
                ipv6: true,
                ..SgRule::default()
            }],
            ..SecurityGroup::default()
        };
        assert!(matches!(
            sg_admits(&[&v6], true, 443, stranger),
            Verdict::Unknown(_)
        ));
        assert_eq!(sg_admits(&[&v6], true, 5432, stranger), Verdict::No);
    }

    #[test]
    fn acls_take_the_first_match_by_rule_number_and_deny_last() {
        // Unsorted, as moto returns them: the deny at 90 comes before the allow at 100.
        let a = acl(vec![
            entry(100, true, true, Some((443, 443)), "0.0.0.0/0"),
            entry(90, true, false, Some((443, 443)), "10.0.2.0/24"),
        ]);
        assert_eq!(
            acl_decides(&a, true, (443, 443), "10.0.2.0/24"),
            AclVerdict::Deny(Some(90))
        );
        assert_eq!(
            acl_decides(&a, true, (443, 443), "10.0.3.0/24"),
            AclVerdict::Allow
        );
        assert_eq!(
            acl_decides(&a, true, (5432, 5432), "10.0.3.0/24"),
            AclVerdict::Deny(None)
        );
        assert_eq!(
            acl_decides(&a, false, (443, 443), "10.0.3.0/24"),
            AclVerdict::Deny(None)
        );
        assert_eq!(
            acl_decides(&a, true, (443, 443), "10.0.0.0/8"),
            AclVerdict::Unknown(90)
        );
    }

    #[test]
    fn acls_must_allow_the_whole_ephemeral_range() {
        let half = acl(vec![entry(
            100,
            false,
            true,
            Some((1024, 32767)),
            "10.0.0.0/16",
        )]);
        assert_eq!(
            acl_decides(&half, false, EPHEMERAL, "10.0.1.0/24"),
            AclVerdict::Deny(None)
        );
        let split = acl(vec![
            entry(100, false, true, Some((1024, 32767)), "10.0.0.0/16"),
            entry(110, false, true, Some((32768, 65535)), "10.0.0.0/16"),
        ]);
        assert_eq!(
            acl_decides(&split, false, EPHEMERAL, "10.0.1.0/24"),
            AclVerdict::Allow
        );
        let all = acl(vec![AclEntry {
            protocol: "-1".into(),
            ports: None,
            ..entry(100, false, true, None, "0.0.0.0/0")
        }]);
        assert_eq!(
            acl_decides(&all, false, EPHEMERAL, "10.0.1.0/24"),
            AclVerdict::Allow
        );
        let star = acl(vec![entry(32767, false, false, None, "0.0.0.0/0")]);
        assert_eq!(
            acl_decides(&star, false, EPHEMERAL, "10.0.1.0/24"),
            AclVerdict::Deny(None)
        );
    }

    #[test]
    fn free_rule_numbers_go_before_the_blocking_rule() {
        let a = acl(vec![
            entry(100, true, false, None, "0.0.0.0/0"),
            entry(99, true, true, None, "1.2.3.4/32"),
        ]);
        assert_eq!(free_rule_number(&a, true, Some(100)), Some(98));
        assert_eq!(free_rule_number(&a, true, None), Some(110));
        assert_eq!(free_rule_number(&a, false, None), Some(100));
        assert_eq!(free_rule_number(&a, true, Some(1)), None);
    }
}
