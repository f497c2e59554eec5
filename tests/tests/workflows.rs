//! The pipeline's GitHub Actions workflows pass a real linter (actionlint, through
//! `scripts/actionlint`), the scripts they run parse, and no workflow uses long-lived AWS keys.

// Tests report what they measured (nextest shows it in the CI log).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::Command;

use platform_tests::workspace_root;

fn actionlint(files: &[&std::path::Path]) -> std::process::Output {
    Command::new(workspace_root().join("scripts/actionlint")).args(files).output().expect("scripts/actionlint runs")
}

#[test]
fn the_workflows_pass_actionlint() {
    let out = actionlint(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "actionlint found errors:\n{stdout}");
    let workflows = std::fs::read_dir(workspace_root().join(".github/workflows")).unwrap().count();
    assert!(stdout.contains(&format!("actionlint: {workflows} files, 0 errors")), "{stdout}");
}

#[test]
fn the_linter_catches_a_broken_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ secret.TOKEN }}\n",
    )
    .unwrap();
    let out = actionlint(&[&broken]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("broken.yml:6:") && stdout.contains("undefined variable \"secret\""), "{stdout}");
}

#[test]
fn the_pipeline_scripts_parse() {
    for entry in std::fs::read_dir(workspace_root().join("scripts/ci")).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn aws_access_goes_through_oidc_roles_only() {
    let dir = workspace_root().join(".github/workflows");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for key in ["aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            assert!(!text.contains(key), "{} uses long-lived keys ({key})", path.display());
        }
        if text.contains("configure-aws-credentials") {
            assert!(text.contains("role-to-assume:"), "{}: credentials come from a role", path.display());
            assert!(text.contains("id-token: write"), "{}: the job may request an OIDC token", path.display());
        }
    }
}

/// Every workflow file, parsed.
fn workflows() -> std::collections::BTreeMap<String, serde_json::Value> {
    let dir = workspace_root().join(".github/workflows");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value: serde_json::Value =
                yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, value)
        })
        .collect()
}

#[test]
fn every_job_presents_a_subject_its_role_trusts_and_every_trusted_subject_is_presented() {
    use platform_tests::github::{aws_jobs, check};
    let environments = stacks::Environments::builtin();
    let repository = environments.get("dev").unwrap().github_repository.clone();
    let jobs = aws_jobs(&repository, &workflows()).unwrap();
    for job in &jobs {
        println!("{}: {:?} with {:?}", job.name, job.subjects, job.role_variables);
    }
    // Deploys to three environments, plans of pull requests (two jobs), the drift check.
    assert_eq!(jobs.len(), 6, "{jobs:#?}");
    let problems = check(&jobs, &environments);
    assert!(problems.is_empty(), "the workflows and the roles' trust disagree:\n{}", problems.join("\n"));
}

#[test]
fn a_job_whose_environment_no_role_trusts_or_a_subject_no_job_presents_is_found() {
    use platform_tests::github::{aws_jobs, check};
    let environments = stacks::Environments::builtin();
    let repository = "acme/card-platform";

    // The dev deploy job runs in the GitHub environment `development`: dev's deploy role does not
    // know it, and nothing presents what it trusts.
    let mut renamed = workflows();
    renamed.get_mut("main.yml").unwrap()["jobs"]["dev"]["with"]["environment"] = "development".into();
    let problems = check(&aws_jobs(repository, &renamed).unwrap(), &environments);
    assert!(
        problems.iter().any(|p| p.contains("GitHub environment `development`")
            && p.contains("no environment's ci_deploy_environments lists `development`")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p
            .contains("the dev deploy role trusts `repo:acme/card-platform:environment:dev`, which no job presents")),
        "{problems:#?}"
    );

    // The deploy job without its environment (taking dev's role from a repository variable)
    // presents the branch's subject, as a push to main does: refused by a role that trusts the
    // GitHub environment `dev`.
    let mut no_environment = workflows();
    let deploy = &mut no_environment.get_mut("deploy.yml").unwrap()["jobs"]["deploy"];
    deploy.as_object_mut().unwrap().remove("environment");
    let credentials = deploy["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials")))
        .unwrap();
    credentials["with"]["role-to-assume"] = "${{ vars.DEV_DEPLOY_ROLE_ARN }}".into();
    let problems = check(&aws_jobs(repository, &no_environment).unwrap(), &environments);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("presents `repo:acme/card-platform:ref:refs/heads/main`")
                && p.contains("would be refused")),
        "{problems:#?}"
    );

    // A pull request's plan job that assumes prod's plan role: prod does not trust pull requests.
    let mut prod_from_pull_requests = workflows();
    prod_from_pull_requests.get_mut("pull-request.yml").unwrap()["jobs"]["plan"]["steps"][5]["with"]
        ["role-to-assume"] = "${{ vars.PROD_PLAN_ROLE_ARN }}".into();
    let problems = check(&aws_jobs(repository, &prod_from_pull_requests).unwrap(), &environments);
    assert!(
        problems
            .iter()
            .any(|p| p
                .contains("presents `repo:acme/card-platform:pull_request`, which the prod plan role does not trust")),
        "{problems:#?}"
    );
}
