//! A minimal HTTP/1.1 client and server over tokio, for talking to moto's non-SDK APIs and
//! for the test doubles of AWS endpoints (fault injection, Lambda Runtime API).

use std::collections::HashMap;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One parsed HTTP request or response.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Request line or status line.
    pub start: String,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one message (start line, headers, Content-Length body). `None` at clean EOF.
pub async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<Option<Message>> {
    let mut start = String::new();
    if reader.read_line(&mut start).await? == 0 {
        return Ok(None);
    }
    let mut msg = Message {
        start: start.trim_end().to_string(),
        ..Default::default()
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            msg.headers
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    match msg
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(len) => {
            let mut body = vec![0; len];
            reader.read_exact(&mut body).await?;
            msg.body = body;
        }
        // A response without a length runs to the end of the connection.
        None if msg.start.starts_with("HTTP/") => {
            reader.read_to_end(&mut msg.body).await?;
        }
        None => {}
    }
    Ok(Some(msg))
}

/// Writes a response with a body and `Connection: close` semantics left to the caller.
pub async fn write_response<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    reason: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}

/// Sends one request and reads the response (a fresh connection each time).
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Message> {
    let stream = TcpStream::connect(addr).await?;
    let (r, mut w) = stream.into_split();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).await?;
    w.write_all(body).await?;
    let mut reader = BufReader::new(r);
    read_message(&mut reader)
        .await?
        .ok_or_else(|| std::io::Error::other("no response"))
}
