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
