//! `diagnose`: the read-only preflight of interface.md. Each check is timed, names a cause
//! when it fails, and is skipped when a check it needs has failed. Nothing is changed.

use super::cause::{Cause, Failure};
use super::deadline::Deadline;
use crate::db;
use crate::rotation::Rotator;
use crate::secret::{DbSecret, SecretRole, SslSetting};
use crate::store::Description;
use crate::store::SecretStore as _;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// Something worth acting on that is not a fault of the secret or its database (rotation not
/// enabled yet, rotation on another function, a rotation in progress): the check passes with
/// a warning, and the report stays ok.
#[derive(Debug, Clone)]
pub struct Warning {
    /// Stable code, e.g. `rotation_not_enabled`.
    pub code: &'static str,
    /// One human sentence.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
    /// Facts observed.
    pub evidence: Map<String, Value>,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable check name.
    pub name: &'static str,
    /// `Some(true)` passed (possibly with warnings), `Some(false)` failed, `None` skipped.
    pub ok: Option<bool>,
    /// Time the check took.
    pub duration_ms: u64,
    /// What was seen (or why it was skipped).
    pub detail: String,
    /// The failure, when it failed.
    pub failure: Option<Failure>,
    /// Warnings of a check that passed.
    pub warnings: Vec<Warning>,
}

impl Check {
    /// `ok`, `warn`, `fail` or `skipped`.
    pub fn status(&self) -> &'static str {
        match self.ok {
            None => "skipped",
            Some(false) => "fail",
            Some(true) if !self.warnings.is_empty() => "warn",
            Some(true) => "ok",
        }
    }
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
    /// True when no check failed (warnings do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok != Some(false))
    }

    /// The JSON form of interface.md: each check has `ok` (true, false or null for skipped)
    /// and `status` (`ok`, `warn`, `fail`, `skipped`); a warning check carries `remedy` and
    /// `warnings` (code, message, remedy, evidence), a failed one `cause`, `message`,
    /// `remedy` and `evidence`.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("name".into(), c.name.into());
                m.insert("ok".into(), c.ok.map(Value::Bool).unwrap_or(Value::Null));
                m.insert("status".into(), c.status().into());
                m.insert("duration_ms".into(), c.duration_ms.into());
                m.insert("detail".into(), c.detail.as_str().into());
                if let Some(f) = &c.failure {
                    m.insert("cause".into(), f.cause.code().into());
                    m.insert("message".into(), f.message.as_str().into());
                    m.insert("remedy".into(), f.remedy.as_str().into());
                    m.insert("evidence".into(), Value::Object((*f.evidence).clone()));
                }
                if !c.warnings.is_empty() {
                    let remedy: Vec<&str> = c.warnings.iter().map(|w| w.remedy.as_str()).collect();
                    m.insert("remedy".into(), remedy.join(" ").into());
                    let list: Vec<Value> = c
                        .warnings
                        .iter()
                        .map(|w| {
                            json!({"code": w.code, "message": w.message, "remedy": w.remedy,
                                   "evidence": Value::Object(w.evidence.clone())})
                        })
                        .collect();
                    m.insert("warnings".into(), Value::Array(list));
                }
                Value::Object(m)
            })
            .collect();
        let warnings = self.checks.iter().filter(|c| c.status() == "warn").count();
        let status = if !self.ok() {
            "fail"
        } else if warnings > 0 {
            "warn"
        } else {
            "ok"
        };
        let mut v = json!({"secret_id": self.secret_id, "ok": self.ok(), "status": status,
                           "warnings": warnings, "checks": checks});
        // Defence in depth: the report passes the same scrubber as every log line.
        crate::telemetry::scrub_value(&mut v);
        v
    }

    /// A table for a terminal.
    pub fn to_text(&self) -> String {
        Report::text_from_json(&self.to_json())
    }

    /// The table of a JSON report (also one that came back from a Lambda invocation).
    pub fn text_from_json(report: &Value) -> String {
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        let warnings = report["warnings"].as_u64().unwrap_or(0);
        let verdict = match (report["ok"].as_bool(), warnings) {
            (Some(true), 0) => "OK".to_string(),
            (Some(true), n) => format!("OK, {n} warning(s)"),
            _ => "PROBLEM FOUND".to_string(),
        };
        let mut out = format!(
            "diagnose {}: {verdict}\n\n",
            report["secret_id"].as_str().unwrap_or("?")
        );
        let width = checks
            .iter()
            .filter_map(|c| c["name"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(10);
        out.push_str(&format!(
            "{:<6} {:<width$} {:>8}  detail\n",
            "result", "check", "ms"
        ));
        let under = |label: &str, text: &str| {
            format!("{:<6} {:<width$} {:>8}  {label}: {text}\n", "", "", "")
        };
        for c in &checks {
            let status = c["status"].as_str().unwrap_or(match c["ok"].as_bool() {
                Some(true) => "ok",
                Some(false) => "fail",
                None => "skipped",
            });
            let mark = match status {
                "ok" => "ok",
                "warn" => "warn",
                "fail" => "FAIL",
                _ => "skip",
            };
            out.push_str(&format!(
                "{:<6} {:<width$} {:>8}  {}\n",
                mark,
                c["name"].as_str().unwrap_or("?"),
                c["duration_ms"].as_u64().unwrap_or(0),
                c["detail"].as_str().unwrap_or("")
            ));
            if status == "fail" {
                out.push_str(&under("cause", c["cause"].as_str().unwrap_or("?")));
                out.push_str(&under("remedy", c["remedy"].as_str().unwrap_or("")));
                if let Some(e) = c["evidence"].as_object().filter(|e| !e.is_empty()) {
                    out.push_str(&under("evidence", &Value::Object(e.clone()).to_string()));
                }
            }
            for w in c["warnings"].as_array().into_iter().flatten() {
                out.push_str(&under(
                    "warning",
                    &format!(
                        "{}: {}",
                        w["code"].as_str().unwrap_or("?"),
                        w["message"].as_str().unwrap_or("")
                    ),
                ));
                out.push_str(&under("remedy", w["remedy"].as_str().unwrap_or("")));
            }
        }
        crate::telemetry::scrub(&out)
    }
}

/// Who runs the checks: in Lambda the function's own name (a secret rotated by any other
/// function is then a warning), and a Lambda client to name the other function's runtime.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The function that will rotate the secret (`AWS_LAMBDA_FUNCTION_NAME` in Lambda,
    /// `diagnose --function` in the CLI).
    pub this_function: Option<String>,
    /// Reads the runtime of the secret's current rotation function (best effort).
    pub lambda: Option<aws_sdk_lambda::Client>,
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
            warnings: Vec::new(),
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
                    warnings: Vec::new(),
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
                    warnings: Vec::new(),
                });
                None
            }
        }
    }

    /// Like [`Runner::record`], with the warnings of a check that passed.
    fn record_warned<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(T, String), Failure>,
        warnings: Vec<Warning>,
    ) -> Option<T> {
        let got = self.record(name, started, r);
        if got.is_some() {
            if let Some(last) = self.checks.last_mut() {
                last.warnings = warnings;
            }
        }
        got
    }
}

/// DNS, TCP and (for https) a TLS handshake to the Secrets Manager endpoint, each timed.
async fn probe_endpoint(endpoint: &str, deadline: &Deadline) -> Result<((), String), Failure> {
    if let Some(f) = deadline.passed_before("connect") {
        return Err(f);
    }
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
    let (host, port) = crate::net::endpoint_address(endpoint);
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

/// The runtime of a function, for naming it ("python3.7"), or why it is unknown.
async fn runtime_of(ctx: &Context, function: &str, deadline: &Deadline) -> String {
    let Some(lambda) = &ctx.lambda else {
        return "runtime unknown".to_string();
    };
    let call = lambda
        .get_function_configuration()
        .function_name(function)
        .send();
    let started = Instant::now();
    let answer = tokio::time::timeout(deadline.cap(Duration::from_secs(3)), call).await;
    // Logged like every other AWS call, so the IAM policy test sees that the role needs it.
    let outcome = match &answer {
        Ok(Ok(_)) => "ok",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    crate::telemetry::aws_call(
        "lambda",
        "GetFunctionConfiguration",
        started.elapsed().as_millis() as u64,
        outcome,
    );
    match answer {
        Ok(Ok(out)) => out
            .runtime()
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "container image".to_string()),
        Ok(Err(e)) => {
            use aws_smithy_types::error::metadata::ProvideErrorMetadata;
            format!(
                "runtime not readable: {}",
                e.code().unwrap_or("no answer from Lambda")
            )
        }
        Err(_) => "runtime unknown: Lambda did not answer in time".to_string(),
    }
}

/// DescribeSecret's answer judged: several AWSCURRENT labels fail; rotation not enabled, on
/// another function or in progress are warnings with their remedies.
async fn describe_detail(
    d: &Description,
    ctx: &Context,
    deadline: &Deadline,
) -> (Result<((), String), Failure>, Vec<Warning>) {
    let current = d
        .versions
        .iter()
        .filter(|(_, s)| s.iter().any(|l| l == "AWSCURRENT"))
        .count();
    if current != 1 {
        return (
            Err(Failure::new(
                Cause::AwsServiceError,
                format!("{current} versions hold AWSCURRENT"),
            )
            .with("aws_error_code", "staging_labels")),
            Vec::new(),
        );
    }
    let this = ctx.this_function.as_deref();
    let switch = format!(
        "db-secret-rotator migrate --secret-id {} --function {} --apply",
        d.arn,
        this.unwrap_or("THIS_FUNCTION")
    );
    let mut warnings = Vec::new();
    let mut parts = Vec::new();
    let other = match &d.rotation_lambda_arn {
        Some(arn) => {
            let name = crate::operate::function_name(arn);
            let mine = this.is_some_and(|t| crate::operate::function_name(t) == name);
            if mine {
                parts.push(format!("rotation function: this one ({name})"));
                None
            } else {
                let runtime = runtime_of(ctx, arn, deadline).await;
                parts.push(format!("rotation function: {name} ({runtime})"));
                this.is_some()
                    .then(|| (arn.clone(), name.to_string(), runtime))
            }
        }
        None => {
            parts.push("no rotation function".to_string());
            None
        }
    };
    if !d.rotation_enabled {
        warnings.push(Warning {
            code: "rotation_not_enabled",
            message: "rotation is not enabled on the secret yet".to_string(),
            remedy: format!("When this preflight passes, point the secret's rotation at this function: {switch}"),
            evidence: Map::new(),
        });
    }
    if let Some((arn, name, runtime)) = other {
        let mut evidence = Map::new();
        evidence.insert("function_arn".into(), arn.into());
        evidence.insert("runtime".into(), runtime.as_str().into());
        warnings.push(Warning {
            code: "rotation_on_other_function",
            message: format!("the secret is rotated by another function: {name} ({runtime})"),
            remedy: format!("When this preflight passes, switch the secret to this function (the command prints how to switch back): {switch}"),
            evidence,
        });
    }
    if let Some(p) = d.version_with("AWSPENDING") {
        if !d.has(p, "AWSCURRENT") {
            let mut evidence = Map::new();
            evidence.insert("pending_version_id".into(), p.into());
            warnings.push(Warning {
                code: "stale_pending_label",
                message: format!("AWSPENDING sits on version {p}, not on AWSCURRENT: a rotation is in progress, or one stopped before finishSecret"),
                remedy: format!("Let a running rotation finish (Secrets Manager retries it); if none is running, remove the label: aws secretsmanager update-secret-version-stage --secret-id {} --version-stage AWSPENDING --remove-from-version-id {p}", d.arn),
                evidence,
            });
        }
    }
    parts.push(if d.rotation_enabled {
        "rotation enabled".to_string()
    } else {
        "rotation not enabled".to_string()
    });
    parts.push(format!("{} versions", d.versions.len()));
    (Ok(((), parts.join("; "))), warnings)
}

async fn tcp_probe(
    s: &DbSecret,
    deadline: &Deadline,
    connect_timeout: Duration,
) -> Result<((), String), Failure> {
    if let Some(f) = deadline.passed_before("db_connect") {
        return Err(f);
    }
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
        Ok(Err(e)) => Err(fail(crate::net::Phase::from_text(&e.to_string()).as_str())
            .with("error", e.to_string())),
        Err(_) => Err(fail("connect").with("timeout", true)),
    }
}

/// Runs every check; never fails as a whole, the report says what is wrong.
pub async fn run(r: &Rotator, secret_id: &str, deadline: Deadline) -> Report {
    run_with(r, secret_id, deadline, &Context::default()).await
}

/// [`run`], knowing which function will rotate the secret.
pub async fn run_with(r: &Rotator, secret_id: &str, deadline: Deadline, ctx: &Context) -> Report {
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
                let (detail, warnings) = describe_detail(&d, ctx, &deadline).await;
                run.record_warned("describe_secret", t, detail, warnings);
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
                    Ok(_) if role == SecretRole::Previous && r.db.mysql.dual_password => Ok((
                        (),
                        "AWSPREVIOUS logs in: it is the account's secondary password (MYSQL_DUAL_PASSWORD), as expected"
                            .to_string(),
                    )),
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
    } else if current.family == crate::secret::EngineFamily::MySql {
        mysql_secondary_password(&mut run, r, &current, &deadline).await;
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

/// MySQL single user: whether the account has a secondary password (dual passwords,
/// MySQL 8.0.14+), and, with `MYSQL_DUAL_PASSWORD`, whether the server and the account's
/// privileges allow the rotation to keep one. Read-only: `mysql.user` when the account may
/// read it, else whether AWSPREVIOUS logged in beside AWSCURRENT (`login_previous`).
async fn mysql_secondary_password(
    run: &mut Runner,
    r: &Rotator,
    current: &DbSecret,
    deadline: &Deadline,
) {
    use crate::db::mysql::{dual_password_unsupported, supports_dual_password};
    const NAME: &str = "mysql_secondary_password";
    let dual = r.db.mysql.dual_password;
    let previous_logs_in = run.checks.iter().any(|c| {
        c.name == "login_previous"
            && c.ok == Some(true)
            && c.detail.starts_with("AWSPREVIOUS")
            && c.detail.contains("logs in")
    });
    let t = Instant::now();
    let mut session = match db::connect(current, SecretRole::Current, &r.db, deadline).await {
        Ok(db::Session::MySql(s)) => s,
        Ok(_) => return,
        Err(_) => return run.skip(NAME, "AWSCURRENT does not log in"),
    };
    let version = session.version();
    if !supports_dual_password(version.as_ref()) {
        if dual {
            run.record::<()>(NAME, t, Err(dual_password_unsupported(version.as_ref())));
        } else {
            run.skip(
                NAME,
                "the server has no dual passwords (MySQL 8.0.14 or later)",
            );
        }
        return;
    }
    let result = async {
        let has = session.has_secondary_password(deadline).await?;
        let mut detail = match has {
            Some(true) => "the account has a secondary password".to_string(),
            Some(false) => "the account has no secondary password".to_string(),
            None if previous_logs_in => {
                "the account has a secondary password (AWSPREVIOUS logs in beside AWSCURRENT)"
                    .to_string()
            }
            None => "no secondary password seen (the account may not read mysql.user; AWSPREVIOUS does not log in)".to_string(),
        };
        if dual {
            if !session.may_retain_current_password(deadline).await? {
                let acct = session.account().sql();
                return Err(Failure::new(
                    Cause::DbPermissionDenied,
                    format!("MYSQL_DUAL_PASSWORD is set, but {acct} may not keep a secondary password"),
                )
                .with("user", current.username.as_str())
                .with("statement_kind", "alter_password")
                .with("privilege", "APPLICATION_PASSWORD_ADMIN")
                .remedy(format!(
                    "GRANT APPLICATION_PASSWORD_ADMIN ON *.* TO {acct}; (or unset MYSQL_DUAL_PASSWORD)."
                )));
            }
            detail.push_str("; MYSQL_DUAL_PASSWORD: the account may keep one (APPLICATION_PASSWORD_ADMIN)");
        }
        Ok(((), detail))
    }
    .await;
    run.record(NAME, t, result);
}
