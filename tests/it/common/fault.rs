//! A fault-injecting AWS endpoint: an HTTP server on 127.0.0.1 in front of moto that forwards
//! every request unchanged, except for the operations a test told it to break. Those get a
//! real AWS-shaped error (status, `x-amzn-errortype`, `{"__type", "message"}` body; the XML
//! `ErrorResponse` for query-protocol services such as RDS), for the first N calls or always,
//! are held without an answer, or get a given successful answer (for what moto lacks). Also: a listener that accepts TCP and never answers, and a
//! closed port.
//!
//! The server runs on its own thread and runtime, so a test can drive the binary with the
//! synchronous `run_bin` while the endpoint keeps serving. Point the binary at it with
//! `("AWS_ENDPOINT_URL", fault.url())`.

use super::http::read_message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What to do instead of forwarding.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with an AWS error.
    Error {
        /// HTTP status, e.g. 400.
        status: u16,
        /// The error code, e.g. `AccessDeniedException`.
        code: String,
        /// The error message.
        message: String,
    },
    /// Read the request, then never answer (the connection stays open).
    Hang,
    /// Answer with this body, as the service would (for operations moto lacks).
    Answer {
        /// HTTP status, e.g. 200.
        status: u16,
        /// The response body in the request's protocol (XML for the query protocol).
        body: String,
    },
}

struct Rule {
    operation: String,
    fault: Fault,
    /// `None`: always; `Some(n)`: the next n calls.
    remaining: Option<u32>,
}

/// Work a test runs before one exact call is forwarded.
struct Hook {
    operation: String,
    nth: u64,
    run: Option<Box<dyn FnOnce() + Send>>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    calls: HashMap<String, u64>,
    faulted: HashMap<String, u64>,
    hooks: Vec<Hook>,
}

impl State {
    /// The hook due now: `decide` has already counted this call.
    fn take_hook(&mut self, operation: &str) -> Option<Box<dyn FnOnce() + Send>> {
        let n = self.calls.get(operation).copied().unwrap_or(0);
        self.hooks
            .iter_mut()
            .find(|h| h.operation == operation && h.nth == n)
            .and_then(|h| h.run.take())
    }

    fn decide(&mut self, operation: &str) -> Option<Fault> {
        *self.calls.entry(operation.to_string()).or_default() += 1;
        let rule = self
            .rules
            .iter_mut()
            .find(|r| (r.operation == operation || r.operation == "*") && r.remaining != Some(0))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        *self.faulted.entry(operation.to_string()).or_default() += 1;
        Some(rule.fault.clone())
    }
}

/// The fault-injecting endpoint. Stops (closing every held connection) when dropped.
pub struct FaultServer {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultServer {
    /// Starts an endpoint in front of moto.
    pub fn start() -> FaultServer {
        let upstream = super::services()
            .moto
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        FaultServer::in_front_of(upstream)
    }

    /// Starts an endpoint in front of `upstream` (host:port, plain HTTP).
    pub fn in_front_of(upstream: String) -> FaultServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
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
                        let state = Arc::clone(&shared);
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            let _ = serve_connection(conn, &upstream, &state).await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here cancels every connection task, held ones included.
        });
        FaultServer {
            url,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The endpoint URL, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn add(&self, operation: &str, fault: Fault, remaining: Option<u32>) {
        self.state.lock().unwrap().rules.push(Rule {
            operation: operation.to_string(),
            fault,
            remaining,
        });
    }

    /// Every call of `operation` (`"*"`: any) fails with this AWS error.
    pub fn error_always(&self, operation: &str, status: u16, code: &str, message: &str) {
        let fault = Fault::Error {
            status,
            code: code.into(),
            message: message.into(),
        };
        self.add(operation, fault, None);
    }

    /// The next `n` calls of `operation` fail with this AWS error; later ones are forwarded.
    pub fn error_first(&self, operation: &str, n: u32, status: u16, code: &str, message: &str) {
        let fault = Fault::Error {
            status,
            code: code.into(),
            message: message.into(),
        };
        self.add(operation, fault, Some(n));
    }

    /// Every call of `operation` gets this answer instead of moto's: an operation moto
    /// does not implement (IAM's SimulatePrincipalPolicy) answered the way AWS would.
    pub fn answer_always(&self, operation: &str, status: u16, body: &str) {
        let fault = Fault::Answer {
            status,
            body: body.into(),
        };
        self.add(operation, fault, None);
    }

    /// Calls of `operation` are read and never answered.
    pub fn hang(&self, operation: &str) {
        self.add(operation, Fault::Hang, None);
    }

    /// Runs `hook` (on a blocking thread, to completion) before the `nth` call (1-based) of
    /// `operation` is forwarded: a test interleaves its own change at an exact point of the
    /// binary's sequence of calls.
    pub fn before_call(&self, operation: &str, nth: u64, hook: impl FnOnce() + Send + 'static) {
        self.state.lock().unwrap().hooks.push(Hook {
            operation: operation.to_string(),
            nth,
            run: Some(Box::new(hook)),
        });
    }

    /// Forgets every rule: from now on everything is forwarded.
    pub fn heal(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// How many requests for `operation` arrived (forwarded or not).
    pub fn calls(&self, operation: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every operation seen so far and how many requests it had.
    pub fn all_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let state = self.state.lock().unwrap();
        state.calls.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// How many requests for `operation` got a fault instead of moto's answer.
    pub fn faulted(&self, operation: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .faulted
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The operation a request calls: `X-Amz-Target: <service>.<Operation>` (AWS JSON 1.0/1.1),
/// else `Action=` in a form body (the query protocol: RDS, IAM, STS).
pub fn operation_of(headers: &HashMap<String, String>, body: &[u8]) -> (String, Protocol) {
    if let Some(target) = headers.get("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (op.to_string(), Protocol::Json);
    }
    let body = String::from_utf8_lossy(body);
    let op = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown");
    // EC2's query dialect has its own error shape; its requests are signed for "ec2".
    let ec2 = headers
        .get("authorization")
        .is_some_and(|a| a.contains("/ec2/aws4_request"));
    let protocol = if ec2 { Protocol::Ec2 } else { Protocol::Query };
    (op.to_string(), protocol)
}

/// The Lambda operation of a REST request line (Lambda names operations by path), if any.
pub fn lambda_operation(start: &str) -> Option<&'static str> {
    let mut parts = start.split_whitespace();
    let method = parts.next()?;
    let path = parts.next()?.split('?').next()?;
    if path.starts_with("/2017-03-31/tags/") {
        return Some("ListTags");
    }
    if let Some(rest) = path.strip_prefix("/2019-09-30/functions/") {
        return (method == "GET" && rest.ends_with("/concurrency"))
            .then_some("GetFunctionConcurrency");
    }
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    match (method, rest.rsplit('/').next()?) {
        ("GET", "configuration") => Some("GetFunctionConfiguration"),
        ("GET", "policy") => Some("GetPolicy"),
        ("POST", "invocations") => Some("Invoke"),
        // GET /2015-03-31/functions/NAME: the function and its code location.
        ("GET", _) if !rest.trim_end_matches('/').contains('/') => Some("GetFunction"),
        _ => None,
    }
}

/// The wire protocol of a request: it decides the shape of an injected error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0 / 1.1 (Secrets Manager).
    Json,
    /// AWS query (RDS, IAM): errors are XML.
    Query,
    /// EC2's query dialect: errors are `<Response><Errors><Error>`.
    Ec2,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A successful answer in the request's protocol: `body` is JSON or, for the query
/// protocol, XML.
pub fn answer_response(protocol: Protocol, status: u16, body: &str) -> Vec<u8> {
    let content_type = match protocol {
        Protocol::Json => "application/x-amz-json-1.1",
        Protocol::Query | Protocol::Ec2 => "text/xml",
    };
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\nx-amzn-requestid: {}\r\ncontent-length: {}\r\n\r\n{body}",
        reason(status),
        uuid::Uuid::new_v4(),
        body.len()
    )
    .into_bytes()
}

/// An AWS error response in the request's protocol.
pub fn error_response(protocol: Protocol, status: u16, code: &str, message: &str) -> Vec<u8> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let (content_type, body) = match protocol {
        Protocol::Json => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": code, "message": message}).to_string(),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                escape(code),
                escape(message)
            ),
        ),
        Protocol::Query => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    escape(code),
                    escape(message)
                ),
            )
        }
    };
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\nx-amzn-errortype: {code}\r\nx-amzn-requestid: {request_id}\r\ncontent-length: {}\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

async fn serve_connection(
    conn: TcpStream,
    upstream: &str,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    let (r, mut w) = conn.into_split();
    let mut reader = BufReader::new(r);
    while let Some(req) = read_message(&mut reader).await? {
        let (operation, protocol) = match lambda_operation(&req.start) {
            Some(op) => (op.to_string(), Protocol::Json),
            None => operation_of(&req.headers, &req.body),
        };
        let fault = state.lock().unwrap().decide(&operation);
        let hook = state.lock().unwrap().take_hook(&operation);
        if let Some(hook) = hook {
            let _ = tokio::task::spawn_blocking(hook).await;
        }
        match fault {
            Some(Fault::Hang) => {
                // Keep the connection (and the caller) waiting until the server stops.
                std::future::pending::<()>().await;
            }
            Some(Fault::Error {
                status,
                code,
                message,
            }) => {
                w.write_all(&error_response(protocol, status, &code, &message))
                    .await?;
                w.flush().await?;
            }
            Some(Fault::Answer { status, body }) => {
                w.write_all(&answer_response(protocol, status, &body))
                    .await?;
                w.flush().await?;
            }
            None => {
                let answer = forward(upstream, &req).await?;
                w.write_all(&answer).await?;
                w.flush().await?;
            }
        }
    }
    Ok(())
}

/// Sends the request to `upstream` as it came (start line, headers, body) on a fresh
/// connection, and gives back the response, re-framed with its exact length.
pub async fn forward(upstream: &str, req: &super::http::Message) -> std::io::Result<Vec<u8>> {
    let stream = TcpStream::connect(upstream).await?;
    let (r, mut w) = stream.into_split();
    let mut head = format!("{}\r\n", req.start);
    for (k, v) in &req.headers {
        if k != "connection" && k != "content-length" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        req.body.len()
    ));
    w.write_all(head.as_bytes()).await?;
    w.write_all(&req.body).await?;
    w.flush().await?;
    let mut reader = BufReader::new(r);
    let resp = read_message(&mut reader)
        .await?
        .ok_or_else(|| std::io::Error::other("upstream closed without answering"))?;
    let mut out = format!("{}\r\n", resp.start);
    for (k, v) in &resp.headers {
        if !matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", resp.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp.body);
    Ok(bytes)
}

/// A listener that accepts TCP connections and never says a word.
pub struct SilentListener {
    url: String,
    _thread: std::thread::JoinHandle<()>,
}

impl SilentListener {
    /// Starts it on 127.0.0.1:0.
    pub fn start() -> SilentListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Accepted sockets are kept open (never read, never written) for the process's life.
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        SilentListener {
            url,
            _thread: thread,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A port whose SYNs go unanswered, like a security group or NACL that drops packets: a
/// listener with an accept queue of one that never accepts, already full, so the kernel drops
/// every further connection attempt and the caller's connect hangs until it times out.
pub struct BlackHole {
    url: String,
    _thread: std::thread::JoinHandle<()>,
}

impl BlackHole {
    /// Starts it on 127.0.0.1:0.
    pub fn start() -> BlackHole {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let addr = socket.local_addr().unwrap();
                let _listener = socket.listen(0).unwrap();
                // Fill the accept queue; these connections are held and never accepted.
                let mut fillers = Vec::new();
                for _ in 0..4 {
                    match tokio::time::timeout(
                        std::time::Duration::from_millis(200),
                        TcpStream::connect(addr),
                    )
                    .await
                    {
                        Ok(Ok(c)) => fillers.push(c),
                        _ => break,
                    }
                }
                tx.send(addr).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let addr = rx.recv().unwrap();
        BlackHole {
            url: format!("http://{addr}"),
            _thread: thread,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A port on 127.0.0.1 nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
