//! diagnose names the CA a database server's certificate chain ends at: where it was found
//! when TLS verified, and the CA to add when verification failed. Real PostgreSQL and MariaDB
//! with the test CA; `DB_CA_BUNDLE` is either that CA or only the shipped RDS roots
//! (`certs/rds-roots.pem`), which do not include it.

use crate::common::mysql::{maria_create_user, maria_secret};
use crate::common::*;
use serde_json::{json, Value};

fn tls_check(arn: &str, env: &[(&str, &str)]) -> Value {
    let (_, report) = diagnose_json(arn, env);
    report_check(&report, "tls").clone()
}

/// The common name of the test CA that issued the services' certificates.
fn test_ca_name() -> String {
    let pem = std::fs::read(&services().ca_file).unwrap();
    let ca = openssl::x509::X509::from_pem(&pem).unwrap();
    let cn = ca
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .expect("the test CA has a CN");
    cn.data().to_string().unwrap()
}

fn rds_roots() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/certs/rds-roots.pem").to_string()
}

#[tokio::test]
async fn a_verified_chain_names_the_ca_it_ends_at_and_where_it_was_found() {
    let user = unique("dsr_chain_ok");
    let pw = password("chain-ok");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    // The harness's DB_CA_BUNDLE is the test CA.
    let tls = tls_check(&arn, &[]);
    assert_eq!(tls["ok"], true, "{tls:#}");
    let detail = tls["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the chain ends at \"{}\" (in DB_CA_BUNDLE)",
            test_ca_name()
        )),
        "{detail}"
    );
}

#[tokio::test]
async fn a_postgres_chain_the_rds_roots_do_not_anchor_names_the_ca_it_needed() {
    let user = unique("dsr_chain_pg");
    let pw = password("chain-pg");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let roots = rds_roots();
    let tls = tls_check(&arn, &[("DB_CA_BUNDLE", &roots)]);
    let ca = test_ca_name();
    assert_eq!(tls["ok"], false, "{tls:#}");
    assert_eq!(tls["cause"], "db_tls_verification_failed", "{tls:#}");
    assert_eq!(tls["evidence"]["reason"], "untrusted_ca", "{tls:#}");
    assert_eq!(tls["evidence"]["ca_needed"], ca.as_str(), "{tls:#}");
    assert!(
        !tls["evidence"]["server_chain"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{tls:#}"
    );
    let message = tls["message"].as_str().unwrap();
    let shipped = openssl::x509::X509::stack_from_pem(&std::fs::read(&roots).unwrap())
        .unwrap()
        .len();
    assert!(
        message.contains(&format!(
            "the server's chain ends at \"{ca}\", which is not trusted (not among the {shipped} DB_CA_BUNDLE certificates)"
        )),
        "{message}"
    );
    assert!(
        tls["remedy"].as_str().unwrap().contains(&ca),
        "the remedy names the CA to add: {tls:#}"
    );
}

#[tokio::test]
async fn a_mariadb_chain_the_rds_roots_do_not_anchor_names_the_ca_it_needed() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MariaDb).await;
    let user = unique("dsr_chain_my");
    let pw = password("chain-my");
    maria_create_user(&user, "%", &pw, true).await;
    let mut secret = maria_secret(&user, &pw);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let roots = rds_roots();
    let tls = tls_check(&arn, &[("DB_CA_BUNDLE", &roots)]);
    assert_eq!(tls["cause"], "db_tls_verification_failed", "{tls:#}");
    assert_eq!(
        tls["evidence"]["ca_needed"],
        test_ca_name().as_str(),
        "{tls:#}"
    );
}

#[tokio::test]
async fn with_fallback_the_unverifiable_chain_is_named_in_the_passing_check() {
    // No "ssl" key and TLS_FALLBACK=allow: rotation would fall back to plaintext, so the check
    // passes, and still says which CA the server needs.
    let user = unique("dsr_chain_fb");
    let pw = password("chain-fb");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let roots = rds_roots();
    let tls = tls_check(&arn, &[("DB_CA_BUNDLE", &roots)]);
    assert_eq!(tls["ok"], true, "{tls:#}");
    let detail = tls["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the server's chain ends at \"{}\", which is not trusted",
            test_ca_name()
        )),
        "{detail}"
    );
}

#[tokio::test]
async fn a_host_name_mismatch_names_the_trusted_ca_without_asking_for_another() {
    // The certificate is issued for localhost only: 127.0.0.1 is a host-name mismatch, and the
    // chain ends at the test CA, which DB_CA_BUNDLE holds.
    let user = unique("dsr_chain_ip");
    let pw = password("chain-ip");
    pg_create_user(services().pg_port, &user, &pw, &[]).await;
    let mut secret = pg_secret(&user, &pw);
    secret["host"] = json!("127.0.0.1");
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let tls = tls_check(&arn, &[]);
    assert_eq!(tls["cause"], "db_tls_verification_failed", "{tls:#}");
    assert_eq!(tls["evidence"]["reason"], "hostname_mismatch", "{tls:#}");
    assert_eq!(tls["evidence"]["ca"], test_ca_name().as_str(), "{tls:#}");
    assert!(tls["evidence"].get("ca_needed").is_none(), "{tls:#}");
    let message = tls["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!(
            "the chain ends at \"{}\" (in DB_CA_BUNDLE)",
            test_ca_name()
        )),
        "{message}"
    );
}
