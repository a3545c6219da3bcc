//! The network probes of `diagnose`, each step timed: DNS, TCP, TLS and one HTTP answer from
//! the Secrets Manager endpoint, and a bare TCP connection to the database. They send no
//! credentials; a failure names its [`Phase`].

use super::list::{Ran, Running};
use super::{Env, Facts};
use crate::deadline::Deadline;
use crate::failure::{Cause, Failure};
use crate::net::Phase;
use crate::secret::DbSecret;
use std::time::{Duration, Instant};

/// `secrets_manager_endpoint`: the endpoint the function's Secrets Manager client calls.
pub(super) fn endpoint<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let probed = probe_endpoint(env.r.sm.endpoint(), &env.deadline).await;
        f.endpoint = probed.is_ok();
        probed.into()
    })
}

/// `database_reachable`: AWSCURRENT's host and port accept a TCP connection.
pub(super) fn database<'a>(env: &'a Env<'_>, f: &'a mut Facts) -> Running<'a> {
    Box::pin(async move {
        let Some(current) = &f.current else {
            return Ran::NotApplicable;
        };
        let probed = tcp_probe(current, &env.deadline, env.r.db.connect_timeout).await;
        f.reachable = probed.is_ok();
        probed.into()
    })
}

/// DNS, TCP and (for https) a TLS handshake to the Secrets Manager endpoint, each timed.
async fn probe_endpoint(endpoint: &str, deadline: &Deadline) -> Result<String, Failure> {
    if let Some(f) = deadline.passed_before("connect") {
        return Err(f);
    }
    let started = Instant::now();
    let fail = |phase: Phase, why: String| {
        Failure::new(
            Cause::SecretsManagerUnreachable,
            format!("the Secrets Manager endpoint is not reachable ({phase}): {why}"),
        )
        .with("endpoint", endpoint)
        .with("operation", "connect")
        .phase(phase)
        .with("elapsed_ms", started.elapsed().as_millis() as u64)
    };
    let scheme = endpoint
        .split_once("://")
        .map_or("https", |(scheme, _)| scheme);
    let (host, port) = crate::net::endpoint_address(endpoint);
    let budget = deadline.cap(Duration::from_secs(5));
    let t0 = Instant::now();
    let addrs: Vec<_> =
        match tokio::time::timeout(budget, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(fail(Phase::Dns, e.to_string())),
            Err(_) => return Err(fail(Phase::Dns, "timed out".into())),
        };
    let dns_ms = t0.elapsed().as_millis();
    let Some(addr) = addrs.first().copied() else {
        return Err(fail(Phase::Dns, "no address".into()));
    };
    let t1 = Instant::now();
    let stream = match tokio::time::timeout(
        deadline.cap(Duration::from_secs(5)),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(fail(Phase::Connect, e.to_string())),
        Err(_) => return Err(fail(Phase::Connect, "timed out".into())),
    };
    let tcp_ms = t1.elapsed().as_millis();
    let budget = deadline.cap(Duration::from_secs(5));
    if scheme == "http" {
        let t3 = Instant::now();
        let status = http_probe(stream, &host, budget)
            .await
            .map_err(|why| fail(Phase::Response, why))?;
        return Ok(format!(
            "{host}:{port} dns {dns_ms} ms, tcp {tcp_ms} ms, http {} ms ({status}; plain http)",
            t3.elapsed().as_millis()
        ));
    }
    let t2 = Instant::now();
    let connector = native_tls::TlsConnector::new().map_err(|e| fail(Phase::Tls, e.to_string()))?;
    let connector = tokio_native_tls::TlsConnector::from(connector);
    let tls = match tokio::time::timeout(budget, connector.connect(&host, stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(fail(Phase::Tls, e.to_string())),
        Err(_) => return Err(fail(Phase::Tls, "timed out".into())),
    };
    let tls_ms = t2.elapsed().as_millis();
    let t3 = Instant::now();
    let status = http_probe(tls, &host, deadline.cap(Duration::from_secs(5)))
        .await
        .map_err(|why| fail(Phase::Response, why))?;
    Ok(format!(
        "{host}:{port} dns {dns_ms} ms, tcp {tcp_ms} ms, tls {tls_ms} ms, http {} ms ({status})",
        t3.elapsed().as_millis()
    ))
}

/// One plain `GET /` on an open connection: any HTTP status line proves the endpoint
/// answers (a proxy or firewall that accepts TCP and then says nothing fails here, not in
/// the first API call). Gives the status line.
async fn http_probe<S>(mut stream: S, host: &str, budget: Duration) -> Result<String, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: db-secret-rotator-diagnose\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 512];
        let mut got = 0;
        while got < buf.len() {
            let n = stream
                .read(&mut buf[got..])
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 || buf[..got + n].contains(&b'\n') {
                got += n;
                break;
            }
            got += n;
        }
        let text = String::from_utf8_lossy(&buf[..got]);
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if line.starts_with("HTTP/") {
            Ok(line)
        } else if got == 0 {
            Err("the connection closed without an HTTP answer".to_string())
        } else {
            Err("the answer is not HTTP".to_string())
        }
    };
    match tokio::time::timeout(budget, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no HTTP answer in {} ms", budget.as_millis())),
    }
}

/// A TCP connection to the database's host and port, timed: the network path alone, before
/// any TLS or login.
async fn tcp_probe(
    s: &DbSecret,
    deadline: &Deadline,
    connect_timeout: Duration,
) -> Result<String, Failure> {
    if let Some(f) = deadline.passed_before("db_connect") {
        return Err(f);
    }
    let started = Instant::now();
    let fail = |phase: Phase| {
        crate::db::failure::unreachable(
            s.engine.as_str(),
            &s.host,
            s.port,
            phase,
            started.elapsed(),
        )
    };
    let fut = tokio::net::TcpStream::connect((s.host.as_str(), s.port));
    match tokio::time::timeout(deadline.cap(connect_timeout), fut).await {
        Ok(Ok(_)) => Ok(format!(
            "tcp {}:{} in {} ms",
            s.host,
            s.port,
            started.elapsed().as_millis()
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(fail(Phase::Connect))
        }
        Ok(Err(e)) => Err(fail(Phase::of_error(&e)).with("error", e.to_string())),
        Err(_) => Err(fail(Phase::Connect).with("timeout", true)),
    }
}
