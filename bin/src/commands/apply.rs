//! `platform apply` and `platform destroy`: plan, ask, apply with progress, stack after stack; and
//! `platform apply FILE`: a saved plan, exactly as saved.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use platform::apply::{ApplyOptions, Outcome, Stop};
use platform::render;
use platform::saved::SavedPlan;
use platform::state::StateBackend;

use crate::cli::{Change, Select, Target};
use crate::progress::Progress;
use crate::select::{parse_addresses, Selection};

/// `platform apply`.
pub async fn run(state: Arc<dyn StateBackend>, select: &Select, target: &Target, change: Change) -> Result<ExitCode> {
    let selection = select.build(state.as_ref(), false, target).await?;
    selection.require_guardrails()?;
    apply_all(state, selection, false, change, None).await
}

/// `platform destroy`.
pub async fn destroy(
    state: Arc<dyn StateBackend>,
    select: &Select,
    target: &Target,
    change: Change,
) -> Result<ExitCode> {
    let selection = select.build(state.as_ref(), true, target).await?;
    apply_all(state, selection, true, change, None).await
}

/// `platform apply FILE`: refused if a stack's state changed since (lineage or serial), if
/// applying would now do something else, or if the declarations changed.
pub async fn saved(state: Arc<dyn StateBackend>, path: &Path, select: &Select, change: Change) -> Result<ExitCode> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the plan {file}"))?;
    let saved = SavedPlan::from_json(&text, &file)?;
    // `--env` is optional with a saved plan (it names its environment); given, it must agree.
    if select.env != "dev" {
        saved.check_environment(&select.env, &file)?;
    }
    let again = Select {
        stacks: saved.stacks.clone(),
        all: false,
        env: saved.env.clone(),
        vars: vec![format!("image_tag={}", saved.image_tag)],
        apply_immediately: saved.apply_immediately,
    };
    let target = Target { targets: saved.targets.iter().map(|a| a.to_string()).collect() };
    let mut selection = again.build(state.as_ref(), false, &target).await?;
    // The stacks of the saved plan, exactly (a partial plan's selection is derived the same way).
    selection.selected.retain(|s| saved.stacks.contains(&s.name));
    selection.require_guardrails()?;
    saved.check_declarations(&selection.selected, &file)?;
    apply_all(state, selection, false, Change { yes: true, ..change }, Some(&saved)).await
}

/// Refuses to destroy a stack while a stack that uses it is still applied (and not destroyed first
/// in the same run): its resources would be in the way, or left without what they depend on.
async fn check_dependents(backend: &dyn StateBackend, selection: &Selection) -> Result<()> {
    for spec in &selection.selected {
        for dependent in selection.all.iter().filter(|d| d.upstream.contains(&spec.name)) {
            if selection.selected.iter().any(|s| s.name == dependent.name) {
                continue;
            }
            let applied = backend.read(&dependent.name, &dependent.env).await?.is_some_and(|s| !s.resources.is_empty());
            if applied {
                anyhow::bail!(
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

/// Ctrl-C once: start nothing new, let what is in flight finish and be recorded, save, unlock.
/// Twice: abort at once (the intents recorded before every call make that safe too).
fn stop_on_ctrl_c() -> Stop {
    let stop = Stop::default();
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
    stop
}

async fn apply_all(
    backend: Arc<dyn StateBackend>,
    selection: Selection,
    destroy: bool,
    change: Change,
    saved: Option<&SavedPlan>,
) -> Result<ExitCode> {
    let stop = stop_on_ctrl_c();
    let options = ApplyOptions {
        parallelism: change.parallelism.into(),
        allow_destroy: parse_addresses(&change.allow_destroy)?,
        stop: stop.clone(),
        targets: selection.covered.clone(),
        no_lock: false,
    };
    if let Some(warning) = selection.partial_warning(destroy) {
        eprintln!("{warning}");
    }
    let mut specs = selection.selected.clone();
    if destroy {
        if selection.covered.is_none() {
            check_dependents(backend.as_ref(), &selection).await?;
        }
        specs.reverse();
    }
    let engine = super::engine(backend, options).await;
    let operation = if destroy { "destroy" } else { "apply" };
    let palette = crate::terminal::palette();
    // Every stack of the run is locked and planned first, shown, confirmed once, then applied at
    // once: each operation waits only for what it needs, in its stack or another.
    let run = engine.prepare_run(&specs, destroy, operation).await?;
    for prepared in &run {
        super::warn_interrupted(prepared);
    }
    if let Some(saved) = saved {
        if let Some(err) = run.iter().find_map(|p| saved.verify(&p.plan).err()) {
            for prepared in run {
                prepared.release().await?;
            }
            return Err(err.into());
        }
    }
    if let Some(identity) = run.iter().find_map(|p| p.plan.identity.as_ref()) {
        println!("{}", render::plan_header(identity, specs[0].env.as_str()));
    }
    for prepared in &run {
        print!("{}", render::plan_text_styled(&prepared.plan, palette));
    }
    let changing: Vec<&platform::model::StackSpec> =
        specs.iter().zip(&run).filter(|(_, p)| p.plan.has_changes()).map(|(s, _)| s).collect();
    if !changing.is_empty() && !change.yes {
        let confirmed = crate::terminal::confirm(&changing, destroy);
        if !matches!(confirmed, Ok(true)) {
            for prepared in run {
                prepared.release().await?;
            }
            confirmed?;
            println!("Nothing was changed.");
            return Ok(ExitCode::from(1));
        }
    }
    let total = run.iter().map(|p| p.plan.resources.len()).sum();
    let progress = Progress::new(total);
    let results = engine.apply_run(run, &|_, e| progress.event(e)).await;
    progress.finish();
    let results = results?;
    let mut failed = vec![];
    let mut errors = vec![];
    for (name, result) in results {
        let spec = specs.iter().find(|s| s.name == name).expect("a stack of the run");
        match result {
            Ok(report) => {
                if !report.results.is_empty() {
                    print!("{}", render::report_text_styled(&name, &report, palette));
                }
                if stop.requested() {
                    let not_started = report.count(|o| matches!(o, Outcome::NotStarted));
                    if not_started > 0 {
                        eprintln!(
                            "Interrupted: stack `{name}` was saved with what was done; {not_started} operations were not started."
                        );
                    }
                }
                if !report.is_success() {
                    failed.push(name.clone());
                } else if !destroy {
                    if let Some(outputs) = engine.outputs(&name, &spec.env).await? {
                        if !outputs.is_empty() {
                            println!("Outputs of `{name}`:");
                            for (k, v) in &outputs {
                                println!("  {k} = {v}");
                            }
                        }
                    }
                }
            }
            Err(err) => {
                errors.push(anyhow::Error::from(err).context(format!("stack `{name}` ({}) was not changed", spec.env)));
            }
        }
    }
    if stop.requested() {
        eprintln!("Run the same command again to finish.");
        return Ok(ExitCode::from(130));
    }
    if let Some(first) = errors.into_iter().next() {
        return Err(first);
    }
    if !failed.is_empty() {
        eprintln!(
            "error: {} {} not fully {}; what succeeded is recorded in the state. Fix the cause and run the command again.",
            failed.iter().map(|n| format!("stack `{n}`")).collect::<Vec<_>>().join(", "),
            if failed.len() == 1 { "was" } else { "were" },
            if destroy { "destroyed" } else { "applied" }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
