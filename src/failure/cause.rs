//! The failure-cause taxonomy: one stable code per cause, its default remedy and a doc line,
//! in the one table below. The code is the Lambda `errorType`, the `cause` field of every
//! `step_failed` event and of a failed `diagnose` check, and never changes meaning; a new
//! cause is added here, never renamed.
//!
//! The [`Failure`](super::Failure) value that carries a cause lives in `failure/mod.rs`.

use std::fmt;

macro_rules! causes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $remedy:literal; )*) => {
        /// A documented failure cause. The code is the Lambda `errorType` and never changes meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Cause {
            $( $(#[$doc])* $variant, )*
        }

        impl Cause {
            /// Every cause, in the order of the table below.
            pub const ALL: &'static [Cause] = &[$(Cause::$variant),*];

            /// The stable snake_case code.
            pub fn code(self) -> &'static str {
                match self { $(Cause::$variant => $code,)* }
            }

            /// The default remedy: one or two sentences an operator can act on.
            pub fn remedy(self) -> &'static str {
                match self { $(Cause::$variant => $remedy,)* }
            }

            /// Looks a cause up by its code.
            pub fn from_code(code: &str) -> Option<Cause> {
                match code { $($code => Some(Cause::$variant),)* _ => None }
            }
        }
    };
}

causes! {
    /// A Secrets Manager call could not complete (DNS, connect, TLS, no response in time).
    SecretsManagerUnreachable => "secrets_manager_unreachable",
        "If the function runs in a VPC without internet access, add an interface VPC endpoint for Secrets Manager with private DNS enabled (or a NAT gateway); the endpoint's security group must allow TCP 443 from the function's security group, and the subnets' NACLs must allow 443 out and ephemeral ports back.";
    /// AccessDeniedException not about KMS.
    SecretsManagerAccessDenied => "secrets_manager_access_denied",
        "Grant the function's role secretsmanager:DescribeSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage on this secret and secretsmanager:GetRandomPassword; if a VPC endpoint policy is in the way, allow the role there too.";
    /// The error names KMS.
    KmsAccessDenied => "kms_access_denied",
        "Give the function's role kms:Decrypt (and kms:GenerateDataKey for writes) on the secret's KMS key, and check that any kms:EncryptionContext:SecretARN condition names this secret; make sure the key is enabled.";
    /// The secret (or master secret) does not exist.
    SecretNotFound => "secret_not_found",
        "Check the SecretId of the rotation event, or the masterarn key of the secret.";
    /// The RDS API cannot be reached (RDS-managed master secrets).
    RdsApiUnreachable => "rds_api_unreachable",
        "Add an interface VPC endpoint for RDS (com.amazonaws.<region>.rds) with private DNS, or a NAT gateway, so the function can call DescribeDBInstances / DescribeDBClusters.";
    /// An RDS Describe* call was denied.
    RdsApiAccessDenied => "rds_api_access_denied",
        "Allow rds:DescribeDBInstances and rds:DescribeDBClusters to the function's role.";
    /// Any other AWS error after the SDK's retries.
    AwsServiceError => "aws_service_error",
        "If transient (throttling, 5xx), Secrets Manager retries the rotation by itself; if it persists, act on the AWS error code and message in the evidence.";
    /// The event is not a valid rotation event.
    InvalidEvent => "invalid_event",
        "Invoke the function with a Secrets Manager rotation event: {\"Step\", \"SecretId\", \"ClientRequestToken\"}, Step one of createSecret, setSecret, testSecret, finishSecret.";
    /// DescribeSecret says rotation is disabled.
    RotationNotEnabled => "rotation_not_enabled",
        "Enable rotation on the secret (aws secretsmanager rotate-secret --secret-id <id> --rotation-lambda-arn <this function>).";
    /// The token is not among the secret's versions.
    VersionNotStaged => "version_not_staged",
        "Start the rotation again with aws secretsmanager rotate-secret --secret-id <id>.";
    /// The token's version lacks AWSPENDING.
    VersionNotPending => "version_not_pending",
        "Remove the stale AWSPENDING label with aws secretsmanager update-secret-version-stage --secret-id <id> --version-stage AWSPENDING --remove-from-version-id <pending_version_id>, then rotate again.";
    /// Not exactly one version holds AWSCURRENT: the secret has no one live value.
    StagingLabelsInvalid => "staging_labels_invalid",
        "Exactly one version must hold AWSCURRENT: inspect the labels with aws secretsmanager describe-secret --secret-id <id> and move AWSCURRENT onto the version the database uses with aws secretsmanager update-secret-version-stage.";
    /// The pending secret names another user or host than allowed.
    UserMismatch => "user_mismatch",
        "Fix the secret JSON so the pending version names the expected user and host; the function never rotates a different account.";
    /// A required key is absent from the secret JSON.
    SecretJsonMissingKey => "secret_json_missing_key",
        "Add the missing key to the secret JSON; see 'JSON structure of Secrets Manager database credentials' in the Secrets Manager user guide for the engine's keys.";
    /// The secret is not a JSON object, is binary, or has a key of the wrong type.
    SecretJsonInvalid => "secret_json_invalid",
        "Fix the secret value: it must be a JSON object with string username/password/host/engine, port a number (or numeric string) and ssl a boolean (or \"true\"/\"false\").";
    /// `engine` is not supported.
    UnsupportedEngine => "unsupported_engine",
        "Set engine to one of postgres, aurora-postgresql, mysql, aurora-mysql, mariadb.";
    /// DNS failure, connect refused, connect or handshake timeout.
    DbUnreachable => "db_unreachable",
        "Run the function in the database's VPC; its security group must allow outbound to the database port and the database's security group must allow inbound from the function's; check host and port in the secret.";
    /// The server rejected the credentials.
    DbLoginFailed => "db_login_failed",
        "The password was changed outside rotation, or the user no longer exists (PostgreSQL answers both alike): log in by hand with the AWSCURRENT and AWSPREVIOUS values (aws secretsmanager get-secret-value --version-stage AWSCURRENT / AWSPREVIOUS), check the user exists, and reset the database password to the AWSCURRENT value.";
    /// The server refuses a plaintext connection.
    DbTlsRequired => "db_tls_required",
        "The server requires TLS for this account: set \"ssl\": true in the secret (or remove \"ssl\": false).";
    /// `"ssl": true` but the server does not offer TLS.
    DbTlsUnavailable => "db_tls_unavailable",
        "Enable TLS on the database server, or set \"ssl\": false in the secret.";
    /// Certificate chain untrusted, expired, or host name mismatch.
    DbTlsVerificationFailed => "db_tls_verification_failed",
        "Point DB_CA_BUNDLE at the RDS CA bundle (or your CA's PEM), and use the endpoint name the certificate carries in host, not a CNAME or an IP address.";
    /// The server asks for an authentication method this client cannot perform.
    DbAuthMethodUnsupported => "db_auth_method_unsupported",
        "Use password authentication for this account (scram-sha-256 preferred for PostgreSQL; mysql_native_password or caching_sha2_password for MySQL).";
    /// No rule admits this user from here.
    DbAccessRuleMissing => "db_access_rule_missing",
        "Admit this user from the function's address: add a pg_hba.conf rule (PostgreSQL) or a host grant / the account (MySQL), or create the user.";
    /// The secret's dbname does not exist.
    DbDatabaseMissing => "db_database_missing",
        "Fix dbname in the secret, or remove it to use the engine's default.";
    /// A statement was refused for lack of privilege.
    DbPermissionDenied => "db_permission_denied",
        "For alternating users the master needs CREATEROLE (PostgreSQL) or CREATE USER and GRANT OPTION (MySQL); a single user must be allowed to change its own password.";
    /// The server refused the new password.
    DbPasswordRejected => "db_password_rejected",
        "Match EXCLUDE_CHARACTERS, PASSWORD_LENGTH and REQUIRE_EACH_INCLUDED_TYPE to the server's password policy.";
    /// The host is a replica or reader.
    DbReadOnly => "db_read_only",
        "Point the secret's host at the writer (primary) endpoint, or use alternating users with the master on the writer.";
    /// Too many connections, server starting or stopping, connection dropped.
    DbUnavailable => "db_unavailable",
        "Transient: Secrets Manager retries the rotation by itself; if it persists, check the server's connection limit and state.";
    /// The deadline is near and the operation in flight is not a network wait named otherwise.
    FunctionTimeoutImminent => "function_timeout_imminent",
        "Raise the function timeout, and look for locks or long transactions on the database that block the statement.";
    /// A Secrets Manager VPC endpoint policy does not allow a call of the rotation.
    VpcEndpointPolicyDenies => "vpc_endpoint_policy_denies",
        "Allow the function's role secretsmanager:DescribeSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage on the secret and GetRandomPassword in the endpoint's policy (aws ec2 modify-vpc-endpoint --vpc-endpoint-id ID --policy-document ...), and narrow any Deny statement that applies to it.";
    /// The key policy of the secret's customer managed key does not let the role use it.
    KmsKeyPolicyDenies => "kms_key_policy_denies",
        "Add a key policy statement that allows the function's role kms:Decrypt and kms:GenerateDataKey with kms:ViaService secretsmanager.<region>.amazonaws.com, and make any kms:EncryptionContext:SecretARN condition name this secret (aws kms put-key-policy --key-id ID --policy-name default --policy ...).";
    /// The secret's KMS key is disabled or pending deletion.
    KmsKeyUnusable => "kms_key_unusable",
        "Enable the key (aws kms enable-key --key-id ID), or cancel its deletion first (aws kms cancel-key-deletion --key-id ID).";
    /// The function's role lacks (or is denied) an action the rotation calls.
    RolePermissionMissing => "role_permission_missing",
        "Grant the role the listed actions on the listed resource (aws iam put-role-policy ...), or narrow the Deny (a permissions boundary or organization policy) that blocks them.";
    /// A rotation function could not load its code (read from its logs: "Unable to import module").
    FunctionImportError => "function_import_error",
        "The function's code does not load on its runtime: rebuild the bundle for the configured runtime (native modules such as _pg or libpq for that Python version), or move the secret to db-secret-rotator with the migrate command.";
    /// An old rotation function bundles a libpq from PostgreSQL 9.x, which cannot log in with
    /// SCRAM-SHA-256 (read from its package).
    LegacyLibpqWithoutScram => "legacy_libpq_without_scram",
        "The function's bundled libpq predates SCRAM-SHA-256: move the secret to db-secret-rotator with the migrate command, or redeploy the current reference function (its stack's update is in the evidence and remedy of the check).";
    /// An old MySQL rotation function sets passwords with PASSWORD() on MySQL 9, which has none
    /// (read from its package and the database's engine version).
    LegacyMysql9Unsupported => "legacy_mysql9_unsupported",
        "The function's version test only knows MySQL 5.x and 8.x and falls back to PASSWORD(), removed in 8.0.11: move the secret to db-secret-rotator with the migrate command.";
    /// A rotation function ran out of time, and its last line names no other cause (read from its logs).
    FunctionTimedOut => "function_timed_out",
        "Read the last line before the timeout: it is what the function was waiting on. Raise the function timeout, and check the path from the function to the database and to Secrets Manager (diagnose --scope config).";
    /// A rotation function failed in a way its logs do not let us name.
    UnrecognisedFailure => "unrecognised_failure",
        "Read the evidence line and the lines around it in the function's log group; run diagnose on the secret to name the cause from the inside.";
    /// The rotation function (the secret's, or the one named) does not exist.
    FunctionNotFound => "function_not_found",
        "Point the secret at an existing rotation function (aws secretsmanager rotate-secret --secret-id <id> --rotation-lambda-arn <function ARN>), or deploy the function first.";
    /// The function's timeout cannot hold one step's worst case.
    FunctionTimeoutTooShort => "function_timeout_too_short",
        "Raise the function timeout above one step's worst case (connect timeouts plus DEADLINE_MARGIN_MS): aws lambda update-function-configuration --function-name <function> --timeout 30.";
    /// Reserved concurrency below 10 throttles Secrets Manager's invocations into retries.
    FunctionConcurrencyTooLow => "function_concurrency_too_low",
        "Set reserved concurrency to 10 or more, or remove it: aws lambda put-function-concurrency --function-name <function> --reserved-concurrent-executions 10.";
    /// The function's resource policy does not let Secrets Manager invoke it.
    FunctionInvokePermissionMissing => "function_invoke_permission_missing",
        "Let Secrets Manager invoke the function: aws lambda add-permission --function-name <function> --statement-id SecretsManagerAccess --action lambda:InvokeFunction --principal secretsmanager.amazonaws.com.";
    /// A function subnet has neither a Secrets Manager endpoint reachable by name nor a NAT route.
    SecretsManagerNoRoute => "secrets_manager_no_route",
        "Add an interface VPC endpoint for Secrets Manager with private DNS in the function's subnets (aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --service-name com.amazonaws.<region>.secretsmanager --private-dns-enabled ...), or route 0.0.0.0/0 to a NAT gateway.";
    /// No security group of the endpoint admits TCP 443 from the function.
    VpcEndpointSecurityGroupBlocks => "vpc_endpoint_security_group_blocks",
        "Let the endpoint's security group admit TCP 443 from the function's security group: aws ec2 authorize-security-group-ingress --group-id <endpoint group> --protocol tcp --port 443 --source-group <function group>.";
    /// No security group of the function lets it out to the endpoint or database port.
    SecurityGroupEgressBlocks => "security_group_egress_blocks",
        "Add an outbound rule to the function's security group for the port and destination named in the evidence (aws ec2 authorize-security-group-egress).";
    /// A network ACL on the path denies the request or its return traffic.
    NetworkAclBlocks => "network_acl_blocks",
        "Add an allow entry below the blocking rule number for the traffic named in the evidence (aws ec2 create-network-acl-entry); ACLs are stateless, so return traffic on ports 1024-65535 needs its own entry.";
    /// The function is not in the database's VPC and no path is known.
    FunctionOutsideDbVpc => "function_outside_db_vpc",
        "Attach the function to subnets of the database's VPC (aws lambda update-function-configuration --vpc-config SubnetIds=...,SecurityGroupIds=...), or connect the VPCs.";
    /// No security group of the database admits its port from the function.
    DbSecurityGroupBlocks => "db_security_group_blocks",
        "Let the database's security group admit its port from the function's security group: aws ec2 authorize-security-group-ingress --group-id <database group> --protocol tcp --port <port> --source-group <function group>.";
    /// Alternating users with an RDS-managed master, and a subnet cannot reach the RDS API.
    RdsApiNoRoute => "rds_api_no_route",
        "Add an interface VPC endpoint for RDS (com.amazonaws.<region>.rds) with private DNS in the function's subnets, or route 0.0.0.0/0 to a NAT gateway.";
    /// Anything not classified above.
    InternalError => "internal_error",
        "This is a bug in db-secret-rotator: report it with this event (it contains no secret values).";
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for cause in Cause::ALL {
            let code = cause.code();
            assert!(seen.insert(code), "duplicate code {code}");
            // snake_case: a letter first, then letters, digits (`legacy_mysql9_unsupported`), `_`.
            assert!(code.starts_with(|c: char| c.is_ascii_lowercase()));
            assert!(code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert_eq!(Cause::from_code(code), Some(*cause));
            assert!(cause.remedy().len() > 20, "{code} needs a real remedy");
        }
        assert_eq!(Cause::ALL.len(), 50);
    }
}
