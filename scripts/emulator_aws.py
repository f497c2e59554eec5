"""AWS behaviours the emulator (moto 5.2.5) does not have, switchable per test.

moto answers every call as if the cloud were instantly consistent, every resource were ready the
moment it is created and nothing were left behind when a resource is deleted. AWS is none of
that. This module patches moto so that, when asked, it answers as AWS does, following the AWS
documentation page cited at each behaviour. Everything is deterministic: states are derived from
monotonic timestamps of the calls that caused them (create, modify, delete) when a request is
answered, so the order of the states a client sees is always the same; nothing runs in the
background.

Settings
--------
Read as JSON from the environment variable PLATFORM_EMULATOR_AWS when the emulator starts, and
changed while it runs with `POST /_platform/aws` (a JSON object merged into the settings; the
answer is the whole settings as JSON); `GET /_platform/aws` returns them. With the variable absent
and nothing posted, the emulator is moto as it is (lenient).

    consistency         EC2 and IAM are eventually consistent: the first mutating call naming a
                        resource created less than the consistency window ago answers the NotFound
                        error of its kind, and the first describe call that would list it leaves
                        it out (or answers NotFound when it names it by id). Once per resource.
                        KMS likewise: the first CreateAlias naming a new key (NotFoundException),
                        and the first log group naming it (AccessDeniedException, once per key).
                        AWS WAF likewise: the first AssociateWebACL (WAFUnavailableEntityException)
                        or PutLoggingConfiguration (WAFNonexistentItemException) naming a web ACL
                        created within the window. Requests signed with the access key id
                        `observer` are exempt.
    lifecycles          RDS instances, NAT gateways, load balancers and ECS services and
                        deployments go through the states AWS reports, each for its duration;
                        deleted RDS instances and ECS services stay visible while `deleting` /
                        `DRAINING`; ECS refuses what AWS refuses in those states.
    network_interfaces  ECS tasks (awsvpc) and load balancers have network interfaces in moto's
                        EC2 backend, which outlive their owner for the linger duration; security
                        groups, subnets and internet gateways they (or NAT gateways) depend on
                        cannot be deleted or detached meanwhile; tasks are registered in the
                        service's Cloud Map service.
    minute              emulator seconds per minute of AWS time (default 0.1): every duration is
                        given in AWS minutes and scaled by this.
    durations           overrides of DURATIONS below, in AWS minutes, by name.
    failing_images      container images whose ECS tasks fail to start (exact match), evaluated
                        when a deployment starts.
    impaired_zones      zone names DescribeAvailabilityZones reports as `impaired`.
    zones               null, or the only zone names the region has (DescribeAvailabilityZones,
                        CreateSubnet).
    maintenance         POST {"maintenance": true} makes the maintenance window happen now: RDS
                        modifications deferred to it start as if applied immediately. It resets
                        to false.
    repeated_requests   how a Cloud Map create sent again with its CreatorRequestId is answered
                        (scripts/emulator-server.py): "answer" (default; what the first one
                        made), "already_exists" (NamespaceAlreadyExists / ServiceAlreadyExists
                        naming the CreatorRequestId and the id) or "in_progress" (namespaces:
                        DuplicateRequest naming the operation): each is an answer AWS documents.

Resources created while a behaviour is off are not tracked by it (moto answers for them as usual).
Changing `minute` or `durations` while running rescales every state retroactively.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from typing import Any, Callable

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, BaseResponse, PaginatedResult
from moto.core.utils import camelcase_to_underscores, utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidAvailabilityZoneError
from moto.ec2.utils import random_public_ip
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.elbv2.models import FakeLoadBalancer
from moto.iam.exceptions import NoSuchEntity
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.rds.exceptions import DBInstanceAlreadyExists, RDSClientError
from moto.rds.models import DBInstance as _RdsDBInstance
from moto.utilities.utils import filter_resources

# ---------------------------------------------------------------------------------------------
# Durations, in AWS minutes (scaled by the `minute` setting). Overridable by name in `durations`.
# ---------------------------------------------------------------------------------------------
DURATIONS = {
    # RDS CreateDBInstance: `creating`, then `backing-up` (the first automated backup), then
    # `available`.
    "rds_creating": 6,
    "rds_backing_up": 3,
    # RDS ModifyDBInstance applied (immediately or at the maintenance window): `modifying`.
    "rds_modifying": 5,
    # After a storage change is applied: `storage-optimization` (usable, storage frozen).
    "rds_storage_optimization": 60,
    # RDS DeleteDBInstance: `deleting`, then gone.
    "rds_deleting": 4,
    # NAT gateways: `pending` after CreateNatGateway, `deleting` after DeleteNatGateway.
    "nat_pending": 2,
    "nat_deleting": 1,
    # Load balancers: `provisioning` after CreateLoadBalancer.
    "lb_provisioning": 3,
    # ACM: a new certificate names its validation record after "a delay of several seconds";
    # once the record is in the domain's zone it is issued after this long (AWS gives no figure:
    # usually minutes); a certificate stays in use this long after the last listener serving it
    # is gone (AWS gives no figure).
    "acm_record": 0.1,
    "acm_validation": 2,
    "acm_release": 1,
    # ECS: a deployment is IN_PROGRESS this long, then COMPLETED, or FAILED by the circuit
    # breaker when its tasks fail to start.
    "ecs_deployment": 3,
    # ECS: the rollback deployment the circuit breaker starts is IN_PROGRESS this long.
    "ecs_rollback": 2,
    # ECS DeleteService: `DRAINING` this long, then `INACTIVE`.
    "ecs_draining": 2,
    # Network interfaces of stopped tasks and deleted load balancers stay this long.
    "eni_linger": 3,
    # EC2 and IAM eventual consistency: how long after a create the resource may not be found.
    "consistency": 0.5,
}

# Which switch each duration belongs to: with the switch off, the duration is zero.
_SWITCH_OF = {name: "lifecycles" for name in DURATIONS}
_SWITCH_OF["eni_linger"] = "network_interfaces"
_SWITCH_OF["consistency"] = "consistency"

DEFAULT_SETTINGS: dict[str, Any] = {
    "consistency": False,
    "lifecycles": False,
    "network_interfaces": False,
    "minute": 0.1,
    "durations": {},
    "failing_images": [],
    "impaired_zones": [],
    "zones": None,
    "maintenance": False,
    # How a Cloud Map create sent again with its CreatorRequestId is answered (emulator-server.py):
    # "answer" (what the first made), "already_exists" or "in_progress" (the errors AWS documents).
    "repeated_requests": "answer",
}

SETTINGS: dict[str, Any] = copy.deepcopy(DEFAULT_SETTINGS)

# Every request is answered under this lock while any behaviour is on: moto's models are not
# thread-safe, and the states derived from time must not change in the middle of an answer.
LOCK = threading.RLock()

# Display times: monotonic instants shown as wall-clock times, from one anchor.
_MONO0 = time.monotonic()
_WALL0 = utcnow()


def wall(instant: float) -> datetime.datetime:
    return _WALL0 + datetime.timedelta(seconds=instant - _MONO0)


def on(switch: str) -> bool:
    return bool(SETTINGS.get(switch))


def active() -> bool:
    return (
        on("consistency")
        or on("lifecycles")
        or on("network_interfaces")
        or bool(SETTINGS.get("impaired_zones"))
        or SETTINGS.get("zones") is not None
    )


def seconds(name: str) -> float:
    """The duration `name` in emulator seconds; zero when its behaviour is off."""
    if not on(_SWITCH_OF[name]):
        return 0.0
    minutes = SETTINGS.get("durations", {}).get(name, DURATIONS[name])
    return float(minutes) * float(SETTINGS.get("minute", 0.1))


class SettingsError(ValueError):
    pass


def configure(update: dict[str, Any]) -> dict[str, Any]:
    """Merges `update` into the settings (validating it) and returns them."""
    if not isinstance(update, dict):
        raise SettingsError("the settings are a JSON object")
    for key, value in update.items():
        if key not in DEFAULT_SETTINGS:
            raise SettingsError(f"unknown setting {key!r}")
        if key in ("consistency", "lifecycles", "network_interfaces", "maintenance"):
            if not isinstance(value, bool):
                raise SettingsError(f"{key} is true or false")
        elif key == "minute":
            if not isinstance(value, (int, float)) or value < 0:
                raise SettingsError("minute is a number of seconds, at least 0")
        elif key == "durations":
            if not isinstance(value, dict) or any(
                k not in DURATIONS or not isinstance(v, (int, float)) or v < 0
                for k, v in value.items()
            ):
                raise SettingsError(
                    f"durations maps names among {sorted(DURATIONS)} to minutes"
                )
        elif key in ("failing_images", "impaired_zones"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{key} is a list of strings")
        elif key == "repeated_requests":
            if value not in ("answer", "already_exists", "in_progress"):
                raise SettingsError("repeated_requests is answer, already_exists or in_progress")
        elif key == "zones":
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                raise SettingsError("zones is null or a list of zone names")
    with LOCK:
        now = time.monotonic()
        advance(now)
        for key, value in update.items():
            if key == "durations":
                SETTINGS["durations"] = {**SETTINGS.get("durations", {}), **value}
            elif key == "maintenance":
                if value:
                    maintenance_window(now)
                SETTINGS["maintenance"] = False
            else:
                SETTINGS[key] = copy.deepcopy(value)
        return copy.deepcopy(SETTINGS)


def reset_state() -> None:
    """Forgets every tracked resource (moto's own reset empties the models they lived in)."""
    with LOCK:
        FRESH.clear()
        FRESH_ROLES.clear()
        FRESH_WEB_ACLS.clear()
        FRESH_ASSUMABLE.clear()
        RDS.clear()
        NATS.clear()
        LBS.clear()
        ECS.clear()
        LINGER.clear()
        MANAGED.clear()
        CERTIFICATES.clear()


# ---------------------------------------------------------------------------------------------
# The request being answered, and the hooks around moto's actions.
# ---------------------------------------------------------------------------------------------
class Call:
    """One request: its service, action, parameters and caller, and when it arrived."""

    def __init__(self, response: BaseResponse):
        self.response = response
        self.service: str = response.service_name or ""
        self.action: str = response._get_action() or ""
        self.now = time.monotonic()
        authorization = response.headers.get("Authorization", "") or ""
        # Tests look at the cloud from outside with this identity (never refused by consistency).
        self.observer = "Credential=observer/" in authorization
        self.account: str = response.current_account
        self.region: str = response.region
        self.cleanups: list[Callable[[], None]] = []
        self.data: dict[str, Any] = {}
        self._params: dict[str, Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The request's parameters: flat `Key.N` names for query protocols, the JSON body's
        top level for JSON protocols."""
        if self._params is None:
            body = self.response.body
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            params: dict[str, Any] = {}
            if isinstance(body, str) and body.lstrip().startswith("{"):
                try:
                    params = json.loads(body)
                except ValueError:
                    params = {}
            if not params:
                for key, value in (self.response.querystring or {}).items():
                    params[key] = value[0] if isinstance(value, list) and value else value
            self._params = params
        return self._params


# (service, action) -> functions run before moto's action: they may raise an AWS error, or
# return a result to answer instead of moto.
BEFORE: dict[tuple[str, str], list[Callable[[Call], Any]]] = defaultdict(list)
# (service, action) -> functions run on moto's result (before it is serialized).
AFTER: dict[tuple[str, str], list[Callable[[Call, Any], Any]]] = defaultdict(list)
# (service, action) -> functions run on the serialized answer (status, body).
ANSWERED: dict[tuple[str, str], list[Callable[[Call, int, Any], None]]] = defaultdict(list)
# service -> functions run before every action of the service.
GUARDS: dict[str, list[Callable[[Call], Any]]] = defaultdict(list)


def before(service: str, *actions: str):
    def register(fn):
        for action in actions:
            BEFORE[(service, action)].append(fn)
        return fn

    return register


def after(service: str, *actions: str):
    def register(fn):
        for action in actions:
            AFTER[(service, action)].append(fn)
        return fn

    return register


def answered(service: str, *actions: str):
    def register(fn):
        for action in actions:
            ANSWERED[(service, action)].append(fn)
        return fn

    return register


def guard(service: str):
    def register(fn):
        GUARDS[service].append(fn)
        return fn

    return register


_call_action = BaseResponse.call_action


def call_action(self: BaseResponse):
    if not active():
        return _call_action(self)
    with LOCK:
        call = Call(self)
        advance(call.now)
        key = (call.service, call.action)
        name = camelcase_to_underscores(call.action) if call.action else ""
        guards = GUARDS.get(call.service, [])
        befores = BEFORE.get(key, [])
        afters = AFTER.get(key, [])
        original = getattr(self, name, None) if name else None
        if original is not None and (guards or befores or afters):

            def wrapped():
                for check in guards:
                    check(call)
                for hook in befores:
                    answer = hook(call)
                    if answer is not None:
                        return answer
                result = original()
                for hook in afters:
                    result = hook(call, result)
                return result

            setattr(self, name, wrapped)
        try:
            status, headers, body = _call_action(self)
        finally:
            for cleanup in reversed(call.cleanups):
                cleanup()
        for hook in ANSWERED.get(key, []):
            hook(call, status, body)
        return status, headers, body


def results(result: Any, key: str) -> list[Any]:
    """The list `key` of an ActionResult's dictionary (mutable in place)."""
    value = getattr(result, "result", None)
    if isinstance(value, dict):
        items = value.get(key)
        if isinstance(items, list):
            return items
    return []


def advance(now: float) -> None:
    """Brings every tracked resource to the state it has at `now`, transitions in time order
    per resource (a transition happens at the instant it was due, not when it is noticed)."""
    for record in list(RDS.values()):
        record.advance(now)
    for record in list(NATS.values()):
        record.advance(now)
    for record in list(LBS.values()):
        record.advance(now)
    for record in list(ECS.values()):
        record.advance(now)
    expire_network_interfaces(now)


# ---------------------------------------------------------------------------------------------
# 1. Eventual consistency.
# https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
# Error codes: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
# IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
# ---------------------------------------------------------------------------------------------
# Id prefix -> (error code, message) AWS answers when it cannot find the resource yet.
NOT_FOUND = {
    "vpc": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "rtb": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "igw": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "nat": ("NatGatewayNotFound", "The Nat Gateway {} was not found"),
    "eipalloc": ("InvalidAllocationID.NotFound", "The allocation ID '{}' does not exist"),
    "acl": ("InvalidNetworkAclID.NotFound", "The networkAcl ID '{}' does not exist"),
}
# EC2 create action -> the id prefix of what it creates.
CREATES = {
    "CreateVpc": "vpc",
    "CreateSubnet": "subnet",
    "CreateSecurityGroup": "sg",
    "CreateRouteTable": "rtb",
    "CreateInternetGateway": "igw",
    "CreateNatGateway": "nat",
    "AllocateAddress": "eipalloc",
    "CreateNetworkAcl": "acl",
}
# EC2 describe action -> (id prefix, id parameter, result list).
DESCRIBES = {
    "DescribeVpcs": ("vpc", "VpcId", "Vpcs"),
    "DescribeSubnets": ("subnet", "SubnetId", "Subnets"),
    "DescribeSecurityGroups": ("sg", "GroupId", "SecurityGroups"),
    "DescribeRouteTables": ("rtb", "RouteTableId", "RouteTables"),
    "DescribeInternetGateways": ("igw", "InternetGatewayId", "InternetGateways"),
    "DescribeNatGateways": ("nat", "NatGatewayId", "NatGateways"),
    "DescribeAddresses": ("eipalloc", "AllocationId", "Addresses"),
    "DescribeNetworkAcls": ("acl", "NetworkAclId", "NetworkAcls"),
}

# Resource id -> when its create answered (monotonic). Removed once it has been not found once.
FRESH: dict[str, float] = {}
# (account, role name) -> when CreateRole answered.
FRESH_ASSUMABLE: dict[tuple[str, str], float] = {}
FRESH_ROLES: dict[tuple[str, str], float] = {}


def _still_fresh(created: float | None, now: float) -> bool:
    return created is not None and now - created < seconds("consistency")


def _take_fresh(call: Call, resource_id: Any) -> bool:
    """Whether `resource_id` is not visible yet to this caller; consumes it if so."""
    if call.observer or not on("consistency") or not isinstance(resource_id, str):
        return False
    if not _still_fresh(FRESH.get(resource_id), call.now):
        return False
    del FRESH[resource_id]
    return True


def _not_found(resource_id: str) -> EC2ClientError:
    code, message = NOT_FOUND[resource_id.split("-")[0]]
    return EC2ClientError(code, message.format(resource_id))


for _action, _prefix in CREATES.items():

    def _record_created(call: Call, status: int, body: Any, prefix: str = _prefix) -> None:
        if not on("consistency") or status != 200:
            return
        text = body.decode() if isinstance(body, bytes) else str(body)
        match = re.search(rf"\b{prefix}-[0-9a-f]+\b", text)
        if match:
            FRESH[match.group(0)] = time.monotonic()

    answered("ec2", _action)(_record_created)


@guard("ec2")
def _ec2_mutation_not_found_yet(call: Call) -> None:
    """A mutating call naming a resource created within the window: NotFound, once."""
    if not on("consistency") or call.action.startswith(("Describe", "Get", "List")):
        return
    for key in sorted(call.params):
        # Parameters naming resources (VpcId, ResourceId.1, IpPermissions.1.Groups.1.GroupId…),
        # not tag values or descriptions that happen to hold an id.
        name = [part for part in key.split(".") if not part.isdigit()][-1:]
        if not name or not name[0].endswith(("Id", "Ids")):
            continue
        value = call.params[key]
        if _take_fresh(call, value):
            raise _not_found(value)


def _describe_names_fresh(call: Call) -> None:
    """A describe call naming a fresh resource by id: NotFound, once."""
    if not on("consistency"):
        return
    _, id_param, _ = DESCRIBES[call.action]
    pattern = re.compile(rf"^{id_param}\.\d+$")
    for key in sorted(call.params):
        if pattern.match(key) and _take_fresh(call, call.params[key]):
            raise _not_found(call.params[key])


def _describe_omits_fresh(call: Call, result: Any) -> Any:
    """A describe call whose answer would list a fresh resource: it is left out, once."""
    if not on("consistency"):
        return result
    _, _, list_key = DESCRIBES[call.action]
    items = results(result, list_key)
    for item in list(items):
        resource_id = getattr(item, "allocation_id", None) or getattr(item, "id", None)
        if _take_fresh(call, resource_id):
            items.remove(item)
    return result


for _action in DESCRIBES:
    before("ec2", _action)(_describe_names_fresh)
    after("ec2", _action)(_describe_omits_fresh)


@answered("iam", "CreateRole")
def _record_role(call: Call, status: int, body: Any) -> None:
    if on("consistency") and status == 200 and call.params.get("RoleName"):
        FRESH_ROLES[(call.account, call.params["RoleName"])] = time.monotonic()
        FRESH_ASSUMABLE[(call.account, call.params["RoleName"])] = time.monotonic()


@before("ec2", "CreateFlowLogs")
def _flow_log_role_not_assumable_yet(call: Call) -> None:
    """A flow log naming a role created within the window: EC2 cannot assume it yet, once
    (https://github.com/hashicorp/terraform-provider-aws/issues/29323)."""
    arn = str(call.params.get("DeliverLogsPermissionArn", ""))
    key = (call.account, arn.split("/")[-1])
    if on("consistency") and not call.observer and _still_fresh(FRESH_ASSUMABLE.get(key), call.now):
        del FRESH_ASSUMABLE[key]
        raise EC2ClientError("InvalidParameter", f"Unable to assume given IAM role: {arn}")


# Web ACL ARN -> when CreateWebACL answered.
FRESH_WEB_ACLS: dict[str, float] = {}


class WafUnavailable(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__(
            "WAFUnavailableEntityException",
            "AWS WAF couldn’t retrieve a resource that you specified for this operation. If you've just "
            "created a resource that you're using in this operation, you might just need to wait a few "
            "minutes. It can take from a few seconds to a number of minutes for changes to propagate. "
            "Verify the resource specifications in your request parameters and then retry the operation.",
        )


@answered("wafv2", "CreateWebACL")
def _record_web_acl(call: Call, status: int, body: Any) -> None:
    if on("consistency") and status == 200:
        try:
            arn = json.loads(body)["Summary"]["ARN"]
        except (ValueError, KeyError, TypeError):
            return
        FRESH_WEB_ACLS[arn] = time.monotonic()


@before("wafv2", "AssociateWebACL", "PutLoggingConfiguration")
def _web_acl_unavailable_yet(call: Call) -> None:
    """A web ACL created within the window is not known yet to the calls that use it, once:
    AssociateWebACL answers WAFUnavailableEntityException
    (https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html),
    PutLoggingConfiguration, whose documented errors do not include it, WAFNonexistentItemException
    (https://docs.aws.amazon.com/waf/latest/APIReference/API_PutLoggingConfiguration.html)."""
    association = call.action == "AssociateWebACL"
    arn = call.params.get("WebACLArn") if association else (call.params.get("LoggingConfiguration") or {}).get("ResourceArn")
    if on("consistency") and not call.observer and _still_fresh(FRESH_WEB_ACLS.get(arn), call.now):
        del FRESH_WEB_ACLS[arn]
        if association:
            raise WafUnavailable()
        raise JsonRESTError(
            "WAFNonexistentItemException", "AWS WAF couldn’t perform the operation because your resource doesn’t exist."
        )


# KMS key id or ARN -> when CreateKey answered: not known yet to an alias, and to CloudWatch Logs.
FRESH_KEYS_FOR_ALIASES: dict[str, float] = {}
FRESH_KEYS_FOR_LOGS: dict[str, float] = {}


@answered("kms", "CreateKey")
def _record_key(call: Call, status: int, body: Any) -> None:
    if on("consistency") and status == 200:
        try:
            metadata = json.loads(body)["KeyMetadata"]
        except (ValueError, KeyError, TypeError):
            return
        for fresh in (FRESH_KEYS_FOR_ALIASES, FRESH_KEYS_FOR_LOGS):
            fresh[metadata["KeyId"]] = fresh[metadata["Arn"]] = time.monotonic()


def _fresh_key(fresh: dict[str, float], call: Call, key: Any) -> bool:
    """Whether `key` names a KMS key created within the window (then forgotten: once per key)."""
    if not on("consistency") or call.observer or not isinstance(key, str) or not _still_fresh(fresh.get(key), call.now):
        return False
    created = fresh[key]
    for name in [n for n, at in fresh.items() if at == created]:
        del fresh[name]
    return True


@before("kms", "CreateAlias")
def _key_not_found_yet(call: Call) -> None:
    """KMS is eventually consistent: "changes to AWS KMS resources might not be immediately
    visible", answered NotFoundException meanwhile
    (https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html):
    the first alias naming a key created within the window, once."""
    if _fresh_key(FRESH_KEYS_FOR_ALIASES, call, call.params.get("TargetKeyId")):
        raise JsonRESTError("NotFoundException", f"Key '{call.params.get('TargetKeyId')}' does not exist")


@before("logs", "CreateLogGroup", "AssociateKmsKey")
def _key_not_usable_by_logs_yet(call: Call) -> None:
    """The key a log group names, created within the window, is not known to CloudWatch Logs yet:
    the answer it gives a key it cannot use, once
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    if _fresh_key(FRESH_KEYS_FOR_LOGS, call, call.params.get("kmsKeyId")):
        raise JsonRESTError(
            "AccessDeniedException",
            f"The specified KMS key does not exist or is not allowed to be used with Arn "
            f"'arn:aws:logs:{call.region}:{call.account}:log-group:{call.params.get('logGroupName')}'",
        )


@guard("iam")
def _iam_role_not_found_yet(call: Call) -> None:
    """A mutating IAM call naming a role created within the window: NoSuchEntity, once."""
    if (
        not on("consistency")
        or call.observer
        or call.action.startswith(("Get", "List"))
        or call.action == "CreateRole"
    ):
        return
    role = call.params.get("RoleName")
    key = (call.account, role)
    if role and _still_fresh(FRESH_ROLES.get(key), call.now):
        del FRESH_ROLES[key]
        raise NoSuchEntity(f"The role with name {role} cannot be found.")


# ---------------------------------------------------------------------------------------------
# 2. Lifecycles.
# ---------------------------------------------------------------------------------------------

# --- RDS instances ---------------------------------------------------------------------------
# States: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html
# Modifications: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html
# Pending values: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PendingModifiedValues.html
# Storage: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.ModifyingExisting.html
# Deletion: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html

# The ModifyDBInstance parameters the API reference says are "applied during the next maintenance
# window unless ApplyImmediately" (moto attribute for each), in the order they are applied
# (storage type before throughput, which depends on it). Every other parameter (backup window,
# maintenance window, deletion protection, security groups, parameter group name, password,
# publicly accessible, port, log exports…) is applied at once regardless of ApplyImmediately.
DEFERRABLE = [
    ("StorageType", "storage_type"),
    ("AllocatedStorage", "allocated_storage"),
    ("Iops", "iops"),
    ("StorageThroughput", "storage_throughput"),
    ("DBInstanceClass", "db_instance_class"),
    ("EngineVersion", "engine_version"),
    ("MultiAZ", "multi_az"),
    ("DBSubnetGroupName", "db_subnet_group_name"),
    ("OptionGroupName", "option_group_name"),
    # Only from 0 to non-zero or back; non-zero to non-zero is applied at once.
    ("BackupRetentionPeriod", "backup_retention_period"),
]
STORAGE = {"StorageType", "AllocatedStorage", "Iops", "StorageThroughput"}
NOT_AVAILABLE = "Database instance is not in available state."
STORAGE_OPTIMIZING = (
    "You can't currently modify the storage of this DB instance because the previous storage "
    "change is being optimized."
)


def _rds_current(db: Any, attr: str) -> Any:
    if attr == "db_subnet_group_name":
        return getattr(db, "_db_subnet_group_name", None)
    return getattr(db, attr, None)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)


class RdsInstance:
    def __init__(self, backend: Any, identifier: str, created: float):
        self.backend = backend
        self.identifier = identifier
        self.created = created
        self.deferred: dict[str, Any] = {}  # waiting for the maintenance window
        self.changes: dict[str, Any] | None = None  # being applied (`modifying`)
        self.modify_started = 0.0
        self.lag = False  # the next describe still reads `available`
        self.optimized_until: float | None = None
        self.deleted: float | None = None
        self.ghost: Any = None  # the deleted instance, reported while `deleting`

    def model(self) -> Any:
        if self.deleted is not None:
            return self.ghost
        return self.backend.databases.get(self.identifier)

    def status(self, now: float) -> str | None:
        if self.deleted is not None:
            return "deleting" if now < self.deleted + seconds("rds_deleting") else None
        ready = self.created + seconds("rds_creating")
        if now < ready:
            return "creating"
        if now < ready + seconds("rds_backing_up"):
            return "backing-up"
        if self.changes is not None:
            return "modifying"
        if self.optimized_until is not None and now < self.optimized_until:
            return "storage-optimization"
        return "available"

    def pending(self) -> dict[str, Any]:
        return {**self.deferred, **(self.changes or {})}

    def start_modification(self, changes: dict[str, Any], now: float) -> None:
        self.changes = changes
        self.modify_started = now
        self.lag = True

    def advance(self, now: float) -> None:
        if self.changes is not None:
            end = self.modify_started + seconds("rds_modifying")
            if now >= end:
                db = self.model()
                if db is not None:
                    db.update(
                        **{a: self.changes[n] for n, a in DEFERRABLE if n in self.changes}
                    )
                if STORAGE & set(self.changes):
                    self.optimized_until = end + seconds("rds_storage_optimization")
                self.changes = None
                self.lag = False
        status = self.status(now)
        if status is None:
            RDS.pop(self.key(), None)
            return
        db = self.model()
        if db is not None:
            db.status = status
            db.pending_modified_values = self.pending()

    def key(self) -> tuple[str, str, str]:
        return (self.backend.account_id, self.backend.region_name, self.identifier)


RDS: dict[tuple[str, str, str], RdsInstance] = {}


def _rds_record(call: Call, identifier: Any) -> RdsInstance | None:
    if not isinstance(identifier, str):
        return None
    return RDS.get((call.account, call.region, identifier.lower()))


def maintenance_window(now: float) -> None:
    """The maintenance window is now: deferred modifications start as if applied immediately."""
    for record in list(RDS.values()):
        if (
            record.deferred
            and record.changes is None
            and record.status(now) in ("available", "storage-optimization")
        ):
            record.start_modification(record.deferred, now)
            record.deferred = {}
            record.advance(now)


@before("rds", "CreateDBInstance")
def _rds_create_while_deleting(call: Call) -> None:
    record = _rds_record(call, call.params.get("DBInstanceIdentifier"))
    if on("lifecycles") and record is not None and record.deleted is not None:
        raise DBInstanceAlreadyExists()


@after("rds", "CreateDBInstance")
def _rds_created(call: Call, result: Any) -> Any:
    if on("lifecycles"):
        db = result.result["DBInstance"]
        record = RdsInstance(call.response.backend, db.db_instance_identifier, call.now)
        RDS[record.key()] = record
        record.advance(call.now)
    return result


@before("rds", "ModifyDBInstance")
def _rds_modify(call: Call) -> None:
    record = _rds_record(call, call.params.get("DBInstanceIdentifier"))
    if not on("lifecycles") or record is None:
        return
    status = record.status(call.now)
    db = record.model()
    if status not in ("available", "storage-optimization") or db is None:
        raise RDSClientError("InvalidDBInstanceState", NOT_AVAILABLE)
    params = call.response.params
    requested: dict[str, Any] = {}
    for name, attr in DEFERRABLE:
        value = params.get(name)
        if value is None:
            continue
        current = _rds_current(db, attr)
        if name == "BackupRetentionPeriod" and (int(value) == 0) == (int(current or 0) == 0):
            continue  # non-zero to non-zero: applied at once
        if not _same(value, current):
            requested[name] = value
    if "AllocatedStorage" in requested:
        new, current = int(requested["AllocatedStorage"]), int(db.allocated_storage)
        if new < current:
            raise RDSClientError(
                "InvalidParameterCombination",
                f"Invalid storage size for engine name {db.engine} and storage type "
                f"{db.storage_type}: {new}",
            )
        # "Values that are not at least 10% greater than the existing value are rounded up so
        # that they are 10% greater than the current value."
        requested["AllocatedStorage"] = max(new, math.ceil(current * 1.1))
    if STORAGE & set(requested) and status == "storage-optimization":
        raise RDSClientError("InvalidParameterCombination", STORAGE_OPTIMIZING)
    for name in requested:
        del params[name]  # moto applies the rest at once
    call.data["rds_modify"] = (record, requested, bool(params.get("ApplyImmediately")))


@after("rds", "ModifyDBInstance")
def _rds_modified(call: Call, result: Any) -> Any:
    if "rds_modify" not in call.data:
        return result
    record, requested, immediately = call.data["rds_modify"]
    new_identifier = call.params.get("NewDBInstanceIdentifier")
    if new_identifier:
        RDS.pop(record.key(), None)
        record.identifier = new_identifier.lower()
        RDS[record.key()] = record
    if immediately and (requested or record.deferred):
        record.start_modification({**record.deferred, **requested}, call.now)
        record.deferred = {}
    else:
        record.deferred.update(requested)
    db = result.result["DBInstance"]
    db.pending_modified_values = record.pending()
    return result


@before("rds", "DescribeDBInstances")
def _rds_describe_deleting(call: Call) -> Any:
    record = _rds_record(call, call.params.get("DBInstanceIdentifier"))
    if on("lifecycles") and record is not None and record.deleted is not None:
        return PaginatedResult({"DBInstances": [record.ghost]})
    return None


@after("rds", "DescribeDBInstances")
def _rds_described(call: Call, result: Any) -> Any:
    if not on("lifecycles"):
        return result
    instances = results(result, "DBInstances")
    if not call.params.get("DBInstanceIdentifier"):
        filters = call.response.params.get("Filters") or []
        for record in list(RDS.values()):
            if record.deleted is None or record.key()[:2] != (call.account, call.region):
                continue
            matches = all(
                f.get("Name") == "db-instance-id"
                and (record.identifier in f.get("Values", []) or record.ghost.arn in f.get("Values", []))
                for f in filters
            )
            if matches and record.ghost not in instances:
                instances.append(record.ghost)
    for db in instances:
        record = RDS.get((call.account, call.region, db.db_instance_identifier))
        if record is not None and record.lag and record.changes is not None:
            # As AWS: the status may lag behind the modification the first time it is read.
            call.cleanups.append(lambda db=db, status=db.status: setattr(db, "status", status))
            db.status = "available"
            if not call.observer:
                record.lag = False
    return result


@before("rds", "DeleteDBInstance")
def _rds_delete(call: Call) -> None:
    if not on("lifecycles"):
        return
    params = call.response.params
    if not params.get("SkipFinalSnapshot") and not params.get("FinalDBSnapshotIdentifier"):
        # API_DeleteDBInstance: FinalDBSnapshotIdentifier "must be specified when
        # SkipFinalSnapshot is disabled" (moto takes no snapshot and deletes).
        raise RDSClientError(
            "InvalidParameterCombination",
            "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
        )
    record = _rds_record(call, call.params.get("DBInstanceIdentifier"))
    if record is None:
        return
    status = record.status(call.now)
    if status == "deleting":
        raise RDSClientError(
            "InvalidDBInstanceState", f"Instance {record.identifier} is already being deleted."
        )
    if status == "creating" and not call.response.params.get("SkipFinalSnapshot"):
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"Instance {record.identifier} is currently creating - a final snapshot cannot be taken.",
        )


@after("rds", "DeleteDBInstance")
def _rds_deleted(call: Call, result: Any) -> Any:
    record = _rds_record(call, call.params.get("DBInstanceIdentifier"))
    if on("lifecycles") and record is not None:
        # moto removed the instance (and took the final snapshot, deleted the automated backups
        # and the managed secret as asked); it is still reported as `deleting` meanwhile.
        record.deleted = call.now
        record.ghost = result.result["DBInstance"]
        record.changes = None
        record.deferred = {}
        record.advance(call.now)
    return result


def _rds_instances_using(backend: Any, attr: str, name: Any) -> list[str]:
    """The instances (deleting ones included) whose `attr` names `name`."""
    return [
        db.db_instance_identifier
        for db in list(backend.databases.values())
        + [r.ghost for r in RDS.values() if r.ghost is not None and r.backend is backend]
        if getattr(db, attr, None) == name
    ]


@before("rds", "DeleteDBSubnetGroup")
def _rds_subnet_group_in_use(call: Call) -> None:
    """https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSubnetGroup.html:
    InvalidDBSubnetGroupStateFault while an instance (deleting ones included) uses it."""
    if not on("lifecycles"):
        return
    name = call.params.get("DBSubnetGroupName")
    users = _rds_instances_using(call.response.backend, "_db_subnet_group_name", name)
    if users:
        raise RDSClientError(
            "InvalidDBSubnetGroupStateFault",
            f"Cannot delete the subnet group '{name}' because at least one database instance: "
            f"{users[0]} is still using it.",
        )


# --- NAT gateways ----------------------------------------------------------------------------
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_NatGateway.html
class NatGatewayRecord:
    def __init__(self, backend: Any, nat: Any, created: float):
        self.backend = backend
        self.nat = nat
        self.created = created
        self.deleted: float | None = None
        self.released = False

    def advance(self, now: float) -> None:
        if self.deleted is None:
            pending = now < self.created + seconds("nat_pending")
            self.nat.state = "pending" if pending else "available"
        elif now < self.deleted + seconds("nat_deleting"):
            self.nat.state = "deleting"
        else:
            self.nat.state = "deleted"
            self.release()
            NATS.pop(self.nat.id, None)

    def release(self) -> None:
        """A deleted NAT gateway's network interface (and the address mapped to it) goes."""
        if self.released or not on("network_interfaces"):
            return
        self.released = True
        eni = getattr(self.nat, "_eni", None)
        if eni is None:
            return
        for address in self.backend.addresses:
            if address.eni is eni:
                address.eni = None
                address.association_id = None
        eni.public_ip = None
        _delete_network_interface(self.backend, eni.id)


NATS: dict[str, NatGatewayRecord] = {}


@after("ec2", "CreateNatGateway")
def _nat_created(call: Call, result: Any) -> Any:
    if on("lifecycles") or on("network_interfaces"):
        nat = result.result["NatGateway"]
        if on("network_interfaces"):
            eni = nat._eni
            eni.description = f"Interface for NAT Gateway {nat.id}"
            eni.interface_type = "nat_gateway"
            eni.requester_managed = True
            eni.status = "in-use"
            MANAGED.add(eni.id)
        record = NatGatewayRecord(call.response.ec2_backend, nat, call.now)
        NATS[nat.id] = record
        record.advance(call.now)
    return result


@after("ec2", "DeleteNatGateway")
def _nat_deleted(call: Call, result: Any) -> Any:
    record = NATS.get(call.params.get("NatGatewayId", ""))
    if record is not None and record.deleted is None:
        record.deleted = call.now
        record.advance(call.now)
    return result


# --- Load balancers --------------------------------------------------------------------------
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerState.html
class LoadBalancerRecord:
    def __init__(self, backend: Any, lb: Any, created: float):
        self.backend = backend
        self.lb = lb
        self.created = created
        self.enis: dict[str, str] = {}  # subnet id -> network interface id

    def advance(self, now: float) -> None:
        provisioning = now < self.created + seconds("lb_provisioning")
        self.lb.state = "provisioning" if provisioning else "active"


LBS: dict[str, LoadBalancerRecord] = {}
_activate = FakeLoadBalancer.activate


def activate(self: FakeLoadBalancer) -> None:
    """moto turns a load balancer active the first time it is described; tracked ones follow
    their own clock."""
    if self.arn in LBS and on("lifecycles"):
        return
    _activate(self)


@after("elbv2", "CreateLoadBalancer")
def _lb_created(call: Call, result: Any) -> Any:
    if on("lifecycles") or on("network_interfaces"):
        lb = results(result, "LoadBalancers")[0]
        record = LoadBalancerRecord(call.response.elbv2_backend, lb, call.now)
        LBS[lb.arn] = record
        record.advance(call.now)
        if on("network_interfaces"):
            for subnet in lb.subnets:
                _lb_interface(record, subnet)
    return result


@after("elbv2", "DeleteLoadBalancer")
def _lb_deleted(call: Call, result: Any) -> Any:
    record = LBS.pop(call.params.get("LoadBalancerArn", ""), None)
    if record is not None:
        for eni_id in record.enis.values():
            retire_network_interface(record.backend.ec2_backend, eni_id, call.now)
    return result


@after("elbv2", "SetSecurityGroups")
def _lb_security_groups(call: Call, result: Any) -> Any:
    record = LBS.get(call.params.get("LoadBalancerArn", ""))
    if record is not None:
        ec2 = record.backend.ec2_backend
        for eni_id in record.enis.values():
            eni = ec2.enis.get(eni_id)
            if eni is not None:
                eni._group_set = _groups(ec2, record.lb.security_groups or [])
    return result


@after("elbv2", "SetSubnets")
def _lb_subnets(call: Call, result: Any) -> Any:
    record = LBS.get(call.params.get("LoadBalancerArn", ""))
    if record is not None and on("network_interfaces"):
        wanted = {subnet.id: subnet for subnet in record.lb.subnets}
        for subnet_id in list(record.enis):
            if subnet_id not in wanted:
                retire_network_interface(
                    record.backend.ec2_backend, record.enis.pop(subnet_id), call.now
                )
        for subnet_id, subnet in wanted.items():
            if subnet_id not in record.enis:
                _lb_interface(record, subnet)
    return result


# --- ECS services and deployments ------------------------------------------------------------
# Deployments: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html
# Circuit breaker: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
# Deletion: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html
# Creation: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
# Clusters: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteCluster.html
# Task networking: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking.html

# What AWS reports for the parts of deploymentConfiguration a request leaves out.
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


class EcsError(ECSException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


class EcsTask:
    def __init__(self, task_id: str):
        self.id = task_id
        self.eni_id: str | None = None
        self.registrations: list[str] = []  # Cloud Map service ids


class EcsDeployment:
    def __init__(self, task_definition: str, kind: str, started: float, desired: int):
        self.id = f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"
        self.task_definition = task_definition
        self.kind = kind  # "deploy" or "rollback"
        self.started = started
        self.updated = started
        self.duration = seconds("ecs_rollback" if kind == "rollback" else "ecs_deployment")
        self.desired = desired
        self.failing = False
        self.state = "IN_PROGRESS"
        self.reason = f"ECS deployment {self.id} in progress."
        self.tasks: list[EcsTask] = []
        self.network: Any = None
        self.launch_type: Any = None
        self.platform_version: Any = None

    def threshold(self) -> int:
        # The circuit breaker's failed task threshold: 0.5 x desired count, at least 3, at most 200
        # (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html).
        return min(200, max(3, math.ceil(self.desired * 0.5)))

    def counts(self, now: float) -> tuple[int, int, int]:
        """(running, pending, failed) at `now`."""
        if self.state == "COMPLETED":
            return self.desired, 0, 0
        if self.state == "FAILED":
            return 0, 0, self.threshold()
        progress = 1.0 if self.duration <= 0 else min(1.0, (now - self.started) / self.duration)
        if self.failing:
            return 0, self.desired, math.floor(self.threshold() * progress)
        running = min(self.desired, math.floor(self.desired * progress))
        return running, self.desired - running, 0

    def view(self, now: float, primary: bool) -> dict[str, Any]:
        running, pending, failed = self.counts(now)
        view = {
            "id": self.id,
            "status": "PRIMARY" if primary else "ACTIVE",
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": pending,
            "runningCount": running,
            "failedTasks": failed,
            "createdAt": wall(self.started),
            "updatedAt": wall(self.updated),
            "launchType": self.launch_type,
            "platformVersion": self.platform_version,
            "rolloutState": self.state,
            "rolloutStateReason": self.reason,
        }
        if self.network:
            view["networkConfiguration"] = self.network
        return view


class EcsService:
    def __init__(self, backend: Any, model: Any, params: dict[str, Any], now: float):
        self.backend = backend
        self.model = model
        self.cluster = model.cluster_name
        self.name = model.name
        self.client_token = params.get("clientToken")
        self.request = {k: v for k, v in params.items() if k != "clientToken"}
        self.network = params.get("networkConfiguration")
        self.load_balancers = params.get("loadBalancers") or []
        self.registries = params.get("serviceRegistries") or []
        self.configuration = _deployment_configuration(params.get("deploymentConfiguration"))
        self.deployments: list[EcsDeployment] = []  # newest (PRIMARY) first
        self.last_completed: EcsDeployment | None = None
        self.events: list[dict[str, Any]] = []
        self.deleted: float | None = None
        self.status = "ACTIVE"
        self.created = now

    def key(self) -> tuple[str, str, str, str]:
        return (self.backend.account_id, self.backend.region_name, self.cluster, self.name)

    def event(self, at: float, message: str) -> None:
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": wall(at), "message": message})

    def breaker(self) -> tuple[bool, bool]:
        breaker = self.configuration.get("deploymentCircuitBreaker") or {}
        return bool(breaker.get("enable")), bool(breaker.get("rollback"))

    def start(self, task_definition: str, kind: str, at: float) -> EcsDeployment:
        deployment = EcsDeployment(task_definition, kind, at, int(self.model.desired_count or 0))
        deployment.network = self.network
        deployment.launch_type = self.model.launch_type
        deployment.platform_version = self.model.platform_version
        images = set(SETTINGS.get("failing_images") or [])
        try:
            definition = self.backend.describe_task_definition(task_definition)
            deployment.failing = any(
                c.get("image") in images for c in definition.container_definitions or []
            )
        except Exception:
            definition = None
        for _ in range(deployment.desired):
            self.start_task(deployment, definition)
        self.deployments.insert(0, deployment)
        self.model.task_definition = task_definition
        return deployment

    def start_task(self, deployment: EcsDeployment, definition: Any) -> None:
        task = EcsTask(uuid.uuid4().hex)
        deployment.tasks.append(task)
        if not on("network_interfaces"):
            return
        awsvpc = (self.network or {}).get("awsvpcConfiguration") or {}
        subnets = awsvpc.get("subnets") or []
        if not subnets:
            return
        ec2 = _ec2_backend(self.backend.account_id, self.backend.region_name)
        # Spread over the service's subnets.
        subnet = ec2.get_subnet(subnets[(len(deployment.tasks) - 1) % len(subnets)])
        region, account = self.backend.region_name, self.backend.account_id
        eni = new_network_interface(
            ec2,
            subnet,
            awsvpc.get("securityGroups") or [],
            f"arn:aws:ecs:{region}:{account}:attachment/{uuid.uuid4()}",
            public=awsvpc.get("assignPublicIp") == "ENABLED",
        )
        task.eni_id = eni.id
        if deployment.failing:
            return  # its tasks never run: nothing to register
        discovery = _servicediscovery_backend(account, region)
        family = getattr(definition, "family", "")
        for registry in self.registries:
            service_id = str(registry.get("registryArn", "")).split("/")[-1]
            attributes = {
                "AWS_INSTANCE_IPV4": eni.private_ip_address,
                "AWS_INIT_HEALTH_STATUS": "HEALTHY",
                "AVAILABILITY_ZONE": subnet.availability_zone,
                "REGION": region,
                "ECS_CLUSTER_NAME": self.cluster,
                "ECS_SERVICE_NAME": self.name,
                "ECS_TASK_DEFINITION_FAMILY": family,
            }
            if registry.get("port"):
                attributes["AWS_INSTANCE_PORT"] = str(registry["port"])
            try:
                discovery.register_instance(service_id, task.id, uuid.uuid4().hex, attributes)
                task.registrations.append(service_id)
            except Exception:
                pass

    def stop_tasks(self, deployment: EcsDeployment, at: float, count: int | None = None) -> None:
        """Stops the deployment's tasks (the last `count` ones): deregistered from Cloud Map at
        once, their network interfaces left for the linger duration."""
        stopping = deployment.tasks if count is None else deployment.tasks[-count:]
        deployment.tasks = [t for t in deployment.tasks if t not in stopping]
        discovery = _servicediscovery_backend(self.backend.account_id, self.backend.region_name)
        ec2 = _ec2_backend(self.backend.account_id, self.backend.region_name)
        for task in stopping:
            for service_id in task.registrations:
                try:
                    discovery.deregister_instance(service_id, task.id)
                except Exception:
                    pass
            if task.eni_id:
                retire_network_interface(ec2, task.eni_id, at)

    def complete(self, deployment: EcsDeployment, at: float) -> None:
        deployment.state = "COMPLETED"
        deployment.reason = f"ECS deployment {deployment.id} completed."
        deployment.updated = at
        for other in self.deployments:
            if other is not deployment:
                self.stop_tasks(other, at)
        self.deployments = [deployment]
        self.last_completed = deployment
        self.event(at, f"(service {self.name}) has reached a steady state.")

    def fail(self, deployment: EcsDeployment, at: float) -> None:
        deployment.state = "FAILED"
        deployment.reason = "ECS deployment circuit breaker: task failed to start."
        deployment.updated = at
        self.event(
            at,
            f"(service {self.name}) (deployment {deployment.id}) deployment failed: "
            "tasks failed to start.",
        )
        _, rollback = self.breaker()
        target = self.last_completed
        if rollback and deployment.kind != "rollback" and target is not None:
            self.event(
                at,
                f"(service {self.name}) (deployment {deployment.id}) rolling back to "
                f"deployment {target.id}.",
            )
            self.start(target.task_definition, "rollback", at)

    def advance(self, now: float) -> None:
        while self.deleted is None and self.deployments:
            primary = self.deployments[0]
            end = primary.started + primary.duration
            if primary.state != "IN_PROGRESS" or now < end:
                break
            if not primary.failing:
                self.complete(primary, end)
            elif self.breaker()[0]:
                self.fail(primary, end)
            else:
                break  # without the circuit breaker, ECS keeps trying
        if self.deleted is not None and self.status == "DRAINING":
            inactive = self.deleted + seconds("ecs_draining")
            if now >= inactive:
                self.status = "INACTIVE"
                for deployment in self.deployments:
                    self.stop_tasks(deployment, inactive)
        self.write(now)

    def write(self, now: float) -> None:
        """Reports the state in moto's model."""
        model = self.model
        model.status = self.status
        views = [d.view(now, i == 0) for i, d in enumerate(self.deployments)]
        if self.status == "INACTIVE":
            views = []  # its tasks have stopped
        model.deployments = views
        model.running_count = sum(v["runningCount"] for v in views)
        model.pending_count = sum(v["pendingCount"] for v in views)
        model.events = self.events
        model.deployment_configuration = self.configuration
        if self.deployments:
            model.task_definition = self.deployments[0].task_definition


ECS: dict[tuple[str, str, str, str], EcsService] = {}


def _deployment_configuration(sent: Any) -> dict[str, Any]:
    configuration = copy.deepcopy(DEFAULT_DEPLOYMENT_CONFIGURATION)
    for key, value in (sent or {}).items():
        configuration[key] = copy.deepcopy(value)
    return configuration


def _ecs_key(call: Call, cluster: Any, service: Any) -> tuple[str, str, str, str]:
    return (
        call.account,
        call.region,
        str(cluster or "default").split("/")[-1],
        str(service or "").split("/")[-1],
    )


def _ecs_model(call: Call, cluster: Any, service: Any) -> Any:
    _, _, cluster_name, service_name = _ecs_key(call, cluster, service)
    return call.response.ecs_backend.services.get(f"{cluster_name}:{service_name}")


def _ecs_on() -> bool:
    return on("lifecycles") or on("network_interfaces")


@before("ecs", "CreateService")
def _ecs_create_not_idempotent(call: Call) -> Any:
    if not on("lifecycles"):
        return None
    params = call.params
    existing = _ecs_model(call, params.get("cluster"), params.get("serviceName"))
    if existing is None or existing.status not in ("ACTIVE", "DRAINING"):
        return None
    record = ECS.get(_ecs_key(call, params.get("cluster"), params.get("serviceName")))
    request = {k: v for k, v in params.items() if k != "clientToken"}
    if (
        existing.status == "ACTIVE"
        and record is not None
        and params.get("clientToken")
        and params.get("clientToken") == record.client_token
        and request == record.request
    ):
        return ActionResult({"service": existing})  # a retry of the same request
    raise InvalidParameterException("Creation of service was not idempotent.")


@after("ecs", "CreateService")
def _ecs_created(call: Call, result: Any) -> Any:
    if not _ecs_on():
        return result
    model = result.result["service"]
    record = EcsService(call.response.ecs_backend, model, call.params, call.now)
    ECS[record.key()] = record
    if model.task_definition:
        record.start(model.task_definition, "deploy", call.now)
    record.advance(call.now)
    return result


@before("ecs", "UpdateService", "DeleteService")
def _ecs_not_active(call: Call) -> None:
    if not on("lifecycles"):
        return
    model = _ecs_model(call, call.params.get("cluster"), call.params.get("service"))
    if model is not None and model.status != "ACTIVE":
        raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")


@after("ecs", "UpdateService")
def _ecs_updated(call: Call, result: Any) -> Any:
    model = result.result["service"]
    params = call.params
    backend = call.response.ecs_backend
    if params.get("taskDefinition") and _ecs_on():
        # moto keeps the string as sent ("family:3"); AWS reports the ARN.
        model.task_definition = backend.describe_task_definition(params["taskDefinition"]).arn
    record = ECS.get(_ecs_key(call, model.cluster_name, model.name))
    if record is None or not _ecs_on():
        return result
    primary = record.deployments[0] if record.deployments else None
    new_deployment = bool(params.get("forceNewDeployment"))
    if params.get("taskDefinition"):
        new_deployment |= primary is None or model.task_definition != primary.task_definition
    for key, attr in (
        ("networkConfiguration", "network"),
        ("loadBalancers", "load_balancers"),
        ("serviceRegistries", "registries"),
    ):
        if key in params and params[key] is not None:
            if params[key] != getattr(record, attr):
                new_deployment = True
                setattr(record, attr, params[key])
    if params.get("deploymentConfiguration") is not None:
        record.configuration = _deployment_configuration(params["deploymentConfiguration"])
    task_definition = model.task_definition or (primary.task_definition if primary else None)
    if new_deployment and task_definition:
        record.start(task_definition, "deploy", call.now)
    elif params.get("desiredCount") is not None and primary is not None:
        desired = int(params["desiredCount"])
        if desired > primary.desired:
            try:
                definition = backend.describe_task_definition(primary.task_definition)
            except Exception:
                definition = None
            for _ in range(desired - primary.desired):
                record.start_task(primary, definition)
        elif desired < primary.desired:
            record.stop_tasks(primary, call.now, primary.desired - desired)
        primary.desired = desired
    record.advance(call.now)
    return result


@after("ecs", "DeleteService")
def _ecs_deleted(call: Call, result: Any) -> Any:
    model = result.result["service"]
    record = ECS.get(_ecs_key(call, model.cluster_name, model.name))
    if record is None or not _ecs_on():
        return result
    record.deleted = call.now
    record.status = "DRAINING"
    model.desired_count = 0
    record.advance(call.now)
    return result


@after("ecs", "ListServices")
def _ecs_list_active(call: Call, result: Any) -> Any:
    """Services that are DRAINING or INACTIVE are no longer listed."""
    if on("lifecycles"):
        services = call.response.ecs_backend.services.values()
        inactive = {s.arn for s in services if s.status != "ACTIVE"}
        arns = results(result, "serviceArns")
        arns[:] = [arn for arn in arns if arn not in inactive]
    return result


@before("ecs", "DeleteCluster")
def _ecs_cluster_in_use(call: Call) -> None:
    if not on("lifecycles"):
        return
    cluster = str(call.params.get("cluster", "default")).split("/")[-1]
    backend = call.response.ecs_backend
    if any(
        s.cluster_name == cluster and s.status in ("ACTIVE", "DRAINING")
        for s in backend.services.values()
    ):
        raise EcsError(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        )
    service_tasks = any(
        d.tasks
        for r in ECS.values()
        if r.backend is backend and r.cluster == cluster
        for d in r.deployments
    )
    standalone = any(
        getattr(t, "last_status", "STOPPED") != "STOPPED"
        for t in backend.tasks.get(cluster, {}).values()
    )
    if service_tasks or standalone:
        raise EcsError(
            "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."
        )


# ---------------------------------------------------------------------------------------------
# 3. Network interfaces, and what depends on them.
# Security groups: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html
# Subnets: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSubnet.html
# Internet gateways: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachInternetGateway.html
# Cloud Map: https://docs.aws.amazon.com/cloud-map/latest/api/API_DeleteService.html
# ECS tasks: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking.html
# Target groups: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteTargetGroup.html
#   (moto already answers ResourceInUse while a listener or rule forwards to the group)
# ---------------------------------------------------------------------------------------------
# (when it goes, EC2 backend, network interface id), for interfaces whose owner is gone.
LINGER: list[tuple[float, Any, str]] = []
# The requester-managed interfaces this module created or manages (AWS services own them).
MANAGED: set[str] = set()


def _ec2_backend(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def _servicediscovery_backend(account: str, region: str) -> Any:
    from moto.servicediscovery.models import servicediscovery_backends

    return servicediscovery_backends[account][region]


def _groups(ec2: Any, group_ids: list[str]) -> list[Any]:
    groups = [ec2.get_security_group_from_id(g) for g in group_ids]
    return [g for g in groups if g is not None]


def new_network_interface(
    ec2: Any, subnet: Any, group_ids: list[str], description: str, public: bool
) -> Any:
    """A requester-managed interface in `subnet` (the VPC's default group without groups)."""
    eni = ec2.create_network_interface(
        subnet, None, group_ids=group_ids or None, description=description
    )
    eni.requester_managed = True
    eni.status = "in-use"
    eni.interface_type = "interface"
    MANAGED.add(eni.id)
    if public:
        eni.public_ip = random_public_ip()
    return eni


def _lb_interface(record: LoadBalancerRecord, subnet: Any) -> None:
    lb = record.lb
    ec2 = record.backend.ec2_backend
    eni = new_network_interface(
        ec2,
        subnet,
        lb.security_groups or [],
        "ELB " + lb.arn.split(":loadbalancer/")[-1],
        public=lb.scheme == "internet-facing",
    )
    eni.requester_id = "amazon-elb"
    if not lb.security_groups:
        eni._group_set = []  # network load balancers without groups
    record.enis[subnet.id] = eni.id


def retire_network_interface(ec2: Any, eni_id: str, at: float) -> None:
    """The interface's owner is gone at `at`: it stays for the linger duration."""
    LINGER.append((at + seconds("eni_linger"), ec2, eni_id))


def _delete_network_interface(ec2: Any, eni_id: str) -> None:
    MANAGED.discard(eni_id)
    eni = ec2.enis.pop(eni_id, None)
    if eni is None:
        return
    for address in eni.private_ip_addresses:
        try:
            eni.subnet.del_subnet_ip(address["PrivateIpAddress"])
        except Exception:
            pass


def expire_network_interfaces(now: float) -> None:
    for entry in sorted(LINGER, key=lambda e: e[0]):
        if entry[0] <= now:
            LINGER.remove(entry)
            _delete_network_interface(entry[1], entry[2])


def _live_nat_gateways(ec2: Any) -> list[Any]:
    return [n for n in ec2.nat_gateways.values() if n.state != "deleted"]


@before("ec2", "DeleteSecurityGroup")
def _security_group_in_use(call: Call) -> None:
    if not on("network_interfaces"):
        return
    ec2 = call.response.ec2_backend
    group_id = call.params.get("GroupId")
    if not group_id and call.params.get("GroupName"):
        group = ec2.get_security_group_by_name_or_id(call.params["GroupName"])
        group_id = group.id if group else None
    if not group_id:
        return
    for eni in list(ec2.enis.values()):
        if any(getattr(g, "id", None) == group_id for g in eni.group_set):
            raise EC2ClientError(
                "DependencyViolation", f"resource {group_id} has a dependent object"
            )


@before("ec2", "DeleteSubnet")
def _subnet_in_use(call: Call) -> None:
    if not on("network_interfaces"):
        return
    ec2 = call.response.ec2_backend
    subnet_id = call.params.get("SubnetId")
    if any(eni.subnet.id == subnet_id for eni in ec2.enis.values()) or any(
        n.subnet_id == subnet_id for n in _live_nat_gateways(ec2)
    ):
        raise EC2ClientError(
            "DependencyViolation",
            f"The subnet '{subnet_id}' has dependencies and cannot be deleted.",
        )


@before("ec2", "DetachInternetGateway")
def _public_addresses_mapped(call: Call) -> None:
    if not on("network_interfaces"):
        return
    ec2 = call.response.ec2_backend
    vpc_id = call.params.get("VpcId")
    if any(eni.public_ip and eni.subnet.vpc_id == vpc_id for eni in ec2.enis.values()) or any(
        n.vpc_id == vpc_id for n in _live_nat_gateways(ec2)
    ):
        raise EC2ClientError(
            "DependencyViolation",
            f"Network {vpc_id} has some mapped public address(es). Please unmap those public "
            "address(es) before detaching the gateway.",
        )


@before("ec2", "DeleteNetworkInterface")
def _managed_interface(call: Call) -> None:
    """https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteNetworkInterface.html:
    an interface must be detached before it is deleted; those AWS services attach (tasks, load
    balancers, NAT gateways) are theirs to remove."""
    eni_id = call.params.get("NetworkInterfaceId")
    if on("network_interfaces") and eni_id in MANAGED:
        raise EC2ClientError("InvalidNetworkInterface.InUse", f"Interface: [{eni_id}] in use.")


@before("servicediscovery", "DeleteService")
def _discovery_service_in_use(call: Call) -> None:
    """moto deletes a Cloud Map service with its instances; AWS refuses."""
    if not on("network_interfaces"):
        return
    service_id = str(call.params.get("Id", "")).split("/")[-1]
    service = _servicediscovery_backend(call.account, call.region).services.get(service_id)
    if service is not None and service.instances:
        raise JsonRESTError(
            "ResourceInUse",
            "Service contains registered instances; delete the instances before deleting the service",
        )


# --- ACM certificates -------------------------------------------------------------------------
# Requests: https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html ("there
# is a delay of several seconds before you can retrieve information about the new certificate")
# DNS validation: https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
# Statuses: https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html
# Deletion: https://docs.aws.amazon.com/acm/latest/APIReference/API_DeleteCertificate.html
# (ResourceInUseException while another AWS service uses the certificate)
# Listeners: CreateListener and ModifyListener refuse a certificate that is not issued
# (UnsupportedCertificate; AWS's API reference does not list the case, AWS answers it:
# https://github.com/hashicorp/terraform-provider-aws/issues/41789).


class CertificateRecord:
    """When a certificate was requested, when its validation record was first seen in its zone,
    and when listeners stopped serving it."""

    def __init__(self, requested: float):
        self.requested = requested
        self.validated: float | None = None
        self.released: float | None = None


CERTIFICATES: dict[str, CertificateRecord] = {}


def _route53_has(account: str, name: str, value: str) -> bool:
    """Whether a public hosted zone of the account holding `name` has the CNAME `name` → `value`."""
    from moto.route53.models import route53_backends

    norm = lambda text: str(text).rstrip(".").lower()  # noqa: E731
    name, value = norm(name), norm(value)
    for backend in route53_backends[account].values():
        for zone in backend.zones.values():
            zone_name = norm(zone.name)
            if zone.private_zone or not (name == zone_name or name.endswith("." + zone_name)):
                continue
            for rrset in zone.rrsets:
                records = [norm(r) if isinstance(r, str) else norm(r.get("Value", "")) for r in rrset.records]
                if norm(rrset.name) == name and rrset.type == "CNAME" and value in records:
                    return True
    return False


def certificate_check(bundle: Any, now: float | None = None) -> None:
    """A requested certificate is issued once its validation CNAME is in a public zone of the
    account (and, with lifecycles on, `acm_validation` later); never before (moto issues every
    certificate after a minute, DNS or not)."""
    if bundle.type != "AMAZON_ISSUED" or bundle.status != "PENDING_VALIDATION":
        return
    now = time.monotonic() if now is None else now
    record = CERTIFICATES.setdefault(bundle.arn, CertificateRecord(now))
    if record.validated is None:
        options = bundle.describe()["Certificate"].get("DomainValidationOptions", [])
        if options and all(
            _route53_has(bundle.arn.split(":")[4], o["ResourceRecord"]["Name"], o["ResourceRecord"]["Value"])
            for o in options
        ):
            record.validated = now
    if record.validated is not None and now >= record.validated + seconds("acm_validation"):
        bundle.status = "ISSUED"


@after("acm", "RequestCertificate")
def _certificate_requested(call: Call, result: Any) -> Any:
    arn = (getattr(result, "result", None) or {}).get("CertificateArn")
    if arn and arn not in CERTIFICATES:
        CERTIFICATES[arn] = CertificateRecord(call.now)
    return result


@before("acm", "DescribeCertificate", "ListTagsForCertificate")
def _certificate_not_yet_known(call: Call) -> None:
    """For the first half of `acm_record` ACM does not know the new certificate at all."""
    arn = call.params.get("CertificateArn", "")
    record = CERTIFICATES.get(arn)
    if record is not None and call.now < record.requested + seconds("acm_record") / 2:
        raise JsonRESTError(
            "ResourceNotFoundException", f"Could not find certificate {arn}."
        )


@after("acm", "DescribeCertificate")
def _certificate_described(call: Call, result: Any) -> Any:
    record = CERTIFICATES.get(call.params.get("CertificateArn", ""))
    detail = (getattr(result, "result", None) or {}).get("Certificate", {})
    if record is not None and call.now < record.requested + seconds("acm_record"):
        for option in detail.get("DomainValidationOptions", []):
            option.pop("ResourceRecord", None)
    if detail:
        detail["InUseBy"] = _listeners_serving(call, detail.get("CertificateArn", ""))
    return result


def _listeners_serving(call: Call, arn: str) -> list[str]:
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[call.account][call.region]
    return [
        lb.arn
        for lb in backend.load_balancers.values()
        if any(arn in (listener.certificates or []) for listener in lb.listeners.values())
    ]


@before("acm", "DeleteCertificate")
def _certificate_in_use(call: Call) -> None:
    arn = call.params.get("CertificateArn", "")
    record = CERTIFICATES.get(arn)
    lingering = (
        record is not None
        and record.released is not None
        and call.now < record.released + seconds("acm_release")
    )
    if _listeners_serving(call, arn) or lingering:
        raise JsonRESTError(
            "ResourceInUseException",
            f"Certificate {arn} in account {call.account} is in use.",
        )


def _listener_certificates(call: Call, listener_arns: list[str]) -> list[str]:
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[call.account][call.region]
    certificates = []
    for lb in backend.load_balancers.values():
        for listener in lb.listeners.values():
            if listener.arn in listener_arns or lb.arn in listener_arns:
                certificates.extend(listener.certificates or [])
    return certificates


@before("elbv2", "DeleteListener", "ModifyListener", "DeleteLoadBalancer")
def _certificates_released(call: Call) -> None:
    """The certificates the listeners served stay in use for `acm_release` after they stop."""
    arns = [call.params.get("ListenerArn", ""), call.params.get("LoadBalancerArn", "")]
    for certificate in _listener_certificates(call, [a for a in arns if a]):
        record = CERTIFICATES.get(certificate)
        if record is not None:
            record.released = call.now


@before("elbv2", "CreateListener", "ModifyListener")
def _listener_certificate_issued(call: Call) -> None:
    from moto.acm.models import acm_backends
    from moto.elbv2.exceptions import ELBClientError

    certificates = [v for k, v in call.params.items() if k.startswith("Certificates.member.") and k.endswith("CertificateArn")]
    backend = acm_backends[call.account][call.region]
    for arn in certificates:
        bundle = backend._certificates.get(arn)
        if bundle is None:
            continue
        certificate_check(bundle, call.now)
        if bundle.status != "ISSUED":
            raise ELBClientError(
                "UnsupportedCertificate",
                f"The certificate '{arn}' must have a fully-qualified domain name, a supported signature, "
                "and a supported key size.",
            )


# --- Secrets Manager ---------------------------------------------------------------------------
# A secret scheduled for deletion keeps its name until the recovery window ends: CreateSecret of
# that name is refused with InvalidRequestException ("You can't create this secret because a
# secret with this name is already scheduled for deletion",
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html); moto
# answers ResourceExistsException, which says the secret is live.


@before("secretsmanager", "CreateSecret")
def _secret_scheduled_for_deletion(call: Call) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    name = call.params.get("Name", "")
    backend = secretsmanager_backends[call.account][call.region]
    secret = backend.secrets.get(name)
    if secret is not None and getattr(secret, "deleted_date", None) is not None:
        raise JsonRESTError(
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
        )


# GetSecretValue without a stage or version answers the version staged AWSCURRENT ("If you don't
# specify either a VersionStage or VersionId, then Secrets Manager returns the AWSCURRENT
# version", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html);
# moto answers the version it last made current by PutSecretValue, not one UpdateSecretVersionStage
# moved AWSCURRENT to (the last step of a rotation).


@after("secretsmanager", "UpdateSecretVersionStage")
def _secret_current_moved(call: Call, result: Any) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    if call.params.get("VersionStage") == "AWSCURRENT" and call.params.get("MoveToVersionId"):
        secret = secretsmanager_backends[call.account][call.region].secrets.get(call.params.get("SecretId", ""))
        if secret is not None:
            secret.default_version_id = call.params["MoveToVersionId"]
    return result


# ---------------------------------------------------------------------------------------------
# 4. Availability zones.
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AvailabilityZone.html
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAvailabilityZones.html
# ---------------------------------------------------------------------------------------------
def _region_zones(ec2: Any) -> list[Any]:
    zones = []
    allowed = SETTINGS.get("zones")
    impaired = set(SETTINGS.get("impaired_zones") or [])
    for zone in ec2.zones.get(ec2.region_name, []):
        if allowed is not None and zone.name not in allowed:
            continue
        zone = copy.copy(zone)
        if zone.name in impaired:
            zone.state = "impaired"
            zone.messages = [{"Message": f"{zone.name} is experiencing an impairment."}]
        zones.append(zone)
    return zones


@before("ec2", "DescribeAvailabilityZones")
def _describe_zones(call: Call) -> Any:
    if not SETTINGS.get("impaired_zones") and SETTINGS.get("zones") is None:
        return None
    response = call.response
    zones = _region_zones(response.ec2_backend)
    names = response._get_param("ZoneNames", []) or []
    ids = response._get_param("ZoneIds", []) or []
    unknown = [n for n in names if n not in {z.name for z in zones}]
    if unknown:
        raise EC2ClientError("InvalidParameterValue", f"Invalid availability zone: [{unknown[0]}]")
    filters = response._filters_from_querystring()
    attr_pairs = (
        ("zone-id", "zone_id"),
        ("zone-type", "zone_type"),
        ("zone-name", "name"),
        ("region-name", "region_name"),
        ("state", "state"),
    )
    if filters:
        zones = filter_resources(zones, filters, attr_pairs)
    zones = [z for z in zones if (not names or z.name in names) and (not ids or z.zone_id in ids)]
    return ActionResult({"AvailabilityZones": zones})


@before("ec2", "CreateSubnet")
def _subnet_zone_exists(call: Call) -> None:
    allowed = SETTINGS.get("zones")
    if allowed is None:
        return
    zones = _region_zones(call.response.ec2_backend)
    name = call.params.get("AvailabilityZone")
    zone_id = call.params.get("AvailabilityZoneId")
    if (name and name not in {z.name for z in zones}) or (
        zone_id and zone_id not in {z.zone_id for z in zones}
    ):
        raise InvalidAvailabilityZoneError(name or zone_id, ", ".join(z.name for z in zones))


# ---------------------------------------------------------------------------------------------
# Control: /_platform/aws, and installation.
# ---------------------------------------------------------------------------------------------
CONTROL_PATH = "/_platform/aws"


def _control(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    status = "200 OK"
    try:
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            settings = configure(json.loads(raw or b"{}"))
        elif environ.get("REQUEST_METHOD") == "GET":
            with LOCK:
                settings = copy.deepcopy(SETTINGS)
        else:
            status, settings = "405 Method Not Allowed", {"error": "GET or POST"}
    except (ValueError, SettingsError) as error:
        status, settings = "400 Bad Request", {"error": str(error)}
    body = json.dumps(settings).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


_installed = False


def install() -> None:
    """Patches moto (once) and reads PLATFORM_EMULATOR_AWS."""
    global _installed
    if _installed:
        return
    _installed = True
    initial = os.environ.get("PLATFORM_EMULATOR_AWS", "").strip()
    if initial:
        configure(json.loads(initial))
    BaseResponse.call_action = call_action
    FakeLoadBalancer.activate = activate
    _RdsDBInstance.default_db_parameter_group_details = _default_parameter_group
    dispatch = DomainDispatcherApplication.__call__

    def dispatch_with_control(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            return _control(environ, start_response)
        if path.startswith("/moto-api/reset"):
            reset_state()
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = dispatch_with_control


# ---------------------------------------------------------------------------------------------
# RDS parameter groups, log exports and Enhanced Monitoring
# ---------------------------------------------------------------------------------------------
# Enhanced Monitoring (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.Enabling.html):
#   RDS assumes the role the request names; one it cannot assume (missing, not trusting
#   monitoring.rds.amazonaws.com, or created moments ago under `consistency`) is refused with
#   InvalidParameterValue "IAM role ARN value is invalid or does not include the required
#   permissions for: ENHANCED_MONITORING" (what Terraform's RDS resources retry on); moto checks
#   nothing.
# Parameter groups (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/parameter-groups-overview.html):
#   an instance takes only a group of its engine version's family (InvalidParameterCombination);
#   a group an instance uses cannot be deleted (InvalidDBParameterGroupState,
#   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBParameterGroup.html).
# Log exports (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html):
#   RDS publishes each exported log to /aws/rds/instance/ID/TYPE, creating a missing group with no
#   retention; moto creates nothing.

MONITORING_PRINCIPAL = "monitoring.rds.amazonaws.com"
MONITORING_REFUSED = (
    "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"
)


def _trusts(document: str, service: str) -> bool:
    from urllib.parse import unquote

    try:
        policy = json.loads(document)
    except ValueError:
        try:
            policy = json.loads(unquote(document))
        except ValueError:
            return False
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        services = (statement.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and "sts:AssumeRole" in actions and service in services:
            return True
    return False


@before("rds", "CreateDBInstance", "ModifyDBInstance")
def _rds_monitoring_role(call: Call) -> None:
    from moto.iam.models import iam_backends

    arn = call.params.get("MonitoringRoleArn")
    if not arn:
        return
    name = str(arn).split("/")[-1]
    key = (call.account, name)
    if on("consistency") and not call.observer and _still_fresh(FRESH_ASSUMABLE.get(key), call.now):
        del FRESH_ASSUMABLE[key]
        raise RDSClientError("InvalidParameterValue", MONITORING_REFUSED)
    partition = str(arn).split(":")[1] if str(arn).count(":") > 1 else "aws"
    try:
        role = iam_backends[call.account][partition].get_role(name)
    except NoSuchEntity:
        raise RDSClientError("InvalidParameterValue", MONITORING_REFUSED) from None
    if not _trusts(role.assume_role_policy_document, MONITORING_PRINCIPAL):
        raise RDSClientError("InvalidParameterValue", MONITORING_REFUSED)


def _rds_family(engine: str, version: str) -> str:
    parts = str(version).split(".")
    if engine == "postgres":
        return f"postgres{parts[0]}"
    return f"{engine}{parts[0]}.{parts[1] if len(parts) > 1 else '0'}"


def _default_parameter_group(self: Any) -> tuple[str, str]:
    """The engine's default group, named after its family as AWS names it (`default.postgres17`
    for PostgreSQL 17.x); moto drops the last part of the version, so a major version alone
    (`17`) gives `default.postgres`."""
    family = _rds_family(self.engine.lower(), str(self.engine_version))
    return family, f"default.{family}"


@before("rds", "CreateDBInstance", "ModifyDBInstance")
def _rds_parameter_group_family(call: Call) -> None:
    from moto.rds.models import DBParameterGroup

    name = call.params.get("DBParameterGroupName")
    backend = call.response.backend
    if name and str(name).startswith("default.") and name not in backend.db_parameter_groups:
        # AWS's default groups exist in every account and region; moto makes one only when an
        # instance created with it is described.
        family = str(name)[len("default.") :]
        backend.db_parameter_groups[name] = DBParameterGroup(
            backend=backend,
            db_parameter_group_name=name,
            db_parameter_group_family=family,
            description=f"Default parameter group for {family}",
            tags=[],
        )
    if not name or str(name).startswith("default."):
        return
    group = backend.db_parameter_groups.get(name)
    if group is None:
        return  # moto answers DBParameterGroupNotFound
    if call.action == "CreateDBInstance":
        engine, version = call.params.get("Engine", ""), call.params.get("EngineVersion", "")
    else:
        db = backend.databases.get(str(call.params.get("DBInstanceIdentifier", "")).lower())
        if db is None:
            return
        engine, version = db.engine, call.params.get("EngineVersion") or db.engine_version
    family = _rds_family(str(engine), str(version))
    if version and group.family != family:
        raise RDSClientError(
            "InvalidParameterCombination",
            f"The parameter group {name} with DBParameterGroupFamily {group.family} can't be used for "
            f"this instance. Use a parameter group with DBParameterGroupFamily {family}.",
        )


@before("rds", "DeleteDBParameterGroup")
def _rds_parameter_group_in_use(call: Call) -> None:
    name = call.params.get("DBParameterGroupName")
    users = _rds_instances_using(call.response.backend, "db_parameter_group_name", name)
    if users:
        raise RDSClientError(
            "InvalidDBParameterGroupState",
            f"One or more database instances are still members of this parameter group {name}, so the "
            "group cannot be deleted",
        )


@after("rds", "CreateDBInstance", "ModifyDBInstance")
def _rds_log_groups(call: Call, result: Any) -> Any:
    from moto.logs.models import logs_backends

    db = (getattr(result, "result", None) or {}).get("DBInstance")
    if db is None:
        return result
    logs = logs_backends[call.account][call.region]
    for log in getattr(db, "enabled_cloudwatch_logs_exports", None) or []:
        group = f"/aws/rds/instance/{db.db_instance_identifier}/{log}"
        if group not in logs.groups:
            logs.create_log_group(group, tags={})
    return result
