//! RDS DB subnet groups and instances. An instance is created, recorded, then awaited until it is
//! available ([`await_instance`]); deletes wait until it is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use aws_sdk_rds::types::{DbInstance, Tag};

use super::{api, props, sync_tags, tag_map, tags_of, wait_for, AwsProvider};
use crate::provider::{Applied, Desired, Existing, Observed, ProviderError};

fn rds_tags(props: &Value) -> Vec<Tag> {
    tags_of(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn sync_rds_tags(p: &AwsProvider, arn: &str, e: &Existing, desired: &Value) -> Result<(), ProviderError> {
    sync_tags(
        &e.props,
        desired,
        |remove| async move {
            p.rds
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
            p.rds
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

// ---- DB subnet group ----

#[derive(Deserialize)]
struct SubnetGroupProps {
    name: String,
    description: String,
    subnets: Vec<String>,
}

pub(super) async fn create_subnet_group(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let g: SubnetGroupProps = props(&d.address, &d.props)?;
    let out = p
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(&g.name)
        .db_subnet_group_description(&g.description)
        .set_subnet_ids(Some(g.subnets))
        .set_tags(Some(rds_tags(&d.props)))
        .send()
        .await
        .map_err(api("rds:CreateDBSubnetGroup"))?;
    let arn = out.db_subnet_group().and_then(|g| g.db_subnet_group_arn()).unwrap_or_default();
    Ok(Applied { outputs: super::outputs([("name", g.name.as_str()), ("arn", arn)]), physical_id: g.name })
}

pub(super) async fn read_subnet_group(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let out = p
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(&e.physical_id)
        .send()
        .await
        .map_err(api("rds:DescribeDBSubnetGroups"))?;
    let Some(g) = out.db_subnet_groups().first() else { return Ok(None) };
    let arn = g.db_subnet_group_arn().unwrap_or_default();
    let tags =
        p.rds.list_tags_for_resource().resource_name(arn).send().await.map_err(api("rds:ListTagsForResource"))?;
    let mut props = Map::new();
    props.insert("name".into(), json!(g.db_subnet_group_name()));
    props.insert("description".into(), json!(g.db_subnet_group_description()));
    props.insert("subnets".into(), json!(g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect::<Vec<_>>()));
    props.insert(
        "tags".into(),
        tag_map(tags.tag_list().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
    );
    Ok(Some(Observed { props, outputs: super::outputs([("name", e.physical_id.as_str()), ("arn", arn)]) }))
}

pub(super) async fn update_subnet_group(
    p: &AwsProvider,
    e: &Existing,
    desired: &Value,
) -> Result<Applied, ProviderError> {
    let old: SubnetGroupProps = props(&e.address, &e.props)?;
    let new: SubnetGroupProps = props(&e.address, desired)?;
    if old.description != new.description || old.subnets != new.subnets {
        p.rds
            .modify_db_subnet_group()
            .db_subnet_group_name(&e.physical_id)
            .db_subnet_group_description(&new.description)
            .set_subnet_ids(Some(new.subnets))
            .send()
            .await
            .map_err(api("rds:ModifyDBSubnetGroup"))?;
    }
    let arn = e.outputs.get("arn").and_then(Value::as_str).unwrap_or_default();
    sync_rds_tags(p, arn, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_subnet_group(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    p.rds
        .delete_db_subnet_group()
        .db_subnet_group_name(&e.physical_id)
        .send()
        .await
        .map_err(api("rds:DeleteDBSubnetGroup"))?;
    Ok(())
}

// ---- DB instance ----

#[derive(Deserialize, Clone, PartialEq)]
struct InstanceProps {
    name: String,
    engine: String,
    engine_version: String,
    instance_class: String,
    allocated_storage_gb: i32,
    storage_type: String,
    storage_encrypted: bool,
    multi_az: bool,
    backup_retention_days: i32,
    deletion_protection: bool,
    publicly_accessible: bool,
    master_username: String,
    manage_master_user_password: bool,
    db_name: String,
    port: i32,
    subnet_group: String,
    security_groups: Vec<String>,
    copy_tags_to_snapshot: bool,
    auto_minor_version_upgrade: bool,
    performance_insights: bool,
    #[serde(default)]
    final_snapshot: bool,
}

fn instance_outputs(db: &DbInstance) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    put("identifier", db.db_instance_identifier().map(|v| json!(v)));
    put("arn", db.db_instance_arn().map(|v| json!(v)));
    put("resource_id", db.dbi_resource_id().map(|v| json!(v)));
    put("address", db.endpoint().and_then(|e| e.address()).map(|v| json!(v)));
    put("port", db.endpoint().and_then(|e| e.port()).or(db.db_instance_port()).map(|v| json!(v)));
    put("master_user_secret_arn", db.master_user_secret().and_then(|s| s.secret_arn()).map(|v| json!(v)));
    out
}

async fn describe(p: &AwsProvider, identifier: &str) -> Result<Option<DbInstance>, ProviderError> {
    let out = p
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

pub(super) async fn create_instance(p: &AwsProvider, d: &Desired) -> Result<Applied, ProviderError> {
    let i: InstanceProps = props(&d.address, &d.props)?;
    let out = p
        .rds
        .create_db_instance()
        .db_instance_identifier(&i.name)
        .engine(&i.engine)
        .engine_version(&i.engine_version)
        .db_instance_class(&i.instance_class)
        .allocated_storage(i.allocated_storage_gb)
        .storage_type(&i.storage_type)
        .storage_encrypted(i.storage_encrypted)
        .multi_az(i.multi_az)
        .backup_retention_period(i.backup_retention_days)
        .deletion_protection(i.deletion_protection)
        .publicly_accessible(i.publicly_accessible)
        .master_username(&i.master_username)
        .manage_master_user_password(i.manage_master_user_password)
        .db_name(&i.db_name)
        .port(i.port)
        .db_subnet_group_name(&i.subnet_group)
        .set_vpc_security_group_ids(Some(i.security_groups.clone()))
        .copy_tags_to_snapshot(i.copy_tags_to_snapshot)
        .auto_minor_version_upgrade(i.auto_minor_version_upgrade)
        .enable_performance_insights(i.performance_insights)
        .set_tags(Some(rds_tags(&d.props)))
        .send()
        .await
        .map_err(api("rds:CreateDBInstance"))?;
    let db = out.db_instance().ok_or_else(|| ProviderError::OperationFailed {
        what: "rds:CreateDBInstance".into(),
        message: "the response holds no instance".into(),
    })?;
    Ok(Applied { physical_id: i.name, outputs: instance_outputs(db) })
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

pub(super) async fn await_instance(p: &AwsProvider, e: &Existing) -> Result<BTreeMap<String, Value>, ProviderError> {
    wait_for(format!("database {} to become available", e.physical_id), p.database_timeout, || async {
        let Some(db) = describe(p, &e.physical_id).await? else {
            return Err(ProviderError::OperationFailed {
                what: format!("waiting for database {}", e.physical_id),
                message: "it no longer exists".into(),
            });
        };
        match db.db_instance_status() {
            Some("available") => Ok(Some(instance_outputs(&db))),
            Some(status) if FAILED.contains(&status) => Err(ProviderError::OperationFailed {
                what: format!("database {}", e.physical_id),
                message: format!("it is in state `{status}`"),
            }),
            _ => Ok(None),
        }
    })
    .await
}

pub(super) async fn read_instance(p: &AwsProvider, e: &Existing) -> Result<Option<Observed>, ProviderError> {
    let Some(db) = describe(p, &e.physical_id).await? else { return Ok(None) };
    Ok(observe_instance(&db, e))
}

/// Reads many instances with one `DescribeDBInstances` filtered by identifiers (100 a call),
/// tags included.
pub(super) async fn read_instances(
    p: &AwsProvider,
    existing: &[Existing],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let mut found = std::collections::HashMap::new();
    for chunk in existing.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(|e| e.physical_id.clone()).collect();
        let filter = aws_sdk_rds::types::Filter::builder().name("db-instance-id").set_values(Some(ids)).build();
        let mut pages = p.rds.describe_db_instances().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            for db in page.map_err(api("rds:DescribeDBInstances"))?.db_instances() {
                found.insert(db.db_instance_identifier().unwrap_or_default().to_string(), db.clone());
            }
        }
    }
    Ok(existing.iter().map(|e| found.get(&e.physical_id).and_then(|db| observe_instance(db, e))).collect())
}

fn observe_instance(db: &DbInstance, e: &Existing) -> Option<Observed> {
    if db.db_instance_status() == Some("deleting") {
        return None;
    }
    let recorded_version = e.props.get("engine_version").and_then(Value::as_str).unwrap_or_default();
    let version = db.engine_version().unwrap_or_default();
    // A declared major version ("17") is met by any of its minor versions ("17.4").
    let version = if version.starts_with(&format!("{recorded_version}.")) { recorded_version } else { version };
    let mut props = Map::new();
    let mut put = |k: &str, v: Value| {
        props.insert(k.to_string(), v);
    };
    put("name", json!(db.db_instance_identifier()));
    put("engine", json!(db.engine()));
    put("engine_version", json!(version));
    put("instance_class", json!(db.db_instance_class()));
    put("allocated_storage_gb", json!(db.allocated_storage()));
    put("storage_type", json!(db.storage_type()));
    put("storage_encrypted", json!(db.storage_encrypted()));
    put("multi_az", json!(db.multi_az()));
    put("backup_retention_days", json!(db.backup_retention_period()));
    put("deletion_protection", json!(db.deletion_protection()));
    put("publicly_accessible", json!(db.publicly_accessible()));
    put("master_username", json!(db.master_username()));
    put("manage_master_user_password", json!(db.master_user_secret().is_some()));
    put("db_name", json!(db.db_name()));
    put("port", json!(db.endpoint().and_then(|e| e.port()).or(db.db_instance_port())));
    put("subnet_group", json!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name())));
    put(
        "security_groups",
        json!(db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect::<Vec<_>>()),
    );
    put("copy_tags_to_snapshot", json!(db.copy_tags_to_snapshot()));
    put("auto_minor_version_upgrade", json!(db.auto_minor_version_upgrade()));
    // Not every endpoint reports Performance Insights; when it does not, the recorded value stands.
    if let Some(enabled) = db.performance_insights_enabled() {
        put("performance_insights", json!(enabled));
    }
    put("tags", tag_map(db.tag_list().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))));
    Some(Observed { props, outputs: instance_outputs(db) })
}

pub(super) async fn update_instance(p: &AwsProvider, e: &Existing, desired: &Value) -> Result<Applied, ProviderError> {
    let old: InstanceProps = props(&e.address, &e.props)?;
    let new: InstanceProps = props(&e.address, desired)?;
    let mut modify = p.rds.modify_db_instance().db_instance_identifier(&e.physical_id).apply_immediately(true);
    let mut changed = false;
    macro_rules! when_changed {
        ($field:ident, $setter:ident) => {
            if old.$field != new.$field {
                modify = modify.$setter(new.$field.clone());
                changed = true;
            }
        };
    }
    when_changed!(instance_class, db_instance_class);
    when_changed!(allocated_storage_gb, allocated_storage);
    when_changed!(storage_type, storage_type);
    when_changed!(multi_az, multi_az);
    when_changed!(backup_retention_days, backup_retention_period);
    when_changed!(deletion_protection, deletion_protection);
    when_changed!(publicly_accessible, publicly_accessible);
    when_changed!(manage_master_user_password, manage_master_user_password);
    when_changed!(port, db_port_number);
    when_changed!(copy_tags_to_snapshot, copy_tags_to_snapshot);
    when_changed!(auto_minor_version_upgrade, auto_minor_version_upgrade);
    when_changed!(performance_insights, enable_performance_insights);
    if old.engine_version != new.engine_version {
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
        modify = modify
            .engine_version(&new.engine_version)
            .allow_major_version_upgrade(major(&old.engine_version) != major(&new.engine_version));
        changed = true;
    }
    let mut old_groups = old.security_groups.clone();
    let mut new_groups = new.security_groups.clone();
    old_groups.sort();
    new_groups.sort();
    if old_groups != new_groups {
        modify = modify.set_vpc_security_group_ids(Some(new.security_groups.clone()));
        changed = true;
    }
    if changed {
        modify.send().await.map_err(api("rds:ModifyDBInstance"))?;
    }
    let arn = e.outputs.get("arn").and_then(Value::as_str).unwrap_or_default();
    sync_rds_tags(p, arn, e, desired).await?;
    Ok(Applied { physical_id: e.physical_id.clone(), outputs: e.outputs.clone() })
}

pub(super) async fn delete_instance(p: &AwsProvider, e: &Existing) -> Result<(), ProviderError> {
    let i: InstanceProps = props(&e.address, &e.props)?;
    if i.deletion_protection && e.delete_allowed {
        // The user named this address explicitly: lift AWS's own deletion protection first.
        p.rds
            .modify_db_instance()
            .db_instance_identifier(&e.physical_id)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(api("rds:ModifyDBInstance"))?;
    }
    let mut delete = p.rds.delete_db_instance().db_instance_identifier(&e.physical_id);
    delete = if i.final_snapshot {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
        delete.skip_final_snapshot(false).final_db_snapshot_identifier(format!(
            "{}-final-{}",
            e.physical_id,
            stamp.as_secs()
        ))
    } else {
        delete.skip_final_snapshot(true)
    };
    delete.send().await.map_err(api("rds:DeleteDBInstance"))?;
    wait_for(format!("database {} to be deleted", e.physical_id), p.database_timeout, || async {
        Ok(describe(p, &e.physical_id).await?.is_none().then_some(()))
    })
    .await
}
