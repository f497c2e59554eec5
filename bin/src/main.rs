//! `platform`: plan, apply and destroy typed AWS stacks.

mod catalog;
mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use platform::apply::ApplyOptions;
use platform::model::{Env, StackSpec};
use platform::provider::aws::AwsProvider;
use platform::state::local::LocalBackend;
use platform::{render, Engine};

/// Infrastructure as code for AWS: typed stacks, planned and applied through the AWS SDK.
#[derive(Parser)]
#[command(name = "platform", version, about)]
struct Cli {
    /// Where states are kept.
    #[arg(
        long,
        global = true,
        env = "PLATFORM_STATE_DIR",
        default_value = ".platform/state"
    )]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the stacks this binary knows.
    Stacks,
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        select: Select,
        /// Exit 0 when there is nothing to change, 2 when there is, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON (see docs/plan-format.md).
        #[arg(long)]
        json: bool,
    },
    /// Plan, ask, and apply.
    Apply {
        #[command(flatten)]
        select: Select,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
        /// How many AWS operations may run at once.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Delete every resource of the stacks.
    Destroy {
        #[command(flatten)]
        select: Select,
        /// Destroy without asking.
        #[arg(long)]
        yes: bool,
        /// How many AWS operations may run at once.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
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

#[derive(Args)]
struct Select {
    /// A stack of the catalog (repeatable).
    #[arg(long = "stack", value_name = "NAME")]
    stacks: Vec<String>,
    /// Every stack of the catalog.
    #[arg(long, conflicts_with = "stacks")]
    all: bool,
    /// The environment.
    #[arg(long, default_value = "dev")]
    env: String,
}

impl Select {
    /// Builds the selected stacks (checking them all before any AWS call), in catalog order.
    fn build(&self) -> Result<Vec<StackSpec>> {
        let env = Env::new(&self.env).map_err(|e| anyhow!(e))?;
        let catalog = catalog::catalog();
        let names: Vec<&str> = catalog.iter().map(|e| e.name).collect();
        if self.stacks.is_empty() && !self.all {
            bail!(
                "name the stacks with --stack NAME or use --all (stacks: {})",
                names.join(", ")
            );
        }
        for s in &self.stacks {
            if !names.contains(&s.as_str()) {
                bail!("there is no stack `{s}` (stacks: {})", names.join(", "));
            }
        }
        catalog
            .iter()
            .filter(|e| self.all || self.stacks.iter().any(|s| s == e.name))
            .map(|e| (e.build)(&env).map_err(anyhow::Error::from))
            .collect()
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PLATFORM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(run(cli)) {
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

async fn engine(state_dir: &std::path::Path, parallelism: u16) -> Engine {
    let provider = AwsProvider::from_env().await;
    Engine::new(
        Arc::new(provider),
        Arc::new(LocalBackend::new(state_dir)),
        ApplyOptions {
            parallelism: parallelism.into(),
        },
    )
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Stacks => {
            for e in catalog::catalog() {
                println!("{:<16} {}", e.name, e.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            select,
            detailed_exitcode,
            json,
        } => {
            let specs = select.build()?;
            let engine = engine(&cli.state_dir, 10).await;
            let mut plans = vec![];
            for spec in &specs {
                let prepared = engine.prepare(spec, false, "plan").await?;
                warn_interrupted(&prepared);
                plans.push(prepared.plan);
            }
            if json {
                let doc = serde_json::json!({ "format_version": platform::plan::PLAN_FORMAT_VERSION, "plans": plans });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for p in &plans {
                    print!("{}", render::plan_text(p));
                }
            }
            let changes = plans.iter().any(|p| p.has_changes());
            Ok(if detailed_exitcode && changes {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Apply {
            select,
            yes,
            parallelism,
        } => {
            let specs = select.build()?;
            apply_all(&cli.state_dir, specs, false, yes, parallelism).await
        }
        Command::Destroy {
            select,
            yes,
            parallelism,
        } => {
            let mut specs = select.build()?;
            specs.reverse();
            apply_all(&cli.state_dir, specs, true, yes, parallelism).await
        }
        Command::Output { stack, env, json } => {
            let env = Env::new(&env).map_err(|e| anyhow!(e))?;
            let backend = LocalBackend::new(&cli.state_dir);
            let names: Vec<&str> = catalog::catalog().iter().map(|e| e.name).collect();
            let selected: Vec<String> = match stack {
                Some(s) if names.contains(&s.as_str()) => vec![s],
                Some(s) => bail!("there is no stack `{s}` (stacks: {})", names.join(", ")),
                None => names.iter().map(|s| s.to_string()).collect(),
            };
            let mut all = serde_json::Map::new();
            for name in &selected {
                use platform::state::StateBackend;
                match backend.read(name, &env)? {
                    Some(state) => {
                        all.insert(name.clone(), serde_json::to_value(&state.outputs)?);
                    }
                    None if selected.len() == 1 => {
                        bail!("stack `{name}` has not been applied in `{env}`; run `platform apply --stack {name} --env {env}`")
                    }
                    None => {}
                }
            }
            if json {
                let doc = if selected.len() == 1 {
                    all.into_iter().next().map(|(_, v)| v).unwrap_or_default()
                } else {
                    all.into()
                };
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for (name, outputs) in &all {
                    if selected.len() > 1 {
                        println!("# {name}");
                    }
                    for (k, v) in outputs.as_object().into_iter().flatten() {
                        println!("{k} = {v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn apply_all(
    state_dir: &std::path::Path,
    specs: Vec<StackSpec>,
    destroy: bool,
    yes: bool,
    parallelism: u16,
) -> Result<ExitCode> {
    let engine = engine(state_dir, parallelism).await;
    let mut ok = true;
    for spec in &specs {
        let operation = if destroy { "destroy" } else { "apply" };
        let prepared = engine.prepare(spec, destroy, operation).await?;
        warn_interrupted(&prepared);
        print!("{}", render::plan_text(&prepared.plan));
        if prepared.plan.has_changes() && !yes && !confirm(spec, destroy)? {
            println!("Nothing was changed.");
            return Ok(ExitCode::from(1));
        }
        let total = prepared.plan.resources.len();
        let progress = progress::Progress::new(total);
        let report = engine.apply(prepared, &|e| progress.event(e)).await;
        progress.finish();
        let report = report
            .with_context(|| format!("applying stack `{}` ({}) stopped", spec.name, spec.env))?;
        if !report.results.is_empty() {
            print!("{}", render::report_text(&spec.name, &report));
        }
        if !report.is_success() {
            ok = false;
            eprintln!(
                "error: stack `{}` was not fully applied; what succeeded is recorded in the state. Fix the cause and run the command again.",
                spec.name
            );
            break;
        }
        if !destroy {
            if let Some(outputs) = engine.outputs(&spec.name, &spec.env)? {
                if !outputs.is_empty() {
                    println!("Outputs of `{}`:", spec.name);
                    for (k, v) in &outputs {
                        println!("  {k} = {v}");
                    }
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Warns about operations a killed run left unfinished: their effect may be missing from the state.
fn warn_interrupted(prepared: &platform::Prepared) {
    let pending = prepared.interrupted();
    if pending.is_empty() {
        return;
    }
    eprintln!("warning: a previous run stopped during these operations; what they did may be missing from the state:");
    for p in pending {
        let name = p
            .name
            .as_deref()
            .map(|n| format!(" (name {n})"))
            .unwrap_or_default();
        eprintln!(
            "  {} {}{name}, started {}",
            p.operation, p.address, p.started_at
        );
    }
    eprintln!("  Look for resources tagged platform:address=<address> before applying again.");
}

fn confirm(spec: &StackSpec, destroy: bool) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {} without confirmation: standard input is not a terminal; pass --yes",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let verb = if destroy {
        "Destroy every resource of"
    } else {
        "Apply these changes to"
    };
    print!(
        "\n{verb} `{}` in `{}`? Only `yes` is accepted: ",
        spec.name, spec.env
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
