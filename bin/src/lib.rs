//! `platform`, the command line: plan, apply and destroy typed AWS stacks, check them against
//! the guardrails, report drift. [`main`] runs it; each command is a module of `commands`.
//!
//! The CLI is the one part of the project that prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod catalog;
mod cli;
mod commands;
mod progress;
mod select;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

/// Runs `platform` with the process's arguments: errors are printed once, with their whole
/// chain of causes, and give exit code 1.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PLATFORM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
