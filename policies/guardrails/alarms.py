"""Operations: every resource the stack runs has its alarms, and every alarm notifies someone.

One stack rule, `operations-alarms-cover-every-resource`. Resources and alarms are joined by the
names CloudWatch uses (metric dimensions), which the program knows before deployment: a table's
`name` (TableName), its GSIs (GlobalSecondaryIndexName) and replicas (ReceivingRegion), a function's
`name` (FunctionName), a queue's `name` (QueueName), a stage's `stageName` with its REST API's
`name` (ApiName, Stage), a DAX cluster's `clusterName` (ClusterId). An alarm counts for a metric
whether it watches it directly or inside a metric math / anomaly detection query.

What each kind needs mirrors stacks/operations/spec.py ALARM_KINDS (kept equal by a test); this pack
imports nothing from the project. Unknown names or dimensions are judged after everything known
(advisory "can't run policy during preview"), as in the other stack rules.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import PolicyResource, ReportViolation

from .api import Stack, stack_rule
from .base import TABLE, rule
from .props import get_prop

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "aws:lambda/function:Function"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
QUEUE = "aws:sqs/queue:Queue"
STAGE = "aws:apigateway/stage:Stage"
REST_API = "aws:apigateway/restApi:RestApi"
DAX_CLUSTER = "aws:dax/cluster:Cluster"

# Per resource kind: the (namespace, metric) pairs that must each have an alarm.
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "table": (("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents"), ("AWS/DynamoDB", "SystemErrors")),
    "index": (("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents")),
    "function": (("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles")),
    "streamFunction": (("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/Lambda", "IteratorAge")),
    "failureQueue": (("AWS/SQS", "ApproximateNumberOfMessagesVisible"),),
    "apiStage": (("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "Latency")),
    "replica": (("AWS/DynamoDB", "ReplicationLatency"),),
    "daxCluster": (("AWS/DAX", "CPUUtilization"), ("AWS/DAX", "EvictedSize"), ("AWS/DAX", "ThrottledRequestCount")),
}

Watched = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, metric, dimensions


def _known_str(stack: Stack, resource: PolicyResource, path: str) -> str | None:
    prop = stack.read(resource, path)
    return prop.value if prop.known and isinstance(prop.value, str) else None


def _watched(stack: Stack, alarm: PolicyResource) -> tuple[list[Watched], bool]:
    """What one alarm watches, and whether it notifies anyone (alarmActions not empty)."""
    found: list[Watched] = []
    prefixes = [""]
    queries = stack.read(alarm, "metricQueries")
    if queries.known and _is_sequence(queries.value):
        prefixes += [f"metricQueries.{i}.metric." for i in range(len(queries.value))]
    for prefix in prefixes:
        namespace = stack.read(alarm, f"{prefix}namespace")
        metric = stack.read(alarm, f"{prefix}metricName")
        dimensions = stack.read(alarm, f"{prefix}dimensions")
        if namespace.known and metric.known and isinstance(namespace.value, str) and isinstance(metric.value, str):
            dims = dimensions.value if dimensions.known and dimensions.value else {}
            if any(not isinstance(v, str) for v in dict(dims).values()):
                stack.defer(alarm, f"{prefix}dimensions")
                continue
            found.append((namespace.value, metric.value, frozenset(dict(dims).items())))
    actions = stack.read(alarm, "alarmActions")
    notifies = actions.unknown or (actions.known and bool(actions.value))
    return found, notifies


def _monitored(stack: Stack) -> list[tuple[str, str, PolicyResource, dict[str, str]]]:
    """(kind, shown name, resource, dimensions) of everything that must have alarms."""
    items: list[tuple[str, str, PolicyResource, dict[str, str]]] = []
    for table in stack.of(TABLE):
        name = _known_str(stack, table, "name")
        if name is None:
            continue
        items.append(("table", name, table, {"TableName": name}))
        for kind, path, field, dimension in (("index", "globalSecondaryIndexes", "name", "GlobalSecondaryIndexName"),
                                             ("replica", "replicas", "regionName", "ReceivingRegion")):
            entries = stack.read(table, path)
            if entries.known and _is_sequence(entries.value):
                for i in range(len(entries.value)):
                    value = _known_str(stack, table, f"{path}.{i}.{field}")
                    if value is not None:
                        items.append((kind, f"{name} {dimension} {value}", table, {"TableName": name, dimension: value}))
    # A mapping names its function by ARN, computed from the function (unknown in preview): joined
    # by the dependency, or by a known value equal to the function's name.
    streamed = {urn for m in stack.of(EVENT_SOURCE_MAPPING) for urn in _dependencies(m, "functionName")}
    stream_names = {get_prop(m.props, "functionName").value for m in stack.of(EVENT_SOURCE_MAPPING)
                    if get_prop(m.props, "functionName").known}
    for function in stack.of(FUNCTION):
        name = _known_str(stack, function, "name")
        if name is None:
            continue
        kind = "streamFunction" if function.urn in streamed or name in stream_names else "function"
        items.append((kind, name, function, {"FunctionName": name}))
    for queue in stack.of(QUEUE):
        name = _known_str(stack, queue, "name")
        if name is not None:
            items.append(("failureQueue", name, queue, {"QueueName": name}))
    apis = {api.urn: api for api in stack.of(REST_API)}
    for stage in stack.of(STAGE):
        stage_name = _known_str(stack, stage, "stageName")
        api = next((apis[u] for u in _dependencies(stage, "restApi") if u in apis), None)
        api_name = _known_str(stack, api, "name") if api is not None else None
        if api is None:
            stack.defer(stage, "restApi")
        if stage_name is not None and api_name is not None:
            items.append(("apiStage", f"{api_name} stage {stage_name}", stage, {"ApiName": api_name, "Stage": stage_name}))
    for cluster in stack.of(DAX_CLUSTER):
        name = _known_str(stack, cluster, "clusterName")
        if name is not None:
            items.append(("daxCluster", name, cluster, {"ClusterId": name}))
    return items


def _is_sequence(value: object) -> bool:
    """A list as the engine hands it over (its proxies are sequences, not always `list`)."""
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes, Mapping))


def _dependencies(resource: PolicyResource, key: str) -> list[str]:
    return [d.urn for d in resource.property_dependencies.get(key, [])]


def _judge(stack: Stack, report_violation: ReportViolation) -> None:
    watched: set[Watched] = set()
    undecided_before = len(stack.undecided)
    for alarm in stack.of(ALARM):
        metrics, notifies = _watched(stack, alarm)
        if not notifies:
            report_violation(f"alarm {alarm.name} has no alarmActions: it changes state and tells nobody; send it to "
                             "the stack's alarm topic", alarm.urn)
        watched.update(metrics)
    alarms_undecided = len(stack.undecided) > undecided_before
    for kind, shown, resource, dimensions in _monitored(stack):
        for namespace, metric in REQUIRED[kind]:
            # Extra dimensions on the alarm are allowed (SystemErrors is per Operation); those of
            # the resource must all be there, and nothing of another resource.
            if not any(ns == namespace and m == metric and _covers(dims, dimensions, kind)
                       for ns, m, dims in watched):
                if alarms_undecided:
                    # An alarm whose metric is not known yet may be this one: undecided, not a violation.
                    stack.defer(resource, f"alarm on {namespace} {metric}")
                    continue
                where = ", ".join(f"{k}={v}" for k, v in dimensions.items())
                report_violation(
                    f"{kind} {shown} has no alarm on {namespace} {metric} ({where}): every {kind} gets the alarms "
                    "declared for its kind (stacks/operations/spec.py ALARM_KINDS)", resource.urn)


def _covers(alarm_dims: frozenset[tuple[str, str]], wanted: dict[str, str], kind: str) -> bool:
    dims = dict(alarm_dims)
    if any(dims.get(k) != v for k, v in wanted.items()):
        return False
    extra = set(dims) - set(wanted)
    # A table's alarm must be the table's, not one of its indexes or replicas.
    return not (extra & {"GlobalSecondaryIndexName", "ReceivingRegion"})


ALARM_POLICIES = [
    rule(
        "operations-alarms-cover-every-resource",
        "Every table, GSI, replica, function, failure queue, API stage and DAX cluster has the alarms "
        "declared for its kind, and every alarm has actions.",
        stack_rule(_judge),
        stack=True,
    ),
]
