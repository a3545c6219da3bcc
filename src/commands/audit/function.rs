//! A rotation function as the audit sees it: GetFunctionConfiguration and ListTags, and the
//! rule that recognises a db-secret-rotator deployment.

use crate::outside::{hosted_app, is_this_project, AwsError, Clients, HostedApp, APPLICATION_TAG};
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
    let variables = out.environment().and_then(|e| e.variables());
    let this_project = is_this_project(runtime.as_deref(), out.description(), |name| {
        variables.is_some_and(|v| v.contains_key(name))
    });
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
            ours: named || this_project,
            app,
            tags_error,
        }),
    }
}
