//! Gathers what [`super::findings`] judges, with read-only calls: GetFunction (runtime,
//! package type, code size, the presigned `Code.Location`, tags), the stack its
//! `aws:cloudformation:stack-name` tag names (DescribeStacks), and the package itself, fetched
//! from that URL as it is (a presigned URL carries its own signature) and never larger than
//! the bound.

use super::bundle::{self, Limits};
use super::{findings, Context, Finding, Stack};
use crate::outside::{AwsError, Clients};
use http_body_util::{BodyExt, Empty, Limited};
use std::time::Duration;

/// The tag CloudFormation puts on the resources of a stack.
pub const STACK_TAG: &str = "aws:cloudformation:stack-name";

/// What was found about one old function, or why it could not be looked at.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Inspection {
    /// The function.
    pub function: String,
    /// The findings, fails first; empty when nothing is wrong or nothing could be read.
    pub findings: Vec<Finding>,
    /// Why the package was not (or not wholly) read: a denied call names its action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Package files passed over, and why (not ELF, too large, an unsafe path).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<String>,
}

/// What was read about one function, once, whatever the secrets it rotates: its runtime, its
/// stack, and its package (or why the package was not read).
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// The function.
    pub function: String,
    /// Its runtime (none for a container image, or when GetFunction failed).
    pub runtime: Option<String>,
    /// The stack its tag names, when it still exists.
    pub stack: Option<Stack>,
    /// The package, when it was read.
    pub bundle: Option<bundle::Bundle>,
    /// Why the function or its package was not read.
    pub skipped: Option<String>,
    /// What was passed over while reading (files, a stack that could not be read).
    pub passed_over: Vec<String>,
    /// Whether GetFunction answered at all (nothing can be judged without it).
    pub readable: bool,
    /// Whether it is a db-secret-rotator deployment (then there is nothing legacy to read).
    pub this_project: bool,
}

impl Package {
    /// Judges the package for one secret: `ctx` brings the secret's side (ARN, engine, engine
    /// version, the replacement function, today); the runtime and the stack come from here.
    pub fn inspect(&self, mut ctx: Context) -> Inspection {
        ctx.function = self.function.clone();
        ctx.runtime = self.runtime.clone();
        ctx.stack = self.stack.clone();
        let findings = match (&self.bundle, self.readable) {
            (Some(b), _) => findings(b, &ctx),
            // The runtime and the stack still speak without the package.
            (None, true) => findings(&bundle::Bundle::default(), &ctx),
            (None, false) => Vec::new(),
        };
        Inspection {
            function: self.function.clone(),
            findings,
            skipped: self.skipped.clone(),
            passed_over: self.passed_over.clone(),
        }
    }
}

/// Reads the function named by `ctx.function` and judges it for the secret `ctx` describes.
pub async fn inspect(clients: &Clients, ctx: Context, limits: Limits) -> Inspection {
    read(clients, &ctx.function, limits).await.inspect(ctx)
}

/// Reads one function: GetFunction, the stack its tag names, and its package (bounded).
pub async fn read(clients: &Clients, function: &str, limits: Limits) -> Package {
    let mut out = Package {
        function: function.to_string(),
        ..Package::default()
    };
    let got = clients
        .call(
            "lambda",
            "GetFunction",
            clients.lambda.get_function().function_name(function).send(),
        )
        .await;
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            out.skipped = Some(skip_reason(&e, function));
            return out;
        }
    };
    out.readable = true;
    let config = got.configuration();
    out.runtime = config
        .and_then(|c| c.runtime())
        .map(|r| r.as_str().to_string());
    let variables = config
        .and_then(|c| c.environment())
        .and_then(|e| e.variables());
    out.this_project = crate::outside::is_this_project(
        out.runtime.as_deref(),
        config.and_then(|c| c.description()),
        |name| variables.is_some_and(|v| v.contains_key(name)),
    );
    if out.this_project {
        return out;
    }
    if let Some(stack_name) = got.tags().and_then(|t| t.get(STACK_TAG)) {
        match read_stack(clients, stack_name).await {
            Ok(stack) => out.stack = stack,
            Err(e) => out.passed_over.push(format!(
                "stack {stack_name}: {}",
                skip_reason(&e, stack_name)
            )),
        }
    }
    let image = config
        .and_then(|c| c.package_type())
        .is_some_and(|p| p.as_str() == "Image");
    let location = got.code().and_then(|c| c.location());
    let size = config.map(|c| c.code_size()).unwrap_or(0).max(0) as u64;
    if image {
        out.skipped = Some("a container image function: there is no zip package to read".into());
    } else if size > limits.zip_bytes {
        out.skipped = Some(format!(
            "the package is {size} bytes, more than the {} read",
            limits.zip_bytes
        ));
    } else if let Some(url) = location {
        match fetch(url, limits.zip_bytes, Duration::from_secs(60)).await {
            Ok(bytes) => match bundle::read(&bytes, limits) {
                Ok(b) => {
                    out.passed_over.extend(b.passed_over.iter().cloned());
                    out.bundle = Some(b);
                }
                Err(e) => out.skipped = Some(e.to_string()),
            },
            Err(e) => out.skipped = Some(format!("the package could not be fetched: {e}")),
        }
    } else {
        out.skipped = Some("GetFunction gave no code location".into());
    }
    out
}

/// Why a read was not made, naming the permission when it was denied.
fn skip_reason(e: &AwsError, what: &str) -> String {
    if e.denied() {
        format!(
            "{} was denied for {what}: grant the caller {}",
            e.action, e.action
        )
    } else if e.not_found() {
        format!("{what} does not exist ({})", e.code)
    } else {
        format!("{} failed: {e}", e.action)
    }
}

/// DescribeStacks for the stack a function's tag names; none when it was deleted.
async fn read_stack(clients: &Clients, name: &str) -> Result<Option<Stack>, AwsError> {
    let got = clients
        .call(
            "cloudformation",
            "DescribeStacks",
            clients
                .cloudformation
                .describe_stacks()
                .stack_name(name)
                .send(),
        )
        .await;
    let got = match got {
        Ok(g) => g,
        // CloudFormation answers ValidationError "Stack with id X does not exist".
        Err(e) if e.code == "ValidationError" => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(got.stacks().first().map(|s| Stack {
        name: s.stack_name().unwrap_or(name).to_string(),
        created: s
            .creation_time()
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
            .unwrap_or_default(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }))
}

/// GETs `url` (https with the system roots, or http for a local endpoint), at most `limit`
/// bytes and within `timeout`. The URL is never printed: a presigned URL is a credential.
pub async fn fetch(url: &str, limit: u64, timeout: Duration) -> Result<Vec<u8>, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "the code location is not a URL".to_string())?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("no TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<hyper::body::Bytes>>(https);
    let request = http::Request::get(uri)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let work = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("no answer: {}", crate::net::chain_text(&e)))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(format!(
                "{} bytes, more than the {limit} read",
                declared.unwrap_or(0)
            ));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| format!("the body stopped or exceeded {limit} bytes: {e}"))?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no package in {} s", timeout.as_secs()))?
}
