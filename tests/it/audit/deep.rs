//! `audit --deep` through the binary, against configurations built in moto behind the
//! fault endpoint (which counts the calls): per secret the configuration verdict with its
//! failing checks, the last rotation read from the function's log group, failures first in
//! the text; and calls that grow with the distinct functions and VPC objects, not with the
//! secrets.

use crate::common::fault::FaultServer;
use crate::common::lambda_invoke::{configure_rotation, create_function};
use crate::common::*;
use crate::logs::{now_ms, put, req, Env};
use crate::outside_network::{
    create_vpc_function, healthy_lab, tcp_to_cidr, tcp_to_group, HEALTHY_FN,
};
use serde_json::{json, Value};

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// A secret named `name` for a PostgreSQL database at `host`, rotated by `function`.
async fn secret_on(name: &str, host: &str, function: &str) -> String {
    let value = json!({"engine": "postgres", "host": host, "username": "app",
                       "password": password("deep"), "port": 5432});
    let arn = sm()
        .await
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn()
        .unwrap()
        .to_string();
    configure_rotation(&arn, &function_arn(function)).await;
    arn
}

/// `audit --deep` over the secrets named `prefix…`, through `fault`.
fn deep(fault: &FaultServer, prefix: &str, format: &str) -> Run {
    run_bin(
        &[
            "audit",
            "--deep",
            "--format",
            format,
            "--name-prefix",
            prefix,
        ],
        &[("AWS_ENDPOINT_URL", fault.url())],
    )
}

fn row<'a>(report: &'a Value, arn: &str) -> &'a Value {
    report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["secret_arn"] == arn)
        .unwrap_or_else(|| panic!("no row for {arn} in {report}"))
}

/// The reads whose number must follow the distinct objects.
const PER_OBJECT: [&str; 12] = [
    "GetFunctionConfiguration",
    "GetFunction",
    "GetPolicy",
    "GetFunctionConcurrency",
    "ListTags",
    "DescribeSubnets",
    "DescribeRouteTables",
    "DescribeNetworkAcls",
    "DescribeVpcEndpoints",
    "DescribeSecurityGroups",
    "DescribeDBInstances",
    "FilterLogEvents",
];

fn counts(fault: &FaultServer) -> Vec<u64> {
    PER_OBJECT.iter().map(|op| fault.calls(op)).collect()
}

#[tokio::test]
async fn calls_grow_with_the_distinct_functions_and_vpc_objects_not_with_the_secrets() {
    let tag = unique("deepc").replace('_', "-");
    let mut lab = healthy_lab(HEALTHY_FN).await;
    let first = lab.function.clone();
    lab.function = unique("net-fn").replace('_', "-");
    create_vpc_function(&lab, &HEALTHY_FN).await;
    let second = lab.function.clone();
    // 6 secrets on 2 functions in 1 VPC.
    for i in 0..6 {
        let f = if i % 2 == 0 { &first } else { &second };
        secret_on(&format!("{tag}-{i:02}"), &lab.db_host, f).await;
    }
    let fault = FaultServer::start();
    let run = deep(&fault, &tag, "json");
    let report = json_report(&run);
    assert_eq!(report["summary"]["secrets_with_rotation"], 6, "{report}");
    let six = counts(&fault);
    let described = fault.calls("DescribeSecret");

    println!(
        "6 secrets, 2 functions, 1 VPC: {:?}",
        PER_OBJECT.iter().zip(&six).collect::<Vec<_>>()
    );
    for (op, n) in PER_OBJECT.iter().zip(&six) {
        // A function's configuration has four readers (the audit's row, the network and
        // policy checks, the log group's name): each reads it once per function. Every
        // other object is read at most once per function.
        let most = if *op == "GetFunctionConfiguration" {
            8
        } else {
            2
        };
        assert!(*n <= most, "{op}: {n} calls for 2 functions and 1 VPC");
    }
    assert_eq!(fault.calls("FilterLogEvents"), 2, "one read per function");
    assert!(
        fault.calls("GetFunction") <= 2,
        "one package read per function"
    );

    // Twice the secrets on the same functions: not one read more of any object.
    for i in 6..12 {
        let f = if i % 2 == 0 { &first } else { &second };
        secret_on(&format!("{tag}-{i:02}"), &lab.db_host, f).await;
    }
    let before = counts(&fault);
    let run = deep(&fault, &tag, "json");
    let report = json_report(&run);
    assert_eq!(report["summary"]["secrets_with_rotation"], 12, "{report}");
    let twelve: Vec<u64> = counts(&fault)
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(twelve, six, "{PER_OBJECT:?}");
    // What does grow with the secrets: each secret is described and its host read.
    assert!(fault.calls("DescribeSecret") - described >= 12);
    append_output(&format!("{}\n{}\n", run.stdout, run.stderr));
    println!("per object, 6 and 12 secrets: {PER_OBJECT:?} {six:?}");
}

#[tokio::test]
async fn deep_audit_gives_verdicts_last_rotations_and_failures_first() {
    let tag = unique("deepv").replace('_', "-");
    // A healthy function in a VPC.
    let healthy = healthy_lab(HEALTHY_FN).await;
    let ok = secret_on(&format!("{tag}-a-ok"), &healthy.db_host, &healthy.function).await;
    // A function whose endpoint group admits another network, not the function.
    let blocked = healthy_lab(HEALTHY_FN).await;
    blocked
        .revoke_ingress(&blocked.ep_sg, tcp_to_group(443, &blocked.fn_sg))
        .await;
    blocked
        .ingress(&blocked.ep_sg, tcp_to_cidr(443, "192.168.0.0/16"))
        .await;
    let sg = secret_on(&format!("{tag}-b-sg"), &blocked.db_host, &blocked.function).await;
    // An old Python function whose log group holds a failed rotation of its secret.
    let old = format!("old-pg-{tag}");
    create_function(&old, "python3.7", "", &[]).await;
    let failed = secret_on(&format!("{tag}-c-old"), "db.internal", &old).await;
    let mut env = Env::new(1, now_ms() - 3600 * 1000);
    env.start(&req(1))
        .log("INFO", &req(1), "Found credentials in environment variables.")
        .log("ERROR", &req(1), "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host: db.internal")
        .log("ERROR", &req(1), &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {failed}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {failed}"))
        .end(&req(1), 512.8);
    put(&format!("/aws/lambda/{old}"), &[&env]).await;

    let fault = FaultServer::start();
    let run = deep(&fault, &tag, "json");
    append_output(&format!("{}\n{}\n", run.stdout, run.stderr));
    assert_eq!(run.status, 1, "a failed check: exit 1\n{}", run.stderr);
    let report = json_report(&run);
    assert!(
        run.stderr.contains("audit --deep: function 1/3: "),
        "{}",
        run.stderr
    );

    let r = &row(&report, &ok)["deep"];
    assert_eq!(r["verdict"], "ok", "{r:#}");
    assert_eq!(r["findings"], json!([]), "{r:#}");
    assert_eq!(r["last_rotation"], Value::Null);
    assert!(
        r["notes"][0].as_str().unwrap().contains("does not exist"),
        "{r:#}"
    );

    let r = &row(&report, &sg)["deep"];
    assert_eq!(r["verdict"], "fail", "{r:#}");
    assert_eq!(r["findings"][0]["check"], "network_secrets_manager");
    assert_eq!(
        r["findings"][0]["cause"],
        "vpc_endpoint_security_group_blocks"
    );
    assert_eq!(
        r["findings"][0]["evidence"]["vpc_endpoint"],
        blocked.sm_endpoint.as_str()
    );
    assert!(r["findings"][0]["remedy"]
        .as_str()
        .unwrap()
        .starts_with("aws ec2 authorize-security-group-ingress"));

    let r = &row(&report, &failed)["deep"];
    let last = &r["last_rotation"];
    assert_eq!(last["outcome"], "failed", "{r:#}");
    assert_eq!(last["step"], "setSecret");
    assert_eq!(last["cause"], "db_tls_required");
    assert_eq!(last["inferred"], true);
    assert_eq!(r["log_group"], format!("/aws/lambda/{old}"));
    let legacy: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "legacy_bundle")
        .collect();
    assert_eq!(legacy.len(), 1, "{r:#}");
    assert_eq!(legacy[0]["cause"], "legacy_runtime_deprecated", "{r:#}");

    let s = &report["summary"]["deep"];
    // The blocked endpoint, and the old function (moto's function has no invoke permission).
    assert_eq!(s["config_fail"], 2, "{s}");
    assert_eq!(s["last_rotation_failed"], 1, "{s}");

    // The text: the failures first (both failing rows before the healthy one).
    let run = deep(&fault, &tag, "text");
    append_output(&format!("{}\n", run.stdout));
    println!("{}", run.stdout);
    let order: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with(&tag))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order.len(), 3, "{}", run.stdout);
    assert_eq!(order[2], format!("{tag}-a-ok"), "{}", run.stdout);
    assert!(run
        .stdout
        .contains("  fail network_secrets_manager: vpc_endpoint_security_group_blocks: "));
    assert!(run
        .stdout
        .contains(" in setSecret: db_tls_required (inferred from its log)"));
}

/// Calls per operation between two snapshots of the fault endpoint's counts.
fn delta(
    after: &std::collections::BTreeMap<String, u64>,
    before: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The figure of docs/bench.md: 1,000 secrets on 10 functions in 3 VPCs, `audit` against
/// `audit --deep`, calls by operation (the stable figure) and wall time (a shared machine:
/// noisy). Run alone: `cargo test --test it audit::deep::bench -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn bench_1000_secrets_on_10_functions_in_3_vpcs() {
    let tag = unique("deepb").replace('_', "-");
    let mut functions = Vec::new();
    for (v, n) in [4, 3, 3].into_iter().enumerate() {
        let mut lab = healthy_lab(HEALTHY_FN).await;
        functions.push((lab.function.clone(), lab.db_host.clone()));
        for _ in 1..n {
            lab.function = unique(&format!("net-fn-v{v}")).replace('_', "-");
            create_vpc_function(&lab, &HEALTHY_FN).await;
            functions.push((lab.function.clone(), lab.db_host.clone()));
        }
    }
    assert_eq!(functions.len(), 10);
    let built = std::time::Instant::now();
    for i in 0..1000 {
        let (f, host) = &functions[i % functions.len()];
        secret_on(&format!("{tag}-{i:04}"), host, f).await;
    }
    println!("fixture: 1000 secrets in {:?}", built.elapsed());
    let fault = FaultServer::start();
    for args in [&["audit"][..], &["audit", "--deep"][..]] {
        let before = fault.all_calls();
        let mut argv = args.to_vec();
        argv.extend(["--format", "json", "--name-prefix", &tag]);
        let started = std::time::Instant::now();
        let run = run_bin(&argv, &[("AWS_ENDPOINT_URL", fault.url())]);
        let took = started.elapsed();
        let report = json_report(&run);
        assert_eq!(report["summary"]["secrets_with_rotation"], 1000);
        let calls = delta(&fault.all_calls(), &before);
        let total: u64 = calls.values().sum();
        println!("{}: {total} calls in {took:?}: {calls:?}", args.join(" "));
        println!("summary: {}", report["summary"]);
    }
}

#[tokio::test]
async fn what_cannot_be_read_is_a_note_on_its_row_never_an_abort() {
    let tag = unique("deepn").replace('_', "-");
    let name = format!("plain-{tag}");
    create_function(&name, "python3.12", "", &[]).await;
    // AWSCURRENT that is no database secret, and a function that no longer exists.
    let invalid = sm()
        .await
        .create_secret()
        .name(format!("{tag}-invalid"))
        .secret_string("not json")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    configure_rotation(&invalid, &function_arn(&name)).await;
    let gone = format!("gone-{tag}");
    create_function(&gone, "python3.12", "", &[]).await;
    let orphan = secret_on(&format!("{tag}-orphan"), "db.internal", &gone).await;
    crate::common::lambda_invoke::delete_function(&gone).await;

    let fault = FaultServer::start();
    fault.error_always(
        "FilterLogEvents",
        400,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: logs:FilterLogEvents",
    );
    let run = deep(&fault, &tag, "json");
    append_output(&format!("{}\n{}\n", run.stdout, run.stderr));
    let report = json_report(&run);
    assert_eq!(report["summary"]["secrets_with_rotation"], 2, "{report}");

    let r = &row(&report, &invalid)["deep"];
    let notes = r["notes"].to_string();
    assert!(notes.contains("AWSCURRENT is not a valid secret"), "{r:#}");
    assert!(
        notes.contains("logs:FilterLogEvents was denied")
            && notes.contains("grant the caller logs:FilterLogEvents"),
        "{r:#}"
    );

    let r = &row(&report, &orphan)["deep"];
    assert_eq!(r["verdict"], "fail", "{r:#}");
    assert_eq!(r["findings"][0]["cause"], "function_not_found", "{r:#}");
    assert!(
        r["notes"]
            .to_string()
            .contains("does not exist: every rotation of this secret fails"),
        "{r:#}"
    );

    // A function the caller may not read: its rows say which permission is missing.
    fault.heal();
    fault.error_always(
        "GetFunctionConfiguration",
        403,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: lambda:GetFunctionConfiguration",
    );
    let run = deep(&fault, &tag, "json");
    append_output(&format!("{}\n{}\n", run.stdout, run.stderr));
    let report = json_report(&run);
    let r = &row(&report, &invalid)["deep"];
    assert!(
        r["notes"]
            .to_string()
            .contains("could not be read: grant the caller lambda:GetFunctionConfiguration"),
        "{r:#}"
    );
    assert!(
        r["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "rotation_function"),
        "{r:#}"
    );
}
