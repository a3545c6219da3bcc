//! `repair` end to end on the real services through the binary: every state on every engine
//! (the same test names in one module per engine), the dry run that changes nothing, `--apply`
//! that acts only when the state still holds, the printed undo command run as printed, the
//! one `repair` event, the races (a rotation starting before the re-check, and one starting
//! at the action itself), and the Lambda event.
//!
//! An engine is one `Engine` impl (tests/it/common/engine.rs) and one `engine_tests!` line: the
//! scenarios are generic.

use crate::common::engine::{alternating_secret, Engine, MariaDb, MySql, Postgres};
use crate::common::fault::{closed_port, FaultServer};
use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------- helpers

/// `repair --format json` with extra arguments: the run and the report (stdout is the report
/// and nothing else; log lines go to stderr).
fn repair(arn: &str, args: &[&str], env: &[(&str, &str)]) -> (Run, Value) {
    let mut all = vec!["repair", "--secret-id", arn, "--format", "json"];
    all.extend_from_slice(args);
    let run = run_bin(&all, env);
    let report = json_report(&run);
    (run, report)
}

/// The JSON log lines the run wrote (stderr), named `name`.
fn logged(run: &Run, name: &str) -> Vec<Value> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == name)
        .collect()
}

/// The one `repair` event of a run with `--apply`.
fn repair_event(run: &Run) -> Value {
    let events = logged(run, "repair");
    assert_eq!(events.len(), 1, "one repair event:\n{}", run.stderr);
    events[0].clone()
}

/// Version id to sorted staging labels.
async fn labels(arn: &str) -> BTreeMap<String, Vec<String>> {
    stages(arn)
        .await
        .into_iter()
        .map(|(v, mut l)| {
            l.sort();
            (v, l)
        })
        .collect()
}

fn holder(labels: &BTreeMap<String, Vec<String>>, stage: &str) -> Option<String> {
    labels
        .iter()
        .find(|(_, l)| l.iter().any(|s| s == stage))
        .map(|(v, _)| v.clone())
}

/// Runs a printed undo command: with the AWS CLI as printed when it is installed, else the
/// same UpdateSecretVersionStage through the SDK from the command's own flags.
async fn run_undo(command: &str) {
    assert!(
        command.starts_with("aws secretsmanager update-secret-version-stage "),
        "{command}"
    );
    let has_cli = std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_cli {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("AWS_ENDPOINT_URL", &services().moto)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let flag = |name: &str| {
        words
            .iter()
            .position(|w| *w == name)
            .map(|i| words[i + 1].to_string())
    };
    sm().await
        .update_secret_version_stage()
        .secret_id(flag("--secret-id").unwrap())
        .version_stage(flag("--version-stage").unwrap())
        .set_move_to_version_id(flag("--move-to-version-id"))
        .set_remove_from_version_id(flag("--remove-from-version-id"))
        .send()
        .await
        .expect("the undo command");
}

/// A single-user secret for a new user; returns (user, password, arn).
async fn single_user<E: Engine>() -> (String, String, String) {
    let user = E::user_name("dsr_rep");
    let pw = password("rep");
    E::create_user(&user, &pw).await;
    let arn = create_secret(&E::secret(&user, &pw)).await;
    (user, pw, arn)
}

/// A rotation stuck after createSecret: AWSPENDING holds a password the database never got.
async fn stuck_after_create<E: Engine>() -> (String, String, String, String) {
    let (user, pw, arn) = single_user::<E>().await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    (user, pw, arn, token)
}

/// Starts a rotation from inside the fault endpoint's hook (a blocking thread), and keeps
/// its token.
fn rotation_hook(arn: &str) -> (Arc<Mutex<Option<String>>>, impl FnOnce() + Send + 'static) {
    let token = Arc::new(Mutex::new(None));
    let (arn, slot) = (arn.to_string(), Arc::clone(&token));
    let hook = move || {
        let t = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(start_rotation(&arn))
        })
        .join()
        .unwrap();
        *slot.lock().unwrap() = Some(t);
    };
    (token, hook)
}

fn assert_no_action(report: &Value) {
    assert_eq!(report["action"], Value::Null, "{report:#}");
    assert_eq!(report["outcome"], "no_action", "{report:#}");
}

// ---------------------------------------------------------------- the scenarios

async fn healthy_secret_needs_nothing_and_apply_changes_nothing<E: Engine>() {
    let (_, _, arn) = single_user::<E>().await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    let before = labels(&arn).await;

    let (run, report) = repair(&arn, &[], &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_eq!(report["state"], "healthy");
    assert_eq!(report["ok"], true);
    assert_eq!(report["secret_id"], arn.as_str());
    assert_no_action(&report);
    assert_eq!(report["logins"][0]["outcome"], "login_ok", "{report:#}");
    assert!(
        logged(&run, "repair").is_empty(),
        "a dry run logs no repair event"
    );

    let (run, report) = repair(&arn, &["--apply"], &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_no_action(&report);
    let event = repair_event(&run);
    assert_eq!(event["state"], "healthy");
    assert_eq!(event["outcome"], "no_action");
    assert_eq!(labels(&arn).await, before);

    // Usage errors exit 2, before anything is looked at.
    for args in [
        &["repair"][..],
        &["repair", "--secret-id", &arn, "--function-timeout-s", "901"],
        &["repair", "--secret-id", &arn, "--format", "yaml"],
    ] {
        assert_eq!(run_bin(args, &[]).status, 2, "{args:?}");
    }

    // The text form: the state, and nothing to do.
    let text = run_bin(&["repair", "--secret-id", &arn], &[]);
    assert_eq!(text.status, 0, "{}\n{}", text.stdout, text.stderr);
    assert!(
        text.stdout
            .starts_with(&format!("repair {arn}: healthy (OK)")),
        "{}",
        text.stdout
    );
}

async fn stale_pending_label_is_removed_and_the_undo_puts_it_back<E: Engine>() {
    let (user, pw, arn, token) = stuck_after_create::<E>().await;
    let before = labels(&arn).await;
    assert!(before[&token].contains(&"AWSPENDING".to_string()));

    // Dry run: the state, the action and its undo; nothing changes; exit 1 (a problem remains).
    let (run, report) = repair(&arn, &["--function-timeout-s", "0"], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "stale_pending_label", "{report:#}");
    assert_eq!(report["outcome"], "dry_run");
    assert_eq!(report["action"]["name"], "remove_pending_label");
    assert_eq!(
        report["action"]["command"],
        format!("aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --remove-from-version-id {token}")
    );
    let logins = report["logins"].as_array().unwrap();
    assert_eq!(logins[0]["secret"], "current");
    assert_eq!(logins[0]["outcome"], "login_ok");
    assert_eq!(logins[1]["secret"], "pending");
    assert_eq!(logins[1]["outcome"], "refused");
    assert_eq!(labels(&arn).await, before, "a dry run changed the labels");
    let text = run_bin(
        &["repair", "--secret-id", &arn, "--function-timeout-s", "0"],
        &[],
    );
    assert_eq!(text.status, 1);
    assert!(
        text.stdout
            .contains("action:   remove_pending_label: aws secretsmanager"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("undo:"), "{}", text.stdout);

    // Apply: the label goes, AWSCURRENT is untouched and still logs in; exit 0.
    let (run, report) = repair(&arn, &["--function-timeout-s", "0", "--apply"], &[]);
    assert_eq!(run.status, 0, "{report:#}");
    assert_eq!(report["outcome"], "applied", "{report:#}");
    assert_eq!(report["state_after"], "healthy");
    let undo = report["action"]["undo"].as_str().unwrap().to_string();
    assert_eq!(
        undo,
        format!("aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --move-to-version-id {token}")
    );
    assert!(report["detail"].as_str().unwrap().contains(&undo));
    let event = repair_event(&run);
    assert_eq!(event["state"], "stale_pending_label");
    assert_eq!(event["action"], "remove_pending_label");
    assert_eq!(event["outcome"], "applied");
    assert_eq!(event["state_after"], "healthy");
    assert_eq!(event["evidence"]["undo"], undo.as_str());
    let after = labels(&arn).await;
    assert_eq!(holder(&after, "AWSPENDING"), None, "{after:?}");
    assert_eq!(holder(&after, "AWSCURRENT"), holder(&before, "AWSCURRENT"));
    assert!(E::logs_in(&user, &pw).await);

    // The printed command undoes it exactly.
    run_undo(&undo).await;
    assert_eq!(labels(&arn).await, before);
}

async fn young_pending_version_is_a_rotation_in_progress<E: Engine>() {
    let (_, _, arn, _) = stuck_after_create::<E>().await;
    let before = labels(&arn).await;
    // Default function timeout (900 s): a rotation may take an hour.
    let (run, report) = repair(&arn, &["--apply"], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "rotation_in_progress", "{report:#}");
    assert_no_action(&report);
    assert_eq!(report["rotation_window_s"], 3600);
    assert!(report["pending_age_s"].as_u64().unwrap() < 3600);
    assert_eq!(repair_event(&run)["outcome"], "no_action");
    assert_eq!(labels(&arn).await, before);
}

async fn set_not_finished_is_promoted_as_finish_secret_does<E: Engine>() {
    let (user, old_pw, arn, token) = stuck_after_create::<E>().await;
    let run = step(&arn, &token, "setSecret", &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !E::logs_in(&user, &old_pw).await,
        "AWSCURRENT no longer logs in"
    );
    let before = labels(&arn).await;
    let old_current = holder(&before, "AWSCURRENT").unwrap();

    // No window needed: the password already changed, so a running rotation would promote
    // the same version. Dry run first.
    let (run, report) = repair(&arn, &[], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "set_not_finished", "{report:#}");
    assert_eq!(report["action"]["name"], "promote_pending");
    assert_eq!(labels(&arn).await, before);

    let (run, report) = repair(&arn, &["--apply"], &[]);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["state_after"], "healthy");
    // finishSecret itself ran.
    let finished = logged(&run, "step_succeeded");
    assert_eq!(finished.len(), 1, "{}", run.stderr);
    assert_eq!(finished[0]["step"], "finishSecret");
    assert_eq!(finished[0]["outcome"], "promoted");
    assert_eq!(repair_event(&run)["outcome"], "applied");
    let after = labels(&arn).await;
    assert_eq!(
        holder(&after, "AWSCURRENT").as_deref(),
        Some(token.as_str())
    );
    assert_eq!(holder(&after, "AWSPREVIOUS"), Some(old_current.clone()));
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert!(E::logs_in(&user, current["password"].as_str().unwrap()).await);

    // The undo puts AWSCURRENT back where it was (Secrets Manager moves AWSPREVIOUS itself).
    let undo = report["action"]["undo"].as_str().unwrap();
    run_undo(undo).await;
    let undone = labels(&arn).await;
    assert_eq!(holder(&undone, "AWSCURRENT"), Some(old_current));
    assert_eq!(
        holder(&undone, "AWSPENDING").as_deref(),
        Some(token.as_str())
    );
}

async fn only_previous_logging_in_is_drifted_and_nothing_changes<E: Engine>() {
    let (user, old_pw, arn) = single_user::<E>().await;
    let token = start_rotation(&arn).await;
    rotate_all(&arn, &token, &[]);
    // A snapshot restore: the database is back on the old password, AWSPREVIOUS.
    E::set_password(&user, &old_pw).await;
    let before = labels(&arn).await;
    let (run, report) = repair(&arn, &["--apply", "--function-timeout-s", "0"], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "drifted", "{report:#}");
    assert!(report["summary"]
        .as_str()
        .unwrap()
        .contains("only AWSPREVIOUS"));
    assert_eq!(report["cause"], "db_login_failed");
    assert!(report["remedy"]
        .as_str()
        .unwrap()
        .starts_with("The password was changed outside rotation"));
    assert_no_action(&report);
    let previous = report["logins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["secret"] == "previous")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(previous["outcome"], "login_ok");
    assert_eq!(repair_event(&run)["state"], "drifted");
    assert_eq!(labels(&arn).await, before);
}

async fn no_stored_password_logging_in_is_drifted<E: Engine>() {
    let (user, _, arn) = single_user::<E>().await;
    E::set_password(&user, &password("elsewhere")).await;
    let before = labels(&arn).await;
    let (run, report) = repair(&arn, &["--apply"], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "drifted", "{report:#}");
    assert!(report["summary"]
        .as_str()
        .unwrap()
        .contains("none of the stored passwords"));
    assert_eq!(report["cause"], "db_login_failed");
    assert_no_action(&report);
    assert_eq!(labels(&arn).await, before);
}

async fn unreachable_database_is_undetermined<E: Engine>() {
    let user = E::user_name("dsr_rep_port");
    let mut secret = E::secret(&user, &password("rep"));
    secret["port"] = json!(closed_port());
    let arn = create_secret(&secret).await;
    let (run, report) = repair(&arn, &["--apply"], &[]);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "undetermined", "{report:#}");
    assert_eq!(report["cause"], "db_unreachable");
    assert_no_action(&report);
}

async fn a_rotation_starting_before_the_recheck_makes_apply_refuse<E: Engine>() {
    let (_, _, arn, token) = stuck_after_create::<E>().await;
    let fault = FaultServer::start();
    // The first look is DescribeSecret 1; the re-check just before acting is DescribeSecret
    // 2: a rotation starts right before Secrets Manager answers it.
    let (new_token, hook) = rotation_hook(&arn);
    fault.before_call("DescribeSecret", 2, hook);
    let (run, report) = repair(
        &arn,
        &["--apply", "--function-timeout-s", "0"],
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    assert_eq!(run.status, 1, "{report:#}\n{}", run.stderr);
    assert_eq!(report["state"], "stale_pending_label", "{report:#}");
    assert_eq!(report["outcome"], "refused", "{report:#}");
    assert!(report["detail"]
        .as_str()
        .unwrap()
        .contains("staging labels moved"));
    assert_eq!(
        fault.calls("UpdateSecretVersionStage"),
        0,
        "nothing was tried"
    );
    assert_eq!(repair_event(&run)["outcome"], "refused");
    // The new rotation's label is where the rotation put it.
    let new_token = new_token.lock().unwrap().clone().expect("the hook ran");
    assert_ne!(new_token, token);
    let after = labels(&arn).await;
    assert_eq!(holder(&after, "AWSPENDING"), Some(new_token));
}

async fn a_rotation_starting_at_the_action_makes_secrets_manager_refuse_it<E: Engine>() {
    let (_, _, arn, token) = stuck_after_create::<E>().await;
    let fault = FaultServer::start();
    // After the re-check, right before the label removal reaches Secrets Manager.
    let (new_token, hook) = rotation_hook(&arn);
    fault.before_call("UpdateSecretVersionStage", 1, hook);
    let (run, report) = repair(
        &arn,
        &["--apply", "--function-timeout-s", "0"],
        &[("AWS_ENDPOINT_URL", fault.url())],
    );
    assert_eq!(run.status, 1, "{report:#}\n{}", run.stderr);
    assert_eq!(report["outcome"], "failed", "{report:#}");
    // Secrets Manager refuses to remove a label from a version that no longer holds it.
    assert_eq!(
        report["failure"]["cause"], "aws_service_error",
        "{report:#}"
    );
    assert_eq!(
        report["failure"]["evidence"]["aws_error_code"], "InvalidParameterException",
        "{report:#}"
    );
    assert_eq!(repair_event(&run)["outcome"], "failed");
    let new_token = new_token.lock().unwrap().clone().expect("the hook ran");
    assert_ne!(new_token, token);
    let after = labels(&arn).await;
    assert_eq!(
        holder(&after, "AWSPENDING"),
        Some(new_token),
        "the new rotation's AWSPENDING must survive: {after:?}"
    );
}

async fn a_rotation_starting_at_the_promotion_makes_finish_secret_refuse_it<E: Engine>() {
    let (_, _, arn, token) = stuck_after_create::<E>().await;
    let run = step(&arn, &token, "setSecret", &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let old_current = holder(&labels(&arn).await, "AWSCURRENT");
    let fault = FaultServer::start();
    // DescribeSecret 1 is the look, 2 the re-check, 3 finishSecret's own precondition check.
    let (new_token, hook) = rotation_hook(&arn);
    fault.before_call("DescribeSecret", 3, hook);
    let (run, report) = repair(&arn, &["--apply"], &[("AWS_ENDPOINT_URL", fault.url())]);
    assert_eq!(run.status, 1, "{report:#}\n{}", run.stderr);
    assert_eq!(report["state"], "set_not_finished", "{report:#}");
    assert_eq!(report["outcome"], "failed", "{report:#}");
    assert_eq!(
        report["failure"]["cause"], "version_not_pending",
        "{report:#}"
    );
    assert_eq!(
        fault.calls("UpdateSecretVersionStage"),
        0,
        "nothing was moved"
    );
    let after = labels(&arn).await;
    assert_eq!(holder(&after, "AWSCURRENT"), old_current);
    let new_token = new_token.lock().unwrap().clone().expect("the hook ran");
    assert_eq!(holder(&after, "AWSPENDING"), Some(new_token));
}

/// An alternating-users secret for a new user with its master; returns (user, arn).
async fn alternating_user<E: Engine>() -> (String, String) {
    let user = E::user_name("dsr_rep_alt");
    let pw = password("orig");
    E::create_user(&user, &pw).await;
    let arn = alternating_secret::<E>(&user, &pw, None).await;
    (user, arn)
}

async fn alternating_pending_user_ready_is_promoted<E: Engine>() {
    let (user, arn) = alternating_user::<E>().await;
    let token = start_rotation(&arn).await;
    for st in ["createSecret", "setSecret"] {
        let run = step(&arn, &token, st, E::ALT);
        assert_eq!(run.status, 0, "{st}\n{}\n{}", run.stdout, run.stderr);
    }
    let (run, report) = repair(&arn, &["--function-timeout-s", "0"], E::ALT);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "pending_user_ready", "{report:#}");
    assert_eq!(report["strategy"], "alternating_users");
    assert_eq!(report["action"]["name"], "promote_pending");

    let (run, report) = repair(&arn, &["--function-timeout-s", "0", "--apply"], E::ALT);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["state_after"], "healthy");
    let after = labels(&arn).await;
    assert_eq!(
        holder(&after, "AWSCURRENT").as_deref(),
        Some(token.as_str())
    );
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert_eq!(current["username"], format!("{user}_clone"));
    assert!(
        E::logs_in(
            &format!("{user}_clone"),
            current["password"].as_str().unwrap()
        )
        .await
    );
}

async fn alternating_stale_pending_label_is_removed<E: Engine>() {
    let (_, arn) = alternating_user::<E>().await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", E::ALT);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    // The clone does not exist yet: AWSPENDING's user is refused.
    let (run, report) = repair(&arn, &["--function-timeout-s", "0", "--apply"], E::ALT);
    assert_eq!(run.status, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["state"], "stale_pending_label", "{report:#}");
    // MySQL may answer the missing clone with a decoy exchange instead of 1045.
    assert_eq!(report["logins"][1]["secret"], "pending", "{report:#}");
    assert_eq!(report["logins"][1]["outcome"], "refused", "{report:#}");
    assert_eq!(report["outcome"], "applied");
    assert_eq!(holder(&labels(&arn).await, "AWSPENDING"), None);
}

crate::engine_tests! {
    shared: [
        healthy_secret_needs_nothing_and_apply_changes_nothing,
        stale_pending_label_is_removed_and_the_undo_puts_it_back,
        young_pending_version_is_a_rotation_in_progress,
        set_not_finished_is_promoted_as_finish_secret_does,
        only_previous_logging_in_is_drifted_and_nothing_changes,
        no_stored_password_logging_in_is_drifted,
        unreachable_database_is_undetermined,
        a_rotation_starting_before_the_recheck_makes_apply_refuse,
        a_rotation_starting_at_the_action_makes_secrets_manager_refuse_it,
        a_rotation_starting_at_the_promotion_makes_finish_secret_refuse_it,
        alternating_pending_user_ready_is_promoted,
        alternating_stale_pending_label_is_removed,
    ],
    postgres: Postgres [],
    mariadb: MariaDb [],
    mysql: MySql [],
}

/// MySQL 8+ hides a missing account behind a decoy exchange whose plugin is picked from the
/// user name: with a name whose clone draws `sha256_password` (which the client does not
/// perform), AWSPENDING still counts as refused once AWSCURRENT logs in.
#[tokio::test]
async fn mysql_decoy_for_the_missing_clone_counts_as_refused() {
    let _shared = MySql::share_server().await;
    use crate::common::mysql::{login_on, Server};
    let mut user = None;
    for _ in 0..40 {
        let name = MySql::user_name("dsr_rep_decoy");
        let clone = format!("{name}_clone");
        if let Err(mysql_async::Error::Driver(mysql_async::DriverError::UnknownAuthPlugin {
            name: plugin,
        })) = login_on(Server::MySql, &clone, &password("x"), true).await
        {
            if plugin == "sha256_password" {
                user = Some(name);
                break;
            }
        }
    }
    let user = user.expect("a name whose missing clone draws the sha256_password decoy");
    let pw = password("orig");
    MySql::create_user(&user, &pw).await;
    let arn = alternating_secret::<MySql>(&user, &pw, None).await;
    let token = start_rotation(&arn).await;
    let run = step(&arn, &token, "createSecret", MySql::ALT);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);

    let (run, report) = repair(&arn, &["--function-timeout-s", "0"], MySql::ALT);
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(report["state"], "stale_pending_label", "{report:#}");
    let pending = &report["logins"][1];
    assert_eq!(pending["secret"], "pending", "{report:#}");
    assert_eq!(pending["outcome"], "refused", "{report:#}");
    assert_eq!(pending["method"], "sha256_password", "{report:#}");
    assert_eq!(pending["code"], Value::Null, "{report:#}");
    assert_eq!(report["action"]["name"], "remove_pending_label");
    assert_eq!(
        holder(&labels(&arn).await, "AWSPENDING").as_deref(),
        Some(token.as_str())
    );
}

// ---------------------------------------------------------------- the Lambda event

#[tokio::test]
async fn the_repair_event_is_a_dry_run_unless_apply_and_takes_the_function_timeout() {
    use crate::common::runtime_api::{Answer, RuntimeApi};
    use std::time::Duration;
    let (user, _, arn, token) = stuck_after_create::<Postgres>().await;
    let run = step(&arn, &token, "setSecret", &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let before = labels(&arn).await;

    let api = RuntimeApi::start().await;
    let mut cmd = crate::common::runtime_api::function_command(&api);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _child = cmd.spawn().unwrap();

    let api = &api;
    let ask = |event: Value| {
        let id = api.invoke(event, Duration::from_secs(30));
        async move {
            match api.answer(&id, Duration::from_secs(60)).await {
                Answer::Response(v) => v,
                other => panic!("{other:?}"),
            }
        }
    };
    let report = ask(json!({"Action": "repair", "SecretId": arn})).await;
    assert_eq!(report["state"], "set_not_finished", "{report:#}");
    assert_eq!(report["outcome"], "dry_run");
    assert_eq!(report["apply"], false);
    // The window is four steps of this invocation's own timeout (30 s).
    let window = report["rotation_window_s"].as_u64().unwrap();
    assert!(window % 4 == 0 && (100..=120).contains(&window), "{window}");
    assert_eq!(labels(&arn).await, before);

    let report = ask(json!({"Action": "repair", "SecretId": arn, "Apply": true})).await;
    assert_eq!(report["outcome"], "applied", "{report:#}");
    assert_eq!(report["state_after"], "healthy");
    assert_eq!(
        holder(&labels(&arn).await, "AWSCURRENT").as_deref(),
        Some(token.as_str())
    );
    let current = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert!(Postgres::logs_in(&user, current["password"].as_str().unwrap()).await);
}
