//! A minimal Lambda Runtime API (the part `lambda_runtime` uses): hands out queued events on
//! `/invocation/next` and records what comes back on `/response` and `/error`.

use super::http::{read_message, write_response};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value, u64)>,
    answers: HashMap<String, Answer>,
    /// When the function first asked for work: the end of its init phase.
    first_poll: Option<std::time::Instant>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: String,
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = RuntimeApi {
            addr: listener.local_addr().unwrap().to_string(),
            state: Arc::default(),
            queued: Arc::default(),
            answered: Arc::default(),
        };
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move { api.serve(stream).await });
            }
        });
        api
    }

    async fn serve(&self, stream: tokio::net::TcpStream) {
        let (r, mut w) = stream.into_split();
        let mut reader = BufReader::new(r);
        while let Ok(Some(req)) = read_message(&mut reader).await {
            let path = req
                .start
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            if path.ends_with("/invocation/next") {
                self.state
                    .lock()
                    .unwrap()
                    .first_poll
                    .get_or_insert_with(std::time::Instant::now);
                let (id, payload, deadline) = loop {
                    let next = self.state.lock().unwrap().queue.pop_front();
                    match next {
                        Some(item) => break item,
                        None => self.queued.notified().await,
                    }
                };
                let headers = [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:db-secret-rotator"
                            .to_string(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000".to_string(),
                    ),
                    ("content-type", "application/json".to_string()),
                ];
                if write_response(&mut w, 200, "OK", &headers, payload.to_string().as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
                let mut parts = rest.split('/');
                let id = parts.next().unwrap_or("").to_string();
                let kind = parts.next().unwrap_or("");
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let answer = if kind == "error" {
                    Answer::Error(body)
                } else {
                    Answer::Response(body)
                };
                self.state.lock().unwrap().answers.insert(id, answer);
                self.answered.notify_waiters();
                if write_response(&mut w, 202, "Accepted", &[], b"{}")
                    .await
                    .is_err()
                {
                    return;
                }
            } else {
                let _ = write_response(&mut w, 404, "Not Found", &[], b"{}").await;
            }
        }
    }

    /// When the function first polled for an event (None before it did).
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.state.lock().unwrap().first_poll
    }

    /// Queues an event with a deadline `timeout` from now; returns its request id.
    pub fn invoke(&self, payload: Value, timeout: Duration) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.state.lock().unwrap().queue.push_back((
            id.clone(),
            payload,
            now_ms() + timeout.as_millis() as u64,
        ));
        self.queued.notify_waiters();
        self.queued.notify_one();
        id
    }

    /// Queues an event with this exact `Lambda-Runtime-Deadline-Ms` value (emulators send
    /// odd ones); returns its request id.
    pub fn invoke_with_deadline_header(&self, payload: Value, deadline_ms: u64) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.state
            .lock()
            .unwrap()
            .queue
            .push_back((id.clone(), payload, deadline_ms));
        self.queued.notify_waiters();
        self.queued.notify_one();
        id
    }

    /// Waits for the answer to a request.
    pub async fn answer(&self, id: &str, within: Duration) -> Answer {
        let wait = async {
            loop {
                let notified = self.answered.notified();
                if let Some(a) = self.state.lock().unwrap().answers.get(id).cloned() {
                    return a;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .expect("the function answered in time")
    }
}

/// The function binary as a Lambda function polling `api`: the suite's environment plus the
/// variables Lambda sets (name, 128 MB, `$LATEST`), killed when dropped. Callers add what
/// differs (log level, where its output goes).
pub fn function_command(api: &RuntimeApi) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_db-secret-rotator"));
    for (k, v) in super::base_env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "db-secret-rotator")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .kill_on_drop(true);
    cmd
}
