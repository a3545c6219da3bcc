//! The fault matrix: for every step and every external call inside it — each Secrets Manager
//! call, the database connect, the password change — inject a failure (an AWS error, a hang
//! to the deadline, a refused or held connection, a lock, a read-only refusal, or the process
//! killed right after the call), then check that usable credentials survive and that a retry
//! from createSecret, as Secrets Manager does, finishes the rotation.
//!
//! The cases and their results are documented in docs/fault-matrix.md.

use crate::common::fault::FaultServer;
use crate::common::tcp_proxy::{Mode, TcpProxy};
use crate::common::*;
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
enum Inject {
    /// Every call of the operation answers 500 InternalServiceError.
    AwsError(&'static str),
    /// Calls of the operation are never answered.
    AwsHang(&'static str),
    /// The process is killed right after the operation answered.
    KillAfterAws(&'static str),
    /// New database connections are accepted and closed at once.
    DbRefuse,
    /// New database connections are accepted and never answered.
    DbHang,
    /// The process is killed right after it printed this event.
    KillAfterEvent(&'static str),
    /// The password change waits on a lock held by another session until the deadline.
    DbLock,
    /// The password change is refused: the session is read-only (SQLSTATE 25006).
    DbReadOnly,
}

/// Engine and strategy of a matrix run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    PgSingle,
    PgAlternating,
    MariaSingle,
    MariaAlternating,
    MySqlSingle,
    MySqlAlternating,
}

impl Setup {
    fn pg(self) -> bool {
        matches!(self, Setup::PgSingle | Setup::PgAlternating)
    }
    fn alternating(self) -> bool {
        matches!(
            self,
            Setup::PgAlternating | Setup::MariaAlternating | Setup::MySqlAlternating
        )
    }
    /// MariaDB or MySQL, when not PostgreSQL.
    fn server(self) -> crate::common::mysql::Server {
        match self {
            Setup::MySqlSingle | Setup::MySqlAlternating => crate::common::mysql::Server::MySql,
            _ => crate::common::mysql::Server::MariaDb,
        }
    }
    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            // MySQL 8+ allows 32-character names (the reference default 16 is MySQL 5.6's).
            Setup::MySqlAlternating => vec![
                ("ROTATION_STRATEGY", "alternating_users"),
                ("USERNAME_CHARACTER_LIMIT", "32"),
            ],
            _ if self.alternating() => vec![("ROTATION_STRATEGY", "alternating_users")],
            _ => vec![],
        }
    }
    fn db_port(self) -> u16 {
        if self.pg() {
            services().pg_port
        } else {
            self.server().port()
        }
    }
}

/// Whether `user` logs in with the password of a stored secret value, over verified TLS.
async fn setup_logs_in(setup: Setup, secret: Option<Value>) -> bool {
    let Some(v) = secret else { return false };
    let (user, pw) = (
        v["username"].as_str().unwrap(),
        v["password"].as_str().unwrap(),
    );
    if setup.pg() {
        pg_login(services().pg_port, user, pw, true).await.is_ok()
    } else {
        crate::common::mysql::login_on(setup.server(), user, pw, true)
            .await
            .is_ok()
    }
}

/// A user (and, for alternating users, a master) whose secrets reach the database through
/// `proxy_port`; returns (user, old password, secret ARN).
async fn fixture(setup: Setup, proxy_port: u16) -> (String, String, String) {
    let s = services();
    let old = password("old");
    let (user, mut secret) = if setup.pg() {
        let user = unique("dsr_fm");
        pg_create_user(s.pg_port, &user, &old, &[]).await;
        (user.clone(), pg_secret(&user, &old))
    } else {
        let user = crate::common::mysql::short_unique("fm");
        crate::common::mysql::create_user_on(setup.server(), &user, "%", &old, false).await;
        (
            user.clone(),
            crate::common::mysql::secret_on(setup.server(), &user, &old),
        )
    };
    secret["port"] = proxy_port.into();
    if setup.alternating() {
        let mut master = if setup.pg() {
            let (name, pw) = pg_master(true).await;
            pg_secret(&name, &pw)
        } else {
            crate::common::mysql::admin_secret(setup.server())
        };
        master["port"] = proxy_port.into();
        secret["masterarn"] = create_secret(&master).await.into();
    }
    (user, old, create_secret(&secret).await)
}

fn cases() -> Vec<(&'static str, Inject)> {
    use Inject::*;
    let mut v = Vec::new();
    let aws = |v: &mut Vec<_>, step, ops: &[&'static str]| {
        for op in ops {
            v.push((step, AwsError(op)));
            v.push((step, AwsHang(op)));
            v.push((step, KillAfterAws(op)));
        }
    };
    aws(
        &mut v,
        "createSecret",
        &[
            "DescribeSecret",
            "GetSecretValue",
            "GetRandomPassword",
            "PutSecretValue",
        ],
    );
    aws(&mut v, "setSecret", &["DescribeSecret", "GetSecretValue"]);
    v.extend([
        ("setSecret", DbRefuse),
        ("setSecret", DbHang),
        ("setSecret", KillAfterEvent("db_connected")),
        ("setSecret", DbLock),
        ("setSecret", DbReadOnly),
        ("setSecret", KillAfterEvent("password_changed")),
    ]);
    aws(&mut v, "testSecret", &["DescribeSecret", "GetSecretValue"]);
    v.extend([
        ("testSecret", DbRefuse),
        ("testSecret", DbHang),
        ("testSecret", KillAfterEvent("db_connected")),
    ]);
    aws(
        &mut v,
        "finishSecret",
        &["DescribeSecret", "UpdateSecretVersionStage"],
    );
    v
}

/// What one case found.
#[derive(Debug)]
struct Found {
    setup: Setup,
    step: &'static str,
    inject: Inject,
    /// The cause the failed step named, or "killed".
    outcome: String,
    /// Which stored credentials logged in right after the failure.
    survivor: &'static str,
}

async fn run_case(setup: Setup, step_name: &'static str, inject: Inject) -> Found {
    let s = services();
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", setup.db_port()));
    let (user, old, arn) = fixture(setup, proxy.port).await;
    let token = start_rotation(&arn).await;
    let fault = FaultServer::start();
    let url = fault.url().to_string();
    let mut env = setup.env();
    env.push(("AWS_ENDPOINT_URL", url.as_str()));

    for st in STEPS.iter().take_while(|st| **st != step_name) {
        let run = step(&arn, &token, st, &env);
        assert_eq!(run.status, 0, "{st} before the fault:\n{}", run.stdout);
    }

    // Inject, run the step, record what it said.
    // Alternating users change the password as the master: the master session is the one
    // made read-only or blocked.
    let target_role = if setup.alternating() {
        value_at(&arn, "AWSCURRENT", None).await.unwrap()["masterarn"]
            .as_str()
            .map(str::to_string)
    } else {
        None
    };
    let sql_role = match &target_role {
        Some(master_arn) => value_at(master_arn, "AWSCURRENT", None).await.unwrap()["username"]
            .as_str()
            .unwrap()
            .to_string(),
        None => user.clone(),
    };
    let admin = pg_admin().await;
    let mut lock_tx = None;
    match inject {
        Inject::AwsError(op) => fault.error_always(
            op,
            500,
            "InternalServiceError",
            "injected by the fault matrix",
        ),
        Inject::AwsHang(op) => fault.hang(op),
        Inject::DbRefuse => proxy.set(Mode::Refuse),
        Inject::DbHang => proxy.set(Mode::Hang),
        Inject::DbReadOnly => admin
            .batch_execute(&format!(
                "ALTER ROLE \"{sql_role}\" SET default_transaction_read_only = on"
            ))
            .await
            .unwrap(),
        Inject::DbLock => {
            let (client, conn) = tokio_postgres::Config::new()
                .host("127.0.0.1")
                .port(s.pg_port)
                .user(&s.pg_admin_user)
                .password(&s.pg_admin_password)
                .dbname("postgres")
                .connect(tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!("BEGIN; ALTER ROLE \"{user}\" CONNECTION LIMIT 50"))
                .await
                .unwrap();
            lock_tx = Some(client);
        }
        Inject::KillAfterAws(_) | Inject::KillAfterEvent(_) => {}
    }
    let args = [
        "step",
        "--secret-id",
        arn.as_str(),
        "--token",
        token.as_str(),
        "--step",
        step_name,
        "--timeout-ms",
        // A short deadline where the fault is a wait (so the test does not wait 30 s);
        // Lambda's usual 30 s otherwise.
        if matches!(inject, Inject::AwsHang(_) | Inject::DbHang | Inject::DbLock) {
            "4000"
        } else {
            "30000"
        },
    ];
    let outcome = match inject {
        Inject::KillAfterAws(op) => {
            let (killed, out) = run_bin_killed_after(&args, &env, |e| {
                e["event"] == "aws_call" && e["operation"] == op
            });
            assert!(killed, "{step_name} never called {op}:\n{out}");
            "killed".to_string()
        }
        Inject::KillAfterEvent(ev) => {
            let (killed, out) = run_bin_killed_after(&args, &env, |e| e["event"] == ev);
            assert!(killed, "{step_name} never printed {ev}:\n{out}");
            "killed".to_string()
        }
        _ => {
            let run = tokio::task::spawn_blocking({
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let url = url.clone();
                move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let mut env = setup.env();
                    env.push(("AWS_ENDPOINT_URL", url.as_str()));
                    run_bin(&args, &env)
                }
            })
            .await
            .unwrap();
            assert_eq!(
                run.status, 1,
                "{step_name} with {inject:?} did not fail:\n{}",
                run.stdout
            );
            let cause = run.cause();
            assert_ne!(cause, "internal_error", "{}", run.stdout);
            cause
        }
    };

    // Heal everything.
    fault.heal();
    proxy.set(Mode::Pass);
    proxy.cut_all();
    if let Some(tx) = lock_tx.take() {
        tx.batch_execute("ROLLBACK").await.unwrap();
    }
    if matches!(inject, Inject::DbReadOnly) {
        admin
            .batch_execute(&format!(
                "ALTER ROLE \"{sql_role}\" RESET default_transaction_read_only"
            ))
            .await
            .unwrap();
    }

    // Nothing lost. Alternating users: AWSCURRENT always logs in (the other user is the one
    // changed). Single user: AWSCURRENT logs in, or — once setSecret changed the password,
    // before finishSecret — AWSPENDING (single user has that window, as the reference does).
    let current = value_at(&arn, "AWSCURRENT", None).await;
    let pending = value_at(&arn, "AWSPENDING", Some(&token)).await;
    let survivor = if setup_logs_in(setup, current).await {
        "AWSCURRENT"
    } else if !setup.alternating() && setup_logs_in(setup, pending).await {
        "AWSPENDING"
    } else {
        panic!("{setup:?} {step_name} / {inject:?}: no stored credentials log in");
    };

    // Secrets Manager retries the whole rotation, from createSecret, with the same token.
    for st in STEPS {
        let run = step(&arn, &token, st, &env);
        assert_eq!(
            run.status, 0,
            "{setup:?}: retry {st} after {step_name} / {inject:?}:\n{}",
            run.stdout
        );
    }
    assert!(stages(&arn).await[&token].contains(&"AWSCURRENT".to_string()));
    let now = value_at(&arn, "AWSCURRENT", None).await.unwrap();
    assert!(
        setup_logs_in(setup, Some(now.clone())).await,
        "{setup:?} {step_name} / {inject:?}: the new AWSCURRENT logs in"
    );
    if setup.alternating() {
        assert_ne!(
            now["username"],
            user.as_str(),
            "the other user of the pair is current"
        );
    } else {
        let mut old_secret = now.clone();
        old_secret["password"] = old.clone().into();
        assert!(
            !setup_logs_in(setup, Some(old_secret)).await,
            "the old password is gone"
        );
    }
    Found {
        setup,
        step: step_name,
        inject,
        outcome,
        survivor,
    }
}

/// The cases that apply: the lock and read-only injections are PostgreSQL's (MariaDB's and
/// MySQL's lock waits are covered by tests/it/mysql_family_single_user.rs, and their read-only
/// switches are server-wide);
/// for alternating users the lock is left out too (the clone does not exist to be locked
/// before the first rotation creates it).
fn cases_for(setup: Setup) -> Vec<(&'static str, Inject)> {
    cases()
        .into_iter()
        .filter(|(_, inj)| match inj {
            Inject::DbLock => setup == Setup::PgSingle,
            Inject::DbReadOnly => setup.pg(),
            _ => true,
        })
        .collect()
}

async fn survives_every_fault(setup: Setup) {
    // One setup at a time: hang cases run against their deadline, and four setups at once
    // on two cores would make the deadlines, not the faults, decide the outcomes.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    // A test of another suite may change a MariaDB or MySQL global setting meanwhile.
    let _shared = match setup {
        Setup::PgSingle | Setup::PgAlternating => None,
        _ => Some(crate::common::mysql::shared(setup.server()).await),
    };
    let all = cases_for(setup);
    let total = all.len();
    let mut found = Vec::new();
    // Four cases at a time: hangs wait for their deadline.
    for chunk in all.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|(st, inj)| tokio::spawn(run_case(setup, st, *inj)))
            .collect();
        for h in handles {
            found.push(h.await.expect("a fault case failed"));
        }
    }
    println!(
        "{:<18} {:<13} {:<40} {:<32} survivor",
        "setup", "step", "injection", "outcome"
    );
    for f in &found {
        println!(
            "{:<18} {:<13} {:<40} {:<32} {}",
            format!("{:?}", f.setup),
            f.step,
            format!("{:?}", f.inject),
            f.outcome,
            f.survivor
        );
    }
    println!(
        "fault matrix ({setup:?}): {} cases run of {total}, all recovered",
        found.len()
    );
    assert_eq!(found.len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_single_user_survives_every_fault() {
    survives_every_fault(Setup::PgSingle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_alternating_users_survive_every_fault() {
    survives_every_fault(Setup::PgAlternating).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_single_user_survives_every_fault() {
    survives_every_fault(Setup::MariaSingle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_alternating_users_survive_every_fault() {
    survives_every_fault(Setup::MariaAlternating).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_single_user_survives_every_fault() {
    survives_every_fault(Setup::MySqlSingle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_alternating_users_survive_every_fault() {
    survives_every_fault(Setup::MySqlAlternating).await;
}
