//! When AWS deprecates each Lambda runtime a rotation function may still use, and when Lambda
//! stops creating and then updating functions on it: the one table `audit` and the
//! `legacy_bundle` check read.
//!
//! Source: the AWS Lambda Developer Guide, "Lambda runtimes", tables "Supported runtimes" and
//! "Deprecated runtimes" (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>),
//! cross-checked against cfn-lint's copy of that page
//! (`src/cfnlint/data/AdditionalSpecs/LmbdRuntimeLifecycle.json`, changed 2026-06-02), as read
//! in December 2026. AWS moves these dates (python3.7's update block went 2025-02-28 →
//! 2025-11-01 → 2026-03-09 → 2027-03-03): check the page and update the table (one line per
//! runtime) when it does. A runtime missing from the table is not flagged; block dates the
//! source no longer lists (runtimes retired long ago) are left out.

/// Table as of this date (`YYYY-MM-DD`), printed with the dates it gives.
pub const AS_OF: &str = "2026-12-01";

/// One runtime's lifecycle (ISO 8601 dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// The runtime identifier, as GetFunctionConfiguration gives it.
    pub runtime: &'static str,
    /// The deprecation date, `YYYY-MM-DD` (Lambda stops security patches).
    pub deprecated_on: &'static str,
    /// From this date no new function can be created on the runtime.
    pub block_create: Option<&'static str>,
    /// From this date an existing function on the runtime can no longer be updated.
    pub block_update: Option<&'static str>,
}

/// The table. Rotation functions from the Serverless Application Repository run on Python.
pub const DEPRECATIONS: &[Deprecation] = &[
    d("python2.7", "2021-07-15"),
    d("python3.6", "2022-07-18"),
    b("python3.7", "2023-12-04", "2024-01-09", "2027-03-03"),
    b("python3.8", "2024-10-14", "2027-02-01", "2027-03-03"),
    b("python3.9", "2025-12-15", "2027-02-01", "2027-03-03"),
    b("python3.10", "2026-10-31", "2027-02-01", "2027-03-03"),
    b("python3.11", "2027-06-30", "2027-07-31", "2027-08-31"),
    b("python3.12", "2028-10-31", "2028-11-30", "2029-01-10"),
    b("python3.13", "2029-06-30", "2029-07-31", "2029-08-31"),
    b("python3.14", "2029-06-30", "2029-07-31", "2029-08-31"),
    d("nodejs10.x", "2021-07-30"),
    d("nodejs12.x", "2023-03-31"),
    d("nodejs14.x", "2023-12-04"),
    b("nodejs16.x", "2024-06-12", "2027-02-01", "2027-03-03"),
    b("nodejs18.x", "2025-09-01", "2027-02-01", "2027-03-03"),
    b("nodejs20.x", "2026-04-30", "2027-02-01", "2027-03-03"),
    b("nodejs22.x", "2027-04-30", "2027-06-01", "2027-07-01"),
    b("java8", "2024-01-08", "2024-02-08", "2027-03-03"),
    b("java11", "2027-06-30", "2027-07-31", "2027-08-31"),
    b("go1.x", "2024-01-08", "2024-02-08", "2027-03-03"),
    b("provided", "2024-01-08", "2024-02-08", "2027-03-03"),
    d("ruby2.7", "2023-12-07"),
    b("ruby3.2", "2026-03-31", "2027-02-01", "2027-03-03"),
    b("ruby3.3", "2027-03-31", "2027-04-30", "2027-05-31"),
    d("dotnetcore3.1", "2023-04-03"),
    d("dotnet6", "2024-12-20"),
    d("dotnet7", "2024-05-14"),
];

/// A runtime whose block dates the source no longer lists.
const fn d(runtime: &'static str, deprecated_on: &'static str) -> Deprecation {
    Deprecation {
        runtime,
        deprecated_on,
        block_create: None,
        block_update: None,
    }
}

/// A runtime with its deprecation and block dates.
const fn b(
    runtime: &'static str,
    deprecated_on: &'static str,
    block_create: &'static str,
    block_update: &'static str,
) -> Deprecation {
    Deprecation {
        runtime,
        deprecated_on,
        block_create: Some(block_create),
        block_update: Some(block_update),
    }
}

impl Deprecation {
    /// Whether the deprecation is in effect on `date` (`YYYY-MM-DD`; ISO dates compare as
    /// text).
    pub fn in_effect_on(&self, date: &str) -> bool {
        self.deprecated_on <= date
    }
}

/// The deprecation of a runtime, if the table has one.
pub fn deprecation(runtime: &str) -> Option<&'static Deprecation> {
    DEPRECATIONS.iter().find(|d| d.runtime == runtime)
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // `YYYY-MM-DDTHH:MM:SSZ`: the date is what comes before the `T`.
    now.split_once('T')
        .map_or(now.clone(), |(day, _)| day.to_string())
}

/// Whether `runtime` is deprecated on `date` (`YYYY-MM-DD`; ISO dates compare as text).
pub fn is_deprecated_on(runtime: &str, date: &str) -> bool {
    deprecation(runtime).is_some_and(|d| d.in_effect_on(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_and_compare_as_dates() {
        for d in DEPRECATIONS {
            assert_eq!(d.deprecated_on.len(), 10, "{d:?}");
            assert_eq!(&d.deprecated_on[4..5], "-", "{d:?}");
        }
        assert!(is_deprecated_on("python3.7", "2024-01-01"));
        assert!(!is_deprecated_on("python3.9", "2025-12-14"));
        assert!(is_deprecated_on("python3.9", "2025-12-15"));
        assert!(!is_deprecated_on("provided.al2023", "2030-01-01"));
        for d in DEPRECATIONS {
            for date in [d.block_create, d.block_update].into_iter().flatten() {
                assert_eq!(date.len(), 10, "{d:?}");
                assert!(date >= d.deprecated_on, "{d:?}");
            }
        }
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10, "{t}");
        assert_eq!(t.matches('-').count(), 2, "{t}");
    }
}
