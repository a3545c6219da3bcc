//! The warm soak: one function process serving many rotations through a local Lambda
//! Runtime API (PostgreSQL and MariaDB secrets, some failing on purpose), sampled every
//! window for resident memory, open file descriptors and sockets, database sessions and CPU
//! per rotation, with every rotation checked. Also the log scrubber's per-line cost and heap
//! use with 1 and 1,000 registered secrets, measured in this process.
//!
//! `scripts/soak [--rotations N] [--bootstrap PATH]` runs it. Figures, not assertions.

// The test harness, shared: a benchmark uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

/// Counts live heap bytes, so the scrubber's memory is measured exactly.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A log line as the function writes them: a JSON object of a few hundred bytes.
const LINE: &str = r#"{"timestamp":"2026-12-01T07:00:00.000Z","level":"INFO","event":"db_connected","message":"logged in to postgres at db.example.internal:5432 as app_user with the current secret","secret_id":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf","step":"setSecret","version_id":"2b1c6f0e-7d0a-4a39-9d57-1f7b3c7c2f11","engine":"postgres","tls":"verified","duration_ms":12}"#;

fn ns_per_line(lines: usize) -> f64 {
    let t = Instant::now();
    let mut n = 0usize;
    for _ in 0..lines {
        n += db_secret_rotator::telemetry::scrub(std::hint::black_box(LINE)).len();
    }
    std::hint::black_box(n);
    t.elapsed().as_nanos() as f64 / lines as f64
}

fn scrub_figures() {
    println!(
        "== scrubber (this process; per-line cost over a {}-byte line)",
        LINE.len()
    );
    let base = live();
    let mut registered = 0usize;
    for target in [1usize, 1000] {
        while registered < target {
            db_secret_rotator::telemetry::register_sensitive(&format!(
                "soak-secret-{registered:06}-{}",
                "x".repeat(20)
            ));
            registered += 1;
        }
        // The first scrub after a registration may build the matcher: not part of the cost.
        db_secret_rotator::telemetry::scrub(LINE);
        let ns = ns_per_line(20_000);
        println!(
            "  {target:>5} registered: {ns:>9.0} ns per line, scrubber heap {:>8} bytes",
            live() - base
        );
    }
}

/// Invocations as the Lambda face runs them: each registers a few values in its own scope.
fn scoped_figures() {
    let base = live();
    let before = db_secret_rotator::telemetry::registered_count();
    for i in 0..1000 {
        db_secret_rotator::telemetry::scoped_sync(|| {
            for k in 0..3 {
                db_secret_rotator::telemetry::register_sensitive(&format!(
                    "invocation-{i:04}-value-{k}-{}",
                    "y".repeat(20)
                ));
            }
            db_secret_rotator::telemetry::scrub(LINE);
        });
    }
    println!(
        "  after 1,000 scoped invocations of 3 values each: {} more registered, {} more heap bytes",
        db_secret_rotator::telemetry::registered_count() - before,
        live() - base
    );
}

struct Args {
    bootstrap: String,
    rotations: usize,
    window: usize,
    scrub_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: env!("CARGO_BIN_EXE_db-secret-rotator").to_string(),
        rotations: 1000,
        window: 50,
        scrub_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name| {
            it.next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name} N"))
        };
        match arg.as_str() {
            "--rotations" => a.rotations = number("--rotations"),
            "--window" => a.window = number("--window"),
            "--bootstrap" => a.bootstrap = it.next().expect("--bootstrap PATH"),
            "--scrub-only" => a.scrub_only = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    scoped_figures();
    scrub_figures();
    if a.scrub_only {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "== soak: {} rotations of the mixed schedule, one process ({})",
            a.rotations, a.bootstrap
        );
        let f = common::driver::Function::start(&a.bootstrap, None, &[]).await;
        let report = common::soak::run(&f, a.rotations, a.window).await;
        let mut none = Vec::new();
        f.finish(&mut none).await;
        common::soak::print(&report);
        let warm_up = (a.rotations / 10).max(a.window);
        let first = report.samples.iter().find(|s| s.done >= warm_up);
        let last = report.samples.last();
        println!("rotations by kind: {:?}", report.counts);
        println!(
            "resident memory slope after {warm_up} rotations: {:.1} KiB per 100 rotations",
            report.rss_slope_kib_per_100(warm_up)
        );
        if let (Some(first), Some(last)) = (first, last) {
            println!(
                "from {} to {} rotations: rss {} -> {} KiB, fds {} -> {}, sockets {} -> {}, \
                 db sessions {} -> {}, cpu/line {:.1} -> {:.1} us",
                first.done,
                last.done,
                first.rss_kib,
                last.rss_kib,
                first.fds,
                last.fds,
                first.sockets,
                last.sockets,
                first.db_sessions,
                last.db_sessions,
                first.cpu_us_per_line,
                last.cpu_us_per_line
            );
        }
    });
}
