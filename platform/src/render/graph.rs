//! The dependency graph of stacks, as Graphviz dot or a Mermaid flowchart.

use std::fmt::Write;

/// The resources of `specs` and their dependencies as a Graphviz `dot` document: one cluster per
/// stack, an edge from each resource to each resource it depends on (dashed across stacks).
pub fn graph_dot(specs: &[&crate::StackSpec]) -> String {
    let mut out = String::from("digraph platform {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for (i, spec) in specs.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label=\"{} ({})\";", spec.name, spec.env);
        for r in &spec.resources {
            let _ = writeln!(out, "    \"{}\" [label=\"{}\\n{}\"];", r.address, r.address.name(), r.type_name);
        }
        out.push_str("  }\n");
    }
    for spec in specs {
        for r in &spec.resources {
            for d in &r.dependencies {
                let style = if d.stack() != spec.name { " [style=dashed]" } else { "" };
                let _ = writeln!(out, "  \"{}\" -> \"{d}\"{style};", r.address);
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The same graph as a Mermaid flowchart (renders in GitHub comments and Markdown files).
pub fn graph_mermaid(specs: &[&crate::StackSpec]) -> String {
    let id = |a: &crate::Address| a.to_string().replace(['.', '-'], "_");
    let mut out = String::from("flowchart LR\n");
    for spec in specs {
        let _ = writeln!(out, "  subgraph {}[\"{} ({})\"]", spec.name.replace('-', "_"), spec.name, spec.env);
        for r in &spec.resources {
            let _ =
                writeln!(out, "    {}[\"{}<br/><small>{}</small>\"]", id(&r.address), r.address.name(), r.type_name);
        }
        out.push_str("  end\n");
    }
    for spec in specs {
        for r in &spec.resources {
            for d in &r.dependencies {
                let arrow = if d.stack() != spec.name { "-.->" } else { "-->" };
                let _ = writeln!(out, "  {} {arrow} {}", id(&r.address), id(d));
            }
        }
    }
    out
}
