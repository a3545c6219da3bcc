//! Old rotation functions, read the way the troubleshooting guide reads them by hand: their
//! deployment package ([`bundle`]: native modules, libpq, the handler source), their runtime's
//! lifecycle, and the CloudFormation stack that made them ([`Stack`]), turned into findings
//! with the guide's upgrade options made concrete. [`findings`] is pure; [`read`] gathers
//! its input through the operator's read-only calls, once per function ([`Package`]), then
//! judged for each secret the function rotates.

pub mod bundle;
pub mod read;

pub use read::{inspect, read as read_function, Inspection, Package};

use crate::engine::Engine;
use crate::outside::runtimes;
use crate::text::shell_quote;
use bundle::{runtime_python, Bundle};
use serde_json::{json, Map, Value};

/// A finding's weight: a `fail` breaks rotations, a `warn` will or may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rotations fail now.
    Fail,
    /// Rotations work, with a risk named in the message.
    Warn,
}

/// One thing found about an old function.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// `function_import_error`, `legacy_libpq_without_scram`, `legacy_without_tls`,
    /// `legacy_mysql9_unsupported`, `legacy_runtime_deprecated`.
    pub code: &'static str,
    /// Fail or warn.
    pub severity: Severity,
    /// One sentence.
    pub message: String,
    /// The facts it rests on (file names, versions, ABI tags, dates, stack).
    pub evidence: Map<String, Value>,
    /// What to do, most direct option first.
    pub remedy: String,
}

/// The CloudFormation stack behind a function (its `aws:cloudformation:stack-name` tag).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stack {
    /// Its name.
    pub name: String,
    /// Its creation time, RFC 3339.
    pub created: String,
    /// The parameters it was created with, by name (a hosted rotation's nested stack has
    /// `functionName`, and the newer ones `runtime`).
    pub parameters: Vec<(String, String)>,
}

impl Stack {
    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the findings are judged against.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The function's name.
    pub function: String,
    /// Its configured runtime (none for a container image).
    pub runtime: Option<String>,
    /// The secret's ARN (named in the remedies).
    pub secret_arn: String,
    /// The secret's engine, when its JSON was readable.
    pub engine: Option<Engine>,
    /// The database's engine version as RDS reports it (`9.1.0`), when known.
    pub engine_version: Option<String>,
    /// The stack behind the function, when its tag names one that still exists.
    pub stack: Option<Stack>,
    /// The function that is to replace it (named in `migrate` remedies).
    pub replacement: Option<String>,
    /// Today, `YYYY-MM-DD`.
    pub today: String,
}

/// The reference templates gained TLS on 20 December 2021 and SCRAM-capable libpq on 30
/// December 2021: a stack created before those dates deployed the older code.
const TLS_SINCE: &str = "2021-12-20";
const SCRAM_SINCE: &str = "2021-12-30";

impl Context {
    fn migrate_command(&self) -> String {
        format!(
            "db-secret-rotator migrate --secret-id {} --function {}",
            shell_quote(&self.secret_arn),
            shell_quote(
                self.replacement
                    .as_deref()
                    .unwrap_or("<db-secret-rotator function>")
            )
        )
    }

    /// The guide's upgrade options, concretely: migrate first, then what to change in the
    /// stack (a hosted rotation stack rebuilds its function under a new `functionName`, or
    /// on a newer `runtime` where it has that parameter), else redeploy.
    fn upgrade(&self) -> String {
        let mut options = vec![format!(
            "Move the secret to db-secret-rotator: {}",
            self.migrate_command()
        )];
        match &self.stack {
            Some(s) if s.parameter("runtime").is_some() => options.push(format!(
                "or update stack {} with its parameter runtime set to python3.12 (aws cloudformation update-stack --stack-name {} --use-previous-template --parameters ParameterKey=runtime,ParameterValue=python3.12 …, other parameters with UsePreviousValue=true)",
                s.name,
                shell_quote(&s.name)
            )),
            Some(s) if s.parameter("functionName").is_some() => options.push(format!(
                "or update stack {} with a new functionName (today {}), so it deploys the current reference function (aws cloudformation update-stack --stack-name {} --use-previous-template --parameters ParameterKey=functionName,ParameterValue={}-v2 …, other parameters with UsePreviousValue=true)",
                s.name,
                s.parameter("functionName").unwrap_or_default(),
                shell_quote(&s.name),
                s.parameter("functionName").unwrap_or_default()
            )),
            Some(s) => options.push(format!(
                "or redeploy the rotation application of stack {} from its current version",
                s.name
            )),
            None => options.push(
                "or redeploy the current reference rotation function for this engine".to_string(),
            ),
        }
        format!("{}.", options.join("; "))
    }

    fn stack_evidence(&self, evidence: &mut Map<String, Value>) {
        if let Some(s) = &self.stack {
            evidence.insert("stack".into(), json!(s.name));
            evidence.insert("stack_created".into(), json!(s.created));
        }
    }
}

/// What the package and the context say, fails first.
pub fn findings(bundle: &Bundle, ctx: &Context) -> Vec<Finding> {
    let handler = bundle.handler.as_ref();
    let mut found: Vec<Finding> = [
        import_error(bundle, ctx),
        libpq_without_scram(bundle, ctx),
        handler.and_then(|h| mysql9_unsupported(h, ctx)),
        handler.and_then(|h| without_tls(h, ctx)),
        stack_before_scram(bundle, ctx),
        runtime_finding(ctx),
    ]
    .into_iter()
    .flatten()
    .collect();
    found.sort_by_key(|f| f.severity != Severity::Fail);
    found
}

impl Context {
    /// A finding with the stack in its evidence and the guide's upgrade options as remedy.
    fn finding(
        &self,
        code: &'static str,
        severity: Severity,
        message: String,
        mut evidence: Map<String, Value>,
    ) -> Finding {
        self.stack_evidence(&mut evidence);
        Finding {
            code,
            severity,
            message,
            evidence,
            remedy: self.upgrade(),
        }
    }

    fn postgres(&self) -> bool {
        self.engine
            .is_some_and(|e| e.family() == crate::engine::EngineFamily::Postgres)
    }
}

/// `function_import_error`: a native module built for another Python than the runtime's
/// (one module is enough to break the import; the others say the same).
fn import_error(bundle: &Bundle, ctx: &Context) -> Option<Finding> {
    let has = ctx.runtime.as_deref().and_then(runtime_python)?;
    let (m, needs) = bundle.native_modules.iter().find_map(|m| {
        m.python
            .filter(|needs| *needs != has)
            .map(|needs| (m, needs))
    })?;
    let mut evidence = Map::new();
    evidence.insert("module".into(), json!(m.path));
    evidence.insert("abi".into(), json!(m.abi));
    evidence.insert("runtime".into(), json!(ctx.runtime));
    Some(ctx.finding(
        "function_import_error",
        Severity::Fail,
        format!(
            "{} was built for Python {}.{} ({}), but the function runs {}: Lambda answers \"Unable to import module 'lambda_function'\"",
            m.path,
            needs.0,
            needs.1,
            m.abi,
            ctx.runtime.as_deref().unwrap_or("?")
        ),
        evidence,
    ))
}

/// `legacy_libpq_without_scram`: the bundled libpq is from PostgreSQL 9.x (PostgreSQL
/// secrets only: the other engines do not use it).
fn libpq_without_scram(bundle: &Bundle, ctx: &Context) -> Option<Finding> {
    let libpq = bundle.libpq.as_ref().filter(|_| ctx.postgres())?;
    let (major, read_from) = libpq.major.filter(|(major, _)| *major < 10)?;
    let mut evidence = Map::new();
    evidence.insert("libpq".into(), json!(libpq.path));
    evidence.insert("postgresql_major".into(), json!(major));
    evidence.insert("read_from".into(), json!(read_from));
    evidence.insert("runpath".into(), json!(libpq.runpaths));
    Some(ctx.finding(
        "legacy_libpq_without_scram",
        Severity::Fail,
        format!(
            "the bundled libpq comes from PostgreSQL {major}, which cannot log in with SCRAM-SHA-256: \"setSecret: Unable to log into database\" on servers that store SCRAM passwords (Aurora PostgreSQL 13+, RDS for PostgreSQL 14+)"
        ),
        evidence,
    ))
}

/// `legacy_mysql9_unsupported`: the MySQL function's version test on a MySQL 9 database.
fn mysql9_unsupported(h: &bundle::Handler, ctx: &Context) -> Option<Finding> {
    let major = ctx
        .engine_version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())?;
    if !(h.mysql_version_test_8_only && ctx.engine == Some(Engine::MySql) && major >= 9) {
        return None;
    }
    let mut evidence = Map::new();
    evidence.insert("engine_version".into(), json!(ctx.engine_version));
    evidence.insert("handler".into(), json!("lambda_function.py"));
    Some(ctx.finding(
        "legacy_mysql9_unsupported",
        Severity::Fail,
        format!(
            "the function sets the password with PASSWORD() on every server whose version does not start with \"8\", and MySQL {} has no PASSWORD() (removed in 8.0.11): setSecret fails",
            ctx.engine_version.as_deref().unwrap_or("9")
        ),
        evidence,
    ))
}

/// `legacy_without_tls`: the handler passes no TLS settings to its driver.
fn without_tls(h: &bundle::Handler, ctx: &Context) -> Option<Finding> {
    if h.tls {
        return None;
    }
    let mut evidence = Map::new();
    evidence.insert("handler".into(), json!("lambda_function.py"));
    let dated = ctx
        .stack
        .as_ref()
        .filter(|s| s.created.as_str() < TLS_SINCE)
        .map(|s| {
            format!(
                " (stack {} was created {}, before {TLS_SINCE})",
                s.name, &s.created
            )
        })
        .unwrap_or_default();
    Some(ctx.finding(
        "legacy_without_tls",
        Severity::Warn,
        format!(
            "the function's code passes no TLS settings to its driver, so it logs in without TLS{dated}; a server that requires TLS refuses it"
        ),
        evidence,
    ))
}

/// No libpq in the package (or none readable) for a PostgreSQL secret: the stack's creation
/// date is the guide's test.
fn stack_before_scram(bundle: &Bundle, ctx: &Context) -> Option<Finding> {
    if bundle.libpq.is_some() || !ctx.postgres() {
        return None;
    }
    let s = ctx
        .stack
        .as_ref()
        .filter(|s| s.created.as_str() < SCRAM_SINCE)?;
    Some(ctx.finding(
        "legacy_libpq_without_scram",
        Severity::Warn,
        format!(
            "stack {} was created {}, before the reference functions gained a SCRAM-capable libpq ({SCRAM_SINCE}); the package did not show its libpq",
            s.name, s.created
        ),
        Map::new(),
    ))
}

/// `legacy_runtime_deprecated`: the configured runtime is deprecated, with its dates.
pub fn runtime_finding(ctx: &Context) -> Option<Finding> {
    let runtime = ctx.runtime.as_deref()?;
    let dep = runtimes::deprecation(runtime)?;
    if !dep.in_effect_on(&ctx.today) {
        return None;
    }
    let mut evidence = Map::new();
    evidence.insert("runtime".into(), json!(runtime));
    evidence.insert("deprecated_on".into(), json!(dep.deprecated_on));
    evidence.insert("block_create".into(), json!(dep.block_create));
    evidence.insert("block_update".into(), json!(dep.block_update));
    evidence.insert("dates_as_of".into(), json!(runtimes::AS_OF));
    let update = match dep.block_update {
        Some(date) if date <= ctx.today.as_str() => {
            format!("; since {date} the function can no longer be updated")
        }
        Some(date) => format!("; from {date} it can no longer be updated"),
        None => String::new(),
    };
    Some(ctx.finding(
        "legacy_runtime_deprecated",
        Severity::Warn,
        format!("{runtime} was deprecated on {}{update}", dep.deprecated_on),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::bundle::{Handler, Libpq, NativeModule};
    use super::*;

    fn ctx(runtime: &str, engine: Engine) -> Context {
        Context {
            function: "old-rotation".into(),
            runtime: Some(runtime.into()),
            secret_arn: "arn:aws:secretsmanager:us-east-1:1:secret:app-Ab12".into(),
            engine: Some(engine),
            engine_version: None,
            stack: None,
            replacement: Some("db-secret-rotator".into()),
            today: "2026-12-06".into(),
        }
    }

    fn pg37() -> NativeModule {
        NativeModule {
            path: "pg/_pg.cpython-37m-x86_64-linux-gnu.so".into(),
            abi: "cpython-37m".into(),
            python: Some((3, 7)),
        }
    }

    #[test]
    fn a_cpython37_module_under_python39_is_an_import_error_and_under_python37_is_not() {
        let b = Bundle {
            native_modules: vec![pg37()],
            ..Bundle::default()
        };
        let f = findings(&b, &ctx("python3.9", Engine::Postgres));
        assert_eq!(f[0].code, "function_import_error");
        assert_eq!(f[0].severity, Severity::Fail);
        assert!(f[0].remedy.starts_with("Move the secret to db-secret-rotator: db-secret-rotator migrate --secret-id arn:aws:secretsmanager:us-east-1:1:secret:app-Ab12 --function db-secret-rotator"), "{}", f[0].remedy);
        let f = findings(&b, &ctx("python3.7", Engine::Postgres));
        assert!(f.iter().all(|f| f.code != "function_import_error"));
    }

    #[test]
    fn libpq_from_postgresql_9_fails_a_postgres_secret_and_14_does_not() {
        let old = Libpq {
            path: "libpq.so.5".into(),
            runpaths: vec!["/opt/PostgreSQL-9.4.x/lib".into()],
            major: Some((9, "runpath")),
        };
        let b = Bundle {
            libpq: Some(old.clone()),
            ..Bundle::default()
        };
        let f = findings(&b, &ctx("python3.12", Engine::Postgres));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "legacy_libpq_without_scram");
        assert_eq!(f[0].evidence["postgresql_major"], 9);
        // A MySQL secret does not use libpq.
        assert!(findings(&b, &ctx("python3.12", Engine::MySql)).is_empty());
        let b = Bundle {
            libpq: Some(Libpq {
                major: Some((14, "runpath")),
                ..old
            }),
            ..Bundle::default()
        };
        assert!(findings(&b, &ctx("python3.12", Engine::Postgres)).is_empty());
    }

    #[test]
    fn the_mysql_8_test_fails_on_mysql_9_only() {
        let b = Bundle {
            handler: Some(Handler {
                tls: true,
                mysql_version_test_8_only: true,
            }),
            ..Bundle::default()
        };
        let mut c = ctx("python3.12", Engine::MySql);
        c.engine_version = Some("9.1.0".into());
        let f = findings(&b, &c);
        assert_eq!(f[0].code, "legacy_mysql9_unsupported");
        c.engine_version = Some("8.0.39".into());
        assert!(findings(&b, &c).is_empty());
        let mut maria = ctx("python3.12", Engine::MariaDb);
        maria.engine_version = Some("10.11.9".into());
        assert!(findings(&b, &maria).is_empty());
    }

    #[test]
    fn code_without_tls_is_a_warning_dated_by_its_stack() {
        let b = Bundle {
            handler: Some(Handler::default()),
            ..Bundle::default()
        };
        let mut c = ctx("python3.12", Engine::MySql);
        c.stack = Some(Stack {
            name: "rotation-app".into(),
            created: "2021-06-01T10:00:00Z".into(),
            parameters: vec![("functionName".into(), "old-rotation".into())],
        });
        let f = findings(&b, &c);
        assert_eq!(f[0].code, "legacy_without_tls");
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0]
            .message
            .contains("stack rotation-app was created 2021-06-01T10:00:00Z"));
        assert!(f[0]
            .remedy
            .contains("ParameterKey=functionName,ParameterValue=old-rotation-v2"));
        assert_eq!(f[0].evidence["stack"], "rotation-app");
    }

    #[test]
    fn a_deprecated_runtime_is_a_warning_with_its_dates() {
        let f = runtime_finding(&ctx("python3.7", Engine::Postgres)).unwrap();
        assert_eq!(f.code, "legacy_runtime_deprecated");
        assert_eq!(f.evidence["block_update"], "2027-03-03");
        assert!(f
            .message
            .contains("from 2027-03-03 it can no longer be updated"));
        assert!(runtime_finding(&ctx("python3.12", Engine::Postgres)).is_none());
    }
}
