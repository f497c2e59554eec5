"""Starts the AWS API emulator (moto in server mode) with corrections where it answers differently
from AWS in a way the AWS SDK for Rust cannot read. Arguments are moto_server's (-H HOST -p PORT).

Corrections (each is a difference from AWS, not a behaviour of the product):
- S3 GetBucketVersioning: moto 5.2.5 answers with a <GetBucketVersioningResponse> root element;
  AWS answers with <VersioningConfiguration>, which is what the SDK parses.
- RDS ResetDBParameterGroup: not implemented by moto 5.2.5. Here it resets the parameters named
  (or all, with ResetAllParameters) to the engine's defaults, which moto represents by leaving them
  unset: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ResetDBParameterGroup.html
- EC2 CreateSubnet by AvailabilityZoneId: moto 5.2.5 looks for the zone's earlier subnets by
  name only, so a subnet created by zone id is taken for its zone's default subnet and maps
  public addresses. AWS never does that for CreateSubnet (MapPublicIpOnLaunch is false until
  ModifySubnetAttribute: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSubnet.html);
  here the zone id is turned into its name first.
- S3 bucket policies: moto 5.2.5 ignores the conditions of bucket policy statements, so a statement
  denying requests "when aws:SecureTransport is false" denies every request, HTTPS or not. Here the
  `aws:SecureTransport` key of `Bool` conditions is evaluated against the request's scheme, as AWS
  does; statements with other conditions keep moto's behaviour.

- IAM permissions boundaries: moto 5.2.5 checks only the form of a role's boundary ARN; AWS
  refuses a boundary that is not an existing managed policy (NoSuchEntity, "Scope ARN: … does not
  exist or is not attachable": https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePermissionsBoundary.html,
  and CreateRole's PermissionsBoundary likewise:
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html). Here CreateRole and
  PutRolePermissionsBoundary refuse a customer managed policy that does not exist.
- IAM policy sizes: moto 5.2.5 reports IAM's quotas but does not enforce them; AWS refuses (with
  LimitExceeded) a role whose inline policies together exceed 10,240 characters, a managed policy
  (or version) over 6,144, and an eleventh managed policy attached to a role; whitespace is not
  counted (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). Here
  PutRolePolicy, CreatePolicy, CreatePolicyVersion and AttachRolePolicy refuse the same.
- IAM trusts of web identities: moto 5.2.5 accepts a trust policy whose `Federated` principal
  is an OIDC provider the account does not have. On AWS the provider is a prerequisite of the
  role (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html,
  "Prerequisites for creating a role for OIDC"), and IAM refuses a trust naming a principal it
  cannot resolve with MalformedPolicyDocument, "Invalid principal in policy"
  (https://repost.aws/knowledge-center/iam-trust-policy-error). Here CreateRole and
  UpdateAssumeRolePolicy refuse a trust naming an `oidc-provider/` that does not exist.
- ELBv2 CreateLoadBalancer: moto 5.2.5 creates another load balancer with a name already taken.
  On AWS a name is unique in the region and the call is idempotent: the same name with the same
  settings answers the existing load balancer, other settings DuplicateLoadBalancerName
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html).
  Here the same.
- Cloud Map CreatePrivateDnsNamespace, CreateHttpNamespace, CreatePublicDnsNamespace and
  CreateService: moto 5.2.5 stores a request's CreatorRequestId but does not honour it, so a
  create sent again after its answer was lost fails (ConflictingDomainExists) or makes a second
  service. AWS documents the id as what "allows failed requests to be retried without the risk of
  running the operation twice"
  (https://docs.aws.amazon.com/cloud-map/latest/api/API_CreatePrivateDnsNamespace.html,
  https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateService.html). Here a create whose
  CreatorRequestId an existing namespace or service was created with answers that one: the
  namespace's creation operation, or the service. AWS also documents two errors for such a
  request, which the setting "repeated_requests" (scripts/emulator_aws.py) makes the emulator
  answer instead: "already_exists" (NamespaceAlreadyExists or ServiceAlreadyExists, naming the
  CreatorRequestId and the id of what exists) and "in_progress" (namespaces: DuplicateRequest,
  naming the operation in progress).

- ACM certificates: moto 5.2.5 issues every requested certificate a minute after the request,
  whether its validation record exists or not. AWS issues a DNS-validated certificate only once
  the CNAME record it names is in the domain's DNS, and keeps it PENDING_VALIDATION (for up to 72
  hours) until then (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html). Here a
  certificate is issued once the record is in a public hosted zone of the account (with
  "lifecycles", some AWS minutes later: emulator_aws.py).

- Route 53 CreateHostedZone: moto 5.2.5 makes a zone created with a VPC public unless
  HostedZoneConfig.PrivateZone is sent too; AWS makes it private ("VPC (Private hosted zones
  only)", https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html). Here
  the same, so a private zone's records validate no certificate.

- Route 53 ChangeResourceRecordSets: moto 5.2.5 refuses a CREATE only when the very same change
  was made before; another CREATE of a name and type the zone has adds a second record set. AWS
  refuses it: CREATE "creates a resource record set that has the specified values" and fails with
  InvalidChangeBatch when the record exists; UPSERT is what replaces one
  (https://docs.aws.amazon.com/Route53/latest/APIReference/API_Change.html). Here the same.

- S3 PutBucketLogging: moto 5.2.5 refuses (InvalidTargetBucketForLogging) a target whose policy
  does not allow S3 logging, but takes it as allowing only when a statement's Resource is exactly
  `BUCKET/PREFIX*` or `BUCKET/*`, and fails with an internal error on a statement whose Principal
  is "*" (a TLS-only deny). AWS delivers the logs with the `logging.s3.amazonaws.com` principal,
  which the target's policy must allow to put objects under the prefix
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html); it
  does not check the policy when logging is turned on: a policy that does not allow it shows as
  failed deliveries later. Here moto's refusal stays (it stands in for those failed deliveries)
  and the policy is evaluated as AWS evaluates a delivery: its Allow, resource patterns,
  aws:SourceAccount, aws:SourceArn.
- ELBv2 ModifyLoadBalancerAttributes with access logs on: moto 5.2.5 accepts any bucket. AWS
  writes a test object under PREFIX/AWSLogs/ACCOUNT/ first and answers InvalidConfigurationRequest
  ("Access Denied for bucket") when the bucket is missing, in another region, or its policy does
  not let the region's Elastic Load Balancing account (or service principal) put it
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html).
  Here the same (the test object itself is not written).

- AWS WAF (regional): moto 5.2.5 associates a web ACL with any ARN, even a load balancer that
  does not exist, keeps a resource's earlier web ACL as well, deletes a web ACL that is still
  associated, takes any logging destination, and has no ListResourcesForWebACL. AWS gives a
  resource one web ACL ("You can associate each AWS resource with only one web ACL":
  https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-associating-aws-resource.html; a
  new association replaces the old one, as users report, e.g.
  https://github.com/pulumi/pulumi-aws/issues/4782), refuses to delete a web ACL still associated
  (WAFAssociatedItemException, https://docs.aws.amazon.com/waf/latest/APIReference/API_DeleteWebACL.html),
  and logs only into a log group of the web ACL's account and region whose name starts with
  `aws-waf-logs-` (https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html).
  Here the same, with the errors AWS documents for those calls (which one AWS answers for a
  missing load balancer or a wrong destination it does not say: WAFNonexistentItemException
  and WAFInvalidParameterException here); a deleted load balancer leaves its web ACL.
- KMS and what encrypts with it: moto 5.2.5 takes any key policy, ignores a rotation period, and
  lets CloudWatch Logs, ECR and RDS name any text as their key. AWS refuses a key policy that would
  not let the caller change it again (MalformedPolicyDocumentException, the lockout check of
  https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html), keeps the rotation
  period (90 to 2560 days, 365 by default) and reports it (API_EnableKeyRotation.html,
  API_GetKeyRotationStatus.html), rotates only enabled keys (KMSInvalidStateException); CloudWatch
  Logs takes a key only if it is enabled (InvalidParameterException) and its policy lets
  `logs.REGION.amazonaws.com` use it for that log group (AccessDeniedException,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html), and has
  AssociateKmsKey and DisassociateKmsKey (not in moto); ECR (KmsException) and RDS
  (KMSKeyNotAccessibleFault) take only an enabled key. RDS reports Performance Insights (not in
  moto) and the key of its data (`aws/rds` unless one is named), which never changes once set
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Enabling.html). Here
  the same. Key policies are not evaluated for who calls (moto enforces no IAM): the live suite
  shows they let each service work.

AWS behaviours (scripts/emulator_aws.py, installed here): PLATFORM_EMULATOR_AWS='{...}' (JSON), or
`POST /_platform/aws` with a JSON object while running (`GET /_platform/aws` shows the settings),
makes the emulator behave as AWS does where moto is lenient. Absent, nothing changes. Settings:
- "consistency": true — EC2 and IAM are eventually consistent: the first mutating call naming a
  VPC, subnet, security group, route table, internet gateway, NAT gateway, address allocation,
  network ACL or IAM role created within the consistency window answers the NotFound error of its
  kind (InvalidVpcID.NotFound, NoSuchEntity…), and the first describe call that would list it
  leaves it out (or answers NotFound when it names it by id); once per resource. Requests signed
  with the access key id `observer` are exempt.
- "lifecycles": true — RDS instances go creating → backing-up → available; modifications show in
  PendingModifiedValues, then `modifying`, then `storage-optimization` after storage changes; those
  not applied immediately wait for the maintenance window; deletions report `deleting`. NAT
  gateways go pending → available and deleting → deleted, load balancers provisioning → active. ECS
  deployments go IN_PROGRESS → COMPLETED (or FAILED by the circuit breaker, with rollback), deleted
  services DRAINING → INACTIVE; a name ACTIVE or DRAINING cannot be created again; clusters with
  services or tasks cannot be deleted.
- "network_interfaces": true — ECS tasks and load balancers have network interfaces that outlive
  them for a while; security groups, subnets and internet gateways they (or NAT gateways) use
  cannot be deleted or detached meanwhile; tasks are registered in their Cloud Map service, which
  cannot be deleted while it has instances.
- "minute": seconds per AWS minute (default 0.1); "durations": {name: AWS minutes} overrides;
  "failing_images": images whose ECS tasks fail to start; "impaired_zones": zones reported
  `impaired`; "zones": the only zones of the region; POST {"maintenance": true}: the maintenance
  window happens now.
The durations, the errors and the AWS documentation each follows are in emulator_aws.py.

Benchmarks only: PLATFORM_EMULATOR_LATENCY_MS=N delays every request by N milliseconds before it
is answered (requests are served on threads, so delays overlap as a real region's would).
"""

import fnmatch
import json
import os
import time
import sys
import threading
from urllib.parse import urlparse

from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.rds.exceptions import DBParameterGroupNotFoundError
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.rds.responses import RDSResponse
from moto.server import main
from moto.iam.models import IAMBackend
from moto.acm.models import CertBundle
from moto.route53.exceptions import ResourceRecordAlreadyExists
from moto.route53.models import Route53Backend
from moto.route53.responses import Route53 as Route53Response
from moto.elbv2.models import ELBv2Backend
from moto.servicediscovery.models import ServiceDiscoveryBackend
from moto.wafv2.models import WAFV2Backend
from moto.wafv2.responses import WAFV2Response
from moto.elbv2.exceptions import DuplicateLoadBalancerName as ELBv2DuplicateLoadBalancerName
from moto.elbv2.exceptions import InvalidConfigurationRequest as ELBv2ConfigurationError
from moto.iam.exceptions import LimitExceededException
from moto.iam.exceptions import MalformedPolicyDocument as IAMMalformedPolicyDocument
from moto.iam.exceptions import NotFoundException as IAMNotFoundException

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator_aws  # noqa: E402  (next to this script)

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def get_bucket_versioning(self):
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VersioningConfiguration xmlns="{S3_NAMESPACE}">{inner}</VersioningConfiguration>'
    )
    return 200, {"Content-Type": "application/xml"}, body


S3Response.get_bucket_versioning = get_bucket_versioning

# The request being answered on this thread: whether it came over TLS.
_request = threading.local()
_setup_class = S3Response.setup_class


def setup_class(self, request, full_url=None, headers=None):
    url = request.raw_url if full_url is None else full_url
    _request.secure = urlparse(url).scheme == "https"
    return _setup_class(self, request, full_url, headers)


def secure_transport_holds(statement):
    """False when the statement's `Bool` condition on aws:SecureTransport does not match the
    request, so the statement does not apply; True otherwise."""
    condition = statement.get("Condition") or {}
    expected = (condition.get("Bool") or {}).get("aws:SecureTransport")
    if expected is None:
        return True
    values = expected if isinstance(expected, list) else [expected]
    actual = "true" if getattr(_request, "secure", False) else "false"
    return actual in [str(v).lower() for v in values]


def get_permission(self, action, resource):
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements if secure_transport_holds(s)]
    for statement in document["Statement"]:
        # The condition is settled here; moto would treat the unknown operator as "always".
        bool_conditions = (statement.get("Condition") or {}).get("Bool") or {}
        bool_conditions.pop("aws:SecureTransport", None)
        if not bool_conditions:
            (statement.get("Condition") or {}).pop("Bool", None)
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


def reset_db_parameter_group(self):
    name = self.params.get("DBParameterGroupName")
    groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
    if not groups:
        raise DBParameterGroupNotFoundError(name)
    group = groups[0]
    if str(self.params.get("ResetAllParameters", "")).lower() == "true":
        group.parameters.clear()
    else:
        for parameter in self.params.get("Parameters", []):
            group.parameters.pop(parameter.original_dict()["ParameterName"], None)
    return ActionResult({"DBParameterGroupName": name})


RDSResponse.reset_db_parameter_group = reset_db_parameter_group

_create_subnet = SubnetBackend.create_subnet


def create_subnet(
    self, vpc_id, cidr_block, ipv6_cidr_block=None, availability_zone=None, availability_zone_id=None, **kwargs
):
    if availability_zone is None and availability_zone_id:
        for zones in RegionsAndZonesBackend.zones.values():
            for zone in zones:
                if zone.zone_id == availability_zone_id and zone.region_name == self.region_name:
                    availability_zone = zone.name
    return _create_subnet(
        self,
        vpc_id,
        cidr_block,
        ipv6_cidr_block,
        availability_zone=availability_zone,
        availability_zone_id=None if availability_zone else availability_zone_id,
        **kwargs,
    )


SubnetBackend.create_subnet = create_subnet

_create_role = IAMBackend.create_role
_put_role_permissions_boundary = IAMBackend.put_role_permissions_boundary


def boundary_exists(backend, arn):
    # AWS managed policies (account `aws`) are moto's own; customer ones must exist.
    if not arn or ":iam::aws:policy/" in arn:
        return
    if arn not in backend.managed_policies:
        raise IAMNotFoundException(f"Scope ARN: {arn} does not exist or is not attachable.")


def federated_principals_exist(backend, document):
    try:
        statements = json.loads(document).get("Statement", [])
    except (TypeError, ValueError, AttributeError):
        return
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        federated = principal.get("Federated", []) if isinstance(principal, dict) else []
        for arn in [federated] if isinstance(federated, str) else federated:
            if ":oidc-provider/" in arn and arn not in backend.open_id_providers:
                raise IAMMalformedPolicyDocument(f'Invalid principal in policy: "Federated":"{arn}"')


_update_assume_role_policy = IAMBackend.update_assume_role_policy


def update_assume_role_policy(self, role_name, policy_document):
    federated_principals_exist(self, policy_document)
    return _update_assume_role_policy(self, role_name, policy_document)


IAMBackend.update_assume_role_policy = update_assume_role_policy


def create_role(self, role_name, assume_role_policy_document, path, permissions_boundary, *args, **kwargs):
    boundary_exists(self, permissions_boundary)
    federated_principals_exist(self, assume_role_policy_document)
    return _create_role(self, role_name, assume_role_policy_document, path, permissions_boundary, *args, **kwargs)


def put_role_permissions_boundary(self, role_name, permissions_boundary):
    boundary_exists(self, permissions_boundary)
    return _put_role_permissions_boundary(self, role_name, permissions_boundary)


def policy_size(document):
    text = document if isinstance(document, str) else json.dumps(document)
    return sum(1 for c in text if not c.isspace())


_put_role_policy = IAMBackend.put_role_policy
_create_policy = IAMBackend.create_policy
_create_policy_version = IAMBackend.create_policy_version
_attach_role_policy = IAMBackend.attach_role_policy


def put_role_policy(self, role_name, policy_name, policy_json):
    role = self.get_role(role_name)
    others = sum(policy_size(d) for name, d in role.policies.items() if name != policy_name)
    if others + policy_size(policy_json) > 10240:
        raise LimitExceededException(f"Maximum policy size of 10240 bytes exceeded for role {role_name}")
    return _put_role_policy(self, role_name, policy_name, policy_json)


def create_policy(self, description, path, policy_document, policy_name, tags):
    if policy_size(policy_document) > 6144:
        raise LimitExceededException("Cannot exceed quota for PolicySize: 6144")
    return _create_policy(self, description, path, policy_document, policy_name, tags)


def create_policy_version(self, policy_arn, policy_document, set_as_default):
    if policy_size(policy_document) > 6144:
        raise LimitExceededException("Cannot exceed quota for PolicySize: 6144")
    return _create_policy_version(self, policy_arn, policy_document, set_as_default)


def attach_role_policy(self, policy_arn, role_name):
    role = self.get_role(role_name)
    if policy_arn not in role.managed_policies and len(role.managed_policies) >= 10:
        raise LimitExceededException("Cannot exceed quota for PoliciesPerRole: 10")
    return _attach_role_policy(self, policy_arn, role_name)


_create_load_balancer = ELBv2Backend.create_load_balancer


def create_load_balancer(self, name, *args, **kwargs):
    for existing in self.load_balancers.values():
        if existing.name == name:
            scheme = kwargs.get("scheme", args[3] if len(args) > 3 else "internet-facing")
            if getattr(existing, "scheme", scheme) != scheme:
                raise ELBv2DuplicateLoadBalancerName()
            return existing
    return _create_load_balancer(self, name, *args, **kwargs)


class RepeatedRequest(JsonRESTError):
    """A Cloud Map error whose body carries the members AWS documents for it."""

    def __init__(self, code, message, **members):
        super().__init__(code, message)
        self.description = json.dumps({"__type": code, "Message": message, **members})


def created_namespace(backend, creator_request_id):
    """The creation operation of the namespace made by the request `creator_request_id`, if any
    (or the error the "repeated_requests" setting asks for)."""
    if not creator_request_id:
        return None
    for namespace in backend.namespaces.values():
        if namespace.creator_request_id == creator_request_id:
            operation_id = next(
                (
                    operation.id
                    for operation in backend.operations.values()
                    if operation.operation_type == "CREATE_NAMESPACE"
                    and operation.targets.get("NAMESPACE") == namespace.id
                ),
                None,
            ) or backend._create_operation("CREATE_NAMESPACE", targets={"NAMESPACE": namespace.id})
            repeated = emulator_aws.SETTINGS.get("repeated_requests")
            if repeated == "already_exists":
                raise RepeatedRequest(
                    "NamespaceAlreadyExists",
                    f"Namespace already exists: {namespace.id}",
                    CreatorRequestId=creator_request_id,
                    NamespaceId=namespace.id,
                )
            if repeated == "in_progress":
                raise RepeatedRequest(
                    "DuplicateRequest",
                    "The operation is already in progress.",
                    DuplicateOperationId=operation_id,
                )
            return operation_id
    return None


def namespace_create(original):
    def create(self, name, creator_request_id, *args, **kwargs):
        return created_namespace(self, creator_request_id) or original(
            self, name, creator_request_id, *args, **kwargs
        )

    return create


_create_service = ServiceDiscoveryBackend.create_service


def create_service(self, name, namespace_id, creator_request_id, *args, **kwargs):
    if creator_request_id:
        for service in self.services.values():
            if service.creator_request_id == creator_request_id:
                if emulator_aws.SETTINGS.get("repeated_requests") == "already_exists":
                    raise RepeatedRequest(
                        "ServiceAlreadyExists",
                        f"Service already exists: {service.id}",
                        CreatorRequestId=creator_request_id,
                        ServiceId=service.id,
                    )
                return service
    return _create_service(self, name, namespace_id, creator_request_id, *args, **kwargs)


_change_resource_record_sets = Route53Backend.change_resource_record_sets


def change_resource_record_sets(self, zoneid, change_list):
    """CREATE of a name and type the zone already has is refused, whatever its values."""
    zone = self.get_hosted_zone(zoneid)
    norm = lambda name: str(name).rstrip(".").lower()  # noqa: E731
    for change in change_list:
        wanted = change["ResourceRecordSet"]
        if change["Action"] != "CREATE":
            continue
        for existing in zone.rrsets:
            same = (
                norm(existing.name) == norm(wanted["Name"])
                and existing.type == wanted["Type"]
                and existing.set_identifier == wanted.get("SetIdentifier")
            )
            if same:
                raise ResourceRecordAlreadyExists(name=norm(wanted["Name"]) + ".", _type=wanted["Type"])
    return _change_resource_record_sets(self, zoneid, change_list)


_create_hosted_zone = Route53Response.create_hosted_zone


def create_hosted_zone(self):
    """A zone created with a VPC is private ("VPC (Private hosted zones only)",
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html); moto makes it
    public unless HostedZoneConfig.PrivateZone is sent too."""
    if self._get_param("VPC.VPCId") and self._get_param("HostedZoneConfig.PrivateZone") is None:
        get_bool = self._get_bool_param
        self._get_bool_param = lambda name, if_none=None: (
            True if name == "HostedZoneConfig.PrivateZone" else get_bool(name, if_none)
        )
    return _create_hosted_zone(self)


_certificate_check = CertBundle.check


def certificate_check(self):
    """Expiry as moto has it; issue as emulator_aws.certificate_check has it."""
    status = self.status
    _certificate_check(self)
    if self.status == "ISSUED" and status == "PENDING_VALIDATION":
        self.status = status
    if self.status == "PENDING_VALIDATION":
        with emulator_aws.LOCK:
            emulator_aws.certificate_check(self)


ELBv2Backend.create_load_balancer = create_load_balancer


# --- Access logs written into buckets ----------------------------------------------------------
# The account Elastic Load Balancing writes access logs from, in the regions available before
# August 2022; newer regions use the service principal
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
ELB_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}


def _listed(value):
    return value if isinstance(value, list) else [value]


def bucket_policy_allows_put(bucket, principals, key, source_account):
    """Whether `bucket`'s policy lets one of `principals` ({"AWS": [...]} or {"Service": [...]})
    put `key` in a delivery made over TLS for `source_account`: an Allow statement naming it,
    s3:PutObject and a resource matching the object, whose conditions hold, and no Deny that
    applies. Conditions other than aws:SourceAccount, aws:SourceArn and aws:SecureTransport do
    not hold."""
    import fnmatch

    if bucket.policy is None:
        return False
    document = json.loads(bucket.policy.decode())
    arn = f"arn:{bucket.partition}:s3:::{bucket.name}/{key}"
    allowed = False
    for statement in _listed(document.get("Statement", [])):
        principal = statement.get("Principal")
        if principal == "*" or principal == {"AWS": "*"}:
            named = True
        elif isinstance(principal, dict):
            named = any(p in _listed(principal.get(kind, [])) for kind, ps in principals.items() for p in ps)
        else:
            named = False
        actions = _listed(statement.get("Action", []))
        resources = _listed(statement.get("Resource", []))
        if not (
            named
            and any(a in ("s3:PutObject", "s3:*", "*") for a in actions)
            and any(fnmatch.fnmatchcase(arn, r) for r in resources)
        ):
            continue
        holds = True
        for operator, pairs in (statement.get("Condition") or {}).items():
            for condition, values in pairs.items():
                values = [str(v) for v in _listed(values)]
                if operator == "StringEquals" and condition == "aws:SourceAccount":
                    holds = holds and source_account in values
                elif operator == "Bool" and condition == "aws:SecureTransport":
                    holds = holds and "true" in [v.lower() for v in values]
                elif operator in ("ArnLike", "StringLike", "ArnEquals", "StringEquals") and condition == "aws:SourceArn":
                    # The source is one of the account's buckets or load balancers; a pattern
                    # naming them holds (AWS's example narrows S3 logging to a source bucket).
                    holds = holds and any(v.startswith(f"arn:{bucket.partition}:") for v in values)
                else:
                    holds = False
        if not holds:
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def log_permissions_enabled_policy(target_bucket, target_prefix):
    """S3 PutBucketLogging (see the module's corrections): whether the target's policy lets
    `logging.s3.amazonaws.com` deliver an object under the prefix for this account's bucket."""
    key = f"{target_prefix or ''}2026-01-01-00-00-00-0123456789ABCDEF"
    return bucket_policy_allows_put(
        target_bucket, {"Service": ["logging.s3.amazonaws.com"]}, key, target_bucket.account_id
    )


FakeBucket._log_permissions_enabled_policy = staticmethod(log_permissions_enabled_policy)

_modify_load_balancer_attributes = ELBv2Backend.modify_load_balancer_attributes


def modify_load_balancer_attributes(self, arn, attrs):
    """ELBv2 access logs (see the module's corrections): Elastic Load Balancing writes a test
    object (`PREFIX/AWSLogs/ACCOUNT/ELBAccessLogTestFile`) first and answers
    InvalidConfigurationRequest "Access Denied for bucket" when the bucket is missing, in another
    region, or its policy does not let the region's Elastic Load Balancing account put it."""
    from moto.s3.models import s3_backends

    balancer = self.load_balancers.get(arn)
    merged = {**(balancer.attrs if balancer is not None else {}), **attrs}
    if balancer is not None and str(merged.get("access_logs.s3.enabled", "false")).lower() == "true":
        name = merged.get("access_logs.s3.bucket") or ""
        prefix = merged.get("access_logs.s3.prefix") or ""
        if "AWSLogs" in prefix:
            raise ELBv2ConfigurationError("ValidationError", "The prefix can't include the string 'AWSLogs'")
        bucket = s3_backends[self.account_id][self.partition].buckets.get(name)
        key = f"{prefix + '/' if prefix else ''}AWSLogs/{self.account_id}/ELBAccessLogTestFile"
        elb = ELB_ACCOUNTS.get(self.region_name)
        principals = (
            {"AWS": [f"arn:aws:iam::{elb}:root", elb]}
            if elb
            else {"Service": ["logdelivery.elasticloadbalancing.amazonaws.com"]}
        )
        if (
            bucket is None
            or bucket.region_name != self.region_name
            or not bucket_policy_allows_put(bucket, principals, key, self.account_id)
        ):
            raise ELBv2ConfigurationError(
                f"Access Denied for bucket: {name}. Please check S3bucket permission"
            )
    return _modify_load_balancer_attributes(self, arn, attrs)


ELBv2Backend.modify_load_balancer_attributes = modify_load_balancer_attributes


# --- AWS WAF -----------------------------------------------------------------------------------
class WafError(JsonRESTError):
    code = 400

    def __init__(self, error_type, message):
        super().__init__(error_type, message)


def _waf_nonexistent():
    return WafError(
        "WAFNonexistentItemException", "AWS WAF couldn’t perform the operation because your resource doesn’t exist."
    )


def _load_balancer_exists(account_id, region, arn):
    from moto.elbv2.models import elbv2_backends

    return arn in elbv2_backends[account_id][region].load_balancers


def waf_associate_web_acl(self, web_acl_arn, resource_arn):
    """AWS WAF AssociateWebACL (see the module's corrections)."""
    web_acl = self.wacls.get(web_acl_arn)
    is_load_balancer = ":elasticloadbalancing:" in resource_arn
    if web_acl is None or (
        is_load_balancer and not _load_balancer_exists(self.account_id, self.region_name, resource_arn)
    ):
        raise _waf_nonexistent()
    for other in self.wacls.values():
        if resource_arn in other.associated_resources:
            other.associated_resources.remove(resource_arn)
    web_acl.associated_resources.append(resource_arn)


def waf_get_web_acl_for_resource(self, resource_arn):
    """A load balancer deleted since its association has no web ACL any more ("If there is no
    associated resource, WAF returns a null web ACL":
    https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACLForResource.html)."""
    if ":elasticloadbalancing:" in resource_arn and not _load_balancer_exists(
        self.account_id, self.region_name, resource_arn
    ):
        for web_acl in self.wacls.values():
            if resource_arn in web_acl.associated_resources:
                web_acl.associated_resources.remove(resource_arn)
        return None
    return _waf_get_web_acl_for_resource(self, resource_arn)


def waf_delete_web_acl(self, name, scope, _id, lock_token):
    """AWS WAF DeleteWebACL: refused while the web ACL is associated with a resource that exists."""
    for web_acl in self.wacls.values():
        if web_acl.name == name and web_acl.id == _id:
            live = [
                r
                for r in web_acl.associated_resources
                if ":elasticloadbalancing:" not in r or _load_balancer_exists(self.account_id, self.region_name, r)
            ]
            web_acl.associated_resources[:] = live
            if live:
                raise WafError(
                    "WAFAssociatedItemException",
                    "AWS WAF couldn’t perform the operation because your resource is being used by another "
                    "resource or it’s associated with another resource.",
                )
    arn = next((arn for arn, w in self.wacls.items() if w.name == name and w.id == _id), None)
    _waf_delete_web_acl(self, name, scope, _id, lock_token)
    # Its logging goes with it.
    self.logging_configurations.pop(arn, None)


def waf_put_logging_configuration(self, arn, log_destination_configs, *args, **kwargs):
    """AWS WAF PutLoggingConfiguration: the web ACL exists, and its one destination is a log
    group of this account and region named `aws-waf-logs-…`."""
    from moto.logs.models import logs_backends

    if arn not in self.wacls:
        raise _waf_nonexistent()
    if len(log_destination_configs) != 1:
        raise WafError("WAFInvalidParameterException", "Error reason: exactly one log destination, field: LOG_DESTINATION")
    destination = log_destination_configs[0]
    parts = destination.split(":")
    prefix = f"arn:{self.partition}:logs:{self.region_name}:{self.account_id}:log-group:"
    name = destination[len(prefix):] if destination.startswith(prefix) else None
    if name is None or ":" in name or not name.startswith("aws-waf-logs-") or len(parts) < 7:
        raise WafError(
            "WAFInvalidParameterException",
            "Error reason: The ARN isn't valid. A valid ARN begins with arn: and includes other information "
            "separated by colons or slashes., field: LOG_DESTINATION, parameter: " + destination,
        )
    if name not in logs_backends[self.account_id][self.region_name].groups:
        raise _waf_nonexistent()
    return _waf_put_logging_configuration(self, arn, log_destination_configs, *args, **kwargs)


def waf_list_resources_for_web_acl(self):
    """AWS WAF ListResourcesForWebACL (not in moto 5.2.5): the resources of a type (load balancers
    by default) a web ACL is in front of
    (https://docs.aws.amazon.com/waf/latest/APIReference/API_ListResourcesForWebACL.html)."""
    body = json.loads(self.body)
    web_acl = self.wafv2_backend.wacls.get(body.get("WebACLArn"))
    if web_acl is None:
        raise _waf_nonexistent()
    wanted = body.get("ResourceType", "APPLICATION_LOAD_BALANCER")
    kind = {"APPLICATION_LOAD_BALANCER": ":elasticloadbalancing:"}.get(wanted, f":{wanted.lower()}:")
    arns = [r for r in web_acl.associated_resources if kind in r]
    return 200, {"Content-Type": "application/json"}, json.dumps({"ResourceArns": arns})



# --- KMS, and the services that encrypt with it -------------------------------------------------
from moto.kms.models import KmsBackend, kms_backends  # noqa: E402
from moto.kms.responses import KmsResponse  # noqa: E402
from moto.logs.models import LogsBackend  # noqa: E402
from moto.logs.responses import LogsResponse  # noqa: E402
from moto.ecr.models import ECRBackend  # noqa: E402


class AwsError(JsonRESTError):
    code = 400

    def __init__(self, error_type, message):
        super().__init__(error_type, message)


def _kms_key(account_id, region, key_id):
    """The KMS key `key_id` (id, ARN, alias or alias ARN) of the account and region, or None."""
    backend = kms_backends[account_id][region]
    try:
        return backend.keys.get(backend.any_id_to_key_id(key_id))
    except Exception:  # an alias that names no key
        return None


def _allows(statement, principal_matches, action, conditions_hold=lambda c: True):
    if statement.get("Effect") != "Allow":
        return False
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action", []))):
        return False
    principal = statement.get("Principal", {})
    if principal != "*" and not principal_matches(principal):
        return False
    return conditions_hold(statement.get("Condition", {}))


def _policy_statements(policy):
    try:
        return _listed(json.loads(policy or "{}").get("Statement", []))
    except ValueError:
        return []


def _root_may_put_policy(policy, account_id, partition):
    """AWS's lockout check: the new policy must let the caller change it again (here: through
    the account, whose IAM policies then decide)."""
    root = f"arn:{partition}:iam::{account_id}:root"

    def names_account(principal):
        names = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
        return root in names or account_id in names

    return any(
        isinstance(s, dict) and _allows(s, names_account, "kms:PutKeyPolicy") and "Condition" not in s
        for s in _policy_statements(policy)
    )


def _lockout():
    return AwsError(
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )


_kms_create_key = KmsBackend.create_key
_kms_put_key_policy = KmsBackend.put_key_policy


def kms_create_key(self, policy, *args, **kwargs):
    """KMS CreateKey: a key policy that would lock the account out is refused
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html, BypassPolicyLockoutSafetyCheck)."""
    if policy and not _root_may_put_policy(policy, self.account_id, self.partition):
        raise _lockout()
    key = _kms_create_key(self, policy, *args, **kwargs)
    key.rotation_period_in_days = None
    return key


def kms_put_key_policy(self, key_id, policy):
    if not _root_may_put_policy(policy, self.account_id, self.partition):
        raise _lockout()
    return _kms_put_key_policy(self, key_id, policy)


def _kms_invalid_state(key):
    return AwsError("KMSInvalidStateException", f"{key.arn} is {key.key_state}")


def kms_enable_key_rotation_response(self):
    """KMS EnableKeyRotation with RotationPeriodInDays (90 to 2560, 365 by default), on an
    enabled key only (https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html);
    moto 5.2.5 ignores the period."""
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    period = self._get_param("RotationPeriodInDays")
    if period is not None and not 90 <= int(period) <= 2560:
        raise AwsError("ValidationException", "RotationPeriodInDays must be between 90 and 2560")
    key = self.kms_backend.keys[self.kms_backend.any_id_to_key_id(key_id)]
    if key.key_state == "Disabled":
        raise AwsError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise _kms_invalid_state(key)
    key.key_rotation_status = True
    key.rotation_period_in_days = int(period) if period is not None else 365
    return json.dumps(None)


def kms_get_key_rotation_status_response(self):
    """KMS GetKeyRotationStatus, with the period while rotation is on."""
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key = self.kms_backend.keys[self.kms_backend.any_id_to_key_id(key_id)]
    # "Pending deletion: While a KMS key is pending deletion, its key rotation status is false"
    # (API_GetKeyRotationStatus.html); cancelling the deletion leaves rotation as it was.
    rotating = bool(key.key_rotation_status) and key.key_state != "PendingDeletion"
    out = {"KeyRotationEnabled": rotating, "KeyId": key.arn}
    if rotating:
        out["RotationPeriodInDays"] = getattr(key, "rotation_period_in_days", None) or 365
    return json.dumps(out)


def _usable_key(account_id, region, key_id, error):
    key = _kms_key(account_id, region, key_id)
    if key is None or key.key_state != "Enabled":
        raise error(f"The KMS key {key_id} does not exist or is not enabled")
    return key


def _logs_may_use(key, account_id, region, partition, group_arn):
    """Whether `key`'s policy lets CloudWatch Logs of the region use it for the log group
    `group_arn`: its service principal, the operations it needs and, when the statement has one,
    the encryption-context condition naming the group
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    service = f"logs.{region}.amazonaws.com"

    def conditions_hold(conditions):
        for operator, pairs in conditions.items():
            for condition_key, values in pairs.items():
                if condition_key != "kms:EncryptionContext:aws:logs:arn":
                    continue
                if operator in ("ArnLike", "StringLike"):
                    if not any(fnmatch.fnmatchcase(group_arn, v) for v in _listed(values)):
                        return False
                elif operator in ("ArnEquals", "StringEquals"):
                    if group_arn not in _listed(values):
                        return False
        return True

    return all(
        any(_allows(s, lambda p: service in _listed(p.get("Service", [])), action, conditions_hold) for s in _policy_statements(key.policy))
        for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")
    )


def _check_log_group_key(backend, name, key_id):
    def missing(message):
        return AwsError("InvalidParameterException", message)

    key = _usable_key(backend.account_id, backend.region_name, key_id, missing)
    group_arn = f"arn:{backend.partition}:logs:{backend.region_name}:{backend.account_id}:log-group:{name}"
    if not _logs_may_use(key, backend.account_id, backend.region_name, backend.partition, group_arn):
        raise AwsError(
            "AccessDeniedException",
            f"The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'",
        )
    return key


_logs_create_log_group = LogsBackend.create_log_group


def logs_create_log_group(self, log_group_name, tags, **kwargs):
    """CloudWatch Logs CreateLogGroup with kmsKeyId: the key exists, is enabled, and its policy
    lets CloudWatch Logs use it for this group (moto 5.2.5 stores any text)."""
    key_id = kwargs.get("kmsKeyId")
    if key_id:
        key = _check_log_group_key(self, log_group_name, key_id)
        kwargs["kmsKeyId"] = key.arn
    return _logs_create_log_group(self, log_group_name, tags, **kwargs)


def logs_associate_kms_key_response(self):
    """CloudWatch Logs AssociateKmsKey (not in moto 5.2.5), with CreateLogGroup's checks
    (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_AssociateKmsKey.html)."""
    from moto.logs.exceptions import ResourceNotFoundException

    name = self._get_param("logGroupName")
    group = self.logs_backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException()
    key = _check_log_group_key(self.logs_backend, name, self._get_param("kmsKeyId"))
    group.kms_key_id = key.arn
    return ""


def logs_disassociate_kms_key_response(self):
    """CloudWatch Logs DisassociateKmsKey (not in moto 5.2.5)."""
    from moto.logs.exceptions import ResourceNotFoundException

    group = self.logs_backend.groups.get(self._get_param("logGroupName"))
    if group is None:
        raise ResourceNotFoundException()
    group.kms_key_id = None
    return ""


_ecr_create_repository = ECRBackend.create_repository


def ecr_create_repository(self, repository_name, registry_id, encryption_config, *args, **kwargs):
    """ECR CreateRepository with a KMS key: the key exists and is enabled (ECR creates its grants
    on it: https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html); moto
    5.2.5 takes any text."""
    if encryption_config and encryption_config.get("encryptionType") == "KMS" and encryption_config.get("kmsKey"):
        def refused(message):
            return AwsError("KmsException", message)

        key = _usable_key(self.account_id, self.region_name, encryption_config["kmsKey"], refused)
        encryption_config = dict(encryption_config, kmsKey=key.arn)
    return _ecr_create_repository(self, repository_name, registry_id, encryption_config, *args, **kwargs)



from moto.rds.models import DBInstance, RDSBackend  # noqa: E402


def _rds_key(instance_or_backend, key_id):
    """The ARN of the KMS key `key_id` an RDS request names: it exists and is enabled
    (KMSKeyNotAccessibleFault otherwise, as RDS answers:
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)."""
    from moto.rds.exceptions import KMSKeyNotAccessibleFault

    backend = instance_or_backend
    return _usable_key(backend.account_id, backend.region_name, key_id, lambda _: KMSKeyNotAccessibleFault(key_id)).arn


def _aws_rds_key(backend):
    """The AWS managed key `aws/rds` (made on first use), whose ARN RDS reports for what it
    encrypts without a key of the account's."""
    kms = kms_backends[backend.account_id][backend.region_name]
    return kms.keys[kms.get_key_id_from_alias("alias/aws/rds")].arn


_rds_instance_init = DBInstance.__init__


def rds_instance_init(self, backend, **kwargs):
    """Performance Insights (not in moto 5.2.5): on or off, and the key of its data, reported by
    DescribeDBInstances; the storage and Performance Insights keys exist and are enabled."""
    if kwargs.get("kms_key_id"):
        kwargs["kms_key_id"] = _rds_key(backend, kwargs["kms_key_id"])
    _rds_instance_init(self, backend, **kwargs)
    self.performance_insights_enabled = bool(kwargs.get("enable_performance_insights"))
    self.performance_insights_kms_key_id = None
    if self.performance_insights_enabled:
        key = kwargs.get("performance_insights_kms_key_id")
        self.performance_insights_kms_key_id = _rds_key(backend, key) if key else _aws_rds_key(backend)


_rds_modify_db_instance = RDSBackend.modify_db_instance


def rds_modify_db_instance(self, db_instance_identifier, db_kwargs):
    """Performance Insights turned on or off; its key is set when it is first turned on and
    never changes after: "After the KMS key is set, you can't change it"
    (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Enabling.html)."""
    database = self.databases.get(db_instance_identifier)
    enable = db_kwargs.pop("enable_performance_insights", None)
    key = db_kwargs.pop("performance_insights_kms_key_id", None)
    if database is not None and key:
        arn = _rds_key(self, key)
        if database.performance_insights_kms_key_id and database.performance_insights_kms_key_id != arn:
            from moto.rds.exceptions import InvalidParameterCombination

            raise InvalidParameterCombination("You can't change the KMS key of Performance Insights once it is set")
    result = _rds_modify_db_instance(self, db_instance_identifier, db_kwargs)
    if database is not None and enable is not None:
        database.performance_insights_enabled = bool(enable)
        if enable and not database.performance_insights_kms_key_id:
            database.performance_insights_kms_key_id = _rds_key(self, key) if key else _aws_rds_key(self)
    return result


DBInstance.__init__ = rds_instance_init
RDSBackend.modify_db_instance = rds_modify_db_instance

def _by_any_id(original):
    """A KMS backend method taking a key id that also takes the key's ARN or an alias, as AWS's
    DisableKey, EnableKey, ScheduleKeyDeletion and CancelKeyDeletion do (moto 5.2.5: the bare id)."""

    def call(self, key_id, *args, **kwargs):
        return original(self, self.any_id_to_key_id(key_id), *args, **kwargs)

    return call


for _method in ("disable_key", "enable_key", "schedule_key_deletion", "cancel_key_deletion"):
    setattr(KmsBackend, _method, _by_any_id(getattr(KmsBackend, _method)))
KmsBackend.create_key = kms_create_key
KmsBackend.put_key_policy = kms_put_key_policy
KmsResponse.enable_key_rotation = kms_enable_key_rotation_response
KmsResponse.get_key_rotation_status = kms_get_key_rotation_status_response
LogsBackend.create_log_group = logs_create_log_group
LogsResponse.associate_kms_key = logs_associate_kms_key_response
LogsResponse.disassociate_kms_key = logs_disassociate_kms_key_response
ECRBackend.create_repository = ecr_create_repository

WAFV2Response.list_resources_for_web_acl = waf_list_resources_for_web_acl
_waf_get_web_acl_for_resource = WAFV2Backend.get_web_acl_for_resource
_waf_delete_web_acl = WAFV2Backend.delete_web_acl
_waf_put_logging_configuration = WAFV2Backend.put_logging_configuration
WAFV2Backend.associate_web_acl = waf_associate_web_acl
WAFV2Backend.get_web_acl_for_resource = waf_get_web_acl_for_resource
WAFV2Backend.delete_web_acl = waf_delete_web_acl
WAFV2Backend.put_logging_configuration = waf_put_logging_configuration
CertBundle.check = certificate_check
Route53Backend.change_resource_record_sets = change_resource_record_sets
Route53Response.create_hosted_zone = create_hosted_zone
for _action in ("create_private_dns_namespace", "create_http_namespace", "create_public_dns_namespace"):
    setattr(
        ServiceDiscoveryBackend,
        _action,
        namespace_create(getattr(ServiceDiscoveryBackend, _action)),
    )
ServiceDiscoveryBackend.create_service = create_service
IAMBackend.put_role_policy = put_role_policy
IAMBackend.create_policy = create_policy
IAMBackend.create_policy_version = create_policy_version
IAMBackend.attach_role_policy = attach_role_policy
IAMBackend.create_role = create_role
IAMBackend.put_role_permissions_boundary = put_role_permissions_boundary
S3Response.setup_class = setup_class
FakeBucket.get_permission = get_permission
emulator_aws.install()

_latency = float(os.environ.get("PLATFORM_EMULATOR_LATENCY_MS", "0")) / 1000.0
if _latency > 0:
    _dispatch = DomainDispatcherApplication.__call__

    def delayed(self, environ, start_response):
        time.sleep(_latency)
        return _dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = delayed

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
