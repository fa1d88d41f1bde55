"""Alarms, alarm topic and dashboard in each stack's plan, from the declarations and the stack file."""

from __future__ import annotations

import json

import pytest

from stacks.offline.preview import preview

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def prod(reference_preview):
    return reference_preview("prod").plan


def of_type(plan, type_):
    return [r for r in plan["resources"] if r["type"] == type_]


def test_prod_has_the_alarms_of_every_declared_resource(prod):
    alarms = {a["inputs"]["name"] for a in of_type(prod, ALARM)}
    tables = [t["inputs"]["name"] for t in of_type(prod, "aws:dynamodb/table:Table")]
    functions = [f["inputs"]["name"] for f in of_type(prod, "aws:lambda/function:Function")]
    assert len(tables) == 6 and len(functions) == 5  # with prod's two DAX readers
    assert {f"ddb-blueprint-prod-table-{t.rsplit('-', 1)[1]}-SystemErrors" for t in tables} <= alarms
    assert "ddb-blueprint-prod-index-products.byCategory-ReadThrottleEvents" in alarms
    assert {"ddb-blueprint-prod-streamFunction-productEvents-IteratorAge", "ddb-blueprint-prod-streamFunction-orderStats-IteratorAge",
            "ddb-blueprint-prod-function-placeOrder-Errors", "ddb-blueprint-prod-failureQueue-orderStats-MessagesVisible",
            "ddb-blueprint-prod-apiStage-v1-5XXRate", "ddb-blueprint-prod-apiStage-v1-LatencyP99"} <= alarms
    # + replication latency of 3 global tables in 2 replica regions, the DAX cluster's 3, its 2 readers' 2 each
    assert len(alarms) == 6 * 3 + 2 + 2 * 3 + 2 + 2 + 2 + 3 * 2 + 3 + 2 * 2
    assert prod["outputs"]["operations"]["alarms"] == sorted(alarms)


def test_alarms_notify_a_topic_encrypted_with_the_ops_key(prod):
    [topic] = [t for t in of_type(prod, "aws:sns/topic:Topic") if t["inputs"]["name"] == "ddb-blueprint-prod-alarms"]
    [ops_key] = [k for k in of_type(prod, "aws:kms/key:Key") if k["name"].startswith("ops-key")]
    assert topic["propertyDependencies"]["kmsMasterKeyId"] == [ops_key["urn"]]
    policy = json.loads(ops_key["inputs"]["policy"])
    assert "CloudWatchAlarmsPublishToEncryptedTopic" in {s["Sid"] for s in policy["Statement"]}  # K10
    for alarm in of_type(prod, ALARM):
        assert alarm["propertyDependencies"]["alarmActions"] == [topic["urn"]], alarm["name"]
        assert alarm["inputs"]["treatMissingData"] == "notBreaching"


def test_prod_has_one_dashboard_generated_from_the_same_inventory(prod):
    [dashboard] = of_type(prod, "aws:cloudwatch/dashboard:Dashboard")
    assert dashboard["inputs"]["dashboardName"] == "ddb-blueprint-prod"
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"] if w["type"] == "metric"]
    assert "table productSales: throttle events" in titles and "API ddb-blueprint-prod-shop stage v1: latency (ms)" in titles


def test_thresholds_and_subscriptions_come_from_the_stack_file(scratch, tmp_path):
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:alarms": {
        "evaluationPeriods": 3, "datapointsToAlarm": 1,
        "thresholds": {"iteratorAgeSeconds": 45, "apiLatencyP99Ms": 750},
        "subscriptions": [{"protocol": "email", "endpoint": "oncall@example.com"}]}})
    plan = preview(scratch.root, "qa", tmp_path).plan
    alarms = {a["inputs"]["name"]: a["inputs"] for a in of_type(plan, ALARM)}
    age = alarms["ddb-blueprint-qa-streamFunction-orderStats-IteratorAge"]
    assert (age["threshold"], age["evaluationPeriods"], age["datapointsToAlarm"]) == (45_000, 3, 1)
    assert alarms["ddb-blueprint-qa-apiStage-v1-LatencyP99"]["threshold"] == 750
    [subscription] = of_type(plan, "aws:sns/topicSubscription:TopicSubscription")
    assert (subscription["inputs"]["protocol"], subscription["inputs"]["endpoint"]) == ("email", "oncall@example.com")
