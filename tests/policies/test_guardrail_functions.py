"""The Lambda, stream mapping and messaging guardrails (GOTCHAS L1, L2, L5, I8).

Resource rules are called directly, the way the engine calls them (inputs wrapped in
`unknown_checking_proxy`, UnknownValueError propagating). Stack rules run through `evaluate_plan`
over small hand-built plans shaped like the program's (see build/<stack>/plan.json): ARNs unknown,
joined by `propertyDependencies`; the role rule also over the shape an update shows it (outputs:
known ARNs, a Role's `inlinePolicies` listing its RolePolicy resources). For every rule: passing,
failing (one per reason), property missing, property unknown. The real prod plan is evaluated at
the end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policies.guardrails import POLICIES
from policies.guardrails.functions import FUNCTION_POLICIES
from policies.guardrails.offline import evaluate_plan
from tests.policies.guardrail_helpers import DROP, UNKNOWN, changed, evaluate, found, plan_resource, replaced, single, single_violation, unknown_only, violations, violations_then_unknown, without_dependencies

REPO = Path(__file__).resolve().parents[2]

MAPPING_RULE = "lambda-stream-mapping-safe"
MESSAGING = "messaging-encrypted-with-cmk"
RUNTIME = "lambda-supported-runtime"
PERMISSION_RULE = "lambda-permission-scoped"
ROLE_RULE = "lambda-role-scoped"
NEW_RULES = [policy.name for policy in FUNCTION_POLICIES]

TABLE_T = "aws:dynamodb/table:Table"
KEY_T = "aws:kms/key:Key"
QUEUE_T = "aws:sqs/queue:Queue"
TOPIC_T = "aws:sns/topic:Topic"
LOG_GROUP_T = "aws:cloudwatch/logGroup:LogGroup"
ROLE_T = "aws:iam/role:Role"
ROLE_POLICY_T = "aws:iam/rolePolicy:RolePolicy"
FUNCTION_T = "aws:lambda/function:Function"
MAPPING_T = "aws:lambda/eventSourceMapping:EventSourceMapping"
PERMISSION_T = "aws:lambda/permission:Permission"
REST_API_T = "aws:apigateway/restApi:RestApi"
KINESIS_T = "aws:kinesis/stream:Stream"

ACCOUNT = "123456789012"
STREAM_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ddb-blueprint-test-orders/stream/2024-01-01T00:00:00.000"
KINESIS_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:ddb-blueprint-test-orderStats-failures"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ddb-blueprint-test-orderStats"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Sid": "OrderStatsAssumedByLambda", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
     "Action": "sts:AssumeRole"}]}


# --- plans ------------------------------------------------------------------------------------


def res(type_: str, name: str, inputs: dict[str, Any], **deps: list[dict[str, Any]]) -> dict[str, Any]:
    return plan_resource(type_, name, inputs, component="Functions", **deps)


def renamed(resource: dict[str, Any], name: str) -> dict[str, Any]:
    result = copy.deepcopy(resource)
    result["name"], result["urn"] = name, resource["urn"].rsplit("::", 1)[0] + "::" + name
    return result



ORDERS = res(TABLE_T, "orders", {"name": "ddb-blueprint-test-orders", "streamEnabled": True,
                                 "streamViewType": "NEW_AND_OLD_IMAGES"})
OPS_KEY = res(KEY_T, "ops-key", {"enableKeyRotation": True})
QUEUE = res(QUEUE_T, "functions-orderStats-failures", {
    "name": "ddb-blueprint-test-orderStats-failures", "kmsMasterKeyId": UNKNOWN, "kmsDataKeyReusePeriodSeconds": 300,
    "messageRetentionSeconds": 1209600}, kmsMasterKeyId=[OPS_KEY])
TOPIC = res(TOPIC_T, "functions-topic-productChanges", {"name": "ddb-blueprint-test-productChanges",
                                                        "kmsMasterKeyId": UNKNOWN}, kmsMasterKeyId=[OPS_KEY])
LOGS = res(LOG_GROUP_T, "functions-orderStats-logs", {"name": "/aws/lambda/ddb-blueprint-test-orderStats",
                                                       "kmsKeyId": UNKNOWN, "retentionInDays": 90}, kmsKeyId=[OPS_KEY])
ROLE = res(ROLE_T, "orderStats-role", {"name": "ddb-blueprint-test-orderStats",
                                       "assumeRolePolicy": json.dumps(LAMBDA_TRUST), "maxSessionDuration": 3600})
ACCESS = res(ROLE_POLICY_T, "orderStats-role-access", {"name": "declared-access", "role": UNKNOWN,
                                                         "policy": "{}"}, role=[ROLE])
RUNTIME_ACCESS = res(ROLE_POLICY_T, "functions-orderStats-runtime", {"name": "function-runtime", "role": UNKNOWN,
                                                                       "policy": UNKNOWN}, role=[ROLE], policy=[QUEUE])
FUNCTION = res(FUNCTION_T, "functions-orderStats", {
    "name": "ddb-blueprint-test-orderStats", "runtime": "python3.11", "architectures": ["arm64"],
    "handler": "handler.lambda_handler", "role": UNKNOWN, "memorySize": 256, "timeout": 30,
    "layers": ["arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:27"],
    "tracingConfig": {"mode": "Active"},
    "loggingConfig": {"logFormat": "JSON", "logGroup": "/aws/lambda/ddb-blueprint-test-orderStats"},
    "environment": {"variables": {"POWERTOOLS_SERVICE_NAME": "orderStats"}}},
    role=[ROLE], loggingConfig=[LOGS])
MAPPING = res(MAPPING_T, "functions-orderStats-stream", {
    "eventSourceArn": UNKNOWN, "functionName": UNKNOWN, "startingPosition": "LATEST", "batchSize": 100,
    "maximumBatchingWindowInSeconds": 1, "maximumRetryAttempts": 5, "maximumRecordAgeInSeconds": 3600,
    "bisectBatchOnFunctionError": True, "functionResponseTypes": ["ReportBatchItemFailures"],
    "parallelizationFactor": 1, "filterCriteria": {"filters": [{"pattern": '{"eventName": ["INSERT"]}'}]},
    "destinationConfig": {"onFailure": {"destinationArn": UNKNOWN}}},
    eventSourceArn=[ORDERS], functionName=[FUNCTION], destinationConfig=[QUEUE])
REST_API = res(REST_API_T, "api", {"name": "ddb-blueprint-test-shop"})
PERMISSION = res(PERMISSION_T, "api-placeOrder-invoke", {
    "action": "lambda:InvokeFunction", "function": "ddb-blueprint-test-orderStats",
    "principal": "apigateway.amazonaws.com", "sourceArn": UNKNOWN}, function=[FUNCTION], sourceArn=[REST_API])

STACK = [ORDERS, OPS_KEY, QUEUE, TOPIC, LOGS, ROLE, ACCESS, RUNTIME_ACCESS, FUNCTION, MAPPING, REST_API, PERMISSION]



# --- the compliant stack ----------------------------------------------------------------------

def test_compliant_functions_pass_every_new_rule():
    plan = {"project": "ddb-blueprint", "stack": "test", "resources": STACK, "outputs": {}}
    report = evaluate_plan(plan, {}, policies=FUNCTION_POLICIES)
    assert report.results == [] and report.passed == NEW_RULES


def test_new_rules_are_registered_mandatory():
    names = [p.name for p in POLICIES]
    assert all(name in names for name in NEW_RULES)
    assert all(p.enforcement_level.value == "mandatory" for p in FUNCTION_POLICIES)


def test_stack_rules_report_nothing_without_functions():
    # Other stacks (and the offline/engine parity tests) must see no result from the stack rules.
    assert found(MAPPING_RULE, [ORDERS, OPS_KEY]) == [] and found(ROLE_RULE, [ORDERS, ROLE]) == []


@pytest.mark.parametrize("rule", [MESSAGING, RUNTIME, PERMISSION_RULE])
def test_resource_rules_ignore_other_resource_types(rule: str):
    inputs = {"runtime": "python2.7", "principal": "*", "action": "lambda:*", "kmsMasterKeyId": "alias/aws/sqs"}
    assert violations(rule, inputs, KEY_T) == [] and violations(rule, inputs, LOG_GROUP_T) == []


# --- lambda-stream-mapping-safe (L1, L2) ------------------------------------------------------

def mapping_with(**inputs: Any) -> dict[str, Any]:
    return changed(MAPPING, **inputs)


def test_bounded_stream_mapping_passes():  # L1
    assert found(MAPPING_RULE, STACK) == []


@pytest.mark.parametrize("arn", [STREAM_ARN, KINESIS_ARN, f"{KINESIS_ARN}/consumer/app:1700000000",
                                 STREAM_ARN.replace("arn:aws:", "arn:aws-us-gov:")])
def test_known_stream_arns_are_judged(arn: str):  # L1: the same settings apply to DynamoDB and Kinesis
    known = without_dependencies(mapping_with(eventSourceArn=arn), "eventSourceArn")
    assert found(MAPPING_RULE, replaced(STACK, known)) == []
    name, message = single_violation(MAPPING_RULE, replaced(STACK, changed(known, maximumRetryAttempts=-1)))
    assert name == "functions-orderStats-stream" and "maximumRetryAttempts is -1" in message


@pytest.mark.parametrize(("inputs", "start"), [
    ({"maximumRetryAttempts": -1}, "maximumRetryAttempts is -1: a failing batch would be retried until"),
    ({"maximumRetryAttempts": DROP}, "maximumRetryAttempts is not set (-1 by default: infinite)"),
    ({"maximumRetryAttempts": 10000}, "maximumRetryAttempts is 10000"),
    ({"maximumRetryAttempts": "5"}, 'maximumRetryAttempts is "5"'),
    ({"maximumRecordAgeInSeconds": -1}, "maximumRecordAgeInSeconds is -1: set 60..604800 seconds"),
    ({"maximumRecordAgeInSeconds": DROP}, "maximumRecordAgeInSeconds is not set (-1 by default"),
    ({"maximumRecordAgeInSeconds": 59}, "maximumRecordAgeInSeconds is 59"),
    ({"maximumRecordAgeInSeconds": 604801}, "maximumRecordAgeInSeconds is 604801"),
    ({"bisectBatchOnFunctionError": False}, "bisectBatchOnFunctionError is false: one bad record"),
    ({"bisectBatchOnFunctionError": DROP}, "bisectBatchOnFunctionError is not set (false by default)"),
    ({"functionResponseTypes": DROP}, "functionResponseTypes is not set: without \"ReportBatchItemFailures\""),
    ({"functionResponseTypes": []}, "functionResponseTypes is []"),
    ({"functionResponseTypes": ["Other"]}, 'functionResponseTypes is ["Other"]'),
    ({"functionResponseTypes": "ReportBatchItemFailures"}, 'functionResponseTypes is "ReportBatchItemFailures"'),
    ({"destinationConfig": DROP}, "destinationConfig.onFailure.destinationArn is not set"),
    ({"destinationConfig": {"onFailure": {}}}, "destinationConfig.onFailure.destinationArn is not set"),
    ({"destinationConfig": {"onFailure": {"destinationArn": ""}}}, "destinationConfig.onFailure.destinationArn"),
])
def test_unsafe_stream_mapping_is_violation(inputs: dict[str, Any], start: str):  # L1, L2
    name, message = single_violation(MAPPING_RULE, replaced(STACK, mapping_with(**inputs)))
    assert name == "functions-orderStats-stream"
    assert message.startswith(f"event source mapping functions-orderStats-stream (DynamoDB stream): {start}")
    assert "GOTCHAS L1" in message


def test_missing_failure_destination_explains_metadata_only():  # L2
    _, message = single_violation(MAPPING_RULE, replaced(STACK, mapping_with(destinationConfig=DROP)))
    assert "metadata (shard, sequence numbers), not the records" in message and "L2" in message


def test_every_unsafe_setting_is_reported():  # L1
    bare = changed(MAPPING, maximumRetryAttempts=DROP, maximumRecordAgeInSeconds=DROP,
                   bisectBatchOnFunctionError=DROP, functionResponseTypes=DROP, destinationConfig=DROP)
    results = found(MAPPING_RULE, replaced(STACK, bare))
    assert len(results) == 5 and {outcome for outcome, _, _ in results} == {"violation"}


@pytest.mark.parametrize(("retries", "age"), [(0, 60), (9999, 604800), (5.0, 3600.0)])  # engine numbers are floats
def test_bounds_are_inclusive(retries: Any, age: Any):  # L1
    assert found(MAPPING_RULE, replaced(STACK, mapping_with(maximumRetryAttempts=retries,
                                                            maximumRecordAgeInSeconds=age))) == []


def test_other_response_types_with_partial_batch_pass():
    types = ["ReportBatchItemFailures", "Other"]
    assert found(MAPPING_RULE, replaced(STACK, mapping_with(functionResponseTypes=types))) == []


def test_unknown_failure_destination_is_a_queue_of_the_stack():  # L2: only its presence is judged
    assert MAPPING["inputs"]["destinationConfig"]["onFailure"]["destinationArn"] == UNKNOWN
    assert found(MAPPING_RULE, STACK) == []


# Which mappings are stream mappings.

UNSAFE = {"maximumRetryAttempts": -1, "bisectBatchOnFunctionError": False}


def test_sqs_mapping_is_not_judged():  # SQS has its own retry model (maxReceiveCount)
    sqs = without_dependencies(changed(MAPPING, eventSourceArn=QUEUE_ARN, startingPosition=DROP, **UNSAFE),
                               "eventSourceArn")
    assert found(MAPPING_RULE, replaced(STACK, sqs)) == []


def test_unknown_arn_from_a_queue_is_not_judged():
    from_queue = copy.deepcopy(changed(MAPPING, startingPosition=DROP, **UNSAFE))
    from_queue["propertyDependencies"]["eventSourceArn"] = [QUEUE["urn"]]
    assert found(MAPPING_RULE, replaced(STACK, from_queue)) == []


def test_unknown_arn_from_a_kinesis_stream_is_judged():  # L1
    clicks = res(KINESIS_T, "clicks", {"name": "clicks", "shardCount": 1})
    from_kinesis = copy.deepcopy(changed(MAPPING, **UNSAFE))
    from_kinesis["propertyDependencies"]["eventSourceArn"] = [clicks["urn"]]
    results = found(MAPPING_RULE, replaced(STACK, from_kinesis, clicks))
    assert len(results) == 2 and all("(Kinesis stream)" in message for _, _, message in results)


def test_unknown_arn_with_a_starting_position_is_a_stream():  # L1
    loose = without_dependencies(changed(MAPPING, maximumRetryAttempts=-1), "eventSourceArn")
    _, message = single_violation(MAPPING_RULE, replaced(STACK, loose))
    assert message.startswith("event source mapping functions-orderStats-stream (stream (startingPosition is set)):")


def test_unknown_arn_without_a_starting_position_is_not_a_stream():
    loose = without_dependencies(changed(MAPPING, startingPosition=DROP, **UNSAFE), "eventSourceArn")
    assert found(MAPPING_RULE, replaced(STACK, loose)) == []


def test_kafka_mapping_is_not_judged():  # Kafka names topics; retries and bisect do not apply
    kafka = without_dependencies(changed(MAPPING, topics=["orders"], **UNSAFE), "eventSourceArn")
    assert found(MAPPING_RULE, replaced(STACK, kafka)) == []


def test_mapping_without_source_arn_is_not_judged():  # self-managed Kafka
    assert found(MAPPING_RULE, replaced(STACK, changed(MAPPING, eventSourceArn=DROP, **UNSAFE))) == []


# Unknown values.

@pytest.mark.parametrize(("inputs", "path"), [
    ({"maximumRetryAttempts": UNKNOWN}, "maximumRetryAttempts"),
    ({"maximumRecordAgeInSeconds": UNKNOWN}, "maximumRecordAgeInSeconds"),
    ({"bisectBatchOnFunctionError": UNKNOWN}, "bisectBatchOnFunctionError"),
    ({"functionResponseTypes": UNKNOWN}, "functionResponseTypes"),
    ({"functionResponseTypes": [UNKNOWN]}, "functionResponseTypes.0"),
])
def test_unknown_mapping_setting_is_unknown(inputs: dict[str, Any], path: str):
    message = unknown_only(MAPPING_RULE, replaced(STACK, mapping_with(**inputs)))
    assert message == f"string value at .functions-orderStats-stream.{path} can't be known during preview"


def test_unknown_response_type_next_to_partial_batch_passes():
    types = [UNKNOWN, "ReportBatchItemFailures"]
    assert found(MAPPING_RULE, replaced(STACK, mapping_with(functionResponseTypes=types))) == []


def test_undecidable_source_is_unknown():  # no dependency, no known starting position
    loose = without_dependencies(changed(MAPPING, startingPosition=UNKNOWN), "eventSourceArn")
    message = unknown_only(MAPPING_RULE, replaced(STACK, loose))
    assert message == "string value at .functions-orderStats-stream.startingPosition can't be known during preview"


def test_known_violation_is_reported_before_an_unknown():  # L1
    results = found(MAPPING_RULE, replaced(STACK, mapping_with(maximumRetryAttempts=-1,
                                                               maximumRecordAgeInSeconds=UNKNOWN)))
    assert [outcome for outcome, _, _ in results] == ["violation", "unknown"]


# --- messaging-encrypted-with-cmk ---------------------------------------------------------------

def queue(**inputs: Any) -> dict[str, Any]:
    return changed(QUEUE, **inputs)["inputs"]


def topic(**inputs: Any) -> dict[str, Any]:
    return changed(TOPIC, **inputs)["inputs"]


@pytest.mark.parametrize("key", [UNKNOWN, KEY_ARN, "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/ddb-blueprint/test/ops",
                                 f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/ddb-blueprint/test/ops"])
def test_queue_and_topic_with_customer_managed_key_pass(key: str):
    assert violations(MESSAGING, queue(kmsMasterKeyId=key), QUEUE_T) == []
    assert violations(MESSAGING, topic(kmsMasterKeyId=key), TOPIC_T) == []


def test_queue_with_explicit_sse_sqs_off_and_a_key_passes():
    assert violations(MESSAGING, queue(sqsManagedSseEnabled=False), QUEUE_T) == []


@pytest.mark.parametrize("key", [DROP, ""])
def test_queue_without_key_is_violation(key: Any):  # SSE-SQS, the default, is no CMK
    message = single(violations(MESSAGING, queue(kmsMasterKeyId=key), QUEUE_T))
    assert message.startswith("kmsMasterKeyId is not set: the queue's messages would be encrypted at most with an "
                              "SQS-owned key (SSE-SQS)")


def test_sse_sqs_without_key_is_violation():
    message = single(violations(MESSAGING, queue(kmsMasterKeyId=DROP, sqsManagedSseEnabled=True), QUEUE_T))
    assert message.startswith("sqsManagedSseEnabled is true without kmsMasterKeyId")


@pytest.mark.parametrize("key", [UNKNOWN, KEY_ARN])
def test_sse_sqs_with_a_key_is_violation(key: str):  # the provider and SQS refuse both
    message = single(violations(MESSAGING, queue(kmsMasterKeyId=key, sqsManagedSseEnabled=True), QUEUE_T))
    assert message.startswith("sqsManagedSseEnabled is true together with kmsMasterKeyId")


@pytest.mark.parametrize(("type_", "inputs", "alias"), [
    (QUEUE_T, queue, "alias/aws/sqs"), (QUEUE_T, queue, f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/sqs"),
    (TOPIC_T, topic, "alias/aws/sns"), (TOPIC_T, topic, f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/sns"),
])
def test_aws_managed_key_is_violation(type_: str, inputs: Any, alias: str):
    message = single(violations(MESSAGING, inputs(kmsMasterKeyId=alias), type_))
    assert message.startswith(f'kmsMasterKeyId is "{alias}": an AWS-managed key')


@pytest.mark.parametrize("key", [DROP, ""])
def test_topic_without_key_is_violation(key: Any):
    message = single(violations(MESSAGING, topic(kmsMasterKeyId=key), TOPIC_T))
    assert message.startswith("kmsMasterKeyId is not set: the topic's messages would be stored unencrypted")


def test_unknown_sse_sqs_flag_cannot_be_judged():
    with pytest.raises(UnknownValueError) as raised:
        violations(MESSAGING, queue(sqsManagedSseEnabled=UNKNOWN), QUEUE_T)
    assert raised.value.message == "string value at .sqsManagedSseEnabled can't be known during preview"


def test_unknown_sse_sqs_flag_without_key_is_still_violation():  # no CMK either way
    message = single(violations(MESSAGING, queue(kmsMasterKeyId=DROP, sqsManagedSseEnabled=UNKNOWN), QUEUE_T))
    assert message.startswith("kmsMasterKeyId is not set")


# --- lambda-supported-runtime (L5) ------------------------------------------------------------

def function(**inputs: Any) -> dict[str, Any]:
    return changed(FUNCTION, **inputs)["inputs"]


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13", "python3.14"])
def test_current_runtime_with_tracing_and_log_group_passes(runtime: str):  # L5
    assert violations(RUNTIME, function(runtime=runtime), FUNCTION_T) == []


@pytest.mark.parametrize(("runtime", "shown"), [("python3.9", '"python3.9"'), ("python3.10", '"python3.10"'), ("python3.8", '"python3.8"'),
                                                ("nodejs20.x", '"nodejs20.x"'), (DROP, "not set")])
def test_other_runtime_is_violation(runtime: Any, shown: str):  # L5
    message = single(violations(RUNTIME, function(runtime=runtime), FUNCTION_T))
    assert message.startswith(f"runtime is {shown}: use one of python3.11, python3.12, python3.13, python3.14 (policy config "
                              "`runtimes`)") and "GOTCHAS L5" in message


def test_configured_runtimes_replace_the_default():  # L5
    config = {"runtimes": ["python3.13"]}
    assert violations(RUNTIME, function(runtime="python3.13"), FUNCTION_T, config) == []
    message = single(violations(RUNTIME, function(), FUNCTION_T, config))
    assert message.startswith('runtime is "python3.11": use one of python3.13')


def test_runtimes_config_goes_through_the_policy_config():
    config = {RUNTIME: {"runtimes": ["python3.12"]}}
    report = evaluate(RUNTIME, [FUNCTION], config)
    assert [r["message"][:40] for r in report.mandatory_violations] == ['runtime is "python3.11": use one of pyth']
    with pytest.raises(ValueError, match="must be of type array"):
        evaluate(RUNTIME, [FUNCTION], {RUNTIME: {"runtimes": "python3.12"}})


@pytest.mark.parametrize(("mode", "shown"), [("PassThrough", 'is "PassThrough"'),
                                             (DROP, "is not set (PassThrough by default)")])
def test_function_without_active_tracing_is_violation(mode: Any, shown: str):
    message = single(violations(RUNTIME, function(tracingConfig__mode=mode), FUNCTION_T))
    assert message.startswith(f"tracingConfig.mode {shown}: the function would not trace")


def test_function_without_tracing_config_is_violation():
    message = single(violations(RUNTIME, function(tracingConfig=DROP), FUNCTION_T))
    assert message.startswith("tracingConfig.mode is not set")


@pytest.mark.parametrize("logging", [{"logFormat": "JSON"}, {"logFormat": "JSON", "logGroup": ""}, DROP])
def test_function_without_log_group_is_violation(logging: Any):
    message = single(violations(RUNTIME, function(loggingConfig=logging), FUNCTION_T))
    assert message.startswith("loggingConfig.logGroup is not set: the function logs to the default /aws/lambda/")


def test_unknown_log_group_is_a_group_of_the_stack():
    assert violations(RUNTIME, function(loggingConfig__logGroup=UNKNOWN), FUNCTION_T) == []


def test_unknown_runtime_cannot_be_judged():
    with pytest.raises(UnknownValueError) as raised:
        violations(RUNTIME, function(runtime=UNKNOWN), FUNCTION_T)
    assert raised.value.message == "string value at .runtime can't be known during preview"


def test_unknown_tracing_mode_is_raised_after_known_violations():
    messages, unknown = violations_then_unknown(RUNTIME, function(runtime="python3.9", tracingConfig__mode=UNKNOWN),
                                                FUNCTION_T)
    assert len(messages) == 1 and messages[0].startswith('runtime is "python3.9"')
    assert unknown == "string value at .tracingConfig.mode can't be known during preview"


# --- lambda-permission-scoped (I8) ------------------------------------------------------------

def permission(**inputs: Any) -> dict[str, Any]:
    return changed(PERMISSION, **inputs)["inputs"]


@pytest.mark.parametrize("inputs", [
    {},  # unknown sourceArn: the stage's execution ARN
    {"sourceArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/v1/POST/orders"},
    {"sourceArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/v1/PUT/cart/items/*"},  # a path parameter
    {"sourceArn": f"arn:aws-cn:execute-api:cn-north-1:{ACCOUNT}:a1b2c3d4e5/prod/POST/orders"},
    {"sourceArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/authorizers/abc123"},  # a Lambda authorizer
    {"principal": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::ddb-blueprint-test-exports",
     "sourceAccount": ACCOUNT},
    {"principal": "config.amazonaws.com", "sourceArn": DROP, "sourceAccount": ACCOUNT},
    {"principal": "config.amazonaws.com", "sourceArn": DROP, "sourceAccount": UNKNOWN},
    {"principal": ACCOUNT, "sourceArn": DROP},  # an account, not a service
    {"principal": f"arn:aws:iam::{ACCOUNT}:role/ops", "sourceArn": DROP},
])
def test_scoped_permission_passes(inputs: dict[str, Any]):  # I8
    assert violations(PERMISSION_RULE, permission(**inputs), PERMISSION_T) == []


@pytest.mark.parametrize(("resource", "reason"), [
    ("a1b2c3d4e5/*/POST/orders", 'the stage is "*", a wildcard'),
    ("a1b2c3d4e5/v*/POST/orders", 'the stage is "v*", a wildcard'),
    ("a1b2c3d4e5/v?/POST/orders", 'the stage is "v?", a wildcard'),
    ("a1b2c3d4e5/*/*", 'the stage is "*", a wildcard'),
    ("a1b2c3d4e5", "it names no stage"),
    ("a1b2c3d4e5/", "it names no stage"),
    ("*/v1/POST/orders", 'the API id is "*", a wildcard'),
    ("*", 'the API id is "*", a wildcard'),
    ("/v1/POST/orders", "it names no API id"),
])
def test_api_gateway_source_arn_with_a_wildcard_stage_is_violation(resource: str, reason: str):  # A12
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{resource}"
    message = single(violations(PERMISSION_RULE, permission(sourceArn=arn), PERMISSION_T))
    assert message == (f"sourceArn {json.dumps(arn)}: {reason}, so another stage or API could invoke the function; "
                       "build it from the stage's executionArn: <stage executionArn>/<METHOD>/<path> (GOTCHAS A12)")


def test_wildcard_stage_of_another_service_principal_is_not_judged_as_api_gateway():
    # Only apigateway.amazonaws.com is invoked through execute-api ARNs; other principals keep their rules.
    inputs = permission(principal="events.amazonaws.com", sourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*")
    assert violations(PERMISSION_RULE, inputs, PERMISSION_T) == []


def test_unknown_source_arn_is_accepted_and_the_known_violations_still_reported():
    # In preview the stage's execution ARN is an output: presence is judged, the stage is proven by
    # the program tests (the permission's sourceArn is computed from the Stage).
    assert violations(PERMISSION_RULE, permission(sourceArn=UNKNOWN), PERMISSION_T) == []
    messages = violations(PERMISSION_RULE, permission(sourceArn=UNKNOWN, action="lambda:*"), PERMISSION_T)
    assert len(messages) == 1 and messages[0].startswith('action is "lambda:*"')


@pytest.mark.parametrize("principal", ["*", "*.amazonaws.com"])
def test_everyone_principal_is_violation(principal: str):  # I8
    message = single(violations(PERMISSION_RULE, permission(principal=principal), PERMISSION_T))
    assert message.startswith(f'principal is "{principal}": anyone (any account, any service) could invoke')


def test_everyone_principal_with_source_arn_is_still_violation():
    inputs = permission(principal="*", sourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/*")
    assert len(violations(PERMISSION_RULE, inputs, PERMISSION_T)) == 1


@pytest.mark.parametrize(("action", "shown"), [
    ("lambda:*", '"lambda:*"'), ("lambda:InvokeFunctionUrl", '"lambda:InvokeFunctionUrl"'),
    ("lambda:GetFunction", '"lambda:GetFunction"'), (DROP, "not set")])
def test_other_action_is_violation(action: Any, shown: str):
    message = single(violations(PERMISSION_RULE, permission(action=action), PERMISSION_T))
    assert message.startswith(f"action is {shown}: grant exactly lambda:InvokeFunction; other actions")


@pytest.mark.parametrize(("service", "source"), [("apigateway.amazonaws.com", DROP), ("apigateway.amazonaws.com", ""),
                                                 ("events.amazonaws.com", DROP), ("s3.amazonaws.com", DROP)])
def test_service_principal_without_source_arn_is_violation(service: str, source: Any):  # I8
    inputs = permission(principal=service, sourceArn=source, sourceAccount=ACCOUNT if service.startswith("s3") else DROP)
    message = single(violations(PERMISSION_RULE, inputs, PERMISSION_T))
    assert message.startswith(f'principal is "{service}" without sourceArn') and "confused deputy" in message
    assert "GOTCHAS I8" in message


def test_source_account_only_service_without_source_account_is_violation():  # I8
    inputs = permission(principal="config.amazonaws.com", sourceArn=DROP)
    message = single(violations(PERMISSION_RULE, inputs, PERMISSION_T))
    assert message.startswith('principal is "config.amazonaws.com" without sourceAccount')


@pytest.mark.parametrize("key", ["principal", "action"])
def test_unknown_principal_or_action_cannot_be_judged(key: str):
    with pytest.raises(UnknownValueError) as raised:
        violations(PERMISSION_RULE, permission(**{key: UNKNOWN}), PERMISSION_T)
    assert raised.value.message == f"string value at .{key} can't be known during preview"


def test_unknown_principal_is_raised_after_a_known_violation():
    messages, unknown = violations_then_unknown(PERMISSION_RULE, permission(action="lambda:*", principal=UNKNOWN),
                                                PERMISSION_T)
    assert len(messages) == 1 and messages[0].startswith('action is "lambda:*"')
    assert unknown == "string value at .principal can't be known during preview"


# --- lambda-role-scoped (I8) ------------------------------------------------------------------

def trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trusting(principal: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": "Trust", "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


LAMBDA = {"Service": "lambda.amazonaws.com"}


def test_role_trusting_only_lambda_passes():  # I8
    assert found(ROLE_RULE, STACK) == []


@pytest.mark.parametrize("document", [
    trust(trusting({"Service": ["lambda.amazonaws.com"]})),
    trust(trusting(LAMBDA), trusting({"AWS": "*"}, Effect="Deny")),  # a Deny takes away only
    trust(trusting(LAMBDA), {**trusting(LAMBDA), "Sid": "Again"}),
])
def test_other_lambda_only_trust_shapes_pass(document: str):
    assert found(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=document))) == []


@pytest.mark.parametrize(("document", "shown"), [
    (trust(trusting({"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]})),
     "Service edgelambda.amazonaws.com, Service lambda.amazonaws.com"),
    (trust(trusting(LAMBDA), trusting({"Service": "apigateway.amazonaws.com"})),
     "Service apigateway.amazonaws.com, Service lambda.amazonaws.com"),
    (trust(trusting({"Service": "states.amazonaws.com"})), "Service states.amazonaws.com"),
    (trust(trusting({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), f"AWS arn:aws:iam::{ACCOUNT}:root"),
    (trust(trusting("*")), 'Principal "*"'),
    (trust({"Sid": "Everyone", "Effect": "Allow", "NotPrincipal": LAMBDA, "Action": "sts:AssumeRole"}),
     "NotPrincipal (everyone not listed)"),
    (trust(trusting(LAMBDA, Effect="Deny")), "no principal"),
])
def test_role_trusting_anything_else_is_violation(document: str, shown: str):  # I8
    name, message = single_violation(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=document)))
    assert name == "orderStats-role"
    assert message.startswith(f"role orderStats-role (of function functions-orderStats): assumeRolePolicy trusts {shown}; "
                              "a function's role trusts exactly Service lambda.amazonaws.com") and "I8" in message


@pytest.mark.parametrize("document", ["not json", json.dumps({"Version": "2012-10-17"}), json.dumps(["x"])])
def test_malformed_trust_policy_is_violation(document: str):
    _, message = single_violation(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=document)))
    assert "assumeRolePolicy is not a JSON trust policy" in message


@pytest.mark.parametrize(("inputs", "start"), [
    ({"inlinePolicies": [{"name": "extra", "policy": "{}"}]}, 'inlinePolicies is set ("extra")'),
    ({"inlinePolicies": [{}]}, "inlinePolicies is set (an unnamed block): inline policies"),
    ({"managedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]},
     "managedPolicyArns is set: managed policies are not generated"),
])
def test_role_with_its_own_policies_is_violation(inputs: dict[str, Any], start: str):  # I8
    name, message = single_violation(ROLE_RULE, replaced(STACK, changed(ROLE, **inputs)))
    assert name == "orderStats-role" and message.startswith(f"role orderStats-role (of function functions-orderStats): {start}")


def test_empty_policy_lists_pass():
    assert found(ROLE_RULE, replaced(STACK, changed(ROLE, inlinePolicies=[], managedPolicyArns=[]))) == []


def test_function_with_a_role_arn_from_outside_the_stack_is_violation():  # I8
    outside = without_dependencies(changed(FUNCTION, role=f"arn:aws:iam::{ACCOUNT}:role/hand-made"), "role")
    name, message = single_violation(ROLE_RULE, replaced(STACK, outside))
    assert name == "functions-orderStats"
    assert message.startswith(f'function functions-orderStats: role is "arn:aws:iam::{ACCOUNT}:role/hand-made", which '
                              "is no aws.iam.Role of this stack")


def test_function_without_role_is_violation():
    _, message = single_violation(ROLE_RULE, replaced(STACK, without_dependencies(changed(FUNCTION, role=DROP), "role")))
    assert message.startswith("function functions-orderStats: role is not set, which is no aws.iam.Role of this stack")


def test_function_role_computed_from_something_else_is_violation():  # e.g. a stack reference
    other = res("pulumi:pulumi:StackReference", "shared", {"name": "org/iam/prod"})
    elsewhere = copy.deepcopy(FUNCTION)
    elsewhere["propertyDependencies"]["role"] = [other["urn"]]
    _, message = single_violation(ROLE_RULE, replaced(STACK, elsewhere, other))
    assert message.startswith("function functions-orderStats: role is computed from pulumi:pulumi:StackReference, not "
                              "from an aws.iam.Role of this stack")


def test_role_named_by_a_known_arn_of_the_stack_is_judged():
    by_name = without_dependencies(changed(FUNCTION, role=ROLE_ARN), "role")
    assert found(ROLE_RULE, replaced(STACK, by_name)) == []
    bad_trust = changed(ROLE, assumeRolePolicy=trust(trusting({"Service": "states.amazonaws.com"})))
    assert single_violation(ROLE_RULE, replaced(STACK, by_name, bad_trust))[0] == "orderStats-role"


def test_shared_role_is_reported_once_naming_its_functions():
    second = renamed(FUNCTION, "functions-placeOrder")
    bad_trust = changed(ROLE, assumeRolePolicy=trust(trusting({"AWS": "*"})))
    _, message = single_violation(ROLE_RULE, replaced(STACK, second, bad_trust))
    assert message.startswith("role orderStats-role (of functions functions-orderStats, functions-placeOrder)")


# After apply (pulumi up): stack policies see outputs.

def after_apply() -> list[dict[str, Any]]:
    role = changed(ROLE, arn=ROLE_ARN, id="ddb-blueprint-test-orderStats", managedPolicyArns=[],
                   inlinePolicies=[{"name": "declared-access", "policy": "{}"}, {"name": "function-runtime", "policy": "{}"}])
    access = changed(ACCESS, role="ddb-blueprint-test-orderStats")
    runtime = without_dependencies(changed(RUNTIME_ACCESS, role="ddb-blueprint-test-orderStats"), "role")
    fn = without_dependencies(changed(FUNCTION, role=ROLE_ARN), "role", "loggingConfig")
    return replaced(STACK, role, access, runtime, fn)


def test_outputs_after_apply_pass():  # the RolePolicy resources show up in the role's inlinePolicies
    assert found(ROLE_RULE, after_apply()) == []


def test_outputs_after_apply_with_an_out_of_band_inline_policy_is_violation():
    resources = after_apply()
    role = next(r for r in resources if r["name"] == "orderStats-role")
    role = changed(role, inlinePolicies=[*role["inputs"]["inlinePolicies"], {"name": "console-edit", "policy": "{}"}])
    _, message = single_violation(ROLE_RULE, replaced(resources, role))
    assert 'inlinePolicies is set ("console-edit")' in message


# Unknown values.

def test_unknown_trust_policy_is_unknown():
    message = unknown_only(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=UNKNOWN)))
    assert message == "string value at .orderStats-role.assumeRolePolicy can't be known during preview"


def test_unknown_principal_inside_a_known_trust_policy_is_unknown():
    document = trust(trusting({"Service": UNKNOWN}))
    message = unknown_only(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=document)))
    assert message == ("string value at .orderStats-role.assumeRolePolicy.Statement.0.Principal.Service can't be "
                       "known during preview")


def test_other_principal_next_to_an_unknown_one_is_still_violation():  # I8
    document = trust(trusting({"Service": UNKNOWN}), trusting({"AWS": "*"}))
    results = found(ROLE_RULE, replaced(STACK, changed(ROLE, assumeRolePolicy=document)))
    assert [outcome for outcome, _, _ in results] == ["violation", "unknown"] and "trusts AWS *" in results[0][2]


def test_unknown_role_without_dependencies_is_unknown():
    loose = without_dependencies(FUNCTION, "role")
    message = unknown_only(ROLE_RULE, replaced(STACK, loose))
    assert message == "string value at .functions-orderStats.role can't be known during preview"


def test_unknown_inline_policies_are_unknown():
    message = unknown_only(ROLE_RULE, replaced(STACK, changed(ROLE, inlinePolicies=UNKNOWN)))
    assert message == "string value at .orderStats-role.inlinePolicies can't be known during preview"


def test_known_trust_violation_is_reported_before_an_unknown():
    role = changed(ROLE, assumeRolePolicy=trust(trusting({"AWS": "*"})), managedPolicyArns=UNKNOWN)
    assert [outcome for outcome, _, _ in found(ROLE_RULE, replaced(STACK, role))] == ["violation", "unknown"]


# --- the real analyzer ------------------------------------------------------------------------

def test_stack_rules_match_the_real_analyzer():
    """pulumi-policy's own AnalyzeStack, in-process, gives what evaluate_plan gives."""
    from google.protobuf import struct_pb2
    from pulumi.runtime import proto
    from pulumi_policy import StackValidationPolicy
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from policies.guardrails import PACK_ENFORCEMENT_LEVEL, PACK_NAME

    resources = replaced(STACK, changed(MAPPING, maximumRetryAttempts=-1),
                         changed(ROLE, assumeRolePolicy=trust(trusting({"Service": UNKNOWN}))))
    stack_rules = [p for p in FUNCTION_POLICIES if isinstance(p, StackValidationPolicy)]
    plan = {"project": "ddb-blueprint", "stack": "test", "resources": resources, "outputs": {}}
    offline = {(r["policy"], r["urn"], r["enforcementLevel"], r["outcome"], r["message"])
               for r in evaluate_plan(plan, {}, policies=stack_rules).results}

    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", stack_rules, PACK_ENFORCEMENT_LEVEL)
    request = proto.AnalyzeStackRequest()
    for r in resources:
        properties = struct_pb2.Struct()
        properties.update(r["inputs"])
        added_resource = request.resources.add(type=r["type"], properties=properties, urn=r["urn"], name=r["name"],
                                               parent=r["parent"], dependencies=r["dependencies"])
        for key, urns in r["propertyDependencies"].items():
            added_resource.propertyDependencies[key].urns.extend(urns)
    engine = set()
    for d in servicer.AnalyzeStack(request, None).diagnostics:
        unknown = "during preview: " in d.message
        message = d.message.split("during preview: ", 1)[1] if unknown else d.message.split("\n", 1)[1]
        level = "advisory" if d.enforcementLevel == proto.ADVISORY else "mandatory"
        engine.add((d.policyName, d.urn, level, "unknown" if unknown else "violation", message))
    assert offline == engine
    assert {(policy, outcome) for policy, _, _, outcome, _ in offline} == {
        (MAPPING_RULE, "violation"), (ROLE_RULE, "unknown")}


# --- the real program ---------------------------------------------------------------------------

HANDLERS = [REPO / "lambdas" / name / "handler.py" for name in ("product_events", "order_stats", "place_order")]


@pytest.mark.skipif(not all(path.is_file() for path in HANDLERS),
                    reason="the prod preview packages lambdas/{product_events,order_stats,place_order}/handler.py, "
                           "which do not all exist yet")
def test_real_prod_plan_has_no_mandatory_violation_from_the_new_rules(reference_preview: Any):
    plan = copy.deepcopy(reference_preview("prod").plan)
    report = evaluate_plan(plan, {}, policies=FUNCTION_POLICIES)
    assert [(r["policy"], r["urn"].rsplit("::", 1)[-1], r["message"]) for r in report.mandatory_violations] == []
    assert report.results == [] and report.passed == NEW_RULES
    types = [r["type"] for r in plan["resources"]]
    # Three declared functions plus prod's two DAX readers (stacks/dax/reader.py).
    assert types.count(FUNCTION_T) == 5 and types.count(MAPPING_T) == 2 and PERMISSION_T in types
    assert QUEUE_T in types and TOPIC_T in types
