//! Checks made before any step, from one DescribeSecret, in the order of Secrets Manager's
//! rotation protocol: rotation enabled, the token a version, AWSCURRENT already on it (done),
//! AWSPENDING on it (else a stale or missing pending label, named with its remedy).

use super::Outcome;
use crate::failure::{Cause, Failure};
use crate::secret::Stage;
use crate::store::Description;
use crate::telemetry;

/// Rotation is disabled on the secret: every step stops here (diagnose reports it as a warning).
pub fn rotation_not_enabled() -> Failure {
    Failure::new(
        Cause::RotationNotEnabled,
        "rotation is not enabled on the secret",
    )
}

/// Every check, as for an invocation by Secrets Manager: `Ok(Some(AlreadyCurrent))` when
/// there is nothing to do, `Ok(None)` to go on.
pub fn check(d: &Description, token: &str) -> Result<Option<Outcome>, Failure> {
    if !d.rotation_enabled {
        return Err(rotation_not_enabled());
    }
    check_staging(d, token)
}

/// The checks of the token's labels only (the `rotate` command, which need not have
/// rotation enabled).
pub fn check_staging(d: &Description, token: &str) -> Result<Option<Outcome>, Failure> {
    if !d.versions.contains_key(token) {
        return Err(Failure::new(
            Cause::VersionNotStaged,
            "the rotation token is not a version of the secret",
        )
        .with("version_id", token));
    }
    if d.has(token, Stage::Current) {
        return Ok(Some(Outcome::AlreadyCurrent));
    }
    if !d.has(token, Stage::Pending) {
        let holder = d.version_with(Stage::Pending);
        let mut f = Failure::new(
            Cause::VersionNotPending,
            "the rotation token's version is not staged as AWSPENDING",
        )
        .with("version_id", token)
        .with("pending_version_id", holder);
        if let Some(holder) = holder {
            let mut evidence = serde_json::Map::new();
            evidence.insert("pending_version_id".into(), holder.into());
            evidence.insert("version_id".into(), token.into());
            telemetry::finding(
                crate::failure::Finding::StalePendingLabel.code(),
                "AWSPENDING sits on a version other than the one being rotated",
                &evidence,
            );
            f = f.remedy(format!(
                "Remove the stale AWSPENDING label: aws secretsmanager update-secret-version-stage --secret-id {} --version-stage AWSPENDING --remove-from-version-id {holder}; then rotate again.",
                d.arn
            ));
        } else {
            f = f.remedy("No version holds AWSPENDING: start the rotation again with aws secretsmanager rotate-secret --secret-id <id>.");
        }
        return Err(f);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn desc(enabled: bool, versions: &[(&str, &[&str])]) -> Description {
        Description {
            rotation_lambda_arn: None,
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:s".into(),
            rotation_enabled: enabled,
            versions: versions
                .iter()
                .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn the_protocol_order_holds() {
        let d = desc(
            true,
            &[
                ("a", &["AWSCURRENT"]),
                ("b", &["AWSPENDING"]),
                ("c", &["AWSPREVIOUS"]),
            ],
        );
        assert_eq!(check(&d, "b").unwrap(), None);
        assert_eq!(check(&d, "a").unwrap(), Some(Outcome::AlreadyCurrent));
        assert_eq!(check(&d, "zz").unwrap_err().cause, Cause::VersionNotStaged);
        let f = check(&d, "c").unwrap_err();
        assert_eq!(f.cause, Cause::VersionNotPending);
        assert_eq!(f.evidence["pending_version_id"], "b");
        assert!(f.remedy.contains("--remove-from-version-id b"));
        let off = desc(false, &[("b", &["AWSPENDING"])]);
        assert_eq!(
            check(&off, "b").unwrap_err().cause,
            Cause::RotationNotEnabled
        );
        assert_eq!(check_staging(&off, "b").unwrap(), None);
    }
}
