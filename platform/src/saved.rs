//! A plan saved to be applied later exactly as it was reviewed (`platform plan --out FILE`, then
//! `platform apply FILE`): what was planned, against which states, from which declarations. It is
//! applied only if all three still hold. Pure: the CLI reads and writes the file.

use serde::{Deserialize, Serialize};

use crate::model::{Address, StackSpec};
use crate::plan::{Action, Plan};

/// What the `kind` of a saved plan always is.
pub const KIND: &str = "platform-saved-plan";
/// The version of the saved plan's form.
pub const FORMAT_VERSION: u32 = 1;

/// A plan saved by `platform plan --out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`KIND`].
    pub kind: String,
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The environment.
    pub env: String,
    /// The image tag the stacks were built with.
    pub image_tag: String,
    /// The `--target` addresses of a partial plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// Whether the stacks were built to make database changes at once (`--apply-immediately`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub apply_immediately: bool,
    /// The stacks, in the order they are applied.
    pub stacks: Vec<String>,
    /// The desired stacks as built when planning.
    pub specs: Vec<StackSpec>,
    /// Their plans (docs/plan-format.md).
    pub plans: Vec<Plan>,
}

/// Why a saved plan is not applied. Nothing was changed in each case.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SavedPlanError {
    /// The file is not a saved plan (or one of another format).
    #[error("{file} is not a plan saved by `platform plan --out`")]
    NotAPlan {
        /// The file.
        file: String,
    },
    /// The plan is for another environment than the one asked for.
    #[error("the plan {file} is for `{saved}`, not `{asked}`")]
    OtherEnvironment {
        /// The file.
        file: String,
        /// Its environment.
        saved: String,
        /// The environment asked for.
        asked: String,
    },
    /// The stacks would be built differently now.
    #[error("the declaration of stack `{stack}` changed since the plan {file} was made (another version of the stacks?); nothing was changed. Make a new plan")]
    DeclarationChanged {
        /// The stack.
        stack: String,
        /// The file.
        file: String,
    },
    /// Something applied the stack since the plan was made.
    #[error("the saved plan of stack `{stack}` is stale: it was made against state serial {serial} (lineage {lineage}), and the state is now at serial {now_serial} (lineage {now_lineage}): something applied the stack since. Nothing was changed; make a new plan and review it")]
    Stale {
        /// The stack.
        stack: String,
        /// The serial it was made against.
        serial: u64,
        /// The lineage it was made against.
        lineage: String,
        /// The serial now.
        now_serial: u64,
        /// The lineage now.
        now_lineage: String,
    },
    /// Applying it would now do something else (the cloud changed since).
    #[error("the saved plan of stack `{stack}` no longer matches what applying it would do (the cloud changed since it was made). Nothing was changed; make a new plan and review it")]
    Changed {
        /// The stack.
        stack: String,
    },
}

impl SavedPlan {
    /// The plans of `specs`, to save.
    pub fn new(env: &str, image_tag: &str, targets: Vec<Address>, specs: &[StackSpec], plans: Vec<Plan>) -> Self {
        Self {
            kind: KIND.into(),
            format_version: FORMAT_VERSION,
            env: env.into(),
            image_tag: image_tag.into(),
            targets,
            apply_immediately: false,
            stacks: specs.iter().map(|s| s.name.clone()).collect(),
            specs: specs.to_vec(),
            plans,
        }
    }

    /// A saved plan from its JSON form; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self, SavedPlanError> {
        serde_json::from_str::<SavedPlan>(text)
            .ok()
            .filter(|s| s.kind == KIND && s.format_version == FORMAT_VERSION && s.plans.len() == s.stacks.len())
            .ok_or_else(|| SavedPlanError::NotAPlan { file: file.into() })
    }

    /// Its JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a saved plan serializes") + "\n"
    }

    /// Refuses the plan for another environment than `asked`.
    pub fn check_environment(&self, asked: &str, file: &str) -> Result<(), SavedPlanError> {
        if asked != self.env {
            return Err(SavedPlanError::OtherEnvironment {
                file: file.into(),
                saved: self.env.clone(),
                asked: asked.into(),
            });
        }
        Ok(())
    }

    /// Refuses the plan when the stacks built now are not the ones it was made from.
    pub fn check_declarations(&self, specs: &[StackSpec], file: &str) -> Result<(), SavedPlanError> {
        for (now, saved) in specs.iter().zip(&self.specs) {
            if now != saved {
                return Err(SavedPlanError::DeclarationChanged { stack: now.name.clone(), file: file.into() });
            }
        }
        Ok(())
    }

    /// The saved plan of `stack`.
    pub fn plan(&self, stack: &str) -> Option<&Plan> {
        self.stacks.iter().position(|s| s == stack).map(|i| &self.plans[i])
    }

    /// Refuses the saved plan of `now.stack` when its state changed since (lineage or serial), or
    /// when `now`, planned afresh, would do something else.
    pub fn verify(&self, now: &Plan) -> Result<(), SavedPlanError> {
        let Some(saved) = self.plan(&now.stack) else {
            return Err(SavedPlanError::Changed { stack: now.stack.clone() });
        };
        // A stack never applied gets a new lineage at every plan; it must still be unapplied.
        let same_state = if saved.serial == 0 {
            now.serial == 0
        } else {
            now.lineage == saved.lineage && now.serial == saved.serial
        };
        if !same_state {
            return Err(SavedPlanError::Stale {
                stack: now.stack.clone(),
                serial: saved.serial,
                lineage: saved.lineage.clone(),
                now_serial: now.serial,
                now_lineage: now.lineage.clone(),
            });
        }
        if shape(saved) != shape(now) {
            return Err(SavedPlanError::Changed { stack: now.stack.clone() });
        }
        Ok(())
    }
}

/// What a plan would do, independent of values that were unknown when it was made: each address
/// with its action and the attributes it changes.
fn shape(plan: &Plan) -> Vec<(&Address, Action, Vec<&str>)> {
    plan.resources
        .iter()
        .filter(|r| r.action != Action::NoOp)
        .map(|r| (&r.address, r.action, r.changes.iter().map(|c| c.path.as_str()).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Env, Stack};
    use crate::plan::{plan, Upstream};
    use crate::resources::test_thing::Thing;
    use crate::state::StackState;

    fn spec(size: u32) -> StackSpec {
        let mut s = Stack::new("s", &Env::new("dev").unwrap());
        s.add("a", Thing { size, ..Thing::default() });
        s.build().unwrap()
    }

    #[test]
    fn a_saved_plan_reads_back_and_is_refused_when_anything_it_relied_on_changed() {
        let spec = spec(1);
        let state = StackState::new("s", &spec.env);
        let planned = plan(&spec, &state, &[], &Upstream::default()).unwrap();
        let saved = SavedPlan::new("dev", "v1", vec![], std::slice::from_ref(&spec), vec![planned.clone()]);
        let again = SavedPlan::from_json(&saved.to_json(), "p.json").unwrap();
        assert_eq!(again, saved);
        assert!(again.verify(&planned).is_ok());
        assert!(again.check_declarations(std::slice::from_ref(&spec), "p.json").is_ok());
        assert_eq!(
            again.check_declarations(&[self::spec(2)], "p.json"),
            Err(SavedPlanError::DeclarationChanged { stack: "s".into(), file: "p.json".into() })
        );
        let mut applied = planned.clone();
        applied.serial = 3;
        assert!(matches!(again.verify(&applied), Err(SavedPlanError::Stale { .. })));
        let mut other = planned.clone();
        other.resources.clear();
        assert_eq!(again.verify(&other), Err(SavedPlanError::Changed { stack: "s".into() }));
        assert_eq!(
            SavedPlan::from_json("{}", "junk.plan").unwrap_err().to_string(),
            "junk.plan is not a plan saved by `platform plan --out`"
        );
        assert!(again.check_environment("prod", "p.json").is_err());
    }
}
