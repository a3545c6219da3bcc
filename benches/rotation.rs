//! The benchmark: runs the function (by default the release `bootstrap` that
//! `scripts/package` builds) through a local Lambda Runtime API against the local services,
//! and prints init time, step and rotation latency (median, p90), CPU time per rotation,
//! instructions per warm rotation (callgrind), billed duration at 128 MB, peak memory, AWS
//! calls and database connections per rotation, and the package size. It writes the figures
//! to target/bench/results.json, a Markdown table to target/bench/table.md and a chart to
//! docs/bench.svg.
//!
//! Instructions are counted in a second process of the same binary under
//! `valgrind --tool=callgrind --instr-atstart=no`: its first (cold) rotation runs
//! uninstrumented, then `callgrind_control -i on` switches counting on and
//! `callgrind_control -d` dumps (and zeroes) the counters after each warm rotation, so each
//! dump is exactly one warm rotation: every thread, every crate, nothing of the harness.
//! Instruction counts repeat to a fraction of a percent on a busy machine; milliseconds do not.
//!
//! `scripts/bench [--rotations N] [--callgrind-rotations N] [--only CONFIG]` builds what it
//! needs and runs it. Figures, not assertions.

// The test harness, shared: a benchmark uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
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
    /// Warm rotations counted under callgrind (0: no instruction counts).
    callgrind_rotations: usize,
    /// Only the configurations whose name contains this.
    only: Option<String>,
    /// Where the figures go (target/bench/results.json).
    results: Option<String>,
    /// Where the callgrind dumps go (target/bench/callgrind/).
    callgrind_dir: Option<String>,
    chart: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: env!("CARGO_BIN_EXE_db-secret-rotator").to_string(),
        runner: None,
        zip: None,
        rotations: 20,
        callgrind_rotations: 3,
        only: None,
        results: None,
        callgrind_dir: None,
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
            "--callgrind-rotations" => {
                a.callgrind_rotations = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--callgrind-rotations N")
            }
            "--only" => a.only = it.next(),
            "--results" => a.results = it.next(),
            "--callgrind-dir" => a.callgrind_dir = it.next(),
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
    let server = match engine {
        "postgres" => {
            let (name, pw) = pg_master(true).await;
            return create_secret(&pg_secret(&name, &pw)).await;
        }
        "mysql" => common::mysql::Server::MySql,
        _ => common::mysql::Server::MariaDb,
    };
    let mut m = common::mysql::admin_secret(server);
    m["ssl"] = json!(true);
    create_secret(&m).await
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

/// The configurations measured, in table order. A new engine or strategy is one more entry
/// here and one more arm in `make_secret`.
fn configs() -> Vec<Config> {
    let alternating = vec![("ROTATION_STRATEGY", "alternating_users")];
    vec![
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
    ]
}

/// Lambda gives a function one vCPU at 1,769 MB and CPU in proportion below that.
const FULL_VCPU_MB: f64 = 1769.0;
/// The memory size the "billed duration" column is computed for.
const BILLED_AT_MB: f64 = 128.0;

/// Billed duration of one invocation at `mb`: waits (network, database, the services) take
/// as long as here, CPU time stretches by 1769/mb; Lambda bills whole milliseconds.
fn billed_ms(wall: Duration, cpu: Duration, mb: f64) -> f64 {
    let wait = wall.saturating_sub(cpu);
    let cpu_there = ms(cpu) * (FULL_VCPU_MB / mb).max(1.0);
    (ms(wait) + cpu_there).ceil()
}

/// Billed duration of a rotation (its four invocations) at `mb`.
fn rotation_billed_ms(r: &RotationStats, mb: f64) -> f64 {
    STEPS
        .iter()
        .map(|st| billed_ms(r.step_latency[st], r.step_cpu[st], mb))
        .sum()
}

/// The instruction target per warm rotation (issue 16), in millions.
fn instructions_target_m(config: &str) -> f64 {
    if config.ends_with("/alternating_users") {
        160.0
    } else if config.starts_with("postgres/") {
        100.0
    } else {
        80.0
    }
}

fn bench_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn callgrind_control(pid: u32, args: &[&str]) {
    let out = tokio::process::Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .await
        .expect("run callgrind_control (valgrind is not installed?)");
    assert!(
        out.status.success(),
        "callgrind_control {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The instruction total of a callgrind dump (`totals:`, or `summary:` in older formats).
fn dump_total(path: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Instructions of each of `n` warm rotations, counted by callgrind in a process of its own
/// (after one uninstrumented cold rotation). The dumps stay in target/bench/callgrind/ for
/// `callgrind_annotate` (symbols need an unstripped build: docs/bench.md).
async fn instructions(a: &Args, config: &Config, arn: &str) -> Vec<u64> {
    let dir = a
        .callgrind_dir
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| bench_dir().join("callgrind"));
    std::fs::create_dir_all(&dir).unwrap();
    let tag = config.name.replace('/', "-");
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(&format!("{tag}.out"))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let out = dir.join(format!("{tag}.out"));
    let runner = format!(
        "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={}",
        out.display()
    );
    let mut env = config.env.clone();
    // Under valgrind a TLS login takes seconds, not milliseconds.
    env.push(("DB_CONNECT_TIMEOUT_MS", "60000"));
    let f = Function::start(&a.bootstrap, Some(&runner), &env).await;
    let mut rotations = vec![f.rotate(arn).await];
    callgrind_control(f.pid(), &["-i", "on"]).await;
    let mut counts = Vec::new();
    for i in 1..=a.callgrind_rotations {
        rotations.push(f.rotate(arn).await);
        // A dump zeroes the counters: each dump file is one warm rotation.
        callgrind_control(f.pid(), &["-d"]).await;
        let dump = dir.join(format!("{tag}.out.{i}"));
        counts.push(dump_total(&dump).unwrap_or_else(|| panic!("no totals in {}", dump.display())));
    }
    f.finish(&mut rotations).await;
    counts
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let started = std::time::Instant::now();
    let a = args();
    let mut results = Vec::new();
    for config in &configs() {
        if a.only.as_deref().is_some_and(|o| !config.name.contains(o)) {
            continue;
        }
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
        let instr = if a.callgrind_rotations > 0 && a.runner.is_none() {
            instructions(&a, config, &arn).await
        } else {
            Vec::new()
        };

        let mut steps = serde_json::Map::new();
        for st in STEPS {
            let v: Vec<f64> = warm.iter().map(|r| ms(r.step_latency[st])).collect();
            let c: Vec<f64> = warm.iter().map(|r| ms(r.step_cpu[st])).collect();
            steps.insert(
                st.into(),
                json!({"median_ms": percentile(v.clone(), 0.5), "p90_ms": percentile(v, 0.9),
                       "cpu_median_ms": percentile(c, 0.5)}),
            );
        }
        let total: Vec<f64> = warm.iter().map(|r| ms(r.total)).collect();
        let cpu: Vec<f64> = warm.iter().map(|r| ms(r.cpu)).collect();
        let wait: Vec<f64> = warm
            .iter()
            .map(|r| ms(r.total.saturating_sub(r.cpu)))
            .collect();
        let billed: Vec<f64> = warm
            .iter()
            .map(|r| rotation_billed_ms(r, BILLED_AT_MB))
            .collect();
        let result = json!({
            "config": config.name,
            "rotations": warm.len(),
            "init_ms": ms(init),
            "first_rotation_ms": ms(first.total),
            "first_rotation_cpu_ms": ms(first.cpu),
            "first_rotation_billed_ms_at_128mb": rotation_billed_ms(&first, BILLED_AT_MB),
            "rotation_median_ms": percentile(total.clone(), 0.5),
            "rotation_p90_ms": percentile(total, 0.9),
            "cpu_per_rotation_median_ms": percentile(cpu, 0.5),
            "wait_per_rotation_median_ms": percentile(wait, 0.5),
            "billed_ms_at_128mb_median": percentile(billed, 0.5),
            "instructions_warm_rotations": instr,
            "instructions_per_warm_rotation": (!instr.is_empty()).then(|| median_u64(instr.clone())),
            "instructions_target": instructions_target_m(config.name) * 1e6,
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
        "bench_seconds": started.elapsed().as_secs_f64(),
    });
    let results_path = a
        .results
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| bench_dir().join("results.json"));
    std::fs::write(&results_path, serde_json::to_string_pretty(&all).unwrap()).unwrap();
    println!("figures written to {}", results_path.display());
    let table = markdown_table(&all);
    std::fs::write(results_path.with_extension("md"), &table).unwrap();
    println!("\n{table}");
    if let Some(chart) = &a.chart {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(chart);
        std::fs::write(&path, svg(&all)).unwrap();
        println!("chart written to {chart}");
    }
    println!("benchmark took {:.0} s", started.elapsed().as_secs_f64());
}

/// The README's Performance table: one column per configuration, one row per figure.
fn markdown_table(all: &Value) -> String {
    let results = all["results"].as_array().cloned().unwrap_or_default();
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let mut out = String::from("| |");
    for r in &results {
        out.push_str(&format!(" {} |", r["config"].as_str().unwrap_or("")));
    }
    out.push_str(" target |\n|---|");
    out.push_str(&"---|".repeat(results.len() + 1));
    out.push('\n');
    let mut row = |label: &str, cell: &dyn Fn(&Value) -> String, target: &str| {
        out.push_str(&format!("| {label} |"));
        for r in &results {
            out.push_str(&format!(" {} |", cell(r)));
        }
        out.push_str(&format!(" {target} |\n"));
    };
    row(
        "instructions per warm rotation (callgrind)",
        &|r| match r["instructions_per_warm_rotation"].as_f64() {
            Some(i) => format!("{:.1} M", i / 1e6),
            None => "–".into(),
        },
        "≤ 100 M PostgreSQL, ≤ 80 M MySQL/MariaDB single; ≤ 160 M alternating",
    );
    row(
        "CPU per warm rotation (median)",
        &|r| format!("{:.1} ms", f(r, "cpu_per_rotation_median_ms")),
        "",
    );
    row(
        "waits per warm rotation (median)",
        &|r| format!("{:.0} ms", f(r, "wait_per_rotation_median_ms")),
        "",
    );
    row(
        "billed duration at 128 MB, warm (median)",
        &|r| format!("{:.0} ms", f(r, "billed_ms_at_128mb_median")),
        "",
    );
    row(
        "billed duration at 128 MB, first rotation",
        &|r| format!("{:.0} ms", f(r, "first_rotation_billed_ms_at_128mb")),
        "",
    );
    row(
        "rotation, median / p90",
        &|r| {
            format!(
                "{:.0} / {:.0} ms",
                f(r, "rotation_median_ms"),
                f(r, "rotation_p90_ms")
            )
        },
        "",
    );
    row(
        "init (process start to first poll)",
        &|r| format!("{:.1} ms", f(r, "init_ms")),
        "< 12 ms",
    );
    row(
        "peak resident memory",
        &|r| format!("{:.1} MiB", f(r, "peak_rss_mib")),
        "< 16 MiB",
    );
    row(
        "Secrets Manager calls, cold process",
        &|r| r["secretsmanager_calls_first_rotation"].to_string(),
        "≤ 10",
    );
    row(
        "database connections",
        &|r| r["db_connections_per_rotation"].to_string(),
        "≤ 2 (single user)",
    );
    out
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
        "  cpu per rotation (median)      {:>8.1} ms  waits {:.1} ms",
        r["cpu_per_rotation_median_ms"].as_f64().unwrap(),
        r["wait_per_rotation_median_ms"].as_f64().unwrap()
    );
    println!(
        "  billed at 128 MB (median)      {:>8.0} ms  first rotation {:.0} ms",
        r["billed_ms_at_128mb_median"].as_f64().unwrap(),
        r["first_rotation_billed_ms_at_128mb"].as_f64().unwrap()
    );
    if let Some(all) = r["instructions_warm_rotations"]
        .as_array()
        .filter(|v| !v.is_empty())
    {
        let m: Vec<String> = all
            .iter()
            .map(|i| format!("{:.2}", i.as_f64().unwrap_or(0.0) / 1e6))
            .collect();
        println!(
            "  instructions per warm rotation {:>8.1} M  (target {:.0} M; each: {} M)",
            r["instructions_per_warm_rotation"].as_f64().unwrap_or(0.0) / 1e6,
            r["instructions_target"].as_f64().unwrap_or(0.0) / 1e6,
            m.join(", ")
        );
    }
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
            "instructions per rotation (M)",
            r["instructions_per_warm_rotation"]
                .as_f64()
                .unwrap_or(f64::NAN)
                / 1e6,
            1118.0,
            "M",
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
    .filter(|row| !row.1.is_nan())
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
