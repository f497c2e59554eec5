//! The terminal: whether output is coloured, and asking before changing anything.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use platform::model::StackSpec;
use platform::render::Palette;

/// The palette for standard output: colours when it is a terminal that takes them, unless
/// `NO_COLOR` is set (or `CLICOLOR_FORCE` asks for them anyway), as anstream decides.
pub fn palette() -> Palette {
    match anstream::AutoStream::choice(&std::io::stdout()) {
        anstream::ColorChoice::Never => Palette::PLAIN,
        _ => Palette::ANSI,
    }
}

/// Asks before applying or destroying; only `yes` goes on. Refuses without a terminal.
pub fn confirm(specs: &[&StackSpec], destroy: bool) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {} without confirmation: standard input is not a terminal; pass --yes",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let verb = if destroy { "Destroy every resource of" } else { "Apply these changes to" };
    let names: Vec<String> = specs.iter().map(|s| format!("`{}`", s.name)).collect();
    let env = specs.first().map(|s| s.env.to_string()).unwrap_or_default();
    print!("\n{verb} {} in `{env}`? Only `yes` is accepted: ", names.join(", "));
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
