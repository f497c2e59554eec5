//! Which stacks a run works on: every stack of the environment is built (and so checked) before
//! any AWS call; the selected ones, in dependency order, are planned or applied.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Result};
use platform::model::{Address, StackSpec};
use platform::render;
use platform::state::StateBackend;

use crate::catalog;
use crate::cli::{Select, Target};

/// The stacks of one run: every stack of the environment (built and checked), and those selected.
pub struct Selection {
    pub all: Vec<StackSpec>,
    pub selected: Vec<StackSpec>,
    /// The image tag the stacks were built with.
    pub image_tag: String,
    /// The `--target` addresses, when the run is partial.
    pub targets: Vec<Address>,
    /// The addresses a partial run covers: the targets and what they depend on (for a destroy,
    /// what depends on them).
    pub covered: Option<BTreeSet<Address>>,
}

/// Addresses given on the command line.
pub fn parse_addresses(addresses: &[String]) -> Result<BTreeSet<Address>> {
    addresses
        .iter()
        .map(|a| {
            Address::parse(a)
                .ok_or_else(|| anyhow!("`{a}` is not an address (stack.name, e.g. card-dependencies.db-instance)"))
        })
        .collect()
}

impl Select {
    /// Builds every stack (checking them all before any AWS call) and picks the selected ones, in
    /// dependency order: those named, or those holding what `target` covers. `backend` holds the
    /// image tags recorded by earlier applies.
    pub async fn build(&self, backend: &dyn StateBackend, destroy: bool, target: &Target) -> Result<Selection> {
        let environments = stacks::Environments::builtin();
        let mut environment = environments.get(&self.env).map_err(|e| anyhow!(e))?.clone();
        if self.apply_immediately {
            environment.settings.db_apply_immediately = true;
        }
        let environment = &environment;
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
        let targets: Vec<Address> = parse_addresses(&target.targets)?.into_iter().collect();
        if self.stacks.is_empty() && !self.all && targets.is_empty() {
            bail!("name the stacks with --stack NAME or use --all (stacks: {})", names.join(", "));
        }
        for s in self.stacks.iter().map(String::as_str).chain(targets.iter().map(Address::stack)) {
            if !names.contains(&s) {
                bail!("there is no stack `{s}` (stacks: {})", names.join(", "));
            }
        }
        let named = |name: &str| {
            (self.all && catalog::entry(name).is_some_and(|e| e.in_all)) || self.stacks.iter().any(|s| s == name)
        };
        // What a plan or apply runs needs its image; a partial run reaches no stack after those of
        // its targets (it covers what they depend on), and destroying needs no image at all.
        let needs_tag =
            !destroy && catalog::NEEDS_IMAGE_TAG.iter().any(|n| named(n) || targets.iter().any(|t| t.stack() == *n));
        let image_tag = match image_tag {
            Some(tag) => tag,
            None => match recorded_image_tag(backend, &environment.env).await? {
                Some(tag) => tag,
                // Any tag builds the stacks that do not run it.
                None if !needs_tag => "none".to_string(),
                None => bail!(
                    "stack `{}` runs an image and has never been applied in `{}`: name the image with --var image_tag=TAG",
                    catalog::NEEDS_IMAGE_TAG.join("`, `"),
                    environment.env
                ),
            },
        };
        let all = catalog::build(environment, &image_tag)?;
        let covered = (!targets.is_empty()).then(|| {
            let specs: Vec<&StackSpec> = all.iter().collect();
            platform::plan::targeted(&specs, &targets.iter().cloned().collect(), destroy)
        });
        let selected = all
            .iter()
            .filter(|s| match &covered {
                Some(covered) => covered.iter().any(|a| a.stack() == s.name),
                None => named(&s.name),
            })
            .cloned()
            .collect();
        Ok(Selection { all, selected, image_tag, targets, covered })
    }
}

impl Selection {
    /// The guardrail report of the selected stacks, with every stack of the environment as
    /// context (rules that span stacks, such as grants into a database's group, see them all).
    pub fn guardrails(&self) -> platform::policy::Report {
        let selected: Vec<&StackSpec> = self.selected.iter().collect();
        let all: Vec<&StackSpec> = self.all.iter().collect();
        platform::policy::check(&selected, &all, &platform::policy::RuleSet::builtin())
    }

    /// Refuses stacks that break guardrail rules, before any state or AWS access.
    pub fn require_guardrails(&self) -> Result<()> {
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

    /// The warning a partial run prints, if it is one.
    pub fn partial_warning(&self, destroy: bool) -> Option<String> {
        let covered = self.covered.as_ref()?;
        let targets: Vec<String> = self.targets.iter().map(|a| a.to_string()).collect();
        Some(format!(
            "warning: this run is partial (--target {}): {} resources, {}; everything else is left as it is, \
             and the next full plan may show more changes. Use it for an incident, then plan without --target.",
            targets.join(" --target "),
            covered.len(),
            if destroy { "the targets and what depends on them" } else { "the targets and what they depend on" }
        ))
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
