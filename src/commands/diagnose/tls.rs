//! The `tls` check of `diagnose`: a login that demands verified TLS (a refusal of the
//! credentials still proves the TLS part), judged against what rotation would do with the
//! secret's `ssl` setting, and the CA the server's chain ends at, read in a second handshake
//! that verifies nothing and sends no credentials.

use super::chain::{self, ServerChain};
use super::list::{Ran, Running};
use super::{Env, Facts};
use crate::db;
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure, Finding, TlsReason};
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole, SslSetting};

/// What the verified-TLS login showed.
enum Seen {
    /// TLS was offered and verified; the detail says whether the login itself got through.
    Verified(&'static str),
    /// TLS is not usable (not offered, not verified, or no connection at all).
    Unusable(Failure),
}

/// What the handshakes said of the CA the server's chain ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// TLS verified: the CA is trusted (by `DB_CA_BUNDLE` or the system roots).
    Trusted,
    /// Verification failed because the CA is not among the anchors: the CA to add.
    Missing,
    /// Not judged: TLS did not verify for another reason (host name, expiry, not offered).
    Unjudged,
}

/// The `tls` check.
pub(super) fn check<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(current) = &f.current else {
            return Ran::NotApplicable;
        };
        judge(env.r, current, &env.deadline).await.into()
    })
}

/// A login with AWSCURRENT that demands verified TLS.
async fn verified_login(r: &Rotator, current: &DbSecret, deadline: &Deadline) -> Seen {
    let mut probe = current.clone();
    probe.ssl = SslSetting::Required;
    match db::connect(&probe, SecretRole::Current, &r.db, deadline).await {
        Ok(_) => Seen::Verified("TLS offered; chain and host name verified"),
        Err(f)
            if matches!(
                f.cause,
                Cause::DbTlsUnavailable | Cause::DbTlsVerificationFailed | Cause::DbUnreachable
            ) =>
        {
            Seen::Unusable(f)
        }
        // Any other refusal comes after the TLS handshake.
        Err(_) => Seen::Verified("TLS offered and verified (login itself judged below)"),
    }
}

/// The chain the server presents, when it is worth naming: TLS verified (where its CA was
/// found) or verification failed (which CA to add); a server without TLS has none.
async fn read_chain(
    r: &Rotator,
    current: &DbSecret,
    deadline: &Deadline,
    seen: &Seen,
) -> Option<ServerChain> {
    let wanted = match seen {
        Seen::Verified(_) => true,
        Seen::Unusable(f) => f.cause == Cause::DbTlsVerificationFailed,
    };
    if !wanted {
        return None;
    }
    let budget = deadline.cap(r.db.connect_timeout);
    chain::server_chain(
        current.family,
        &current.host,
        current.port,
        &r.db.anchors,
        budget,
    )
    .await
    .ok()
}

/// Passes when TLS verifies, or when it does not but rotation does not use it
/// (`"ssl": false`, or no `ssl` key with `TLS_FALLBACK=allow`); the detail then says so.
async fn judge(r: &Rotator, current: &DbSecret, deadline: &Deadline) -> Result<String, Failure> {
    let seen = verified_login(r, current, deadline).await;
    let chain = read_chain(r, current, deadline, &seen).await;
    let f = match seen {
        Seen::Verified(detail) => {
            return Ok(with_chain(
                detail.to_string(),
                chain.as_ref(),
                r,
                Anchor::Trusted,
            ));
        }
        Seen::Unusable(f) => f,
    };
    // The anchors are missing (not a host name or expiry problem): name the CA to add.
    let anchor = if f.signals.tls_reason == Some(TlsReason::UntrustedCa)
        && chain.as_ref().is_some_and(|c| !c.in_bundle)
    {
        Anchor::Missing
    } else {
        Anchor::Unjudged
    };
    let what = match f.signals.tls_reason {
        Some(reason) => format!("{} ({reason})", f.cause),
        None => f.cause.code().to_string(),
    };
    match current.ssl {
        // Not used anyway: worth knowing, not a failure.
        SslSetting::Disabled => Ok(with_chain(
            format!("TLS not usable: {what}; not used (the secret says \"ssl\": false)"),
            chain.as_ref(),
            r,
            anchor,
        )),
        // What rotation does with it: plaintext, reported as a finding.
        SslSetting::Absent
            if r.db.tls_fallback == crate::config::TlsFallback::Allow
                && f.cause != Cause::DbUnreachable =>
        {
            Ok(with_chain(
                format!("TLS not usable: {what}; with no \"ssl\" key rotation falls back to plaintext and reports {} (set \"ssl\": true once TLS works, or TLS_FALLBACK=deny)", Finding::TlsDowngraded),
                chain.as_ref(),
                r,
                anchor,
            ))
        }
        _ => Err(match chain {
            Some(chain) => name_chain_ca(f, &chain, r, anchor),
            None => f,
        }),
    }
}

/// A detail with where the chain ends appended, when the chain was read.
fn with_chain(detail: String, chain: Option<&ServerChain>, r: &Rotator, anchor: Anchor) -> String {
    match chain {
        Some(c) => format!("{detail}; {}", ends_at(c, r, anchor)),
        None => detail,
    }
}

/// Where the chain ends, and whether that CA is trusted and by what.
fn ends_at(chain: &ServerChain, r: &Rotator, anchor: Anchor) -> String {
    if anchor == Anchor::Missing {
        let bundle = if r.db.anchors.is_empty() {
            "DB_CA_BUNDLE is not set".to_string()
        } else {
            format!(
                "not among the {} DB_CA_BUNDLE certificates",
                r.db.anchors.len()
            )
        };
        format!(
            "the server's chain ends at \"{}\", which is not trusted ({bundle})",
            chain.ends_at
        )
    } else if chain.in_bundle {
        format!("the chain ends at \"{}\" (in DB_CA_BUNDLE)", chain.ends_at)
    } else if anchor == Anchor::Trusted {
        format!(
            "the chain ends at \"{}\" (in the system roots)",
            chain.ends_at
        )
    } else {
        format!("the chain ends at \"{}\"", chain.ends_at)
    }
}

/// A verification failure with the chain's CA in its message and evidence (`ca_needed` and a
/// remedy naming it when the CA is what is missing, `ca` otherwise) and the names sent.
fn name_chain_ca(f: Failure, chain: &ServerChain, r: &Rotator, anchor: Anchor) -> Failure {
    let message = format!("{}; {}", f.message, ends_at(chain, r, anchor));
    let (key, remedy) = if anchor == Anchor::Missing {
        let remedy = format!(
            "Add the CA \"{}\" to the PEM file DB_CA_BUNDLE names (for Amazon RDS the package ships its roots as /var/task/rds-roots.pem: deploy with dbCaBundlePath set to it, and refresh them with scripts/refresh-rds-certs).",
            chain.ends_at
        );
        ("ca_needed", remedy)
    } else {
        ("ca", f.remedy.clone())
    };
    let mut f = f
        .with(key, chain.ends_at.as_str())
        .with("server_chain", chain.sent.clone())
        .remedy(remedy);
    f.message = message;
    f
}
