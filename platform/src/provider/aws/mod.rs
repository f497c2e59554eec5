//! The AWS provider: create, read, update and delete through the AWS SDK for Rust.
//!
//! Credentials, region and endpoint come from the standard `aws-config` chain (profiles,
//! environment, SSO, instance roles; `AWS_REGION`, `AWS_ENDPOINT_URL`). Nothing here names a
//! region, an account or a zone: availability zones are discovered from the region.
//!
//! Layout: each resource type is one [`resource::AwsResource`] in its AWS service's module
//! (`ec2/` by resource family), listed once in [`registry`]; [`client`] holds the SDK clients,
//! [`support`] what the types share, [`retry`] how failures are classified, [`limits`] the
//! concurrency per AWS service. This module only dispatches, with slots and retries. Imports run
//! one way: this module → registry → types → client and support.

mod acm;
mod client;
mod ec2;
mod ecr;
mod ecs;
mod elbv2;
mod iam;
mod kms;
mod limits;
mod logs;
mod rds;
mod registry;
mod resource;
mod retry;
mod route53;
mod s3;
mod secretsmanager;
mod servicediscovery;
mod support;
mod wafv2;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub use client::Deadlines;
pub use limits::ServiceLimits;

use super::{Applied, Desired, Existing, Found, Identity, Lookup, Observed, Progress, Provider, ProviderError};
use client::Aws;
use limits::Slots;
use registry::implementation;
use retry::retrying;

/// The AWS provider.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    aws: Arc<Aws>,
    /// Operations of one AWS service running at once (see [`ServiceLimits`]).
    slots: Slots,
}

impl AwsProvider {
    /// A provider configured by the standard AWS chain.
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config)
    }

    /// A provider using `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { aws: Arc::new(Aws::new(config, None)), slots: Slots::new(ServiceLimits::default()) }
    }

    /// A provider using `config`, with `interceptor` in every client: to record or audit the
    /// calls it makes (the deploy role's permissions are checked against such a record).
    pub fn with_interceptor(
        config: &aws_config::SdkConfig,
        interceptor: aws_sdk_ec2::config::SharedInterceptor,
    ) -> Self {
        Self { aws: Arc::new(Aws::new(config, Some(interceptor))), slots: Slots::new(ServiceLimits::default()) }
    }

    /// A provider using `config` that waits for AWS as long as `deadlines` say.
    pub fn with_deadlines(config: &aws_config::SdkConfig, deadlines: Deadlines) -> Self {
        let aws = Aws::new(config, None).with_deadlines(deadlines);
        Self { aws: Arc::new(aws), slots: Slots::new(ServiceLimits::default()) }
    }

    /// This provider with other per-service limits.
    pub fn with_limits(mut self, limits: ServiceLimits) -> Self {
        self.slots = Slots::new(limits);
        self
    }

    /// A resource that exists with id `physical_id`, to be brought to `d`'s props.
    fn existing_of(d: &Desired, physical_id: &str) -> Existing {
        Existing {
            address: d.address.clone(),
            type_name: d.type_name.clone(),
            physical_id: physical_id.to_string(),
            name: d.name.clone(),
            props: d.props.clone(),
            outputs: BTreeMap::new(),
            delete_allowed: false,
        }
    }

    /// Whether `err` is worth another attempt: throttling and transient failures, and "not found"
    /// about something this provider created moments ago (eventual consistency).
    fn again(&self, err: &ProviderError) -> bool {
        err.retry() != retry::Retry::No || self.aws.just_created(err)
    }

    /// `f`, again after the failures [`AwsProvider::again`] allows (with backoff, within a
    /// deadline).
    async fn retrying<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut backoff = retry::Backoff::new(what);
        loop {
            match f().await {
                Err(err) if self.again(&err) => backoff.wait(err).await?,
                other => return other,
            }
        }
    }

    /// Remembers what a create made, so that AWS answering "not found" about it for a while is
    /// waited out rather than believed.
    fn remember(&self, d: &Desired, applied: &Applied) {
        let outputs = applied.outputs.values().filter_map(Value::as_str);
        self.aws
            .remember_created(std::iter::once(applied.physical_id.as_str()).chain(d.name.as_deref()).chain(outputs));
    }

    /// Reads what exists and updates it to `d`'s props (a create that was found after all, or
    /// whose later steps failed).
    async fn converge(
        &self,
        existing: &Existing,
        d: &Desired,
        backoff: &mut retry::Backoff,
    ) -> Result<Applied, ProviderError> {
        let kind = implementation(&d.type_name)?;
        loop {
            let attempt = async {
                let observed = match kind.read(&self.aws, existing).await? {
                    Some(observed) => observed,
                    // Describes may not list a resource created moments ago yet: waited out.
                    None if self.aws.created_lately(&existing.physical_id) => {
                        return Err(ProviderError::Api {
                            operation: "describe",
                            code: Some("NotFound".into()),
                            message: format!("{} is not listed yet", existing.physical_id),
                        })
                    }
                    None => {
                        return Err(ProviderError::OperationFailed {
                            what: format!("creating {}", d.address),
                            message: format!("{} was created but is gone", existing.physical_id),
                        })
                    }
                };
                let mut props = match &d.props {
                    Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                // What AWS reports replaces the declared value (and the update sets it back);
                // what it does not report stays as declared.
                props.extend(observed.props);
                let current =
                    Existing { props: Value::Object(props), outputs: observed.outputs.clone(), ..existing.clone() };
                let mut applied = kind.update(&self.aws, &current, &d.props).await?;
                let mut outputs = observed.outputs;
                outputs.extend(applied.outputs);
                applied.outputs = outputs;
                Ok::<_, ProviderError>(applied)
            };
            match attempt.await {
                Err(err) if self.again(&err) => backoff.wait(err).await?,
                other => return other,
            }
        }
    }

    /// Finds what a create may have made, and reads it: adopted only if it is this address's.
    /// Looks the resource up; when the create was sent moments ago and nothing is found, looks
    /// again a few times (1, 2, 4 s later): AWS's describes may not list a resource for a moment
    /// after its create (<https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>),
    /// and a create found missing is made again. The caller holds the type's slot.
    async fn find_again(&self, lookup: &Lookup) -> Result<Option<Found>, ProviderError> {
        let mut pause = std::time::Duration::from_secs(1);
        loop {
            let found = retrying(&lookup.type_name, || self.find_once(lookup)).await?;
            let recent =
                lookup.since.and_then(|since| since.elapsed().ok()).is_some_and(|age| age < retry::CONSISTENCY_WINDOW);
            if found.is_some() || !recent || pause > std::time::Duration::from_secs(4) {
                return Ok(found);
            }
            tracing::debug!(address = %lookup.address, ?pause, "not found moments after its create; looking again");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    async fn find_once(&self, lookup: &Lookup) -> Result<Option<Found>, ProviderError> {
        let kind = implementation(&lookup.type_name)?;
        let Some(id) = kind.find(&self.aws, lookup).await? else { return Ok(None) };
        let existing = Existing {
            address: lookup.address.clone(),
            type_name: lookup.type_name.clone(),
            physical_id: id.clone(),
            name: lookup.name.clone(),
            props: lookup.props.clone(),
            outputs: BTreeMap::new(),
            delete_allowed: false,
        };
        let Some(observed) = kind.read(&self.aws, &existing).await? else { return Ok(None) };
        // Only what platform made for this address is adopted: a resource of the same name that
        // carries another address, or none (made by hand, or by another tool), is not taken over.
        // Buckets are the exception for a missing tag: their name holds the account, and their
        // tags are set in a call after the create.
        let tag = |key: &str| observed.props.get("tags").and_then(|t| t.get(key)).and_then(Value::as_str);
        let owner = tag(crate::model::TAG_ADDRESS);
        // Addresses repeat across environments (`pipeline.github` in dev and in prod): the
        // environment must be this one too, where the resource says.
        let same_env = tag(crate::model::TAG_ENV).is_none_or(|env| env == lookup.env);
        let ours = match owner {
            Some(owner) => owner == lookup.address.to_string() && same_env,
            // Untaggable types are found by their parent (an association by its table and
            // subnet, a grant by its rule's description), which names them.
            None => !kind.schema().taggable || kind.schema().type_name == crate::resources::s3::BUCKET.type_name,
        };
        if !ours {
            tracing::warn!(
                address = %lookup.address,
                env = %lookup.env,
                %id,
                ?owner,
                other_env = ?tag(crate::model::TAG_ENV),
                "a resource with this name exists but is not this address's"
            );
            return Ok(None);
        }
        Ok(Some(Found { physical_id: id, observed }))
    }
}

#[async_trait]
impl Provider for AwsProvider {
    async fn identity(&self) -> Result<Identity, ProviderError> {
        self.aws.identity().await
    }

    /// Creates a resource without ever making it twice: the SDK does not retry (a lost answer
    /// would make a duplicate); when a create fails in a way that leaves its effect unknown, or
    /// says the resource exists, the resource is looked up by its name and tags first, and if it
    /// is there it is brought to the declared props instead of created again.
    async fn create(&self, d: &Desired) -> Result<Applied, ProviderError> {
        let kind = implementation(&d.type_name)?;
        let _slot = self.slots.take(&d.type_name).await;
        let mut backoff = retry::Backoff::new(&d.type_name);
        let sent = std::time::SystemTime::now();
        loop {
            let err = match kind.create(&self.aws, d).await {
                Ok(applied) => {
                    self.remember(d, &applied);
                    return Ok(applied);
                }
                Err(ProviderError::Incomplete { applied, source }) => {
                    // Created, a later step failed: finish it (a step AWS answered "not found"
                    // about the new resource, moments after creating it, included), or report
                    // it incomplete.
                    self.remember(d, &applied);
                    if !self.again(&source) {
                        return Err(ProviderError::Incomplete { applied, source });
                    }
                    let existing = Self::existing_of(d, &applied.physical_id);
                    return match self.converge(&existing, d, &mut backoff).await {
                        Ok(done) => Ok(done),
                        Err(err) => Err(ProviderError::Incomplete { applied, source: Box::new(err) }),
                    };
                }
                Err(err) => err,
            };
            let unknown = err.retry() != retry::Retry::No || err.is_already_exists();
            // Right after a create, what it depends on may not be visible yet: a while longer.
            let not_yet_visible = err.is_not_yet_visible() && backoff.eventually_consistent();
            if !unknown && !not_yet_visible {
                return Err(err);
            }
            backoff.wait(err).await?;
            if unknown {
                let lookup = Lookup {
                    address: d.address.clone(),
                    env: d.props["tags"][crate::model::TAG_ENV].as_str().unwrap_or_default().to_string(),
                    type_name: d.type_name.clone(),
                    name: d.name.clone(),
                    props: d.props.clone(),
                    since: Some(sent),
                };
                // Looked for as a resumed create is (a describe moments after the create may
                // not list it yet), so a lost answer never makes it twice.
                if let Some(found) = self.find_again(&lookup).await? {
                    tracing::info!(address = %d.address, id = %found.physical_id, "found after an unanswered create");
                    let applied = Applied { physical_id: found.physical_id.clone(), outputs: found.observed.outputs };
                    self.remember(d, &applied);
                    let existing = Self::existing_of(d, &found.physical_id);
                    return self.converge(&existing, d, &mut backoff).await;
                }
            }
        }
    }

    fn batch_types(&self) -> &'static [&'static str] {
        registry::batch_types()
    }

    async fn read_batch(&self, existing: &[Existing]) -> Result<Vec<Option<Observed>>, ProviderError> {
        let type_name = existing.first().map(|e| e.type_name.as_str()).unwrap_or_default();
        let kind = implementation(type_name)?;
        let _slot = self.slots.take(type_name).await;
        retrying(type_name, || kind.read_batch(&self.aws, existing)).await
    }

    async fn read(&self, e: &Existing) -> Result<Option<Observed>, ProviderError> {
        let kind = implementation(&e.type_name)?;
        let _slot = self.slots.take(&e.type_name).await;
        retrying(&e.type_name, || kind.read(&self.aws, e)).await
    }

    /// Looks the resource up, again a few times when its create was sent moments ago
    /// ([`AwsProvider::find_again`]).
    async fn find(&self, lookup: &Lookup) -> Result<Option<Found>, ProviderError> {
        let _slot = self.slots.take(&lookup.type_name).await;
        self.find_again(lookup).await
    }

    async fn update(&self, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
        let kind = implementation(&e.type_name)?;
        let _slot = self.slots.take(&e.type_name).await;
        self.retrying(&e.type_name, || kind.update(&self.aws, e, desired)).await
    }

    /// Deletes, and waits out what AWS answers while the resource is still in use (network
    /// interfaces of tasks and load balancers linger for minutes after them): each refusal is
    /// retried, as often as a wait polls, until [`Aws::release_timeout`]; then the error names what still
    /// holds the resource. "Not found" means deleted, unless this provider created the
    /// resource moments ago (then AWS may not know it yet).
    async fn delete(&self, e: &Existing, progress: &Progress) -> Result<(), ProviderError> {
        let kind = implementation(&e.type_name)?;
        let _slot = self.slots.take(&e.type_name).await;
        let started = tokio::time::Instant::now();
        let mut reported: Option<String> = None;
        loop {
            let result = self
                .retrying(&e.type_name, || async {
                    match kind.delete(&self.aws, e, progress).await {
                        Err(err) if err.is_not_found() && !self.aws.just_created(&err) => Ok(()),
                        other => other,
                    }
                })
                .await;
            let err = match result {
                Err(err) if err.is_in_use() => err,
                other => return other,
            };
            // Looked at again as often as a wait polls: an eighth of the time waited so far.
            let delay = support::poll_delay(started.elapsed());
            if started.elapsed() + delay > self.aws.release_timeout {
                let holders = kind.holders(&self.aws, e).await.unwrap_or_default();
                return Err(ProviderError::StillInUse {
                    resource: format!("{} ({})", e.address, e.physical_id),
                    holders,
                    after: started.elapsed(),
                    source: Box::new(err),
                });
            }
            let code = match &err {
                ProviderError::Api { code: Some(code), .. } => code.as_str(),
                _ => "in use",
            };
            if reported.as_deref() != Some(code) {
                progress(&format!("still in use ({code}); trying again until it is released"));
                reported = Some(code.to_string());
            }
            tracing::debug!(address = %e.address, error = %err, "still in use; retrying the delete");
            tokio::time::sleep(delay).await;
        }
    }

    async fn await_ready(&self, e: &Existing, progress: &Progress) -> Result<BTreeMap<String, Value>, ProviderError> {
        let kind = implementation(&e.type_name)?;
        if !kind.awaits() {
            return Ok(e.outputs.clone());
        }
        self.retrying(&e.type_name, || kind.await_ready(&self.aws, e, progress)).await
    }
}
