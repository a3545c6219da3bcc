//! SHOW GRANTS lines: the tokenizer and line reader, then the grant sync planner over what
//! was read (both flavors), which must never panic whatever the server printed, and must
//! plan nothing for an account that already holds the same grants.
#![no_main]

use db_secret_rotator::db::mysql::grants::parse::{parse_all, parse_line};
use db_secret_rotator::db::mysql::grants::plan::plan_sync;
use db_secret_rotator::db::mysql::version::Flavor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let single: Vec<_> = lines.iter().map(|l| parse_line(l)).collect();
    match parse_all(&lines) {
        Ok(parsed) => {
            // parse_all reads each line as parse_line does.
            assert!(single.iter().all(Result::is_ok));
            let half = &parsed[..parsed.len() / 2];
            for flavor in [Flavor::MySql, Flavor::MariaDb] {
                // An account already holding exactly the source's grants needs no statement.
                let same = plan_sync(&parsed, &parsed, "`u`@`%`", flavor);
                assert!(same.is_empty(), "{parsed:?} -> {same:?}");
                let _ = plan_sync(&parsed, half, "`u`@`%`", flavor);
                let _ = plan_sync(half, &parsed, "`u`@`%`", flavor);
            }
        }
        Err((i, _)) => assert!(single[i].is_err()),
    }
});
