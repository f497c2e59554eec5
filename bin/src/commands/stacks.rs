//! `platform stacks`: the catalog and the environments.

use std::process::ExitCode;

use anyhow::{anyhow, Result};

use crate::catalog;

pub fn run() -> Result<ExitCode> {
    let environments = stacks::Environments::builtin();
    let specs = catalog::build(environments.get("dev").map_err(|e| anyhow!(e))?, "none")?;
    for (entry, spec) in catalog::ENTRIES.iter().zip(&specs) {
        let uses = spec.upstream.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        let uses = if uses.is_empty() { String::new() } else { format!(" (uses {uses})") };
        println!("{:<18} {}{uses}", entry.name, entry.description);
    }
    println!("\nenvironments: {}", environments.names().join(", "));
    Ok(ExitCode::SUCCESS)
}
