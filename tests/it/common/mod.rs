//! The shared test harness: real services (PostgreSQL, MariaDB, MySQL, moto) started by
//! `scripts/services up`, fresh state per test (unique users and secrets), and the real
//! binary driven through its CLI, with every byte it prints kept for the leak scan.

pub mod driver;
pub mod engine;
pub mod fault;
pub mod http;
pub mod lambda_invoke;
pub mod mysql;
pub mod runtime_api;
pub mod soak;
pub mod tcp_proxy;

use aws_sdk_secretsmanager::Client as SmClient;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Where the services listen (`scripts/services env` prints the same values).
#[derive(Debug, Clone)]
pub struct Services {
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_notls_port: u16,
    pub pg_admin_user: String,
    pub pg_admin_password: String,
    pub pg_log: PathBuf,
    pub mariadb_host: String,
    pub mariadb_port: u16,
    pub mariadb_admin_user: String,
    pub mariadb_admin_password: String,
    pub mariadb_general_log: PathBuf,
    pub mysql_host: String,
    pub mysql_port: u16,
    pub mysql_admin_user: String,
    pub mysql_admin_password: String,
    pub mysql_general_log: PathBuf,
    pub moto: String,
    pub ca_file: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Versions, ports and credentials of the local services: scripts/services.env, the one file
/// `scripts/services` and docker-compose.yml read too.
const SERVICES_ENV: &str = include_str!("../../../scripts/services.env");

/// A key's value in scripts/services.env (`KEY=VALUE` lines, `#` comments).
fn services_env(name: &str) -> String {
    SERVICES_ENV
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("scripts/services.env has no {name}"))
        .to_string()
}

/// A variable from the environment (`scripts/services env` prints them, moved by
/// `DSR_PORT_OFFSET`), else its base value in scripts/services.env.
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| services_env(name))
}

/// A variable from the environment, else a default of `scripts/services` that
/// scripts/services.env does not hold (hosts, logs, the CA, derived from the state folder).
fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The services, from `DSR_*` variables or the defaults of `scripts/services`.
pub fn services() -> &'static Services {
    static S: OnceLock<Services> = OnceLock::new();
    S.get_or_init(|| {
        let state = repo().join(".services");
        let port = |name: &str| -> u16 {
            let v = var(name);
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a port"))
        };
        Services {
            pg_host: var_or("DSR_PG_HOST", "localhost"),
            pg_port: port("DSR_PG_PORT"),
            pg_notls_port: port("DSR_PG_NOTLS_PORT"),
            pg_admin_user: var("DSR_PG_ADMIN_USER"),
            pg_admin_password: var("DSR_PG_ADMIN_PASSWORD"),
            pg_log: var_or(
                "DSR_PG_LOG",
                state.join("pg/postgres.log").to_str().unwrap(),
            )
            .into(),
            mariadb_host: var_or("DSR_MARIADB_HOST", "localhost"),
            mariadb_port: port("DSR_MARIADB_PORT"),
            mariadb_admin_user: var("DSR_MARIADB_ADMIN_USER"),
            mariadb_admin_password: var("DSR_MARIADB_ADMIN_PASSWORD"),
            mariadb_general_log: var_or(
                "DSR_MARIADB_GENERAL_LOG",
                state.join("mariadb/general.log").to_str().unwrap(),
            )
            .into(),
            mysql_host: var_or("DSR_MYSQL_HOST", "localhost"),
            mysql_port: port("DSR_MYSQL_PORT"),
            mysql_admin_user: var("DSR_MYSQL_ADMIN_USER"),
            mysql_admin_password: var("DSR_MYSQL_ADMIN_PASSWORD"),
            mysql_general_log: var_or(
                "DSR_MYSQL_GENERAL_LOG",
                state.join("mysql/general.log").to_str().unwrap(),
            )
            .into(),
            moto: var_or(
                "DSR_MOTO_ENDPOINT",
                &format!("http://127.0.0.1:{}", port("DSR_MOTO_PORT")),
            ),
            ca_file: var_or("DSR_CA_FILE", state.join("tls/ca.pem").to_str().unwrap()).into(),
        }
    })
}

/// A name no other test (or earlier run against the same services) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{:x}_{}",
        (nanos as u64) ^ ((std::process::id() as u64) << 40),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Test output kept for the leak scan (tests/it/leak_scan.rs).
pub fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dsr-test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn append(file: &str, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output_dir().join(file))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Adds text the function printed to the output the leak scan reads.
pub fn append_output(text: &str) {
    append("binary-output.log", text);
}

/// Records a secret value the suite must never print (scanned by tests/it/leak_scan.rs).
pub fn record_secret(value: &str) {
    assert!(!value.contains('\n'));
    append("secrets.txt", &format!("{value}\n"));
}

/// The password a secret holds.
pub fn password_of(secret: &Value) -> String {
    secret["password"].as_str().unwrap().to_string()
}

/// A password for fixtures: long, with quotes and backslashes, unique.
pub fn password(tag: &str) -> String {
    let p = format!("Pw'{}\\\"x{}", tag, unique("s").replace('_', "Z"));
    record_secret(&p);
    p
}

// ---------------------------------------------------------------- moto / Secrets Manager

/// An SDK client pointed at moto, built once per thread: a test's runtime lives on its own
/// thread (worker threads belong to one runtime), and a client must not outlive the runtime
/// its pooled connections were spawned on, so one process-wide client would fail a request
/// whenever the test that opened the connection has ended ("runtime dropped the dispatch
/// task"). Clones share the connection pool.
pub async fn sm() -> SmClient {
    thread_local! {
        static SM: std::cell::RefCell<Option<SmClient>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(client) = SM.with(|c| c.borrow().clone()) {
        return client;
    }
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&services().moto)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let client = SmClient::new(&conf);
    SM.with(|c| *c.borrow_mut() = Some(client.clone()));
    client
}

pub fn moto_addr() -> String {
    services()
        .moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

pub fn fake_auth(service: &str) -> (&'static str, String) {
    // moto routes unsigned requests by the credential scope of the Authorization header.
    (
        "authorization",
        format!("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"),
    )
}

/// A do-nothing function in moto's Lambda: RotateSecret needs one to stage AWSPENDING the
/// way AWS does before createSecret (moto cannot run our binary).
pub async fn rotation_function_arn() -> String {
    static ARN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    ARN.get_or_init(|| async {
        let addr = moto_addr();
        let _ = http::request(&addr, "POST", "/moto-api/config", &[("content-type", "application/json".into())],
            br#"{"lambda":{"use_docker":false}}"#).await;
        let _ = http::request(&addr, "POST", "/", &[fake_auth("iam"), ("content-type", "application/x-www-form-urlencoded".into())],
            b"Action=CreateRole&Version=2010-05-08&RoleName=dsr-rotation-role&AssumeRolePolicyDocument=%7B%7D").await;
        const ZIP: &str = "UEsDBBQAAAAAAE0qfV2uVry6LQAAAC0AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gTm9uZQpQSwECFAMUAAAAAABNKn1drla8ui0AAAAtAAAACAAAAAAAAAAAAAAAgAEAAAAAaW5kZXgucHlQSwUGAAAAAAEAAQA2AAAAUwAAAAAA";
        let body = serde_json::json!({
            "FunctionName": "dsr-dummy-rotation", "Runtime": "python3.11",
            "Role": "arn:aws:iam::123456789012:role/dsr-rotation-role",
            "Handler": "index.handler", "Code": {"ZipFile": ZIP}
        });
        let _ = http::request(&addr, "POST", "/2015-03-31/functions", &[fake_auth("lambda"), ("content-type", "application/json".into())],
            body.to_string().as_bytes()).await;
        "arn:aws:lambda:us-east-1:123456789012:function:dsr-dummy-rotation".to_string()
    })
    .await
    .clone()
}

/// Creates a secret with a unique name; returns its ARN.
pub async fn create_secret(value: &Value) -> String {
    let out = sm()
        .await
        .create_secret()
        .name(unique("dsr-test"))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret");
    out.arn().unwrap().to_string()
}

/// Starts a rotation as Secrets Manager does: AWSPENDING staged on a new version with no
/// value, rotation enabled. Returns the token (ClientRequestToken).
pub async fn start_rotation(arn: &str) -> String {
    let function = rotation_function_arn().await;
    let token = uuid::Uuid::new_v4().to_string();
    // AWS accepts a new rotation when AWSPENDING sits on the AWSCURRENT version (the state
    // finishSecret leaves, as the reference does); moto 5 inverts that check and refuses.
    // Clear the label first, as AWS would treat it as finished anyway.
    for (version, labels) in stages(arn).await {
        if labels.iter().any(|l| l == "AWSPENDING") && labels.iter().any(|l| l == "AWSCURRENT") {
            remove_pending(arn, &version).await;
        }
    }
    sm().await
        .rotate_secret()
        .secret_id(arn)
        .rotation_lambda_arn(function)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .client_request_token(&token)
        .send()
        .await
        .expect("RotateSecret");
    token
}

/// A new secret with this value under rotation, AWSPENDING staged (no value yet); gives
/// (ARN, token).
pub async fn rotating(secret: &Value) -> (String, String) {
    let arn = create_secret(secret).await;
    let token = start_rotation(&arn).await;
    (arn, token)
}

/// Removes AWSPENDING from a version (a test undoing its own staging).
pub async fn remove_pending(arn: &str, version: &str) {
    sm().await
        .update_secret_version_stage()
        .secret_id(arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(version)
        .send()
        .await
        .unwrap();
}

/// The value at a staging label (and version), or None.
pub async fn value_at(arn: &str, stage: &str, version: Option<&str>) -> Option<Value> {
    let out = sm()
        .await
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .ok()?;
    let v: Value = serde_json::from_str(out.secret_string()?).unwrap();
    if let Some(p) = v.get("password").and_then(Value::as_str) {
        record_secret(p);
    }
    Some(v)
}

/// Writes the pending value by hand, as a tampered createSecret would have.
pub async fn put_pending(arn: &str, token: &str, value: &Value) {
    if let Some(p) = value["password"].as_str() {
        record_secret(p);
    }
    sm().await
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(value.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
}

/// Starts a rotation whose AWSPENDING is `current` with another username and host and a
/// fresh password, as if someone had tampered with it; gives the token.
pub async fn start_with_tampered_pending(
    arn: &str,
    current: &Value,
    username: &Value,
    host: &Value,
) -> String {
    let token = start_rotation(arn).await;
    let mut pending = current.clone();
    pending["username"] = username.clone();
    pending["host"] = host.clone();
    pending["password"] = Value::String(password("tampered"));
    put_pending(arn, &token, &pending).await;
    token
}

/// Version id to staging labels.
pub async fn stages(arn: &str) -> std::collections::HashMap<String, Vec<String>> {
    sm().await
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .unwrap()
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------- the binary

/// One run of the binary: exit status, and every stdout line parsed as JSON.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<Value>,
}

impl Run {
    /// Events with this `event` name.
    pub fn named(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == name).collect()
    }
    /// The single `step_failed` event.
    pub fn failure(&self) -> &Value {
        let f = self.named("step_failed");
        assert_eq!(f.len(), 1, "expected one step_failed in:\n{}", self.stdout);
        f[0]
    }
    /// The cause of the single failure.
    pub fn cause(&self) -> String {
        self.failure()["cause"].as_str().unwrap().to_string()
    }
    /// Asserts exit status 1, one `step_failed` with `cause`, a non-empty remedy and every
    /// listed evidence field present (not null); gives the evidence object.
    pub fn expect_failure(&self, cause: &str, evidence: &[&str]) -> &Value {
        assert_eq!(
            self.status, 1,
            "exit status\n{}\n{}",
            self.stdout, self.stderr
        );
        let f = self.failure();
        assert_eq!(f["cause"], cause, "{}\n{}", self.stdout, self.stderr);
        assert!(
            f["remedy"].as_str().is_some_and(|r| r.trim().len() > 10),
            "remedy: {f}"
        );
        for key in evidence {
            assert!(
                f["evidence"].get(key).is_some_and(|v| !v.is_null()),
                "evidence.{key} missing: {f}"
            );
        }
        &f["evidence"]
    }
    /// The outcome of the last `step_succeeded`.
    pub fn outcome(&self) -> String {
        let s = self.named("step_succeeded");
        assert_eq!(
            s.len(),
            1,
            "expected one step_succeeded, got:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        s[0]["outcome"].as_str().unwrap().to_string()
    }
}

/// The environment every run gets: moto, the test CA, a region.
pub fn base_env() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), services().moto.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        (
            "DB_CA_BUNDLE".into(),
            services().ca_file.to_str().unwrap().into(),
        ),
        ("RUST_LOG".into(), "warn,db_secret_rotator=debug".into()),
    ]
}

/// Runs a command to completion, killing it if it outlives `limit`: a broken watchdog makes a
/// test fail, never hang.
fn output_within(
    mut cmd: Command,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, Vec<u8>, Vec<u8>) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the binary");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary ran longer than {limit:?} and was killed: its deadline did not hold"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    (
        status,
        out_reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

/// The binary as a CLI command: the harness's environment (moto, the test CA), none of the
/// caller's AWS or Lambda settings, then `env` on top (a value of "" removes the variable).
fn binary(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_db-secret-rotator"));
    cmd.args(args);
    for var in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "SECRETS_MANAGER_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in base_env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Runs the binary with `args` and extra environment (a value of "" removes the variable).
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> Run {
    let cmd = binary(args, env);
    let (status, stdout, stderr) = output_within(cmd, std::time::Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    // The command line is the harness's, not the binary's: keep the RotationToken out of it.
    let shown: Vec<&str> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && args[i - 1] == "--rotation-token" {
                "***"
            } else {
                *a
            }
        })
        .collect();
    append(
        "binary-output.log",
        &format!("$ {shown:?}\n{stdout}{stderr}"),
    );
    let events = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    Run {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
        events,
    }
}

/// The report of a `--format json` command (diagnose, repair, audit, migrate): stdout is the
/// report and nothing else (log lines go to stderr).
pub fn json_report(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

/// Runs `diagnose --format json`; gives the run and the report.
pub fn diagnose_json(arn: &str, env: &[(&str, &str)]) -> (Run, Value) {
    let run = run_bin(&["diagnose", "--secret-id", arn, "--format", "json"], env);
    let report = json_report(&run);
    assert!(report.get("checks").is_some(), "{report}");
    (run, report)
}

/// The check called `name` in a report's `checks` (diagnose, or migrate's preflight).
pub fn report_check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// Runs the binary and kills it (SIGKILL) as soon as it prints an event for which `when`
/// is true: a crash at that exact point. Returns whether it was killed there (false: it
/// finished first), and everything it printed.
pub fn run_bin_killed_after(
    args: &[&str],
    env: &[(&str, &str)],
    when: impl Fn(&Value) -> bool,
) -> (bool, String) {
    use std::io::BufRead;
    let mut child = binary(args, env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the binary");
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    let mut killed = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        printed.push_str(&line);
        printed.push('\n');
        if serde_json::from_str::<Value>(&line)
            .map(|e| when(&e))
            .unwrap_or(false)
        {
            let _ = child.kill();
            killed = true;
            break;
        }
    }
    let _ = child.wait();
    append("binary-output.log", &printed);
    (killed, printed)
}

/// `step --secret-id --token --step`.
pub fn step(arn: &str, token: &str, step: &str, env: &[(&str, &str)]) -> Run {
    run_bin(
        &["step", "--secret-id", arn, "--token", token, "--step", step],
        env,
    )
}

/// The four rotation steps, in the order Secrets Manager invokes them.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// createSecret (which must succeed: it never touches the database), then setSecret: the
/// first step that reaches the database, where its causes show.
pub fn create_then_set(arn: &str, token: &str, env: &[(&str, &str)]) -> Run {
    let create = step(arn, token, "createSecret", env);
    assert_eq!(
        create.outcome(),
        "pending_created",
        "{}\n{}",
        create.stdout,
        create.stderr
    );
    step(arn, token, "setSecret", env)
}

/// The four steps in order, each asserted to succeed.
pub fn rotate_all(arn: &str, token: &str, env: &[(&str, &str)]) {
    for s in STEPS {
        let run = step(arn, token, s, env);
        assert_eq!(run.status, 0, "{s} failed:\n{}\n{}", run.stdout, run.stderr);
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A superuser connection to the TLS cluster (or another port).
pub async fn pg_admin_on(port: u16) -> tokio_postgres::Client {
    let s = services();
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(&s.pg_admin_user)
        .password(&s.pg_admin_password)
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("admin connection to PostgreSQL (is `scripts/services up` running?)");
    tokio::spawn(conn);
    client
}

pub async fn pg_admin() -> tokio_postgres::Client {
    pg_admin_on(services().pg_port).await
}

/// A PostgreSQL identifier, double-quoted.
pub fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn pg_lit(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Creates a login role with a password (stored as SCRAM) and group memberships.
pub async fn pg_create_user(port: u16, name: &str, password: &str, groups: &[&str]) {
    let admin = pg_admin_on(port).await;
    admin
        .batch_execute(&format!(
            // Fixture DDL stays out of the statement log: the log is scanned for leaks.
            "SET log_statement = 'none'; SET password_encryption = 'scram-sha-256'; CREATE ROLE {} LOGIN PASSWORD {}",
            pg_ident(name),
            pg_lit(password)
        ))
        .await
        .unwrap();
    for g in groups {
        admin
            .batch_execute(&format!("GRANT {g} TO {}", pg_ident(name)))
            .await
            .unwrap();
    }
}

/// A master role for alternating users on the TLS cluster: CREATEROLE when `createrole`,
/// never superuser; gives (name, password).
pub async fn pg_master(createrole: bool) -> (String, String) {
    let name = unique("dsr_master");
    let pw = password("master");
    pg_create_user(services().pg_port, &name, &pw, &[]).await;
    if createrole {
        pg_admin()
            .await
            .batch_execute(&format!("ALTER ROLE {} CREATEROLE", pg_ident(&name)))
            .await
            .unwrap();
    }
    (name, pw)
}

/// Logs in as a user: over verified TLS (to `localhost`) or plaintext.
pub async fn pg_login(
    port: u16,
    user: &str,
    password: &str,
    tls: bool,
) -> Result<(), tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("localhost")
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(std::time::Duration::from_secs(5));
    let client = if tls {
        let pem = std::fs::read(&services().ca_file).unwrap();
        let connector = native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let (c, conn) = config
            .connect(postgres_native_tls::MakeTlsConnector::new(connector))
            .await?;
        tokio::spawn(conn);
        c
    } else {
        let (c, conn) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        c
    };
    client.simple_query("SELECT 1").await.map(|_| ())
}

/// The stored verifier of a role.
pub async fn pg_rolpassword(port: u16, user: &str) -> String {
    pg_admin_on(port)
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

/// A secret for a PostgreSQL user on the TLS cluster.
pub fn pg_secret(user: &str, password: &str) -> Value {
    serde_json::json!({
        "engine": "postgres",
        "host": services().pg_host,
        "username": user,
        "password": password,
        "dbname": "postgres",
        "port": services().pg_port,
    })
}
