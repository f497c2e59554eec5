//! How AWS failures are classified, and how long the provider keeps trying.
//!
//! - throttling (`Throttling`, `RequestLimitExceeded`, `SlowDown`...) and transient failures (5xx
//!   answers, `InternalError`, `ServiceUnavailable`, and calls that got no answer at all: the
//!   connection failed or dropped, or timed out) are retried with exponential backoff and full
//!   jitter, within a deadline;
//! - right after a create, a resource it depends on may not be visible yet (`...NotFound`): a
//!   create is retried for a while before the error stands, and so is any call that AWS answers
//!   "not found" about a resource this provider created moments ago (EC2 and IAM are eventually
//!   consistent: <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>);
//! - a delete refused because something still uses the resource (`DependencyViolation`,
//!   `ResourceInUse`, `ClusterContains...`: network interfaces of tasks and load balancers
//!   outlive them for minutes) is retried until the resource is released or a deadline passes;
//! - anything else (validation, permissions, limits) fails at once, with its cause.
//!
//! A create whose outcome is unknown (no answer, a 5xx, a throttle after a retry, "already
//! exists") is never simply repeated: [`super::AwsProvider`]'s `create` looks the resource up
//! first.

use std::time::{Duration, Instant};

use crate::provider::ProviderError;

/// How to react to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not again: the request was refused for a reason retrying does not change.
    No,
    /// Again, more slowly: AWS throttled the call.
    Throttled,
    /// Again: AWS failed, or no answer came back (the call may or may not have taken effect).
    Transient,
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
];

const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    // AWS WAF: "Your request is valid, but WAF couldn’t perform the operation because of a system
    // problem. Retry your request." (https://docs.aws.amazon.com/waf/latest/APIReference/CommonErrors.html)
    "WAFInternalErrorException",
];

impl ProviderError {
    /// How to react to this failure.
    pub fn retry(&self) -> Retry {
        match self {
            ProviderError::Api { code: Some(code), .. } if THROTTLING.contains(&code.as_str()) => Retry::Throttled,
            ProviderError::Api { code: Some(code), .. } if TRANSIENT.contains(&code.as_str()) => Retry::Transient,
            // Nothing listens at the endpoint: the SDK's own attempts were enough to tell; a wrong
            // endpoint or a network that is down is the user's to fix, not to wait out.
            ProviderError::Api { code: None, message, .. }
                if message.contains("Connection refused") || message.contains("error trying to connect") =>
            {
                Retry::No
            }
            // No error code: the call got no (readable) answer — a dropped connection, a timeout,
            // an answer that is not AWS's.
            ProviderError::Api { code: None, .. } => Retry::Transient,
            _ => Retry::No,
        }
    }

    /// Whether AWS refuses to delete the resource because something still uses it, which goes
    /// away by itself after a while: network interfaces of deleted tasks and load balancers
    /// (EC2 `DependencyViolation`:
    /// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>), registered
    /// instances of a Cloud Map service or a target group still in a listener (`ResourceInUse`:
    /// <https://docs.aws.amazon.com/cloud-map/latest/api/API_DeleteService.html>,
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteTargetGroup.html>),
    /// services or tasks of an ECS cluster still draining (`ClusterContains...`:
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteCluster.html>), a DB
    /// subnet or parameter group whose instance is being deleted, a database busy with another
    /// change.
    pub fn is_in_use(&self) -> bool {
        matches!(self, ProviderError::Api { code: Some(code), .. } if IN_USE.contains(&code.as_str()))
    }

    /// Whether AWS says the resource to create exists already (by name, or a duplicate rule).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ProviderError::Api { code: Some(code), .. }
            if code.contains("AlreadyExists")
                || code.contains("Duplicate")
                || code.contains("AlreadyOwnedByYou")
                || code.contains("AlreadyAssociated"))
    }
}

const IN_USE: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    "ClusterContainsContainerInstancesException",
    "InvalidDBSubnetGroupStateFault",
    "InvalidDBParameterGroupState",
    "InvalidDBInstanceState",
    // A web ACL still associated with a resource: removed associations take a moment to be seen
    // (https://docs.aws.amazon.com/waf/latest/APIReference/API_DeleteWebACL.html).
    "WAFAssociatedItemException",
];

/// `f`, again after throttling and transient failures (exponential backoff with jitter, within a
/// deadline); any other failure at once.
pub(crate) async fn retrying<T, F, Fut>(what: &str, f: F) -> Result<T, ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut backoff = Backoff::new(what);
    loop {
        match f().await {
            Err(err) if err.retry() != Retry::No => backoff.wait(err).await?,
            other => return other,
        }
    }
}

/// Backoff of one operation: exponential from 200 ms, capped at 10 s, full jitter; gives up after
/// ten attempts or two minutes.
#[derive(Debug)]
pub struct Backoff {
    what: String,
    started: Instant,
    attempts: u32,
}

const MAX_ATTEMPTS: u32 = 10;
const DEADLINE: Duration = Duration::from_secs(120);
/// How long a create may wait for what it depends on to become visible, and how long after its
/// create a resource may still be unknown to some AWS calls.
pub(crate) const CONSISTENCY_WINDOW: Duration = Duration::from_secs(120);

impl Backoff {
    /// The backoff of one operation on `what` (a type, for the logs).
    pub fn new(what: &str) -> Self {
        Self { what: what.to_string(), started: Instant::now(), attempts: 0 }
    }

    /// Whether a create may still wait for what it depends on to become visible.
    pub fn eventually_consistent(&self) -> bool {
        self.started.elapsed() < CONSISTENCY_WINDOW
    }

    /// Sleeps before the next attempt after `err`, or gives `err` back when the attempts or the
    /// deadline are spent.
    pub async fn wait(&mut self, err: ProviderError) -> Result<(), ProviderError> {
        self.attempts += 1;
        if self.attempts >= MAX_ATTEMPTS || self.started.elapsed() > DEADLINE {
            tracing::warn!(what = %self.what, attempts = self.attempts, error = %err, "giving up");
            return Err(err);
        }
        let base = Duration::from_millis(200) * 2u32.pow(self.attempts.min(6));
        let cap = base.min(Duration::from_secs(10));
        // Full jitter: anywhere between nothing and the cap, so that retries do not line up.
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1_000) as u32;
        let delay = cap * fraction / 1_000;
        tracing::debug!(what = %self.what, attempt = self.attempts, ?delay, error = %err, "retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: Option<&str>) -> ProviderError {
        ProviderError::Api { operation: "x:Y", code: code.map(str::to_string), message: "m".into() }
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(api(Some("Throttling")).retry(), Retry::Throttled);
        assert_eq!(api(Some("RequestLimitExceeded")).retry(), Retry::Throttled);
        assert_eq!(api(Some("InternalError")).retry(), Retry::Transient);
        assert_eq!(api(None).retry(), Retry::Transient, "no answer: the outcome is unknown");
        let refused = ProviderError::Api {
            operation: "x:Y",
            code: None,
            message: "dispatch failure: io error: Connection refused (os error 111)".into(),
        };
        assert_eq!(refused.retry(), Retry::No, "nothing listens: not waited out");
        assert_eq!(api(Some("AccessDenied")).retry(), Retry::No);
        assert_eq!(api(Some("ValidationError")).retry(), Retry::No);
        assert_eq!(api(Some("InvalidVpcID.NotFound")).retry(), Retry::No);
        assert!(api(Some("InvalidVpcID.NotFound")).is_not_yet_visible());
        let principal = |message: &str| ProviderError::Api {
            operation: "iam:CreateRole",
            code: Some("MalformedPolicyDocument".into()),
            message: message.into(),
        };
        assert!(principal("Invalid principal in policy: \"Federated\":\"arn:aws:iam::1:oidc-provider/x\"")
            .is_not_yet_visible());
        assert!(!principal("Policy document should not specify a principal.").is_not_yet_visible());
        let flow_log = |message: &str| ProviderError::Api {
            operation: "ec2:CreateFlowLogs",
            code: Some("InvalidParameter".into()),
            message: message.into(),
        };
        assert!(flow_log("Unable to assume given IAM role: arn:aws:iam::1:role/x").is_not_yet_visible());
        assert!(!flow_log("Invalid traffic type").is_not_yet_visible());
        let monitoring = |message: &str| ProviderError::Api {
            operation: "rds:CreateDBInstance",
            code: Some("InvalidParameterValue".into()),
            message: message.into(),
        };
        assert!(monitoring(
            "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"
        )
        .is_not_yet_visible());
        assert!(!monitoring("Invalid DB instance class").is_not_yet_visible());
        assert!(api(Some("DependencyViolation")).is_in_use());
        assert!(api(Some("ResourceInUse")).is_in_use());
        assert!(api(Some("ClusterContainsServicesException")).is_in_use());
        assert!(!api(Some("InvalidGroup.NotFound")).is_in_use());
        assert!(api(Some("WAFAssociatedItemException")).is_in_use());
        assert!(api(Some("WAFNonexistentItemException")).is_not_found());
        assert!(api(Some("WAFUnavailableEntityException")).is_not_yet_visible());
        assert_eq!(api(Some("DependencyViolation")).retry(), Retry::No, "retried by deletes only");
        assert!(api(Some("EntityAlreadyExists")).is_already_exists());
        assert!(api(Some("InvalidPermission.Duplicate")).is_already_exists());
        assert!(!api(Some("AccessDenied")).is_already_exists());
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_gives_up_after_ten_attempts() {
        let mut backoff = Backoff::new("t");
        for _ in 0..9 {
            backoff.wait(api(Some("Throttling"))).await.unwrap();
        }
        assert!(backoff.wait(api(Some("Throttling"))).await.is_err());
    }
}
