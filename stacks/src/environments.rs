//! Environments as data: `environments.toml` names each environment and what it changes
//! (protection, availability, retention, sizes). Stacks read an [`Environment`]; the engine only
//! ever sees its name.

use std::collections::BTreeMap;

use platform::model::Env;
use serde::Deserialize;

/// The settings every stack reads, for one environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Deleting or replacing resources that hold data must be allowed by address.
    pub protected: bool,
    /// Standbys in other zones (Multi-AZ databases).
    pub high_availability: bool,
    /// Days of database backups.
    pub backup_retention_days: u32,
    /// RDS Performance Insights.
    pub performance_insights: bool,
    /// The database instance class.
    pub db_instance_class: String,
    /// The database's storage.
    pub db_allocated_storage_gb: u32,
    /// Storage autoscaling: the most the database's storage may grow to, in GiB; none: off.
    #[serde(default)]
    pub db_max_allocated_storage_gb: Option<u32>,
    /// When the database may be rebooted for changes and maintenance (`ddd:hh24:mi-ddd:hh24:mi`,
    /// UTC).
    pub db_maintenance_window: String,
    /// When the database's daily backup is taken (`hh24:mi-hh24:mi`, UTC).
    pub db_backup_window: String,
    /// Whether database changes that reboot it or fail it over are made at once; otherwise in
    /// its maintenance window (`platform apply --apply-immediately` makes them at once anyway).
    pub db_apply_immediately: bool,
    /// Whether deleting the database takes a final snapshot first.
    pub db_final_snapshot: bool,
    /// The VPC's address block, a /16 (`10.1.0.0/16`): environments get blocks of their own,
    /// so that their networks can be peered.
    pub network_cidr: String,
    /// Days log groups keep events.
    pub log_retention_days: u32,
    /// Buckets and repositories may be deleted with their content.
    pub force_destroy_data: bool,
    /// Tasks each service keeps running.
    pub service_desired_count: u32,
    /// A certificate for HTTPS on load balancers; without one they serve HTTP only.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The GitHub Actions token subjects allowed to assume this environment's deploy role
    /// (`repo:OWNER/REPO:ref:refs/heads/main`, `repo:OWNER/REPO:environment:prod`).
    pub ci_deploy_subjects: Vec<String>,
    /// The subjects allowed to assume the read-only plan role (pull requests).
    pub ci_plan_subjects: Vec<String>,
}

/// An environment: its name and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The name, as resources and states carry it.
    pub env: Env,
    /// What it changes.
    pub settings: Settings,
}

impl Environment {
    /// The first two numbers of the environment's `network_cidr` (checked to be `A.B.0.0/16`
    /// when the environments are read).
    pub fn network_prefix(&self) -> [u8; 2] {
        network_prefix(&self.settings.network_cidr).unwrap_or([10, 0])
    }
}

/// `[A, B]` of `A.B.0.0/16`.
fn network_prefix(cidr: &str) -> Option<[u8; 2]> {
    let (address, bits) = cidr.split_once('/')?;
    let parts: Vec<u8> = address.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    (bits == "16" && parts.len() == 4 && parts[2] == 0 && parts[3] == 0).then(|| [parts[0], parts[1]])
}

impl std::ops::Deref for Environment {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

/// Every environment of `environments.toml`.
#[derive(Debug, Clone)]
pub struct Environments(BTreeMap<String, Environment>);

impl Environments {
    /// The environments shipped in `stacks/environments.toml`.
    pub fn builtin() -> Self {
        Self::parse(include_str!("../environments.toml")).expect("environments.toml is valid")
    }

    /// Parses an environments document.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tables: BTreeMap<String, Settings> = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, settings) in &tables {
            if network_prefix(&settings.network_cidr).is_none() {
                return Err(format!(
                    "[{name}] network_cidr: `{}` is not a /16 block such as `10.1.0.0/16`",
                    settings.network_cidr
                ));
            }
        }
        let mut blocks: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, settings) in &tables {
            if let Some(other) = blocks.insert(settings.network_cidr.as_str(), name.as_str()) {
                return Err(format!(
                    "[{name}] network_cidr: `{}` is also [{other}]'s; environments need blocks of their own",
                    settings.network_cidr
                ));
            }
        }
        tables
            .into_iter()
            .map(|(name, settings)| Ok((name.clone(), Environment { env: Env::new(name)?, settings })))
            .collect::<Result<_, String>>()
            .map(Self)
    }

    /// The environment called `name`, or an error listing the known ones.
    pub fn get(&self, name: &str) -> Result<&Environment, String> {
        self.0.get(name).ok_or_else(|| {
            format!(
                "there is no environment `{name}` (environments: {}; they are defined in stacks/environments.toml)",
                self.names().join(", ")
            )
        })
    }

    /// The environments' names.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_is_protected_and_highly_available_and_dev_is_cheap() {
        let envs = Environments::builtin();
        assert_eq!(envs.names(), ["dev", "prod", "staging"]);
        let prod = envs.get("prod").unwrap();
        assert!(prod.protected && prod.high_availability && prod.backup_retention_days >= 14);
        let dev = envs.get("dev").unwrap();
        assert!(!dev.protected && !dev.high_availability && dev.backup_retention_days >= 7);
        assert!(prod.service_desired_count >= 2);
        assert!(envs.get("qa").unwrap_err().contains("environments: dev, prod, staging"));
    }

    #[test]
    fn every_setting_is_required() {
        let err = Environments::parse("[x]\nprotected = true\n").unwrap_err();
        assert!(err.contains("missing field"), "{err}");
        let err = Environments::parse("[Bad]\nprotected = true\n").unwrap_err();
        assert!(!err.is_empty());
    }
}
