//! The Rust Lambda ecosystem's local loop: the real binary served by cargo-lambda's own
//! emulator (`cargo lambda watch --only-lambda-apis`, the runtime API `cargo lambda watch`
//! runs a function under), driven by `cargo lambda invoke`. The emulator sends
//! `Lambda-Runtime-Deadline-Ms: 600000` (a duration): a whole rotation and a diagnose must
//! still work, with one warning per invocation that the header was read as a duration.
//!
//! cargo-lambda comes from PyPI into target/deploy-tools/venv at the version
//! scripts/deploy-tools.txt pins, installed by scripts/test (as scripts/package does) before
//! `cargo test`: a test never installs a package. Without it the test fails and says so.

use crate::common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The cargo-lambda version scripts/deploy-tools.txt pins (its `cargo-lambda==` line).
fn pinned_version() -> &'static str {
    include_str!("../../scripts/deploy-tools.txt")
        .lines()
        .find_map(|l| l.trim().strip_prefix("cargo-lambda=="))
        .expect("scripts/deploy-tools.txt pins cargo-lambda")
}

/// The pinned cargo-lambda in target/deploy-tools/venv; fails, naming the fix, when it is
/// missing or at another version.
fn cargo_lambda() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = repo.join("target/deploy-tools/venv");
    let bin = venv.join("bin/cargo-lambda");
    let pin = pinned_version();
    let install = format!(
        "scripts/test installs it: `. scripts/deploy-tools.sh && deploy_tools {} cargo-lambda`",
        venv.display()
    );
    assert!(
        bin.exists(),
        "cargo-lambda {pin} is missing: no {}; {install}",
        bin.display()
    );
    let out = Command::new(&bin)
        .args(["lambda", "--version"])
        .output()
        .expect("cargo lambda --version");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.split_whitespace().any(|w| w == pin),
        "{} is not the pinned {pin} (it says {shown:?}); {install}",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills a child process when dropped (the emulator and the function outlive a failed assert).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn invoke(cl: &PathBuf, port: u16, event: &Value) -> (bool, String) {
    let out = Command::new(cl)
        .args([
            "lambda",
            "invoke",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--data-ascii",
        ])
        .arg(event.to_string())
        .output()
        .expect("cargo lambda invoke");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    append_output(&text);
    (out.status.success(), text)
}

#[tokio::test]
async fn a_rotation_and_a_diagnose_run_under_cargo_lambdas_emulator() {
    let s = services();
    let user = unique("dsr_cl");
    let pw = password("cl");
    pg_create_user(s.pg_port, &user, &pw, &[]).await;
    let arn = create_secret(&pg_secret(&user, &pw)).await;
    let token = start_rotation(&arn).await;

    let cl = cargo_lambda();
    let port = free_port();
    let log = output_dir().join(format!("cargo-lambda-{port}.log"));
    let _emulator = Killed(
        Command::new(&cl)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch"),
    );
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the emulator did not listen on {port}");

    let fn_log = output_dir().join(format!("cargo-lambda-fn-{port}.log"));
    let mut function = Command::new(env!("CARGO_BIN_EXE_db-secret-rotator"));
    for (k, v) in base_env() {
        function.env(k, v);
    }
    // What `cargo lambda watch --only-lambda-apis` says the function needs.
    function
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(&fn_log).unwrap())
        .stderr(Stdio::null());
    let _function = Killed(function.spawn().expect("the function"));

    for step in STEPS {
        let (ok, out) = invoke(
            &cl,
            port,
            &json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}),
        );
        assert!(ok, "{step}: {out}");
    }
    let (ok, out) = invoke(&cl, port, &json!({"Action": "diagnose", "SecretId": arn}));
    assert!(ok, "{out}");
    let start = out.find('{').unwrap_or_else(|| panic!("no report: {out}"));
    let report: Value =
        serde_json::from_str(out[start..].trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["warnings"], 0, "{report:#}");

    let new = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    pg_login(s.pg_port, &user, new["password"].as_str().unwrap(), true)
        .await
        .unwrap();

    // Let the function flush its log, then read it.
    std::thread::sleep(Duration::from_millis(200));
    let logged = std::fs::read_to_string(&fn_log).unwrap();
    append_output(&logged);
    let events: Vec<Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        !events.iter().any(|e| e["event"] == "step_failed"),
        "{logged}"
    );
    let succeeded = events
        .iter()
        .filter(|e| e["event"] == "step_succeeded")
        .count();
    assert_eq!(succeeded, 4, "{logged}");
    let warned = events
        .iter()
        .filter(|e| e["code"] == "deadline_header_is_a_duration")
        .count();
    assert_eq!(warned, 5, "one warning per invocation: {logged}");
}
