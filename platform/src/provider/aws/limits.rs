//! How many operations of each AWS service may run at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many operations of each AWS service may run at once, on top of the engine's overall
/// parallelism, so that one stack never throttles itself: IAM's and Cloud Map's control planes
/// take a few requests a second, EC2's many more. A service not listed is limited by the engine's
/// parallelism only.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLimits(pub BTreeMap<&'static str, usize>);

impl Default for ServiceLimits {
    fn default() -> Self {
        Self(BTreeMap::from([
            ("ec2", 20),
            ("ecr", 5),
            ("ecs", 10),
            ("elbv2", 10),
            ("iam", 4),
            ("logs", 10),
            ("rds", 5),
            // Route 53 takes five requests a second per account, all APIs together
            // (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests),
            // and a record's create polls its change until it is in sync.
            ("route53", 4),
            ("s3", 10),
            ("servicediscovery", 4),
        ]))
    }
}

/// The slots of each service, shared by every clone of a provider.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots(Arc<BTreeMap<&'static str, Arc<Semaphore>>>);

impl Slots {
    /// Slots for `limits` (at least one per service).
    pub fn new(limits: ServiceLimits) -> Self {
        Self(Arc::new(limits.0.into_iter().map(|(k, v)| (k, Arc::new(Semaphore::new(v.max(1))))).collect()))
    }

    /// Waits for a slot of the service of `type_name`; held for the whole operation.
    pub async fn take(&self, type_name: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.0.get(service_of(type_name))?.clone();
        Some(semaphore.acquire_owned().await.expect("limit semaphores are never closed"))
    }
}

/// The service of a type (`aws.ec2.vpc` → `ec2`).
fn service_of(type_name: &str) -> &str {
    type_name.strip_prefix("aws.").and_then(|t| t.split('.').next()).unwrap_or(type_name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_service_of_a_type_is_its_second_part() {
        assert_eq!(super::service_of("aws.ec2.vpc"), "ec2");
        assert_eq!(super::service_of("aws.servicediscovery.service"), "servicediscovery");
    }
}
