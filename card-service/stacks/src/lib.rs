//! The card service's infrastructure, declared: what it needs, not how AWS provides it.

use std::collections::BTreeMap;

use platform::model::{StackError, StackSpec};
use stacks::{
    dependencies, service, DatabaseOptions, Dependencies, DependenciesOptions, Environment, Foundation, Grant,
    ServiceOptions,
};

/// The name of the card service's dependencies stack.
pub const DEPENDENCIES: &str = "card-dependencies";
/// The name of the card service's stack.
pub const SERVICE: &str = "card-service";

/// The card service's stacks on `foundation`, in the order they are applied: its dependencies (a
/// PostgreSQL database, a bucket for card images), then the service running `image_tag`.
pub fn card_stacks(env: &Environment, foundation: &Foundation, image_tag: &str) -> Result<Vec<StackSpec>, StackError> {
    let deps = dependencies(DEPENDENCIES, env, foundation, &dependencies_options())?;
    let card = service(SERVICE, env, foundation, &deps, &service_options(foundation, &deps, image_tag))?;
    Ok(vec![deps.spec, card.spec])
}

/// What the card service depends on: a PostgreSQL database for the cards, a bucket for their images.
pub fn dependencies_options() -> DependenciesOptions {
    DependenciesOptions { database: Some(DatabaseOptions::postgres("cards")), bucket: true }
}

/// What the card service is: its image, ports, health checks, size, configuration, and what its
/// code may do (read the card images).
pub fn service_options(foundation: &Foundation, deps: &Dependencies, image_tag: &str) -> ServiceOptions {
    let images = deps.bucket.clone().expect("the card dependencies hold a bucket");
    ServiceOptions {
        name: "card".into(),
        repository: foundation.repositories["card-service"].clone(),
        image_tag: image_tag.into(),
        port: 8080,
        health_port: 8081,
        // Liveness: the process serves. Readiness (the database) is for metrics and alarms: a
        // Multi-AZ failover takes a minute or two, and failing the target group's check for it
        // would have ECS replace every healthy task.
        health_path: "/health/live".into(),
        health_command: vec!["CMD".into(), "/usr/local/bin/card-service".into(), "healthcheck".into()],
        cpu: 256,
        memory: 512,
        environment: BTreeMap::from([
            ("RUST_LOG".into(), "info".into()),
            ("CARD_IMAGES_BUCKET".into(), images.bucket.name().to_text()),
            ("CARD_IMAGES_PREFIX".into(), "cards/".into()),
            ("DB_NAME".into(), "cards".into()),
        ]),
        database: true,
        grants: vec![Grant::ReadObjects { bucket: images, prefix: "cards/".into() }],
        migration_command: vec!["migrate".into()],
    }
}
