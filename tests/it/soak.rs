//! The warm soak, short: one function process serves 50 rotations of the mixed schedule
//! (PostgreSQL and MariaDB, failures on purpose, diagnose) through a local Runtime API. Every
//! rotation is checked, and after warm-up the process keeps no file descriptor, socket or
//! database session beyond what it held then, and its resident memory grows less than a
//! bound. The long run with figures is the benchmark (`scripts/soak`).

use crate::common::driver::Function;
use crate::common::soak;

/// Resident memory may grow this much between the end of warm-up and the end of the run
/// (allocator arenas settle; a leak of the secrets seen would grow without bound).
const RSS_GROWTH_BOUND_KIB: u64 = 8 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_process_stays_flat_over_fifty_mixed_rotations() {
    let f = Function::start(env!("CARGO_BIN_EXE_db-secret-rotator"), None, &[]).await;
    let report = soak::run(&f, 50, 10).await;
    soak::print(&report);
    let mut none = Vec::new();
    f.finish(&mut none).await;

    assert_eq!(report.counts.values().sum::<usize>(), 50);
    assert_eq!(
        report.counts.len(),
        6,
        "every kind ran: {:?}",
        report.counts
    );
    let warm = &report.samples[0];
    let last = report.samples.last().unwrap();
    assert_eq!(last.done, 50);
    for s in &report.samples {
        assert_eq!(
            s.db_sessions, 0,
            "database sessions left open after {} rotations",
            s.done
        );
        assert!(
            s.fds <= warm.fds + 2 && s.sockets <= warm.sockets + 2,
            "descriptors grew after warm-up: {warm:?} then {s:?}"
        );
    }
    assert!(
        last.rss_kib <= warm.rss_kib + RSS_GROWTH_BOUND_KIB,
        "resident memory grew {} KiB after warm-up (bound {RSS_GROWTH_BOUND_KIB} KiB)",
        last.rss_kib.saturating_sub(warm.rss_kib)
    );
}
