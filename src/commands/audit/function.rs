//! A rotation function as the audit sees it: GetFunctionConfiguration and ListTags, and the
//! rule that recognises a db-secret-rotator deployment.

use crate::outside::{hosted_app, AwsError, Clients, HostedApp, APPLICATION_TAG};
use crate::text::function_name;

/// What GetFunctionConfiguration and ListTags say about a rotation function.
#[derive(Debug, Clone)]
pub struct Function {
    /// The ARN (as the secret names it, or as Lambda answered).
    pub arn: String,
    /// The configuration, or why it could not be read.
    pub config: Result<FunctionConfig, AwsError>,
}

/// A readable function's facts.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The ARN Lambda answered with.
    pub arn: String,
    /// The runtime identifier (`None` for container images).
    pub runtime: Option<String>,
    /// Whether it is a db-secret-rotator deployment.
    pub ours: bool,
    /// The hosted rotation application it came from, from its tag.
    pub app: Option<HostedApp>,
    /// Why the tags could not be read, when they could not (the application is then unknown).
    pub tags_error: Option<AwsError>,
}

impl Function {
    /// The runtime, when the configuration was readable.
    pub fn runtime(&self) -> Option<&str> {
        self.config.as_ref().ok().and_then(|c| c.runtime.as_deref())
    }
}

/// Whether a function's description says it is a db-secret-rotator deployment: this
/// project's template writes its name into the description, so the name anywhere in it
/// counts.
pub fn describes_this_project(description: &str) -> bool {
    description.contains("db-secret-rotator")
}

/// Reads a function's configuration and tags. `ours` names functions the caller says are
/// db-secret-rotator deployments (`--function`); a deployment of this project's template is
/// recognised by itself (its description, or its environment variable names on an OS-only
/// runtime; no variable value is looked at).
pub async fn lookup(clients: &Clients, name_or_arn: &str, ours: &[String]) -> Function {
    let got = clients
        .call(
            "lambda",
            "GetFunctionConfiguration",
            clients
                .lambda
                .get_function_configuration()
                .function_name(name_or_arn)
                .send(),
        )
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) => {
            return Function {
                arn: name_or_arn.to_string(),
                config: Err(e),
            }
        }
    };
    let arn = out.function_arn().unwrap_or(name_or_arn).to_string();
    let runtime = out.runtime().map(|r| r.as_str().to_string());
    let named = ours.iter().any(|f| function_name(f) == function_name(&arn));
    let described = out.description().is_some_and(describes_this_project);
    let env_names = out
        .environment()
        .and_then(|e| e.variables())
        .is_some_and(|v| v.contains_key("ROTATION_STRATEGY") && v.contains_key("TLS_FALLBACK"));
    let os_only = runtime
        .as_deref()
        .is_some_and(|r| r.starts_with("provided"));
    let tags = clients
        .call(
            "lambda",
            "ListTags",
            clients.lambda.list_tags().resource(&arn).send(),
        )
        .await;
    let (app, tags_error) = match tags {
        Ok(t) => (
            t.tags()
                .and_then(|t| t.get(APPLICATION_TAG))
                .map(|id| hosted_app(id)),
            None,
        ),
        Err(e) => (None, Some(e)),
    };
    Function {
        arn: arn.clone(),
        config: Ok(FunctionConfig {
            arn,
            runtime,
            ours: named || (os_only && (described || env_names)),
            app,
            tags_error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_naming_the_project_anywhere_marks_it_ours() {
        assert!(describes_this_project(
            "Secrets Manager rotation for PostgreSQL, MySQL and MariaDB (db-secret-rotator)"
        ));
        assert!(describes_this_project("db-secret-rotator"));
        assert!(!describes_this_project("Rotates RDS PostgreSQL secrets"));
        // The exact spelling counts: another project's name is not this one.
        assert!(!describes_this_project("db secret rotator"));
        assert!(!describes_this_project("DB-Secret-Rotator"));
        assert!(!describes_this_project(""));
    }
}
