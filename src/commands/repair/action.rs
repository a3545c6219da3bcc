//! The one safe action a `repair` state may take, and the AWS CLI commands that do and undo
//! it (printed in the report, so an operator can reverse what repair did).

use crate::secret::Stage;
use crate::store::StageMove;

/// The one safe action of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// UpdateSecretVersionStage: AWSPENDING off `pending`.
    RemovePendingLabel {
        /// The version holding the stale label.
        pending: String,
    },
    /// finishSecret for `pending`: AWSCURRENT moves to it from `current`.
    PromotePending {
        /// The AWSPENDING version.
        pending: String,
        /// The AWSCURRENT version it replaces.
        current: String,
    },
}

impl Action {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::RemovePendingLabel { .. } => "remove_pending_label",
            Action::PromotePending { .. } => "promote_pending",
        }
    }

    /// The AWS CLI command that does the same.
    pub fn command(&self, arn: &str) -> String {
        match self {
            Action::RemovePendingLabel { pending } => {
                StageMove::new(Stage::Pending, None, Some(pending)).cli_command(arn)
            }
            Action::PromotePending { pending, current } => {
                StageMove::new(Stage::Current, Some(pending), Some(current)).cli_command(arn)
            }
        }
    }

    /// The one AWS CLI command that undoes it.
    pub fn undo(&self, arn: &str) -> String {
        match self {
            Action::RemovePendingLabel { pending } => {
                StageMove::new(Stage::Pending, Some(pending), None).cli_command(arn)
            }
            Action::PromotePending { pending, current } => {
                StageMove::new(Stage::Current, Some(current), Some(pending)).cli_command(arn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_commands_reverse_the_action() {
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:a/b-Xy";
        let remove = Action::RemovePendingLabel {
            pending: "p1".into(),
        };
        assert_eq!(
            remove.command(arn),
            format!("aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --remove-from-version-id p1")
        );
        assert_eq!(
            remove.undo(arn),
            format!("aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --move-to-version-id p1")
        );
        let promote = Action::PromotePending {
            pending: "p1".into(),
            current: "c1".into(),
        };
        assert!(promote.command(arn).ends_with(
            "--version-stage AWSCURRENT --move-to-version-id p1 --remove-from-version-id c1"
        ));
        assert!(promote.undo(arn).ends_with(
            "--version-stage AWSCURRENT --move-to-version-id c1 --remove-from-version-id p1"
        ));
        let odd = "a b";
        assert!(Action::RemovePendingLabel {
            pending: "it's".into()
        }
        .command(odd)
        .contains(
            "--secret-id 'a b' --version-stage AWSPENDING --remove-from-version-id 'it'\\''s'"
        ));
    }
}
