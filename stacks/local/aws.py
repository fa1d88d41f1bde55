"""AWS on localhost: moto's server, and the plan's KMS keys and DynamoDB tables created in it.

The stack is described once, by the program. `python -m stacks preview <stack>` records what the
program asks for (`build/<stack>/plan.json`); this module reads that plan and replays the KMS keys,
their aliases and the DynamoDB tables against a moto server on 127.0.0.1, so the local runtime runs
against the same tables (names, keys, indexes, streams, TTL, encryption) as `pulumi up` would create.

Three layers:

- `LocalAws`: moto's `ThreadedMotoServer` on a free localhost port, and boto3 clients bound to it
  (dummy credentials, no profile, no proxy, `account_id_endpoint_mode="disabled"` on the client
  config — GOTCHAS P4 — without touching `os.environ`).
- Pure translators, plan inputs (camelCase, as Pulumi records them) → API requests:
  `create_table_request`, `ttl_request`, `pitr_request`, `key_request`, `rotation_request`,
  `alias_requests`. No boto3; an unknown ("known after apply") or redacted secret value is never
  sent: an optional one is left out, a required one raises `LocalAwsError` naming the property.
- `bootstrap(plan, aws)` / `teardown(aws)`: create (idempotently) and delete the resources.

What moto cannot do is left to the static checks (GOTCHAS P5): replicas (global tables) are not
created locally, TTL is recorded but items never expire, key policies are stored but not enforced.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

# Pulumi's marker for "known after apply" (the plan's `unknownMarker`; the same constant as
# stacks.offline.mockrun.UNKNOWN, repeated here so the runtime does not import the Pulumi SDK).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# How the plan shows a secret value: redacted, so just as unusable as an unknown one.
REDACTED_SECRET = {"secret": "[secret]"}

TABLE = "aws:dynamodb/table:Table"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"

# Every key and table bootstrap creates carries the URN of the plan resource it stands for: it is how
# a second bootstrap finds what exists (keys have no name) and how teardown finds what to delete.
URN_TAG = "local-runtime:urn"

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
KEY_DELETION_WINDOW_DAYS = 7  # KMS minimum; keys cannot be deleted at once, only scheduled
_PLAN_VERSION = 1
_TYPE_RANK = {KEY: 0, ALIAS: 1, TABLE: 2}


class LocalAwsError(Exception):
    """The plan cannot be run locally (no tables, unknown required inputs) or the server failed."""


# --------------------------------------------------------------------------------------------------
# Plan values
# --------------------------------------------------------------------------------------------------


def is_unknown(value: Any) -> bool:
    """True for values the plan cannot give: unknown until apply, or a redacted secret."""
    return value == UNKNOWN or value == REDACTED_SECRET


def _why(value: Any) -> str:
    if value == REDACTED_SECRET:
        return "is a secret, redacted in the plan"
    return "is unknown in the plan (known only after apply)"


def _require(inputs: Mapping[str, Any], key: str, resource: str, path: Optional[str] = None) -> Any:
    path = path or key
    if key not in inputs or inputs[key] is None:
        raise LocalAwsError(f"{resource}: required input '{path}' is missing from the plan")
    value = inputs[key]
    if is_unknown(value):
        raise LocalAwsError(f"{resource}: required input '{path}' {_why(value)}; cannot create it locally")
    return value


def _optional(inputs: Mapping[str, Any], key: str, resource: str, path: Optional[str] = None) -> Any:
    """An optional input that changes what gets created: absent is fine, unknown is an error."""
    if inputs.get(key) is None:
        return None
    return _require(inputs, key, resource, path)


def _known(inputs: Mapping[str, Any], key: str) -> Any:
    """An optional input whose absence only loses detail (descriptions, policies, tags): unknown → None."""
    value = inputs.get(key)
    return None if value is None or is_unknown(value) else value


def _reject_unknowns(request: Any, resource: str, path: str = "") -> None:
    """Last guard before a request leaves the process: nothing unknown is ever sent."""
    if is_unknown(request):
        raise LocalAwsError(f"{resource}: request field '{path}' {_why(request)}")
    if isinstance(request, dict):
        for k, v in request.items():
            _reject_unknowns(v, resource, f"{path}.{k}" if path else str(k))
    elif isinstance(request, (list, tuple)):
        for i, v in enumerate(request):
            _reject_unknowns(v, resource, f"{path}[{i}]")


def _tags(inputs: Mapping[str, Any], key_field: str, value_field: str) -> list[dict[str, str]]:
    tags = _known(inputs, "tags") or {}
    return [{key_field: k, value_field: str(v)} for k, v in sorted(tags.items()) if not is_unknown(v)]


# --------------------------------------------------------------------------------------------------
# Pure translators: plan inputs → API requests
# --------------------------------------------------------------------------------------------------


def _projection(index: Mapping[str, Any], resource: str, path: str) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": _require(index, "projectionType", resource, f"{path}.projectionType")}
    non_key = _optional(index, "nonKeyAttributes", resource, f"{path}.nonKeyAttributes")
    if non_key:
        for i, attribute in enumerate(non_key):
            if is_unknown(attribute):
                raise LocalAwsError(f"{resource}: required input '{path}.nonKeyAttributes[{i}]' {_why(attribute)}")
        projection["NonKeyAttributes"] = list(non_key)
    return projection


def _throughput(inputs: Mapping[str, Any], resource: str, path: str = "") -> dict[str, int]:
    prefix = f"{path}." if path else ""
    return {
        "ReadCapacityUnits": int(_require(inputs, "readCapacity", resource, f"{prefix}readCapacity")),
        "WriteCapacityUnits": int(_require(inputs, "writeCapacity", resource, f"{prefix}writeCapacity")),
    }


def _on_demand(inputs: Mapping[str, Any], resource: str, path: str = "") -> Optional[dict[str, int]]:
    prefix = f"{path}." if path else ""
    spec = _optional(inputs, "onDemandThroughput", resource, f"{prefix}onDemandThroughput")
    if not spec:
        return None
    out = {}
    for source, target in (("maxReadRequestUnits", "MaxReadRequestUnits"), ("maxWriteRequestUnits", "MaxWriteRequestUnits")):
        value = _optional(spec, source, resource, f"{prefix}onDemandThroughput.{source}")
        if value is not None:
            out[target] = int(value)
    return out or None


def _key_schema(inputs: Mapping[str, Any], resource: str, path: str) -> list[dict[str, str]]:
    """`keySchemas` ([{attributeName, keyType}], preferred by pulumi-aws 7.5x, GOTCHAS T11), else hashKey/rangeKey."""
    prefix = f"{path}." if path else ""
    schemas = _optional(inputs, "keySchemas", resource, f"{prefix}keySchemas")
    if schemas:
        out = []
        for i, element in enumerate(schemas):
            where = f"{prefix}keySchemas[{i}]"
            out.append(
                {
                    "AttributeName": _require(element, "attributeName", resource, f"{where}.attributeName"),
                    "KeyType": _require(element, "keyType", resource, f"{where}.keyType"),
                }
            )
        return out
    schema = [{"AttributeName": _require(inputs, "hashKey", resource, f"{prefix}hashKey"), "KeyType": "HASH"}]
    range_key = _optional(inputs, "rangeKey", resource, f"{prefix}rangeKey")
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index_path(kind: str, i: int, index: Mapping[str, Any]) -> str:
    name = index.get("name")
    return f"{kind}[{name}]" if isinstance(name, str) and not is_unknown(name) else f"{kind}[{i}]"


def create_table_request(
    table_inputs: Mapping[str, Any], kms_key_id: Optional[str] = None, *, resource: str = "table"
) -> dict[str, Any]:
    """DynamoDB CreateTable for an `aws:dynamodb/table:Table`'s plan inputs.

    `kms_key_id` is the id or ARN of the local key standing in for the plan's (unknown) `kmsKeyArn`.
    `resource` names the table in error messages.
    """
    name = _require(table_inputs, "name", resource)
    attributes = _require(table_inputs, "attributes", resource)
    if not attributes:
        raise LocalAwsError(f"{resource}: required input 'attributes' is empty")
    definitions = [
        {
            "AttributeName": _require(a, "name", resource, f"attributes[{i}].name"),
            "AttributeType": _require(a, "type", resource, f"attributes[{i}].type"),
        }
        for i, a in enumerate(attributes)
    ]
    hash_key = _require(table_inputs, "hashKey", resource)
    # The provider's default billing mode is PROVISIONED (GOTCHAS T4); an absent one means that.
    billing = _optional(table_inputs, "billingMode", resource) or "PROVISIONED"
    provisioned = billing == "PROVISIONED"

    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": definitions,
        "KeySchema": _key_schema(table_inputs, resource, ""),
        "BillingMode": billing,
        # Local tables are created WITHOUT deletion protection whatever the plan says (prod protects
        # them, GOTCHAS T5): the local runtime must always be able to tear down and start again, and
        # nothing local is worth protecting. The plan's setting is checked statically instead.
        "DeletionProtectionEnabled": False,
    }
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(table_inputs, resource)
    on_demand = _on_demand(table_inputs, resource)
    if on_demand:
        request["OnDemandThroughput"] = on_demand

    gsis = []
    for i, index in enumerate(_optional(table_inputs, "globalSecondaryIndexes", resource) or []):
        path = _index_path("globalSecondaryIndexes", i, index)
        gsi: dict[str, Any] = {
            "IndexName": _require(index, "name", resource, f"{path}.name"),
            "KeySchema": _key_schema(index, resource, path),
            "Projection": _projection(index, resource, path),
        }
        if provisioned:
            gsi["ProvisionedThroughput"] = _throughput(index, resource, path)
        index_on_demand = _on_demand(index, resource, path)
        if index_on_demand:
            gsi["OnDemandThroughput"] = index_on_demand
        gsis.append(gsi)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis

    lsis = []
    for i, index in enumerate(_optional(table_inputs, "localSecondaryIndexes", resource) or []):
        path = _index_path("localSecondaryIndexes", i, index)
        lsis.append(
            {
                "IndexName": _require(index, "name", resource, f"{path}.name"),
                # An LSI shares the table's partition key and has its own sort key (GOTCHAS T11).
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": _require(index, "rangeKey", resource, f"{path}.rangeKey"), "KeyType": "RANGE"},
                ],
                "Projection": _projection(index, resource, path),
            }
        )
    if lsis:
        request["LocalSecondaryIndexes"] = lsis

    if _optional(table_inputs, "streamEnabled", resource):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": _require(table_inputs, "streamViewType", resource),
        }

    # GOTCHAS K4: enabled=false → AWS-owned key (no SSESpecification); enabled without a key → the
    # AWS-managed key; with a key → that CMK.
    sse = _optional(table_inputs, "serverSideEncryption", resource) or {}
    if _optional(sse, "enabled", resource, "serverSideEncryption.enabled"):
        key = kms_key_id
        if key is None and sse.get("kmsKeyArn") is not None:
            key = _require(sse, "kmsKeyArn", resource, "serverSideEncryption.kmsKeyArn")
        request["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
        if key:
            request["SSESpecification"]["KMSMasterKeyId"] = key
    elif kms_key_id is not None:
        raise LocalAwsError(
            f"{resource}: a KMS key was given but 'serverSideEncryption.enabled' is not true in the plan"
        )

    table_class = _optional(table_inputs, "tableClass", resource)
    if table_class:
        request["TableClass"] = table_class
    tags = _tags(table_inputs, "Key", "Value")
    if tags:
        request["Tags"] = tags
    _reject_unknowns(request, resource)
    return request


def ttl_request(table_inputs: Mapping[str, Any], *, resource: str = "table") -> Optional[dict[str, Any]]:
    """DynamoDB UpdateTimeToLive, or None when the plan does not enable TTL."""
    ttl = _optional(table_inputs, "ttl", resource) or {}
    if not _optional(ttl, "enabled", resource, "ttl.enabled"):
        return None
    request = {
        "TableName": _require(table_inputs, "name", resource),
        "TimeToLiveSpecification": {
            "Enabled": True,
            "AttributeName": _require(ttl, "attributeName", resource, "ttl.attributeName"),
        },
    }
    _reject_unknowns(request, resource)
    return request


def pitr_request(table_inputs: Mapping[str, Any], *, resource: str = "table") -> Optional[dict[str, Any]]:
    """DynamoDB UpdateContinuousBackups (point-in-time recovery), or None when the plan leaves it off."""
    pitr = _optional(table_inputs, "pointInTimeRecovery", resource) or {}
    if not _optional(pitr, "enabled", resource, "pointInTimeRecovery.enabled"):
        return None
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
    days = _known(pitr, "recoveryPeriodInDays")
    if days is not None:
        spec["RecoveryPeriodInDays"] = int(days)
    request = {"TableName": _require(table_inputs, "name", resource), "PointInTimeRecoverySpecification": spec}
    _reject_unknowns(request, resource)
    return request


def key_request(key_inputs: Mapping[str, Any], *, resource: str = "key") -> dict[str, Any]:
    """KMS CreateKey for an `aws:kms/key:Key`'s plan inputs.

    The policy is the plan's when known (moto stores it, it does not enforce it); otherwise KMS's
    default policy applies. Unknown descriptions and tag values are left out.
    """
    request: dict[str, Any] = {}
    description = _known(key_inputs, "description")
    if description is not None:
        request["Description"] = description
    usage = _optional(key_inputs, "keyUsage", resource)
    if usage:
        request["KeyUsage"] = usage
    # pulumi-aws calls it customerMasterKeySpec; KMS calls it KeySpec.
    spec = _optional(key_inputs, "customerMasterKeySpec", resource) or _optional(key_inputs, "keySpec", resource)
    if spec:
        request["KeySpec"] = spec
    policy = _known(key_inputs, "policy")
    if policy:
        request["Policy"] = policy
    if _known(key_inputs, "bypassPolicyLockoutSafetyCheck") is not None:
        request["BypassPolicyLockoutSafetyCheck"] = bool(key_inputs["bypassPolicyLockoutSafetyCheck"])
    if _optional(key_inputs, "multiRegion", resource):
        request["MultiRegion"] = True
    tags = _tags(key_inputs, "TagKey", "TagValue")
    if tags:
        request["Tags"] = tags
    _reject_unknowns(request, resource)
    return request


def rotation_request(key_inputs: Mapping[str, Any], *, resource: str = "key") -> Optional[dict[str, Any]]:
    """KMS EnableKeyRotation without its KeyId (known once the key exists), or None when rotation is off."""
    if not _optional(key_inputs, "enableKeyRotation", resource):
        return None
    days = _known(key_inputs, "rotationPeriodInDays")
    return {"RotationPeriodInDays": int(days)} if days is not None else {}


@dataclass(frozen=True)
class AliasRequest:
    """One `aws:kms/alias:Alias` paired with the plan key it targets (by URN)."""

    alias_urn: str
    key_urn: str
    alias_name: str

    def request(self, target_key_id: str) -> dict[str, str]:
        """KMS CreateAlias, once the target key's local id is known."""
        return {"AliasName": self.alias_name, "TargetKeyId": target_key_id}


def alias_requests(plan: Mapping[str, Any]) -> list[AliasRequest]:
    """Each alias of the plan with its key: `propertyDependencies["targetKeyId"]` holds the key's URN."""
    keys = {r["urn"] for r in plan.get("resources", []) if r.get("type") == KEY}
    out = []
    for alias in sorted((r for r in plan.get("resources", []) if r.get("type") == ALIAS), key=lambda r: r["urn"]):
        resource = f"{ALIAS} '{alias.get('name')}'"
        name = _require(alias.get("inputs", {}), "name", resource)
        targets = [u for u in alias.get("propertyDependencies", {}).get("targetKeyId", []) if u in keys]
        if len(targets) != 1:
            raise LocalAwsError(
                f"{resource}: 'targetKeyId' must come from exactly one {KEY} of the plan "
                f"(propertyDependencies.targetKeyId = {alias.get('propertyDependencies', {}).get('targetKeyId')}); "
                "the local runtime only creates keys that are in the plan"
            )
        out.append(AliasRequest(alias_urn=alias["urn"], key_urn=targets[0], alias_name=name))
    return out


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class _RequestLogFilter(logging.Filter):
    """Drops werkzeug's per-request INFO lines while a LocalAws runs; warnings and errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


# How often a serving loop checks whether it was asked to stop. socketserver's default (0.5 s) is
# what every stop() waited for, twice per local runtime (moto and the gateway), hundreds of times
# per test run; a check every 20 ms costs nothing measurable while serving.
SERVER_POLL_SECONDS = 0.02


def _moto_server_class() -> type:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class _Server(ThreadedMotoServer):
        """ThreadedMotoServer whose start() fails instead of hanging when the socket cannot be bound
        (moto's start() waits on an event that a failed bind never sets), and whose stop() returns
        within SERVER_POLL_SECONDS. The server is built as moto's own _server_entry builds it."""

        startup_error: Optional[BaseException] = None

        def _server_entry(self) -> None:
            try:
                self._server = make_server(self._ip_address, self._port, DomainDispatcherApplication(create_backend_app),
                                           True, request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever(poll_interval=SERVER_POLL_SECONDS)
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self.startup_error = exc
                self._server_ready_event.set()

    return _Server


class LocalAws:
    """moto's server on 127.0.0.1 (a free port) and boto3 clients for it. A context manager.

    moto keeps its state per process, not per server: instances alive at the same time see the same
    resources. The first instance to start in a process, and the last to stop, reset that state.
    """

    _live: set["LocalAws"] = set()
    _class_lock = threading.Lock()
    _log_filter = _RequestLogFilter()

    def __init__(self, region: str = DEFAULT_REGION, *, host: str = "127.0.0.1", port: int = 0):
        self.region = region
        self._host = host
        self._port = port
        self._server: Any = None
        self._endpoint_url: Optional[str] = None
        self._clients: list[Any] = []
        self._regions: set[str] = {region}
        self._lock = threading.Lock()
        self._session: Any = None

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "LocalAws":
        with self._lock:
            if self._server is not None:
                return self
            server = _moto_server_class()(ip_address=self._host, port=self._port, verbose=False)
            with LocalAws._class_lock:
                first = not LocalAws._live
                if first:
                    logging.getLogger("werkzeug").addFilter(LocalAws._log_filter)
            server.start()
            if server.startup_error is not None:
                server._thread.join(timeout=5)
                self._release(first_or_last=first)
                raise LocalAwsError(f"moto server could not start on {self._host}:{self._port}: {server.startup_error}")
            host, port = server.get_host_and_port()
            self._server = server
            self._endpoint_url = f"http://{host}:{port}"
            with LocalAws._class_lock:
                LocalAws._live.add(self)
            if first:
                self._reset_moto()  # a fresh process-wide moto state for the first live instance
            return self

    def stop(self) -> None:
        """Close the clients, reset moto if this is the last live instance, stop the server. Idempotent."""
        with self._lock:
            server, self._server = self._server, None
            if server is None:
                return
            for client in self._clients:
                client.close()
            self._clients.clear()
            with LocalAws._class_lock:
                LocalAws._live.discard(self)
                last = not LocalAws._live
            if last:
                try:
                    self._reset_moto()
                except OSError:
                    pass  # the server is going away anyway
            # shutdown() ends serve_forever, which closes the listening socket; then the thread is joined.
            # Request threads are daemons and responses carry `Connection: close`, so none lingers.
            server.stop()
            self._endpoint_url = None
            self._release(first_or_last=last)

    @staticmethod
    def _release(first_or_last: bool) -> None:
        if first_or_last:
            with LocalAws._class_lock:
                if not LocalAws._live:
                    logging.getLogger("werkzeug").removeFilter(LocalAws._log_filter)

    def __enter__(self) -> "LocalAws":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise LocalAwsError("the local AWS server is not running (use `with LocalAws() as aws:` or start())")
        return self._endpoint_url

    @property
    def regions(self) -> frozenset[str]:
        """The default region and every region a client was made for."""
        return frozenset(self._regions)

    # clients ---------------------------------------------------------------------------------------

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3
            import botocore.session
            from botocore.configprovider import ConstantProvider

            core = botocore.session.Session()
            # Nothing from the user's AWS profile or files: no real credentials, no configured
            # endpoints, no ProfileNotFound from an AWS_PROFILE meant for something else.
            core.set_config_variable("config_file", os.devnull)
            core.set_config_variable("credentials_file", os.devnull)
            core.get_component("config_store").set_config_provider("profile", ConstantProvider(None))
            self._session = boto3.session.Session(botocore_session=core, region_name=self.region, **DUMMY_CREDENTIALS)
        return self._session

    def client(self, service: str, region: Optional[str] = None) -> Any:
        """A boto3 client for `service` against the local server, in `region` (default: the stack's)."""
        from botocore.config import Config

        endpoint = self.endpoint_url
        region = region or self.region
        config = Config(
            # GOTCHAS P4: account-id based endpoints off, on this client only (not os.environ).
            account_id_endpoint_mode="disabled",
            proxies={},  # localhost is never sent through an HTTP(S)_PROXY from the environment
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        client = self._boto_session().client(service, region_name=region, endpoint_url=endpoint, config=config)
        with self._lock:
            self._clients.append(client)
            self._regions.add(region)
        return client

    def env(self) -> dict[str, str]:
        """Environment for a child process (say, a handler under test) to reach this server.

        Returned, never applied: merge it into a subprocess's env yourself.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # GOTCHAS P4
        }

    def _reset_moto(self) -> None:
        # http.client, not urllib: no proxy from the environment.
        host, port = self._endpoint_url.removeprefix("http://").rsplit(":", 1)  # type: ignore[union-attr]
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            connection.getresponse().read()
        finally:
            connection.close()


# --------------------------------------------------------------------------------------------------
# Bootstrap and teardown
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalKey:
    urn: str
    logical_name: str
    key_id: str
    arn: str
    region: str


@dataclass(frozen=True)
class LocalTable:
    logical_name: str
    name: str
    arn: str
    stream_arn: Optional[str]
    region: str
    kms_key_arn: Optional[str]


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class LocalStack:
    """What bootstrap created. `tables`: logical name → table; `keys`: key URN → key; `aliases`: alias → key id
    (an alias of another region than the stack's is listed as `<alias>@<region>`).

    `notes` lists what the plan asks for that moto cannot provide (GOTCHAS P5).
    """

    stack: str
    region: str
    endpoint_url: str
    tables: Mapping[str, LocalTable] = field(default_factory=lambda: _frozen({}))
    keys: Mapping[str, LocalKey] = field(default_factory=lambda: _frozen({}))
    aliases: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    notes: tuple[str, ...] = ()
    # Global tables: logical name -> replica region -> that region's copy (same name, own key).
    replicas: Mapping[str, Mapping[str, LocalTable]] = field(default_factory=lambda: _frozen({}))

    def copies(self, logical_name: str) -> dict[str, LocalTable]:
        """Every region's copy of a table, home first."""
        home = self.table(logical_name)
        return {home.region: home, **dict(self.replicas.get(logical_name, {}))}

    def table(self, logical_name: str) -> LocalTable:
        try:
            return self.tables[logical_name]
        except KeyError:
            raise KeyError(f"no table '{logical_name}' in the local stack; tables: {', '.join(sorted(self.tables))}") from None


def plan_region(plan: Mapping[str, Any]) -> Optional[str]:
    """The stack's region as the plan records it (the program's `region` output), if known."""
    region = (plan.get("outputs") or {}).get("region")
    return region if isinstance(region, str) and not is_unknown(region) else None


def _describe(resource: Mapping[str, Any]) -> str:
    return f"{resource['type']} '{resource['name']}'"


def _creation_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dependencies first (Kahn), ties broken by type (keys, aliases, tables) then name."""
    by_urn = {r["urn"]: r for r in resources}
    needs: dict[str, set[str]] = {}
    for r in resources:
        deps = set(r.get("dependencies") or [])
        for urns in (r.get("propertyDependencies") or {}).values():
            deps.update(urns)
        needs[r["urn"]] = {d for d in deps if d in by_urn and d != r["urn"]}
    order: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(order) < len(resources):
        ready = [r for r in resources if r["urn"] not in done and needs[r["urn"]] <= done]
        if not ready:
            stuck = sorted(by_urn[u]["name"] for u in by_urn if u not in done)
            raise LocalAwsError(f"dependency cycle among {', '.join(stuck)}")
        ready.sort(key=lambda r: (_TYPE_RANK[r["type"]], r["name"]))
        order.append(ready[0])
        done.add(ready[0]["urn"])
    return order


def _check_plan(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(plan, Mapping) or not isinstance(plan.get("resources"), list):
        raise LocalAwsError("not a plan: expected the contents of build/<stack>/plan.json")
    if plan.get("planVersion") != _PLAN_VERSION:
        raise LocalAwsError(f"plan version {plan.get('planVersion')!r} is not supported (expected {_PLAN_VERSION})")
    if plan.get("unknownMarker", UNKNOWN) != UNKNOWN:
        raise LocalAwsError(f"plan marks unknowns with {plan['unknownMarker']!r}, expected Pulumi's {UNKNOWN!r}")
    selected = [r for r in plan["resources"] if r.get("type") in _TYPE_RANK]
    if not any(r["type"] == TABLE for r in selected):
        raise LocalAwsError(
            f"plan of stack '{plan.get('stack')}' has no {TABLE} resources: nothing for the local runtime to create"
        )
    return selected


def _table_key_urn(table: Mapping[str, Any], keys: Iterable[str]) -> Optional[str]:
    urns = [u for u in (table.get("propertyDependencies") or {}).get("serverSideEncryption", []) if u in set(keys)]
    if len(urns) > 1:
        raise LocalAwsError(f"{_describe(table)}: 'serverSideEncryption' depends on several keys: {urns}")
    return urns[0] if urns else None


def _region_of(resource: Mapping[str, Any], default: str) -> str:
    # pulumi-aws v7 places a resource in another region with its `region` argument (GOTCHAS K2).
    region = _optional(resource.get("inputs", {}), "region", _describe(resource))
    return region or default


def _validate(plan: Mapping[str, Any], selected: list[dict[str, Any]], default_region: str) -> list[AliasRequest]:
    """Translate everything once before touching the server: a bad plan creates nothing."""
    key_regions = {r["urn"]: _region_of(r, default_region) for r in selected if r["type"] == KEY}
    for r in selected:
        where = _describe(r)
        inputs = r.get("inputs", {})
        region = _region_of(r, default_region)
        if r["type"] == KEY:
            key_request(inputs, resource=where)
            rotation_request(inputs, resource=where)
        elif r["type"] == TABLE:
            key_urn = _table_key_urn(r, key_regions)
            if key_urn and key_regions[key_urn] != region:
                # GOTCHAS K1: a table's CMK lives in the table's region (moto would not object).
                raise LocalAwsError(f"{where}: its KMS key is in {key_regions[key_urn]}, the table in {region}")
            create_table_request(inputs, "arn:aws:kms:validation" if key_urn else None, resource=where)
            ttl_request(inputs, resource=where)
            pitr_request(inputs, resource=where)
    return alias_requests(plan)


def _paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(result_key, [])]


def _find_key(kms: Any, urn: str) -> Optional[dict[str, Any]]:
    for entry in _paginate(kms, "list_keys", "Keys"):
        metadata = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
        if metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
            continue
        tags = kms.list_resource_tags(KeyId=entry["KeyId"]).get("Tags", [])
        if any(t["TagKey"] == URN_TAG and t["TagValue"] == urn for t in tags):
            return metadata
    return None


def _describe_table(ddb: Any, name: str) -> Optional[dict[str, Any]]:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        return None


def _wait_active(ddb: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    # boto3's table_exists waiter polls every 20 s; moto is usually ACTIVE at once.
    deadline = time.monotonic() + timeout
    while True:
        table = ddb.describe_table(TableName=name)["Table"]
        if table.get("TableStatus") == "ACTIVE" or time.monotonic() > deadline:
            return table
        time.sleep(0.05)


def bootstrap(plan: Mapping[str, Any], aws: LocalAws) -> LocalStack:
    """Create the plan's KMS keys (with aliases) and DynamoDB tables on the local server.

    Dependency order; each table encrypted with the key its `propertyDependencies["serverSideEncryption"]`
    points to; TTL and point-in-time recovery as planned. Safe to call again on the same server:
    existing keys (found by their URN tag), aliases and tables (by name, if the key schema matches)
    are reused, not duplicated. Everything is translated and checked before the first request, so a
    plan with an unknown required input creates nothing.
    """
    selected = _check_plan(plan)
    default_region = plan_region(plan) or aws.region
    alias_by_urn = {alias.alias_urn: alias for alias in _validate(plan, selected, default_region)}
    key_urns = [r["urn"] for r in selected if r["type"] == KEY]

    keys: dict[str, LocalKey] = {}
    aliases: dict[str, str] = {}
    tables: dict[str, LocalTable] = {}
    replicas: dict[str, dict[str, LocalTable]] = {}
    notes: list[str] = []

    for resource in _creation_order(selected):
        where = _describe(resource)
        inputs = resource.get("inputs", {})
        region = _region_of(resource, default_region)
        if resource["type"] == KEY:
            kms = aws.client("kms", region)
            metadata = _find_key(kms, resource["urn"])
            if metadata is None:
                request = key_request(inputs, resource=where)
                request["Tags"] = request.get("Tags", []) + [{"TagKey": URN_TAG, "TagValue": resource["urn"]}]
                metadata = kms.create_key(**request)["KeyMetadata"]
                rotation = rotation_request(inputs, resource=where)
                if rotation is not None:
                    kms.enable_key_rotation(KeyId=metadata["KeyId"], **rotation)
            keys[resource["urn"]] = LocalKey(
                urn=resource["urn"], logical_name=resource["name"], key_id=metadata["KeyId"], arn=metadata["Arn"], region=region
            )
        elif resource["type"] == ALIAS:
            alias = alias_by_urn[resource["urn"]]
            key = keys[alias.key_urn]
            kms = aws.client("kms", key.region)
            existing = {a["AliasName"]: a.get("TargetKeyId") for a in _paginate(kms, "list_aliases", "Aliases")}
            if alias.alias_name not in existing:
                kms.create_alias(**alias.request(key.key_id))
            elif existing[alias.alias_name] != key.key_id:
                kms.update_alias(AliasName=alias.alias_name, TargetKeyId=key.key_id)
            # Alias names are per region: the replica regions' keys carry the same alias (K1).
            label = alias.alias_name if key.region == default_region else f"{alias.alias_name}@{key.region}"
            aliases[label] = key.key_id
        else:
            key_urn = _table_key_urn(resource, key_urns)
            key_arn = keys[key_urn].arn if key_urn else None
            ddb = aws.client("dynamodb", region)
            request = create_table_request(inputs, key_arn, resource=where)
            if _replica_regions(inputs) and "StreamSpecification" not in request:
                # A STRONG global table may have no stream (T13); the local replicator reads streams.
                request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
                notes.append(f"{resource['name']}: local copies stream NEW_AND_OLD_IMAGES for the local replicator "
                             "(the plan declares no stream)")
            name = request["TableName"]
            existing = _describe_table(ddb, name)
            if existing is None:
                request["Tags"] = request.get("Tags", []) + [{"Key": URN_TAG, "Value": resource["urn"]}]
                ddb.create_table(**request)
            elif existing["KeySchema"] != request["KeySchema"]:
                # Reusing it would hide a key change that replaces the table in AWS (GOTCHAS T5).
                raise LocalAwsError(
                    f"{where}: table '{name}' already exists locally with key schema {existing['KeySchema']}, "
                    f"the plan asks for {request['KeySchema']}; tear the local stack down first"
                )
            description = _wait_active(ddb, name)
            ttl = ttl_request(inputs, resource=where)
            if ttl is not None:
                current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                # AWS rejects re-enabling TTL that is already on (moto does not); ask first.
                if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                    ddb.update_time_to_live(**ttl)
                notes.append(f"{resource['name']}: TTL on '{ttl['TimeToLiveSpecification']['AttributeName']}' is recorded; moto never expires items (P5)")
            pitr = pitr_request(inputs, resource=where)
            if pitr is not None:
                ddb.update_continuous_backups(**pitr)
            for replica_region in _replica_regions(inputs):
                # moto has no global tables (P5): each replica is a table of the same name in its
                # region, with the stack's key of that region (K1); stacks/local/replication.py
                # replicates between them from the streams.
                replica_key = _replica_key(resource, keys, replica_region)
                replica_ddb = aws.client("dynamodb", replica_region)
                replica_request = create_table_request(inputs, replica_key, resource=f"{where} replica in {replica_region}")
                replica_request["StreamSpecification"] = request["StreamSpecification"]
                if _describe_table(replica_ddb, name) is None:
                    replica_request["Tags"] = replica_request.get("Tags", []) + [{"Key": URN_TAG, "Value": f"{resource['urn']}@{replica_region}"}]
                    replica_ddb.create_table(**replica_request)
                replica_description = _wait_active(replica_ddb, name)
                if pitr is not None:
                    replica_ddb.update_continuous_backups(**pitr)
                replicas.setdefault(resource["name"], {})[replica_region] = LocalTable(
                    logical_name=resource["name"], name=name, arn=replica_description["TableArn"],
                    stream_arn=replica_description.get("LatestStreamArn"), region=replica_region,
                    kms_key_arn=(replica_description.get("SSEDescription") or {}).get("KMSMasterKeyArn"),
                )
            if replicas.get(resource["name"]):
                notes.append(f"{resource['name']}: replicas in {', '.join(replicas[resource['name']])} are local tables "
                             "kept in step by the local replicator (moto has no global tables, P5)")
            tables[resource["name"]] = LocalTable(
                logical_name=resource["name"],
                name=name,
                arn=description["TableArn"],
                stream_arn=description.get("LatestStreamArn"),
                region=region,
                kms_key_arn=(description.get("SSEDescription") or {}).get("KMSMasterKeyArn"),
            )

    return LocalStack(
        stack=str(plan.get("stack", "")),
        region=default_region,
        endpoint_url=aws.endpoint_url,
        tables=_frozen(tables),
        keys=_frozen(keys),
        aliases=_frozen(aliases),
        notes=tuple(notes),
        replicas=_frozen({n: _frozen(r) for n, r in replicas.items()}),
    )


def _replica_regions(table_inputs: Mapping[str, Any]) -> list[str]:
    replicas = table_inputs.get("replicas") or []
    if is_unknown(replicas):
        return []
    return [r["regionName"] for r in replicas if isinstance(r, Mapping) and not is_unknown(r.get("regionName"))]


def _replica_key(table: Mapping[str, Any], keys: Mapping[str, "LocalKey"], region: str) -> Optional[str]:
    """The key the plan gives the replica in `region`: a key its `replicas` input depends on, in that region."""
    urns = (table.get("propertyDependencies") or {}).get("replicas", [])
    found = [keys[u].arn for u in urns if u in keys and keys[u].region == region]
    if len(found) != 1:
        raise LocalAwsError(f"{_describe(table)}: the replica in {region} needs exactly one key of that region, found {len(found)} (K1)")
    return found[0]


@dataclass(frozen=True)
class Removed:
    """What teardown deleted: table names, alias names, and key ids scheduled for deletion."""

    tables: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


def teardown(aws: LocalAws, only: Optional[LocalStack] = None) -> Removed:
    """Delete what bootstrap created on this server (found by the URN tag), or only `only`'s resources.

    Tables are deleted; KMS keys cannot be deleted at once, so their aliases are deleted and the keys
    scheduled for deletion (PendingDeletion keys are ignored by a later bootstrap, which makes new ones).
    """
    replica_tables = [t for copies in only.replicas.values() for t in copies.values()] if only else []
    wanted_tables = {t.arn for t in [*only.tables.values(), *replica_tables]} if only else None
    wanted_keys = {k.key_id for k in only.keys.values()} if only else None
    regions = sorted({t.region for t in [*only.tables.values(), *replica_tables]} | {k.region for k in only.keys.values()}) if only else sorted(aws.regions)
    tables: list[str] = []
    aliases: list[str] = []
    keys: list[str] = []
    for region in regions:
        ddb = aws.client("dynamodb", region)
        for name in _paginate(ddb, "list_tables", "TableNames"):
            table = _describe_table(ddb, name)
            if table is None or (wanted_tables is not None and table["TableArn"] not in wanted_tables):
                continue
            tags = _paginate_tags(ddb, table["TableArn"])
            if URN_TAG not in tags:
                continue
            if table.get("DeletionProtectionEnabled"):
                ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
            ddb.delete_table(TableName=name)
            tables.append(name)
        kms = aws.client("kms", region)
        for entry in _paginate(kms, "list_keys", "Keys"):
            key_id = entry["KeyId"]
            if wanted_keys is not None and key_id not in wanted_keys:
                continue
            metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            if metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            if not any(t["TagKey"] == URN_TAG for t in kms.list_resource_tags(KeyId=key_id).get("Tags", [])):
                continue
            for alias in _paginate(kms, "list_aliases", "Aliases", KeyId=key_id):
                kms.delete_alias(AliasName=alias["AliasName"])
                aliases.append(alias["AliasName"])
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=KEY_DELETION_WINDOW_DAYS)
            keys.append(key_id)
    return Removed(tables=tuple(tables), aliases=tuple(aliases), keys=tuple(keys))


def _paginate_tags(ddb: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]
