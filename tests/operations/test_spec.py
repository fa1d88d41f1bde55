"""stacks/operations/spec: alarms and the dashboard resolved from the declarations, pure."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from stacks.keys.policy import ops_key_policy
from stacks.operations.model import AlarmSettings, Subscription
from stacks.operations.spec import (
    ALARM_KINDS, MAX_ALARM_METRICS, WIDGETS, alarm_specs, dashboard_body, inventory, metric_alarm_args,
)

SHOP = dict(project="ddb-blueprint", stack="prod",
            tables={"products": ["byCategory"], "orders": []},
            functions={"productEvents": True, "placeOrder": False},
            api=("ddb-blueprint-prod-shop", "v1"))


def by_name(specs):
    return {s.name: s for s in specs}


def test_every_resource_gets_the_alarms_of_its_kind():
    resources = inventory(**SHOP)
    specs = alarm_specs("ddb-blueprint", "prod", resources, AlarmSettings())
    assert sorted((r.kind, r.name) for r in resources) == [
        ("apiStage", "v1"), ("failureQueue", "productEvents"), ("function", "placeOrder"), ("index", "products.byCategory"),
        ("streamFunction", "productEvents"), ("table", "orders"), ("table", "products")]
    assert len(specs) == sum(len(ALARM_KINDS[r.kind]) for r in resources) == 3 + 3 + 2 + 2 + 3 + 1 + 2
    names = by_name(specs)
    assert names["ddb-blueprint-prod-streamFunction-productEvents-IteratorAge"].dimensions == {"FunctionName": "ddb-blueprint-prod-productEvents"}
    assert names["ddb-blueprint-prod-index-products.byCategory-WriteThrottleEvents"].dimensions == {
        "TableName": "ddb-blueprint-prod-products", "GlobalSecondaryIndexName": "byCategory"}
    # An API-invoked function has no stream, so no IteratorAge and no failure queue.
    assert not any(s.resource == "placeOrder" and s.alarm == "IteratorAge" for s in specs)


def test_missing_data_is_a_deliberate_choice_on_every_alarm():
    resources = inventory(**SHOP, replicas={"products": ["eu-west-1"]}, dax_clusters=["shop-cache"])
    for spec in alarm_specs("p", "s", resources, AlarmSettings()):
        assert spec.treat_missing_data in ("notBreaching", "breaching", "ignore", "missing"), spec.name
        assert metric_alarm_args(spec, "arn:topic")["treat_missing_data"] == spec.treat_missing_data


def test_thresholds_and_evaluation_come_from_the_stack_settings():
    settings = AlarmSettings(periodSeconds=300, evaluationPeriods=4, datapointsToAlarm=2,
                             thresholds={"iteratorAgeSeconds": 30, "apiLatencyP99Ms": 800, "api5xxRatePercent": 2.5})
    names = by_name(alarm_specs("ddb-blueprint", "prod", inventory(**SHOP), settings))
    age = names["ddb-blueprint-prod-streamFunction-productEvents-IteratorAge"]
    assert (age.threshold, age.period, age.evaluation_periods, age.datapoints_to_alarm, age.statistic) == (30_000, 300, 4, 2, "Maximum")
    latency = metric_alarm_args(names["ddb-blueprint-prod-apiStage-v1-LatencyP99"], "arn:topic")
    assert (latency["threshold"], latency["extended_statistic"]) == (800, "p99") and "statistic" not in latency
    assert names["ddb-blueprint-prod-apiStage-v1-5XXRate"].threshold == 2.5


def test_any_message_in_a_failure_queue_alarms_at_once():
    queue = by_name(alarm_specs("ddb-blueprint", "prod", inventory(**SHOP), AlarmSettings()))[
        "ddb-blueprint-prod-failureQueue-productEvents-MessagesVisible"]
    assert (queue.comparison, queue.threshold, queue.evaluation_periods, queue.datapoints_to_alarm) == ("GreaterThanThreshold", 0, 1, 1)
    assert queue.dimensions == {"QueueName": "ddb-blueprint-prod-productEvents-failures"}


def test_api_5xx_is_a_rate_by_metric_math_judged_only_above_a_request_minimum():
    spec = by_name(alarm_specs("ddb-blueprint", "prod", inventory(**SHOP), AlarmSettings()))["ddb-blueprint-prod-apiStage-v1-5XXRate"]
    args = metric_alarm_args(spec, "arn:topic")
    assert "metric_name" not in args and "namespace" not in args
    [returned] = [q for q in args["metric_queries"] if q["return_data"]]
    assert returned["expression"] == "IF(FILL(requests, 0) >= 20, 100 * FILL(errors, 0) / FILL(requests, 1), 0)"
    metrics = {q["metric"]["metric_name"] for q in args["metric_queries"] if "metric" in q}
    assert metrics == {"5XXError", "Count"}


def test_table_system_errors_sum_every_operation_within_the_metric_math_limit():  # G3
    spec = by_name(alarm_specs("ddb-blueprint", "prod", inventory(**SHOP), AlarmSettings()))["ddb-blueprint-prod-table-orders-SystemErrors"]
    metrics = [q for q in spec.queries if q.metric]
    assert len(metrics) == MAX_ALARM_METRICS == 10
    assert {dict(q.dimensions)["Operation"] for q in metrics} >= {"GetItem", "Query", "TransactWriteItems", "GetRecords"}
    assert all(dict(q.dimensions)["TableName"] == "ddb-blueprint-prod-orders" for q in metrics)


def test_replicas_and_dax_clusters_get_alarms_only_when_they_exist():  # T14, D12
    plain = alarm_specs("p", "s", inventory(**SHOP), AlarmSettings())
    assert not any(s.kind in ("replica", "daxCluster") for s in plain)
    grown = by_name(alarm_specs("p", "s", inventory(**SHOP, replicas={"products": ["eu-west-1", "us-west-2"]},
                                                     dax_clusters=["shop-cache"]), AlarmSettings()))
    replica = grown["p-s-replica-products.eu-west-1-ReplicationLatency"]
    assert replica.dimensions == {"TableName": "ddb-blueprint-prod-products", "ReceivingRegion": "eu-west-1"}
    assert "p-s-replica-products.us-west-2-ReplicationLatency" in grown
    assert {s.alarm for s in grown.values() if s.kind == "daxCluster"} == {"CPUUtilization", "ThrottledRequestCount", "EvictedSize"}
    assert all(s.treat_missing_data == "notBreaching" for s in grown.values() if s.kind == "daxCluster")  # D12


def test_dax_evictions_use_anomaly_detection_not_a_fixed_threshold():
    spec = by_name(alarm_specs("p", "s", inventory(**SHOP, dax_clusters=["c1"]), AlarmSettings()))["p-s-daxCluster-c1-EvictedSize"]
    args = metric_alarm_args(spec, "arn:topic")
    assert args["comparison_operator"] == "GreaterThanUpperThreshold" and args["threshold_metric_id"] == "band"
    assert "threshold" not in args
    assert any(q.get("expression") == "ANOMALY_DETECTION_BAND(evicted, 3.0)" for q in args["metric_queries"])


def test_every_alarm_notifies_the_topic_and_says_when_it_is_over():
    for spec in alarm_specs("p", "s", inventory(**SHOP), AlarmSettings()):
        args = metric_alarm_args(spec, "arn:topic")
        assert args["alarm_actions"] == args["ok_actions"] == ["arn:topic"]


def test_the_dashboard_is_a_pure_function_of_the_declarations():
    resources = inventory(**SHOP)
    specs = alarm_specs("p", "s", resources, AlarmSettings())
    body = dashboard_body("us-east-1", resources, specs, 60)
    assert body == dashboard_body("us-east-1", resources, specs, 60)
    json.dumps(body)  # serialisable as it is
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    assert len(graphs) == sum(len(WIDGETS[r.kind]) for r in resources)
    titles = {w["properties"]["title"] for w in graphs}
    assert "function placeOrder: invocations and errors" in titles and "failure queue of productEvents: messages waiting for replay" in titles
    age = next(w for w in graphs if w["properties"]["title"] == "function productEvents: iterator age (ms)")
    assert age["properties"]["metrics"] == [["AWS/Lambda", "IteratorAge", "FunctionName", "ddb-blueprint-prod-productEvents",
                                             {"stat": "Maximum", "label": "IteratorAge Maximum"}]]
    assert age["properties"]["annotations"] == {"horizontal": [{"label": "alarm: IteratorAge", "value": 300_000}]}
    # Widgets stay inside the 24-column grid and never overlap.
    cells = set()
    for w in body["widgets"]:
        assert w["x"] + w["width"] <= 24
        for dx in range(w["width"]):
            for dy in range(w["height"]):
                assert (w["x"] + dx, w["y"] + dy) not in cells
                cells.add((w["x"] + dx, w["y"] + dy))


def test_the_dashboard_grows_with_replicas_and_dax():
    resources = inventory(**SHOP, replicas={"products": ["eu-west-1"]}, dax_clusters=["c1"])
    body = dashboard_body("us-east-1", resources, alarm_specs("p", "s", resources, AlarmSettings()), 60)
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert "## Global Tables replicas" in headers and "## DAX clusters" in headers


@pytest.mark.parametrize("settings, message", [
    ({"datapointsToAlarm": 6, "evaluationPeriods": 5}, "exceeds evaluationPeriods"),
    ({"subscriptions": [{"protocol": "email", "endpoint": "oncall.example.com"}]}, "not an email address"),
    ({"subscriptions": [{"protocol": "https", "endpoint": "http://hooks.example.com/x"}]}, "not an https:// URL"),
    ({"subscriptions": [{"protocol": "sms", "endpoint": "+15555550100"}]}, "'email' or 'https'"),
    ({"subscriptions": [{"protocol": "email", "endpoint": "a@example.com"}, {"protocol": "email", "endpoint": "a@example.com"}]}, "listed twice"),
    ({"thresholds": {"apiLatencyP99Ms": 30_000}}, "less than or equal to 29000"),
    ({"thresholds": {"iteratorAge": 5}}, "Extra inputs"),
    ({"periodSeconds": 30}, "60 or 300"),
])
def test_alarm_settings_refuse_what_cloudwatch_or_sns_would(settings, message):
    with pytest.raises(ValidationError) as raised:
        AlarmSettings(**settings)
    assert message in str(raised.value)


def test_a_valid_subscription_list():
    assert AlarmSettings(subscriptions=[{"protocol": "email", "endpoint": "oncall@example.com"},
                                        {"protocol": "https", "endpoint": "https://events.example.com/hook"}]).subscriptions[1] == \
        Subscription(protocol="https", endpoint="https://events.example.com/hook")


def test_cloudwatch_may_use_the_ops_key_only_for_this_accounts_alarms():  # K10, I8
    policy = ops_key_policy("aws", "123456789012", "us-east-1", [])
    [statement] = [s for s in policy["Statement"] if s["Sid"] == "CloudWatchAlarmsPublishToEncryptedTopic"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"},
                                      "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"}}
