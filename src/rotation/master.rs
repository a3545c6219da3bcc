//! The master of alternating users: reading the secret `masterarn` names, completing an
//! RDS-managed one (only `username` and `password`) from its system tag and the RDS API, and
//! deciding, before any connection, whether it may act on the rotated user's host.
//!
//! RDS is reached through the concrete [`Rds`] adapter, not a trait: its only caller goes on
//! to log in to the master's database, so a stand-in would make no step testable without a
//! server; the RDS paths run against moto in the real-service suite.

use super::alternating::masterarn;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::secret::{self, DbSecret, SecretRole, SslSetting};
use crate::store::rds::{self, DbEndpoints, PrimaryResource};
use crate::store::{Rds, SecretStore};

/// The master secret as read: complete, or RDS-managed (only `username` and `password`).
pub enum MasterValue {
    /// A secret with its own connection details.
    Complete(DbSecret),
    /// An RDS-managed secret: the keys as read; the rest comes from the RDS API.
    RdsManaged(serde_json::Map<String, serde_json::Value>),
}

fn master_failure(f: Failure) -> Failure {
    if f.evidence.contains_key("secret") {
        f
    } else {
        f.with("secret", SecretRole::Master.as_str())
    }
}

/// Reads the master secret named by `masterarn` (GetSecretValue, AWSCURRENT).
pub async fn read_master(
    sm: &impl SecretStore,
    deadline: &Deadline,
    current: &DbSecret,
) -> Result<MasterValue, Failure> {
    let arn = masterarn(current)?;
    let text = sm
        .get_value(deadline, arn, SecretRole::Master, None)
        .await
        .map_err(master_failure)?
        .ok_or_else(|| {
            super::not_found(SecretRole::Master, arn)
                .remedy("The secret named by masterarn does not exist (or has no AWSCURRENT value): fix masterarn in the secret JSON.")
        })?;
    let map = secret::parse_object(text.expose(), SecretRole::Master)?;
    let rds_managed =
        map.len() == 2 && map.contains_key("username") && map.contains_key("password");
    if rds_managed {
        Ok(MasterValue::RdsManaged(map))
    } else {
        Ok(MasterValue::Complete(DbSecret::from_map(
            map,
            SecretRole::Master,
        )?))
    }
}

/// The master, ready to log in: its secret with connection details, and, for an
/// RDS-managed master, what the RDS API says about its database.
pub struct Master {
    /// Credentials and address (RDS-managed: host, port and engine from the RDS API).
    pub secret: DbSecret,
    /// The RDS view of the master's database, when it was asked.
    pub rds: Option<DbEndpoints>,
}

/// Completes an RDS-managed master from its system tag and the RDS API.
pub async fn resolve_rds_managed(
    sm: &impl SecretStore,
    rds: &Rds,
    deadline: &Deadline,
    current: &DbSecret,
    mut map: serde_json::Map<String, serde_json::Value>,
) -> Result<(DbSecret, DbEndpoints), Failure> {
    let arn = masterarn(current)?;
    let tags = sm
        .tags(deadline, arn, SecretRole::Master)
        .await
        .map_err(master_failure)?;
    let resource = PrimaryResource::from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .ok_or_else(|| {
            Failure::new(
                Cause::SecretJsonMissingKey,
                "the master secret holds only username and password, and has no aws:rds:primaryDBInstanceArn / aws:rds:primaryDBClusterArn tag to find its database by",
            )
            .with("key", "host")
            .with("secret", SecretRole::Master.as_str())
            .remedy("Add engine, host and port to the master secret, or use the secret RDS manages for the database (it carries the aws:rds:primary* tag).")
        })?;
    let endpoints = rds.endpoints(deadline, &resource).await?;
    map.insert("engine".into(), endpoints.engine.clone().into());
    map.insert("host".into(), endpoints.host.clone().into());
    map.insert("port".into(), endpoints.port.into());
    let secret = DbSecret::from_map(map, SecretRole::Master)?;
    Ok((secret, endpoints))
}

/// The master's connection settings follow the rotated secret where the master says
/// nothing: the database is the current secret's (as in the reference), and TLS is the
/// master's own `ssl` when it has one, else the current secret's.
pub fn connect_like_current(mut master: DbSecret, current: &DbSecret) -> Result<DbSecret, Failure> {
    if master.family != current.family {
        return Err(Failure::new(
            Cause::SecretJsonInvalid,
            format!(
                "the master secret's engine ({}) is not of the rotated secret's family ({})",
                master.engine, current.engine
            ),
        )
        .with("key", "engine")
        .with("secret", SecretRole::Master.as_str())
        .with(
            "expected",
            format!("an engine of the {} family", current.family.as_str()),
        ));
    }
    master.dbname = current.dbname.clone();
    if master.ssl == SslSetting::Absent {
        master.ssl = current.ssl;
    }
    Ok(master)
}

/// Reads and completes the master secret.
pub async fn resolve_master(
    sm: &impl SecretStore,
    rds: &Rds,
    deadline: &Deadline,
    current: &DbSecret,
) -> Result<Master, Failure> {
    let (secret, endpoints) = match read_master(sm, deadline, current).await? {
        MasterValue::Complete(s) => (s, None),
        MasterValue::RdsManaged(map) => {
            let (s, e) = resolve_rds_managed(sm, rds, deadline, current, map).await?;
            (s, Some(e))
        }
    };
    Ok(Master {
        secret: connect_like_current(secret, current)?,
        rds: endpoints,
    })
}

/// The master may manage the user only on the user's own database: the same host, or a
/// database whose replica / reader the user's host is (the master then works on the
/// writer, and the change replicates). Decided before any connection.
pub async fn check_master_host(
    rds: &Rds,
    deadline: &Deadline,
    current: &DbSecret,
    master: &mut Master,
) -> Result<(), Failure> {
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    if same(&master.secret.host, &current.host) {
        return Ok(());
    }
    if master.rds.is_none() {
        // A master on an RDS endpoint name: ask RDS whether the user's host reads from it.
        if let Some(resource) = rds::resource_of_endpoint(&master.secret.host) {
            master.rds = rds.endpoints_if_exists(deadline, &resource).await?;
        }
    }
    if master.rds.as_ref().is_some_and(|e| e.serves(&current.host)) {
        return Ok(());
    }
    Err(Failure::new(
        Cause::UserMismatch,
        format!(
            "the master secret's database ({}) is not the user's host ({}) nor one it replicates to",
            master.secret.host, current.host
        ),
    )
    .with("expected_host", current.host.as_str())
    .with("found_host", master.secret.host.as_str())
    .with("secret", SecretRole::Master.as_str())
    .remedy("Point masterarn at the master secret of the database the user's host belongs to (the same host, or the writer of the replica / reader the secret names)."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use serde_json::json;
    use std::time::Duration;

    fn current(masterarn: &str) -> DbSecret {
        let text = json!({"engine": "postgres", "host": "db", "username": "app",
            "password": "app-password-1", "dbname": "appdb", "masterarn": masterarn});
        DbSecret::parse(&text.to_string(), SecretRole::Current).unwrap()
    }

    fn deadline() -> Deadline {
        Deadline::after(Duration::from_secs(5), Duration::from_millis(100))
    }

    #[tokio::test]
    async fn a_master_with_only_credentials_is_rds_managed() {
        let store = MemoryStore::new();
        let rds_managed = store.create(
            "rds",
            "m1",
            r#"{"username":"admin","password":"master-password-1"}"#,
        );
        let got = read_master(&store, &deadline(), &current(&rds_managed)).await;
        assert!(matches!(got, Ok(MasterValue::RdsManaged(m)) if m.len() == 2));

        let complete = store.create(
            "full",
            "m1",
            r#"{"engine":"postgres","host":"db","username":"admin","password":"master-password-1","ssl":true}"#,
        );
        let Ok(MasterValue::Complete(master)) =
            read_master(&store, &deadline(), &current(&complete)).await
        else {
            panic!("a complete master secret");
        };
        let placed = connect_like_current(master, &current(&complete)).unwrap();
        // The rotated secret's database, the master's own TLS setting.
        assert_eq!(placed.dbname.as_deref(), Some("appdb"));
        assert_eq!(placed.ssl, SslSetting::Required);
    }

    #[tokio::test]
    async fn a_missing_master_is_named_as_the_master() {
        let store = MemoryStore::new();
        let f = read_master(&store, &deadline(), &current("arn:none"))
            .await
            .err()
            .unwrap();
        assert_eq!(f.cause, Cause::SecretNotFound);
        assert_eq!(f.evidence["secret"], "master");
    }

    #[test]
    fn a_master_of_another_family_is_refused() {
        let mysql = DbSecret::parse(
            r#"{"engine":"mysql","host":"db","username":"admin","password":"master-password-1"}"#,
            SecretRole::Master,
        )
        .unwrap();
        let f = connect_like_current(mysql, &current("arn:m")).unwrap_err();
        assert_eq!(f.cause, Cause::SecretJsonInvalid);
        assert_eq!(f.evidence["key"], "engine");
    }
}
