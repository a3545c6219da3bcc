//! The findings: what is worth a look but fails nothing. One stable code per finding and the
//! sentence saying when it is reported, in the one table below, beside the cause table. The
//! code is the `code` of a `finding` log event and of a `diagnose` warning; a new finding is
//! added here, never renamed.

use std::fmt;

macro_rules! findings {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $when:literal; )*) => {
        /// A documented finding (a `finding` event or a `diagnose` warning), not a failure.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Finding {
            $( $(#[$doc])* $variant, )*
        }

        impl Finding {
            /// Every finding, in the order of the table below.
            pub const ALL: &'static [Finding] = &[$(Finding::$variant),*];

            /// The stable snake_case code.
            pub fn code(self) -> &'static str {
                match self { $(Finding::$variant => $code,)* }
            }

            /// When it is reported, in one sentence.
            pub fn when(self) -> &'static str {
                match self { $(Finding::$variant => $when,)* }
            }

            /// Looks a finding up by its code.
            pub fn from_code(code: &str) -> Option<Finding> {
                match code { $($code => Some(Finding::$variant),)* _ => None }
            }
        }
    };
}

findings! {
    /// A connection fell back to plaintext.
    TlsDowngraded => "tls_downgraded",
        "The secret has no ssl key, TLS failed, and the connection fell back to plaintext (the reference behaviour, now visible).";
    /// AWSPENDING is on another version.
    StalePendingLabel => "stale_pending_label",
        "AWSPENDING sits on a version other than the one being rotated (or, for diagnose, other than AWSCURRENT).";
    /// setSecret logged in with the old password.
    PreviousCredentialsUsed => "previous_credentials_used",
        "setSecret could only log in with AWSPREVIOUS: the database password had drifted back.";
    /// A local emulator's deadline header.
    DeadlineHeaderIsADuration => "deadline_header_is_a_duration",
        "Lambda-Runtime-Deadline-Ms is earlier than the start of the process: a duration (a local emulator's), taken as a timeout.";
    /// Another function rotates the secret.
    RotationOnOtherFunction => "rotation_on_other_function",
        "diagnose runs for one function while the secret's rotation points at another one.";
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Cause;

    #[test]
    fn codes_are_unique_snake_case_round_trip_and_no_cause_code() {
        let mut seen = std::collections::HashSet::new();
        for finding in Finding::ALL {
            let code = finding.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert_eq!(Finding::from_code(code), Some(*finding));
            assert_eq!(Cause::from_code(code), None, "{code} is also a cause");
            assert!(finding.when().len() > 20, "{code} needs a real sentence");
        }
    }
}
