//! The structure of the library, held by a test: the pure core does no IO and names nothing of
//! the edges, the model knows no resource type, the renderer does not depend on the executor,
//! and the AWS provider's imports run one way. (Lints catch printing and filesystem access; this
//! catches what lints cannot: which module may use which.)

// This test reads the library's sources.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path` (or `path` itself), with its text.
fn sources(path: &Path) -> Vec<(PathBuf, String)> {
    if path.is_file() {
        return vec![(path.to_path_buf(), std::fs::read_to_string(path).unwrap())];
    }
    let mut out = vec![];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() || entry.extension().is_some_and(|e| e == "rs") {
            out.extend(sources(&entry));
        }
    }
    out
}

/// The code of `text`: outside `#[cfg(test)]` modules (tests may do what the code may not), and
/// without comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Fails naming each file of `modules` whose code mentions one of `forbidden`.
fn forbid(modules: &[&str], forbidden: &[&str], why: &str) {
    let mut found = vec![];
    for module in modules {
        for (path, text) in sources(&src().join(module)) {
            let code = code(&text);
            for word in forbidden {
                if code.contains(word) {
                    found.push(format!("{} mentions `{word}`", path.strip_prefix(src()).unwrap().display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{why}:\n  {}", found.join("\n  "));
}

/// The modules of the pure core: model, plan, policy, rendering and what they share.
const PURE: &[&str] = &[
    "model",
    "resources",
    "graph.rs",
    "plan.rs",
    "policy",
    "render",
    "access.rs",
    "drift.rs",
    "report.rs",
    "saved.rs",
];

#[test]
fn the_pure_core_does_no_io() {
    forbid(
        PURE,
        &[
            "crate::provider",
            "crate::engine",
            "crate::apply",
            "state::local",
            "state::s3",
            "std::fs",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "std::process",
            "std::env",
            "tokio::",
            "aws_sdk_",
            "aws_config",
            "println!",
            "eprintln!",
        ],
        "the pure core (ARCHITECTURE.md: model, graph, plan, policy and rendering do no IO) reaches for IO",
    );
}

#[test]
fn the_model_knows_no_resource_type() {
    forbid(
        &["model"],
        &["crate::resources", "aws."],
        "the model names resource types (each type's checks are its schema's)",
    );
}

#[test]
fn the_provider_types_reach_aws_through_the_client_and_never_back_into_the_provider() {
    let aws = src().join("provider/aws");
    let mut found = vec![];
    for (path, text) in sources(&aws) {
        let name = path.strip_prefix(&aws).unwrap().display().to_string();
        if ["mod.rs", "registry.rs"].contains(&name.as_str()) {
            continue;
        }
        let code = code(&text);
        for word in ["AwsProvider", "registry::", "super::super", "mod.rs"] {
            if code.contains(word) {
                found.push(format!("provider/aws/{name} mentions `{word}`"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "imports in the AWS provider run one way (mod.rs -> registry -> types -> client, support):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn only_the_registry_lists_the_implementations_and_only_the_provider_dispatches_on_type_names() {
    // Type names appear where each type is defined (its schema), and nowhere else in the library's
    // code: dispatching on a type name by string is what the registry replaces.
    let mut found = vec![];
    for (path, text) in sources(&src()) {
        let name = path.strip_prefix(src()).unwrap().display().to_string();
        if name.starts_with("resources/") || name.ends_with("tests.rs") {
            continue;
        }
        for line in code(&text).lines() {
            // A type name: `"aws.SERVICE.TYPE"`.
            let named = line.split("\"aws.").skip(1).any(|rest| {
                let literal = rest.split('"').next().unwrap_or_default();
                literal.contains('.') && literal.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
            });
            if named {
                found.push(format!("{name}: {}", line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "resource type names spelled out of their schema:\n  {}", found.join("\n  "));
}
