//! Test harness: a real AWS API emulator (moto in server mode) on a free loopback port, one per
//! test, so tests never share cloud state and nothing can reach real AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub mod authorization;
pub mod github;
pub mod iam;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace").to_path_buf()
}

/// The emulator's python (from `scripts/emulator-venv`).
fn emulator_python() -> PathBuf {
    if let Some(path) = std::env::var_os("PLATFORM_EMULATOR_PYTHON") {
        return PathBuf::from(path);
    }
    let path = workspace_root().join(".venv/emulator/bin/python");
    assert!(
        path.exists(),
        "the AWS emulator is not installed at {}: run `scripts/test` (it installs it), or `scripts/emulator-venv`",
        path.display()
    );
    path
}

/// How the emulator answers where AWS is stricter than moto: the settings of
/// `scripts/emulator_aws.py` (see its docstring for what each one does and the AWS documentation
/// it follows). Durations are in AWS minutes, each lasting `minute` seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AwsBehaviour {
    /// EC2 and IAM eventual consistency: a call naming a resource just created may not find it
    /// (once); requests signed as `observer` are exempt.
    pub consistency: bool,
    /// States that take time: RDS, NAT gateways, load balancers, ECS deployments and deletions.
    pub lifecycles: bool,
    /// Network interfaces of ECS tasks and load balancers that outlive them, and what they hold.
    pub network_interfaces: bool,
    /// Emulator seconds per minute of AWS time.
    pub minute: f64,
    /// Overrides of the default durations, by name (`rds_creating`, `ecs_deployment`...), in AWS
    /// minutes.
    pub durations: BTreeMap<String, f64>,
    /// Container images whose ECS tasks fail to start.
    pub failing_images: Vec<String>,
    /// Zones DescribeAvailabilityZones reports as `impaired`.
    pub impaired_zones: Vec<String>,
    /// The only zones the region has (`None`: the region's own).
    pub zones: Option<Vec<String>>,
    /// How a Cloud Map create sent again with its `CreatorRequestId` is answered: `answer` (what
    /// the first made), `already_exists` or `in_progress` (the errors AWS documents for it).
    pub repeated_requests: String,
}

impl AwsBehaviour {
    /// moto as it is: consistent at once, every resource ready when created, nothing left behind.
    pub fn lenient() -> Self {
        Self {
            consistency: false,
            lifecycles: false,
            network_interfaces: false,
            minute: 0.1,
            durations: BTreeMap::new(),
            failing_images: vec![],
            impaired_zones: vec![],
            zones: None,
            repeated_requests: "answer".to_string(),
        }
    }

    /// As AWS behaves: eventual consistency, lifecycles and network interfaces, an AWS minute
    /// lasting 0.1 s (an RDS instance takes about 0.9 s to become available).
    pub fn strict() -> Self {
        Self { consistency: true, lifecycles: true, network_interfaces: true, ..Self::lenient() }
    }

    /// Turns eventual consistency on or off.
    pub fn consistency(mut self, on: bool) -> Self {
        self.consistency = on;
        self
    }

    /// Turns lifecycles on or off.
    pub fn lifecycles(mut self, on: bool) -> Self {
        self.lifecycles = on;
        self
    }

    /// Turns network interfaces on or off.
    pub fn network_interfaces(mut self, on: bool) -> Self {
        self.network_interfaces = on;
        self
    }

    /// Emulator seconds per minute of AWS time.
    pub fn minute(mut self, seconds: f64) -> Self {
        self.minute = seconds;
        self
    }

    /// Overrides one duration (`rds_creating`, `consistency`...), in AWS minutes.
    pub fn duration(mut self, name: &str, minutes: f64) -> Self {
        self.durations.insert(name.to_string(), minutes);
        self
    }

    /// Container images whose ECS tasks fail to start.
    pub fn failing_images(mut self, images: &[&str]) -> Self {
        self.failing_images = images.iter().map(|i| i.to_string()).collect();
        self
    }

    /// Zones reported as `impaired`.
    pub fn impaired_zones(mut self, zones: &[&str]) -> Self {
        self.impaired_zones = zones.iter().map(|z| z.to_string()).collect();
        self
    }

    /// How a Cloud Map create sent again with its `CreatorRequestId` is answered (`answer`,
    /// `already_exists`, `in_progress`).
    pub fn repeated_requests(mut self, answer: &str) -> Self {
        self.repeated_requests = answer.to_string();
        self
    }

    /// The only zones of the region (a region with two zones, say).
    pub fn zones(mut self, zones: &[&str]) -> Self {
        self.zones = Some(zones.iter().map(|z| z.to_string()).collect());
        self
    }
}

/// What [`Emulator::start`], [`Emulator::start_tls`] and [`Harness::new`] emulate: AWS as it
/// behaves ([`AwsBehaviour::strict`]: eventual consistency, lifecycles that take time, network
/// interfaces that outlive their owners), scaled down.
pub fn default_behaviour() -> AwsBehaviour {
    AwsBehaviour::strict()
}

/// A running emulator, stopped when dropped.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub endpoint: String,
    /// The TLS material (`scripts/local-cert`) when it serves TLS.
    tls: Option<tempfile::TempDir>,
    /// Its request log (one line per request it answered).
    log: tempfile::NamedTempFile,
}

/// The CPU time (user and system) process `pid` has used, from `/proc/<pid>/stat` (Linux; 10 ms
/// resolution); zero where it cannot be read.
pub fn process_cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the line's 14th and 15th fields, the 12th and 13th after the name, in ticks of
    // 1/100 s.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// An ECS task role allowed `actions` on log group `logs` (its ARN followed by `suffix`): the
/// role and log group pair that synthetic stacks repeat.
pub fn log_writer_role(
    logs: &platform::Handle<platform::resources::LogGroup>,
    actions: &[&str],
    suffix: &str,
    tags: platform::resources::Tags,
) -> platform::resources::iam::Role {
    use platform::resources::iam::{PolicyDocument, Role, Statement, Trust};
    Role {
        trust: Trust::Service("ecs-tasks.amazonaws.com".into()),
        policies: std::collections::BTreeMap::from([(
            "logs".to_string(),
            PolicyDocument { statements: vec![Statement::allow(actions, vec![logs.arn().with_suffix(suffix)])] },
        )]),
        managed_policies: vec![],
        permissions_boundary: None,
        max_session_seconds: None,
        tags,
    }
}

impl Emulator {
    /// Starts an emulator on a free loopback port, over plain HTTP, and waits until it answers.
    /// It behaves as [`default_behaviour`] says.
    pub fn start() -> Self {
        Self::spawn(None, 0, &default_behaviour())
    }

    /// Starts an emulator (plain HTTP) that behaves as `behaviour` says.
    pub fn start_with(behaviour: AwsBehaviour) -> Self {
        Self::spawn(None, 0, &behaviour)
    }

    /// Like [`Emulator::start`], every request answered `latency_ms` later, as from a real region
    /// (for benchmarks: the delays of concurrent requests overlap).
    pub fn start_with_latency(latency_ms: u64) -> Self {
        Self::spawn(None, latency_ms, &default_behaviour())
    }

    /// Starts an emulator that serves HTTPS, as AWS endpoints do, with a certificate from a local
    /// authority that only this emulator's clients trust.
    pub fn start_tls() -> Self {
        Self::start_tls_with(default_behaviour())
    }

    /// Like [`Emulator::start_tls`], behaving as `behaviour` says.
    pub fn start_tls_with(behaviour: AwsBehaviour) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let status = Command::new(workspace_root().join("scripts/local-cert"))
            .arg(dir.path())
            .status()
            .expect("scripts/local-cert runs");
        assert!(status.success(), "scripts/local-cert failed");
        Self::spawn(Some(dir), 0, &behaviour)
    }

    fn spawn(tls: Option<tempfile::TempDir>, latency_ms: u64, behaviour: &AwsBehaviour) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut command = Command::new(emulator_python());
        command.arg(workspace_root().join("scripts/emulator-server.py")).args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        if let Some(dir) = &tls {
            command.arg("-c").arg(dir.path().join("cert.pem")).arg("-k").arg(dir.path().join("key.pem"));
        }
        if latency_ms > 0 {
            command.env("PLATFORM_EMULATOR_LATENCY_MS", latency_ms.to_string());
        }
        // Always set, so that the test's environment cannot change what it emulates.
        command.env("PLATFORM_EMULATOR_AWS", serde_json::to_string(behaviour).expect("settings as JSON"));
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen().expect("the log file")))
            .spawn()
            .expect("the emulator starts");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let emulator = Self { child, endpoint: format!("{scheme}://127.0.0.1:{port}"), tls, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator did not listen on port {port} within 60s");
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// The CPU time the emulator's process has used so far (Linux): with [`process_cpu_time`] of
    /// the engine, what a benchmark spends on each side.
    pub fn cpu_time(&self) -> Duration {
        process_cpu_time(self.child.id())
    }

    /// How many API requests the emulator has answered so far (from its request log).
    pub fn requests(&self) -> usize {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        text.lines()
            .filter(|l| [" \"POST ", " \"GET ", " \"PUT ", " \"DELETE ", " \"HEAD "].iter().any(|m| l.contains(m)))
            .count()
    }

    /// An SDK configuration pointing at this emulator, with test credentials and `us-east-1`.
    /// It does not read the environment, so a test can never reach real AWS.
    /// Over TLS, only the emulator's local authority is trusted.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.config_as("testing").await
    }

    /// The id of the public hosted zone `name`, created if the account has none (as a person
    /// would, before the first apply of an environment with that domain).
    pub async fn public_zone(&self, name: &str) -> String {
        let route53 = aws_sdk_route53::Client::new(&self.observer_config().await);
        let zones = route53.list_hosted_zones_by_name().dns_name(name).send().await.expect("list zones");
        let existing = zones
            .hosted_zones()
            .iter()
            .find(|z| z.name().trim_end_matches('.') == name && !z.config().is_some_and(|c| c.private_zone()));
        let id = match existing {
            Some(zone) => zone.id().to_string(),
            None => {
                let created = route53
                    .create_hosted_zone()
                    .name(name)
                    .caller_reference(format!(
                        "{name}-{}",
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_nanos()
                    ))
                    .send()
                    .await
                    .expect("create the public zone");
                created.hosted_zone().expect("a zone").id().to_string()
            }
        };
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// Like [`Emulator::sdk_config`], signed with the access key id `observer`: the identity
    /// tests use to look at the cloud from outside. Eventual consistency never hides anything
    /// from it, and what it reads does not change what the engine's identity will see (it sees
    /// lifecycles and network interfaces as everyone does).
    pub async fn observer_config(&self) -> SdkConfig {
        self.config_as("observer").await
    }

    async fn config_as(&self, access_key_id: &str) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                access_key_id,
                "testing",
                None,
                None,
                "emulator",
            ));
        if let Some(dir) = &self.tls {
            use aws_smithy_http_client::tls;
            let ca = std::fs::read(dir.path().join("ca.pem")).expect("the emulator's authority");
            let context = tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca))
                .build()
                .expect("a TLS context");
            let client = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .tls_context(context)
                .build_https();
            loader = loader.http_client(client);
        }
        loader.load().await
    }

    /// Merges `settings` (a JSON object, see [`AwsBehaviour`]) into the emulator's AWS behaviours
    /// while it runs, and returns all of them. Over TLS the request is made by the emulator's
    /// Python (std has no TLS client).
    pub fn configure(&self, settings: serde_json::Value) -> serde_json::Value {
        self.control("POST", &settings.to_string())
    }

    /// The emulator's AWS behaviour settings now.
    pub fn behaviour(&self) -> serde_json::Value {
        self.control("GET", "")
    }

    /// Switches to `behaviour` (every setting) while running.
    pub fn set_behaviour(&self, behaviour: &AwsBehaviour) -> serde_json::Value {
        self.configure(serde_json::to_value(behaviour).expect("settings as JSON"))
    }

    /// From now on, deployments of task definitions with one of `images` fail to start their tasks.
    pub fn fail_images(&self, images: &[&str]) -> serde_json::Value {
        self.configure(serde_json::json!({ "failing_images": images }))
    }

    /// Reports `zone` as `impaired` from now on (as well as those already impaired).
    pub fn impair_zone(&self, zone: &str) -> serde_json::Value {
        let mut zones: Vec<String> =
            serde_json::from_value(self.behaviour()["impaired_zones"].clone()).unwrap_or_default();
        if !zones.iter().any(|z| z == zone) {
            zones.push(zone.to_string());
        }
        self.configure(serde_json::json!({ "impaired_zones": zones }))
    }

    /// The maintenance window happens now: RDS modifications waiting for it start.
    pub fn maintenance_window(&self) -> serde_json::Value {
        self.configure(serde_json::json!({ "maintenance": true }))
    }

    /// `METHOD /_platform/aws` with `body`; the answer's JSON.
    fn control(&self, method: &str, body: &str) -> serde_json::Value {
        let (status, answer) = match &self.tls {
            None => {
                let address = self.endpoint.trim_start_matches("http://");
                let mut stream = TcpStream::connect(address).expect("the emulator accepts a connection");
                stream.set_read_timeout(Some(Duration::from_secs(60))).expect("a read timeout");
                write!(
                    stream,
                    "{method} /_platform/aws HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .expect("the request is sent");
                let mut text = String::new();
                stream.read_to_string(&mut text).expect("the emulator answers");
                let (head, answer) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
                let status = head.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
                (status, answer.to_string())
            }
            Some(dir) => {
                let script = "import json, ssl, sys, urllib.error, urllib.request\n\
                    url, method, body, ca = sys.argv[1:5]\n\
                    request = urllib.request.Request(url, data=body.encode() if method == 'POST' else None, method=method, headers={'Content-Type': 'application/json'})\n\
                    try:\n    answer = urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca))\n\
                    except urllib.error.HTTPError as error:\n    answer = error\n\
                    print(answer.status)\nprint(answer.read().decode())\n";
                let out = Command::new(emulator_python())
                    .args(["-c", script, &format!("{}/_platform/aws", self.endpoint), method, body])
                    .arg(dir.path().join("ca.pem"))
                    .output()
                    .expect("the emulator's python runs");
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let (status, answer) = text.split_once('\n').unwrap_or(("0", ""));
                (status.trim().parse().unwrap_or(0), answer.to_string())
            }
        };
        assert_eq!(status, 200, "{method} /_platform/aws {body}: {answer}");
        serde_json::from_str(answer.trim()).expect("the settings, as JSON")
    }

    /// Environment variables that point the `platform` binary (or any AWS SDK) at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ];
        if let Some(dir) = &self.tls {
            env.push(("SSL_CERT_FILE", dir.path().join("bundle.pem").display().to_string()));
        }
        env
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An engine on the AWS provider, pointed at its own emulator, with state in a temporary directory.
pub struct Harness {
    /// The emulator.
    pub emulator: Emulator,
    /// SDK configuration for checking what the engine did, from outside it: signed as `observer`
    /// ([`Emulator::observer_config`]), so that looking never changes what the engine sees.
    pub config: SdkConfig,
    /// The engine's SDK configuration (signed as `testing`, directly to the emulator).
    pub engine_config: SdkConfig,
    /// The engine under test.
    pub engine: platform::Engine,
    /// Where states are kept.
    pub backend: platform::state::local::LocalBackend,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts an emulator (plain HTTP) and an engine on it.
    pub async fn new() -> Self {
        Self::on(Emulator::start()).await
    }

    /// Starts an emulator (plain HTTP) behaving as `behaviour` says, and an engine on it.
    pub async fn with(behaviour: AwsBehaviour) -> Self {
        Self::on(Emulator::start_with(behaviour)).await
    }

    /// Starts an emulator serving HTTPS, as AWS does, and an engine on it.
    pub async fn over_tls() -> Self {
        Self::on(Emulator::start_tls()).await
    }

    /// An engine on `emulator` (one started with latency, say).
    pub async fn on(emulator: Emulator) -> Self {
        let config = emulator.sdk_config().await;
        Self::through(emulator, config).await
    }

    /// An engine reaching `emulator` through `proxy`; `config` (checks from outside, as
    /// `observer`) reaches the emulator directly.
    pub async fn through_proxy(emulator: Emulator, proxy: &FaultProxy) -> Self {
        let direct = emulator.sdk_config().await;
        let proxied = direct.to_builder().endpoint_url(&proxy.endpoint).build();
        let mut h = Self::through(emulator, direct).await;
        h.engine = platform::Engine::new(
            std::sync::Arc::new(platform::provider::aws::AwsProvider::new(&proxied)),
            std::sync::Arc::new(h.backend.clone()),
            platform::apply::ApplyOptions::default(),
        );
        h
    }

    async fn through(emulator: Emulator, engine_config: SdkConfig) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend = platform::state::local::LocalBackend::new(dir.path());
        let engine = platform::Engine::new(
            std::sync::Arc::new(platform::provider::aws::AwsProvider::new(&engine_config)),
            std::sync::Arc::new(backend.clone()),
            platform::apply::ApplyOptions::default(),
        );
        let config = emulator.observer_config().await;
        Self { emulator, config, engine_config, engine, backend, _dir: dir }
    }

    /// Replaces the engine with one whose AWS calls are recorded by the returned recorder.
    pub fn record_calls(&mut self) -> CallRecorder {
        self.record_calls_with(
            platform::provider::aws::ServiceLimits::default(),
            platform::apply::ApplyOptions::default(),
        )
    }

    /// Like [`Harness::record_calls`], with other per-service limits and apply options.
    pub fn record_calls_with(
        &mut self,
        limits: platform::provider::aws::ServiceLimits,
        options: platform::apply::ApplyOptions,
    ) -> CallRecorder {
        let recorder = CallRecorder::default();
        let provider = platform::provider::aws::AwsProvider::with_interceptor(
            &self.engine_config,
            aws_sdk_ec2::config::SharedInterceptor::new(recorder.clone()),
        )
        .with_limits(limits);
        self.engine =
            platform::Engine::new(std::sync::Arc::new(provider), std::sync::Arc::new(self.backend.clone()), options);
        recorder
    }

    /// Another engine on the same emulator and states, with other options (allowed deletions, say).
    pub fn engine_with(&self, options: platform::apply::ApplyOptions) -> platform::Engine {
        platform::Engine::new(
            std::sync::Arc::new(platform::provider::aws::AwsProvider::new(&self.engine_config)),
            std::sync::Arc::new(self.backend.clone()),
            options,
        )
    }

    /// Plans `spec`.
    pub async fn plan(&self, spec: &platform::StackSpec) -> platform::plan::Plan {
        self.engine.prepare(spec, false, "plan").await.expect("plan").into_plan().await.expect("release")
    }

    /// Applies `spec`, requiring every operation to succeed, and returns the state.
    pub async fn apply(&self, spec: &platform::StackSpec) -> platform::state::StackState {
        let prepared = self.engine.prepare(spec, false, "apply").await.expect("prepare apply");
        let report = self.engine.apply(prepared, &|_| {}).await.expect("apply");
        assert!(report.is_success(), "apply failed: {}", platform::render::report_text(&spec.name, &report));
        self.state(spec)
    }

    /// Applies `spec` and then requires a plan with no changes (no perpetual diff).
    pub async fn apply_converged(&self, spec: &platform::StackSpec) -> platform::state::StackState {
        let state = self.apply(spec).await;
        let plan = self.plan(spec).await;
        assert!(
            !plan.has_changes(),
            "a just-applied stack must plan as no changes:\n{}",
            platform::render::plan_text(&plan)
        );
        state
    }

    /// Destroys `spec`, requiring success and an empty state.
    pub async fn destroy(&self, spec: &platform::StackSpec) {
        let prepared = self.engine.prepare(spec, true, "destroy").await.expect("prepare destroy");
        let report = self.engine.apply(prepared, &|_| {}).await.expect("destroy");
        assert!(report.is_success(), "destroy failed: {}", platform::render::report_text(&spec.name, &report));
        assert!(self.state(spec).resources.is_empty(), "destroy leaves nothing in the state");
    }

    /// Applies the account stack (GitHub's OIDC provider) and the pipeline stack of
    /// `environment`, as an administrator does before any other stack: the services' roles carry
    /// the pipeline's permissions boundary.
    pub async fn bootstrap(&self, environment: &stacks::Environment) -> platform::StackSpec {
        // The environment's public zone is a person's to make (its parent domain delegates to it).
        if let Some(domain) = &environment.domain {
            self.public_zone(domain).await;
        }
        // The account's stack first (once: applying it again changes nothing).
        self.apply_converged(&stacks::account().expect("the account stack builds").spec).await;
        let pipeline = stacks::pipeline(environment).expect("the pipeline stack builds").spec;
        self.apply_converged(&pipeline).await;
        pipeline
    }

    /// The id of the public hosted zone `name`, created if the account has none (as a person
    /// would, before the first apply of an environment with that domain).
    pub async fn public_zone(&self, name: &str) -> String {
        self.emulator.public_zone(name).await
    }

    /// Destroys the pipeline stack of `environment` (its state bucket and access-log bucket,
    /// protected, named as allowed). An environment that keeps its data (no `force_destroy_data`)
    /// keeps its access logs too: S3 refuses to delete their bucket while it holds logs
    /// (`BucketNotEmpty`), and that bucket alone is left.
    pub async fn unbootstrap(&self, environment: &stacks::Environment) {
        let pipeline = stacks::pipeline(environment).expect("the pipeline stack builds").spec;
        let allow = [
            platform::Address::new(stacks::pipeline::NAME, "state"),
            platform::Address::new(stacks::pipeline::NAME, "access-logs"),
        ]
        .into();
        let engine = self.engine_with(platform::apply::ApplyOptions { allow_destroy: allow, ..Default::default() });
        let prepared = engine.prepare(&pipeline, true, "destroy").await.expect("prepare destroy");
        let report = engine.apply(prepared, &|_| {}).await.expect("destroy");
        let text = platform::render::report_text(&pipeline.name, &report);
        if environment.access_logs && !environment.force_destroy_data && !report.is_success() {
            assert!(
                text.contains("1 failed") && text.contains("delete pipeline.access-logs"),
                "destroy failed: {text}"
            );
            assert!(text.contains("BucketNotEmpty"), "only a bucket holding logs is kept: {text}");
            return;
        }
        assert!(report.is_success(), "destroy failed: {text}");
    }

    /// The recorded state of `spec`.
    pub fn state(&self, spec: &platform::StackSpec) -> platform::state::StackState {
        self.backend.read_file(&spec.name, &spec.env).expect("state readable").expect("state exists")
    }
}

/// The physical id recorded for `stack.name`.
pub fn id_of(state: &platform::state::StackState, name: &str) -> String {
    state
        .resources
        .get(&platform::Address::new(&state.stack, name))
        .unwrap_or_else(|| panic!("{name} is in the state"))
        .physical_id
        .clone()
}

/// A PostgreSQL server of its own, in a temporary directory on a free loopback port (the Debian
/// package's binaries; run as the `postgres` user when the tests run as root). Stopped when dropped.
///
/// It accepts TLS connections only, as RDS does with `rds.force_ssl=1` (the default from
/// PostgreSQL 15: <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html>),
/// with a certificate from a local authority of its own (`scripts/local-cert`), and over TCP with
/// a password only (`scram-sha-256`), as RDS takes no other.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    /// The port it listens on.
    pub port: u16,
    /// The authority its certificate chains to (what `DB_CA_BUNDLE` or `sslrootcert` names).
    pub ca: PathBuf,
    /// The password of its superuser, `postgres`.
    pub password: String,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

fn postgres_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLATFORM_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL is not installed: run `scripts/test` (it installs it) or apt-get install postgresql")
}

impl Postgres {
    /// Initializes and starts a server whose certificate names 127.0.0.1 and localhost.
    pub fn start() -> Self {
        Self::start_as("IP:127.0.0.1,DNS:localhost")
    }

    /// Initializes and starts a server whose certificate names only `names` (`DNS:db.example`):
    /// one that a client reaching it as 127.0.0.1 must refuse.
    pub fn start_as(names: &str) -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = dir.path().join("tls");
        let status = Command::new(workspace_root().join("scripts/local-cert"))
            .arg(&tls)
            .arg(names)
            .status()
            .expect("scripts/local-cert runs");
        assert!(status.success(), "scripts/local-cert failed");
        let as_postgres = running_as_root();
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let data = dir.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let password = {
            use std::hash::{BuildHasher, Hasher};
            format!("pw-{:016x}", std::collections::hash_map::RandomState::new().build_hasher().finish())
        };
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        if as_postgres {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(&pwfile).status().unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let this = Self { bin, data, port, ca: tls.join("ca.pem"), password, as_postgres, _dir: dir };
        let pwfile = format!("--pwfile={}", pwfile.display());
        this.run("initdb", &["-D", this.data.to_str().unwrap(), "-U", "postgres", &pwfile, "-E", "UTF8"]);
        // TCP connections over TLS only (`hostnossl` refused), as RDS with rds.force_ssl, and with
        // a password; the tests' own administration goes through the local socket.
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all all reject\n";
        let conf = format!(
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            tls.join("cert.pem").display(),
            tls.join("key.pem").display()
        );
        this.write_config("pg_hba.conf", hba, false);
        this.write_config("postgresql.conf", &conf, true);
        this.pg_ctl_start();
        this
    }

    /// Writes (or appends to) a file of the data directory, as its owner.
    fn write_config(&self, file: &str, text: &str, append: bool) {
        let path = self.data.join(file);
        let mut command = self.command_named("tee");
        if append {
            command.arg("-a");
        }
        let mut child = command.arg(&path).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("tee runs");
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "writing {file}");
    }

    fn command_named(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).stdin(Stdio::null()).output().expect("a PostgreSQL tool runs");
        assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn pg_ctl_start(&self) {
        let socket_dir = self.data.parent().unwrap().to_str().unwrap().to_string();
        let options = format!("-p {} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off", self.port);
        let log = self.data.parent().unwrap().join("log");
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"],
        );
    }

    /// Logs every statement from now on (`log_statement = 'all'`), as a database whose query
    /// logging is on: what [`Postgres::server_log`] then shows.
    pub fn log_statements(&self) {
        self.write_config("postgresql.conf", "log_statement = 'all'\n", true);
        self.run("pg_ctl", &["-D", self.data.to_str().unwrap(), "reload"]);
        // A reload is signalled, not awaited: wait until the setting is in effect.
        for _ in 0..100 {
            if self.query("postgres", "SHOW log_statement") == "all" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("log_statement did not become `all`");
    }

    /// What the server has logged so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data.parent().unwrap().join("log")).unwrap_or_default()
    }

    /// Stops the server (an outage).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// Starts it again after [`Postgres::stop`].
    pub fn restart(&self) {
        self.pg_ctl_start();
    }

    /// Creates a database and returns its URL (see [`Postgres::url`]).
    pub fn database(&self, name: &str) -> String {
        let socket_dir = self.data.parent().unwrap().to_str().unwrap().to_string();
        self.run("createdb", &["-h", &socket_dir, "-p", &self.port.to_string(), "-U", "postgres", name]);
        self.url(name)
    }

    /// Creates a database owned by a new role `owner` (password `owner-password`) with what RDS
    /// gives its master user — `CREATEDB` and `CREATEROLE`, not superuser
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html>)
    /// — and returns the database's URL as that role: what migrations run as on RDS.
    pub fn database_owned_by(&self, name: &str, owner: &str) -> String {
        self.sql("postgres", &format!("CREATE ROLE {owner} LOGIN CREATEDB CREATEROLE PASSWORD 'owner-password'"));
        self.sql("postgres", &format!("CREATE DATABASE {name} OWNER {owner}"));
        self.url(name).replacen(&format!("postgres:{}", self.password), &format!("{owner}:owner-password"), 1)
    }

    /// The URL of database `name` as the superuser, over TLS verified against the server's
    /// authority.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{name}?sslmode=verify-full&sslrootcert={}",
            self.password,
            self.port,
            self.ca.display()
        )
    }

    /// Runs `sql` in database `name` as the superuser (through the local socket), e.g. to create
    /// a role or change its password as an administrator would.
    pub fn sql(&self, name: &str, sql: &str) {
        let socket_dir = self.data.parent().unwrap().to_str().unwrap().to_string();
        let port = self.port.to_string();
        let args = ["-h", &socket_dir, "-p", &port, "-U", "postgres", "-d", name, "-v", "ON_ERROR_STOP=1", "-c", sql];
        self.run("psql", &args);
    }

    /// Runs `sql` as the superuser in database `name` and returns what it prints, unaligned and
    /// without headers (`psql -tA`), trimmed.
    pub fn query(&self, name: &str, sql: &str) -> String {
        let socket_dir = self.data.parent().unwrap().to_str().unwrap().to_string();
        let port = self.port.to_string();
        let args = ["-h", &socket_dir, "-p", &port, "-U", "postgres", "-d", name, "-tA", "-c", sql];
        let out = self.command("psql").args(args).stdin(Stdio::null()).output().expect("psql runs");
        assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Records every AWS API call made through the clients it is installed in, as the IAM action
/// that authorizes it (`ec2:DescribeVpcs`).
#[derive(Debug, Clone, Default)]
pub struct CallRecorder {
    calls: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Every answered attempt, as sent and received.
    wire: std::sync::Arc<std::sync::Mutex<Vec<WireCall>>>,
    /// Per IAM service prefix: requests in flight now, and the most ever in flight at once.
    in_flight: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, (usize, usize)>>>,
}

impl CallRecorder {
    /// The IAM actions of the calls made so far.
    pub fn actions(&self) -> std::collections::BTreeSet<String> {
        self.calls.lock().expect("recorder").clone()
    }

    /// Every answered attempt so far, in the order the answers came.
    pub fn wire_calls(&self) -> Vec<WireCall> {
        self.wire.lock().expect("recorder").clone()
    }

    /// The most requests to `service` (an IAM prefix: `iam`, `ec2`...) that were in flight at once.
    pub fn max_in_flight(&self, service: &str) -> usize {
        self.in_flight.lock().expect("recorder").get(service).map(|(_, max)| *max).unwrap_or(0)
    }

    fn service(cfg: &aws_sdk_ec2::config::ConfigBag) -> Option<String> {
        let metadata = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()?;
        let action = iam_action(metadata.service(), metadata.name());
        action.split_once(':').map(|(prefix, _)| prefix.to_string())
    }
}

/// The IAM action that authorizes an operation of an SDK service, where it is not simply
/// `prefix:Operation`.
pub fn iam_action(service: &str, operation: &str) -> String {
    let prefix = match service.to_ascii_lowercase().replace(' ', "").as_str() {
        "elasticloadbalancingv2" | "elasticloadbalancing" => "elasticloadbalancing".to_string(),
        "cloudwatchlogs" | "logs" => "logs".to_string(),
        // The Resource Groups Tagging API's actions are `tag:*`.
        "resourcegroupstaggingapi" => "tag".to_string(),
        other => other.to_string(),
    };
    let action = match (prefix.as_str(), operation) {
        ("s3", "ListObjectsV2" | "HeadBucket") => "ListBucket",
        ("s3", "ListObjectVersions") => "ListBucketVersions",
        ("s3", "DeleteObjects") => "DeleteObject",
        ("s3", "HeadObject") => "GetObject",
        ("s3", "GetBucketPolicyStatus") => "GetBucketPolicyStatus",
        ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("s3", "DeletePublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("s3", "PutBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        ("s3", "DeleteBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "PutBucketTagging") => "PutBucketTagging",
        ("s3", "DeleteBucketTagging") => "PutBucketTagging",
        ("s3", "DeleteBucketPolicy") => "DeleteBucketPolicy",
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketLifecycle.html
        ("s3", "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle") => "PutLifecycleConfiguration",
        ("s3", "GetBucketLifecycleConfiguration") => "GetLifecycleConfiguration",
        ("s3", "PutBucketOwnershipControls" | "GetBucketOwnershipControls") => "PutBucketOwnershipControls",
        (_, op) => op,
    };
    format!("{prefix}:{action}")
}

/// One attempt of an AWS call as it crossed the wire: what [`authorization`] reads resources and
/// condition keys from.
#[derive(Debug, Clone)]
pub struct WireCall {
    /// The IAM action that authorizes it.
    pub action: String,
    /// The request body (a query-protocol form or a JSON document; empty for REST calls without one).
    pub request: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The answer's body.
    pub response: String,
}

/// The request body of the attempt under way, kept between the recorder's hooks.
#[derive(Debug, Clone)]
struct SentBody(String);

impl aws_smithy_types::config_bag::Storable for SentBody {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_ec2::config::Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "aws-call-recorder"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_sdk_ec2::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        if let Some(metadata) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            self.calls.lock().expect("recorder").insert(iam_action(metadata.service(), metadata.name()));
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        let body =
            context.request().body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        cfg.interceptor_state().store_put(SentBody(body));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_ec2::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        let Some(metadata) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() else {
            return Ok(());
        };
        let action = iam_action(metadata.service(), metadata.name());
        let request = cfg.load::<SentBody>().map(|b| b.0.clone()).unwrap_or_default();
        let response = context.response();
        let call = WireCall {
            action,
            request,
            status: response.status().as_u16(),
            response: response.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default(),
        };
        self.wire.lock().expect("recorder").push(call);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        if let Some(service) = Self::service(cfg) {
            let mut in_flight = self.in_flight.lock().expect("recorder");
            let entry = in_flight.entry(service).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        if let Some(service) = Self::service(cfg) {
            if let Some(entry) = self.in_flight.lock().expect("recorder").get_mut(&service) {
                entry.0 = entry.0.saturating_sub(1);
            }
        }
        Ok(())
    }
}

/// What a [`FaultProxy`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests received.
    pub requests: usize,
    /// Answered with a throttling error instead of forwarded.
    pub throttled: usize,
    /// Answered with a 5xx instead of forwarded.
    pub failed: usize,
    /// Connection dropped before forwarding.
    pub dropped: usize,
    /// Forwarded and taken into account by the emulator, then the connection dropped before the
    /// answer: the caller cannot know the call took effect.
    pub lost: usize,
}

/// A proxy between the SDK and the emulator that injects faults into a fraction of the requests:
/// throttling errors, 5xx answers, connections dropped before the request is forwarded, and
/// answers lost after the emulator acted on the request. Seeded: the same seed gives the same
/// sequence of faults to the same sequence of requests.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    stats: std::sync::Arc<std::sync::Mutex<FaultStats>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// xorshift64*: a small seeded generator, enough to pick faults repeatably.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Fault {
    Throttle,
    Fail,
    Drop,
    Lose,
}

impl FaultProxy {
    /// Starts a proxy to `emulator` (plain HTTP) failing `rate` of the requests.
    pub async fn start(emulator: &Emulator, rate: f64, seed: u64) -> Self {
        Self::spawn(emulator, rate, seed, &[]).await
    }

    /// Starts a proxy to `emulator` (plain HTTP) that loses the answer of the first request of
    /// each of `actions` (`CreateService`, …) after the emulator acted on it, and nothing else.
    pub async fn losing_first_answers(emulator: &Emulator, actions: &[&str]) -> Self {
        Self::spawn(emulator, 0.0, 1, actions).await
    }

    async fn spawn(emulator: &Emulator, rate: f64, seed: u64, lose: &[&str]) -> Self {
        use std::sync::{Arc, Mutex};
        let upstream = emulator.endpoint.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Mutex::new(FaultStats::default()));
        let rng = Arc::new(Mutex::new(Rng(seed.max(1))));
        let lose = Arc::new(Mutex::new(lose.iter().map(|a| a.to_string()).collect::<BTreeSet<String>>()));
        let (task_stats, task_rng) = (stats.clone(), rng.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (stats, rng, upstream, lose) =
                    (task_stats.clone(), task_rng.clone(), upstream.clone(), lose.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, rate, &rng, &stats, &lose).await;
                });
            }
        });
        Self { endpoint, stats, task }
    }

    /// What it did so far.
    pub fn stats(&self) -> FaultStats {
        *self.stats.lock().unwrap()
    }
}

/// Reads one HTTP/1.1 message head and its `Content-Length` body from `stream` (`None` at EOF).
async fn read_message(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end + 4]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Ok(Some((head, body)));
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// The AWS service a signed request is for (from its credential scope).
fn service_of(head: &str) -> String {
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("")
        .to_string()
}

/// The action a request asks for: the JSON protocols' `X-Amz-Target` (`Service.Action`), or the
/// query protocols' `Action=` parameter.
fn action_of(head: &str, body: &[u8]) -> String {
    if let Some(target) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("x-amz-target").then(|| v.trim().to_string())
    }) {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action=").map(str::to_string))
        .unwrap_or_default()
}

/// An error answer in the service's protocol.
fn error_answer(service: &str, throttle: bool) -> Vec<u8> {
    let (status, content_type, body) = match (service, throttle) {
        ("ec2", true) => (503, "text/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault</RequestID></Response>".to_string()),
        ("ec2", false) => (500, "text/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred.</Message></Error></Errors><RequestID>fault</RequestID></Response>".to_string()),
        ("s3", true) => (503, "application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>".to_string()),
        ("s3", false) => (500, "application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message><RequestId>fault</RequestId></Error>".to_string()),
        ("iam" | "elasticloadbalancing" | "rds" | "sts", true) => (400, "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".to_string()),
        ("iam" | "elasticloadbalancing" | "rds" | "sts", false) => (500, "text/xml", "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>internal failure</Message></Error><RequestId>fault</RequestId></ErrorResponse>".to_string()),
        (_, true) => (400, "application/x-amz-json-1.1", "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}".to_string()),
        (_, false) => (503, "application/x-amz-json-1.1", "{\"__type\":\"ServiceUnavailableException\",\"message\":\"unavailable\"}".to_string()),
    };
    format!(
        "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: fault\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(
    mut client: tokio::net::TcpStream,
    upstream: &str,
    rate: f64,
    rng: &std::sync::Mutex<Rng>,
    stats: &std::sync::Mutex<FaultStats>,
    lose: &std::sync::Mutex<BTreeSet<String>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![];
    while let Some((head, body)) = read_message(&mut client, &mut buffer).await? {
        let fault = if lose.lock().unwrap().remove(&action_of(&head, &body)) {
            Some(Fault::Lose)
        } else {
            let mut rng = rng.lock().unwrap();
            let (roll, kind) = (rng.next(), rng.next());
            (roll < rate).then(|| [Fault::Throttle, Fault::Fail, Fault::Drop, Fault::Lose][(kind * 4.0) as usize % 4])
        };
        {
            let mut s = stats.lock().unwrap();
            s.requests += 1;
            match fault {
                Some(Fault::Throttle) => s.throttled += 1,
                Some(Fault::Fail) => s.failed += 1,
                Some(Fault::Drop) => s.dropped += 1,
                Some(Fault::Lose) => s.lost += 1,
                None => {}
            }
        }
        match fault {
            Some(Fault::Throttle) | Some(Fault::Fail) => {
                client.write_all(&error_answer(&service_of(&head), matches!(fault, Some(Fault::Throttle)))).await?;
                continue;
            }
            Some(Fault::Drop) => return Ok(()),
            _ => {}
        }
        // Forward on a connection of its own, asking the emulator to close it after answering.
        let mut up = tokio::net::TcpStream::connect(upstream).await?;
        let head = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect::<String>()
            + "Connection: close\r\n\r\n";
        up.write_all(head.as_bytes()).await?;
        up.write_all(&body).await?;
        let mut answer = vec![];
        up.read_to_end(&mut answer).await?;
        if matches!(fault, Some(Fault::Lose)) {
            return Ok(());
        }
        // Keep the client's connection open when the answer says how long it is.
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|e| e + 4).unwrap_or(answer.len());
        let answer_head = String::from_utf8_lossy(&answer[..end]).into_owned();
        let sized = answer_head.lines().any(|l| l.to_ascii_lowercase().starts_with("content-length:"));
        let rewritten = answer_head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect::<String>()
            + if sized { "\r\n" } else { "Connection: close\r\n\r\n" };
        client.write_all(rewritten.as_bytes()).await?;
        client.write_all(&answer[end..]).await?;
        if !sized {
            return Ok(());
        }
    }
    Ok(())
}
