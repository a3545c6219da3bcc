//! The benchmark: runs the function (by default the release `bootstrap` that
//! `scripts/package` builds) through a local Lambda Runtime API against the local services,
//! and prints init time, step and rotation latency (median, p90), CPU time per rotation,
//! peak memory, AWS calls and database connections per rotation, and the package size.
//! It writes the figures to target/bench/results.json and a chart to docs/bench.svg.
//!
//! `scripts/bench [--rotations N]` builds what it needs and runs it. Figures, not assertions.

#[path = "../tests/common/mod.rs"]
mod common;

use common::driver::{Function, RotationStats, STEPS};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

struct Args {
    bootstrap: String,
    runner: Option<String>,
    zip: Option<String>,
    rotations: usize,
    chart: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: env!("CARGO_BIN_EXE_db-secret-rotator").to_string(),
        runner: None,
        zip: None,
        rotations: 20,
        chart: Some("docs/bench.svg".into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bootstrap" => a.bootstrap = it.next().expect("--bootstrap PATH"),
            "--runner" => a.runner = it.next(),
            "--zip" => a.zip = it.next(),
            "--rotations" => {
                a.rotations = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rotations N")
            }
            "--no-chart" => a.chart = None,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let idx = ((v.len() - 1) as f64 * p).round() as usize;
    v[idx]
}

/// One engine × strategy: how to make its secret, and the function's environment.
struct Config {
    name: &'static str,
    env: Vec<(&'static str, &'static str)>,
}

/// A master for alternating users: PostgreSQL with CREATEROLE, MariaDB and MySQL the local
/// admin.
async fn master_arn(engine: &str) -> String {
    let s = services();
    if engine == "postgres" {
        let name = unique("dsr_bench_master");
        let pw = password("master");
        pg_create_user(s.pg_port, &name, &pw, &[]).await;
        pg_admin()
            .await
            .batch_execute(&format!("ALTER ROLE \"{name}\" CREATEROLE"))
            .await
            .unwrap();
        create_secret(&pg_secret(&name, &pw)).await
    } else if engine == "mysql" {
        let mut m = common::mysql::secret_on(
            common::mysql::Server::MySql,
            &s.mysql_admin_user,
            &s.mysql_admin_password,
        );
        m["ssl"] = json!(true);
        create_secret(&m).await
    } else {
        let mut m = common::mysql::maria_secret(&s.mariadb_admin_user, &s.mariadb_admin_password);
        m["ssl"] = json!(true);
        create_secret(&m).await
    }
}

async fn make_secret(config: &Config) -> Option<String> {
    let (engine, strategy) = config.name.split_once('/').unwrap();
    let mut secret = match engine {
        "postgres" => {
            let user = unique("dsr_bench_pg");
            let pw = password("bench");
            pg_create_user(services().pg_port, &user, &pw, &["dsr_tls_only"]).await;
            pg_secret(&user, &pw)
        }
        "mariadb" => {
            // MariaDB user names are limited to 80 characters: keep it short.
            let user = unique("bm");
            let pw = password("bench");
            common::mysql::maria_create_user(&user, "%", &pw, true).await;
            common::mysql::maria_secret(&user, &pw)
        }
        "mysql" => {
            // MySQL user names are limited to 32 characters, `_clone` included.
            let user = common::mysql::short_unique("bm");
            let pw = password("bench");
            common::mysql::create_user_on(common::mysql::Server::MySql, &user, "%", &pw, true)
                .await;
            common::mysql::secret_on(common::mysql::Server::MySql, &user, &pw)
        }
        _ => return None,
    };
    secret["ssl"] = json!(true);
    if strategy == "alternating_users" {
        secret["masterarn"] = json!(master_arn(engine).await);
    }
    Some(create_secret(&secret).await)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let alternating = vec![("ROTATION_STRATEGY", "alternating_users")];
    let configs = [
        Config {
            name: "postgres/single_user",
            env: vec![],
        },
        Config {
            name: "postgres/alternating_users",
            env: alternating.clone(),
        },
        Config {
            name: "mariadb/single_user",
            env: vec![],
        },
        Config {
            name: "mariadb/alternating_users",
            env: alternating.clone(),
        },
        Config {
            name: "mysql/single_user",
            env: vec![],
        },
        Config {
            name: "mysql/alternating_users",
            env: [alternating, vec![("USERNAME_CHARACTER_LIMIT", "32")]].concat(),
        },
    ];
    let mut results = Vec::new();
    for config in &configs {
        let Some(arn) = make_secret(config).await else {
            println!(
                "{:<28} skipped: no fixture for this configuration yet",
                config.name
            );
            continue;
        };
        let f = Function::start(&a.bootstrap, a.runner.as_deref(), &config.env).await;
        let init = f.init;
        // The first rotation includes the first-invocation costs (SDK credentials, TLS setup).
        let mut rotations: Vec<RotationStats> = Vec::new();
        for _ in 0..a.rotations + 1 {
            rotations.push(f.rotate(&arn).await);
        }
        let peak_kib = f.finish(&mut rotations).await;
        let first = rotations.remove(0);
        let warm = &rotations;

        let mut steps = serde_json::Map::new();
        for st in STEPS {
            let v: Vec<f64> = warm.iter().map(|r| ms(r.step_latency[st])).collect();
            steps.insert(
                st.into(),
                json!({"median_ms": percentile(v.clone(), 0.5), "p90_ms": percentile(v, 0.9)}),
            );
        }
        let total: Vec<f64> = warm.iter().map(|r| ms(r.total)).collect();
        let cpu: Vec<f64> = warm.iter().map(|r| ms(r.cpu)).collect();
        let result = json!({
            "config": config.name,
            "rotations": warm.len(),
            "init_ms": ms(init),
            "first_rotation_ms": ms(first.total),
            "first_rotation_cpu_ms": ms(first.cpu),
            "rotation_median_ms": percentile(total.clone(), 0.5),
            "rotation_p90_ms": percentile(total, 0.9),
            "cpu_per_rotation_median_ms": percentile(cpu, 0.5),
            "peak_rss_mib": peak_kib as f64 / 1024.0,
            "steps": steps,
            "secretsmanager_calls_first_rotation": first.calls_to("secretsmanager"),
            "secretsmanager_calls_warm_rotation": warm.last().map(|r| r.calls_to("secretsmanager")),
            "rds_calls_per_rotation": first.calls_to("rds"),
            "calls_by_operation_first_rotation": first.aws_calls,
            "db_connections_per_rotation": first.db_connections,
        });
        print_result(&result);
        results.push(result);
    }
    let bootstrap_bytes = std::fs::metadata(&a.bootstrap)
        .map(|m| m.len())
        .unwrap_or(0);
    let zip_bytes = a
        .zip
        .as_ref()
        .and_then(|z| std::fs::metadata(z).ok())
        .map(|m| m.len());
    println!(
        "bootstrap: {} ({:.1} MiB)",
        a.bootstrap,
        bootstrap_bytes as f64 / 1048576.0
    );
    if let Some(z) = zip_bytes {
        println!("zip:       {:.1} MiB", z as f64 / 1048576.0);
    }
    let all = json!({
        "bootstrap": a.bootstrap,
        "bootstrap_bytes": bootstrap_bytes,
        "zip_bytes": zip_bytes,
        "results": results,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&all).unwrap(),
    )
    .unwrap();
    println!("figures written to target/bench/results.json");
    if let Some(chart) = &a.chart {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(chart);
        std::fs::write(&path, svg(&all)).unwrap();
        println!("chart written to {chart}");
    }
}

fn print_result(r: &Value) {
    println!(
        "== {} ({} warm rotations)",
        r["config"].as_str().unwrap(),
        r["rotations"]
    );
    println!(
        "  init (start to first poll)     {:>8.1} ms",
        r["init_ms"].as_f64().unwrap()
    );
    println!(
        "  first rotation                 {:>8.1} ms  cpu {:.1} ms",
        r["first_rotation_ms"].as_f64().unwrap(),
        r["first_rotation_cpu_ms"].as_f64().unwrap()
    );
    println!(
        "  rotation median / p90          {:>8.1} / {:.1} ms",
        r["rotation_median_ms"].as_f64().unwrap(),
        r["rotation_p90_ms"].as_f64().unwrap()
    );
    for st in STEPS {
        let s = &r["steps"][st];
        println!(
            "    {st:<14} median / p90     {:>8.1} / {:.1} ms",
            s["median_ms"].as_f64().unwrap(),
            s["p90_ms"].as_f64().unwrap()
        );
    }
    println!(
        "  cpu per rotation (median)      {:>8.1} ms",
        r["cpu_per_rotation_median_ms"].as_f64().unwrap()
    );
    println!(
        "  peak resident memory           {:>8.1} MiB",
        r["peak_rss_mib"].as_f64().unwrap()
    );
    println!(
        "  Secrets Manager calls          {:>8} first rotation, {} warm",
        r["secretsmanager_calls_first_rotation"], r["secretsmanager_calls_warm_rotation"]
    );
    println!(
        "  RDS calls                      {:>8}",
        r["rds_calls_per_rotation"]
    );
    println!(
        "  database connections           {:>8}",
        r["db_connections_per_rotation"]
    );
    println!(
        "  calls by operation             {}",
        r["calls_by_operation_first_rotation"]
    );
}

/// A bar chart: our figures against the reference functions' (issue 7), one row per metric,
/// scaled per row so both bars are comparable.
fn svg(all: &Value) -> String {
    let Some(r) = all["results"].as_array().and_then(|v| v.first()) else {
        return String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    };
    let zip_mib = all["zip_bytes"].as_f64().map(|b| b / 1048576.0);
    let rows: Vec<(&str, f64, f64, &str)> = vec![
        ("init (ms)", r["init_ms"].as_f64().unwrap(), 250.0, "ms"),
        (
            "CPU per rotation (ms)",
            r["cpu_per_rotation_median_ms"].as_f64().unwrap(),
            150.0,
            "ms",
        ),
        (
            "peak memory (MiB)",
            r["peak_rss_mib"].as_f64().unwrap(),
            50.0,
            "MiB",
        ),
        (
            "Secrets Manager calls",
            r["secretsmanager_calls_first_rotation"].as_f64().unwrap(),
            14.0,
            "",
        ),
        (
            "DB connections",
            r["db_connections_per_rotation"].as_f64().unwrap(),
            3.0,
            "",
        ),
    ]
    .into_iter()
    .chain(zip_mib.map(|z| ("package zip (MiB)", z, f64::NAN, "MiB")))
    .collect();
    let (w, row_h, label_w, bar_w) = (760.0, 46.0, 200.0, 440.0);
    let h = 70.0 + row_h * rows.len() as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">db-secret-rotator ({}) vs AWS Python reference, per single-user rotation</text>\n\
         <rect x=\"10\" y=\"34\" width=\"12\" height=\"12\" fill=\"#2b7bb9\"/><text x=\"28\" y=\"45\">db-secret-rotator (measured)</text>\n\
         <rect x=\"250\" y=\"34\" width=\"12\" height=\"12\" fill=\"#c0c0c0\"/><text x=\"268\" y=\"45\">Python reference (figures from the issue)</text>\n",
        r["config"].as_str().unwrap_or("")
    );
    for (i, (label, ours, reference, unit)) in rows.iter().enumerate() {
        let y = 60.0 + row_h * i as f64;
        let max = if reference.is_nan() {
            *ours
        } else {
            ours.max(*reference)
        }
        .max(1e-9);
        out.push_str(&format!(
            "<text x=\"10\" y=\"{}\">{label}</text>\n",
            y + 17.0
        ));
        let ow = bar_w * ours / max;
        out.push_str(&format!(
            "<rect x=\"{label_w}\" y=\"{y}\" width=\"{ow:.1}\" height=\"14\" fill=\"#2b7bb9\"/>\n"
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\">{ours:.1} {unit}</text>\n",
            label_w + ow + 6.0,
            y + 12.0
        ));
        if !reference.is_nan() {
            let rw = bar_w * reference / max;
            out.push_str(&format!("<rect x=\"{label_w}\" y=\"{}\" width=\"{rw:.1}\" height=\"14\" fill=\"#c0c0c0\"/>\n", y + 17.0));
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\">{reference:.0} {unit}</text>\n",
                label_w + rw + 6.0,
                y + 29.0
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}
