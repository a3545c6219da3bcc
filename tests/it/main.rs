//! The integration suite, one test crate: every suite is a module (the file's name), all of
//! them linked once against the harness in `common/`. `cargo test --test it causes_db::`
//! runs one suite; tests/README.md says where a test lives and how to add a suite.

mod common;

mod audit;
mod bootstrap;
mod call_budget;
mod cargo_lambda;
mod causes_aws;
mod causes_db;
mod causes_pg;
mod concurrency;
mod diagnose;
mod diagnose_config;
mod endpoints;
mod fault_matrix;
mod iam_policy;
mod lambda_runtime;
mod leak_scan;
mod legacy;
mod log_format;
mod logs;
mod migrate;
mod mysql_family_alternating;
mod mysql_family_single_user;
mod operator_policy;
mod outside_network;
mod outside_policy;
mod pg_alternating;
mod pg_single_user;
mod random_password;
mod rds_certs;
mod rds_master;
mod repair;
mod soak;
mod store_versions;
mod template;
mod tls_chain;
mod transient;
