//! The guardrail rules as data. Each file under `rules/` holds one family of rules (`[[rule]]`
//! tables: id, title, severity, description, fix, environments, equivalent scanner checks and the
//! checks themselves); `platform::policy` parses and evaluates them. The files are embedded so the
//! engine reads no files at run time. `documents/` holds policy documents as data (the deploy
//! role's).

/// Every rule file: its name under `rules/` and its text.
pub const RULE_FILES: &[(&str, &str)] = &[
    ("rds.toml", include_str!("../rules/rds.toml")),
    ("network.toml", include_str!("../rules/network.toml")),
    ("load-balancer.toml", include_str!("../rules/load-balancer.toml")),
    ("ecs.toml", include_str!("../rules/ecs.toml")),
    ("iam.toml", include_str!("../rules/iam.toml")),
    ("s3.toml", include_str!("../rules/s3.toml")),
    ("logs-and-registry.toml", include_str!("../rules/logs-and-registry.toml")),
    ("service.toml", include_str!("../rules/service.toml")),
    ("waf.toml", include_str!("../rules/waf.toml")),
    ("kms.toml", include_str!("../rules/kms.toml")),
];

/// The policy document of the pipeline's deploy role (`documents/deploy-role.toml`): what
/// deploying the stacks of one environment calls, scoped to that environment's names.
pub const DEPLOY_ROLE: &str = include_str!("../documents/deploy-role.toml");

/// The permissions boundary of every role the deploy role creates (`documents/role-boundary.toml`):
/// what a service's role may ever do in its environment.
pub const ROLE_BOUNDARY: &str = include_str!("../documents/role-boundary.toml");

/// What AWS checks on the caller beyond the action a call is named for
/// (`documents/implicit-permissions.toml`), with the AWS documentation of each.
pub const IMPLICIT_PERMISSIONS: &str = include_str!("../documents/implicit-permissions.toml");

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_under_rules_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = super::RULE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add the new file to RULE_FILES");
    }
}
