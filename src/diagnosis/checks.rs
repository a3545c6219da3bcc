//! `diagnose`: the read-only preflight of interface.md. Each check is timed, names a cause
//! when it fails, and is skipped when a check it needs has failed. Nothing is changed.

use super::cause::{Cause, Failure};
use super::deadline::Deadline;
use crate::db;
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole, SslSetting};
use crate::store::Description;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable check name.
    pub name: &'static str,
    /// `Some(true)` passed, `Some(false)` failed, `None` skipped.
    pub ok: Option<bool>,
    /// Time the check took.
    pub duration_ms: u64,
    /// What was seen (or why it was skipped).
    pub detail: String,
    /// The failure, when it failed.
    pub failure: Option<Failure>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The secret checked.
    pub secret_id: String,
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok != Some(false))
    }

    /// The JSON form of interface.md.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("name".into(), c.name.into());
                m.insert("ok".into(), c.ok.map(Value::Bool).unwrap_or(Value::Null));
                m.insert("duration_ms".into(), c.duration_ms.into());
                m.insert("detail".into(), c.detail.as_str().into());
                if let Some(f) = &c.failure {
                    m.insert("cause".into(), f.cause.code().into());
                    m.insert("message".into(), f.message.as_str().into());
                    m.insert("remedy".into(), f.remedy.as_str().into());
                    m.insert("evidence".into(), Value::Object((*f.evidence).clone()));
                }
                Value::Object(m)
            })
            .collect();
        let mut v = json!({"secret_id": self.secret_id, "ok": self.ok(), "checks": checks});
        // Defence in depth: the report passes the same scrubber as every log line.
        crate::telemetry::scrub_value(&mut v);
        v
    }

    /// A table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "diagnose {}: {}\n\n",
            self.secret_id,
            if self.ok() { "OK" } else { "PROBLEM FOUND" }
        );
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(10);
        out.push_str(&format!(
            "{:<6} {:<width$} {:>8}  detail\n",
            "result", "check", "ms"
        ));
        for c in &self.checks {
            let mark = match c.ok {
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "skip",
            };
            out.push_str(&format!(
                "{:<6} {:<width$} {:>8}  {}\n",
                mark, c.name, c.duration_ms, c.detail
            ));
            if let Some(f) = &c.failure {
                out.push_str(&format!(
                    "{:<6} {:<width$} {:>8}  cause: {}\n",
                    "",
                    "",
                    "",
                    f.cause.code()
                ));
                out.push_str(&format!(
                    "{:<6} {:<width$} {:>8}  remedy: {}\n",
                    "", "", "", f.remedy
                ));
            }
        }
        crate::telemetry::scrub(&out)
    }
}

struct Runner {
    checks: Vec<Check>,
}

impl Runner {
    fn skip(&mut self, name: &'static str, why: &str) {
        self.checks.push(Check {
            name,
            ok: None,
            duration_ms: 0,
            detail: format!("skipped: {why}"),
            failure: None,
        });
    }

    fn record<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(T, String), Failure>,
    ) -> Option<T> {
        let duration_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok((v, detail)) => {
                self.checks.push(Check {
                    name,
                    ok: Some(true),
                    duration_ms,
                    detail,
                    failure: None,
                });
                Some(v)
            }
            Err(f) => {
                self.checks.push(Check {
                    name,
                    ok: Some(false),
                    duration_ms,
                    detail: f.message.clone(),
                    failure: Some(f),
                });
                None
            }
        }
    }
}

/// DNS, TCP and (for https) a TLS handshake to the Secrets Manager endpoint, each timed.
async fn probe_endpoint(endpoint: &str, deadline: &Deadline) -> Result<((), String), Failure> {
    let started = Instant::now();
    let fail = |phase: &str, why: String| {
        Failure::new(
            Cause::SecretsManagerUnreachable,
            format!("the Secrets Manager endpoint is not reachable ({phase}): {why}"),
        )
        .with("endpoint", endpoint)
        .with("operation", "connect")
        .with("phase", phase)
        .with("elapsed_ms", started.elapsed().as_millis() as u64)
    };
    let scheme = endpoint
        .split_once("://")
        .map_or("https", |(scheme, _)| scheme);
    let (host, port) = crate::store::classify::endpoint_address(endpoint);
    let budget = deadline.cap(Duration::from_secs(5));
    let t0 = Instant::now();
    let addrs: Vec<_> =
        match tokio::time::timeout(budget, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(fail("dns", e.to_string())),
            Err(_) => return Err(fail("dns", "timed out".into())),
        };
    let dns_ms = t0.elapsed().as_millis();
    let Some(addr) = addrs.first().copied() else {
        return Err(fail("dns", "no address".into()));
    };
    let t1 = Instant::now();
    let stream = match tokio::time::timeout(
        deadline.cap(Duration::from_secs(5)),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(fail("connect", e.to_string())),
        Err(_) => return Err(fail("connect", "timed out".into())),
    };
    let tcp_ms = t1.elapsed().as_millis();
    let budget = deadline.cap(Duration::from_secs(5));
    if scheme == "http" {
        let t3 = Instant::now();
        let status = http_probe(stream, &host, budget)
            .await
            .map_err(|why| fail("response", why))?;
        return Ok((
            (),
            format!(
                "{host}:{port} dns {dns_ms} ms, tcp {tcp_ms} ms, http {} ms ({status}; plain http)",
                t3.elapsed().as_millis()
            ),
        ));
    }
    let t2 = Instant::now();
    let connector = native_tls::TlsConnector::new().map_err(|e| fail("tls", e.to_string()))?;
    let connector = tokio_native_tls::TlsConnector::from(connector);
    let tls = match tokio::time::timeout(budget, connector.connect(&host, stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(fail("tls", e.to_string())),
        Err(_) => return Err(fail("tls", "timed out".into())),
    };
    let tls_ms = t2.elapsed().as_millis();
    let t3 = Instant::now();
    let status = http_probe(tls, &host, deadline.cap(Duration::from_secs(5)))
        .await
        .map_err(|why| fail("response", why))?;
    Ok((
        (),
        format!(
            "{host}:{port} dns {dns_ms} ms, tcp {tcp_ms} ms, tls {tls_ms} ms, http {} ms ({status})",
            t3.elapsed().as_millis()
        ),
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

fn describe_detail(d: &Description) -> Result<((), String), Failure> {
    if !d.rotation_enabled {
        return Err(Failure::new(
            Cause::RotationNotEnabled,
            "rotation is not enabled on the secret",
        ));
    }
    let current = d
        .versions
        .iter()
        .filter(|(_, s)| s.iter().any(|l| l == "AWSCURRENT"))
        .count();
    if current != 1 {
        return Err(Failure::new(
            Cause::AwsServiceError,
            format!("{current} versions hold AWSCURRENT"),
        )
        .with("aws_error_code", "staging_labels"));
    }
    if let Some(p) = d.version_with("AWSPENDING") {
        if !d.has(p, "AWSCURRENT") {
            return Err(Failure::new(
                Cause::VersionNotPending,
                "a stale AWSPENDING label sits on a version that is not being rotated",
            )
            .with("pending_version_id", p)
            .with("finding", "stale_pending_label")
            .remedy(format!("If no rotation is running, remove it: aws secretsmanager update-secret-version-stage --secret-id {} --version-stage AWSPENDING --remove-from-version-id {p}", d.arn)));
        }
    }
    Ok((
        (),
        format!(
            "rotation enabled; {} versions; staging labels sane",
            d.versions.len()
        ),
    ))
}

async fn tcp_probe(
    s: &DbSecret,
    deadline: &Deadline,
    connect_timeout: Duration,
) -> Result<((), String), Failure> {
    let started = Instant::now();
    let fail = |phase: &str| {
        Failure::new(
            Cause::DbUnreachable,
            format!("cannot reach {}:{} ({phase})", s.host, s.port),
        )
        .with("host", s.host.as_str())
        .with("port", s.port)
        .with("phase", phase)
        .with("elapsed_ms", started.elapsed().as_millis() as u64)
    };
    let fut = tokio::net::TcpStream::connect((s.host.as_str(), s.port));
    match tokio::time::timeout(deadline.cap(connect_timeout), fut).await {
        Ok(Ok(_)) => Ok((
            (),
            format!(
                "tcp {}:{} in {} ms",
                s.host,
                s.port,
                started.elapsed().as_millis()
            ),
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(fail("connect")),
        Ok(Err(e)) => Err(
            fail(crate::store::classify::phase_from_text(&e.to_string()))
                .with("error", e.to_string()),
        ),
        Err(_) => Err(fail("connect").with("timeout", true)),
    }
}

/// Runs every check; never fails as a whole, the report says what is wrong.
pub async fn run(r: &Rotator, secret_id: &str, deadline: Deadline) -> Report {
    let mut run = Runner { checks: Vec::new() };
    let t = Instant::now();
    let endpoint_ok = run
        .record(
            "secrets_manager_endpoint",
            t,
            probe_endpoint(r.sm.endpoint(), &deadline).await,
        )
        .is_some();

    let description = if endpoint_ok {
        let t = Instant::now();
        let d = r.sm.describe(&deadline, secret_id).await;
        match d {
            Ok(d) => {
                let detail = describe_detail(&d);
                run.record("describe_secret", t, detail);
                Some(d)
            }
            Err(f) => {
                run.record::<()>("describe_secret", t, Err(f));
                None
            }
        }
    } else {
        run.skip("describe_secret", "the endpoint is not reachable");
        None
    };

    let current_text = match &description {
        Some(d) => {
            let t = Instant::now();
            let got =
                r.sm.get_value(
                    &deadline,
                    secret_id,
                    SecretRole::Current,
                    d.version_with("AWSCURRENT"),
                )
                .await
                .and_then(|v| {
                    v.ok_or_else(|| crate::rotation::not_found(SecretRole::Current, secret_id))
                });
            run.record(
                "current_secret_readable",
                t,
                got.map(|v| (v, "AWSCURRENT read and decrypted".to_string())),
            )
        }
        None => {
            run.skip("current_secret_readable", "DescribeSecret failed");
            None
        }
    };

    let current = match current_text {
        Some(text) => {
            let t = Instant::now();
            let parsed = DbSecret::parse(text.expose(), SecretRole::Current);
            run.record(
                "secret_json_valid",
                t,
                parsed.map(|s| {
                    let detail = format!(
                        "engine {}, host {}, port {}, user {}",
                        s.engine, s.host, s.port, s.username
                    );
                    (s, detail)
                }),
            )
        }
        None => {
            run.skip("secret_json_valid", "AWSCURRENT is not readable");
            None
        }
    };

    let Some(current) = current else {
        for name in ["database_reachable", "tls", "login_current"] {
            run.skip(name, "no valid AWSCURRENT secret");
        }
        return Report {
            secret_id: secret_id.to_string(),
            checks: run.checks,
        };
    };

    let t = Instant::now();
    let reachable = run
        .record(
            "database_reachable",
            t,
            tcp_probe(&current, &deadline, r.db.connect_timeout).await,
        )
        .is_some();
    if !reachable {
        run.skip("tls", "the database is not reachable");
        run.skip("login_current", "the database is not reachable");
        return Report {
            secret_id: secret_id.to_string(),
            checks: run.checks,
        };
    }

    // TLS offered and verifiable: a verified-TLS login; a refusal of the credentials still
    // proves the TLS part.
    let t = Instant::now();
    let mut tls_probe = current.clone();
    tls_probe.ssl = SslSetting::Required;
    let tls_result = match db::connect(&tls_probe, SecretRole::Current, &r.db, &deadline).await {
        Ok(_) => Ok(((), "TLS offered; chain and host name verified".to_string())),
        Err(f)
            if matches!(
                f.cause,
                Cause::DbTlsUnavailable | Cause::DbTlsVerificationFailed | Cause::DbUnreachable
            ) =>
        {
            let what = match f.evidence.get("reason").and_then(Value::as_str) {
                Some(reason) => format!("{} ({reason})", f.cause),
                None => f.cause.code().to_string(),
            };
            match current.ssl {
                // Not used anyway: worth knowing, not a failure.
                SslSetting::Disabled => Ok((
                    (),
                    format!("TLS not usable: {what}; not used (the secret says \"ssl\": false)"),
                )),
                // What rotation does with it: plaintext, reported as a finding.
                SslSetting::Absent
                    if r.db.tls_fallback == crate::config::TlsFallback::Allow
                        && f.cause != Cause::DbUnreachable =>
                {
                    Ok((
                        (),
                        format!("TLS not usable: {what}; with no \"ssl\" key rotation falls back to plaintext and reports tls_downgraded (set \"ssl\": true once TLS works, or TLS_FALLBACK=deny)"),
                    ))
                }
                _ => Err(f),
            }
        }
        Err(_) => Ok((
            (),
            "TLS offered and verified (login itself judged below)".to_string(),
        )),
    };
    let tls_result = name_chain_ca(tls_result, &current, r, &deadline).await;
    run.record("tls", t, tls_result);

    let t = Instant::now();
    let login = db::connect(&current, SecretRole::Current, &r.db, &deadline)
        .await
        .map(|s| {
            (
                (),
                format!(
                    "logged in as {} (tls: {})",
                    current.username,
                    s.tls().as_str()
                ),
            )
        });
    run.record("login_current", t, login);

    // AWSPENDING / AWSPREVIOUS, when present: logging in with them spots drift.
    if let Some(d) = &description {
        for role in [SecretRole::Pending, SecretRole::Previous] {
            let name = if role == SecretRole::Pending {
                "login_pending"
            } else {
                "login_previous"
            };
            let Some(version) = d.version_with(role.stage()) else {
                continue;
            };
            let t = Instant::now();
            let result = async {
                let text =
                    r.sm.get_value(&deadline, secret_id, role, Some(version))
                        .await?;
                let Some(text) = text else {
                    return Ok(((), "no value".to_string()));
                };
                let s = DbSecret::parse(text.expose(), role)?.with_ssl_of(&current);
                match db::connect(&s, role, &r.db, &deadline).await {
                    Ok(_)
                        if role == SecretRole::Previous
                            && r.settings.strategy == crate::config::Strategy::AlternatingUsers =>
                    {
                        Ok((
                            (),
                            "AWSPREVIOUS (the other user of the pair) logs in, as expected"
                                .to_string(),
                        ))
                    }
                    Ok(_) if role == SecretRole::Previous => Ok((
                        (),
                        "AWSPREVIOUS still logs in: the database accepts an old password (drift)"
                            .to_string(),
                    )),
                    Ok(_) => Ok(((), "AWSPENDING logs in".to_string())),
                    Err(f) if f.cause == Cause::DbLoginFailed => {
                        Ok(((), format!("{} is refused, as expected", role.stage())))
                    }
                    Err(f) => Err(f),
                }
            }
            .await;
            run.record(name, t, result);
        }
    }
    if r.settings.strategy == crate::config::Strategy::AlternatingUsers {
        alternating_checks(&mut run, r, &current, &deadline).await;
    }
    Report {
        secret_id: secret_id.to_string(),
        checks: run.checks,
    }
}

/// Alternating users: the master secret is readable, (RDS-managed) the RDS API answers,
/// the master logs in where it may, and it may manage users. Each is skipped when the one
/// before it failed.
async fn alternating_checks(
    run: &mut Runner,
    r: &Rotator,
    current: &DbSecret,
    deadline: &Deadline,
) {
    use crate::rotation::alternating::{self as alt, MasterValue};
    let t = Instant::now();
    let read = alt::read_master(&r.sm, deadline, current).await.map(|v| {
        let detail = match &v {
            MasterValue::Complete(s) => format!(
                "engine {}, host {}, port {}, user {}",
                s.engine, s.host, s.port, s.username
            ),
            MasterValue::RdsManaged(_) => {
                "RDS-managed (username and password only): connection details come from the RDS API"
                    .to_string()
            }
        };
        (v, detail)
    });
    let after = |run: &mut Runner, names: &[&'static str], why: &str| {
        for name in names {
            run.skip(name, why);
        }
    };
    let Some(value) = run.record("master_secret_readable", t, read) else {
        after(
            run,
            &["master_login", "manage_users_privilege"],
            "the master secret is not readable",
        );
        return;
    };
    let resolved = match value {
        MasterValue::Complete(s) => Some((s, None)),
        MasterValue::RdsManaged(map) => {
            let t = Instant::now();
            let got = alt::resolve_rds_managed(&r.sm, &r.rds, deadline, current, map)
                .await
                .map(|(s, e)| {
                    let detail = format!(
                        "{} at {}:{}; {} replica/reader endpoint(s)",
                        e.engine,
                        e.host,
                        e.port,
                        e.readers.len()
                    );
                    ((s, Some(e)), detail)
                });
            run.record("rds_api_reachable", t, got)
        }
    };
    let Some((secret, rds)) = resolved else {
        after(
            run,
            &["master_login", "manage_users_privilege"],
            "the master's database is unknown",
        );
        return;
    };
    let t = Instant::now();
    let login = async {
        let mut master = alt::Master {
            secret: alt::connect_like_current(secret, current)?,
            rds,
        };
        alt::check_master_host(&r.rds, deadline, current, &mut master).await?;
        let session = db::connect(&master.secret, SecretRole::Master, &r.db, deadline).await?;
        let detail = format!(
            "logged in as {} at {}:{} (tls: {})",
            master.secret.username,
            master.secret.host,
            master.secret.port,
            session.tls().as_str()
        );
        Ok(((session, master.secret.username), detail))
    }
    .await;
    let Some((mut session, master_user)) = run.record("master_login", t, login) else {
        after(
            run,
            &["manage_users_privilege"],
            "the master does not log in",
        );
        return;
    };
    let t = Instant::now();
    let privilege = match session.can_manage_users(deadline).await {
        Ok(true) => Ok((
            (),
            format!("{master_user} may create users and grant roles"),
        )),
        Ok(false) => Err(Failure::new(
            Cause::DbPermissionDenied,
            format!("the master user {master_user} may not create users or grant roles"),
        )
        .with("user", master_user.as_str())
        .with("statement_kind", "create_user")
        .with("secret", SecretRole::Master.as_str())),
        Err(f) => Err(f),
    };
    run.record("manage_users_privilege", t, privilege);
}

/// Adds to the `tls` check the CA the server's certificate chain ends at: where it is found
/// when TLS verified, and which CA to add to `DB_CA_BUNDLE` when verification failed. Read in
/// a second handshake that verifies nothing and sends no credentials; if that one fails, the
/// check stays as it was.
async fn name_chain_ca(
    result: Result<((), String), Failure>,
    s: &DbSecret,
    r: &Rotator,
    deadline: &Deadline,
) -> Result<((), String), Failure> {
    let failed = match &result {
        Err(f) => f.cause == Cause::DbTlsVerificationFailed,
        // Not used for rotation (fallback or "ssl": false), but the same failure.
        Ok((_, detail)) => detail.contains(Cause::DbTlsVerificationFailed.code()),
    };
    let verified = matches!(&result, Ok((_, detail)) if detail.starts_with("TLS offered"));
    if !failed && !verified {
        return result;
    }
    let budget = deadline.cap(r.db.connect_timeout);
    let Ok(chain) = db::tls::server_chain(s.family, &s.host, s.port, &r.db.anchors, budget).await
    else {
        return result;
    };
    // The anchors are missing (not a host name or expiry problem): name the CA to add.
    let untrusted = !chain.in_bundle
        && match &result {
            Err(f) => f.evidence.get("reason").and_then(Value::as_str) == Some("untrusted_ca"),
            Ok((_, detail)) => detail.contains("(untrusted_ca)"),
        };
    let ends = if untrusted {
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
    } else if verified {
        format!(
            "the chain ends at \"{}\" (in the system roots)",
            chain.ends_at
        )
    } else {
        format!("the chain ends at \"{}\"", chain.ends_at)
    };
    match result {
        Ok(((), detail)) => Ok(((), format!("{detail}; {ends}"))),
        Err(f) => {
            let message = format!("{}; {ends}", f.message);
            let (key, remedy) = if untrusted {
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
            Err(f)
        }
    }
}
