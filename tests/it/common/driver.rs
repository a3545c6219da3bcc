//! Drives a rotation function process through the harness's Lambda Runtime API, as Secrets
//! Manager would, and measures it: init time, per-step latency, CPU time, peak memory, and
//! the AWS calls and database connections it reports in its own events. Shared by the call
//! budget test (tests/it/call_budget.rs) and the benchmark (benches/rotation.rs).

use super::runtime_api::{Answer, RuntimeApi};
pub use super::STEPS;
use super::{base_env, output_dir, start_rotation};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One rotation's measurements.
#[derive(Debug, Clone, Default)]
pub struct RotationStats {
    pub token: String,
    /// Step name → latency from invocation to answer.
    pub step_latency: BTreeMap<&'static str, Duration>,
    /// Step name → CPU time the function process used for that step.
    pub step_cpu: BTreeMap<&'static str, Duration>,
    pub total: Duration,
    /// CPU time the function process used for this rotation.
    pub cpu: Duration,
    /// Operation → calls, from the function's `aws_call` events.
    pub aws_calls: BTreeMap<String, u64>,
    /// Database connections: logins (`db_connected`) plus refused attempts (`db_connect_failed`).
    pub db_connections: u64,
}

impl RotationStats {
    pub fn calls_to(&self, service: &str) -> u64 {
        self.aws_calls
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{service}:")))
            .map(|(_, v)| v)
            .sum()
    }
}

/// A function process under test.
pub struct Function {
    pub api: RuntimeApi,
    child: tokio::process::Child,
    pid: u32,
    stdout_path: std::path::PathBuf,
    /// Process start to its first poll for an event.
    #[allow(dead_code, reason = "read by benches/rotation.rs only")]
    pub init: Duration,
}

/// CPU time of every thread of a process (schedstat: nanoseconds on CPU).
pub fn cpu_time(pid: u32) -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                total += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

/// Peak resident memory (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Function {
    /// Starts `binary` (optionally under a runner such as qemu, or a command line such as
    /// `valgrind --tool=callgrind`: split at spaces) against a fresh Runtime API.
    pub async fn start(binary: &str, runner: Option<&str>, env: &[(&str, &str)]) -> Function {
        let api = RuntimeApi::start().await;
        let stdout_path = output_dir().join(format!("function-{}.log", uuid::Uuid::new_v4()));
        let stdout = std::fs::File::create(&stdout_path).unwrap();
        let mut cmd = match runner {
            Some(r) => {
                let mut words = r.split_whitespace();
                let mut c = tokio::process::Command::new(words.next().unwrap_or(r));
                c.args(words).arg(binary);
                c
            }
            None => tokio::process::Command::new(binary),
        };
        for (k, v) in base_env() {
            cmd.env(k, v);
        }
        cmd.env_remove("RUST_LOG")
            .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "db-secret-rotator")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::from(stdout))
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd.spawn().expect("start the function");
        let pid = child.id().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let init = loop {
            if let Some(t) = api.first_poll() {
                break t.duration_since(started);
            }
            assert!(
                Instant::now() < deadline,
                "the function never polled for an event"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        Function {
            api,
            child,
            pid,
            stdout_path,
            init,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lines the function has printed so far.
    pub fn log_lines(&self) -> usize {
        std::fs::read(&self.stdout_path)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    }

    /// Invokes one event and waits for the answer.
    pub async fn invoke(&self, event: Value) -> (Answer, Duration) {
        let t = Instant::now();
        let id = self.api.invoke(event, Duration::from_secs(30));
        let answer = self.api.answer(&id, Duration::from_secs(60)).await;
        (answer, t.elapsed())
    }

    /// Starts a rotation in moto and runs its four steps; every step must succeed.
    pub async fn rotate(&self, arn: &str) -> RotationStats {
        let token = start_rotation(arn).await;
        let cpu0 = cpu_time(self.pid);
        let t0 = Instant::now();
        let mut stats = RotationStats {
            token: token.clone(),
            ..Default::default()
        };
        for st in STEPS {
            let step_cpu0 = cpu_time(self.pid);
            let (answer, took) = self
                .invoke(json!({"Step": st, "SecretId": arn, "ClientRequestToken": token}))
                .await;
            assert_eq!(
                answer,
                Answer::Response(Value::Null),
                "{st} failed: {answer:?}"
            );
            stats.step_latency.insert(st, took);
            stats
                .step_cpu
                .insert(st, cpu_time(self.pid).saturating_sub(step_cpu0));
        }
        stats.total = t0.elapsed();
        stats.cpu = cpu_time(self.pid).saturating_sub(cpu0);
        stats
    }

    /// Stops the process and fills in the counts from its events; returns its peak memory.
    pub async fn finish(mut self, rotations: &mut [RotationStats]) -> u64 {
        let peak = peak_rss_kib(self.pid);
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let text = std::fs::read_to_string(&self.stdout_path).unwrap_or_default();
        super::append_output(&text);
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(r) = rotations
                .iter_mut()
                .find(|r| e["version_id"] == r.token.as_str())
            else {
                continue;
            };
            match e["event"].as_str() {
                Some("aws_call") => {
                    let key = format!(
                        "{}:{}",
                        e["service"].as_str().unwrap_or("?"),
                        e["operation"].as_str().unwrap_or("?")
                    );
                    *r.aws_calls.entry(key).or_default() += 1;
                }
                Some("db_connected") | Some("db_connect_failed") => r.db_connections += 1,
                _ => {}
            }
        }
        peak
    }
}
