//! The workspace's integration tests, one module per file, built as one binary (see
//! `tests/Cargo.toml`). Each starts its own emulator on a free loopback port.

mod access_logs;
mod aws_behaviour;
mod aws_lifecycle;
mod dependencies;
mod dns;
mod faults;
mod guardrails;
mod kms;
mod limits;
mod live;
mod managed_policies;
mod network;
mod parameter_groups;
mod pipeline;
mod refresh;
mod secrets;
mod security_groups;
mod service;
mod services;
mod state_backends;
mod waf;
mod workflows;
