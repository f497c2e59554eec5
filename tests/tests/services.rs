//! ECR repository, ECS cluster, Cloud Map namespace and log group against the emulator:
//! create, read back, update, no-op plan after apply, delete.

use platform::model::{Env, Stack, StackSpec};
use platform::plan::Action;
use platform::resources::{
    ContainerInsights, DiscoveryService, EcrRepository, EcsCluster, ImageLifecycle, LogGroup, PrivateDnsNamespace,
    TagMutability, Tags, Vpc,
};
use platform::Address;
use platform_tests::{id_of, AwsBehaviour, Emulator, FaultProxy, Harness};

fn env() -> Env {
    Env::new("test").unwrap()
}

fn one<R: platform::model::Resource>(name: &str, resource: R) -> StackSpec {
    let mut s = Stack::new("svc", &env());
    s.add(name, resource);
    s.build().unwrap()
}

fn action(plan: &platform::plan::Plan, name: &str) -> Action {
    plan.change(&Address::new("svc", name)).unwrap().action
}

#[tokio::test]
async fn ecr_repository_lifecycle() {
    let h = Harness::new().await;
    let ecr = aws_sdk_ecr::Client::new(&h.config);
    // Emulator difference: the SDK serializes `scanOnPush: false` as an empty configuration (AWS reads
    // that as false), which the emulator ignores. So this test starts without scanning and turns it on;
    // the product code is the same either way.
    let first =
        EcrRepository { scan_on_push: false, image_tag_mutability: TagMutability::Mutable, ..Default::default() };
    let mut s = Stack::new("svc", &env());
    let images = s.add("images", first);
    let why = "the test starts from the settings the guardrails refuse, then fixes them";
    s.waive(&images, "ecr-scan-on-push", why);
    s.waive(&images, "ecr-immutable-tags", why);
    s.waive(&images, "ecr-lifecycle-policy", why);
    let state = h.apply_converged(&s.build().unwrap()).await;
    let name = id_of(&state, "images");
    assert_eq!(name, "test-svc-images");
    let repo = ecr.describe_repositories().repository_names(&name).send().await.unwrap();
    let repo = &repo.repositories()[0];
    assert_eq!(repo.image_tag_mutability(), Some(&aws_sdk_ecr::types::ImageTagMutability::Mutable));
    let tags = ecr.list_tags_for_resource().resource_arn(repo.repository_arn().unwrap()).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "platform:address" && t.value() == "svc.images"));
    let uri = state.resources[&Address::new("svc", "images")].outputs["repository_uri"].as_str().unwrap().to_string();
    assert!(uri.ends_with("/test-svc-images"), "{uri}");

    assert!(ecr.get_lifecycle_policy().repository_name(&name).send().await.is_err(), "no lifecycle policy yet");

    // The defaults: scan on push, immutable tags; and a lifecycle policy.
    let lifecycle = ImageLifecycle::Expire { untagged_days: 7, keep: 100 };
    let mut changed = EcrRepository { lifecycle: Some(lifecycle), ..EcrRepository::default() };
    changed.tags.insert("team".into(), "cards".into());
    assert_eq!(action(&h.plan(&one("images", changed.clone())).await, "images"), Action::Update);
    h.apply_converged(&one("images", changed.clone())).await;
    let repo = ecr.describe_repositories().repository_names(&name).send().await.unwrap();
    let repo = &repo.repositories()[0];
    assert_eq!(repo.image_tag_mutability(), Some(&aws_sdk_ecr::types::ImageTagMutability::Immutable));
    assert_eq!(repo.image_scanning_configuration().map(|c| c.scan_on_push()), Some(true));
    let tags = ecr.list_tags_for_resource().resource_arn(repo.repository_arn().unwrap()).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "team" && t.value() == "cards"));
    let policy = ecr.get_lifecycle_policy().repository_name(&name).send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    let selections: Vec<&serde_json::Value> =
        policy["rules"].as_array().unwrap().iter().map(|r| &r["selection"]).collect();
    assert_eq!(
        selections,
        [
            &serde_json::json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}),
            &serde_json::json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100}),
        ]
    );
    assert_eq!(action(&h.plan(&one("images", changed.clone())).await, "images"), Action::NoOp);

    // A policy changed by hand is drift, and apply puts the declared one back.
    let by_hand = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    ecr.put_lifecycle_policy().repository_name(&name).lifecycle_policy_text(by_hand).send().await.unwrap();
    let spec = one("images", changed.clone());
    let drift = h.engine.drift(&spec).await.unwrap();
    let paths: Vec<&str> = drift.drifted.iter().flat_map(|d| d.changes.iter().map(|c| c.path.as_str())).collect();
    assert_eq!(paths, ["lifecycle.document", "lifecycle.expire"], "the policy read back is not the declared one");
    h.apply_converged(&spec).await;
    assert_eq!(action(&h.plan(&spec).await, "images"), Action::NoOp);

    h.destroy(&spec).await;
    assert!(ecr.describe_repositories().repository_names(&name).send().await.is_err());
}

#[tokio::test]
async fn ecs_cluster_lifecycle() {
    let h = Harness::new().await;
    let ecs = aws_sdk_ecs::Client::new(&h.config);
    let state = h.apply_converged(&one("cluster", EcsCluster::default())).await;
    let arn = id_of(&state, "cluster");
    let describe = || {
        ecs.describe_clusters()
            .clusters(&arn)
            .include(aws_sdk_ecs::types::ClusterField::Settings)
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
    };
    let out = describe().await.unwrap();
    let cluster = &out.clusters()[0];
    assert_eq!(cluster.cluster_name(), Some("test-svc-cluster"));
    assert_eq!(cluster.settings()[0].value(), Some("enabled"));
    assert!(cluster.tags().iter().any(|t| t.key() == Some("platform:env") && t.value() == Some("test")));

    let changed = EcsCluster { container_insights: ContainerInsights::Disabled, tags: Tags::new() };
    assert_eq!(action(&h.plan(&one("cluster", changed.clone())).await, "cluster"), Action::Update);
    h.apply_converged(&one("cluster", changed)).await;
    assert_eq!(describe().await.unwrap().clusters()[0].settings()[0].value(), Some("disabled"));

    h.destroy(&one("cluster", EcsCluster::default())).await;
    let out = describe().await.unwrap();
    assert!(out.clusters().iter().all(|c| c.status() == Some("INACTIVE")));
}

fn namespace(description: &str, dns_name: &str) -> StackSpec {
    let mut s = Stack::new("svc", &env());
    let vpc = s.add("vpc", Vpc::new("10.50.0.0/16"));
    s.add(
        "discovery",
        PrivateDnsNamespace {
            dns_name: dns_name.into(),
            vpc: vpc.id(),
            description: description.into(),
            tags: Tags::new(),
        },
    );
    s.build().unwrap()
}

#[tokio::test]
async fn cloud_map_namespace_lifecycle() {
    let h = Harness::new().await;
    let sd = aws_sdk_servicediscovery::Client::new(&h.config);
    let state = h.apply_converged(&namespace("first", "test.svc.internal")).await;
    let id = id_of(&state, "discovery");
    let ns = sd.get_namespace().id(&id).send().await.unwrap();
    let ns = ns.namespace().unwrap();
    assert_eq!(ns.name(), Some("test.svc.internal"));
    assert_eq!(ns.description(), Some("first"));
    let tags = sd.list_tags_for_resource().resource_arn(ns.arn().unwrap()).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "platform:stack" && t.value() == "svc"));

    // The description changes in place (an asynchronous operation, awaited).
    assert_eq!(action(&h.plan(&namespace("second", "test.svc.internal")).await, "discovery"), Action::Update);
    h.apply_converged(&namespace("second", "test.svc.internal")).await;
    let ns = sd.get_namespace().id(&id).send().await.unwrap();
    assert_eq!(ns.namespace().unwrap().description(), Some("second"));

    // The DNS name cannot change: replacement.
    let plan = h.plan(&namespace("second", "other.svc.internal")).await;
    assert_eq!(action(&plan, "discovery"), Action::Replace);

    h.destroy(&namespace("second", "test.svc.internal")).await;
    assert!(sd.get_namespace().id(&id).send().await.is_err());
}

/// A namespace and a service whose creates' answers are lost: the SDK sends each again with its
/// `CreatorRequestId`, and whichever of the answers AWS documents for such a request comes back
/// (what the first made, NamespaceAlreadyExists / ServiceAlreadyExists naming the request id, or
/// DuplicateRequest naming the operation), the apply takes what the first request made: one of
/// each, recorded.
#[tokio::test]
async fn cloud_map_creates_whose_answers_are_lost_make_one_namespace_and_one_service() {
    for answer in ["answer", "already_exists", "in_progress"] {
        let emulator = Emulator::start_with(AwsBehaviour::strict().repeated_requests(answer));
        let proxy = FaultProxy::losing_first_answers(&emulator, &["CreatePrivateDnsNamespace", "CreateService"]).await;
        let h = Harness::through_proxy(emulator, &proxy).await;
        let mut s = Stack::new("svc", &env());
        let vpc = s.add("vpc", Vpc::new("10.51.0.0/16"));
        let namespace = s.add(
            "discovery",
            PrivateDnsNamespace {
                dns_name: "lost.svc.internal".into(),
                vpc: vpc.id(),
                description: "lost answers".into(),
                tags: Tags::new(),
            },
        );
        s.add(
            "cards",
            DiscoveryService {
                dns_name: "cards".into(),
                namespace: namespace.id(),
                ttl_seconds: 10,
                tags: Tags::new(),
            },
        );
        let spec = s.build().unwrap();
        let state = h.apply_converged(&spec).await;
        assert_eq!(proxy.stats().lost, 2, "{answer}: both creates lost their first answer");
        let sd = aws_sdk_servicediscovery::Client::new(&h.config);
        let namespaces = sd.list_namespaces().send().await.unwrap();
        let ids: Vec<_> = namespaces.namespaces().iter().filter_map(|n| n.id()).collect();
        assert_eq!(ids, [id_of(&state, "discovery").as_str()], "{answer}");
        let services = sd.list_services().send().await.unwrap();
        let ids: Vec<_> = services.services().iter().filter_map(|s| s.id()).collect();
        assert_eq!(ids, [id_of(&state, "cards").as_str()], "{answer}");
    }
}

#[tokio::test]
async fn log_group_lifecycle() {
    let h = Harness::new().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&h.config);
    let state = h.apply_converged(&one("logs", LogGroup::new(30))).await;
    let name = id_of(&state, "logs");
    assert_eq!(name, "/platform/test/svc/logs");
    let describe = || logs.describe_log_groups().log_group_name_prefix(&name).send();
    let out = describe().await.unwrap();
    assert_eq!(out.log_groups()[0].retention_in_days(), Some(30));
    let arn = state.resources[&Address::new("svc", "logs")].outputs["arn"].as_str().unwrap().to_string();
    assert!(!arn.ends_with(":*"));
    let tags = logs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("platform:address").map(String::as_str), Some("svc.logs"));

    let mut changed = LogGroup::new(90);
    changed.tags.insert("team".into(), "cards".into());
    assert_eq!(action(&h.plan(&one("logs", changed.clone())).await, "logs"), Action::Update);
    h.apply_converged(&one("logs", changed)).await;
    assert_eq!(describe().await.unwrap().log_groups()[0].retention_in_days(), Some(90));
    let tags = logs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("team").map(String::as_str), Some("cards"));

    h.destroy(&one("logs", LogGroup::new(30))).await;
    assert!(describe().await.unwrap().log_groups().is_empty());
}

#[tokio::test]
async fn invalid_retention_is_refused_before_any_aws_call() {
    let mut s = Stack::new("svc", &env());
    s.add("logs", LogGroup::new(31));
    let err = s.build().unwrap_err().to_string();
    assert!(err.contains("svc.logs: retention_in_days: 31 is not accepted"), "{err}");
}
