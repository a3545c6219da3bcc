//! The causes read from the messages of AWS's Python reference rotation functions
//! (aws-samples/aws-secrets-manager-rotation-lambdas), one row per symptom the
//! troubleshooting guide names. Their messages are free text, and text is all they leave:
//! this table is the one place that matches it.

use crate::failure::Cause;

/// When a row applies, beyond its phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The phrase is in a line of a failed invocation.
    Failed,
    /// The invocation timed out and its last line before the timeout holds the phrase.
    TimedOutAfter,
    /// The invocation timed out after any other last line.
    TimedOut,
    /// A failure no other row recognises.
    Otherwise,
}

/// A condition on the invocation's duration (REPORT's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Took {
    /// Any duration.
    Any,
    /// [`SLOW_MS`] or more.
    Slow,
    /// Less than [`SLOW_MS`], or unknown.
    Fast,
}

impl Took {
    fn admits(self, duration_ms: Option<u64>) -> bool {
        let slow = duration_ms.is_some_and(|d| d >= SLOW_MS);
        match self {
            Took::Any => true,
            Took::Slow => slow,
            Took::Fast => !slow,
        }
    }
}

/// One row: what the old function logged, and the cause it names.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Phrases, each with the cause it names (the fallbacks' empty phrase matches any line).
    pub phrases: &'static [(&'static str, Cause)],
    /// When the row applies.
    pub when: When,
    /// How long the invocation took: the guide reads a long wait before "Unable to log into
    /// database" as the network, a short one as the credentials.
    pub took: Took,
    /// Rank among rows that match lines of one invocation: the most specific line decides
    /// (the reference writes its TLS line and then the generic "Unable to log into database").
    pub rank: u8,
}

/// At or above this duration a login failure is the network's (the reference's connect
/// timeout is 5 seconds).
pub const SLOW_MS: u64 = 5_000;

/// The table, in the guide's order.
pub const TABLE: &[Row] = &[
    Row {
        phrases: &[(
            "Found credentials in environment variables.",
            Cause::SecretsManagerUnreachable,
        )],
        when: When::TimedOutAfter,
        took: Took::Any,
        rank: 3,
    },
    Row {
        phrases: &[
            (
                "setSecret: Unable to log into database",
                Cause::DbUnreachable,
            ),
            (
                "testSecret: Unable to log into database",
                Cause::DbUnreachable,
            ),
            (
                "ValueError: Unable to log into database",
                Cause::DbUnreachable,
            ),
        ],
        when: When::Failed,
        took: Took::Slow,
        rank: 1,
    },
    Row {
        phrases: &[
            (
                "setSecret: Unable to log into database",
                Cause::DbLoginFailed,
            ),
            (
                "testSecret: Unable to log into database",
                Cause::DbLoginFailed,
            ),
            (
                "ValueError: Unable to log into database",
                Cause::DbLoginFailed,
            ),
        ],
        when: When::Failed,
        took: Took::Fast,
        rank: 1,
    },
    Row {
        phrases: &[("Access to KMS is not allowed", Cause::KmsAccessDenied)],
        when: When::Failed,
        took: Took::Any,
        rank: 2,
    },
    Row {
        phrases: &[(
            "key is missing from secret JSON",
            Cause::SecretJsonMissingKey,
        )],
        when: When::Failed,
        took: Took::Any,
        rank: 2,
    },
    Row {
        phrases: &[
            (
                "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host",
                Cause::DbTlsRequired,
            ),
            (
                "Unable to establish SSL/TLS handshake, SSL/TLS is not enabled on the host",
                Cause::DbTlsUnavailable,
            ),
            // The reference spells it "estlablishing"; the prefix is enough.
            (
                "Hostname verification failed",
                Cause::DbTlsVerificationFailed,
            ),
        ],
        when: When::Failed,
        took: Took::Any,
        rank: 3,
    },
    Row {
        phrases: &[
            ("not set as AWSPENDING", Cause::VersionNotPending),
            ("has no stage for rotation", Cause::VersionNotStaged),
            ("is not enabled for rotation", Cause::RotationNotEnabled),
        ],
        when: When::Failed,
        took: Took::Any,
        rank: 2,
    },
    Row {
        phrases: &[
            ("Runtime.ImportModuleError", Cause::FunctionImportError),
            ("Unable to import module", Cause::FunctionImportError),
        ],
        when: When::Failed,
        took: Took::Any,
        rank: 2,
    },
    // The empty phrase: any line.
    Row {
        phrases: &[("", Cause::FunctionTimedOut)],
        when: When::TimedOut,
        took: Took::Any,
        rank: 0,
    },
    Row {
        phrases: &[("", Cause::UnrecognisedFailure)],
        when: When::Otherwise,
        took: Took::Any,
        rank: 0,
    },
];

/// What the table says about one invocation: the cause and the index of the line it was
/// read from, and whether that line is the last before a timeout (`last_line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The cause.
    pub cause: Cause,
    /// The line (index into the lines given) it was read from, if any.
    pub line: Option<usize>,
    /// The line is the last one before the timeout.
    pub last_line: bool,
}

/// Names the cause of a failed or timed-out invocation from its lines (the function's own,
/// in order), whether it timed out, its duration, and which lines were logged as errors.
pub fn read(lines: &[(&str, bool)], timed_out: bool, duration_ms: Option<u64>) -> Reading {
    let last = lines.iter().rposition(|(text, _)| !text.trim().is_empty());
    if timed_out {
        for row in TABLE.iter().filter(|r| r.when == When::TimedOutAfter) {
            if let Some(i) = last {
                if let Some((_, cause)) = row.phrases.iter().find(|(p, _)| lines[i].0.contains(p)) {
                    return Reading {
                        cause: *cause,
                        line: Some(i),
                        last_line: true,
                    };
                }
            }
        }
        let fallback = fallback(When::TimedOut);
        return Reading {
            cause: fallback,
            line: last,
            last_line: true,
        };
    }
    let mut best: Option<(u8, usize, Cause)> = None;
    for (i, (text, _)) in lines.iter().enumerate() {
        let rows = TABLE
            .iter()
            .filter(|r| r.when == When::Failed && r.took.admits(duration_ms));
        for row in rows {
            if let Some((_, cause)) = row.phrases.iter().find(|(p, _)| text.contains(p)) {
                // Later lines win ties: they are nearer the failure.
                if best.is_none_or(|(rank, _, _)| row.rank >= rank) {
                    best = Some((row.rank, i, *cause));
                }
            }
        }
    }
    if let Some((_, i, cause)) = best {
        return Reading {
            cause,
            line: Some(i),
            last_line: false,
        };
    }
    // Unrecognised: the last error line says most, else the last line.
    let line = lines.iter().rposition(|(_, error)| *error).or(last);
    Reading {
        cause: fallback(When::Otherwise),
        line,
        last_line: false,
    }
}

fn fallback(when: When) -> Cause {
    TABLE
        .iter()
        .find(|r| r.when == when)
        .and_then(|r| r.phrases.first())
        .map(|(_, cause)| *cause)
        .unwrap_or(Cause::UnrecognisedFailure)
}
