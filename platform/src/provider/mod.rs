//! Providers carry out create, read, update and delete of resources. The engine only sees
//! this trait; [`aws`] talks to AWS through the AWS SDK for Rust, [`memory`] keeps resources
//! in memory for engine tests.

pub mod aws;
pub mod memory;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::model::Address;
pub use crate::plan::Identity;

/// Where a long wait reports how it is going (`deployment ecs-svc/1 in progress: 1 of 2 tasks
/// running`); the engine passes each report on as an [`crate::report::ApplyEvent::Progress`].
pub type Progress = dyn Fn(&str) + Send + Sync;

/// A [`Progress`] that drops every report.
pub fn no_progress(_: &str) {}

/// A resource to create: props fully resolved (no references, no unknowns).
#[derive(Debug, Clone)]
pub struct Desired {
    /// Its address (for messages and tags).
    pub address: Address,
    /// Its type.
    pub type_name: String,
    /// Its deterministic name.
    pub name: Option<String>,
    /// Its resolved props.
    pub props: Value,
    /// The idempotency token of this create (recorded with its intent): the same for every
    /// attempt of it, so that a create sent again after a lost answer is recognised by the APIs
    /// that take one (EC2's `ClientToken`, ECS's `clientToken`, Cloud Map's `CreatorRequestId`),
    /// and new for every other create, so that a re-create after a destroy is not taken for the
    /// old one.
    pub token: String,
}

/// A resource that exists, as recorded.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Its address.
    pub address: Address,
    /// Its type.
    pub type_name: String,
    /// Its physical id.
    pub physical_id: String,
    /// Its deterministic name.
    pub name: Option<String>,
    /// The props last applied.
    pub props: Value,
    /// The outputs last recorded.
    pub outputs: BTreeMap<String, Value>,
    /// Whether the user named it explicitly as allowed to be deleted: a provider may then lift
    /// protections of its own (RDS deletion protection) before deleting.
    pub delete_allowed: bool,
}

/// What to look for when a create may have happened without its result being recorded (the run
/// was killed during the call, or its answer was lost): the resource as it was to be created.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Its address (its `platform:address` tag).
    pub address: Address,
    /// The environment (its `platform:env` tag).
    pub env: String,
    /// Its type.
    pub type_name: String,
    /// Its deterministic name.
    pub name: Option<String>,
    /// The resolved props it was created with.
    pub props: Value,
    /// When the create was sent (its intent's start), when known: a lookup right after a
    /// create may not see it yet (AWS's describes are eventually consistent).
    pub since: Option<std::time::SystemTime>,
}

/// A resource [`Provider::find`] found: its physical id and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The physical id.
    pub physical_id: String,
    /// Its props and outputs, as a read reports them.
    pub observed: Observed,
}

/// What a create or update left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The physical id.
    pub physical_id: String,
    /// The outputs (every output of the type's schema).
    pub outputs: BTreeMap<String, Value>,
}

/// What a read found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The attributes that could be read, in the same form as the declared props.
    /// Attributes AWS does not report back keep their recorded values.
    pub props: Map<String, Value>,
    /// The outputs.
    pub outputs: BTreeMap<String, Value>,
}

/// A failure of a provider call.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// AWS refused or failed the call. `message` holds the SDK error's whole chain.
    #[error("{operation} failed: {message}")]
    Api {
        /// The API operation, e.g. `ec2:CreateVpc`.
        operation: &'static str,
        /// The AWS error code, if there was one.
        code: Option<String>,
        /// The error and its causes.
        message: String,
    },
    /// A wait ran past its deadline.
    #[error("timed out after {}s waiting for {waiting_for}", after.as_secs())]
    Timeout {
        /// What was awaited.
        waiting_for: String,
        /// The deadline.
        after: Duration,
    },
    /// An asynchronous AWS operation ended in failure.
    #[error("{what} failed: {message}")]
    OperationFailed {
        /// The operation.
        what: String,
        /// AWS's explanation.
        message: String,
    },
    /// A delete that AWS kept refusing because something still uses the resource (network
    /// interfaces of tasks or load balancers that are going away, say) until the deadline.
    #[error("{resource} is still in use after {}s{}", after.as_secs(), holders_text(holders))]
    StillInUse {
        /// The resource.
        resource: String,
        /// What still holds it, as far as AWS tells (`eni-1 (ELB app/x/1)`).
        holders: Vec<String>,
        /// How long the delete was retried.
        after: Duration,
        /// AWS's last refusal.
        #[source]
        source: Box<ProviderError>,
    },
    /// The provider does not handle this type.
    #[error("resource type `{0}` is not supported by this provider")]
    UnsupportedType(String),
    /// The resource was created but a later step of its creation failed. The engine records
    /// it as tainted, so the next apply replaces it instead of losing track of it.
    #[error("{} was created, but setting it up failed", applied.physical_id)]
    Incomplete {
        /// What was created.
        applied: Applied,
        /// The step that failed.
        #[source]
        source: Box<ProviderError>,
    },
    /// The props do not have the expected form (a bug, or a state written by another version).
    #[error("props of `{address}` are malformed: {message}")]
    Malformed {
        /// The resource.
        address: Address,
        /// What is wrong.
        message: String,
    },
}

fn holders_text(holders: &[String]) -> String {
    if holders.is_empty() {
        String::new()
    } else {
        format!(", held by {}", holders.join(", "))
    }
}

impl ProviderError {
    /// Whether the error says the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        // AWS WAF says `WAFNonexistentItemException`
        // (https://docs.aws.amazon.com/waf/latest/APIReference/CommonErrors.html).
        matches!(self, ProviderError::Api { code: Some(code), .. }
            if code.contains("NotFound") || code.contains("NoSuch") || code == "WAFNonexistentItemException")
    }

    /// Whether AWS may answer this only because something a request names was created moments ago
    /// and is not visible to it yet: "not found", and IAM's refusal of a policy naming a principal
    /// it cannot resolve yet (a just-created OIDC provider or role in a trust: IAM is eventually
    /// consistent, <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>).
    pub fn is_not_yet_visible(&self) -> bool {
        self.is_not_found()
            || matches!(self, ProviderError::Api { code: Some(code), message, .. }
                if code == "MalformedPolicyDocument" && message.contains("Invalid principal"))
            // A flow log naming a delivery role created moments ago: EC2 cannot assume it yet
            // (IAM's consistency again; answered `InvalidParameter: Unable to assume given IAM
            // role`, https://github.com/hashicorp/terraform-provider-aws/issues/29323).
            || matches!(self, ProviderError::Api { code: Some(code), message, .. }
                if code == "InvalidParameter" && message.contains("Unable to assume given IAM role"))
            // RDS naming an Enhanced Monitoring role created moments ago (`InvalidParameterValue:
            // IAM role ARN value is invalid or does not include the required permissions for:
            // ENHANCED_MONITORING`, which Terraform's RDS resources retry for the same reason:
            // https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/rds/instance.go).
            || matches!(self, ProviderError::Api { code: Some(code), message, .. }
                if code == "InvalidParameterValue"
                    && message.contains("IAM role ARN value is invalid or does not include the required permissions"))
            // AWS WAF naming a web ACL (or a resource) created moments ago: "If you've just
            // created a resource that you're using in this operation, you might just need to wait
            // a few minutes" (https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html;
            // the WAF calls themselves wait longer: provider/aws/wafv2.rs).
            || matches!(self, ProviderError::Api { code: Some(code), .. } if code == "WAFUnavailableEntityException")
            // A KMS key created moments ago, named by what it encrypts: "changes to AWS KMS
            // resources might not be immediately visible … in some cases it can take several
            // minutes" (https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html).
            // CloudWatch Logs answers that its key "does not exist or is not allowed to be used"
            // (a policy that never lets it stays refused once the window is over), ECR
            // `KmsException`, RDS `KMSKeyNotAccessibleFault`.
            || matches!(self, ProviderError::Api { code: Some(code), message, .. }
                if code == "AccessDeniedException" && message.contains("KMS key"))
            || matches!(self, ProviderError::Api { code: Some(code), .. }
                if code == "KmsException" || code == "KMSKeyNotAccessibleFault")
    }
}

/// Create, read, update and delete of resources of the types a provider supports.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Who the provider acts as and where, asked once: with no usable credentials this fails,
    /// before anything is planned.
    async fn identity(&self) -> Result<Identity, ProviderError>;

    /// Creates a resource and returns its physical id and outputs.
    async fn create(&self, desired: &Desired) -> Result<Applied, ProviderError>;
    /// Reads a resource back; `None` if it no longer exists.
    async fn read(&self, existing: &Existing) -> Result<Option<Observed>, ProviderError>;
    /// Changes a resource in place to `desired` (resolved props).
    async fn update(&self, existing: &Existing, desired: &Value) -> Result<Applied, ProviderError>;
    /// Looks up a resource by what it was to be created with — its deterministic name, its
    /// `platform:*` tags, the parent it belongs to — so that a create whose result was never
    /// recorded is adopted rather than made twice. `None` when no such resource exists.
    async fn find(&self, lookup: &Lookup) -> Result<Option<Found>, ProviderError>;

    /// Deletes a resource, and waits until it is gone and has released what it held (its
    /// network interfaces, say), reporting to `progress` while it waits. Deleting one that is
    /// already gone succeeds.
    async fn delete(&self, existing: &Existing, progress: &Progress) -> Result<(), ProviderError>;

    /// Waits until a resource of a type whose schema `awaits` is available after a create or
    /// update (a database, an ECS service's rollout), reporting to `progress`, and returns its
    /// outputs then (an endpoint, say). Waiting again for an available resource returns at once.
    async fn await_ready(
        &self,
        existing: &Existing,
        _progress: &Progress,
    ) -> Result<BTreeMap<String, Value>, ProviderError> {
        Ok(existing.outputs.clone())
    }

    /// The types whose resources [`Provider::read_batch`] reads many at a time, with fewer calls
    /// than one per resource (describe calls taking id lists or filters).
    fn batch_types(&self) -> &'static [&'static str] {
        &[]
    }

    /// Reads resources of one type; one result per resource, in order, `None` for those that no
    /// longer exist. By default one [`Provider::read`] after the other.
    async fn read_batch(&self, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
        let mut out = Vec::with_capacity(existing.len());
        for e in existing {
            out.push(self.read(e).await?);
        }
        Ok(out)
    }
}
