//! The decision table of `repair`: from what was observed to one named state and its one
//! safe action. Pure, so every row is unit-tested without a server.

use super::action::Action;
use super::observe::{Login, Observation};
use crate::config::Strategy;
use crate::failure::Cause;
use std::time::Duration;

/// The named states (the `state` field of the report and of the `repair` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// AWSCURRENT logs in and no other version holds AWSPENDING: nothing to do.
    Healthy,
    /// AWSPENDING sits on a version the database does not use, AWSCURRENT logs in, and no
    /// rotation can still be running: remove the label.
    StalePendingLabel,
    /// Single user: setSecret changed the password, finishSecret never ran; only AWSPENDING
    /// logs in: promote it, as finishSecret does.
    SetNotFinished,
    /// Alternating users: AWSPENDING's user already logs in and no rotation can still be
    /// running: promote it, as finishSecret does.
    PendingUserReady,
    /// The database accepts only AWSPREVIOUS, or none of the stored passwords: no label
    /// change helps.
    Drifted,
    /// AWSPENDING is younger than a rotation may take: leave it to the rotation.
    RotationInProgress,
    /// Anything else (the database or Secrets Manager could not be asked, the labels are
    /// not sane, two versions log in as one user): named, no action.
    Undetermined,
}

impl State {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::StalePendingLabel => "stale_pending_label",
            State::SetNotFinished => "set_not_finished",
            State::PendingUserReady => "pending_user_ready",
            State::Drifted => "drifted",
            State::RotationInProgress => "rotation_in_progress",
            State::Undetermined => "undetermined",
        }
    }
}

/// A state with its explanation and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The state.
    pub state: State,
    /// One sentence for the operator.
    pub summary: String,
    /// The safe action, if the state has one.
    pub action: Option<Action>,
    /// Why no label change helps (drifted, undetermined): the cause of the table.
    pub cause: Option<Cause>,
    /// What to do by hand when there is no action (empty otherwise).
    pub remedy: String,
}

fn verdict(state: State, summary: String, action: Option<Action>) -> Verdict {
    Verdict {
        state,
        summary,
        action,
        cause: None,
        remedy: String::new(),
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// Classifies an observation.
pub fn classify(o: &Observation) -> Verdict {
    if let Some(f) = &o.failure {
        return Verdict {
            state: State::Undetermined,
            summary: format!(
                "cannot judge the secret: {} ({})",
                f.message,
                f.cause.code()
            ),
            action: None,
            cause: Some(f.cause),
            remedy: f.remedy.clone(),
        };
    }
    let current = o.current_version.clone().unwrap_or_default();
    let pending = o.pending_version.clone();
    let alternating = o.strategy == Some(Strategy::AlternatingUsers);
    let running = o.rotation_may_be_running();
    let age = match o.pending_age {
        Some(a) => format!("{} s old", secs(a)),
        None => "of unknown age".to_string(),
    };
    let window = secs(o.window);
    let in_progress = |what: &str| {
        verdict(
            State::RotationInProgress,
            format!(
                "{what}; AWSPENDING ({}) is {age}, and a rotation may take up to {window} s (four steps of the function timeout): leave it to the rotation, or run repair again once it is older",
                pending.as_deref().unwrap_or("")
            ),
            None,
        )
    };

    match (o.current, pending.as_deref()) {
        (Login::Ok, None) => verdict(
            State::Healthy,
            "AWSCURRENT logs in and no rotation is pending".to_string(),
            None,
        ),
        (Login::Ok, Some(p)) => match o.pending {
            Login::Ok if !alternating => Verdict {
                cause: None,
                remedy: "Both AWSCURRENT and AWSPENDING log in as the same user (the same password?): compare the two values by hand before changing any label.".to_string(),
                ..verdict(
                    State::Undetermined,
                    "AWSCURRENT and AWSPENDING both log in as the one user".to_string(),
                    None,
                )
            },
            _ if running => in_progress("AWSCURRENT logs in"),
            Login::Ok => verdict(
                State::PendingUserReady,
                format!(
                    "AWSCURRENT logs in, and so does AWSPENDING's user ({p}): setSecret finished, finishSecret did not; promote AWSPENDING as finishSecret does"
                ),
                Some(Action::PromotePending {
                    pending: p.to_string(),
                    current: current.clone(),
                }),
            ),
            _ => verdict(
                State::StalePendingLabel,
                format!(
                    "the database is on AWSCURRENT; AWSPENDING ({p}, {age}) {} and no rotation is running: remove the label",
                    o.pending.describe()
                ),
                Some(Action::RemovePendingLabel {
                    pending: p.to_string(),
                }),
            ),
        },
        (Login::Refused, Some(p)) if o.pending == Login::Ok => {
            if alternating {
                if running {
                    in_progress("AWSCURRENT is refused and AWSPENDING's user logs in")
                } else {
                    verdict(
                        State::PendingUserReady,
                        format!(
                            "AWSCURRENT is refused; AWSPENDING's user ({p}) logs in: promote AWSPENDING as finishSecret does"
                        ),
                        Some(Action::PromotePending {
                            pending: p.to_string(),
                            current: current.clone(),
                        }),
                    )
                }
            } else {
                // The password already changed: applications reading AWSCURRENT fail now,
                // and promoting is exactly what the rotation's own finishSecret would do.
                verdict(
                    State::SetNotFinished,
                    format!(
                        "the database accepts only AWSPENDING ({p}): setSecret changed the password and finishSecret never ran; promote AWSPENDING as finishSecret does"
                    ),
                    Some(Action::PromotePending {
                        pending: p.to_string(),
                        current: current.clone(),
                    }),
                )
            }
        }
        (Login::Refused, _) => {
            let only_previous = o.previous == Login::Ok;
            let mut remedy = Cause::DbLoginFailed.remedy().to_string();
            if only_previous && !alternating {
                remedy.push_str(&format!(
                    " Or start a rotation (aws secretsmanager rotate-secret --secret-id {}): single-user setSecret logs in with AWSPREVIOUS and sets a new password.",
                    crate::text::shell_quote(&o.arn)
                ));
            }
            Verdict {
                state: State::Drifted,
                summary: if only_previous {
                    "the database accepts only AWSPREVIOUS (restored from a snapshot, or reset by hand): no label change is safe".to_string()
                } else {
                    "the database accepts none of the stored passwords (changed outside rotation, or the user is gone): no label change is safe".to_string()
                },
                action: None,
                cause: Some(Cause::DbLoginFailed),
                remedy,
            }
        }
        (other, _) => Verdict {
            state: State::Undetermined,
            summary: format!("AWSCURRENT {}", other.describe()),
            action: None,
            cause: None,
            remedy: "Run diagnose to see why the AWSCURRENT secret cannot be tried.".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;

    fn obs(
        strategy: Strategy,
        current: Login,
        pending: Option<Login>,
        previous: Login,
    ) -> Observation {
        let mut o = Observation::new(
            "arn:aws:secretsmanager:us-east-1:1:secret:s",
            strategy,
            Duration::from_secs(3600),
        );
        o.current_version = Some("c".into());
        o.pending_version = pending.map(|_| "p".into());
        o.current = current;
        o.pending = pending.unwrap_or(Login::Absent);
        o.previous = previous;
        o.pending_age = Some(Duration::from_secs(7200));
        o
    }

    const SINGLE: Strategy = Strategy::SingleUser;
    const ALT: Strategy = Strategy::AlternatingUsers;

    #[test]
    fn each_row_of_the_table() {
        use Login::*;
        let cases = [
            (SINGLE, Ok, None, Absent, State::Healthy, None),
            (
                SINGLE,
                Ok,
                Some(Refused),
                Absent,
                State::StalePendingLabel,
                Some("remove_pending_label"),
            ),
            (
                SINGLE,
                Ok,
                Some(NoValue),
                Absent,
                State::StalePendingLabel,
                Some("remove_pending_label"),
            ),
            (
                SINGLE,
                Ok,
                Some(Unusable),
                Absent,
                State::StalePendingLabel,
                Some("remove_pending_label"),
            ),
            (SINGLE, Ok, Some(Ok), Absent, State::Undetermined, None),
            (
                SINGLE,
                Refused,
                Some(Ok),
                Absent,
                State::SetNotFinished,
                Some("promote_pending"),
            ),
            (SINGLE, Refused, Some(Refused), Ok, State::Drifted, None),
            (SINGLE, Refused, None, Ok, State::Drifted, None),
            (SINGLE, Refused, None, Refused, State::Drifted, None),
            (SINGLE, Refused, None, Absent, State::Drifted, None),
            (ALT, Ok, None, Ok, State::Healthy, None),
            (
                ALT,
                Ok,
                Some(Ok),
                Ok,
                State::PendingUserReady,
                Some("promote_pending"),
            ),
            (
                ALT,
                Refused,
                Some(Ok),
                Absent,
                State::PendingUserReady,
                Some("promote_pending"),
            ),
            (
                ALT,
                Ok,
                Some(Refused),
                Ok,
                State::StalePendingLabel,
                Some("remove_pending_label"),
            ),
            (ALT, Refused, Some(Refused), Ok, State::Drifted, None),
        ];
        for (strategy, current, pending, previous, state, action) in cases {
            let v = classify(&obs(strategy, current, pending, previous));
            assert_eq!(
                v.state, state,
                "{strategy:?} {current:?} {pending:?} {previous:?}: {v:?}"
            );
            assert_eq!(v.action.as_ref().map(Action::as_str), action, "{v:?}");
            if state == State::Drifted {
                assert_eq!(v.cause, Some(Cause::DbLoginFailed));
                assert!(v.remedy.starts_with(Cause::DbLoginFailed.remedy()));
            }
        }
    }

    #[test]
    fn a_young_pending_version_is_left_to_the_rotation() {
        use Login::*;
        for (strategy, current, pending) in [
            (SINGLE, Ok, Refused),
            (SINGLE, Ok, NoValue),
            (ALT, Ok, Ok),
            (ALT, Refused, Ok),
        ] {
            let mut o = obs(strategy, current, Some(pending), Absent);
            o.pending_age = Some(Duration::from_secs(60));
            assert_eq!(classify(&o).state, State::RotationInProgress, "{o:?}");
            // An unknown age counts as young.
            o.pending_age = None;
            assert_eq!(classify(&o).state, State::RotationInProgress, "{o:?}");
            // A window of zero: the operator knows nothing runs.
            o.window = Duration::ZERO;
            assert_ne!(classify(&o).state, State::RotationInProgress, "{o:?}");
        }
        // Single user, only AWSPENDING logs in: the password already changed, so promoting is
        // what the running rotation's finishSecret does anyway.
        let mut o = obs(SINGLE, Refused, Some(Ok), Absent);
        o.pending_age = Some(Duration::from_secs(1));
        assert_eq!(classify(&o).state, State::SetNotFinished);
    }

    #[test]
    fn a_failed_observation_is_undetermined_with_its_cause() {
        let mut o = obs(SINGLE, Login::Ok, None, Login::Absent);
        o.failure = Some(Failure::new(Cause::DbUnreachable, "cannot reach db:5432"));
        let v = classify(&o);
        assert_eq!(v.state, State::Undetermined);
        assert_eq!(v.cause, Some(Cause::DbUnreachable));
        assert!(v.action.is_none());
        assert_eq!(v.remedy, Cause::DbUnreachable.remedy());
    }
}
