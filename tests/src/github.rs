//! What the GitHub Actions workflows present to AWS, read from the workflow files: for every job
//! that assumes a role (`aws-actions/configure-aws-credentials`), the OIDC token subjects its runs
//! present and the variable naming the role it assumes; reusable workflows (`workflow_call`) are
//! expanded with each caller's inputs. [`check`] holds them against the subjects each
//! environment's pipeline roles trust, both ways.
//!
//! The subject follows GitHub's rules
//! (<https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims>): a job
//! that references an environment presents `repo:REPO:environment:NAME`, whatever the event; a
//! job without one presents `repo:REPO:pull_request` when a pull request started the run, and
//! `repo:REPO:ref:REF` otherwise (a push: its branch; `schedule` runs only on the default branch,
//! `workflow_dispatch` is taken as run from it). A reusable workflow's jobs present their caller's
//! context (<https://docs.github.com/en/actions/how-tos/secure-your-work/security-harden-deployments/oidc-with-reusable-workflows>).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use stacks::Environments;

/// The branch `schedule` and `workflow_dispatch` runs are taken to run on.
pub const DEFAULT_BRANCH: &str = "main";

/// A job that assumes an AWS role.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsJob {
    /// `workflow.yml/job` (a reusable workflow's job as `caller.yml/job > called.yml/job`).
    pub name: String,
    /// The GitHub environment it references, if any.
    pub environment: Option<String>,
    /// The subjects its runs present (one per event that can start it).
    pub subjects: BTreeSet<String>,
    /// The variables its credential steps take the role from (`DEPLOY_ROLE_ARN` of
    /// `${{ vars.DEPLOY_ROLE_ARN }}`).
    pub role_variables: Vec<String>,
}

/// The events that start a workflow (`on:` as a string, a list or a map).
fn events(workflow: &Value) -> Vec<(String, Value)> {
    match &workflow["on"] {
        Value::String(e) => vec![(e.clone(), Value::Null)],
        Value::Array(list) => list.iter().filter_map(|e| e.as_str()).map(|e| (e.to_string(), Value::Null)).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => vec![],
    }
}

/// `text` with `${{ inputs.NAME }}` replaced by the caller's inputs.
fn substitute(text: &str, inputs: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = text.to_string();
    while let Some(start) = out.find("${{") {
        let end = out[start..].find("}}").ok_or_else(|| format!("unclosed expression in `{text}`"))? + start;
        let expression = out[start + 3..end].trim();
        let value = match expression.strip_prefix("inputs.") {
            Some(name) => inputs.get(name).cloned().ok_or_else(|| format!("`{text}`: no input `{name}` given"))?,
            None => return Err(format!("`{text}`: cannot tell the value of `{expression}`")),
        };
        out.replace_range(start..end + 2, &value);
    }
    Ok(out)
}

/// The subjects a job presents, given its environment and the events of the run.
fn subjects(
    repository: &str,
    environment: Option<&str>,
    events: &[(String, Value)],
) -> Result<BTreeSet<String>, String> {
    if let Some(environment) = environment {
        return Ok([format!("repo:{repository}:environment:{}", environment.replace(':', "%3A"))].into());
    }
    let mut subjects = BTreeSet::new();
    for (event, filter) in events {
        match event.as_str() {
            "pull_request" | "pull_request_target" => {
                subjects.insert(format!("repo:{repository}:pull_request"));
            }
            "push" => {
                let branches = filter["branches"]
                    .as_array()
                    .ok_or_else(|| "a push without a `branches` filter can present any branch's subject".to_string())?;
                for branch in branches.iter().filter_map(|b| b.as_str()) {
                    subjects.insert(format!("repo:{repository}:ref:refs/heads/{branch}"));
                }
            }
            "schedule" | "workflow_dispatch" => {
                subjects.insert(format!("repo:{repository}:ref:refs/heads/{DEFAULT_BRANCH}"));
            }
            "workflow_call" => {}
            other => return Err(format!("the subject of a `{other}` run is not known here")),
        }
    }
    Ok(subjects)
}

/// The jobs of `file` that assume AWS roles, run for `events` with `inputs`.
fn jobs_of(
    repository: &str,
    workflows: &BTreeMap<String, Value>,
    file: &str,
    events: &[(String, Value)],
    inputs: &BTreeMap<String, String>,
    prefix: &str,
    out: &mut Vec<AwsJob>,
) -> Result<(), String> {
    let workflow = workflows.get(file).ok_or_else(|| format!("{prefix}{file}: no such workflow"))?;
    let Some(jobs) = workflow["jobs"].as_object() else { return Ok(()) };
    for (id, job) in jobs {
        let name = format!("{prefix}{file}/{id}");
        if let Some(called) = job["uses"].as_str() {
            let called = called
                .strip_prefix("./.github/workflows/")
                .ok_or_else(|| format!("{name}: only the repository's own reusable workflows are followed"))?;
            let with: BTreeMap<String, String> = job["with"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                            Ok((k.clone(), substitute(&v, inputs)?))
                        })
                        .collect::<Result<_, String>>()
                })
                .transpose()?
                .unwrap_or_default();
            jobs_of(repository, workflows, called, events, &with, &format!("{name} > "), out)?;
            continue;
        }
        let environment = match &job["environment"] {
            Value::String(e) => Some(substitute(e, inputs).map_err(|e| format!("{name}: {e}"))?),
            Value::Object(e) => {
                Some(substitute(e["name"].as_str().unwrap_or_default(), inputs).map_err(|e| format!("{name}: {e}"))?)
            }
            _ => None,
        };
        let mut role_variables = vec![];
        for step in job["steps"].as_array().into_iter().flatten() {
            let uses = step["uses"].as_str().unwrap_or_default();
            if !uses.starts_with("aws-actions/configure-aws-credentials") {
                continue;
            }
            let role = step["with"]["role-to-assume"].as_str().unwrap_or_default();
            let variable = role
                .trim()
                .strip_prefix("${{")
                .and_then(|r| r.strip_suffix("}}"))
                .and_then(|r| r.trim().strip_prefix("vars."))
                .ok_or_else(|| format!("{name}: the role to assume is not a variable (`{role}`)"))?;
            role_variables.push(variable.trim().to_string());
        }
        if role_variables.is_empty() {
            continue;
        }
        let subjects = subjects(repository, environment.as_deref(), events).map_err(|e| format!("{name}: {e}"))?;
        out.push(AwsJob { name, environment, subjects, role_variables });
    }
    Ok(())
}

/// Every job of `workflows` (file name → parsed workflow) that assumes an AWS role, as the
/// repository's runs present it.
pub fn aws_jobs(repository: &str, workflows: &BTreeMap<String, Value>) -> Result<Vec<AwsJob>, String> {
    let mut out = vec![];
    for (file, workflow) in workflows {
        let events: Vec<(String, Value)> = events(workflow).into_iter().filter(|(e, _)| e != "workflow_call").collect();
        if events.is_empty() {
            continue; // only called by other workflows: expanded there
        }
        jobs_of(repository, workflows, file, &events, &BTreeMap::new(), "", &mut out)?;
    }
    Ok(out)
}

/// Which role a job's variable names: `(environment, "deploy" | "plan")`. `DEPLOY_ROLE_ARN` and
/// `PLAN_ROLE_ARN` are variables of the job's GitHub environment, the role of the environment
/// that deploys or plans from it; `DEV_PLAN_ROLE_ARN` (repository variables) names its
/// environment.
fn role_of(job: &AwsJob, variable: &str, environments: &Environments) -> Result<(String, &'static str), String> {
    let kind = if variable.ends_with("DEPLOY_ROLE_ARN") {
        "deploy"
    } else if variable.ends_with("PLAN_ROLE_ARN") {
        "plan"
    } else {
        return Err(format!("{}: cannot tell which role `vars.{variable}` names", job.name));
    };
    let prefix = variable.trim_end_matches("DEPLOY_ROLE_ARN").trim_end_matches("PLAN_ROLE_ARN");
    if let Some(env) = prefix.strip_suffix('_') {
        let env = env.to_lowercase();
        environments.get(&env).map_err(|e| format!("{}: `vars.{variable}`: {e}", job.name))?;
        return Ok((env, kind));
    }
    let Some(github) = &job.environment else {
        return Err(format!(
            "{}: `vars.{variable}` without a GitHub environment names no environment's role",
            job.name
        ));
    };
    for name in environments.names() {
        let environment = environments.get(name)?;
        let list =
            if kind == "deploy" { &environment.ci_deploy_environments } else { &environment.ci_plan_environments };
        if list.contains(github) {
            return Ok((name.to_string(), kind));
        }
    }
    Err(format!(
        "{}: runs in the GitHub environment `{github}` and assumes the {kind} role of `vars.{variable}`, but no environment's ci_{kind}_environments lists `{github}`",
        job.name
    ))
}

/// What disagrees between the jobs and the subjects the roles trust: a job presenting a subject
/// its role does not trust (it would be refused), and a role trusting a subject no job presents
/// (a door nobody uses).
pub fn check(jobs: &[AwsJob], environments: &Environments) -> Vec<String> {
    let mut problems = vec![];
    let mut presented: BTreeMap<(String, &'static str), BTreeSet<String>> = BTreeMap::new();
    for job in jobs {
        for variable in &job.role_variables {
            let (env, kind) = match role_of(job, variable, environments) {
                Ok(role) => role,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let environment = environments.get(&env).expect("checked");
            let trusted =
                if kind == "deploy" { environment.ci_deploy_subjects() } else { environment.ci_plan_subjects() };
            for subject in &job.subjects {
                if !trusted.contains(subject) {
                    problems.push(format!(
                        "{} presents `{subject}`, which the {env} {kind} role does not trust (it trusts {trusted:?}): the job would be refused",
                        job.name
                    ));
                }
            }
            presented.entry((env, kind)).or_default().extend(job.subjects.iter().cloned());
        }
    }
    for name in environments.names() {
        let environment = environments.get(name).expect("listed");
        for (kind, trusted) in [("deploy", environment.ci_deploy_subjects()), ("plan", environment.ci_plan_subjects())]
        {
            let used = presented.get(&(name.to_string(), kind)).cloned().unwrap_or_default();
            for subject in trusted.iter().filter(|s| !used.contains(*s)) {
                problems.push(format!("the {name} {kind} role trusts `{subject}`, which no job presents to it"));
            }
        }
    }
    problems
}
