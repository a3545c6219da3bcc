//! The certificate chain a database server presents, read for diagnose's `tls` check in a
//! handshake of its own (raw engine upgrade bytes, then OpenSSL), apart from the drivers.

use crate::db::TrustAnchors;

/// The certificate chain a database server presents, as diagnose reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChain {
    /// Common name (or whole subject) of each certificate the server sent, leaf first.
    pub sent: Vec<String>,
    /// The CA the chain ends at: the issuer of the last certificate sent, or that certificate
    /// itself when the server sent a self-signed root.
    pub ends_at: String,
    /// Whether that CA is one of the `DB_CA_BUNDLE` anchors (same name, valid signature).
    pub in_bundle: bool,
}

/// Reads the chain `host:port` presents, in a handshake that verifies nothing and sends no
/// credentials: the engine's TLS upgrade (PostgreSQL SSLRequest, MySQL SSL request packet),
/// then OpenSSL directly, because native-tls exposes only the leaf certificate. Used by
/// diagnose to name the CA a verification failure needed; `Err` is a short reason.
pub async fn server_chain(
    family: crate::secret::EngineFamily,
    host: &str,
    port: u16,
    anchors: &TrustAnchors,
    budget: std::time::Duration,
) -> Result<ServerChain, String> {
    let anchors = anchors.der();
    let host = host.to_string();
    let probe =
        tokio::task::spawn_blocking(move || chain_blocking(family, &host, port, &anchors, budget));
    match tokio::time::timeout(budget, probe).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("probe task failed: {e}")),
        Err(_) => Err(format!("no TLS handshake in {} ms", budget.as_millis())),
    }
}

fn chain_blocking(
    family: crate::secret::EngineFamily,
    host: &str,
    port: u16,
    anchors: &[Vec<u8>],
    budget: std::time::Duration,
) -> Result<ServerChain, String> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use openssl::x509::X509;
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, budget).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(budget))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(budget))
        .map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| e.to_string();
    match family {
        crate::secret::EngineFamily::Postgres => {
            // SSLRequest: length 8, code 80877103; the server answers 'S' or 'N'.
            tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
                .map_err(io)?;
            let mut answer = [0u8; 1];
            tcp.read_exact(&mut answer).map_err(io)?;
            if answer[0] != b'S' {
                return Err("the server does not offer TLS".into());
            }
        }
        crate::secret::EngineFamily::MySql => {
            let mut header = [0u8; 4];
            tcp.read_exact(&mut header).map_err(io)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            if len > 16 * 1024 {
                return Err("the server greeting is too long".into());
            }
            let mut greeting = vec![0u8; len];
            tcp.read_exact(&mut greeting).map_err(io)?;
            // Protocol 10: version, NUL, thread id (4), scramble (8), filler (1), capabilities.
            let caps_at = match greeting.first() {
                Some(10) => greeting[1..]
                    .iter()
                    .position(|&b| b == 0)
                    .map(|n| 1 + n + 14),
                Some(0xff) => return Err("the server sent an error instead of a greeting".into()),
                _ => None,
            };
            let caps = caps_at
                .and_then(|at| greeting.get(at..at + 2))
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or("not a MySQL greeting")?;
            if caps & 0x0800 == 0 {
                return Err("the server does not offer TLS".into());
            }
            // SSL request: LONG_PASSWORD | PROTOCOL_41 | SSL | SECURE_CONNECTION | PLUGIN_AUTH,
            // max packet 16 MiB, utf8mb4, 23 zero bytes.
            let mut packet = vec![32, 0, 0, header[3].wrapping_add(1)];
            packet.extend_from_slice(&(0x0008_8A01u32).to_le_bytes());
            packet.extend_from_slice(&(16u32 << 20).to_le_bytes());
            packet.push(45);
            packet.extend_from_slice(&[0u8; 23]);
            tcp.write_all(&packet).map_err(io)?;
        }
    }
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    builder.set_verify(SslVerifyMode::NONE);
    let config = builder
        .build()
        .configure()
        .map_err(|e| e.to_string())?
        .verify_hostname(false);
    let tls = config.connect(host, tcp).map_err(|e| e.to_string())?;
    let chain = tls
        .ssl()
        .peer_cert_chain()
        .ok_or("the server sent no certificate")?;
    let sent: Vec<String> = chain
        .iter()
        .map(|c| display_name(c.subject_name()))
        .collect();
    let last = chain
        .iter()
        .last()
        .ok_or("the server sent no certificate")?;
    // An anchor that issued the last certificate (for a self-signed root sent by the server,
    // the same root): its name is the issuer's and its key verifies the signature.
    let issuer = last.issuer_name().to_der().ok();
    let in_bundle = anchors
        .iter()
        .filter_map(|d| X509::from_der(d).ok())
        .any(|a| {
            a.subject_name().to_der().ok() == issuer
                && a.public_key()
                    .is_ok_and(|k| last.verify(&k).unwrap_or(false))
        });
    Ok(ServerChain {
        sent,
        ends_at: display_name(last.issuer_name()),
        in_bundle,
    })
}

/// The common name of an X.509 name, or all of its entries when it has none.
fn display_name(name: &openssl::x509::X509NameRef) -> String {
    if let Some(cn) = name.entries_by_nid(openssl::nid::Nid::COMMONNAME).next() {
        return cn.data().to_string().unwrap_or_default();
    }
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            format!("{key}={}", e.data().to_string().unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
