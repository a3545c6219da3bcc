//! Old rotation functions read from their real packages: zips built the way the reference
//! functions are packaged (`lambda_function.py`, a `pg` package with its `_pg` extension, a
//! `libpq.so.5` whose RUNPATH names its PostgreSQL), with real shared objects from the C
//! compiler, served from a local endpoint that plays GetFunction's part (moto's code URL
//! cannot be fetched), and a real stack in moto's CloudFormation. Each finding is proven with
//! its positive control, and every kind of bad input ends in `skipped` with the reason.

use crate::common::*;
use db_secret_rotator::engine::Engine;
use db_secret_rotator::outside::legacy::bundle::Limits;
use db_secret_rotator::outside::legacy::{inspect, Context, Inspection, Severity};
use db_secret_rotator::outside::Clients;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::io::BufReader;
use tokio::net::TcpListener;

/// A real shared object from the C compiler, with an optional RUNPATH.
fn shared_object(tag: &str, runpath: Option<&str>) -> Vec<u8> {
    let dir = std::env::temp_dir().join(unique(&format!("dsr-legacy-{tag}")));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("x.c");
    std::fs::write(&src, "int dsr_fixture(void) { return 7; }\n").unwrap();
    let out = dir.join("out.so");
    let mut cc = std::process::Command::new("cc");
    cc.args(["-shared", "-fPIC", "-o"]).arg(&out).arg(&src);
    if let Some(r) = runpath {
        cc.arg(format!("-Wl,-rpath,{r}"))
            .arg("-Wl,--enable-new-dtags");
    }
    let status = cc
        .status()
        .expect("the legacy fixtures need a C compiler (cc): install gcc");
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    bytes
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    out.into_inner()
}

/// The PostgreSQL reference function as packaged before 2022: PyGreSQL built for one Python,
/// and a libpq whose RUNPATH names the PostgreSQL it came from.
fn postgres_package(abi: &str, libpq_runpath: &str, tls: bool) -> Vec<u8> {
    let handler = if tls {
        "import pgdb\n\ndef get_connection(secret_dict):\n    use_ssl, fall_back = get_ssl_config(secret_dict)\n    return pgdb.connect(host=h, sslmode='verify-full')\n"
    } else {
        "import pgdb\n\ndef get_connection(secret_dict):\n    return pgdb.connect(host=h, user=u, password=p, connect_timeout=5)\n"
    };
    zip_of(&[
        ("lambda_function.py", handler.as_bytes().to_vec()),
        ("pg/__init__.py", b"from _pg import *\n".to_vec()),
        (
            &format!("pg/_pg.{abi}-x86_64-linux-gnu.so"),
            shared_object("pg", None),
        ),
        ("pgdb.py", b"from pg import *\n".to_vec()),
        ("libpq.so.5", shared_object("libpq", Some(libpq_runpath))),
    ])
}

/// The MySQL reference function: pymysql, and the version test that only knows 5.x and 8.x.
fn mysql_package() -> Vec<u8> {
    zip_of(&[
        (
            "lambda_function.py",
            b"import pymysql\n\ndef get_password_option(version):\n    if version.startswith(\"8\"):\n        return \"%s\"\n    else:\n        return \"PASSWORD(%s)\"\n\nssl = get_ssl_config(secret_dict)\n".to_vec(),
        ),
        ("pymysql/__init__.py", b"".to_vec()),
    ])
}

/// What the local endpoint answers for one function.
#[derive(Clone)]
enum Function {
    /// A zip function: its runtime, package, tags.
    Zip {
        runtime: &'static str,
        package: Vec<u8>,
        tags: HashMap<String, String>,
        /// The size GetFunction declares (the real one unless set).
        code_size: Option<u64>,
    },
    /// A container image function.
    Image,
    /// GetFunction is denied.
    Denied,
}

/// Plays Lambda's GetFunction and serves each package at the URL it gives.
struct Endpoint {
    url: String,
    functions: Arc<Mutex<HashMap<String, Function>>>,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let functions: Arc<Mutex<HashMap<String, Function>>> = Arc::default();
        let (f, base) = (functions.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (f, base) = (f.clone(), base.clone());
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    while let Ok(Some(req)) = http::read_message(&mut r).await {
                        let path = req.start.split(' ').nth(1).unwrap_or("").to_string();
                        let (status, headers, body) = answer(&f, &base, &path);
                        let _ = http::write_response(&mut w, status, "X", &headers, &body).await;
                    }
                });
            }
        });
        Endpoint { url, functions }
    }

    fn add(&self, name: &str, f: Function) {
        self.functions.lock().unwrap().insert(name.to_string(), f);
    }
}

fn answer(
    functions: &Mutex<HashMap<String, Function>>,
    base: &str,
    path: &str,
) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let json_type = ("content-type", "application/json".to_string());
    if let Some(name) = path.strip_prefix("/package/") {
        return match functions.lock().unwrap().get(name) {
            Some(Function::Zip { package, .. }) => (200, vec![], package.clone()),
            _ => (404, vec![], vec![]),
        };
    }
    // GET /2015-03-31/functions/NAME (the SDK may add a query string).
    let name = path
        .strip_prefix("/2015-03-31/functions/")
        .unwrap_or("")
        .split(['?', '/'])
        .next()
        .unwrap_or("")
        .to_string();
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
    match functions.lock().unwrap().get(&name).cloned() {
        Some(Function::Zip {
            runtime,
            package,
            tags,
            code_size,
        }) => {
            let body = json!({
                "Configuration": {"FunctionName": name, "FunctionArn": arn, "Runtime": runtime,
                    "PackageType": "Zip", "CodeSize": code_size.unwrap_or(package.len() as u64),
                    "Handler": "lambda_function.lambda_handler"},
                "Code": {"RepositoryType": "S3", "Location": format!("{base}/package/{name}")},
                "Tags": tags,
            });
            (200, vec![json_type], body.to_string().into_bytes())
        }
        Some(Function::Image) => {
            let body = json!({
                "Configuration": {"FunctionName": name, "FunctionArn": arn, "PackageType": "Image", "CodeSize": 0},
                "Code": {"RepositoryType": "ECR", "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/rot:1"},
            });
            (200, vec![json_type], body.to_string().into_bytes())
        }
        Some(Function::Denied) => (
            403,
            vec![
                json_type,
                ("x-amzn-errortype", "AccessDeniedException".to_string()),
            ],
            json!({"Type": "User", "Message": format!("User is not authorized to perform: lambda:GetFunction on resource: {arn}")})
                .to_string()
                .into_bytes(),
        ),
        None => (
            404,
            vec![
                json_type,
                ("x-amzn-errortype", "ResourceNotFoundException".to_string()),
            ],
            json!({"Type": "User", "Message": format!("Function not found: {arn}")})
                .to_string()
                .into_bytes(),
        ),
    }
}

/// The operator's clients: Lambda at the local endpoint, everything else at moto.
async fn clients(endpoint: &Endpoint) -> Clients {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&services().moto)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let mut clients = Clients::new(&sdk);
    clients.lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&sdk)
            .endpoint_url(&endpoint.url)
            .build(),
    );
    clients
}

fn context(function: &str, engine: Engine) -> Context {
    Context {
        function: function.to_string(),
        secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf".into(),
        engine: Some(engine),
        replacement: Some("db-secret-rotator".into()),
        today: "2026-12-06".into(),
        ..Context::default()
    }
}

fn codes(i: &Inspection) -> Vec<&str> {
    i.findings.iter().map(|f| f.code).collect()
}

fn zip_fn(runtime: &'static str, package: Vec<u8>) -> Function {
    Function::Zip {
        runtime,
        package,
        tags: HashMap::new(),
        code_size: None,
    }
}

/// Everything the suite prints goes to the leak scan.
fn keep(i: &Inspection) {
    append_output(&format!("{}\n", serde_json::to_string(i).unwrap()));
}

/// One function served by a fresh endpoint under a unique name, inspected for a secret of
/// `engine` with the default bounds; what it found goes to the leak scan.
async fn inspected(tag: &str, function: Function, engine: Engine) -> Inspection {
    let endpoint = Endpoint::start().await;
    let name = unique(tag);
    endpoint.add(&name, function);
    let i = inspect(
        &clients(&endpoint).await,
        context(&name, engine),
        Limits::default(),
    )
    .await;
    keep(&i);
    i
}

#[tokio::test]
async fn a_python37_module_under_python39_is_function_import_error() {
    let i = inspected(
        "old-pg",
        zip_fn(
            "python3.9",
            postgres_package("cpython-37m", "/opt/postgresql-14.5/lib", true),
        ),
        Engine::Postgres,
    )
    .await;
    assert_eq!(i.skipped, None, "{i:?}");
    let f = &i.findings[0];
    assert_eq!(f.code, "function_import_error");
    assert_eq!(f.severity, Severity::Fail);
    assert_eq!(f.evidence["abi"], "cpython-37m");
    assert_eq!(
        f.evidence["module"],
        "pg/_pg.cpython-37m-x86_64-linux-gnu.so"
    );
    assert!(
        f.remedy.contains("db-secret-rotator migrate --secret-id"),
        "{}",
        f.remedy
    );
    // python3.9 is deprecated too: a warning after the failure.
    assert_eq!(
        codes(&i),
        vec!["function_import_error", "legacy_runtime_deprecated"]
    );
}

#[tokio::test]
async fn a_python37_module_under_python37_is_no_import_error() {
    let i = inspected(
        "old-pg",
        zip_fn(
            "python3.7",
            postgres_package("cpython-37m", "/opt/postgresql-14.5/lib", true),
        ),
        Engine::Postgres,
    )
    .await;
    assert_eq!(codes(&i), vec!["legacy_runtime_deprecated"], "{i:?}");
}

#[tokio::test]
async fn libpq_from_postgresql_94_is_legacy_libpq_without_scram() {
    let i = inspected(
        "old-pg",
        zip_fn(
            "python3.12",
            postgres_package("cpython-312", "/opt/PostgreSQL-9.4.x/lib", true),
        ),
        Engine::Postgres,
    )
    .await;
    assert_eq!(codes(&i), vec!["legacy_libpq_without_scram"], "{i:?}");
    assert_eq!(i.findings[0].evidence["postgresql_major"], 9);
    assert_eq!(
        i.findings[0].evidence["runpath"],
        json!(["/opt/PostgreSQL-9.4.x/lib"])
    );
}

#[tokio::test]
async fn libpq_from_postgresql_14_is_no_finding() {
    let i = inspected(
        "new-pg",
        zip_fn(
            "python3.12",
            postgres_package("cpython-312", "/opt/postgresql-14.5/lib", true),
        ),
        Engine::Postgres,
    )
    .await;
    assert!(i.findings.is_empty(), "{i:?}");
    assert!(i.passed_over.is_empty(), "{i:?}");
}

#[tokio::test]
async fn code_without_tls_is_legacy_without_tls_with_its_stack() {
    let endpoint = Endpoint::start().await;
    let name = unique("old-pg");
    // A real stack in moto, named by the tag CloudFormation puts on its resources.
    let stack = unique("rotation-stack").replace('_', "-");
    let cfn = aws_sdk_cloudformation::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&services().moto)
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await,
    );
    let template = json!({
        "Parameters": {"functionName": {"Type": "String"}},
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
    });
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("functionName")
                .parameter_value(&name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    endpoint.add(
        &name,
        Function::Zip {
            runtime: "python3.12",
            package: postgres_package("cpython-312", "/opt/postgresql-14.5/lib", false),
            tags: HashMap::from([("aws:cloudformation:stack-name".to_string(), stack.clone())]),
            code_size: None,
        },
    );
    let i = inspect(
        &clients(&endpoint).await,
        context(&name, Engine::Postgres),
        Limits::default(),
    )
    .await;
    keep(&i);
    assert_eq!(codes(&i), vec!["legacy_without_tls"], "{i:?}");
    let f = &i.findings[0];
    assert_eq!(f.severity, Severity::Warn);
    assert_eq!(f.evidence["stack"], Value::String(stack.clone()));
    assert!(f.evidence["stack_created"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert!(
        f.remedy.contains(&format!(
            "update stack {stack} with a new functionName (today {name})"
        )),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn the_mysql_reference_on_mysql_9_is_legacy_mysql9_unsupported_and_on_8_is_not() {
    let endpoint = Endpoint::start().await;
    let name = unique("old-mysql");
    endpoint.add(&name, zip_fn("python3.12", mysql_package()));
    let clients = clients(&endpoint).await;
    let mut ctx = context(&name, Engine::MySql);
    ctx.engine_version = Some("9.1.0".into());
    let i = inspect(&clients, ctx.clone(), Limits::default()).await;
    keep(&i);
    assert_eq!(codes(&i), vec!["legacy_mysql9_unsupported"], "{i:?}");
    ctx.engine_version = Some("8.0.40".into());
    let i = inspect(&clients, ctx, Limits::default()).await;
    assert!(i.findings.is_empty(), "{i:?}");
}

#[tokio::test]
async fn a_package_larger_than_the_bound_is_skipped_unread() {
    let endpoint = Endpoint::start().await;
    let name = unique("big");
    endpoint.add(
        &name,
        Function::Zip {
            runtime: "python3.12",
            package: mysql_package(),
            tags: HashMap::new(),
            code_size: Some(300 * 1024 * 1024),
        },
    );
    let i = inspect(
        &clients(&endpoint).await,
        context(&name, Engine::MySql),
        Limits::default(),
    )
    .await;
    assert!(
        i.skipped.as_deref().unwrap().contains("more than the"),
        "{i:?}"
    );
    assert!(i.findings.is_empty());
}

#[tokio::test]
async fn a_zip_bomb_and_a_package_that_is_no_zip_are_skipped_with_the_reason() {
    let endpoint = Endpoint::start().await;
    let clients = clients(&endpoint).await;
    // 64 MiB of zeros deflate to a few dozen KiB.
    let bomb = {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        w.start_file("zeros.bin", deflated).unwrap();
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..64 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    };
    let name = unique("bomb");
    endpoint.add(&name, zip_fn("python3.12", bomb));
    let limits = Limits {
        unzipped_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let i = inspect(&clients, context(&name, Engine::MySql), limits).await;
    assert!(
        i.skipped.as_deref().unwrap().contains("unzipped bytes"),
        "{i:?}"
    );
    let name = unique("nozip");
    endpoint.add(
        &name,
        zip_fn("python3.12", b"#!/bin/sh\necho hi\n".to_vec()),
    );
    let i = inspect(&clients, context(&name, Engine::MySql), Limits::default()).await;
    assert!(
        i.skipped.as_deref().unwrap().contains("not a readable zip"),
        "{i:?}"
    );
}

#[tokio::test]
async fn a_container_image_a_denied_get_function_and_a_missing_function_are_skipped() {
    let endpoint = Endpoint::start().await;
    let clients = clients(&endpoint).await;
    let image = unique("image");
    endpoint.add(&image, Function::Image);
    let i = inspect(
        &clients,
        context(&image, Engine::Postgres),
        Limits::default(),
    )
    .await;
    assert!(
        i.skipped.as_deref().unwrap().contains("container image"),
        "{i:?}"
    );
    let denied = unique("denied");
    endpoint.add(&denied, Function::Denied);
    let i = inspect(
        &clients,
        context(&denied, Engine::Postgres),
        Limits::default(),
    )
    .await;
    let why = i.skipped.as_deref().unwrap();
    assert!(why.contains("lambda:GetFunction was denied"), "{why}");
    let i = inspect(
        &clients,
        context(&unique("gone"), Engine::Postgres),
        Limits::default(),
    )
    .await;
    assert!(
        i.skipped.as_deref().unwrap().contains("does not exist"),
        "{i:?}"
    );
}

#[tokio::test]
async fn a_stack_that_was_deleted_leaves_the_package_findings() {
    let endpoint = Endpoint::start().await;
    let name = unique("orphan");
    endpoint.add(
        &name,
        Function::Zip {
            runtime: "python3.12",
            package: postgres_package("cpython-312", "/opt/PostgreSQL-9.4.x/lib", true),
            tags: HashMap::from([(
                "aws:cloudformation:stack-name".to_string(),
                unique("deleted-stack").replace('_', "-"),
            )]),
            code_size: None,
        },
    );
    let i = inspect(
        &clients(&endpoint).await,
        context(&name, Engine::Postgres),
        Limits::default(),
    )
    .await;
    keep(&i);
    assert_eq!(codes(&i), vec!["legacy_libpq_without_scram"], "{i:?}");
    assert!(i.findings[0].evidence.get("stack").is_none());
}

/// Through the binary: `diagnose --scope config` on a secret whose old function's package
/// (served by the local endpoint, which plays Lambda's GetFunction) carries a cpython-37m
/// module under python3.9 shows `legacy_bundle` failed with `function_import_error`, its
/// remedy naming `migrate` first; every other Lambda read answers "not found" there, which
/// the other checks report on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_scope_config_names_an_old_functions_import_error() {
    let endpoint = Endpoint::start().await;
    let name = unique("old-pg");
    endpoint.add(
        &name,
        zip_fn(
            "python3.9",
            postgres_package("cpython-37m", "/opt/postgresql-14.5/lib", true),
        ),
    );
    let arn = create_secret(&json!({"engine": "postgres", "host": "db.internal",
        "username": "app", "password": password("legacy"), "port": 5432}))
    .await;
    let url = endpoint.url.clone();
    let (secret_id, function) = (arn.clone(), name.clone());
    let run = tokio::task::spawn_blocking(move || {
        run_bin(
            &[
                "diagnose",
                "--secret-id",
                &secret_id,
                "--scope",
                "config",
                "--function",
                &function,
                "--format",
                "json",
            ],
            &[("AWS_ENDPOINT_URL_LAMBDA", url.as_str())],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.status, 1, "{}\n{}", run.stdout, run.stderr);
    let report = json_report(&run);
    let legacy = report_check(&report, "legacy_bundle");
    assert_eq!(legacy["status"], "fail", "{legacy}");
    assert_eq!(legacy["cause"], "function_import_error", "{legacy}");
    assert_eq!(legacy["evidence"]["abi"], "cpython-37m", "{legacy}");
    assert!(
        legacy["remedy"]
            .as_str()
            .unwrap()
            .starts_with("Move the secret to db-secret-rotator: db-secret-rotator migrate"),
        "{legacy}"
    );
    // The deprecated runtime is listed with it, after the failure.
    assert_eq!(
        legacy["evidence"]["findings"][1]["code"], "legacy_runtime_deprecated",
        "{legacy}"
    );
}
