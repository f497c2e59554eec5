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
    /// Images each repository keeps (the most recently pushed; ECR expires older ones). More
    /// than the pushes between a deploy and any rollback to it.
    pub images_kept: u32,
    /// Days an untagged image (what a build left behind) is kept.
    pub untagged_image_days: u32,
    /// Days a bucket keeps an object's old versions (overwritten or deleted) before S3 expires
    /// them; the current version is never expired.
    pub noncurrent_version_days: u32,
    /// VPC flow logs: the IP traffic of every network interface of the VPC, recorded in a log
    /// group of the foundation (kept `log_retention_days`).
    pub flow_logs: bool,
    /// Access logs: every request to a service's load balancer and to a service's bucket is
    /// recorded in the foundation's access-log bucket (kept `log_retention_days`, then expired).
    pub access_logs: bool,
    /// A web ACL of AWS's managed rule groups in front of every internet-facing load balancer,
    /// logging into a log group of the foundation (kept `log_retention_days`).
    pub waf: bool,
    /// TLS from the load balancer to the tasks: HTTPS target groups, and services that serve
    /// their API port over TLS (`API_TLS=self-signed`).
    pub tls_to_tasks: bool,
    /// Customer-managed KMS keys (rotating yearly, protected like data): the foundation's for the
    /// environment's log groups and images, each dependencies stack's for its bucket, database
    /// storage and Performance Insights.
    pub customer_managed_keys: bool,
    /// The VPC's default security group is taken over and emptied: a resource launched without a
    /// group of its own reaches nothing and is reached by nothing.
    pub close_default_security_group: bool,
    /// Database logging: the engine's log (errors, connections, DDL, statements slower than a
    /// second, never their parameter values) through a parameter group the dependencies stack
    /// owns, published to CloudWatch Logs into a group kept `log_retention_days`.
    pub db_logging: bool,
    /// Enhanced Monitoring of databases: seconds between operating system metrics (1, 5, 10, 15,
    /// 30 or 60), or 0: off.
    pub db_monitoring_interval_seconds: u32,
    /// Buckets and repositories may be deleted with their content.
    pub force_destroy_data: bool,
    /// Tasks each service keeps running.
    pub service_desired_count: u32,
    /// The environment's public DNS zone (a Route 53 hosted zone of the account, delegated to by
    /// its parent domain): each service's load balancer is served at `NAME.DOMAIN` over HTTPS,
    /// with a certificate requested from ACM and validated through a record in that zone, and
    /// HTTP redirects to HTTPS. None: no DNS name, and HTTPS only with `certificate_arn`.
    #[serde(default)]
    pub domain: Option<String>,
    /// An issued ACM certificate of the environment's own for the load balancers' HTTPS, instead
    /// of the ones requested for `domain`. With neither, load balancers serve plain HTTP (which
    /// the `lb-https-only` rule refuses outside dev).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The GitHub environments whose jobs may assume this environment's deploy role.
    pub ci_deploy_environments: Vec<String>,
    /// The GitHub environments whose jobs may assume the read-only plan role.
    pub ci_plan_environments: Vec<String>,
    /// Whether pull requests (jobs without a GitHub environment) may assume the plan role.
    pub ci_plan_pull_requests: bool,
}

/// An environment: its name and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The name, as resources and states carry it.
    pub env: Env,
    /// What it changes.
    pub settings: Settings,
    /// The GitHub repository whose workflows deploy and plan it (`OWNER/REPO`).
    pub github_repository: String,
}

impl Environment {
    /// The GitHub Actions OIDC token subjects that may assume the deploy role: jobs of the
    /// environment's GitHub deploy environments. A job that names a GitHub environment presents
    /// `repo:OWNER/REPO:environment:NAME`, whatever event started it
    /// (<https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims>).
    pub fn ci_deploy_subjects(&self) -> Vec<String> {
        self.ci_deploy_environments.iter().map(|e| format!("repo:{}:environment:{e}", self.github_repository)).collect()
    }

    /// The subjects that may assume the plan role: pull requests where allowed
    /// (`repo:OWNER/REPO:pull_request`) and jobs of the GitHub plan environments.
    pub fn ci_plan_subjects(&self) -> Vec<String> {
        let pull_requests = self.ci_plan_pull_requests.then(|| format!("repo:{}:pull_request", self.github_repository));
        pull_requests
            .into_iter()
            .chain(self.ci_plan_environments.iter().map(|e| format!("repo:{}:environment:{e}", self.github_repository)))
            .collect()
    }

    /// Whether load balancers serve HTTPS (a domain or a certificate is declared).
    pub fn https(&self) -> bool {
        self.settings.domain.is_some() || self.settings.certificate_arn.is_some()
    }

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
        #[derive(Deserialize)]
        struct File {
            github_repository: String,
            #[serde(flatten)]
            tables: BTreeMap<String, Settings>,
        }
        let File { github_repository, tables } = toml::from_str(text).map_err(|e| e.to_string())?;
        let valid_part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !matches!(github_repository.split_once('/'), Some((owner, repo)) if valid_part(owner) && valid_part(repo)) {
            return Err(format!("github_repository: `{github_repository}` is not `OWNER/REPO`"));
        }
        for (name, settings) in &tables {
            if network_prefix(&settings.network_cidr).is_none() {
                return Err(format!(
                    "[{name}] network_cidr: `{}` is not a /16 block such as `10.1.0.0/16`",
                    settings.network_cidr
                ));
            }
            if let Some(domain) = &settings.domain {
                let label_ok = |l: &str| {
                    (1..=63).contains(&l.len())
                        && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                };
                if !domain.contains('.') || domain.len() > 200 || !domain.split('.').all(label_ok) {
                    return Err(format!(
                        "[{name}] domain: `{domain}` is not a lowercase DNS name such as `prod.example.com`"
                    ));
                }
            }
            let github = settings.ci_deploy_environments.iter().chain(&settings.ci_plan_environments);
            if let Some(bad) = github.clone().find(|e| !valid_part(e)) {
                return Err(format!("[{name}] `{bad}` is not a GitHub environment name"));
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
        // A GitHub environment's jobs present one subject: it may deploy or plan one environment.
        let mut github: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, settings) in &tables {
            for e in settings.ci_deploy_environments.iter().chain(&settings.ci_plan_environments) {
                if let Some(other) = github.insert(e.as_str(), name.as_str()) {
                    return Err(format!(
                        "[{name}] the GitHub environment `{e}` is also [{other}]'s: one GitHub environment, one role"
                    ));
                }
            }
        }
        tables
            .into_iter()
            .map(|(name, settings)| {
                let env = Env::new(name)?;
                Ok((env.to_string(), Environment { env, settings, github_repository: github_repository.clone() }))
            })
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
    fn ci_subjects_name_the_repository_and_the_github_environments() {
        let envs = Environments::builtin();
        let (dev, prod) = (envs.get("dev").unwrap(), envs.get("prod").unwrap());
        assert_eq!(dev.ci_deploy_subjects(), ["repo:acme/card-platform:environment:dev"]);
        assert_eq!(dev.ci_plan_subjects(), ["repo:acme/card-platform:pull_request"]);
        assert_eq!(prod.ci_deploy_subjects(), ["repo:acme/card-platform:environment:prod"]);
        assert_eq!(
            prod.ci_plan_subjects(),
            ["repo:acme/card-platform:environment:prod-plan", "repo:acme/card-platform:environment:prod-read"],
            "pull requests do not plan prod"
        );
        let text = include_str!("../environments.toml");
        let shared = text.replacen(
            r#"ci_plan_environments = ["prod-plan", "prod-read"]"#,
            r#"ci_plan_environments = ["dev"]"#,
            1,
        );
        let err = Environments::parse(&shared).unwrap_err();
        assert!(err.contains("the GitHub environment `dev` is also [dev]'s"), "{err}");
        let bad = text.replacen(r#""acme/card-platform""#, r#""card-platform""#, 1);
        assert!(Environments::parse(&bad).unwrap_err().contains("is not `OWNER/REPO`"));
        let ids = text.replacen(r#""acme/card-platform""#, r#""acme@1234/card-platform@5678""#, 1);
        let ids = Environments::parse(&ids).unwrap();
        assert_eq!(ids.get("dev").unwrap().ci_deploy_subjects(), ["repo:acme@1234/card-platform@5678:environment:dev"]);
    }

    #[test]
    fn every_setting_is_required() {
        let err = Environments::parse("[x]\nprotected = true\n").unwrap_err();
        assert!(err.contains("missing field"), "{err}");
        let err = Environments::parse("[Bad]\nprotected = true\n").unwrap_err();
        assert!(!err.is_empty());
    }
}
