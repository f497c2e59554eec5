//! `platform`: plan, apply and destroy typed AWS stacks.

mod catalog;
mod progress;

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use platform::apply::ApplyOptions;
use platform::model::{Address, StackSpec};
use platform::provider::aws::AwsProvider;
use platform::state::{StateBackend, StateUrl};
use platform::{render, Engine};

/// Infrastructure as code for AWS: typed stacks, planned and applied through the AWS SDK.
#[derive(Parser)]
#[command(name = "platform", version, about)]
struct Cli {
    /// Where states are kept: a directory, or `s3://bucket/prefix` for a team and its CI
    /// sharing them (locked with conditional writes).
    #[arg(long, global = true, value_name = "URL", env = "PLATFORM_STATE", default_value = ".platform/state")]
    state: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the stacks this binary knows, and the environments.
    Stacks,
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        select: Select,
        /// Exit 0 when there is nothing to change, 2 when there is, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON (see docs/plan-format.md); the same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `text`, `json` (docs/plan-format.md) or `markdown` (for a pull-request comment).
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Save the plan to FILE, for `platform apply FILE` to apply exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Plan, ask, and apply; or apply a plan saved with `plan --out FILE`, exactly as saved.
    Apply {
        /// A plan saved with `platform plan --out FILE` (it names its stacks, environment and image).
        #[arg(value_name = "FILE", conflicts_with_all = ["stacks", "all", "vars"])]
        plan_file: Option<PathBuf>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Delete every resource of the stacks, dependents first.
    Destroy {
        #[command(flatten)]
        select: Select,
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
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
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

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum PlanFormat {
    Text,
    Json,
    Markdown,
}

/// A plan saved by `platform plan --out FILE`: what was planned, against which states, from which
/// declarations. `platform apply FILE` applies it only if all three still hold.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedPlan {
    /// Always `platform-saved-plan`.
    kind: String,
    format_version: u32,
    env: String,
    image_tag: String,
    stacks: Vec<String>,
    /// The desired stacks as built when planning.
    specs: Vec<serde_json::Value>,
    /// The plans (docs/plan-format.md).
    plans: Vec<serde_json::Value>,
}

const SAVED_PLAN_KIND: &str = "platform-saved-plan";

/// What a plan would do, independent of values that were unknown when it was made: each address
/// with its action and the attributes it changes.
fn plan_shape(plan: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    plan["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] != "no-op")
        .map(|r| {
            let paths = r["changes"].as_array().into_iter().flatten();
            (
                r["address"].as_str().unwrap_or_default().to_string(),
                r["action"].as_str().unwrap_or_default().to_string(),
                paths.filter_map(|c| c["path"].as_str().map(str::to_string)).collect(),
            )
        })
        .collect()
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Args)]
struct Change {
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
    /// How many AWS operations may run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    parallelism: u16,
    /// Allow deleting or replacing this protected resource (repeatable), e.g.
    /// `--allow-destroy card-dependencies.db-instance`.
    #[arg(long = "allow-destroy", value_name = "ADDRESS")]
    allow_destroy: Vec<String>,
}

#[derive(Args)]
struct Select {
    /// A stack of the catalog (repeatable).
    #[arg(long = "stack", value_name = "NAME")]
    stacks: Vec<String>,
    /// Every stack of the catalog.
    #[arg(long, conflicts_with = "stacks")]
    all: bool,
    /// The environment (one of stacks/environments.toml).
    #[arg(long, default_value = "dev")]
    env: String,
    /// A variable of the stacks: `image_tag=TAG` (the image services run; by default the one
    /// recorded by their last apply).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
}

/// The stacks of one run: every stack of the environment (built and checked), and those selected.
struct Selection {
    all: Vec<StackSpec>,
    selected: Vec<StackSpec>,
    /// The image tag the stacks were built with.
    image_tag: String,
}

impl Select {
    /// Builds every stack (checking them all before any AWS call) and picks the selected ones, in
    /// dependency order. `backend` holds the image tags recorded by earlier applies.
    async fn build(&self, backend: &dyn StateBackend, destroy: bool) -> Result<Selection> {
        let environments = stacks::Environments::builtin();
        let environment = environments.get(&self.env).map_err(|e| anyhow!(e))?;
        let mut image_tag = None;
        for var in &self.vars {
            match var.split_once('=') {
                Some(("image_tag", tag)) if valid_tag(tag) => image_tag = Some(tag.to_string()),
                Some(("image_tag", tag)) => bail!(
                    "`{tag}` is not an image tag: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
                ),
                _ => bail!("unknown variable `{var}`: the stacks take --var image_tag=TAG"),
            }
        }
        let names: Vec<&str> = catalog::ENTRIES.iter().map(|e| e.name).collect();
        if self.stacks.is_empty() && !self.all {
            bail!("name the stacks with --stack NAME or use --all (stacks: {})", names.join(", "));
        }
        for s in &self.stacks {
            if !names.contains(&s.as_str()) {
                bail!("there is no stack `{s}` (stacks: {})", names.join(", "));
            }
        }
        let selected_names: Vec<&str> = catalog::ENTRIES
            .iter()
            .filter(|e| (self.all && e.in_all) || self.stacks.iter().any(|s| s == e.name))
            .map(|e| e.name)
            .collect();
        let needs_tag = selected_names.iter().any(|n| catalog::NEEDS_IMAGE_TAG.contains(n));
        let image_tag = match image_tag {
            Some(tag) => tag,
            None => match recorded_image_tag(backend, &environment.env).await? {
                Some(tag) => tag,
                // Destroying needs no image; any tag builds the stack.
                None if destroy || !needs_tag => "none".to_string(),
                None => bail!(
                    "stack `{}` runs an image and has never been applied in `{}`: name the image with --var image_tag=TAG",
                    catalog::NEEDS_IMAGE_TAG.join("`, `"),
                    environment.env
                ),
            },
        };
        let all = catalog::build(environment, &image_tag)?;
        let selected = all.iter().filter(|s| selected_names.contains(&s.name.as_str())).cloned().collect();
        Ok(Selection { all, selected, image_tag })
    }
}

impl Selection {
    /// The guardrail report of the selected stacks, with every stack of the environment as
    /// context (rules that span stacks, such as grants into a database's group, see them all).
    fn guardrails(&self) -> platform::policy::Report {
        let selected: Vec<&StackSpec> = self.selected.iter().collect();
        let all: Vec<&StackSpec> = self.all.iter().collect();
        platform::policy::check(&selected, &all, &platform::policy::RuleSet::builtin())
    }

    /// Refuses stacks that break guardrail rules, before any state or AWS access.
    fn require_guardrails(&self) -> Result<()> {
        let report = self.guardrails();
        if !report.passes() {
            bail!(
                "the stacks break guardrail rules; nothing was planned or changed:\n{}\n\
                 Fix the declarations, or waive a rule for one resource with a reason \
                 (Stack::waive); `platform check` lists every finding",
                render::guardrail_violations(&report)
            );
        }
        Ok(())
    }
}

/// Whether `tag` is a valid image tag.
fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The image tag the service stacks recorded at their last apply.
async fn recorded_image_tag(backend: &dyn StateBackend, env: &platform::Env) -> Result<Option<String>> {
    for name in catalog::NEEDS_IMAGE_TAG {
        if let Some(tag) =
            backend.read(name, env).await?.and_then(|s| s.outputs.get("image_tag")?.as_str().map(str::to_string))
        {
            return Ok(Some(tag));
        }
    }
    Ok(None)
}

fn parse_addresses(addresses: &[String]) -> Result<std::collections::BTreeSet<Address>> {
    addresses
        .iter()
        .map(|a| {
            Address::parse(a)
                .ok_or_else(|| anyhow!("`{a}` is not an address (stack.name, e.g. card-dependencies.db-instance)"))
        })
        .collect()
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

/// The state backend at `url` (checked before any AWS call).
async fn backend(url: &str) -> Result<Arc<dyn StateBackend>> {
    Ok(platform::state::open(&url.parse::<StateUrl>()?).await)
}

async fn engine(backend: Arc<dyn StateBackend>, options: ApplyOptions) -> Engine {
    let provider = AwsProvider::from_env().await;
    Engine::new(Arc::new(provider), backend, options)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let state = backend(&cli.state).await?;
    match cli.command {
        Command::Stacks => {
            let dev = stacks::Environments::builtin();
            let specs = catalog::build(dev.get("dev").map_err(|e| anyhow!(e))?, "none")?;
            for (entry, spec) in catalog::ENTRIES.iter().zip(&specs) {
                let uses = spec.upstream.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
                let uses = if uses.is_empty() { String::new() } else { format!(" (uses {uses})") };
                println!("{:<18} {}{uses}", entry.name, entry.description);
            }
            println!("\nenvironments: {}", dev.names().join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { select, detailed_exitcode, json, format, out } => {
            let format = if json { PlanFormat::Json } else { format };
            let selection = select.build(state.as_ref(), false).await?;
            selection.require_guardrails()?;
            let engine = engine(state.clone(), ApplyOptions::default()).await;
            let mut plans = vec![];
            let mut earlier = BTreeSet::new();
            for spec in &selection.selected {
                let prepared = engine.prepare_with(spec, false, "plan", &earlier).await?;
                warn_interrupted(&prepared);
                plans.push(prepared.into_plan().await?);
                earlier.insert(spec.name.clone());
            }
            match format {
                PlanFormat::Json => {
                    let doc =
                        serde_json::json!({ "format_version": platform::plan::PLAN_FORMAT_VERSION, "plans": plans });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                PlanFormat::Markdown => print!("{}", render::plans_markdown(&plans)),
                PlanFormat::Text => {
                    for p in &plans {
                        print!("{}", render::plan_text(p));
                    }
                }
            }
            if let Some(path) = out {
                let saved = SavedPlan {
                    kind: SAVED_PLAN_KIND.into(),
                    format_version: 1,
                    env: select.env.clone(),
                    image_tag: selection.image_tag.clone(),
                    stacks: selection.selected.iter().map(|s| s.name.clone()).collect(),
                    specs: selection.selected.iter().map(serde_json::to_value).collect::<Result<_, _>>()?,
                    plans: plans.iter().map(serde_json::to_value).collect::<Result<_, _>>()?,
                };
                std::fs::write(&path, serde_json::to_string_pretty(&saved)? + "\n")
                    .with_context(|| format!("cannot write the plan to {}", path.display()))?;
                eprintln!(
                    "The plan is saved in {}; apply exactly it with: platform apply {}",
                    path.display(),
                    path.display()
                );
            }
            let none = BTreeSet::new();
            for blocked in plans.iter().flat_map(|p| p.blocked(&none)) {
                eprintln!(
                    "note: {} is protected: apply will refuse to {} it unless you pass --allow-destroy {}",
                    blocked.address,
                    blocked.action.as_str(),
                    blocked.address
                );
            }
            let changes = plans.iter().any(|p| p.has_changes());
            Ok(if detailed_exitcode && changes { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Apply { plan_file: Some(path), select, change } => {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read the plan {}", path.display()))?;
            let saved: SavedPlan = serde_json::from_str(&text)
                .ok()
                .filter(|s: &SavedPlan| s.kind == SAVED_PLAN_KIND && s.format_version == 1)
                .ok_or_else(|| anyhow!("{} is not a plan saved by `platform plan --out`", path.display()))?;
            if select.env != "dev" && select.env != saved.env {
                bail!("the plan {} is for `{}`, not `{}`", path.display(), saved.env, select.env);
            }
            let again = Select {
                stacks: saved.stacks.clone(),
                all: false,
                env: saved.env.clone(),
                vars: vec![format!("image_tag={}", saved.image_tag)],
            };
            let selection = again.build(state.as_ref(), false).await?;
            selection.require_guardrails()?;
            for (spec, saved_spec) in selection.selected.iter().zip(&saved.specs) {
                if &serde_json::to_value(spec)? != saved_spec {
                    bail!(
                        "the declaration of stack `{}` changed since the plan {} was made (another version of \
                         the stacks?); nothing was changed. Make a new plan",
                        spec.name,
                        path.display()
                    );
                }
            }
            apply_all(state, selection, false, Change { yes: true, ..change }, Some(&saved)).await
        }
        Command::Apply { plan_file: None, select, change } => {
            let selection = select.build(state.as_ref(), false).await?;
            selection.require_guardrails()?;
            apply_all(state, selection, false, change, None).await
        }
        Command::Destroy { select, change } => {
            let selection = select.build(state.as_ref(), true).await?;
            apply_all(state, selection, true, change, None).await
        }
        Command::Check { select, json } => {
            // Any image tag builds the stacks; the checks do not depend on it.
            let selection = select.build(state.as_ref(), true).await?;
            let report = selection.guardrails();
            let rules = platform::policy::RuleSet::builtin();
            let names: Vec<&str> = selection.selected.iter().map(|s| s.name.as_str()).collect();
            if json {
                let doc = serde_json::json!({
                    "format_version": 1,
                    "env": select.env,
                    "stacks": names,
                    "rules": rules.rules().iter().map(|r| &r.id).collect::<Vec<_>>(),
                    "passed": report.passes(),
                    "report": report,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "Guardrails for {} in `{}`: {} rules.",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                    select.env,
                    rules.rules().len()
                );
                print!("{}", render::guardrail_report(&report));
            }
            Ok(if report.passes() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Drift { select, json, format } => {
            let format = if json { PlanFormat::Json } else { format };
            // The recorded image tag (or any) builds the stacks; drift compares with the state.
            let selection = select.build(state.as_ref(), true).await?;
            let engine = engine(state.clone(), ApplyOptions::default()).await;
            let mut reports = vec![];
            for spec in &selection.selected {
                reports.push(engine.drift(spec).await?);
            }
            match format {
                PlanFormat::Json => {
                    let doc = serde_json::json!({ "format_version": 1, "env": select.env, "reports": reports });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                PlanFormat::Markdown => print!("{}", render::drift_markdown(&reports)),
                PlanFormat::Text => {
                    for r in &reports {
                        print!("{}", render::drift_text(r));
                    }
                }
            }
            let drift = reports.iter().any(|r| r.has_drift());
            if drift && format == PlanFormat::Text {
                eprintln!("`platform apply` with the same stacks brings the cloud back to the declarations.");
            }
            Ok(if drift { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Graph { select, format } => {
            // Any image tag builds the stacks; the graph does not depend on it.
            let selection = select.build(state.as_ref(), true).await?;
            // The selected stacks and, transitively, the stacks they use.
            let mut names: BTreeSet<&str> = selection.selected.iter().map(|s| s.name.as_str()).collect();
            loop {
                let used: Vec<&str> = selection
                    .all
                    .iter()
                    .filter(|s| names.contains(s.name.as_str()))
                    .flat_map(|s| s.upstream.iter().map(String::as_str))
                    .filter(|u| !names.contains(u))
                    .collect();
                if used.is_empty() {
                    break;
                }
                names.extend(used);
            }
            let specs: Vec<&StackSpec> = selection.all.iter().filter(|s| names.contains(s.name.as_str())).collect();
            print!(
                "{}",
                match format {
                    GraphFormat::Dot => render::graph_dot(&specs),
                    GraphFormat::Mermaid => render::graph_mermaid(&specs),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { address, physical_id, env } => {
            let address = Address::parse(&address)
                .ok_or_else(|| anyhow!("`{address}` is not an address (stack.name, e.g. foundation.vpc)"))?;
            let select =
                Select { stacks: vec![address.stack().to_string()], all: false, env: env.clone(), vars: vec![] };
            // Any image tag builds the stacks: importing reads the resource, it applies nothing.
            let selection = select.build(state.as_ref(), true).await?;
            let spec = &selection.selected[0];
            let engine = engine(state.clone(), ApplyOptions::default()).await;
            let imported = engine.import(spec, &address, &physical_id).await?;
            println!(
                "Imported {} ({}) into `{}` in `{env}`. Run `platform plan --stack {} --env {env}` to see how it differs from the declaration.",
                imported.address,
                imported.physical_id,
                spec.name,
                spec.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ForceUnlock { id } => {
            let held = state.force_unlock(&id).await?;
            println!("Removed lock {id} of stack `{}` ({}), held by {}.", held.stack, held.env, held.info);
            Ok(ExitCode::SUCCESS)
        }
        Command::Output { stack, env, json } => {
            let environments = stacks::Environments::builtin();
            let env = environments.get(&env).map_err(|e| anyhow!(e))?.env.clone();
            let names: Vec<&str> = catalog::ENTRIES.iter().map(|e| e.name).collect();
            let selected: Vec<String> = match stack {
                Some(s) if names.contains(&s.as_str()) => vec![s],
                Some(s) => bail!("there is no stack `{s}` (stacks: {})", names.join(", ")),
                None => names.iter().map(|s| s.to_string()).collect(),
            };
            let mut all: Vec<(String, serde_json::Value)> = vec![];
            for name in &selected {
                match state.read(name, &env).await? {
                    Some(state) => all.push((name.clone(), serde_json::to_value(&state.outputs)?)),
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
                    all.into_iter().collect::<serde_json::Map<_, _>>().into()
                };
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for (name, outputs) in &all {
                    println!("# {name}");
                    for (k, v) in outputs.as_object().into_iter().flatten() {
                        println!("{k} = {v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses to destroy a stack while a stack that uses it is still applied (and not destroyed first
/// in the same run): its resources would be in the way, or left without what they depend on.
/// Refuses a saved plan whose state or effect no longer holds.
fn verify_saved(saved: &serde_json::Value, now: &platform::plan::Plan) -> Result<()> {
    let (lineage, serial) = (saved["lineage"].as_str().unwrap_or_default(), saved["serial"].as_u64().unwrap_or(0));
    // A stack never applied gets a new lineage at every plan; it must still be unapplied.
    let same_state = if serial == 0 { now.serial == 0 } else { now.lineage == lineage && now.serial == serial };
    if !same_state {
        bail!(
            "the saved plan of stack `{}` is stale: it was made against state serial {serial} (lineage {lineage}), \
             and the state is now at serial {} (lineage {}): something applied the stack since. Nothing was changed; \
             make a new plan and review it",
            now.stack,
            now.serial,
            now.lineage
        );
    }
    let now_json = serde_json::to_value(now)?;
    if plan_shape(saved) != plan_shape(&now_json) {
        bail!(
            "the saved plan of stack `{}` no longer matches what applying it would do (the cloud changed since \
             it was made). Nothing was changed; make a new plan and review it",
            now.stack
        );
    }
    Ok(())
}

async fn check_dependents(backend: &dyn StateBackend, selection: &Selection) -> Result<()> {
    for spec in &selection.selected {
        for dependent in selection.all.iter().filter(|d| d.upstream.contains(&spec.name)) {
            if selection.selected.iter().any(|s| s.name == dependent.name) {
                continue;
            }
            let applied = backend.read(&dependent.name, &dependent.env).await?.is_some_and(|s| !s.resources.is_empty());
            if applied {
                bail!(
                    "stack `{}` is used by stack `{}`, which is still applied in `{}`: destroy `{}` first, or destroy both with --all",
                    spec.name,
                    dependent.name,
                    spec.env,
                    dependent.name
                );
            }
        }
    }
    Ok(())
}

async fn apply_all(
    backend: Arc<dyn StateBackend>,
    selection: Selection,
    destroy: bool,
    change: Change,
    saved: Option<&SavedPlan>,
) -> Result<ExitCode> {
    let stop = platform::apply::Stop::default();
    let options = ApplyOptions {
        parallelism: change.parallelism.into(),
        allow_destroy: parse_addresses(&change.allow_destroy)?,
        stop: stop.clone(),
    };
    // Ctrl-C once: start nothing new, let what is in flight finish and be recorded, save, unlock.
    // Twice: abort at once (the intents recorded before every call make that safe too).
    let on_interrupt = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        on_interrupt.request();
        eprintln!(
            "\nStopping: no new operation is started; those in flight finish and are recorded. Ctrl-C again aborts at once."
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Aborted. The next run finds what was in flight from the intents recorded in the state.");
            std::process::exit(130);
        }
    });
    let mut specs = selection.selected.clone();
    if destroy {
        check_dependents(backend.as_ref(), &selection).await?;
        specs.reverse();
    }
    let engine = engine(backend, options).await;
    let operation = if destroy { "destroy" } else { "apply" };
    for spec in &specs {
        let prepared = engine.prepare(spec, destroy, operation).await?;
        warn_interrupted(&prepared);
        if let Some(saved) = saved {
            let i = saved.stacks.iter().position(|s| s == &spec.name).expect("the saved plan names the stack");
            if let Err(err) = verify_saved(&saved.plans[i], &prepared.plan) {
                prepared.release().await?;
                return Err(err);
            }
        }
        print!("{}", render::plan_text(&prepared.plan));
        if prepared.plan.has_changes() && !change.yes {
            let confirmed = confirm(spec, destroy);
            if !matches!(confirmed, Ok(true)) {
                prepared.release().await?;
                confirmed?;
                println!("Nothing was changed.");
                return Ok(ExitCode::from(1));
            }
        }
        let progress = progress::Progress::new(prepared.plan.resources.len());
        let report = engine.apply(prepared, &|e| progress.event(e)).await;
        progress.finish();
        let report = report.with_context(|| format!("stack `{}` ({}) was not changed", spec.name, spec.env))?;
        if !report.results.is_empty() {
            print!("{}", render::report_text(&spec.name, &report));
        }
        if stop.requested() {
            let not_started = report.count(|o| matches!(o, platform::apply::Outcome::NotStarted));
            eprintln!(
                "Interrupted: stack `{}` was saved with what was done; {not_started} operations were not started{}. Run the same command again to finish.",
                spec.name,
                if specs.last().is_some_and(|l| l.name != spec.name) { ", and the stacks after it were not touched" } else { "" }
            );
            return Ok(ExitCode::from(130));
        }
        if !report.is_success() {
            eprintln!(
                "error: stack `{}` was not fully applied; what succeeded is recorded in the state. Fix the cause and run the command again.",
                spec.name
            );
            return Ok(ExitCode::from(1));
        }
        if !destroy {
            if let Some(outputs) = engine.outputs(&spec.name, &spec.env).await? {
                if !outputs.is_empty() {
                    println!("Outputs of `{}`:", spec.name);
                    for (k, v) in &outputs {
                        println!("  {k} = {v}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says how the operations a killed run left unfinished were resolved.
fn warn_interrupted(prepared: &platform::Prepared) {
    let recovered = prepared.recovered();
    if recovered.is_empty() {
        return;
    }
    eprintln!("note: a previous run stopped during these operations; they were resolved:");
    for r in recovered {
        match r {
            platform::engine::Recovery::Adopted { address, physical_id } => {
                eprintln!("  {address}: it had been created ({physical_id}); adopted into the state")
            }
            platform::engine::Recovery::NotCreated { address } => {
                eprintln!("  {address}: it had not been created; it is created again")
            }
            platform::engine::Recovery::Reread { address, operation } => {
                eprintln!("  {address}: {operation} read back from AWS; the plan finishes it")
            }
        }
    }
}

fn confirm(spec: &StackSpec, destroy: bool) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {} without confirmation: standard input is not a terminal; pass --yes",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let verb = if destroy { "Destroy every resource of" } else { "Apply these changes to" };
    print!("\n{verb} `{}` in `{}`? Only `yes` is accepted: ", spec.name, spec.env);
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
