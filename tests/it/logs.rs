//! `logs` against moto's CloudWatch Logs, Secrets Manager and Lambda: log groups that hold
//! what Lambda writes (one stream per execution environment, the platform lines with their
//! tabs, a Python reference function's messages word for word, this function's JSON events),
//! other secrets' invocations interleaved, lines that name the secret in only some lines,
//! a stream cut before START. Driven through the library (`commands::logs::run_with`): the
//! command line is wired elsewhere. Denied reads come from the fault-injecting endpoint.

use crate::common::fault::FaultServer;
use crate::common::http;
use crate::common::lambda_invoke::{configure_rotation, create_function};
use crate::common::*;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use db_secret_rotator::commands::logs::{run_with, Args, LogsReport};
use db_secret_rotator::commands::{Format, Report};
use db_secret_rotator::outside::logs::{self, last_rotations, read, Window};
use db_secret_rotator::outside::Clients;
use serde_json::{json, Value};
use std::time::Duration;

async fn clients_at(endpoint: &str) -> Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Clients::new(&conf)
}

async fn clients() -> Clients {
    clients_at(&services().moto).await
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One execution environment's stream, as Lambda writes it.
pub(crate) struct Env {
    name: String,
    at: i64,
    lines: Vec<(i64, String)>,
}

impl Env {
    pub(crate) fn new(n: u32, at: i64) -> Env {
        Env {
            name: format!("2026/12/01/[$LATEST]{n:032x}"),
            at,
            lines: Vec::new(),
        }
    }
    fn raw(&mut self, ms: i64, line: String) -> &mut Self {
        self.at += ms;
        self.lines.push((self.at, line));
        self
    }
    fn stamp(&self) -> String {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(self.at as u64);
        humantime::format_rfc3339_millis(t).to_string()
    }
    pub(crate) fn start(&mut self, id: &str) -> &mut Self {
        self.raw(1, format!("START RequestId: {id} Version: $LATEST\n"))
    }
    pub(crate) fn log(&mut self, level: &str, id: &str, text: &str) -> &mut Self {
        let line = format!("[{level}]\t{}\t{id}\t{text}\n", self.stamp());
        self.raw(7, line)
    }
    pub(crate) fn unhandled(&mut self, text: &str) -> &mut Self {
        self.raw(1, format!("[ERROR] {text}\nTraceback (most recent call last):\n  File \"/var/task/lambda_function.py\", line 81, in lambda_handler\n    set_secret(service_client, arn, token)\n  File \"/var/task/lambda_function.py\", line 186, in set_secret\n    raise ValueError(\"Unable to log into database\")\n"))
    }
    pub(crate) fn end(&mut self, id: &str, duration: f64) -> &mut Self {
        self.raw(duration as i64, format!("END RequestId: {id}\n"));
        self.raw(1, format!("REPORT RequestId: {id}\tDuration: {duration:.2} ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory Used: 79 MB\t\n", duration.ceil()))
    }
    fn timeout(&mut self, id: &str) -> &mut Self {
        let line = format!(
            "{} {id} Task timed out after 30.03 seconds\n\n",
            self.stamp()
        );
        self.raw(30_030, line);
        self.raw(1, format!("END RequestId: {id}\n"));
        self.raw(1, format!("REPORT RequestId: {id}\tDuration: 30032.51 ms\tBilled Duration: 30000 ms\tMemory Size: 128 MB\tMax Memory Used: 81 MB\tStatus: timeout\n"))
    }
}

/// Writes the streams into `group` (created if needed), in PutLogEvents batches.
pub(crate) async fn put(group: &str, envs: &[&Env]) {
    let logs = clients().await.logs;
    let _ = logs.create_log_group().log_group_name(group).send().await;
    for env in envs {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(&env.name)
            .send()
            .await
            .expect("CreateLogStream");
        for chunk in env.lines.chunks(5_000) {
            let events: Vec<InputLogEvent> = chunk
                .iter()
                .map(|(t, m)| {
                    InputLogEvent::builder()
                        .timestamp(*t)
                        .message(m)
                        .build()
                        .unwrap()
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(&env.name)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("PutLogEvents");
        }
    }
}

async fn secret() -> String {
    create_secret(
        &json!({"engine": "postgres", "host": "db.internal", "username": "app",
                          "password": password("logs"), "port": 5432}),
    )
    .await
}

fn args(secret_id: &str) -> Args {
    Args {
        secret_id: secret_id.to_string(),
        since: None,
        function: None,
        format: Format::Json,
    }
}

/// The report as JSON and as text, both kept for the leak scan.
fn views(report: &LogsReport) -> (Value, String) {
    let json = serde_json::to_value(report).unwrap();
    let text = report.to_text();
    append_output(&format!("{json}\n{text}"));
    (json, text)
}

pub(crate) fn req(n: u32) -> String {
    format!("{n:08x}-7c1d-4e2f-9a3b-5c6d7e8f9a0b")
}

#[tokio::test]
async fn a_python_reference_functions_rotations_are_rebuilt_and_named_newest_first() {
    let tag = unique("lp");
    let name = format!("old-pg-{tag}");
    let function = create_function(&name, "python3.9", "", &[]).await;
    let (mine, theirs) = (secret().await, secret().await);
    configure_rotation(&mine, &function).await;
    configure_rotation(&theirs, &function).await;

    let t0 = now_ms() - 2 * 3600 * 1000;
    let mut env1 = Env::new(1, t0);
    let mut env2 = Env::new(2, t0 + 40);
    let mut cut = Env::new(3, t0 - 5_000);
    // A stream cut before its START: its tail still belongs to its request.
    cut.unhandled("KeyError: 'password key is missing from secret JSON'")
        .end(&req(9), 95.0);
    // createSecret for mine, and theirs failing in the other environment meanwhile.
    env1.start(&req(1))
        .log(
            "INFO",
            &req(1),
            "Found credentials in environment variables.",
        )
        .log(
            "INFO",
            &req(1),
            &format!(
                "createSecret: Successfully put secret for ARN {mine} and version {}.",
                req(1)
            ),
        )
        .end(&req(1), 301.4);
    env2.start(&req(2))
        .log("ERROR", &req(2), &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {theirs}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {theirs}"))
        .end(&req(2), 10_412.3);
    // setSecret for mine: the TLS line names no secret, the login lines do; the TLS line decides.
    env1.start(&req(3))
        .log("INFO", &req(3), "Found credentials in environment variables.")
        .log("ERROR", &req(3), "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host: db.internal")
        .log("ERROR", &req(3), &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {mine}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {mine}"))
        .end(&req(3), 512.8);
    put(&format!("/aws/lambda/{name}"), &[&cut, &env1, &env2]).await;

    let report = run_with(&clients().await, args(&mine)).await;
    let (j, text) = views(&report);
    // The timeline as an operator sees it (ARNs and a host name; no secret value).
    println!("{text}");
    assert!(report.error.is_none(), "{j}");
    assert!(!report.ok(), "the newest invocation failed");
    assert_eq!(j["function"], function.as_str());
    assert_eq!(j["log_group"], format!("/aws/lambda/{name}"));
    assert_eq!(j["function_kind"], "python_reference");
    let ids: Vec<&str> = j["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["request_id"].as_str().unwrap())
        .collect();
    // Newest first; theirs is not mine; the cut stream names no secret, so it is every secret's.
    assert_eq!(ids, [req(3), req(1), req(9)]);
    let newest = &j["invocations"][0];
    assert_eq!(newest["outcome"], "failed");
    assert_eq!(newest["cause"], "db_tls_required");
    assert_eq!(newest["inferred"], true);
    assert_eq!(newest["step"], "setSecret");
    assert_eq!(newest["duration_ms"], 513);
    assert_eq!(
        newest["evidence"]["line"],
        "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host: db.internal"
    );
    assert_eq!(j["invocations"][1]["outcome"], "ok");
    assert_eq!(j["invocations"][1]["step"], "createSecret");
    assert_eq!(j["invocations"][2]["cause"], "secret_json_missing_key");

    // The text view: a timeline, the evidence under the failure, the remedy last.
    assert!(text.contains("setSecret"), "{text}");
    assert!(
        text.contains("FAILED     db_tls_required (inferred)"),
        "{text}"
    );
    assert!(
        text.contains("line: Unable to establish SSL/TLS handshake"),
        "{text}"
    );
    let last = text.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("remedy (db_tls_required, newest failure): The server requires TLS"),
        "{text}"
    );

    // Theirs: the slow login failure is the network's.
    let report = run_with(&clients().await, args(&theirs)).await;
    let (j, _) = views(&report);
    assert_eq!(j["invocations"][0]["request_id"], req(2));
    assert_eq!(j["invocations"][0]["cause"], "db_unreachable");

    // audit --deep: one read of the group for both secrets.
    let window = Window::since(Duration::from_secs(6 * 3600));
    let last = last_rotations(
        &clients().await,
        &function,
        &[mine.clone(), theirs.clone()],
        window,
    )
    .await
    .unwrap();
    assert_eq!(last.log_group, format!("/aws/lambda/{name}"));
    // One read for both secrets.
    assert_eq!(last.calls, 1);
    assert!(last.function_error.is_none() && !last.truncated);
    assert_eq!(
        last.by_secret[&mine].as_ref().unwrap().cause.as_deref(),
        Some("db_tls_required")
    );
    assert_eq!(
        last.by_secret[&theirs].as_ref().unwrap().cause.as_deref(),
        Some("db_unreachable")
    );
}

#[tokio::test]
async fn a_silent_timeout_after_found_credentials_is_secrets_manager_unreachable() {
    let tag = unique("lt");
    let name = format!("old-my-{tag}");
    let function = create_function(&name, "python3.9", "", &[]).await;
    let mine = secret().await;
    configure_rotation(&mine, &function).await;
    let mut env = Env::new(7, now_ms() - 3600 * 1000);
    env.start(&req(11))
        .log(
            "INFO",
            &req(11),
            "Found credentials in environment variables.",
        )
        .timeout(&req(11));
    put(&format!("/aws/lambda/{name}"), &[&env]).await;
    let mut a = args(&mine);
    a.since = Some(Duration::from_secs(6 * 3600));
    let report = run_with(&clients().await, a).await;
    let (j, text) = views(&report);
    let inv = &j["invocations"][0];
    assert_eq!(inv["outcome"], "timed_out", "{j}");
    assert_eq!(inv["cause"], "secrets_manager_unreachable");
    assert_eq!(inv["duration_ms"], 30033);
    assert_eq!(
        inv["evidence"]["last_line"],
        "Found credentials in environment variables."
    );
    assert!(text.contains("TIMED OUT"), "{text}");
}

fn own(id: &str, secret: &str, event: &str, extra: &str) -> String {
    format!(
        r#"{{"timestamp":"2026-12-01T09:12:03.301Z","level":"{}","event":"{event}","message":"{}","secret_id":"{secret}","step":"setSecret","request_id":"{id}"{extra}}}"#,
        if event == "step_failed" {
            "ERROR"
        } else {
            "INFO"
        },
        if event == "step_failed" {
            "setSecret failed: PostgreSQL rejected the password of app"
        } else {
            "setSecret started"
        }
    )
}

#[tokio::test]
async fn this_functions_own_events_give_its_cause_in_the_json_log_format() {
    let tag = unique("lo");
    let name = format!("dsr-{tag}");
    let function = create_function(&name, "provided.al2023", "", &[]).await;
    let (mine, theirs) = (secret().await, secret().await);
    configure_rotation(&mine, &function).await;
    configure_rotation(&theirs, &function).await;
    let mut env = Env::new(5, now_ms() - 3600 * 1000);
    for (id, s) in [(req(21), &theirs), (req(22), &mine)] {
        env.raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.100Z","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#))
            .raw(2, own(&id, s, "step_started", r#","strategy":"single_user""#))
            .raw(9, own(&id, s, "step_failed", r#","cause":"db_login_failed","remedy":"Log in by hand and reset the password.","evidence":{"user":"app"},"Cause":"db_login_failed","StepFailed":1"#))
            .raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.321Z","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":14.2,"billedDurationMs":15,"memorySizeMB":128,"maxMemoryUsedMB":21}},"status":"failure"}}}}"#));
    }
    put(&format!("/aws/lambda/{name}"), &[&env]).await;
    let report = run_with(&clients().await, args(&mine)).await;
    let (j, text) = views(&report);
    assert_eq!(j["function_kind"], "db-secret-rotator", "{j}");
    assert_eq!(j["invocations"].as_array().unwrap().len(), 1, "{j}");
    let inv = &j["invocations"][0];
    assert_eq!(inv["request_id"], req(22));
    assert_eq!(inv["cause"], "db_login_failed");
    assert_eq!(inv["inferred"], false);
    assert_eq!(inv["duration_ms"], 14);
    assert!(
        text.trim_end().ends_with(
            "remedy (db_login_failed, newest failure): Log in by hand and reset the password."
        ),
        "{text}"
    );
}

/// An endpoint in front of moto whose GetFunctionConfiguration answers carry a logging
/// configuration naming `group` (moto drops `LoggingConfig`); everything else goes on as it came.
async fn with_logging_config(group: String) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = moto_addr();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (upstream, group) = (upstream.clone(), group.clone());
            tokio::spawn(async move {
                let (r, mut w) = conn.into_split();
                let mut reader = tokio::io::BufReader::new(r);
                while let Ok(Some(req)) = http::read_message(&mut reader).await {
                    let Ok(mut answer) = crate::common::fault::forward(&upstream, &req).await
                    else {
                        return;
                    };
                    let configuration = req.start.starts_with("GET ")
                        && req.start.contains("/2015-03-31/functions/")
                        && req.start.contains("/configuration");
                    if configuration {
                        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        let mut body: Value = serde_json::from_slice(&answer[at + 4..]).unwrap();
                        body["LoggingConfig"] = json!({"LogFormat": "Text", "LogGroup": group});
                        let body = body.to_string();
                        let head: Vec<String> = String::from_utf8_lossy(&answer[..at])
                            .lines()
                            .filter(|l| !l.to_ascii_lowercase().starts_with("content-length"))
                            .map(str::to_string)
                            .collect();
                        answer = format!(
                            "{}\r\ncontent-length: {}\r\n\r\n{body}",
                            head.join("\r\n"),
                            body.len()
                        )
                        .into_bytes();
                    }
                    if w.write_all(&answer).await.is_err() || w.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn the_group_of_the_functions_logging_configuration_is_read() {
    let tag = unique("lc");
    let name = format!("logcfg-{tag}");
    let function = create_function(&name, "python3.12", "", &[]).await;
    let mine = secret().await;
    configure_rotation(&mine, &function).await;
    let group = format!("/shared/rotation/{tag}");
    let mut env = Env::new(13, now_ms() - 3600 * 1000);
    env.start(&req(41))
        .log(
            "INFO",
            &req(41),
            &format!(
                "finishSecret: Successfully set AWSCURRENT stage to version {} for secret {mine}.",
                req(41)
            ),
        )
        .end(&req(41), 88.0);
    // The default group holds nothing for it: only the configured group has the rotation.
    put(&group, &[&env]).await;
    let url = with_logging_config(group.clone()).await;
    let report = run_with(&clients_at(&url).await, args(&mine)).await;
    let (j, _) = views(&report);
    assert_eq!(j["log_group"], group.as_str(), "{j}");
    assert_eq!(j["invocations"][0]["step"], "finishSecret", "{j}");
    assert!(report.ok());
}

#[tokio::test]
async fn a_denied_filter_log_events_names_the_permission() {
    let tag = unique("ld");
    let name = format!("old-pg-{tag}");
    let function = create_function(&name, "python3.9", "", &[]).await;
    let mine = secret().await;
    configure_rotation(&mine, &function).await;
    let fault = FaultServer::start();
    fault.error_always(
        "FilterLogEvents",
        400,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: logs:FilterLogEvents",
    );
    let report = run_with(&clients_at(fault.url()).await, args(&mine)).await;
    let (j, text) = views(&report);
    assert!(!report.ok());
    assert_eq!(j["error"]["code"], "access_denied", "{j}");
    assert_eq!(j["error"]["action"], "logs:FilterLogEvents");
    assert!(
        text.contains("grant the caller logs:FilterLogEvents"),
        "{text}"
    );
    assert!(fault.faulted("FilterLogEvents") >= 1);
}

#[tokio::test]
async fn a_missing_group_an_empty_window_and_an_unknown_secret_are_clear() {
    let tag = unique("le");
    let name = format!("never-ran-{tag}");
    let function = create_function(&name, "python3.9", "", &[]).await;
    let mine = secret().await;
    configure_rotation(&mine, &function).await;
    let report = run_with(&clients().await, args(&mine)).await;
    let (j, text) = views(&report);
    assert_eq!(j["error"]["code"], "log_group_not_found", "{j}");
    assert!(
        text.contains(&format!("/aws/lambda/{name} does not exist")),
        "{text}"
    );
    assert!(!report.ok());

    // Events only from two days ago: a 90-minute window holds none.
    let mut env = Env::new(9, now_ms() - 2 * 86_400 * 1000);
    env.start(&req(31))
        .log(
            "INFO",
            &req(31),
            &format!(
                "finishSecret: Successfully set AWSCURRENT stage to version {} for secret {mine}.",
                req(31)
            ),
        )
        .end(&req(31), 120.0);
    put(&format!("/aws/lambda/{name}"), &[&env]).await;
    let mut a = args(&mine);
    a.since = Some(Duration::from_secs(90 * 60));
    let report = run_with(&clients().await, a).await;
    let (j, _) = views(&report);
    assert!(j["error"].is_null(), "{j}");
    assert!(j["invocations"].as_array().unwrap().is_empty());
    assert!(
        j["notes"][0]
            .as_str()
            .unwrap()
            .contains("no invocation for this secret"),
        "{j}"
    );
    assert!(!report.ok());
    // Over three days it is there, and the newest invocation succeeded.
    let mut a = args(&mine);
    a.since = Some(Duration::from_secs(3 * 86_400));
    let report = run_with(&clients().await, a).await;
    let (j, _) = views(&report);
    assert_eq!(j["invocations"][0]["step"], "finishSecret", "{j}");
    assert!(report.ok());

    // A secret that never rotated, read in that function's group: nothing there is its.
    let never = secret().await;
    let mut a = args(&never);
    a.function = Some(name.clone());
    let report = run_with(&clients().await, a).await;
    let (j, text) = views(&report);
    assert!(j["last_rotated"].is_null(), "{j}");
    assert!(j["invocations"].as_array().unwrap().is_empty(), "{j}");
    assert!(
        j["notes"][0].as_str().unwrap().contains("never rotated"),
        "{j}"
    );
    assert!(text.contains("last rotated never"), "{text}");
    assert!(!report.ok());

    let report = run_with(&clients().await, args(&format!("no-such-secret-{tag}"))).await;
    let (j, _) = views(&report);
    assert_eq!(j["error"]["code"], "secret_not_found", "{j}");
}

#[tokio::test]
async fn a_window_with_more_events_than_the_bounds_is_read_from_its_newest_part() {
    let group = format!("/aws/lambda/bounded-{}", unique("lr"));
    let end = now_ms() - 60_000;
    // 120 events, one a minute, up to a minute ago.
    let mut env = Env::new(11, end - 120 * 60_000);
    for k in 0..120u32 {
        env.raw(60_000, format!("[INFO]\t-\t{}\tline {k}\n", req(k)));
    }
    put(&group, &[&env]).await;
    let c = clients().await;
    let window = Window::since(Duration::from_secs(3 * 3600));
    let bounds = read::Bounds {
        page: 10,
        max_events: 30,
        max_pages: 3,
    };
    let got = read::read_group_bounded(&c, &group, window, bounds)
        .await
        .unwrap();
    assert!(got.truncated);
    assert!(got.from_ms > window.start_ms);
    assert!(
        !got.events.is_empty() && got.events.len() <= 30,
        "{}",
        got.events.len()
    );
    // The newest event is among those read, and nothing older than where the read began.
    assert!(got.events.iter().any(|e| e.message.contains("line 119")));
    assert!(got.events.iter().all(|e| e.timestamp_ms >= got.from_ms));
    // Within the bounds, a window is read whole.
    let all = read::read_group(&c, &group, window).await.unwrap();
    assert_eq!(
        (all.events.len(), all.truncated, all.calls),
        (120, false, 1)
    );
}

/// The figure in docs/bench.md: a log group of 100,000 events read and rebuilt into
/// invocations. Heavy (it writes the group first): run with `--ignored`.
#[tokio::test]
#[ignore]
async fn bench_reading_a_group_of_100000_events() {
    let tag = unique("lb");
    let name = format!("bench-{tag}");
    let function = create_function(&name, "python3.9", "", &[]).await;
    let mine = secret().await;
    configure_rotation(&mine, &function).await;
    // 20 environments, 1,000 invocations each of 5 lines (START, two INFO, END, REPORT):
    // 100,000 events, one rotation step per invocation, for 100 secrets (ours among them).
    let t0 = now_ms() - 5 * 3600 * 1000;
    let others: Vec<String> = (0..99)
        .map(|i| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/{i}-AbCdEf"))
        .collect();
    let mut envs = Vec::new();
    for e in 0..20u32 {
        let mut env = Env::new(100 + e, t0 + e as i64);
        for k in 0..1_000u32 {
            let id = req(e * 10_000 + k);
            let s = if k % 100 == 0 {
                &mine
            } else {
                &others[(k % 99) as usize]
            };
            env.start(&id)
                .log("INFO", &id, "Found credentials in environment variables.")
                .log(
                    "INFO",
                    &id,
                    &format!("createSecret: Successfully put secret for ARN {s} and version {id}."),
                )
                .end(&id, 300.0);
        }
        envs.push(env);
    }
    let refs: Vec<&Env> = envs.iter().collect();
    let put_started = std::time::Instant::now();
    put(&format!("/aws/lambda/{name}"), &refs).await;
    let put_took = put_started.elapsed();
    let mut a = args(&mine);
    a.since = Some(Duration::from_secs(6 * 3600));
    let started = std::time::Instant::now();
    let report = run_with(&clients().await, a).await;
    let took = started.elapsed();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.events_read, 100_000);
    assert_eq!(report.invocations.len(), 200);
    // The same read again, split into the calls and the rebuilding.
    let c = clients().await;
    let window = Window::since(Duration::from_secs(6 * 3600));
    let t = std::time::Instant::now();
    let read = read::read_group(&c, &format!("/aws/lambda/{name}"), window)
        .await
        .unwrap();
    let reading = t.elapsed();
    let t = std::time::Instant::now();
    let all = logs::invocations(&read.events);
    let rebuilding = t.elapsed();
    assert_eq!(all.len(), 20_000);
    println!(
        "logs bench: {} events read in {} FilterLogEvents calls, {:.2} s in all (put: {:.1} s), {} invocations of the secret; again: read {:.2} s, rebuilt {} invocations in {:.3} s",
        report.events_read,
        report.calls,
        took.as_secs_f64(),
        put_took.as_secs_f64(),
        report.invocations.len(),
        reading.as_secs_f64(),
        all.len(),
        rebuilding.as_secs_f64()
    );
}
