//! RDS DB subnet groups, parameter groups and instances. An instance is created, recorded, then awaited until it is
//! available ([`AwsResource::await_ready`]); deletes wait until it is gone.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{
    ApplyMethod, DbInstance as AwsInstance, DbParameterGroup as DbParameterGroupDescription, Parameter, Tag,
};

use super::client::Aws;
use super::resource::{read_one, AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, missing, poll_delay, refs, sync_tags, tags, texts, wait_for};
use crate::model::Ref;
use crate::provider::ProviderError;
use crate::resources::rds::{
    DbEngine, DbInstance, DbInstanceOutputs, DbParameterGroup, DbParameterGroupOutputs, DbSubnetGroup,
    DbSubnetGroupOutputs,
};
use crate::resources::Tags;

/// `aws.rds.db_subnet_group`.
pub(crate) struct DbSubnetGroups;
/// `aws.rds.db_parameter_group`.
pub(crate) struct DbParameterGroups;
/// `aws.rds.db_instance`.
pub(crate) struct DbInstances;

fn rds_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn tags_of(list: &[Tag]) -> Tags {
    tags(list.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())))
}

async fn sync_rds_tags(aws: &Aws, arn: &str, old: &Tags, new: &Tags) -> Result<(), ProviderError> {
    sync_tags(
        old,
        new,
        |remove| async move {
            aws.rds
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(api("rds:RemoveTagsFromResource"))?;
            Ok(())
        },
        |set| async move {
            let tags = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            aws.rds
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(api("rds:AddTagsToResource"))?;
            Ok(())
        },
    )
    .await
}

#[async_trait]
impl AwsResource for DbSubnetGroups {
    type Props = DbSubnetGroup;
    type Outputs = DbSubnetGroupOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, DbSubnetGroup>,
    ) -> Result<Created<DbSubnetGroupOutputs>, ProviderError> {
        let name = new.name()?;
        let out = aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(&new.props.description)
            .set_subnet_ids(Some(texts(&new.props.subnets)))
            .set_tags(Some(rds_tags(&new.props.tags)))
            .send()
            .await
            .map_err(api("rds:CreateDBSubnetGroup"))?;
        let arn = out.db_subnet_group().and_then(|g| g.db_subnet_group_arn()).unwrap_or_default();
        let outputs = DbSubnetGroupOutputs { name: name.to_string(), arn: arn.to_string() };
        Ok(Created { physical_id: name.to_string(), outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, DbSubnetGroup>,
    ) -> Result<Option<Read<DbSubnetGroup, DbSubnetGroupOutputs>>, ProviderError> {
        let out = aws
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(recorded.physical_id)
            .send()
            .await
            .map_err(api("rds:DescribeDBSubnetGroups"))?;
        let Some(g) = out.db_subnet_groups().first() else { return Ok(None) };
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        let listed =
            aws.rds.list_tags_for_resource().resource_name(arn).send().await.map_err(api("rds:ListTagsForResource"))?;
        let name = g.db_subnet_group_name().unwrap_or_default();
        let props = DbSubnetGroup {
            description: g.db_subnet_group_description().unwrap_or_default().to_string(),
            subnets: refs(g.subnets().iter().filter_map(|s| s.subnet_identifier())),
            tags: tags_of(listed.tag_list()),
        };
        let outputs = DbSubnetGroupOutputs { name: recorded.physical_id.to_string(), arn: arn.to_string() };
        Ok(Some(Read::named(props, name, outputs)))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, DbSubnetGroup, DbSubnetGroupOutputs>,
        new: &DbSubnetGroup,
    ) -> Result<(), ProviderError> {
        let old = &current.props;
        if old.description != new.description || old.subnets != new.subnets {
            aws.rds
                .modify_db_subnet_group()
                .db_subnet_group_name(current.physical_id)
                .db_subnet_group_description(&new.description)
                .set_subnet_ids(Some(texts(&new.subnets)))
                .send()
                .await
                .map_err(api("rds:ModifyDBSubnetGroup"))?;
        }
        sync_rds_tags(aws, &current.outputs.arn, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, DbSubnetGroup, DbSubnetGroupOutputs>,
    ) -> Result<(), ProviderError> {
        aws.rds
            .delete_db_subnet_group()
            .db_subnet_group_name(current.physical_id)
            .send()
            .await
            .map_err(api("rds:DeleteDBSubnetGroup"))?;
        Ok(())
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, DbSubnetGroup>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }
}

/// The most parameters one `ModifyDBParameterGroup` or `ResetDBParameterGroup` takes
/// (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBParameterGroup.html).
const PARAMETERS_PER_CALL: usize = 20;

/// How a parameter change is applied: `immediate` only works for dynamic parameters; static ones
/// (and any whose kind is unknown) take `pending-reboot`, applied at the instances' next reboot
/// (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_Parameter.html).
fn apply_method(apply_type: Option<&str>) -> ApplyMethod {
    match apply_type {
        Some("dynamic") => ApplyMethod::Immediate,
        _ => ApplyMethod::PendingReboot,
    }
}

/// The parameters of a group: with `source` (`user`), only those set on it.
async fn parameters(aws: &Aws, group: &str, source: Option<&str>) -> Result<Vec<Parameter>, ProviderError> {
    let mut found = vec![];
    let mut pages = aws
        .rds
        .describe_db_parameters()
        .db_parameter_group_name(group)
        .set_source(source.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        found.extend(page.map_err(api("rds:DescribeDBParameters"))?.parameters().iter().cloned());
    }
    Ok(found)
}

async fn describe_parameter_group(aws: &Aws, name: &str) -> Result<Option<DbParameterGroupDescription>, ProviderError> {
    let out = aws
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(name)
        .send()
        .await
        .map_err(api("rds:DescribeDBParameterGroups"));
    match out {
        Ok(out) => Ok(out.db_parameter_groups().first().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets `set` and resets `reset` (to the engine's defaults) on a group, 20 parameters a call,
/// each applied as its kind allows.
async fn change_parameters(
    aws: &Aws,
    group: &str,
    set: &BTreeMap<String, String>,
    reset: &[String],
) -> Result<(), ProviderError> {
    if set.is_empty() && reset.is_empty() {
        return Ok(());
    }
    let kinds: HashMap<String, Option<String>> = parameters(aws, group, None)
        .await?
        .into_iter()
        .filter_map(|p| Some((p.parameter_name()?.to_string(), p.apply_type().map(str::to_string))))
        .collect();
    let method = |name: &str| apply_method(kinds.get(name).and_then(|t| t.as_deref()));
    let to_set: Vec<Parameter> = set
        .iter()
        .map(|(name, value)| {
            Parameter::builder().parameter_name(name).parameter_value(value).apply_method(method(name)).build()
        })
        .collect();
    for chunk in to_set.chunks(PARAMETERS_PER_CALL) {
        aws.rds
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api("rds:ModifyDBParameterGroup"))?;
    }
    let to_reset: Vec<Parameter> =
        reset.iter().map(|name| Parameter::builder().parameter_name(name).apply_method(method(name)).build()).collect();
    for chunk in to_reset.chunks(PARAMETERS_PER_CALL) {
        aws.rds
            .reset_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api("rds:ResetDBParameterGroup"))?;
    }
    Ok(())
}

#[async_trait]
impl AwsResource for DbParameterGroups {
    type Props = DbParameterGroup;
    type Outputs = DbParameterGroupOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, DbParameterGroup>,
    ) -> Result<Created<DbParameterGroupOutputs>, ProviderError> {
        let (g, name) = (&new.props, new.name()?);
        let out = aws
            .rds
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(&g.family)
            .description(&g.description)
            .set_tags(Some(rds_tags(&g.tags)))
            .send()
            .await
            .map_err(api("rds:CreateDBParameterGroup"))?;
        let arn = out.db_parameter_group().and_then(|g| g.db_parameter_group_arn()).unwrap_or_default();
        let outputs = DbParameterGroupOutputs { name: name.to_string(), arn: arn.to_string() };
        change_parameters(aws, name, &g.parameters, &[]).await.map_err(incomplete(name, &outputs))?;
        Ok(Created { physical_id: name.to_string(), outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, DbParameterGroup>,
    ) -> Result<Option<Read<DbParameterGroup, DbParameterGroupOutputs>>, ProviderError> {
        let Some(g) = describe_parameter_group(aws, recorded.physical_id).await? else { return Ok(None) };
        let name = g.db_parameter_group_name().unwrap_or_default();
        let arn = g.db_parameter_group_arn().unwrap_or_default();
        let set = parameters(aws, name, Some("user")).await?;
        let listed =
            aws.rds.list_tags_for_resource().resource_name(arn).send().await.map_err(api("rds:ListTagsForResource"))?;
        let props = DbParameterGroup {
            family: g.db_parameter_group_family().unwrap_or_default().to_string(),
            description: g.description().unwrap_or_default().to_string(),
            parameters: set
                .iter()
                .filter_map(|p| Some((p.parameter_name()?.to_string(), p.parameter_value()?.to_string())))
                .collect(),
            tags: tags_of(listed.tag_list()),
        };
        let outputs = DbParameterGroupOutputs { name: name.to_string(), arn: arn.to_string() };
        Ok(Some(Read::named(props, name, outputs)))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, DbParameterGroup, DbParameterGroupOutputs>,
        new: &DbParameterGroup,
    ) -> Result<(), ProviderError> {
        let old = &current.props;
        let set: BTreeMap<String, String> = new
            .parameters
            .iter()
            .filter(|(k, v)| old.parameters.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reset: Vec<String> = old.parameters.keys().filter(|k| !new.parameters.contains_key(*k)).cloned().collect();
        change_parameters(aws, current.physical_id, &set, &reset).await?;
        sync_rds_tags(aws, &current.outputs.arn, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, DbParameterGroup, DbParameterGroupOutputs>,
    ) -> Result<(), ProviderError> {
        aws.rds
            .delete_db_parameter_group()
            .db_parameter_group_name(current.physical_id)
            .send()
            .await
            .map_err(api("rds:DeleteDBParameterGroup"))?;
        Ok(())
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, DbParameterGroup>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }
}

fn instance_outputs(db: &AwsInstance) -> DbInstanceOutputs {
    DbInstanceOutputs {
        identifier: db.db_instance_identifier().unwrap_or_default().to_string(),
        arn: db.db_instance_arn().unwrap_or_default().to_string(),
        resource_id: db.dbi_resource_id().unwrap_or_default().to_string(),
        address: db.endpoint().and_then(|e| e.address()).map(str::to_string),
        port: db.endpoint().and_then(|e| e.port()).or(db.db_instance_port()),
        master_user_secret_arn: db.master_user_secret().and_then(|s| s.secret_arn()).map(str::to_string),
    }
}

async fn describe(aws: &Aws, identifier: &str) -> Result<Option<AwsInstance>, ProviderError> {
    let out = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
        .map_err(api("rds:DescribeDBInstances"));
    match out {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// States from which an instance does not become available by waiting.
const FAILED: &[&str] = &[
    "failed",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-restore",
    "storage-full",
    "inaccessible-encryption-credentials",
];

/// An instance as read; `None` while it is being deleted.
fn observe_instance(
    db: &AwsInstance,
    recorded: &Recorded<'_, DbInstance>,
) -> Result<Option<Read<DbInstance, DbInstanceOutputs>>, ProviderError> {
    if db.db_instance_status() == Some("deleting") {
        return Ok(None);
    }
    let identifier = db.db_instance_identifier().unwrap_or_default();
    let engine = match db.engine() {
        Some("postgres") => DbEngine::Postgres,
        Some("mysql") => DbEngine::Mysql,
        other => {
            return Err(missing(
                &format!("reading database {identifier}"),
                &format!("its engine {other:?} is not one platform manages (postgres, mysql)"),
            ))
        }
    };
    // A declared major version ("17") is met by any of its minor versions ("17.4").
    let declared = recorded.kept(|p| p.engine_version.clone());
    let engine_version = db.engine_version().unwrap_or_default();
    let number = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or_default();
    // Modifications waiting for the maintenance window are reported as pending
    // (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PendingModifiedValues.html>):
    // they are what the instance is going to be, and what was applied, so they are read as its
    // attributes (no change is planned again while they wait).
    let pending = db.pending_modified_values();
    let engine_version = pending.and_then(|p| p.engine_version()).unwrap_or(engine_version);
    let engine_version = if !declared.is_empty() && engine_version.starts_with(&format!("{declared}.")) {
        &declared
    } else {
        engine_version
    };
    let max_allocated = db.max_allocated_storage().and_then(|v| u32::try_from(v).ok());
    let mut allocated = number(pending.and_then(|p| p.allocated_storage()).or(db.allocated_storage()));
    // Storage autoscaling grows the storage by itself, up to its maximum: growth within it is
    // not a change (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html>).
    let declared_storage = recorded.kept(|p| p.allocated_storage_gb);
    if max_allocated.is_some_and(|max| allocated > declared_storage && allocated <= max) && declared_storage > 0 {
        allocated = declared_storage;
    }
    let monitoring = db.monitoring_interval().and_then(|v| u32::try_from(v).ok()).unwrap_or_default();
    // A window RDS picked (none declared) is not a change; a declared one is read back.
    let window = |reported: Option<&str>, declared: Option<String>| declared.and(reported.map(str::to_string));
    let props = DbInstance {
        engine,
        engine_version: engine_version.to_string(),
        instance_class: pending
            .and_then(|p| p.db_instance_class())
            .or(db.db_instance_class())
            .unwrap_or_default()
            .to_string(),
        allocated_storage_gb: allocated,
        storage_type: pending.and_then(|p| p.storage_type()).or(db.storage_type()).unwrap_or_default().to_string(),
        storage_encrypted: db.storage_encrypted().unwrap_or(false),
        multi_az: pending.and_then(|p| p.multi_az()).or(db.multi_az()).unwrap_or(false),
        backup_retention_days: number(
            pending.and_then(|p| p.backup_retention_period()).or(db.backup_retention_period()),
        ),
        deletion_protection: db.deletion_protection().unwrap_or(false),
        publicly_accessible: db.publicly_accessible().unwrap_or(false),
        master_username: db.master_username().unwrap_or_default().to_string(),
        manage_master_user_password: db.master_user_secret().is_some(),
        db_name: db.db_name().unwrap_or_default().to_string(),
        port: pending
            .and_then(|p| p.port())
            .or(db.endpoint().and_then(|e| e.port()))
            .or(db.db_instance_port())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default(),
        subnet_group: Ref::existing(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()).unwrap_or_default()),
        security_groups: refs(db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id())),
        copy_tags_to_snapshot: db.copy_tags_to_snapshot().unwrap_or(false),
        auto_minor_version_upgrade: db.auto_minor_version_upgrade().unwrap_or(false),
        // Not every endpoint reports Performance Insights; when it does not, the recorded value stands.
        performance_insights: db
            .performance_insights_enabled()
            .unwrap_or_else(|| recorded.kept(|p| p.performance_insights)),
        // The keys: RDS reports `aws/rds` (its ARN) for an instance created without one of its
        // own; that reads as none, as declared.
        kms_key: db
            .kms_key_id()
            .filter(|_| recorded.props.as_ref().is_none_or(|p| p.kms_key.is_some()))
            .map(Ref::existing),
        performance_insights_kms_key: db
            .performance_insights_kms_key_id()
            .filter(|_| db.performance_insights_enabled().unwrap_or(false))
            .filter(|_| recorded.props.as_ref().is_none_or(|p| p.performance_insights_kms_key.is_some()))
            .map(Ref::existing)
            .or_else(|| {
                // Not every endpoint reports Performance Insights: then the recorded key stands.
                db.performance_insights_enabled()
                    .is_none()
                    .then(|| recorded.kept(|p| p.performance_insights_kms_key.clone()))
                    .flatten()
            }),
        // The engine's default group (`default.postgres17`) is what an instance declared without
        // one uses.
        parameter_group: db
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .filter(|name| !name.starts_with("default."))
            .map(Ref::existing),
        log_exports: {
            let mut logs = db.enabled_cloudwatch_logs_exports().to_vec();
            logs.sort();
            logs
        },
        monitoring_interval_seconds: monitoring,
        // With Enhanced Monitoring off, a role RDS still reports (it keeps the last one named) is
        // not in use: read as none, as declared.
        monitoring_role: db.monitoring_role_arn().filter(|arn| !arn.is_empty() && monitoring > 0).map(Ref::existing),
        final_snapshot: recorded.kept(|p| p.final_snapshot),
        max_allocated_storage_gb: max_allocated.filter(|max| *max > allocated),
        maintenance_window: window(db.preferred_maintenance_window(), recorded.kept(|p| p.maintenance_window.clone())),
        backup_window: window(db.preferred_backup_window(), recorded.kept(|p| p.backup_window.clone())),
        apply_immediately: recorded.props.as_ref().is_none_or(|p| p.apply_immediately),
        tags: tags_of(db.tag_list()),
    };
    Ok(Some(Read::named(props, identifier, instance_outputs(db))))
}

#[async_trait]
impl AwsResource for DbInstances {
    type Props = DbInstance;
    type Outputs = DbInstanceOutputs;

    const BATCHED: bool = true;
    const AWAITS: bool = true;
    /// Whether a final snapshot is taken, and whether changes are applied at once, are how
    /// platform deletes and modifies, not attributes of the instance.
    const NOT_REPORTED: &'static [&'static str] = &["final_snapshot", "apply_immediately"];

    async fn create(&self, aws: &Aws, new: &New<'_, DbInstance>) -> Result<Created<DbInstanceOutputs>, ProviderError> {
        let i = &new.props;
        let name = new.name()?;
        let engine = match i.engine {
            DbEngine::Postgres => "postgres",
            DbEngine::Mysql => "mysql",
        };
        let out = aws
            .rds
            .create_db_instance()
            .db_instance_identifier(name)
            .engine(engine)
            .engine_version(&i.engine_version)
            .db_instance_class(&i.instance_class)
            .allocated_storage(i32::try_from(i.allocated_storage_gb).unwrap_or(i32::MAX))
            .storage_type(&i.storage_type)
            .storage_encrypted(i.storage_encrypted)
            .multi_az(i.multi_az)
            .backup_retention_period(i32::try_from(i.backup_retention_days).unwrap_or(i32::MAX))
            .deletion_protection(i.deletion_protection)
            .publicly_accessible(i.publicly_accessible)
            .master_username(&i.master_username)
            .manage_master_user_password(i.manage_master_user_password)
            .db_name(&i.db_name)
            .port(i32::from(i.port))
            .db_subnet_group_name(i.subnet_group.as_str())
            .set_vpc_security_group_ids(Some(texts(&i.security_groups)))
            .copy_tags_to_snapshot(i.copy_tags_to_snapshot)
            .auto_minor_version_upgrade(i.auto_minor_version_upgrade)
            .enable_performance_insights(i.performance_insights)
            .set_kms_key_id(i.kms_key.as_ref().map(|k| k.as_str().to_string()))
            .set_performance_insights_kms_key_id(
                i.performance_insights_kms_key
                    .as_ref()
                    .filter(|_| i.performance_insights)
                    .map(|k| k.as_str().to_string()),
            )
            .set_db_parameter_group_name(i.parameter_group.as_ref().map(|g| g.as_str().to_string()))
            .set_enable_cloudwatch_logs_exports((!i.log_exports.is_empty()).then(|| i.log_exports.clone()))
            .monitoring_interval(i32::try_from(i.monitoring_interval_seconds).unwrap_or_default())
            .set_monitoring_role_arn(i.monitoring_role.as_ref().map(|r| r.as_str().to_string()))
            .set_max_allocated_storage(i.max_allocated_storage_gb.map(|v| i32::try_from(v).unwrap_or(i32::MAX)))
            .set_preferred_maintenance_window(i.maintenance_window.clone())
            .set_preferred_backup_window(i.backup_window.clone())
            .set_tags(Some(rds_tags(&i.tags)))
            .send()
            .await
            .map_err(api("rds:CreateDBInstance"))?;
        let db = out.db_instance().ok_or_else(|| missing("rds:CreateDBInstance", "the response holds no instance"))?;
        Ok(Created { physical_id: name.to_string(), outputs: instance_outputs(db) })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, DbInstance>,
    ) -> Result<Option<Read<DbInstance, DbInstanceOutputs>>, ProviderError> {
        read_one(self, aws, recorded).await
    }

    /// One `DescribeDBInstances` filtered by identifiers (100 a call), tags included.
    async fn read_batch(
        &self,
        aws: &Aws,
        recorded: &[Recorded<'_, DbInstance>],
    ) -> Result<Vec<Option<Read<DbInstance, DbInstanceOutputs>>>, ProviderError> {
        let mut found = HashMap::new();
        for chunk in recorded.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|r| r.physical_id.to_string()).collect();
            let filter = aws_sdk_rds::types::Filter::builder().name("db-instance-id").set_values(Some(ids)).build();
            let mut pages = aws.rds.describe_db_instances().filters(filter).into_paginator().send();
            while let Some(page) = pages.next().await {
                for db in page.map_err(api("rds:DescribeDBInstances"))?.db_instances() {
                    found.insert(db.db_instance_identifier().unwrap_or_default().to_string(), db.clone());
                }
            }
        }
        recorded
            .iter()
            .map(|r| match found.get(r.physical_id) {
                Some(db) => observe_instance(db, r),
                None => Ok(None),
            })
            .collect()
    }

    /// One `ModifyDBInstance` with what changed, once the instance can take it: RDS refuses a
    /// modification while the instance is busy (`InvalidDBInstanceState`:
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html>), so it
    /// waits until the instance is `available` (or `storage-optimization`, which takes other
    /// changes), and retries the refusal until the database deadline. Changes that reboot or
    /// fail over wait for the maintenance window unless `apply_immediately`.
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, DbInstance, DbInstanceOutputs>,
        new: &DbInstance,
    ) -> Result<(), ProviderError> {
        let (old, id) = (&current.props, current.physical_id);
        let mut modify =
            aws.rds.modify_db_instance().db_instance_identifier(id).apply_immediately(new.apply_immediately);
        let mut changed = false;
        macro_rules! when_changed {
            ($field:ident, $setter:ident, $convert:expr) => {
                if old.$field != new.$field {
                    modify = modify.$setter($convert(new.$field.clone()));
                    changed = true;
                }
            };
        }
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        fn same<T>(v: T) -> T {
            v
        }
        when_changed!(instance_class, db_instance_class, same);
        when_changed!(allocated_storage_gb, allocated_storage, int);
        when_changed!(storage_type, storage_type, same);
        when_changed!(multi_az, multi_az, same);
        when_changed!(backup_retention_days, backup_retention_period, int);
        when_changed!(deletion_protection, deletion_protection, same);
        when_changed!(publicly_accessible, publicly_accessible, same);
        when_changed!(manage_master_user_password, manage_master_user_password, same);
        when_changed!(port, db_port_number, i32::from);
        when_changed!(copy_tags_to_snapshot, copy_tags_to_snapshot, same);
        when_changed!(auto_minor_version_upgrade, auto_minor_version_upgrade, same);
        when_changed!(performance_insights, enable_performance_insights, same);
        // The key goes with Performance Insights being turned on (and cannot change after).
        if new.performance_insights && !old.performance_insights {
            modify = modify.set_performance_insights_kms_key_id(
                new.performance_insights_kms_key.as_ref().map(|k| k.as_str().to_string()),
            );
        }
        if old.max_allocated_storage_gb != new.max_allocated_storage_gb {
            // Autoscaling is turned off by a maximum equal to the allocated storage.
            let max = new.max_allocated_storage_gb.unwrap_or(new.allocated_storage_gb);
            modify = modify.max_allocated_storage(int(max));
            changed = true;
        }
        if old.parameter_group != new.parameter_group {
            // Back to the engine's default group: RDS takes its name.
            let group = match &new.parameter_group {
                Some(g) => g.as_str().to_string(),
                None => format!("default.{}", new.parameter_group_family()),
            };
            modify = modify.db_parameter_group_name(group);
            changed = true;
        }
        let (mut old_logs, mut new_logs) = (old.log_exports.clone(), new.log_exports.clone());
        old_logs.sort();
        new_logs.sort();
        if old_logs != new_logs {
            // Applied at once whatever ApplyImmediately says
            // (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html,
            // CloudwatchLogsExportConfiguration).
            let enable: Vec<String> = new_logs.iter().filter(|l| !old_logs.contains(l)).cloned().collect();
            let disable: Vec<String> = old_logs.iter().filter(|l| !new_logs.contains(l)).cloned().collect();
            let config = aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                .set_enable_log_types((!enable.is_empty()).then_some(enable))
                .set_disable_log_types((!disable.is_empty()).then_some(disable))
                .build();
            modify = modify.cloudwatch_logs_export_configuration(config);
            changed = true;
        }
        if old.monitoring_interval_seconds != new.monitoring_interval_seconds
            || old.monitoring_role != new.monitoring_role
        {
            modify = modify
                .monitoring_interval(i32::try_from(new.monitoring_interval_seconds).unwrap_or_default())
                .set_monitoring_role_arn(new.monitoring_role.as_ref().map(|r| r.as_str().to_string()));
            changed = true;
        }
        if let Some(w) = new.maintenance_window.as_ref().filter(|w| old.maintenance_window.as_ref() != Some(*w)) {
            modify = modify.preferred_maintenance_window(w);
            changed = true;
        }
        if let Some(w) = new.backup_window.as_ref().filter(|w| old.backup_window.as_ref() != Some(*w)) {
            modify = modify.preferred_backup_window(w);
            changed = true;
        }
        if old.engine_version != new.engine_version {
            let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
            modify = modify
                .engine_version(&new.engine_version)
                .allow_major_version_upgrade(major(&old.engine_version) != major(&new.engine_version));
            changed = true;
        }
        let (mut old_groups, mut new_groups) = (texts(&old.security_groups), texts(&new.security_groups));
        old_groups.sort();
        new_groups.sort();
        if old_groups != new_groups {
            modify = modify.set_vpc_security_group_ids(Some(new_groups));
            changed = true;
        }
        if changed {
            wait_usable(aws, id, current.progress).await?;
            let started = tokio::time::Instant::now();
            loop {
                match modify.clone().send().await.map_err(api("rds:ModifyDBInstance")) {
                    Err(ProviderError::Api { code: Some(code), .. })
                        if code == "InvalidDBInstanceState" && started.elapsed() < aws.database_timeout =>
                    {
                        tokio::time::sleep(poll_delay(started.elapsed())).await;
                        wait_usable(aws, id, current.progress).await?;
                    }
                    // A monitoring role created moments ago, which RDS cannot assume yet.
                    Err(e) if e.is_not_yet_visible() && started.elapsed() < super::retry::CONSISTENCY_WINDOW => {
                        tokio::time::sleep(poll_delay(started.elapsed())).await;
                    }
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        sync_rds_tags(aws, &current.outputs.arn, &old.tags, &new.tags).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, DbInstance, DbInstanceOutputs>,
    ) -> Result<(), ProviderError> {
        let (i, id) = (&current.props, current.physical_id);
        if i.deletion_protection && current.delete_allowed {
            // The user named this address explicitly: lift AWS's own deletion protection first.
            aws.rds
                .modify_db_instance()
                .db_instance_identifier(id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(api("rds:ModifyDBInstance"))?;
        }
        let mut delete = aws.rds.delete_db_instance().db_instance_identifier(id);
        delete = if i.final_snapshot {
            let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
            delete.skip_final_snapshot(false).final_db_snapshot_identifier(format!("{id}-final-{}", stamp.as_secs()))
        } else {
            delete.skip_final_snapshot(true)
        };
        // Automated backups are kept (for their retention period): deleting an instance by mistake
        // must not take its backups with it
        // (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html>).
        delete = delete.delete_automated_backups(false);
        delete.send().await.map_err(api("rds:DeleteDBInstance"))?;
        wait_for(format!("database {id} to be deleted"), aws.database_timeout, || async {
            Ok(describe(aws, id).await?.is_none().then_some(()))
        })
        .await
    }

    /// The name is the id.
    async fn find(&self, _aws: &Aws, lookup: &Lookup<'_, DbInstance>) -> Result<Option<String>, ProviderError> {
        Ok(lookup.name.map(str::to_string))
    }

    /// Waits until the instance is usable (`available`, or `storage-optimization`, which lasts
    /// hours after a storage change while the instance works normally) and, when changes are
    /// applied immediately, until none is pending: right after a modification RDS may still
    /// report `available`, with the change pending
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html>).
    async fn await_ready(
        &self,
        aws: &Aws,
        current: &Current<'_, DbInstance, DbInstanceOutputs>,
    ) -> Result<DbInstanceOutputs, ProviderError> {
        let id = current.physical_id;
        let last = std::sync::Mutex::new(String::new());
        wait_for(format!("database {id} to become available"), aws.database_timeout, || async {
            let Some(db) = describe(aws, id).await? else {
                return Err(missing(&format!("waiting for database {id}"), "it no longer exists"));
            };
            let status = db.db_instance_status().unwrap_or_default();
            if FAILED.contains(&status) {
                return Err(missing(&format!("database {id}"), &format!("it is in state `{status}`")));
            }
            let waiting: Vec<&str> = if current.props.apply_immediately { pending(&db) } else { vec![] };
            if USABLE.contains(&status) && waiting.is_empty() {
                return Ok(Some(instance_outputs(&db)));
            }
            let report = if waiting.is_empty() {
                status.to_string()
            } else {
                format!("{status}; pending: {}", waiting.join(", "))
            };
            let mut last = last.lock().expect("progress lock");
            if *last != report {
                (current.progress)(&report);
                *last = report;
            }
            Ok(None)
        })
        .await
    }
}

/// The states in which an instance serves and takes modifications.
const USABLE: &[&str] = &["available", "storage-optimization"];

/// The modifications RDS reports as pending on an instance.
fn pending(db: &AwsInstance) -> Vec<&'static str> {
    let Some(p) = db.pending_modified_values() else { return vec![] };
    [
        ("instance_class", p.db_instance_class().is_some()),
        ("allocated_storage_gb", p.allocated_storage().is_some()),
        ("storage_type", p.storage_type().is_some()),
        ("multi_az", p.multi_az().is_some()),
        ("engine_version", p.engine_version().is_some()),
        ("backup_retention_days", p.backup_retention_period().is_some()),
        ("port", p.port().is_some()),
        ("iops", p.iops().is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// Waits until the instance is `available` or `storage-optimization`: what a modification needs.
async fn wait_usable(aws: &Aws, id: &str, progress: &crate::provider::Progress) -> Result<(), ProviderError> {
    let reported = std::sync::Mutex::new(String::new());
    wait_for(format!("database {id} to take a modification"), aws.database_timeout, || async {
        let Some(db) = describe(aws, id).await? else {
            return Err(missing(&format!("modifying database {id}"), "it no longer exists"));
        };
        let status = db.db_instance_status().unwrap_or_default();
        if USABLE.contains(&status) {
            return Ok(Some(()));
        }
        let mut reported = reported.lock().expect("progress lock");
        if *reported != status {
            progress(&format!("{status}; waiting to modify it"));
            *reported = status.to_string();
        }
        Ok(None)
    })
    .await
}
