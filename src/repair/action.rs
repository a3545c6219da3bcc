//! The one safe action a `repair` state may take, and the AWS CLI commands that do and undo
//! it (printed in the report, so an operator can reverse what repair did).

use crate::operate::shell_quote;

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
                stage_command(arn, "AWSPENDING", None, Some(pending))
            }
            Action::PromotePending { pending, current } => {
                stage_command(arn, "AWSCURRENT", Some(pending), Some(current))
            }
        }
    }

    /// The one AWS CLI command that undoes it.
    pub fn undo(&self, arn: &str) -> String {
        match self {
            Action::RemovePendingLabel { pending } => {
                stage_command(arn, "AWSPENDING", Some(pending), None)
            }
            Action::PromotePending { pending, current } => {
                stage_command(arn, "AWSCURRENT", Some(current), Some(pending))
            }
        }
    }
}

/// `aws secretsmanager update-secret-version-stage` moving `stage` to `move_to` and/or off
/// `remove_from`, each word quoted for a POSIX shell when it needs it.
fn stage_command(
    arn: &str,
    stage: &str,
    move_to: Option<&str>,
    remove_from: Option<&str>,
) -> String {
    let mut cmd = format!(
        "aws secretsmanager update-secret-version-stage --secret-id {} --version-stage {stage}",
        shell_quote(arn)
    );
    if let Some(v) = move_to {
        cmd.push_str(&format!(" --move-to-version-id {}", shell_quote(v)));
    }
    if let Some(v) = remove_from {
        cmd.push_str(&format!(" --remove-from-version-id {}", shell_quote(v)));
    }
    cmd
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
