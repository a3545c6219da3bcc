//! The warm soak shared by the suite (tests/it/soak.rs, a short run with bounds) and the
//! benchmark (benches/soak.rs, a long run with figures): one function process serves a mixed
//! schedule of rotations through the harness's Runtime API (PostgreSQL and MariaDB single
//! user, an unreachable database, a token that is not a version, an invalid event, a
//! diagnose), every rotation is checked, and the process is sampled every window: resident
//! memory, open file descriptors and sockets, database sessions of the soak's users, CPU per
//! rotation and per log line.

use super::driver::{cpu_time, Function, STEPS};
use super::mysql::{maria_admin, maria_create_user, maria_login, maria_secret};
use super::runtime_api::Answer;
use super::*;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use std::time::Duration;

/// What one kind of rotation does and how it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A PostgreSQL single-user rotation that succeeds.
    Postgres,
    /// A MariaDB single-user rotation that succeeds.
    MariaDb,
    /// A secret whose database port is closed: setSecret fails, AWSCURRENT unchanged.
    Unreachable,
    /// A step for a token that is not a version of the secret.
    UnknownToken,
    /// An event without a SecretId.
    InvalidEvent,
    /// A diagnose request.
    Diagnose,
}

/// The schedule: six in ten succeed, four fail or only read, in a fixed order.
pub const SCHEDULE: [Kind; 10] = [
    Kind::Postgres,
    Kind::MariaDb,
    Kind::Unreachable,
    Kind::Postgres,
    Kind::MariaDb,
    Kind::UnknownToken,
    Kind::Postgres,
    Kind::MariaDb,
    Kind::InvalidEvent,
    Kind::Diagnose,
];

/// One sample of the process, taken after `done` rotations.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub done: usize,
    pub rss_kib: u64,
    pub fds: usize,
    pub sockets: usize,
    /// Sessions of the soak's users open on both servers.
    pub db_sessions: u64,
    /// CPU of the window, per rotation and per log line.
    pub cpu_ms_per_rotation: f64,
    pub cpu_us_per_line: f64,
    pub lines_per_rotation: f64,
}

/// The soak's outcome.
#[derive(Debug, Default)]
pub struct Report {
    pub samples: Vec<Sample>,
    /// Kind → rotations run and checked.
    pub counts: std::collections::BTreeMap<String, usize>,
    pub log_lines: usize,
}

impl Report {
    /// Least-squares slope of resident memory over the samples from `from` rotations on,
    /// in KiB per 100 rotations.
    #[allow(dead_code, reason = "reported by benches/soak.rs only")]
    pub fn rss_slope_kib_per_100(&self, from: usize) -> f64 {
        let pts: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.done >= from)
            .map(|s| (s.done as f64, s.rss_kib as f64))
            .collect();
        let n = pts.len() as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        100.0 * sxy / sxx
    }
}

/// Resident memory now (VmRSS), KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors, and how many of them are sockets.
pub fn fds(pid: u32) -> (usize, usize) {
    let mut all = 0;
    let mut sockets = 0;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            all += 1;
            if std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
            {
                sockets += 1;
            }
        }
    }
    (all, sockets)
}

struct Fixtures {
    pg_user: String,
    pg_arn: String,
    maria_user: String,
    maria_arn: String,
}

async fn fixtures() -> Fixtures {
    let s = services();
    let pg_user = unique("dsr_soak_pg");
    let pw = password("soak");
    pg_create_user(s.pg_port, &pg_user, &pw, &["dsr_tls_only"]).await;
    let mut pg = pg_secret(&pg_user, &pw);
    pg["ssl"] = json!(true);
    let maria_user = unique("sk");
    let pw = password("soak");
    maria_create_user(&maria_user, "%", &pw, true).await;
    let mut maria = maria_secret(&maria_user, &pw);
    maria["ssl"] = json!(true);
    Fixtures {
        pg_arn: create_secret(&pg).await,
        maria_arn: create_secret(&maria).await,
        pg_user,
        maria_user,
    }
}

/// Sessions of the soak's two users on both servers.
async fn db_sessions(fx: &Fixtures) -> u64 {
    let pg: i64 = pg_admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            &[&fx.pg_user],
        )
        .await
        .unwrap()
        .get(0);
    let mut admin = maria_admin().await;
    let maria: Option<u64> = admin
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
            (fx.maria_user.as_str(),),
        )
        .await
        .unwrap();
    let _ = admin.disconnect().await;
    pg as u64 + maria.unwrap_or(0)
}

/// Database sessions close asynchronously on the server after the client hangs up: waits
/// (briefly) for them to go, then reports what is left.
async fn settled_sessions(fx: &Fixtures) -> u64 {
    let mut n = db_sessions(fx).await;
    for _ in 0..50 {
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        n = db_sessions(fx).await;
    }
    n
}

async fn step(f: &Function, arn: &str, token: &str, st: &str) -> Answer {
    f.invoke(json!({"Step": st, "SecretId": arn, "ClientRequestToken": token}))
        .await
        .0
}

fn error_type(a: &Answer) -> String {
    match a {
        Answer::Error(v) => v["errorType"].as_str().unwrap_or("").to_string(),
        Answer::Response(v) => panic!("expected a failure, got {v}"),
    }
}

async fn successful(f: &Function, arn: &str, user: &str, kind: Kind) {
    let token = start_rotation(arn).await;
    for st in STEPS {
        let a = step(f, arn, &token, st).await;
        assert_eq!(a, Answer::Response(Value::Null), "{kind:?} {st}: {a:?}");
    }
    let current = value_at(arn, "AWSCURRENT", None).await.unwrap();
    assert!(stages(arn).await[&token].iter().any(|l| l == "AWSCURRENT"));
    assert_eq!(current["username"], user);
    let pw = current["password"].as_str().unwrap();
    match kind {
        Kind::Postgres => pg_login(services().pg_port, user, pw, true)
            .await
            .expect("AWSCURRENT logs in to PostgreSQL"),
        _ => {
            maria_login(user, pw, true)
                .await
                .expect("AWSCURRENT logs in to MariaDB");
        }
    }
}

/// Runs `rotations` rotations of the schedule through `f`, sampling every `window`.
pub async fn run(f: &Function, rotations: usize, window: usize) -> Report {
    let fx = fixtures().await;
    let pid = f.pid();
    let mut report = Report::default();
    let mut cpu0 = cpu_time(pid);
    let mut lines0 = f.log_lines();
    for i in 0..rotations {
        let kind = SCHEDULE[i % SCHEDULE.len()];
        match kind {
            Kind::Postgres => successful(f, &fx.pg_arn, &fx.pg_user, kind).await,
            Kind::MariaDb => successful(f, &fx.maria_arn, &fx.maria_user, kind).await,
            Kind::Unreachable => {
                let closed = super::fault::closed_port();
                let mut secret = pg_secret("dsr_soak_nobody", &password("soak-unreachable"));
                secret["port"] = json!(closed);
                secret["host"] = json!("127.0.0.1");
                let arn = create_secret(&secret).await;
                let before = value_at(&arn, "AWSCURRENT", None).await;
                let token = start_rotation(&arn).await;
                let created = step(f, &arn, &token, "createSecret").await;
                assert_eq!(created, Answer::Response(Value::Null), "{created:?}");
                let set = step(f, &arn, &token, "setSecret").await;
                assert_eq!(error_type(&set), "db_unreachable", "{set:?}");
                assert_eq!(value_at(&arn, "AWSCURRENT", None).await, before);
            }
            Kind::UnknownToken => {
                let token = uuid::Uuid::new_v4().to_string();
                let a = step(f, &fx.pg_arn, &token, "setSecret").await;
                assert_eq!(error_type(&a), "version_not_staged", "{a:?}");
            }
            Kind::InvalidEvent => {
                let (a, _) = f
                    .invoke(json!({"Step": "createSecret", "ClientRequestToken": "t"}))
                    .await;
                assert_eq!(error_type(&a), "invalid_event", "{a:?}");
            }
            Kind::Diagnose => {
                let (a, _) = f
                    .invoke(json!({"Action": "diagnose", "SecretId": fx.maria_arn}))
                    .await;
                let Answer::Response(report) = &a else {
                    panic!("diagnose failed: {a:?}")
                };
                assert!(report.is_object(), "{report}");
            }
        }
        *report.counts.entry(format!("{kind:?}")).or_default() += 1;
        let done = i + 1;
        if done % window == 0 || done == rotations {
            let cpu = cpu_time(pid);
            let lines = f.log_lines();
            let n = (done - report.samples.last().map_or(0, |s| s.done)) as f64;
            let cpu_ms = (cpu - cpu0).as_secs_f64() * 1000.0;
            let (fds, sockets) = fds(pid);
            report.samples.push(Sample {
                done,
                rss_kib: rss_kib(pid),
                fds,
                sockets,
                db_sessions: settled_sessions(&fx).await,
                cpu_ms_per_rotation: cpu_ms / n,
                cpu_us_per_line: cpu_ms * 1000.0 / (lines - lines0).max(1) as f64,
                lines_per_rotation: (lines - lines0) as f64 / n,
            });
            cpu0 = cpu_time(pid);
            lines0 = f.log_lines();
        }
    }
    report.log_lines = f.log_lines();
    report
}

/// Prints the samples as a table.
pub fn print(report: &Report) {
    println!(
        "{:>6} {:>9} {:>5} {:>7} {:>11} {:>9} {:>9} {:>10}",
        "done", "rss KiB", "fds", "sockets", "db sessions", "cpu ms/r", "us/line", "lines/r"
    );
    for s in &report.samples {
        println!(
            "{:>6} {:>9} {:>5} {:>7} {:>11} {:>9.1} {:>9.1} {:>10.1}",
            s.done,
            s.rss_kib,
            s.fds,
            s.sockets,
            s.db_sessions,
            s.cpu_ms_per_rotation,
            s.cpu_us_per_line,
            s.lines_per_rotation
        );
    }
}
