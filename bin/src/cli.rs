//! The command line: what `platform` takes (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Infrastructure as code for AWS: typed stacks, planned and applied through the AWS SDK.
#[derive(Parser)]
#[command(name = "platform", version, about)]
pub struct Cli {
    /// Where states are kept: a directory, or `s3://bucket/prefix` for a team and its CI
    /// sharing them (locked with conditional writes).
    #[arg(long, global = true, value_name = "URL", env = "PLATFORM_STATE", default_value = ".platform/state")]
    pub state: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the stacks this binary knows, and the environments.
    Stacks,
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        target: Target,
        /// Exit 0 when there is nothing to change, 2 when there is, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON (see docs/plan-format.md); the same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `text`, `json` (docs/plan-format.md) or `markdown` (for a pull-request comment).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Save the plan to FILE, for `platform apply FILE` to apply exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Read the states without taking their locks: nothing is written, so a plan role that
        /// may only read states can plan, and a plan never blocks a deploy (it may then show a
        /// state an apply is changing).
        #[arg(long)]
        no_lock: bool,
    },
    /// Plan, ask, and apply; or apply a plan saved with `plan --out FILE`, exactly as saved.
    Apply {
        /// A plan saved with `platform plan --out FILE` (it names its stacks, environment, image and
        /// targets).
        #[arg(value_name = "FILE", conflicts_with_all = ["stacks", "all", "vars", "targets"])]
        plan_file: Option<PathBuf>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        change: Change,
    },
    /// Delete every resource of the stacks, dependents first.
    Destroy {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        change: Change,
    },
    /// Check the stacks against the guardrail rules (policies/rules/) without planning.
    /// Exit 0 when nothing breaks them, 2 on violations, 1 on error.
    Check {
        #[command(flatten)]
        select: Select,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare the cloud with what was last applied. Exit 0 no drift, 2 drift, 1 error.
    Drift {
        #[command(flatten)]
        select: Select,
        /// Print the reports as JSON; the same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `text`, `json` or `markdown`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Draw the resources of the stacks and what depends on what (with the stacks they use).
    Graph {
        #[command(flatten)]
        select: Select,
        /// `dot` (Graphviz) or `mermaid` (renders in GitHub comments).
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Bring an existing resource under management at ADDRESS (which a stack declares): it is read
    /// from AWS, recorded in the state and tagged; the next plan shows how it differs.
    Import {
        /// The address, e.g. `foundation.vpc`.
        address: String,
        /// Its id in AWS (the id, name or ARN the type is known by).
        physical_id: String,
        /// The environment.
        #[arg(long, default_value = "dev")]
        env: String,
    },
    /// Remove a lock left by a run that died, by the id an error message named.
    ForceUnlock {
        /// The lock's id.
        #[arg(value_name = "LOCK_ID")]
        id: String,
    },
    /// Print the outputs recorded by the last apply.
    Output {
        /// The stack (all applied stacks when left out).
        #[arg(long)]
        stack: Option<String>,
        /// The environment.
        #[arg(long, default_value = "dev")]
        env: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How plans and drift reports are printed.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// How the graph is drawn.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// How a change is applied.
#[derive(Args)]
pub struct Change {
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
    /// How many AWS operations may run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Allow deleting or replacing this protected resource (repeatable), e.g.
    /// `--allow-destroy card-dependencies.db-instance`.
    #[arg(long = "allow-destroy", value_name = "ADDRESS")]
    pub allow_destroy: Vec<String>,
}

/// Which stacks a command works on.
#[derive(Args, Clone)]
pub struct Select {
    /// A stack of the catalog (repeatable).
    #[arg(long = "stack", value_name = "NAME")]
    pub stacks: Vec<String>,
    /// Every stack of the catalog.
    #[arg(long, conflicts_with = "stacks")]
    pub all: bool,
    /// The environment (one of stacks/environments.toml).
    #[arg(long, default_value = "dev")]
    pub env: String,
    /// A variable of the stacks: `image_tag=TAG` (the image services run; by default the one
    /// recorded by their last apply).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Make database changes that reboot or fail it over now, rather than in its maintenance
    /// window (where environments with `db_apply_immediately = false`, such as prod, defer them).
    #[arg(long)]
    pub apply_immediately: bool,
}

/// A partial run, for an incident.
#[derive(Args, Clone, Default)]
pub struct Target {
    /// Only this resource (repeatable) and what it depends on (for destroy: and what depends on
    /// it), in the stacks that hold them; the rest is left as it is. The plan says it is partial.
    #[arg(long = "target", value_name = "ADDRESS", conflicts_with_all = ["stacks", "all"])]
    pub targets: Vec<String>,
}
