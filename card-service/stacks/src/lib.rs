//! The card service's infrastructure, declared: what it needs, not how AWS provides it.

use std::collections::BTreeMap;

use platform::model::{StackError, StackSpec};
use stacks::{
    dependencies, service, DatabaseOptions, DependenciesOptions, Environment, Foundation, Grant, ServiceOptions,
};

/// The name of the card service's dependencies stack.
pub const DEPENDENCIES: &str = "card-dependencies";
/// The name of the card service's stack.
pub const SERVICE: &str = "card-service";

/// The card service's stacks on `foundation`, in the order they are applied: its dependencies (a
/// PostgreSQL database, a bucket for card images), then the service running `image_tag`.
pub fn card_stacks(env: &Environment, foundation: &Foundation, image_tag: &str) -> Result<Vec<StackSpec>, StackError> {
    let deps = dependencies(
        DEPENDENCIES,
        env,
        foundation,
        &DependenciesOptions { database: Some(DatabaseOptions::postgres("cards")), bucket: true },
    )?;
    let images = deps.bucket.clone().expect("declared above");
    let card = service(
        SERVICE,
        env,
        foundation,
        &deps,
        &ServiceOptions {
            name: "card".into(),
            repository: foundation.repositories["card-service"].clone(),
            image_tag: image_tag.into(),
            port: 8080,
            health_port: 8081,
            health_path: "/health/ready".into(),
            health_command: vec!["CMD".into(), "/usr/local/bin/card-service".into(), "healthcheck".into()],
            cpu: 256,
            memory: 512,
            environment: BTreeMap::from([
                ("RUST_LOG".into(), "info".into()),
                ("CARD_IMAGES_PREFIX".into(), "cards/".into()),
                ("DB_NAME".into(), "cards".into()),
            ]),
            database: true,
            grants: vec![Grant::ReadObjects { bucket: images, prefix: "cards/".into() }],
        },
    )?;
    Ok(vec![deps.spec, card.spec])
}
