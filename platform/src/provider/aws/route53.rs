//! Route 53 records in a public hosted zone found by its name. The physical id is
//! `ZONE-ID_NAME_TYPE`; every change is awaited until Route 53 reports it INSYNC.

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, malformed, missing, wait_for};
use crate::model::{Address, Ref};
use crate::provider::ProviderError;
use crate::resources::route53::{normalized, Record, RecordOutputs, RecordTarget};

/// `aws.route53.record`.
pub(crate) struct Records;

/// The id of the public hosted zone named `zone`. `ListHostedZonesByName` lists zones in order
/// from the name given, public and private alike
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html>); a
/// private zone of the same name (split-view DNS) is not the one the internet resolves.
async fn zone_id(aws: &Aws, zone: &str) -> Result<String, ProviderError> {
    let wanted = normalized(zone);
    let out = aws
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .max_items(100)
        .send()
        .await
        .map_err(api("route53:ListHostedZonesByName"))?;
    let public: Vec<&str> = out
        .hosted_zones()
        .iter()
        .filter(|z| normalized(z.name()) == wanted)
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| z.id().trim_start_matches("/hostedzone/"))
        .collect();
    match public.as_slice() {
        [id] => Ok(id.to_string()),
        [] => Err(ProviderError::OperationFailed {
            what: format!("finding the public hosted zone {wanted}"),
            message: format!(
                "this account has no public Route 53 hosted zone named {wanted}: create it, and delegate the \
                 domain to its name servers, before applying"
            ),
        }),
        several => Err(ProviderError::OperationFailed {
            what: format!("finding the public hosted zone {wanted}"),
            message: format!(
                "this account has {} public hosted zones named {wanted} ({}): delete the ones the domain is not \
                 delegated to",
                several.len(),
                several.join(", ")
            ),
        }),
    }
}

fn physical_id(zone_id: &str, name: &str, record_type: &str) -> String {
    format!("{zone_id}_{name}_{record_type}")
}

/// The zone id, name and type a physical id names.
fn parts(physical_id: &str) -> Option<(&str, &str, &str)> {
    let (zone, rest) = physical_id.split_once('_')?;
    let (name, record_type) = rest.rsplit_once('_')?;
    Some((zone, name, record_type))
}

fn record_set(address: &Address, r: &Record) -> Result<ResourceRecordSet, ProviderError> {
    let mut set = ResourceRecordSet::builder().name(r.name.as_str()).r#type(RrType::from(r.record_type.as_str()));
    set = match &r.target {
        RecordTarget::Values { ttl_seconds, values } => {
            let records = values
                .iter()
                .map(|v| ResourceRecord::builder().value(v.as_str()).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed(address))?;
            set.ttl(i64::from(*ttl_seconds)).set_resource_records(Some(records))
        }
        // An alias names the load balancer's own zone (its CanonicalHostedZoneId) and has no TTL
        // (https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html).
        RecordTarget::Alias { dns_name, zone_id, evaluate_target_health } => set.alias_target(
            AliasTarget::builder()
                .dns_name(dns_name.as_str())
                .hosted_zone_id(zone_id.as_str())
                .evaluate_target_health(*evaluate_target_health)
                .build()
                .map_err(malformed(address))?,
        ),
    };
    set.build().map_err(malformed(address))
}

/// Sends one change and waits until Route 53 has it on all its servers: "while your changes are
/// propagating, GetChange returns a status of PENDING … INSYNC" (generally within 60 seconds,
/// <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>).
async fn change(aws: &Aws, zone_id: &str, action: ChangeAction, set: ResourceRecordSet) -> Result<(), ProviderError> {
    let name = set.name().to_string();
    let change = Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| missing(&name, &e.to_string()))?;
    let batch = ChangeBatch::builder().changes(change).build().map_err(|e| missing(&name, &e.to_string()))?;
    let out = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(api("route53:ChangeResourceRecordSets"))?;
    let Some(info) = out.change_info() else { return Ok(()) };
    let id = info.id().trim_start_matches("/change/").to_string();
    wait_for(format!("Route 53 to apply the change of {name} ({id})"), aws.operation_timeout, || async {
        let out = aws.route53.get_change().id(&id).send().await.map_err(api("route53:GetChange"))?;
        Ok(out.change_info().is_some_and(|c| c.status() == &ChangeStatus::Insync).then_some(()))
    })
    .await
}

/// The record `name` of `record_type` in the zone, if there is one: `ListResourceRecordSets`
/// starts at the name and type given, so the first record it lists is it, or another one
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html>).
async fn lookup(
    aws: &Aws,
    zone_id: &str,
    name: &str,
    record_type: &str,
) -> Result<Option<ResourceRecordSet>, ProviderError> {
    let out = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(name)
        .start_record_type(RrType::from(record_type))
        .max_items(1)
        .send()
        .await
        .map_err(api("route53:ListResourceRecordSets"))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|s| normalized(s.name()) == normalized(name) && s.r#type().as_str() == record_type)
        .cloned())
}

/// A record set in the declared form.
fn declared(zone: &str, set: &ResourceRecordSet) -> Record {
    let target = match set.alias_target() {
        Some(alias) => RecordTarget::Alias {
            dns_name: Ref::existing(normalized(alias.dns_name())),
            zone_id: Ref::existing(alias.hosted_zone_id()),
            evaluate_target_health: alias.evaluate_target_health(),
        },
        None => RecordTarget::Values {
            ttl_seconds: set.ttl().and_then(|t| u32::try_from(t).ok()).unwrap_or_default(),
            values: set
                .resource_records()
                .iter()
                .map(|r| {
                    // Names are compared without their final dot and lowercase; other values as they are.
                    if matches!(set.r#type(), RrType::Cname) {
                        Ref::existing(normalized(r.value()))
                    } else {
                        Ref::existing(r.value())
                    }
                })
                .collect(),
        },
    };
    Record {
        zone: zone.to_string(),
        name: Ref::existing(normalized(set.name())),
        record_type: set.r#type().as_str().to_string(),
        target,
    }
}

/// Whether a record read back is the declared one (alias names compared as Route 53 keeps them).
fn same(found: &Record, wanted: &Record) -> bool {
    let norm = |r: &Record| {
        let mut r = r.clone();
        if let RecordTarget::Alias { dns_name, .. } = &mut r.target {
            *dns_name = Ref::existing(normalized(dns_name.as_str()));
        }
        serde_json::to_value(r).unwrap_or_default()
    };
    norm(found) == norm(wanted)
}

#[async_trait]
impl AwsResource for Records {
    type Props = Record;
    type Outputs = RecordOutputs;

    /// `CREATE`, which Route 53 refuses when the record exists: a record made by someone else is
    /// never overwritten. One that already holds exactly the declared answer (this create's own,
    /// sent again after a lost answer, or the same record made by hand) is taken as made.
    async fn create(&self, aws: &Aws, new: &New<'_, Record>) -> Result<Created<RecordOutputs>, ProviderError> {
        let r = &new.props;
        let zone_id = zone_id(aws, &r.zone).await?;
        let name = normalized(r.name.as_str());
        let created = change(aws, &zone_id, ChangeAction::Create, record_set(new.address, r)?).await;
        if let Err(err) = created {
            let exists = matches!(&err, ProviderError::Api { code: Some(code), message, .. }
                if code == "InvalidChangeBatch" && message.contains("already exists"));
            let found = if exists { lookup(aws, &zone_id, &name, &r.record_type).await? } else { None };
            match found {
                Some(set) if same(&declared(&r.zone, &set), r) => {}
                Some(_) => {
                    return Err(ProviderError::OperationFailed {
                        what: format!("creating the {} record {name}", r.record_type),
                        message: format!(
                            "the zone {} already has a {} record {name} with another answer, not made by this \
                             stack: delete it (or change this record's name) and apply again",
                            r.zone, r.record_type
                        ),
                    })
                }
                None => return Err(err),
            }
        }
        let outputs = RecordOutputs { fqdn: name.clone(), zone_id: zone_id.clone() };
        Ok(Created { physical_id: physical_id(&zone_id, &name, &r.record_type), outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Record>,
    ) -> Result<Option<Read<Record, RecordOutputs>>, ProviderError> {
        let Some((zone_id, name, record_type)) = parts(recorded.physical_id) else { return Ok(None) };
        let zone = recorded.kept(|p| p.zone.clone());
        // A zone deleted (NoSuchHostedZone) took its records with it.
        let set = match lookup(aws, zone_id, name, record_type).await {
            Err(e) if e.is_not_found() => return Ok(None),
            other => other?,
        };
        let Some(set) = set else { return Ok(None) };
        let mut props = declared(&zone, &set);
        // Route 53 keeps an alias's name lowercase with a final dot: the recorded spelling of the
        // same name stands (no perpetual diff on a load balancer name's case).
        if let (RecordTarget::Alias { dns_name, .. }, Some(RecordTarget::Alias { dns_name: kept, .. })) =
            (&mut props.target, recorded.props.as_ref().map(|p| &p.target))
        {
            if normalized(kept.as_str()) == dns_name.as_str() {
                *dns_name = kept.clone();
            }
        }
        let outputs = RecordOutputs { fqdn: name.to_string(), zone_id: zone_id.to_string() };
        Ok(Some(Read::new(props, outputs)))
    }

    /// `UPSERT` of the new answer (name, type and zone force a replacement).
    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Record, RecordOutputs>,
        new: &Record,
    ) -> Result<(), ProviderError> {
        change(aws, &current.outputs.zone_id, ChangeAction::Upsert, record_set(current.address, new)?).await
    }

    /// `DELETE` names the record as it is ("you must specify all the same values"): it is read
    /// first. A record already gone is deleted.
    async fn delete(&self, aws: &Aws, current: &Current<'_, Record, RecordOutputs>) -> Result<(), ProviderError> {
        let Some((zone_id, name, record_type)) = parts(current.physical_id) else { return Ok(()) };
        let Some(set) = lookup(aws, zone_id, name, record_type).await? else { return Ok(()) };
        match change(aws, zone_id, ChangeAction::Delete, set).await {
            Err(ProviderError::Api { code: Some(code), message, .. })
                if code == "InvalidChangeBatch" && message.contains("not found") =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// The record of this name and type, if it holds the declared answer: records carry no tags,
    /// so only an identical one is taken for this create's.
    async fn find(&self, aws: &Aws, lookup_: &Lookup<'_, Record>) -> Result<Option<String>, ProviderError> {
        let Some(r) = &lookup_.props else { return Ok(None) };
        let zone_id = zone_id(aws, &r.zone).await?;
        let name = normalized(r.name.as_str());
        let found = lookup(aws, &zone_id, &name, &r.record_type).await?;
        Ok(found.filter(|set| same(&declared(&r.zone, set), r)).map(|_| physical_id(&zone_id, &name, &r.record_type)))
    }
}
