//! Network facts shared by the database drivers and the AWS adapters: the phase a
//! connection failed in, an endpoint's address, and walking an error's source chain.
//! It sits below `db` and `store`, and depends on neither.

use std::error::Error;

/// Where a network connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The host name did not resolve.
    Dns,
    /// No TCP connection (refused, dropped, unreachable).
    Connect,
    /// The TLS handshake or the certificate check failed.
    Tls,
    /// Connected, but the server's greeting or the login exchange was cut off.
    Handshake,
    /// Connected, but no usable answer came back.
    Response,
}

impl Phase {
    /// The name in events (`"phase"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Handshake => "handshake",
            Phase::Response => "response",
        }
    }

    /// The phase of an error chain: a typed `io::Error` when there is one, otherwise the
    /// chain's text (see [`Phase::from_text`]).
    pub fn of_error(err: &(dyn Error + 'static)) -> Phase {
        for e in source_chain(err) {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if let Some(phase) = Phase::of_io_kind(io.kind()) {
                    return phase;
                }
            }
        }
        Phase::from_text(&chain_text(err))
    }

    /// The phase an `io::ErrorKind` names, when it names one.
    pub fn of_io_kind(kind: std::io::ErrorKind) -> Option<Phase> {
        use std::io::ErrorKind::*;
        match kind {
            ConnectionRefused | ConnectionReset | TimedOut | HostUnreachable
            | NetworkUnreachable => Some(Phase::Connect),
            _ => None,
        }
    }

    /// The phase named by an error chain's text, when no typed error says it (hyper-util's
    /// connector and the database drivers report DNS and TLS failures only as text).
    pub fn from_text(text: &str) -> Phase {
        let text = text.to_ascii_lowercase();
        if text.contains("dns error")
            || text.contains("failed to lookup address")
            || text.contains("name or service not known")
            || text.contains("no such host")
        {
            Phase::Dns
        } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake")
        {
            Phase::Tls
        } else if text.contains("connection refused")
            || text.contains("tcp connect")
            || text.contains("timed out")
            || text.contains("unreachable")
        {
            Phase::Connect
        } else {
            Phase::Response
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error and every error below it, outermost first.
pub fn source_chain<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e: &&'a (dyn Error + 'static)| e.source())
}

/// The whole chain's messages joined with `": "`.
pub fn chain_text(err: &(dyn Error + 'static)) -> String {
    source_chain(err)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The host and port of an endpoint URL (`https://host[:port][/...]`); a bare `host[:port]`
/// is read as https. The port defaults to the scheme's.
pub fn endpoint_address(endpoint: &str) -> (String, u16) {
    let with_scheme;
    let text = if endpoint.contains("://") {
        endpoint
    } else {
        with_scheme = format!("https://{endpoint}");
        &with_scheme
    };
    match url::Url::parse(text) {
        Ok(u) => {
            let host = match u.host() {
                Some(url::Host::Ipv6(a)) => a.to_string(),
                Some(h) => h.to_string(),
                None => String::new(),
            };
            (host, u.port_or_known_default().unwrap_or(443))
        }
        Err(_) => (endpoint.to_string(), 443),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_text_is_pinned() {
        assert_eq!(
            Phase::from_text(
                "dns error: failed to lookup address information: Name or service not known"
            ),
            Phase::Dns
        );
        assert_eq!(
            Phase::from_text("invalid peer certificate: UnknownIssuer"),
            Phase::Tls
        );
        assert_eq!(
            Phase::from_text("tcp connect error: Connection refused (os error 111)"),
            Phase::Connect
        );
        assert_eq!(
            Phase::from_text("connection closed before message completed"),
            Phase::Response
        );
    }

    #[test]
    fn a_typed_io_error_decides_before_the_text() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "certificate");
        assert_eq!(Phase::of_error(&io), Phase::Connect);
        let other = std::io::Error::other("handshake failed");
        assert_eq!(Phase::of_error(&other), Phase::Tls);
    }

    #[test]
    fn endpoint_addresses_parse() {
        assert_eq!(
            endpoint_address("https://secretsmanager.us-east-1.amazonaws.com"),
            ("secretsmanager.us-east-1.amazonaws.com".to_string(), 443)
        );
        assert_eq!(
            endpoint_address("http://127.0.0.1:45000/"),
            ("127.0.0.1".to_string(), 45000)
        );
        assert_eq!(
            endpoint_address("https://[::1]:8443"),
            ("::1".to_string(), 8443)
        );
        assert_eq!(
            endpoint_address("http://localhost"),
            ("localhost".to_string(), 80)
        );
        assert_eq!(
            endpoint_address("db.example.com:5432"),
            ("db.example.com".to_string(), 5432)
        );
    }

    #[test]
    fn the_chain_is_walked_outermost_first() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl Error for Outer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain_text(&e), "outer: inner");
        assert_eq!(source_chain(&e).count(), 2);
    }
}
