//! When AWS deprecates each Lambda runtime a rotation function may still use: the one table
//! `audit` flags runtimes from.
//!
//! Source: the AWS Lambda Developer Guide, "Lambda runtimes", tables "Supported runtimes" and
//! "Deprecated runtimes" (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>),
//! as published in November 2025. AWS moves dates now and then: check the page and update the
//! table (one line per runtime) when it does. A runtime missing from the table is not flagged.

/// One runtime's deprecation date (ISO 8601, the date Lambda stops security patches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// The runtime identifier, as GetFunctionConfiguration gives it.
    pub runtime: &'static str,
    /// The deprecation date, `YYYY-MM-DD`.
    pub deprecated_on: &'static str,
}

/// The table. Rotation functions from the Serverless Application Repository run on Python.
pub const DEPRECATIONS: &[Deprecation] = &[
    d("python2.7", "2021-07-15"),
    d("python3.6", "2022-07-18"),
    d("python3.7", "2023-12-04"),
    d("python3.8", "2024-10-14"),
    d("python3.9", "2025-12-15"),
    d("python3.10", "2026-06-30"),
    d("nodejs10.x", "2021-07-30"),
    d("nodejs12.x", "2023-03-31"),
    d("nodejs14.x", "2023-12-04"),
    d("nodejs16.x", "2024-06-12"),
    d("nodejs18.x", "2025-09-01"),
    d("nodejs20.x", "2026-04-30"),
    d("java8", "2024-01-08"),
    d("go1.x", "2024-01-08"),
    d("provided", "2024-01-08"),
    d("ruby2.7", "2023-12-07"),
    d("ruby3.2", "2026-03-31"),
    d("dotnetcore3.1", "2023-04-03"),
    d("dotnet6", "2024-12-20"),
    d("dotnet7", "2024-05-14"),
];

const fn d(runtime: &'static str, deprecated_on: &'static str) -> Deprecation {
    Deprecation {
        runtime,
        deprecated_on,
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
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10, "{t}");
        assert_eq!(t.matches('-').count(), 2, "{t}");
    }
}
