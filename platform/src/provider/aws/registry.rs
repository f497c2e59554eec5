//! Every resource type the AWS provider implements, listed once: the provider's create, read,
//! update, delete, find and await are dispatched through this list, and the types read in
//! batches are derived from it. Adding a type is a line here (see docs/adding-a-resource-type.md).

use std::sync::OnceLock;

use super::resource::Implementation;
use super::{acm, ec2, ecr, ecs, elbv2, iam, kms, logs, rds, route53, s3, secretsmanager, servicediscovery, wafv2};
use crate::provider::ProviderError;

/// The implementations, one per resource type.
static TYPES: &[&dyn Implementation] = &[
    &ec2::Vpcs,
    &ec2::Subnets,
    &ec2::InternetGateways,
    &ec2::RouteTables,
    &ec2::RouteTableAssociations,
    &ec2::SecurityGroups,
    &ec2::SecurityGroupGrants,
    &ec2::DefaultSecurityGroups,
    &ec2::ElasticIps,
    &ec2::NatGateways,
    &ec2::FlowLogs,
    &ecr::Repositories,
    &ecs::Clusters,
    &ecs::TaskDefinitions,
    &ecs::Services,
    &elbv2::LoadBalancers,
    &elbv2::TargetGroups,
    &elbv2::Listeners,
    &iam::Roles,
    &iam::OidcProviders,
    &iam::ManagedPolicies,
    &servicediscovery::Namespaces,
    &servicediscovery::DiscoveryServices,
    &logs::LogGroups,
    &rds::DbSubnetGroups,
    &rds::DbParameterGroups,
    &rds::DbInstances,
    &s3::Buckets,
    &acm::Certificates,
    &acm::CertificateValidations,
    &route53::Records,
    &secretsmanager::Secrets,
    &wafv2::WebAcls,
    &wafv2::WebAclAssociations,
    &wafv2::Loggings,
    &kms::Keys,
];

/// Every implementation.
#[cfg(test)]
pub(crate) fn all() -> &'static [&'static dyn Implementation] {
    TYPES
}

/// The implementation of `type_name`.
pub(crate) fn implementation(type_name: &str) -> Result<&'static dyn Implementation, ProviderError> {
    TYPES
        .iter()
        .copied()
        .find(|i| i.schema().type_name == type_name)
        .ok_or_else(|| ProviderError::UnsupportedType(type_name.to_string()))
}

/// The types read many at a time.
pub(crate) fn batch_types() -> &'static [&'static str] {
    static BATCHED: OnceLock<Vec<&'static str>> = OnceLock::new();
    BATCHED.get_or_init(|| TYPES.iter().filter(|i| i.batched()).map(|i| i.schema().type_name).collect())
}

#[cfg(test)]
mod tests {
    //! Pure checks that the schemas, the implementations and their props and outputs types agree:
    //! a type left out of a list, an output or attribute renamed on one side only, or a wait
    //! declared on one side only fails here, not in an emulator test or after a crash.

    use std::collections::BTreeSet;

    use super::*;
    use crate::resources::SCHEMAS;

    #[test]
    fn the_schemas_and_the_registry_list_the_same_types_once() {
        let schemas: BTreeSet<&str> = SCHEMAS.iter().map(|s| s.type_name).filter(|t| !t.starts_with("test.")).collect();
        let implemented: Vec<&str> = all().iter().map(|i| i.schema().type_name).collect();
        let unique: BTreeSet<&str> = implemented.iter().copied().collect();
        assert_eq!(unique.len(), implemented.len(), "a type is registered twice: {implemented:?}");
        let missing: Vec<&&str> = schemas.difference(&unique).collect();
        assert!(missing.is_empty(), "types with a schema but no AWS implementation: {missing:?}");
        let unknown: Vec<&&str> = unique.difference(&schemas).collect();
        assert!(unknown.is_empty(), "implemented types missing from resources::SCHEMAS: {unknown:?}");
        for i in all() {
            let schema = crate::resources::schema(i.schema().type_name).expect("listed");
            assert_eq!(
                format!("{schema:?}"),
                format!("{:?}", i.schema()),
                "{}: two schemas of one name",
                schema.type_name
            );
        }
    }

    #[test]
    fn awaits_is_set_exactly_for_the_types_that_wait() {
        for i in all() {
            assert_eq!(
                i.schema().awaits,
                i.awaits(),
                "{}: the schema's `awaits` and the implementation's AWAITS disagree",
                i.schema().type_name
            );
        }
    }

    #[test]
    fn each_types_props_outputs_and_schema_name_the_same_attributes() {
        for i in all() {
            let schema = i.schema();
            let t = schema.type_name;
            let fields = i.props_fields();
            assert!(!fields.is_empty(), "{t}: the props type is not a struct");
            let known = |a: &str| fields.contains(&a) || (a == "name" && schema.name_style.in_props());
            for attribute in schema.force_new.iter().chain(schema.sets).chain(i.not_reported()) {
                assert!(known(attribute), "{t}: `{attribute}` of its schema is not a field of its props {fields:?}");
            }
            for document in schema.documents {
                let attribute = document.trim_end_matches(".*");
                assert!(known(attribute), "{t}: document `{document}` is not a field of its props {fields:?}");
            }
            assert_eq!(
                schema.taggable,
                fields.contains(&"tags"),
                "{t}: taggable, but no `tags` field (or the reverse)"
            );
            assert!(!fields.contains(&"name") || !schema.name_style.in_props(), "{t}: `name` is the engine's");
            assert_eq!(i.output_fields(), schema.outputs, "{t}: the outputs type and the schema's outputs differ");
        }
    }

    #[test]
    fn the_guardrail_rules_check_attributes_their_types_have() {
        // A field renamed in a type but not in policies/rules/ would make a rule check nothing.
        for rule in crate::policy::RuleSet::builtin().rules() {
            for check in &rule.checks {
                let crate::policy::Check::Attribute(check) = check else { continue };
                let i = implementation(&check.resource)
                    .unwrap_or_else(|_| panic!("{}: no type {}", rule.id, check.resource));
                let first = check.attribute.split(['.', '[']).next().unwrap_or_default();
                let known = i.props_fields().contains(&first) || (first == "name" && i.schema().name_style.in_props());
                assert!(known, "rule {}: `{}` is not an attribute of {}", rule.id, check.attribute, check.resource);
            }
        }
    }

    #[test]
    fn batched_types_are_derived_from_the_registry() {
        let batched = batch_types();
        assert!(batched.contains(&"aws.ec2.vpc") && batched.contains(&"aws.rds.db_instance"));
        assert!(!batched.contains(&"aws.s3.bucket"), "buckets are read one at a time");
    }
}
