//! One test per row of the cause table, with the lines Lambda and the reference functions
//! write (their messages word for word), and the rules that tie lines into invocations.

use super::*;

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app-AbCdEf";
const OTHER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/other-ZyXwVu";
const T0: i64 = 1_796_000_000_000;

/// One execution environment's stream, written line by line.
struct Stream {
    name: String,
    at: i64,
    events: Vec<LogEvent>,
}

impl Stream {
    fn new(name: &str, at: i64) -> Stream {
        Stream {
            name: name.into(),
            at,
            events: Vec::new(),
        }
    }
    fn raw(&mut self, ms: i64, message: String) -> &mut Self {
        self.at += ms;
        self.events.push(LogEvent {
            stream: self.name.clone(),
            timestamp_ms: self.at,
            message,
        });
        self
    }
    fn stamp(&self) -> String {
        rfc3339(self.at)
    }
    fn start(&mut self, id: &str) -> &mut Self {
        self.raw(1, format!("START RequestId: {id} Version: $LATEST\n"))
    }
    fn info(&mut self, id: &str, text: &str) -> &mut Self {
        let line = format!("[INFO]\t{}\t{id}\t{text}\n", self.stamp());
        self.raw(5, line)
    }
    fn error(&mut self, id: &str, text: &str) -> &mut Self {
        let line = format!("[ERROR]\t{}\t{id}\t{text}\n", self.stamp());
        self.raw(5, line)
    }
    fn unhandled(&mut self, text: &str) -> &mut Self {
        self.raw(1, format!("[ERROR] {text}\nTraceback (most recent call last):\n  File \"/var/task/lambda_function.py\", line 81, in lambda_handler\n    set_secret(service_client, arn, token)\n"))
    }
    fn end(&mut self, id: &str, duration: f64) -> &mut Self {
        self.raw(1, format!("END RequestId: {id}\n"));
        self.raw(1, format!("REPORT RequestId: {id}\tDuration: {duration:.2} ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory Used: 79 MB\t\n", duration.ceil()))
    }
    fn timeout(&mut self, id: &str) -> &mut Self {
        let line = format!(
            "{} {id} Task timed out after 30.03 seconds\n\n",
            self.stamp()
        );
        self.raw(30_000, line);
        self.raw(1, format!("END RequestId: {id}\n"));
        self.raw(1, format!("REPORT RequestId: {id}\tDuration: 30032.51 ms\tBilled Duration: 30000 ms\tMemory Size: 128 MB\tMax Memory Used: 81 MB\tStatus: timeout\n"))
    }
}

fn one(events: &[LogEvent], secret: &str) -> Invocation {
    let found: Vec<Invocation> = invocations(events)
        .into_iter()
        .filter(|i| i.concerns(secret))
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    found.into_iter().next().unwrap()
}

fn evidence(inv: &Invocation, key: &str) -> String {
    inv.evidence.as_ref().unwrap()[key]
        .as_str()
        .unwrap()
        .to_string()
}

fn failed_with(events: &[LogEvent], cause: &str) -> Invocation {
    let inv = one(events, ARN);
    assert_ne!(inv.outcome, Outcome::Ok, "{inv:#?}");
    assert_eq!(inv.cause.as_deref(), Some(cause), "{inv:#?}");
    assert!(inv.inferred);
    inv
}

// ------------------------------------------------------------------ one test per row

#[test]
fn silence_after_found_credentials_until_the_timeout_is_secrets_manager_unreachable() {
    let id = "0a1b2c3d-0000-4000-8000-000000000001";
    let mut s = Stream::new("2026/12/01/[$LATEST]a1", T0);
    s.start(id)
        .info(id, "Found credentials in environment variables.")
        .timeout(id);
    let inv = failed_with(&s.events, "secrets_manager_unreachable");
    assert_eq!(inv.outcome, Outcome::TimedOut);
    assert_eq!(inv.duration_ms, Some(30033));
    assert_eq!(
        evidence(&inv, "last_line"),
        "Found credentials in environment variables."
    );
}

fn login_failure(duration: f64) -> Vec<LogEvent> {
    let id = "0a1b2c3d-0000-4000-8000-000000000002";
    let mut s = Stream::new("2026/12/01/[$LATEST]a2", T0);
    s.start(id)
        .info(id, "Found credentials in environment variables.")
        .error(id, &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {ARN}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {ARN}"))
        .end(id, duration);
    s.events.clone()
}

#[test]
fn unable_to_log_in_after_five_seconds_or_more_is_db_unreachable() {
    let inv = failed_with(&login_failure(10_412.34), "db_unreachable");
    assert_eq!(inv.step.as_deref(), Some("setSecret"));
    assert_eq!(inv.duration_ms, Some(10_412));
}

#[test]
fn unable_to_log_in_quickly_is_db_login_failed_with_its_line() {
    let inv = failed_with(&login_failure(412.34), "db_login_failed");
    assert_eq!(inv.outcome, Outcome::Failed);
    assert!(
        evidence(&inv, "line").contains("Unable to log into database"),
        "{inv:?}"
    );
    // testSecret's own wording names the same causes.
    let id = "0a1b2c3d-0000-4000-8000-000000000012";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .error(
            id,
            &format!(
                "testSecret: Unable to log into database with pending secret of secret ARN {ARN}"
            ),
        )
        .unhandled(&format!(
            "ValueError: Unable to log into database with pending secret of secret ARN {ARN}"
        ))
        .end(id, 300.0);
    let inv = failed_with(&s.events, "db_login_failed");
    assert_eq!(inv.step.as_deref(), Some("testSecret"));
}

#[test]
fn access_to_kms_is_not_allowed_is_kms_access_denied_for_every_secret() {
    let id = "0a1b2c3d-0000-4000-8000-000000000003";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .info(id, "Found credentials in environment variables.")
        .unhandled("ClientError: An error occurred (AccessDeniedException) when calling the GetSecretValue operation: Access to KMS is not allowed")
        .end(id, 198.1);
    failed_with(&s.events, "kms_access_denied");
    // No line names a secret: the invocation is reported for every secret of the function.
    assert_eq!(
        one(&s.events, OTHER).cause.as_deref(),
        Some("kms_access_denied")
    );
}

#[test]
fn a_key_missing_from_the_secret_json_is_secret_json_missing_key() {
    let id = "0a1b2c3d-0000-4000-8000-000000000004";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .unhandled("KeyError: 'password key is missing from secret JSON'")
        .end(id, 120.0);
    let inv = failed_with(&s.events, "secret_json_missing_key");
    assert_eq!(
        evidence(&inv, "line"),
        "KeyError: 'password key is missing from secret JSON'"
    );
}

fn tls_then_login(tls_line: &str) -> Vec<LogEvent> {
    let id = "0a1b2c3d-0000-4000-8000-000000000005";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .error(id, tls_line)
        .error(id, &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {ARN}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {ARN}"))
        .end(id, 350.0);
    s.events.clone()
}

#[test]
fn the_tls_line_beats_the_generic_login_line() {
    let inv = failed_with(
        &tls_then_login(
            "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host: db.internal",
        ),
        "db_tls_required",
    );
    assert_eq!(
        evidence(&inv, "line"),
        "Unable to establish SSL/TLS handshake, SSL/TLS is enforced on the host: db.internal"
    );
    failed_with(
        &tls_then_login("Unable to establish SSL/TLS handshake, SSL/TLS is not enabled on the host: db.internal"),
        "db_tls_unavailable",
    );
    failed_with(
        &tls_then_login("Hostname verification failed when estlablishing SSL/TLS Handshake with host: db.internal"),
        "db_tls_verification_failed",
    );
}

#[test]
fn version_and_rotation_state_messages_name_their_causes() {
    for (i, (text, cause)) in [
        (format!("Secret version 5c1a0f0e-0000-4000-8000-00000000aaaa not set as AWSPENDING for rotation of secret {ARN}."), "version_not_pending"),
        (format!("Secret version 5c1a0f0e-0000-4000-8000-00000000aaaa has no stage for rotation of secret {ARN}."), "version_not_staged"),
        (format!("Secret {ARN} is not enabled for rotation"), "rotation_not_enabled"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("0a1b2c3d-0000-4000-8000-00000000010{i}");
        let mut s = Stream::new("s", T0);
        s.start(&id)
            .error(&id, text)
            .unhandled(&format!("ValueError: {text}"))
            .end(&id, 90.0);
        failed_with(&s.events, cause);
    }
}

#[test]
fn an_import_error_before_start_belongs_to_the_invocation_that_follows() {
    let id = "0a1b2c3d-0000-4000-8000-000000000006";
    let import = "Runtime.ImportModuleError: Unable to import module 'lambda_function': /var/task/pg/_pg.cpython-37m-x86_64-linux-gnu.so: cannot open shared object file";
    let mut s = Stream::new("s", T0);
    s.unhandled(import)
        .raw(1, "INIT_REPORT Init Duration: 250.43 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n".into())
        .start(id)
        .unhandled(import)
        .raw(1, format!("END RequestId: {id}\n"))
        .raw(1, format!("REPORT RequestId: {id}\tDuration: 260.11 ms\tBilled Duration: 261 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tStatus: error\tError Type: Runtime.ImportModuleError\n"));
    let inv = failed_with(&s.events, "function_import_error");
    assert_eq!(inv.request_id, id);
    assert!(evidence(&inv, "line")
        .starts_with("Runtime.ImportModuleError: Unable to import module 'lambda_function'"));
}

#[test]
fn a_timeout_after_any_other_line_is_function_timed_out_with_that_line() {
    let id = "0a1b2c3d-0000-4000-8000-000000000007";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .info(id, "Found credentials in environment variables.")
        .info(id, &format!("setSecret: Successfully set password for user app in PostgreSQL DB for secret arn {ARN}."))
        .timeout(id);
    let inv = failed_with(&s.events, "function_timed_out");
    assert_eq!(inv.outcome, Outcome::TimedOut);
    assert!(evidence(&inv, "last_line").starts_with("setSecret: Successfully set password"));
}

#[test]
fn a_failure_no_row_recognises_is_unrecognised_with_its_error_line() {
    let id = "0a1b2c3d-0000-4000-8000-000000000008";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .info(id, &format!("createSecret: Successfully retrieved secret for {ARN}."))
        .unhandled("ClientError: An error occurred (ThrottlingException) when calling the PutSecretValue operation: Rate exceeded")
        .end(id, 700.0);
    let inv = failed_with(&s.events, "unrecognised_failure");
    assert_eq!(inv.step.as_deref(), Some("createSecret"));
    assert!(evidence(&inv, "line").contains("Rate exceeded"));
}

// ------------------------------------------------------------------ this function's own events

fn own_failed(id: &str) -> String {
    format!(
        r#"{{"timestamp":"2026-12-01T09:12:03.301Z","level":"ERROR","event":"step_failed","message":"setSecret failed: PostgreSQL rejected the password of app","secret_id":"{ARN}","step":"setSecret","request_id":"{id}","duration_ms":12,"cause":"db_login_failed","remedy":"Reset the database password to the AWSCURRENT value.","evidence":{{"user":"app"}},"Step":"setSecret","Cause":"db_login_failed","StepFailed":1}}"#
    )
}

#[test]
fn own_events_in_the_text_log_format_give_their_cause_not_an_inferred_one() {
    let id = "0a1b2c3d-0000-4000-8000-000000000009";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .raw(2, format!(r#"{{"timestamp":"2026-12-01T09:12:03.120Z","level":"INFO","event":"step_started","message":"setSecret started","secret_id":"{ARN}","step":"setSecret","request_id":"{id}","strategy":"single_user"}}"#))
        .raw(10, own_failed(id))
        .end(id, 14.2);
    let inv = one(&s.events, ARN);
    assert_eq!(inv.outcome, Outcome::Failed);
    assert_eq!(inv.cause.as_deref(), Some("db_login_failed"));
    assert!(!inv.inferred);
    assert_eq!(inv.step.as_deref(), Some("setSecret"));
    assert_eq!(
        inv.remedy.as_deref(),
        Some("Reset the database password to the AWSCURRENT value.")
    );
    assert_eq!(
        evidence(&inv, "line"),
        "setSecret failed: PostgreSQL rejected the password of app"
    );
    assert_eq!(
        function_kind(&s.events, Some("provided.al2023")),
        FunctionKind::DbSecretRotator
    );
    // It names its secret, so it is not another secret's.
    assert!(invocations(&s.events).iter().all(|i| !i.concerns(OTHER)));
}

#[test]
fn own_events_in_the_json_log_format_with_json_platform_records() {
    let id = "0a1b2c3d-0000-4000-8000-000000000010";
    let mut s = Stream::new("s", T0);
    s.raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.100Z","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#))
        .raw(10, own_failed(id))
        .raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.320Z","type":"platform.runtimeDone","record":{{"requestId":"{id}","status":"failure"}}}}"#))
        .raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.321Z","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":221.7,"billedDurationMs":222,"memorySizeMB":128,"maxMemoryUsedMB":21}},"status":"failure"}}}}"#));
    let inv = one(&s.events, ARN);
    assert_eq!(inv.cause.as_deref(), Some("db_login_failed"));
    assert!(!inv.inferred);
    assert_eq!(inv.duration_ms, Some(222));
}

// ------------------------------------------------------------------ tying lines together

#[test]
fn interleaved_streams_and_other_secrets_are_kept_apart_newest_first() {
    let (a1, a2, b1) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "bbbbbbbb-0000-4000-8000-000000000001",
    );
    let mut one_env = Stream::new("2026/12/01/[$LATEST]env1", T0);
    let mut two_env = Stream::new("2026/12/01/[$LATEST]env2", T0 + 3);
    one_env
        .start(a1)
        .info(a1, "Found credentials in environment variables.")
        .info(
            a1,
            &format!("createSecret: Successfully put secret for ARN {ARN} and version {a1}."),
        )
        .end(a1, 301.0);
    two_env
        .start(b1)
        .error(b1, &format!("setSecret: Unable to log into database with previous, current, or pending secret of secret arn {OTHER}"))
        .unhandled(&format!("ValueError: Unable to log into database with previous, current, or pending secret of secret arn {OTHER}"))
        .end(b1, 201.0);
    one_env
        .start(a2)
        // This line names no secret; its neighbour does.
        .info(a2, "Successfully established SSL/TLS connection as user 'app' with host: 'db.internal'")
        .info(a2, &format!("setSecret: Successfully set password for user app in PostgreSQL DB for secret arn {ARN}."))
        .end(a2, 512.0);
    let mut events: Vec<LogEvent> = one_env.events.clone();
    events.extend(two_env.events.clone());
    events.sort_by_key(|e| e.timestamp_ms);
    let mine: Vec<Invocation> = invocations(&events)
        .into_iter()
        .filter(|i| i.concerns(ARN))
        .collect();
    assert_eq!(
        mine.iter()
            .map(|i| i.request_id.as_str())
            .collect::<Vec<_>>(),
        [a2, a1]
    );
    assert!(mine
        .iter()
        .all(|i| i.outcome == Outcome::Ok && i.cause.is_none()));
    assert_eq!(mine[0].step.as_deref(), Some("setSecret"));
    let theirs = one(&events, OTHER);
    assert_eq!(theirs.request_id, b1);
    assert_eq!(theirs.cause.as_deref(), Some("db_login_failed"));
    assert_eq!(function_kind(&events, None), FunctionKind::PythonReference);
}

#[test]
fn a_stream_cut_before_start_keeps_its_tail_and_other_programs_lines_are_dropped() {
    let id = "cccccccc-0000-4000-8000-000000000001";
    let mut s = Stream::new("cut", T0);
    // The window begins after START: the traceback and END still belong to this request.
    s.unhandled("KeyError: 'username key is missing from secret JSON'")
        .end(id, 80.0);
    let mut noise = Stream::new("some-sidecar", T0);
    noise.raw(1, "listening on :8080".into());
    let mut events = s.events.clone();
    events.extend(noise.events.clone());
    let all = invocations(&events);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].cause.as_deref(), Some("secret_json_missing_key"));
}

#[test]
fn evidence_lines_hide_tokens_and_passwords_a_function_logged() {
    let line = format!("event (s) {{'SecretId': '{ARN}', 'ClientRequestToken': '5c1a0f0e-1111', 'Step': 'createSecret', 'RotationToken': 'tok-9f8e7d'}} \"password\": \"hunter2-Secret\"");
    let clean = evidence_line(&line);
    assert!(
        !clean.contains("tok-9f8e7d")
            && !clean.contains("hunter2-Secret")
            && !clean.contains("5c1a0f0e-1111"),
        "{clean}"
    );
    assert!(clean.contains(ARN), "{clean}");
    assert!(clean.contains("'RotationToken': '***'"), "{clean}");
    assert_eq!(python_step(&line), Some("createSecret"));
}

#[test]
fn secret_arns_are_found_whole_and_only_for_secrets() {
    assert_eq!(
        secret_arns(&format!(
            "for secret arn {ARN}. and arn:aws:lambda:us-east-1:123456789012:function:f"
        )),
        vec![ARN.to_string()]
    );
    assert_eq!(
        secret_arns(&format!("'SecretId': '{OTHER}',")),
        vec![OTHER.to_string()]
    );
}

#[test]
fn every_row_of_the_table_has_a_cause_and_the_table_holds_the_guides_rows() {
    assert_eq!(table::TABLE.len(), 10);
    for row in table::TABLE {
        assert!(!row.phrases.is_empty());
    }
}

#[test]
fn a_tls_attempt_logged_at_error_then_a_plaintext_success_is_ok() {
    let id = "dddddddd-0000-4000-8000-000000000001";
    let mut s = Stream::new("s", T0);
    s.start(id)
        .error(id, "Unable to establish SSL/TLS handshake, SSL/TLS is not enabled on the host: db.internal")
        .info(id, "Successfully established non SSL/TLS connection as user 'app' with host: 'db.internal'")
        .info(id, &format!("testSecret: Successfully signed into PostgreSQL DB with AWSPENDING secret in {ARN}."))
        .end(id, 640.0);
    let inv = one(&s.events, ARN);
    assert_eq!(inv.outcome, Outcome::Ok, "{inv:#?}");
    assert_eq!(inv.cause, None);
    assert_eq!(inv.step.as_deref(), Some("testSecret"));
}

#[test]
fn a_python_function_in_the_json_log_format_is_read_alike() {
    let id = "eeeeeeee-0000-4000-8000-000000000001";
    let mut s = Stream::new("s", T0);
    s.raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.100Z","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#))
        .raw(5, format!(r#"{{"timestamp":"2026-12-01T09:12:03.105Z","level":"INFO","message":"Found credentials in environment variables.","logger":"botocore.credentials","requestId":"{id}"}}"#))
        .raw(90, format!(r#"{{"timestamp":"2026-12-01T09:12:03.195Z","log_level":"ERROR","errorMessage":"An error occurred (AccessDeniedException) when calling the GetSecretValue operation: Access to KMS is not allowed","errorType":"ClientError","requestId":"{id}","stackTrace":["  File \"/var/task/lambda_function.py\", line 70, in lambda_handler\n"]}}"#))
        .raw(1, format!(r#"{{"time":"2026-12-01T09:12:03.200Z","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":99.5,"billedDurationMs":100,"memorySizeMB":128,"maxMemoryUsedMB":70}},"status":"error"}}}}"#));
    let inv = failed_with(&s.events, "kms_access_denied");
    assert_eq!(inv.duration_ms, Some(100));
    assert!(evidence(&inv, "line")
        .starts_with("ClientError: An error occurred (AccessDeniedException)"));
    assert_eq!(
        function_kind(&s.events, Some("python3.12")),
        FunctionKind::PythonReference
    );
}

#[test]
fn durations_and_windows() {
    use read::{parse_since, Window};
    assert_eq!(parse_since("90m").unwrap().as_secs(), 5400);
    assert_eq!(parse_since("6h").unwrap().as_secs(), 6 * 3600);
    assert_eq!(parse_since("30d").unwrap().as_secs(), 30 * 86_400);
    assert!(parse_since("30").unwrap_err().contains("90m"));
    assert!(parse_since("d").is_err() && parse_since("0h").is_err() && parse_since("5y").is_err());
    let w = Window::default_for(Some(T0), Some(7));
    assert_eq!(w.start_ms, T0 - 86_400_000);
    let never = Window::default_for(None, Some(7));
    assert_eq!(never.end_ms - never.start_ms, 8 * 86_400_000);
    let both = Window::covering(&[w, never]).unwrap();
    assert_eq!(
        (both.start_ms, both.end_ms),
        (w.start_ms.min(never.start_ms), never.end_ms.max(w.end_ms))
    );
}

#[test]
fn an_invocation_still_running_has_no_outcome_yet() {
    let (done, running) = (
        "ffffffff-0000-4000-8000-000000000001",
        "ffffffff-0000-4000-8000-000000000002",
    );
    let mut s = Stream::new("s", T0);
    s.start(done)
        .info(
            done,
            &format!("createSecret: Successfully put secret for ARN {ARN} and version {done}."),
        )
        .end(done, 300.0)
        .start(running)
        .info(running, "Found credentials in environment variables.");
    let all = invocations(&s.events);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].request_id, done);
    // Once it fails, it is reported even before its END.
    s.unhandled("KeyError: 'host key is missing from secret JSON'");
    assert_eq!(
        invocations(&s.events)[0].cause.as_deref(),
        Some("secret_json_missing_key")
    );
}
