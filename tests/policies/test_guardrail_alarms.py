"""operations-alarms-cover-every-resource: every table, GSI, replica, function, failure queue, API
stage and DAX cluster of the plan has its alarms; pass, fail, missing and unknown."""

from __future__ import annotations

import copy

import pytest

from tests.policies.guardrail_helpers import UNKNOWN, changed, evaluate, found, plan_resource, removed, replaced
from policies.guardrails.alarms import REQUIRED
from stacks.operations.spec import ALARM_KINDS

RULE = "operations-alarms-cover-every-resource"


@pytest.fixture(scope="module")
def prod(reference_preview) -> list[dict]:
    return reference_preview("prod").plan["resources"]


def alarm(resources, name):
    return next(r for r in resources if r["name"] == name)


def violations(resources):
    return [(name, message) for outcome, name, message in found(RULE, resources) if outcome == "violation"]


def test_the_prod_plan_covers_every_resource(prod):
    report = evaluate(RULE, prod)
    assert report.results == [] and RULE in report.passed


def test_the_guardrail_requires_what_the_spec_declares():
    assert {kind: {(k.namespace, k.metric) for k in kinds} for kind, kinds in ALARM_KINDS.items()} == \
        {kind: set(pairs) for kind, pairs in REQUIRED.items()}


def test_a_table_without_its_system_errors_alarm_fails(prod):
    resources = removed(prod, "operations-table-orders-SystemErrors")
    assert violations(resources) == [("orders", "table ddb-blueprint-prod-orders has no alarm on AWS/DynamoDB SystemErrors "
                                      "(TableName=ddb-blueprint-prod-orders): every table gets the alarms declared for its kind "
                                      "(stacks/operations/spec.py ALARM_KINDS)")]


def test_an_index_alarm_does_not_cover_its_table(prod):
    # GIVEN the products table's read-throttle alarm gone, its GSI's still there
    resources = removed(prod, "operations-table-products-ReadThrottleEvents")
    [(name, message)] = violations(resources)
    assert name == "products" and "table ddb-blueprint-prod-products has no alarm on AWS/DynamoDB ReadThrottleEvents" in message


def test_a_function_without_alarms_fails_for_each_missing_alarm(prod):
    resources = removed(prod, "operations-streamFunction-orderStats-Errors", "operations-streamFunction-orderStats-IteratorAge")
    messages = sorted(m for _, m in violations(resources))
    assert len(messages) == 2
    assert "streamFunction ddb-blueprint-prod-orderStats has no alarm on AWS/Lambda Errors" in messages[0]
    assert "AWS/Lambda IteratorAge (FunctionName=ddb-blueprint-prod-orderStats)" in messages[1]


def test_a_failure_queue_and_a_stage_without_alarms_fail(prod):
    resources = removed(prod, "operations-failureQueue-productEvents-MessagesVisible", "operations-apiStage-v1-5XXRate")
    messages = sorted(m for _, m in violations(resources))
    assert messages[0].startswith("apiStage ddb-blueprint-prod-shop stage v1 has no alarm on AWS/ApiGateway 5XXError (ApiName=ddb-blueprint-prod-shop, Stage=v1)")
    assert messages[1].startswith("failureQueue ddb-blueprint-prod-productEvents-failures has no alarm on AWS/SQS ApproximateNumberOfMessagesVisible")


def test_an_alarm_on_another_resource_does_not_count(prod):
    # GIVEN the orders SystemErrors alarm pointed at the carts table (every metric query)
    original = alarm(prod, "operations-table-orders-SystemErrors")
    moved = copy.deepcopy(original)
    for query in moved["inputs"]["metricQueries"]:
        if "metric" in query:
            query["metric"]["dimensions"]["TableName"] = "ddb-blueprint-prod-carts"
    [(name, message)] = violations(replaced(prod, moved))
    assert name == "orders" and "SystemErrors" in message


def test_an_alarm_without_actions_fails(prod):
    silent = changed(alarm(prod, "operations-function-placeOrder-Errors"), alarmActions=[])
    [(name, message)] = violations(replaced(prod, silent))
    assert name == "operations-function-placeOrder-Errors" and "has no alarmActions" in message


def test_an_alarm_with_its_dimensions_missing_covers_nothing(prod):
    blank = changed(alarm(prod, "operations-function-placeOrder-Throttles"), dimensions={})
    [(name, message)] = violations(replaced(prod, blank))
    assert name == "functions-placeOrder" and "AWS/Lambda Throttles" in message


def test_an_alarm_whose_dimensions_are_unknown_makes_the_gap_undecided(prod):
    unknown = changed(alarm(prod, "operations-function-placeOrder-Throttles"), dimensions={"FunctionName": UNKNOWN})
    results = found(RULE, replaced(prod, unknown))
    assert [outcome for outcome, _, _ in results] == ["unknown"], results
    assert RULE not in evaluate(RULE, replaced(prod, unknown)).passed


def test_replicas_need_replication_latency_alarms_once_they_exist(prod):  # T14
    # prod's global tables already have replicas (and their alarms); productSales is regional
    # (global: false), so it has none: give it one, without its alarm.
    sales = alarm(prod, "productSales")
    assert sales["type"] == "aws:dynamodb/table:Table" and not sales["inputs"].get("replicas")
    with_replica = changed(sales, replicas=[{"regionName": "eu-west-1"}])
    [(name, message)] = violations(replaced(prod, with_replica))
    assert name == "productSales"
    assert message.startswith("replica ddb-blueprint-prod-productSales ReceivingRegion eu-west-1 has no alarm on AWS/DynamoDB ReplicationLatency")


def test_a_dax_cluster_needs_its_three_alarms(prod):  # D12
    cluster = plan_resource("aws:dax/cluster:Cluster", "shop-cache", {"clusterName": "ddb-blueprint-prod-cache"}, component="Dax")
    messages = sorted(m for _, m in violations([*prod, cluster]))
    assert [m.split(" has no alarm on ")[1].split(" (")[0] for m in messages] == [
        "AWS/DAX CPUUtilization", "AWS/DAX EvictedSize", "AWS/DAX ThrottledRequestCount"]
    watched = [plan_resource("aws:cloudwatch/metricAlarm:MetricAlarm", f"dax-{metric}",
                             {"namespace": "AWS/DAX", "metricName": metric, "dimensions": {"ClusterId": "ddb-blueprint-prod-cache"},
                              "alarmActions": ["arn:aws:sns:us-east-1:123456789012:alarms"]}, component="Operations")
               for metric in ("CPUUtilization", "EvictedSize", "ThrottledRequestCount")]
    assert violations([*prod, cluster, *watched]) == []


def test_a_table_name_unknown_is_undecided_not_passed(prod):
    unnamed = changed(alarm(prod, "sessions"), name=UNKNOWN)
    results = found(RULE, replaced(prod, unnamed))
    assert [outcome for outcome, _, _ in results] == ["unknown"]
