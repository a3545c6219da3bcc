//! TLS for database connections: the system roots plus `DB_CA_BUNDLE`, chain and host name
//! always verified when TLS is used; and why a verification failed, as a typed [`TlsReason`]
//! both drivers record.

use crate::failure::{Cause, Failure, TlsReason};

/// Extra trust anchors, read once per process.
#[derive(Clone, Default)]
pub struct TrustAnchors {
    certs: Vec<native_tls::Certificate>,
    /// Built once: OpenSSL reads and parses the whole system root store for every new
    /// context, which cost more CPU than the handshake itself when done per connection.
    connector: std::sync::Arc<std::sync::OnceLock<native_tls::TlsConnector>>,
    /// The same for mysql_async, which builds its own connector from its options and keeps
    /// it in them: every connection made from clones of one set of options shares it.
    mysql: std::sync::Arc<std::sync::OnceLock<mysql_async::OptsBuilder>>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustAnchors({} extra)", self.certs.len())
    }
}

impl TrustAnchors {
    /// The extra anchors in DER form (diagnose compares a server's chain against them).
    pub fn der(&self) -> Vec<Vec<u8>> {
        self.certs.iter().filter_map(|c| c.to_der().ok()).collect()
    }

    /// Reads the PEM bundle at `path` (`DB_CA_BUNDLE`), or none.
    pub fn load(path: Option<&str>) -> Result<Self, Failure> {
        let Some(path) = path else {
            return Ok(TrustAnchors::default());
        };
        let fail = |why: String| {
            Failure::new(
                Cause::DbTlsVerificationFailed,
                format!("DB_CA_BUNDLE cannot be used: {why}"),
            )
            .tls_reason(TlsReason::Other)
            .with("ca_bundle", path)
            .remedy("Point DB_CA_BUNDLE at a readable PEM file of CA certificates (the RDS global bundle), or unset it.")
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.kind().to_string()))?;
        let certs =
            native_tls::Certificate::stack_from_pem(&pem).map_err(|e| fail(e.to_string()))?;
        if certs.is_empty() {
            return Err(fail("no certificate in the file".into()));
        }
        Ok(TrustAnchors {
            certs,
            ..Default::default()
        })
    }

    /// How many extra anchors `DB_CA_BUNDLE` gave.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// True when `DB_CA_BUNDLE` gave none.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The extra anchors as DER, for drivers that build their own connector (mysql_async
    /// takes root certificates as bytes, not as `native_tls::Certificate`).
    pub fn der_certs(&self) -> Result<Vec<Vec<u8>>, Failure> {
        self.certs
            .iter()
            .map(|c| {
                c.to_der()
                    .map_err(|e| Failure::internal("encoding a DB_CA_BUNDLE certificate", &e))
            })
            .collect()
    }

    /// mysql_async options verifying chain and host name against system roots plus these
    /// (the defaults), with the TLS connector built on first use and shared by every
    /// connection made from a clone of them.
    pub fn mysql_opts(&self) -> Result<mysql_async::OptsBuilder, Failure> {
        if let Some(o) = self.mysql.get() {
            return Ok(o.clone());
        }
        let roots = self.der_certs()?.into_iter().map(Into::into).collect();
        let built = mysql_async::OptsBuilder::default()
            .ssl_opts(Some(mysql_async::SslOpts::default().with_root_certs(roots)));
        Ok(self.mysql.get_or_init(|| built).clone())
    }

    /// A connector that verifies chain and host name against system roots plus these
    /// (built on first use, then shared).
    pub fn connector(&self) -> Result<native_tls::TlsConnector, Failure> {
        if let Some(c) = self.connector.get() {
            return Ok(c.clone());
        }
        let mut builder = native_tls::TlsConnector::builder();
        for cert in &self.certs {
            builder.add_root_certificate(cert.clone());
        }
        let built = builder
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()
            .map_err(|e| Failure::internal("building the TLS connector", &e))?;
        Ok(self.connector.get_or_init(|| built).clone())
    }
}

/// Why certificate verification failed, from OpenSSL's verify result text (the only signal
/// native-tls gives). `None` when the text is not a verification failure.
pub fn verification_reason(text: &str) -> Option<TlsReason> {
    let t = text.to_ascii_lowercase();
    if t.contains("hostname mismatch") || t.contains("ip address mismatch") {
        Some(TlsReason::HostnameMismatch)
    } else if t.contains("certificate has expired") || t.contains("certificate is not yet valid") {
        Some(TlsReason::Expired)
    } else if t.contains("unable to get local issuer certificate")
        || t.contains("self-signed certificate")
        || t.contains("self signed certificate")
        || t.contains("unable to get issuer certificate")
        || t.contains("unable to verify the first certificate")
    {
        Some(TlsReason::UntrustedCa)
    } else if t.contains("certificate verify failed") {
        Some(TlsReason::Other)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_verify_texts_are_pinned() {
        let base = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889:";
        assert_eq!(
            verification_reason(&format!("{base} (unable to get local issuer certificate)")),
            Some(TlsReason::UntrustedCa)
        );
        assert_eq!(
            verification_reason(&format!(
                "{base} (self-signed certificate in certificate chain)"
            )),
            Some(TlsReason::UntrustedCa)
        );
        assert_eq!(
            verification_reason(&format!("{base} (Hostname mismatch)")),
            Some(TlsReason::HostnameMismatch)
        );
        assert_eq!(
            verification_reason(&format!("{base} (certificate has expired)")),
            Some(TlsReason::Expired)
        );
        assert_eq!(verification_reason("unexpected EOF"), None);
    }

    #[test]
    fn a_missing_bundle_is_a_clear_cause() {
        let f = TrustAnchors::load(Some("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(f.cause, Cause::DbTlsVerificationFailed);
        assert!(TrustAnchors::load(None).unwrap().certs.is_empty());
    }
}
