"""Alarms and the dashboard, resolved from one declaration per resource kind (pure, no Pulumi).

`inventory(...)` lists what the stack runs as `Monitored` entries (kind, logical name, metric
dimensions). `ALARM_KINDS` says, per resource kind, which alarms it gets; `WIDGETS` which graphs.
Adding a resource kind (Global Tables replicas, DAX clusters) is one entry in each, plus its rows in
the inventory: the alarms, the dashboard and the coverage guardrail follow.

Missing data is decided per alarm (`treat_missing`), and said why next to it: most AWS metrics here
are published only when something happens (a throttle, an error, a batch read), so "no data" means
"nothing happened" and must not page anyone (`notBreaching`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from .model import AlarmSettings, Thresholds

# Operations whose SystemErrors are summed per table. SystemErrors is published per TableName and
# Operation; a metric math alarm may reference at most 10 metrics (fact G3), and SEARCH is not
# allowed in alarms: these are the ten the stack's callers use (streams read with GetRecords).
SYSTEM_ERROR_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
                           "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "GetRecords")
MAX_ALARM_METRICS = 10  # G3


@dataclass(frozen=True)
class Monitored:
    """One resource the stack runs, as CloudWatch knows it."""

    kind: str  # table | index | function | streamFunction | failureQueue | apiStage | replica | daxCluster
    name: str  # logical name, unique within the kind ("products", "products.byCategory", "v1")
    dimensions: tuple[tuple[str, str], ...]
    title: str  # shown on the dashboard


@dataclass(frozen=True)
class MetricQuery:
    id: str
    namespace: str = ""
    metric: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str = ""
    expression: str = ""
    label: str = ""
    returns: bool = False


@dataclass(frozen=True)
class AlarmKind:
    id: str
    namespace: str
    metric: str
    description: str
    comparison: str
    threshold: Callable[[Thresholds], float]
    treat_missing: str
    statistic: str = "Sum"  # or an extended statistic (p99)
    # Metric math: a function of the resource's dimensions giving the queries (one returns data).
    queries: Optional[Callable[[Monitored, AlarmSettings], list[MetricQuery]]] = None
    # Anomaly detection: the band's width; the alarm compares against ANOMALY_DETECTION_BAND.
    anomaly_band: Optional[Callable[[Thresholds], float]] = None
    # One breaching period is enough (1 of 1) instead of the stack's M of N.
    immediate: bool = False


@dataclass(frozen=True)
class AlarmSpec:
    """Everything an aws.cloudwatch.MetricAlarm needs except the topic ARN."""

    name: str
    kind: str
    resource: str
    alarm: str
    description: str
    comparison: str
    threshold: Optional[float]
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    namespace: str = ""
    metric_name: str = ""
    dimensions: Mapping[str, str] = field(default_factory=dict)
    period: int = 60
    statistic: str = ""
    extended_statistic: str = ""
    queries: tuple[MetricQuery, ...] = ()
    threshold_metric_id: str = ""


def _system_errors(resource: Monitored, settings: AlarmSettings) -> list[MetricQuery]:
    metrics = [MetricQuery(id=f"m{i}", namespace="AWS/DynamoDB", metric="SystemErrors",
                           dimensions=(*resource.dimensions, ("Operation", operation)), stat="Sum")
               for i, operation in enumerate(SYSTEM_ERROR_OPERATIONS, start=1)]
    # FILL(..., 0): an operation without errors publishes nothing in that period.
    total = MetricQuery(id="errors", expression=f"SUM(FILL([{', '.join(m.id for m in metrics)}], 0))",
                        label="SystemErrors, all operations", returns=True)
    return [*metrics, total]


def _api_5xx_rate(resource: Monitored, settings: AlarmSettings) -> list[MetricQuery]:
    t = settings.thresholds
    errors = MetricQuery(id="errors", namespace="AWS/ApiGateway", metric="5XXError", dimensions=resource.dimensions, stat="Sum")
    count = MetricQuery(id="requests", namespace="AWS/ApiGateway", metric="Count", dimensions=resource.dimensions, stat="Sum")
    # A rate, not a count: 5 errors are an incident at 10 requests and noise at 100,000. Below the
    # minimum request count the rate is not judged (0): one failed request of two is not 50 %.
    rate = MetricQuery(id="rate", expression=(
        f"IF(FILL(requests, 0) >= {t.api5xxMinimumRequests}, 100 * FILL(errors, 0) / FILL(requests, 1), 0)"),
        label="5XX % of requests", returns=True)
    return [errors, count, rate]


def _dax_evictions(resource: Monitored, settings: AlarmSettings) -> list[MetricQuery]:
    evicted = MetricQuery(id="evicted", namespace="AWS/DAX", metric="EvictedSize", dimensions=resource.dimensions,
                          stat="Sum", returns=True)
    band = MetricQuery(id="band", expression=f"ANOMALY_DETECTION_BAND(evicted, {settings.thresholds.daxEvictionBand})",
                       label="expected EvictedSize", returns=True)
    return [evicted, band]


NOT_BREACHING = "notBreaching"
GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
GREATER = "GreaterThanThreshold"

# The alarms of each resource kind. treat_missing is chosen per alarm (see each `why`).
ALARM_KINDS: dict[str, list[AlarmKind]] = {
    "table": [
        # Throttle events are published only when a request is throttled: no data = none throttled.
        AlarmKind("ReadThrottleEvents", "AWS/DynamoDB", "ReadThrottleEvents", "reads throttled (capacity or a hot partition)",
                  GREATER_OR_EQUAL, lambda t: t.tableThrottleEvents, NOT_BREACHING),
        AlarmKind("WriteThrottleEvents", "AWS/DynamoDB", "WriteThrottleEvents", "writes throttled (capacity or a hot partition)",
                  GREATER_OR_EQUAL, lambda t: t.tableThrottleEvents, NOT_BREACHING),
        # Per operation in CloudWatch; summed with metric math. No requests, no errors: notBreaching.
        AlarmKind("SystemErrors", "AWS/DynamoDB", "SystemErrors", "DynamoDB answered HTTP 500 (all operations)",
                  GREATER_OR_EQUAL, lambda t: t.tableSystemErrors, NOT_BREACHING, queries=_system_errors),
    ],
    "index": [
        # A GSI throttles on its own capacity; its writes throttle the table's writes (back pressure).
        AlarmKind("ReadThrottleEvents", "AWS/DynamoDB", "ReadThrottleEvents", "index reads throttled",
                  GREATER_OR_EQUAL, lambda t: t.tableThrottleEvents, NOT_BREACHING),
        AlarmKind("WriteThrottleEvents", "AWS/DynamoDB", "WriteThrottleEvents", "index writes throttled (throttles the table's writes too)",
                  GREATER_OR_EQUAL, lambda t: t.tableThrottleEvents, NOT_BREACHING),
    ],
    "function": [
        # Errors and Throttles are published with invocations: an idle function has no data.
        AlarmKind("Errors", "AWS/Lambda", "Errors", "invocations failed", GREATER_OR_EQUAL, lambda t: t.functionErrors, NOT_BREACHING),
        AlarmKind("Throttles", "AWS/Lambda", "Throttles", "invocations throttled (concurrency)", GREATER_OR_EQUAL,
                  lambda t: t.functionThrottles, NOT_BREACHING),
    ],
    "streamFunction": [
        AlarmKind("Errors", "AWS/Lambda", "Errors", "batches failed (retried, then metadata to the failure queue)",
                  GREATER_OR_EQUAL, lambda t: t.functionErrors, NOT_BREACHING),
        AlarmKind("Throttles", "AWS/Lambda", "Throttles", "invocations throttled (concurrency)", GREATER_OR_EQUAL,
                  lambda t: t.functionThrottles, NOT_BREACHING),
        # IteratorAge comes with each batch read; an idle stream has none (nothing is late). A
        # stalled mapping shows as Errors and as failure-queue messages, which alarm on their own.
        AlarmKind("IteratorAge", "AWS/Lambda", "IteratorAge", "the stream is read late (records wait)", GREATER_OR_EQUAL,
                  lambda t: t.iteratorAgeSeconds * 1000, NOT_BREACHING, statistic="Maximum"),
    ],
    "failureQueue": [
        # Any message is an incident: a batch the function gave up on. SQS stops publishing the
        # metrics of a queue idle for hours, and an idle queue is an empty one: notBreaching.
        AlarmKind("MessagesVisible", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                  "failed stream batches waiting for replay (./blueprint replay)", GREATER, lambda t: 0, NOT_BREACHING,
                  statistic="Maximum", immediate=True),
    ],
    "apiStage": [
        AlarmKind("5XXRate", "AWS/ApiGateway", "5XXError", "share of requests answered 5XX", GREATER_OR_EQUAL,
                  lambda t: t.api5xxRatePercent, NOT_BREACHING, queries=_api_5xx_rate),
        # No requests, no latency: notBreaching.
        AlarmKind("LatencyP99", "AWS/ApiGateway", "Latency", "p99 latency of the stage", GREATER,
                  lambda t: t.apiLatencyP99Ms, NOT_BREACHING, statistic="p99"),
    ],
    "replica": [
        # Published while writes replicate; an idle table replicates nothing (T14).
        AlarmKind("ReplicationLatency", "AWS/DynamoDB", "ReplicationLatency", "writes reach this replica region late",
                  GREATER, lambda t: t.replicationLatencyMs, NOT_BREACHING, statistic="Average"),
    ],
    "daxCluster": [
        # DAX publishes a metric only when it is non-zero (D12): missing data is notBreaching.
        AlarmKind("CPUUtilization", "AWS/DAX", "CPUUtilization", "cluster CPU high", GREATER,
                  lambda t: t.daxCpuPercent, NOT_BREACHING, statistic="Average"),
        AlarmKind("ThrottledRequestCount", "AWS/DAX", "ThrottledRequestCount", "requests throttled by the cluster",
                  GREATER_OR_EQUAL, lambda t: t.daxThrottledRequests, NOT_BREACHING),
        # Evictions depend on the working set and node size: a fixed byte count means nothing, a
        # departure from the learned pattern does (anomaly detection).
        AlarmKind("EvictedSize", "AWS/DAX", "EvictedSize", "evictions above their usual band (cache too small?)",
                  "GreaterThanUpperThreshold", lambda t: 0, NOT_BREACHING, queries=_dax_evictions,
                  anomaly_band=lambda t: t.daxEvictionBand),
    ],
}

# Which resource kinds the coverage guardrail and the dashboard know; every kind has alarms.
KINDS = tuple(ALARM_KINDS)


def inventory(*, project: str, stack: str, tables: Mapping[str, Sequence[str]], functions: Mapping[str, bool],
              api: Optional[tuple[str, str]], replicas: Mapping[str, Sequence[str]] = {},
              dax_clusters: Sequence[str] = ()) -> list[Monitored]:
    """What the stack runs. tables: logical name -> GSI names; functions: logical name -> stream-invoked;
    api: (API name, stage) or None; replicas: table -> replica regions; dax_clusters: cluster names."""
    from ..naming import function_name, physical_table_name

    items: list[Monitored] = []
    for table in sorted(tables):
        physical = physical_table_name(project, stack, table)
        items.append(Monitored("table", table, (("TableName", physical),), f"table {table}"))
        for index in sorted(tables[table]):
            items.append(Monitored("index", f"{table}.{index}", (("TableName", physical), ("GlobalSecondaryIndexName", index)),
                                   f"index {table}.{index}"))
        for region in sorted(replicas.get(table, ())):
            items.append(Monitored("replica", f"{table}.{region}", (("TableName", physical), ("ReceivingRegion", region)),
                                   f"replica {table} in {region}"))
    for fn in sorted(functions):
        physical = function_name(project, stack, fn)
        streamed = functions[fn]
        items.append(Monitored("streamFunction" if streamed else "function", fn, (("FunctionName", physical),), f"function {fn}"))
        if streamed:
            items.append(Monitored("failureQueue", fn, (("QueueName", f"{physical}-failures"),), f"failure queue of {fn}"))
    if api is not None:
        name, stage = api
        items.append(Monitored("apiStage", stage, (("ApiName", name), ("Stage", stage)), f"API {name} stage {stage}"))
    for cluster in sorted(dax_clusters):
        items.append(Monitored("daxCluster", cluster, (("ClusterId", cluster),), f"DAX cluster {cluster}"))
    return items


def alarm_name(project: str, stack: str, resource: Monitored, alarm: str) -> str:
    return f"{project}-{stack}-{resource.kind}-{resource.name}-{alarm}"


def alarm_specs(project: str, stack: str, resources: Sequence[Monitored], settings: AlarmSettings) -> list[AlarmSpec]:
    """Every alarm of every resource, in inventory order."""
    specs = []
    for resource in resources:
        for kind in ALARM_KINDS[resource.kind]:
            common = dict(
                name=alarm_name(project, stack, resource, kind.id), kind=resource.kind, resource=resource.name,
                alarm=kind.id, description=f"{resource.title}: {kind.description}", comparison=kind.comparison,
                evaluation_periods=1 if kind.immediate else settings.evaluationPeriods,
                datapoints_to_alarm=1 if kind.immediate else settings.datapointsToAlarm,
                treat_missing_data=kind.treat_missing,
            )
            if kind.queries is not None:
                queries = tuple(kind.queries(resource, settings))
                assert sum(1 for q in queries if q.metric) <= MAX_ALARM_METRICS, kind.id  # G3
                band = kind.anomaly_band is not None
                specs.append(AlarmSpec(**common, threshold=None if band else float(kind.threshold(settings.thresholds)),
                                       period=settings.periodSeconds, queries=queries,
                                       threshold_metric_id="band" if band else ""))
                continue
            extended = kind.statistic.startswith("p")
            specs.append(AlarmSpec(
                **common, threshold=float(kind.threshold(settings.thresholds)), namespace=kind.namespace,
                metric_name=kind.metric, dimensions=dict(resource.dimensions), period=settings.periodSeconds,
                statistic="" if extended else kind.statistic, extended_statistic=kind.statistic if extended else "",
            ))
    return specs


def metric_alarm_args(spec: AlarmSpec, topic_arn: Any) -> dict[str, Any]:
    """aws.cloudwatch.MetricAlarm arguments (snake case, as the provider takes them)."""
    args: dict[str, Any] = {
        "name": spec.name,
        "alarm_description": spec.description,
        "comparison_operator": spec.comparison,
        "evaluation_periods": spec.evaluation_periods,
        "datapoints_to_alarm": spec.datapoints_to_alarm,
        "treat_missing_data": spec.treat_missing_data,
        "alarm_actions": [topic_arn],
        "ok_actions": [topic_arn],  # the incident channel also learns when it is over
    }
    if spec.threshold is not None:
        args["threshold"] = spec.threshold
    if spec.queries:
        args["metric_queries"] = [_query_args(q, spec.period) for q in spec.queries]
        if spec.threshold_metric_id:
            args["threshold_metric_id"] = spec.threshold_metric_id
        return args
    args.update(namespace=spec.namespace, metric_name=spec.metric_name, dimensions=dict(spec.dimensions), period=spec.period)
    if spec.extended_statistic:
        args["extended_statistic"] = spec.extended_statistic
    else:
        args["statistic"] = spec.statistic
    return args


def _query_args(query: MetricQuery, period: int) -> dict[str, Any]:
    if query.expression:
        return {"id": query.id, "expression": query.expression, "label": query.label, "return_data": query.returns}
    return {"id": query.id, "return_data": query.returns,
            "metric": {"namespace": query.namespace, "metric_name": query.metric, "dimensions": dict(query.dimensions),
                       "period": period, "stat": query.stat}}


# --------------------------------------------------------------------------------------------------
# The dashboard: one row per resource, graphs per kind, the alarms' thresholds drawn on them
# --------------------------------------------------------------------------------------------------

# Per kind: (title, [(namespace, metric, stat)]) graphs.
WIDGETS: dict[str, list[tuple[str, list[tuple[str, str, str]]]]] = {
    "table": [("throttle events", [("AWS/DynamoDB", "ReadThrottleEvents", "Sum"), ("AWS/DynamoDB", "WriteThrottleEvents", "Sum")]),
              ("consumed capacity", [("AWS/DynamoDB", "ConsumedReadCapacityUnits", "Sum"), ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "Sum")])],
    "index": [("throttle events", [("AWS/DynamoDB", "ReadThrottleEvents", "Sum"), ("AWS/DynamoDB", "WriteThrottleEvents", "Sum")]),
              ("consumed capacity", [("AWS/DynamoDB", "ConsumedReadCapacityUnits", "Sum"), ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "Sum")])],
    "function": [("invocations and errors", [("AWS/Lambda", "Invocations", "Sum"), ("AWS/Lambda", "Errors", "Sum"), ("AWS/Lambda", "Throttles", "Sum")]),
                 ("duration", [("AWS/Lambda", "Duration", "p99"), ("AWS/Lambda", "Duration", "Average")])],
    "streamFunction": [("invocations and errors", [("AWS/Lambda", "Invocations", "Sum"), ("AWS/Lambda", "Errors", "Sum"), ("AWS/Lambda", "Throttles", "Sum")]),
                       ("iterator age (ms)", [("AWS/Lambda", "IteratorAge", "Maximum")])],
    "failureQueue": [("messages waiting for replay", [("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")])],
    "apiStage": [("requests and errors", [("AWS/ApiGateway", "Count", "Sum"), ("AWS/ApiGateway", "4XXError", "Sum"), ("AWS/ApiGateway", "5XXError", "Sum")]),
                 ("latency (ms)", [("AWS/ApiGateway", "Latency", "p99"), ("AWS/ApiGateway", "IntegrationLatency", "p99")])],
    "replica": [("replication latency (ms)", [("AWS/DynamoDB", "ReplicationLatency", "Average"), ("AWS/DynamoDB", "ReplicationLatency", "Maximum")])],
    "daxCluster": [("CPU %", [("AWS/DAX", "CPUUtilization", "Average")]),
                   ("evictions and throttles", [("AWS/DAX", "EvictedSize", "Sum"), ("AWS/DAX", "ThrottledRequestCount", "Sum")])],
}
WIDTH, HEIGHT, COLUMNS = 8, 6, 24


def dashboard_body(region: str, resources: Sequence[Monitored], alarms: Sequence[AlarmSpec], period: int) -> dict[str, Any]:
    """The CloudWatch dashboard body (a dict; serialise with pulumi.Output.json_dumps): a text header
    per resource kind, then one graph per WIDGETS entry of each resource, alarms' thresholds drawn
    as horizontal annotations on the graph of their metric."""
    widgets: list[dict[str, Any]] = []
    y = 0
    thresholds = {(a.kind, a.resource, a.metric_name): a.threshold for a in alarms if a.metric_name and a.threshold is not None}
    for kind in KINDS:
        of_kind = [r for r in resources if r.kind == kind]
        if not of_kind:
            continue
        widgets.append({"type": "text", "x": 0, "y": y, "width": COLUMNS, "height": 1,
                        "properties": {"markdown": f"## {_KIND_TITLES[kind]}"}})
        y += 1
        x = 0
        for resource in of_kind:
            for title, metrics in WIDGETS[kind]:
                if x + WIDTH > COLUMNS:
                    x, y = 0, y + HEIGHT
                lines = [[namespace, metric, *[part for pair in resource.dimensions for part in pair],
                          {"stat": stat, "label": f"{metric} {stat}"}] for namespace, metric, stat in metrics]
                annotations = [{"label": f"alarm: {metric}", "value": thresholds[(kind, resource.name, metric)]}
                               for _, metric, _ in metrics if (kind, resource.name, metric) in thresholds]
                properties: dict[str, Any] = {"title": f"{resource.title}: {title}", "region": region, "view": "timeSeries",
                                              "stacked": False, "period": period, "metrics": lines}
                if annotations:
                    properties["annotations"] = {"horizontal": annotations}
                widgets.append({"type": "metric", "x": x, "y": y, "width": WIDTH, "height": HEIGHT, "properties": properties})
                x += WIDTH
        y += HEIGHT
    return {"widgets": widgets}


_KIND_TITLES = {"table": "Tables", "index": "Global secondary indexes", "function": "Functions (API)",
                "streamFunction": "Functions (streams)", "failureQueue": "Failure queues", "apiStage": "API",
                "replica": "Global Tables replicas", "daxCluster": "DAX clusters"}
