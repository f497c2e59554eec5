//! AWS WAF through the engine: a web ACL of AWS's managed rule groups in front of a load balancer,
//! logging into an `aws-waf-logs-*` group with credentials redacted. Applied against an emulator
//! as strict as AWS (the first association right after the web ACL's create is refused as not
//! known yet), read back as declared, a change made outside found and undone, the load balancer
//! moved to another web ACL in place, and everything deleted in order (a web ACL still
//! associated cannot be).

use aws_sdk_wafv2::types::{CountAction, OverrideAction, Rule, Scope};
use platform::model::{Env, Stack};
use platform::plan::Action;
use platform::resources::ec2::AzIndex;
use platform::resources::elbv2::LoadBalancer;
use platform::resources::wafv2::{ManagedRuleGroup, WafAction, CREDENTIAL_HEADERS};
use platform::resources::{LogGroup, SecurityGroup, Subnet, Tags, Vpc, WafLogging, WebAcl, WebAclAssociation};
use platform::{Address, StackSpec};
use platform_tests::{id_of, Harness};

/// The load balancer behind the baseline web ACL, or (`moved`) behind a second one.
fn stack(moved: bool) -> StackSpec {
    let mut s = Stack::new("waf", &Env::new("test").unwrap());
    let vpc = s.add("vpc", Vpc::new("10.91.0.0/16"));
    let subnets: Vec<_> = (0..2)
        .map(|i| s.add(&format!("subnet-{i}"), Subnet::new(vpc.id(), format!("10.91.{i}.0/24"), AzIndex(i as u8))))
        .collect();
    let group = s.add(
        "group",
        SecurityGroup { vpc: vpc.id(), description: "lb".into(), ingress: vec![], egress: vec![], tags: Tags::new() },
    );
    let lb = s.add(
        "lb",
        LoadBalancer {
            internal: true,
            subnets: subnets.iter().map(|s| s.id()).collect(),
            security_groups: vec![group.id()],
            drop_invalid_header_fields: true,
            deletion_protection: false,
            access_logs: None,
            tags: Tags::new(),
        },
    );
    let baseline = s.add("baseline", WebAcl::baseline("Baseline in front of the test load balancer"));
    let strict = s.add(
        "strict",
        WebAcl {
            description: "Only what the IP reputation list lets through".into(),
            default_action: WafAction::Block,
            rule_groups: vec![ManagedRuleGroup::aws("AWSManagedRulesAmazonIpReputationList")],
            tags: Tags::new(),
        },
    );
    let logs = s.add_named("waf-logs", "aws-waf-logs-test-waf", LogGroup::new(7));
    s.add(
        "logging",
        WafLogging {
            web_acl: baseline.arn(),
            log_group: logs.arn(),
            redacted_headers: CREDENTIAL_HEADERS.iter().map(|h| h.to_string()).collect(),
        },
    );
    let front = if moved { strict.arn() } else { baseline.arn() };
    s.add("lb-web-acl", WebAclAssociation { web_acl: front, resource: lb.arn() });
    s.build().unwrap()
}

#[tokio::test]
async fn a_web_acl_fronts_a_load_balancer_logs_without_credentials_and_drift_is_found() {
    let h = Harness::new().await;
    let waf = aws_sdk_wafv2::Client::new(&h.config);
    let spec = stack(false);
    let state = h.apply_converged(&spec).await;
    let (lb, baseline, strict) = (id_of(&state, "lb"), id_of(&state, "baseline"), id_of(&state, "strict"));
    let front = || waf.get_web_acl_for_resource().resource_arn(&lb).send();
    assert_eq!(front().await.unwrap().web_acl().map(|a| a.arn().to_string()), Some(baseline.clone()));

    // The rule groups in order, each acting on what it matches; metrics and samples on.
    let (name, id) = baseline.split_once(":regional/webacl/").unwrap().1.split_once('/').unwrap();
    let got = waf.get_web_acl().name(name).id(id).scope(Scope::Regional).send().await.unwrap();
    let acl = got.web_acl().unwrap();
    let rules: Vec<(i32, &str, bool)> = acl
        .rules()
        .iter()
        .map(|r| {
            let group = r.statement().unwrap().managed_rule_group_statement().unwrap();
            (r.priority(), group.name(), r.override_action().unwrap().none().is_some())
        })
        .collect();
    assert_eq!(
        rules,
        [
            (0, "AWSManagedRulesCommonRuleSet", true),
            (1, "AWSManagedRulesKnownBadInputsRuleSet", true),
            (2, "AWSManagedRulesAmazonIpReputationList", true)
        ]
    );
    assert!(acl.default_action().unwrap().allow().is_some());
    let visibility = acl.visibility_config().unwrap();
    assert!(visibility.cloud_watch_metrics_enabled() && visibility.sampled_requests_enabled());

    // Logging into the aws-waf-logs- group, credentials redacted.
    let logging = waf.get_logging_configuration().resource_arn(&baseline).send().await.unwrap();
    let logging = logging.logging_configuration().unwrap();
    assert_eq!(
        logging.log_destination_configs(),
        [state.resources[&Address::new("waf", "waf-logs")].outputs["arn"].as_str().unwrap().to_string()]
    );
    let redacted: Vec<&str> =
        logging.redacted_fields().iter().filter_map(|f| f.single_header().map(|h| h.name())).collect();
    assert_eq!(redacted, ["authorization", "cookie"]);
    assert!(!h.plan(&spec).await.has_changes(), "no perpetual diff");

    // Outside platform: a group switched to count only, and the load balancer left unprotected.
    let mut changed = acl.rules().to_vec();
    let rule = &changed[0];
    changed[0] = Rule::builder()
        .name(rule.name())
        .priority(rule.priority())
        .set_statement(rule.statement().cloned())
        .set_visibility_config(rule.visibility_config().cloned())
        .override_action(OverrideAction::builder().count(CountAction::builder().build()).build())
        .build()
        .unwrap();
    waf.update_web_acl()
        .name(name)
        .id(id)
        .scope(Scope::Regional)
        .lock_token(got.lock_token().unwrap())
        .default_action(acl.default_action().unwrap().clone())
        .visibility_config(visibility.clone())
        .description(acl.description().unwrap())
        .set_rules(Some(changed))
        .send()
        .await
        .unwrap();
    waf.disassociate_web_acl().resource_arn(&lb).send().await.unwrap();
    let plan = h.plan(&spec).await;
    let text = platform::render::plan_text(&plan);
    assert_eq!(plan.change(&Address::new("waf", "baseline")).unwrap().action, Action::Update, "{text}");
    assert!(text.contains("count_only"), "{text}");
    assert_eq!(plan.change(&Address::new("waf", "lb-web-acl")).unwrap().action, Action::Create, "{text}");
    h.apply_converged(&spec).await;
    assert_eq!(front().await.unwrap().web_acl().map(|a| a.arn().to_string()), Some(baseline.clone()));

    // Another web ACL in front: in place, the load balancer never without one.
    let moved = stack(true);
    let plan = h.plan(&moved).await;
    assert_eq!(plan.change(&Address::new("waf", "lb-web-acl")).unwrap().action, Action::Update);
    h.apply_converged(&moved).await;
    assert_eq!(front().await.unwrap().web_acl().map(|a| a.arn().to_string()), Some(strict.clone()));

    // Deleted in order: the association before its web ACLs, the logging before its group.
    h.destroy(&moved).await;
    let left = waf.list_web_acls().scope(Scope::Regional).send().await.unwrap();
    assert!(left.web_acls().is_empty(), "{:?}", left.web_acls());
}
