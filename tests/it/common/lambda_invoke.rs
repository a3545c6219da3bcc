//! A local Lambda endpoint for `migrate`: Invoke runs the real binary as a Lambda function
//! (through the Runtime API double in [`super::runtime_api`]) with the invocation's payload,
//! exactly as AWS would run the deployed function; every other Lambda call
//! (GetFunctionConfiguration, ListTags, ...) goes on to moto unchanged. Point the binary at
//! it with `("AWS_ENDPOINT_URL_LAMBDA", invoke.url())`.

use super::http::{read_message, write_response};
use super::runtime_api::{Answer, RuntimeApi};
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One invocation the endpoint served.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function name (from the path; an ARN is reduced to its name).
    pub function: String,
    /// The payload.
    pub payload: Value,
    /// What the function printed (its JSON log lines).
    pub output: String,
}

/// The endpoint; stops when dropped.
pub struct LambdaInvoke {
    url: String,
    invocations: Arc<Mutex<Vec<Invocation>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function named by an Invoke path, or None for any other call.
pub fn invoked_function(start: &str) -> Option<String> {
    let mut parts = start.split_whitespace();
    if parts.next()? != "POST" {
        return None;
    }
    let path = parts.next()?.split('?').next()?;
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = decode(name);
    let name = match name.split(':').collect::<Vec<_>>() {
        p if p.len() >= 7 && p[0] == "arn" => p[6].to_string(),
        _ => name,
    };
    Some(name)
}

impl LambdaInvoke {
    /// Starts the endpoint; `env` is the function's configuration (on top of the harness's
    /// moto and CA settings).
    pub fn start(env: Vec<(String, String)>) -> LambdaInvoke {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = super::services()
            .moto
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let invocations: Arc<Mutex<Vec<Invocation>>> = Arc::default();
        let seen = Arc::clone(&invocations);
        let env = Arc::new(env);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((conn, _)) = listener.accept().await else {
                            continue;
                        };
                        let upstream = upstream.clone();
                        let seen = Arc::clone(&seen);
                        let env = Arc::clone(&env);
                        tokio::spawn(async move {
                            let _ = serve_connection(conn, &upstream, &seen, &env).await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        LambdaInvoke {
            url,
            invocations,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The endpoint URL, for `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every invocation served so far.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.invocations.lock().unwrap().clone()
    }
}

impl Drop for LambdaInvoke {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the binary as the function `name` for one invocation; gives its answer and output.
async fn run_function(name: &str, payload: Value, env: &[(String, String)]) -> (Answer, String) {
    let api = RuntimeApi::start().await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_db-secret-rotator"));
    for var in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "SECRETS_MANAGER_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in super::base_env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start the function");
    let id = api.invoke(payload, Duration::from_secs(30));
    let answer = api.answer(&id, Duration::from_secs(90)).await;
    let _ = child.kill().await;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out).await;
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut out).await;
    }
    super::append_output(&out);
    (answer, out)
}

async fn serve_connection(
    conn: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<Invocation>>,
    env: &[(String, String)],
) -> std::io::Result<()> {
    let (r, mut w) = conn.into_split();
    let mut reader = BufReader::new(r);
    while let Some(req) = read_message(&mut reader).await? {
        let Some(function) = invoked_function(&req.start) else {
            let answer = super::fault::forward(upstream, &req).await?;
            w.write_all(&answer).await?;
            w.flush().await?;
            continue;
        };
        let payload: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let (answer, output) = run_function(&function, payload.clone(), env).await;
        seen.lock().unwrap().push(Invocation {
            function: function.clone(),
            payload,
            output,
        });
        let request_id = uuid::Uuid::new_v4().to_string();
        match answer {
            Answer::Response(body) => {
                write_response(
                    &mut w,
                    200,
                    "OK",
                    &[
                        ("content-type", "application/json".to_string()),
                        ("x-amzn-requestid", request_id),
                        ("x-amz-executed-version", "$LATEST".to_string()),
                    ],
                    body.to_string().as_bytes(),
                )
                .await?
            }
            // A function error is still HTTP 200, flagged by X-Amz-Function-Error.
            Answer::Error(body) => {
                write_response(
                    &mut w,
                    200,
                    "OK",
                    &[
                        ("content-type", "application/json".to_string()),
                        ("x-amzn-requestid", request_id),
                        ("x-amz-function-error", "Unhandled".to_string()),
                    ],
                    body.to_string().as_bytes(),
                )
                .await?
            }
        }
    }
    Ok(())
}

/// A function in moto's Lambda (metadata only: moto does not run it). Gives its ARN.
pub async fn create_function(
    name: &str,
    runtime: &str,
    description: &str,
    tags: &[(&str, &str)],
) -> String {
    let addr = super::moto_addr();
    // The role and the no-Docker setting are what rotation_function_arn() sets up.
    super::rotation_function_arn().await;
    const ZIP: &str = "UEsDBBQAAAAAAE0qfV2uVry6LQAAAC0AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gTm9uZQpQSwECFAMUAAAAAABNKn1drla8ui0AAAAtAAAACAAAAAAAAAAAAAAAgAEAAAAAaW5kZXgucHlQSwUGAAAAAAEAAQA2AAAAUwAAAAAA";
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let body = serde_json::json!({
        "FunctionName": name, "Runtime": runtime, "Description": description,
        "Role": "arn:aws:iam::123456789012:role/dsr-rotation-role",
        "Handler": "index.handler", "Code": {"ZipFile": ZIP}, "Tags": tags,
    });
    let resp = super::http::request(
        &addr,
        "POST",
        "/2015-03-31/functions",
        &[
            super::fake_auth("lambda"),
            ("content-type", "application/json".into()),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .expect("CreateFunction");
    assert!(
        resp.start.contains(" 201"),
        "CreateFunction: {} {}",
        resp.start,
        resp.text()
    );
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// Deletes a function from moto's Lambda.
pub async fn delete_function(name: &str) {
    let resp = super::http::request(
        &super::moto_addr(),
        "DELETE",
        &format!("/2015-03-31/functions/{name}"),
        &[super::fake_auth("lambda")],
        b"",
    )
    .await
    .expect("DeleteFunction");
    assert!(
        resp.start.contains(" 204"),
        "DeleteFunction: {}",
        resp.start
    );
}

/// Points a secret's rotation at a function without rotating (as the console does for a
/// hosted application), every 30 days.
pub async fn configure_rotation(secret_arn: &str, function_arn: &str) {
    super::sm()
        .await
        .rotate_secret()
        .secret_id(secret_arn)
        .rotation_lambda_arn(function_arn)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .expect("RotateSecret");
    // AWS removes the AWSPENDING of this test-only RotateSecret once testSecret ran; moto
    // leaves it on a copy of AWSCURRENT. Clear it, as AWS would have.
    for (version, labels) in super::stages(secret_arn).await {
        if labels.iter().any(|l| l == "AWSPENDING") && !labels.iter().any(|l| l == "AWSCURRENT") {
            super::sm()
                .await
                .update_secret_version_stage()
                .secret_id(secret_arn)
                .version_stage("AWSPENDING")
                .remove_from_version_id(version)
                .send()
                .await
                .expect("clear moto's AWSPENDING");
        }
    }
}

/// The rotation function and rules DescribeSecret gives.
pub async fn rotation_of(secret_arn: &str) -> (Option<String>, Option<i64>) {
    let d = super::sm()
        .await
        .describe_secret()
        .secret_id(secret_arn)
        .send()
        .await
        .unwrap();
    (
        d.rotation_lambda_arn().map(str::to_string),
        d.rotation_rules()
            .and_then(|r| r.automatically_after_days()),
    )
}
