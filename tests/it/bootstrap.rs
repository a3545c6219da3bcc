//! The deployable package, not the test build: the release `bootstrap` that `scripts/package`
//! built (cross-compiled with zig, OpenSSL compiled in, optionally run under
//! `qemu-aarch64-static`) serves rotation events through a Lambda Runtime API against the
//! real PostgreSQL and moto, exactly as Lambda would run it.
//!
//! Ignored by default: `scripts/check-deploy` runs it with `DSR_BOOTSTRAP` (the binary) and,
//! for arm64, `DSR_BOOTSTRAP_RUNNER=qemu-aarch64-static` (plus `QEMU_LD_PREFIX`). Without
//! `DSR_BOOTSTRAP` every test here fails: passing without a package would prove nothing.

use crate::common::mysql::{maria_create_user, maria_login, maria_secret};
use crate::common::runtime_api::{Answer, RuntimeApi};
use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Deadline given to each invocation: generous, qemu emulation is slow.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the test waits for an answer (past the deadline, the function failed to answer).
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// The packaged binary and the command that runs it (empty for a native binary).
struct Package {
    bootstrap: PathBuf,
    runner: Vec<String>,
}

fn package() -> Package {
    let bootstrap = std::env::var_os("DSR_BOOTSTRAP").map(PathBuf::from).expect(
        "DSR_BOOTSTRAP is not set: these tests check a packaged bootstrap; run scripts/check-deploy \
         (or DSR_BOOTSTRAP=target/lambda-x86_64/db-secret-rotator/bootstrap cargo test --test bootstrap -- --ignored)",
    );
    assert!(
        bootstrap.is_file(),
        "DSR_BOOTSTRAP={} is not a file: run scripts/package first",
        bootstrap.display()
    );
    let runner = std::env::var("DSR_BOOTSTRAP_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Package { bootstrap, runner }
}

/// Where the function finds its trust anchors.
enum Roots {
    /// The harness default: `DB_CA_BUNDLE` names the test CA.
    DbCaBundle,
    /// The deployed configuration: `DB_CA_BUNDLE` is the RDS roots packaged next to
    /// `bootstrap` (`rds-roots.pem`, the template's default), no `SSL_CERT_FILE`, and the
    /// process sees an `/etc` laid out like Amazon Linux 2023's (`/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem`, with
    /// `/etc/pki/tls/certs/ca-bundle.crt` and `/etc/ssl/certs` as links), holding this bundle.
    /// The compiled-in OpenSSL looks in `/usr/local/ssl`, so only the probe of the system paths
    /// can find it.
    Al2023SystemStore(PathBuf),
}

/// A running packaged function and the Runtime API it polls.
struct Function {
    api: RuntimeApi,
    child: tokio::process::Child,
    stdout: tokio::task::JoinHandle<String>,
    _etc: Option<FakeEtc>,
}

impl Function {
    async fn start(pkg: &Package, roots: Roots, endpoint: &str) -> Function {
        let api = RuntimeApi::start().await;
        let mut argv: Vec<String> = pkg.runner.clone();
        argv.push(pkg.bootstrap.to_str().unwrap().to_string());
        let etc = match &roots {
            Roots::DbCaBundle => None,
            Roots::Al2023SystemStore(bundle) => {
                let etc = FakeEtc::al2023(bundle);
                // A private mount namespace: only this process sees the replaced /etc.
                let mut wrapped: Vec<String> = [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    "mount --bind \"$0\" /etc && exec \"$@\"",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                wrapped.push(etc.0.to_str().unwrap().to_string());
                wrapped.extend(argv);
                argv = wrapped;
                Some(etc)
            }
        };
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        for var in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "SECRETS_MANAGER_ENDPOINT",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in base_env() {
            cmd.env(k, v);
        }
        if let Roots::Al2023SystemStore(_) = roots {
            let shipped = pkg.bootstrap.with_file_name("rds-roots.pem");
            assert!(
                shipped.is_file(),
                "{} is missing: scripts/package ships it next to bootstrap",
                shipped.display()
            );
            cmd.env("DB_CA_BUNDLE", shipped);
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "db-secret-rotator")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            // DEBUG adds an aws_call line per SDK call: more output for the leak scan.
            .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let mut out = child.stdout.take().unwrap();
        let stdout = tokio::spawn(async move {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s).await;
            s
        });
        Function {
            api,
            child,
            stdout,
            _etc: etc,
        }
    }

    async fn call(&self, payload: Value) -> Answer {
        let id = self.api.invoke(payload, INVOCATION_TIMEOUT);
        self.api.answer(&id, ANSWER_WITHIN).await
    }

    async fn rotation_step(&self, step: &str, arn: &str, token: &str) -> Answer {
        self.call(json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}))
            .await
    }

    /// Stops the function; returns its stdout lines as JSON (kept for the leak scan).
    async fn stop(mut self) -> Vec<Value> {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
        let stdout = self.stdout.await.unwrap();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output_dir().join("binary-output.log"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, stdout.as_bytes()))
            .unwrap();
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }
}

/// A copy of this machine's `/etc` whose certificate store is replaced by an Amazon Linux 2023
/// layout; removed on drop.
struct FakeEtc(PathBuf);

impl FakeEtc {
    fn al2023(bundle: &Path) -> FakeEtc {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("al2023-etc"));
        std::fs::create_dir_all(&dir).unwrap();
        let copied = std::process::Command::new("cp")
            .args(["-a", "/etc/.", dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(copied.success(), "copying /etc failed");
        for gone in ["ssl", "pki"] {
            let _ = std::fs::remove_dir_all(dir.join(gone));
        }
        let pem = dir.join("pki/ca-trust/extracted/pem");
        std::fs::create_dir_all(&pem).unwrap();
        std::fs::copy(bundle, pem.join("tls-ca-bundle.pem")).unwrap();
        std::fs::create_dir_all(dir.join("pki/tls/certs")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            dir.join("pki/tls/certs/ca-bundle.crt"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("ssl")).unwrap();
        std::os::unix::fs::symlink("../pki/tls/certs", dir.join("ssl/certs")).unwrap();
        FakeEtc(dir)
    }
}

impl Drop for FakeEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `https://localhost:PORT` in front of moto, with the test server certificate (issued by the
/// test CA for `localhost`): the Secrets Manager endpoint as the SDK's rustls client sees it.
async fn https_moto() -> String {
    let tls_dir = services().ca_file.parent().unwrap().to_path_buf();
    let cert = std::fs::read(tls_dir.join("server.pem")).unwrap();
    let key = std::fs::read(tls_dir.join("server.key")).unwrap();
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).unwrap();
    let acceptor =
        tokio_native_tls::TlsAcceptor::from(native_tls::TlsAcceptor::new(identity).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let moto = services()
        .moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, moto) = (acceptor.clone(), moto.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(&moto).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    format!("https://localhost:{port}")
}

fn assert_ok(answer: Answer, step: &str) {
    assert_eq!(answer, Answer::Response(Value::Null), "{step}");
}

fn error_type(answer: Answer) -> String {
    match answer {
        Answer::Error(e) => {
            let message = e["errorMessage"].as_str().unwrap_or_default();
            assert!(!message.contains('\n'), "multi-line errorMessage: {e}");
            e["errorType"].as_str().unwrap_or_default().to_string()
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[tokio::test]
#[ignore = "needs a packaged bootstrap: run by scripts/check-deploy"]
async fn packaged_bootstrap_rotates_a_postgres_secret_event_by_event() {
    let pkg = package();
    let s = services();
    let user = unique("dsr_pkg");
    let old = password("pkg-old");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    let arn = create_secret(&pg_secret(&user, &old)).await;
    let token = start_rotation(&arn).await;

    // A second user whose secret holds a password the database never had.
    let drifted = unique("dsr_pkg_drift");
    pg_create_user(s.pg_port, &drifted, &password("pkg-db"), &["dsr_tls_only"]).await;
    let drifted_arn = create_secret(&pg_secret(&drifted, &password("pkg-stale"))).await;
    let drifted_token = start_rotation(&drifted_arn).await;

    // Cross-account rotation passes a RotationToken: it goes to PutSecretValue, never to a log.
    let rotation_token = format!("RotTok-{}", unique("pkg"));
    record_secret(&rotation_token);

    let f = Function::start(&pkg, Roots::DbCaBundle, &s.moto).await;
    for step in STEPS {
        let event = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token,
                           "RotationToken": rotation_token});
        assert_ok(f.call(event).await, step);
    }
    // The diagnose event runs its checks from inside the packaged function.
    let report = match f.call(json!({"Action": "diagnose", "SecretId": arn})).await {
        Answer::Response(report) => report,
        other => panic!("diagnose: {other:?}"),
    };
    assert_ok(
        f.rotation_step("createSecret", &drifted_arn, &drifted_token)
            .await,
        "createSecret (drifted)",
    );
    let failed = f
        .rotation_step("setSecret", &drifted_arn, &drifted_token)
        .await;
    let events = f.stop().await;
    value_at(&drifted_arn, "AWSPENDING", Some(&drifted_token)).await;

    assert_eq!(error_type(failed), "db_login_failed");
    assert_eq!(report["secret_id"], arn.as_str(), "{report}");
    let login = report_check(&report, "login_current");
    assert_eq!(login["ok"], true, "{report}");
    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_ne!(new["password"], old.as_str());
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .expect("the rotated password logs in");
    assert!(pg_login(s.pg_port, &user, &old, true).await.is_err());

    assert_eq!(named(&events, "step_succeeded").len(), 5, "{events:#?}");
    let failures = named(&events, "step_failed");
    assert_eq!(failures.len(), 1, "{events:#?}");
    assert_eq!(failures[0]["cause"], "db_login_failed");
    // TLS to PostgreSQL went through the OpenSSL compiled into the package, verified.
    let connected = named(&events, "db_connected");
    assert!(!connected.is_empty(), "{events:#?}");
    assert!(
        connected.iter().all(|e| e["tls"] == "verified"),
        "{events:#?}"
    );
}

#[tokio::test]
#[ignore = "needs a packaged bootstrap: run by scripts/check-deploy"]
async fn packaged_bootstrap_rotates_a_mariadb_account_that_requires_tls() {
    let _shared = crate::common::mysql::shared(crate::common::mysql::Server::MariaDb).await;
    // The MySQL driver's TLS (native-tls over the OpenSSL compiled in) and its password hash.
    let pkg = package();
    let user = unique("dsr_pkg_my");
    let old = password("pkg-my");
    maria_create_user(&user, "%", &old, true).await;
    let mut secret = maria_secret(&user, &old);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;

    let f = Function::start(&pkg, Roots::DbCaBundle, &services().moto).await;
    for step in STEPS {
        assert_ok(f.rotation_step(step, &arn, &token).await, step);
    }
    let events = f.stop().await;

    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(
        maria_login(&user, new["password"].as_str().unwrap(), true)
            .await
            .expect("the rotated password logs in over TLS"),
        format!("{user}@%")
    );
    assert!(maria_login(&user, &old, true).await.is_err());
    let connected = named(&events, "db_connected");
    assert!(!connected.is_empty(), "{events:#?}");
    assert!(
        connected
            .iter()
            .all(|e| e["engine"] == "mysql" && e["tls"] == "verified"),
        "{events:#?}"
    );
}

#[tokio::test]
#[ignore = "needs a packaged bootstrap: run by scripts/check-deploy"]
async fn packaged_bootstrap_trusts_the_system_roots_where_amazon_linux_keeps_them() {
    let pkg = package();
    let s = services();
    let user = unique("dsr_pkg_roots");
    let old = password("pkg-roots");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    let mut secret = pg_secret(&user, &old);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;

    // Both TLS stacks must find the store: the SDK's rustls (Secrets Manager over HTTPS) and
    // the OpenSSL compiled in (PostgreSQL, "ssl": true).
    let endpoint = https_moto().await;
    let f = Function::start(&pkg, Roots::Al2023SystemStore(s.ca_file.clone()), &endpoint).await;
    for step in STEPS {
        assert_ok(f.rotation_step(step, &arn, &token).await, step);
    }
    // Diagnose checks the endpoint (DNS, TCP, TLS, HTTP) and the database's TLS the same way.
    let report = match f.call(json!({"Action": "diagnose", "SecretId": arn})).await {
        Answer::Response(report) => report,
        other => panic!("diagnose: {other:?}"),
    };
    let events = f.stop().await;
    assert_eq!(report["ok"], true, "{report:#}");

    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .expect("the rotated password logs in");
    let connected = named(&events, "db_connected");
    assert!(!connected.is_empty(), "{events:#?}");
    assert!(
        connected.iter().all(|e| e["tls"] == "verified"),
        "{events:#?}"
    );
}

#[tokio::test]
#[ignore = "needs a packaged bootstrap: run by scripts/check-deploy"]
async fn packaged_bootstrap_without_the_ca_in_the_system_roots_is_db_tls_verification_failed() {
    // The control for the test above: the same layout with only public roots in it.
    let pkg = package();
    let s = services();
    let user = unique("dsr_pkg_noroot");
    let old = password("pkg-noroot");
    pg_create_user(s.pg_port, &user, &old, &["dsr_tls_only"]).await;
    let mut secret = pg_secret(&user, &old);
    secret["ssl"] = json!(true);
    let arn = create_secret(&secret).await;
    let token = start_rotation(&arn).await;

    let public = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("public-roots.pem"));
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    std::fs::write(&public, system).unwrap();
    let f = Function::start(&pkg, Roots::Al2023SystemStore(public.clone()), &s.moto).await;
    assert_ok(
        f.rotation_step("createSecret", &arn, &token).await,
        "createSecret",
    );
    let failed = f.rotation_step("setSecret", &arn, &token).await;
    let report = match f.call(json!({"Action": "diagnose", "SecretId": arn})).await {
        Answer::Response(report) => report,
        other => panic!("diagnose: {other:?}"),
    };
    let events = f.stop().await;
    let _ = std::fs::remove_file(&public);
    value_at(&arn, "AWSPENDING", Some(&token)).await;

    assert_eq!(error_type(failed), "db_tls_verification_failed");
    // Diagnose names the same cause in its TLS check.
    let tls = report_check(&report, "tls");
    assert_eq!(tls["cause"], "db_tls_verification_failed", "{report:#}");
    // ... and names the CA the server's chain needed, which neither the shipped RDS roots nor
    // the system store hold.
    let ca = openssl::x509::X509::from_pem(&std::fs::read(&s.ca_file).unwrap()).unwrap();
    let ca = ca
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap();
    assert_eq!(tls["evidence"]["ca_needed"], ca.as_str(), "{report:#}");
    let failures = named(&events, "step_failed");
    assert_eq!(failures.len(), 1, "{events:#?}");
    assert_eq!(
        failures[0]["evidence"]["reason"], "untrusted_ca",
        "{events:#?}"
    );
}
