"""The API in each stack's plan: integrations, auth, validation, stage, logs, roles (GOTCHAS A1-A8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.offline.mockrun import UNKNOWN
from stacks.offline.preview import preview

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plans(reference_preview):
    return {s: reference_preview(s) for s in ("dev", "prod")}  # read only


def of_type(plan, type_):
    return [r for r in plan["resources"] if r["type"] == type_]


def test_every_route_is_an_aws_integration_with_post_and_passthrough_never(plans):  # A1, A2
    integrations = [i for i in of_type(plans["prod"].plan, "aws:apigateway/integration:Integration") if i["inputs"]["type"] != "AWS_PROXY"]
    assert len(integrations) == 7  # the two product read routes go through DAX in prod (test_dax_resources); sales stays direct
    for i in integrations:
        inputs = i["inputs"]
        assert (inputs["type"], inputs["integrationHttpMethod"], inputs["passthroughBehavior"]) == ("AWS", "POST", "NEVER")
        assert inputs["uri"].startswith("arn:aws:apigateway:us-east-1:dynamodb:action/")
        assert list(inputs["requestTemplates"]) == ["application/json"]


def test_no_method_is_unauthenticated(plans):  # A8
    for method in of_type(plans["prod"].plan, "aws:apigateway/method:Method"):
        assert method["inputs"]["authorization"] in ("COGNITO_USER_POOLS", "AWS_IAM")


def test_iam_routes_use_caller_credentials_and_the_others_the_integration_role(plans):  # A1
    plan = plans["prod"].plan
    methods = {m["name"].removeprefix("api-").removesuffix("-method"): m["inputs"]["authorization"]
               for m in of_type(plan, "aws:apigateway/method:Method")}
    for i in of_type(plan, "aws:apigateway/integration:Integration"):
        if i["inputs"]["type"] == "AWS_PROXY":
            continue  # a function's route: no credentials, the function's own role
        route = i["name"].removeprefix("api-").removesuffix("-integration")
        if methods[route] == "AWS_IAM":
            assert i["inputs"]["credentials"] == "arn:aws:iam::*:user/*"
        else:
            role = [r for r in plan["resources"] if r["type"] == "aws:iam/role:Role" and r["name"] == "api-integration-role"][0]
            assert i["propertyDependencies"]["credentials"] == [role["urn"]]


def test_methods_with_a_body_validate_it_against_a_draft4_model(plans):  # A8
    plan = plans["prod"].plan
    models = {m["inputs"]["name"]: json.loads(m["inputs"]["schema"]) for m in of_type(plan, "aws:apigateway/model:Model")}
    assert sorted(models) == ["PatchCartItemBody", "PlaceOrderBody", "PutCartItemBody"]
    assert models["PutCartItemBody"]["additionalProperties"] is False
    validators = {v["urn"]: v["inputs"] for v in of_type(plan, "aws:apigateway/requestValidator:RequestValidator")}
    for method in of_type(plan, "aws:apigateway/method:Method"):
        validator = validators[method["propertyDependencies"]["requestValidatorId"][0]]
        if method["inputs"].get("requestModels"):
            assert validator["validateRequestBody"] is True
        assert validator["validateRequestParameters"] is True


def test_errors_are_mapped_by_backend_status(plans):  # A5
    responses = of_type(plans["prod"].plan, "aws:apigateway/integrationResponse:IntegrationResponse")
    patterns = {r["name"].rsplit("-", 1)[1]: r["inputs"].get("selectionPattern") for r in responses}
    assert patterns == {"ok": None, "4xx": r"4\d{2}", "5xx": r"5\d{2}"}


def test_stage_has_logs_tracing_throttling_and_no_data_trace(plans):  # A6, A8
    plan = plans["prod"].plan
    [stage] = of_type(plan, "aws:apigateway/stage:Stage")
    assert stage["inputs"]["xrayTracingEnabled"] is True
    log_format = stage["inputs"]["accessLogSettings"]["format"]
    assert '"requestId": "$context.requestId"' in log_format
    assert '"errorMessage": $context.error.messageString' in log_format  # quoted by API Gateway itself
    sample = log_format.replace("$context.error.messageString", '"quote \\" inside"')
    assert json.loads(sample.replace("$context", "context"))["errorMessage"] == 'quote " inside'  # valid JSON per line
    [settings] = of_type(plan, "aws:apigateway/methodSettings:MethodSettings")
    s = settings["inputs"]["settings"]
    assert (s["dataTraceEnabled"], s["loggingLevel"], s["metricsEnabled"]) == (False, "ERROR", True)
    assert (s["throttlingRateLimit"], s["throttlingBurstLimit"]) == (50, 100)
    [deployment] = of_type(plan, "aws:apigateway/deployment:Deployment")
    assert len(deployment["inputs"]["triggers"]["definition"]) == 64 and "stageName" not in deployment["inputs"]


def test_log_groups_are_encrypted_with_the_ops_key_and_expire(plans):
    plan = plans["prod"].plan
    [ops_key] = [k for k in of_type(plan, "aws:kms/key:Key") if k["name"].startswith("ops-key")]
    groups = of_type(plan, "aws:cloudwatch/logGroup:LogGroup")
    functions = of_type(plan, "aws:lambda/function:Function")
    flow_logs = of_type(plan, "aws:ec2/flowLog:FlowLog")  # the DAX network's
    assert len(groups) == 2 + len(functions) + len(flow_logs)  # API access and execution logs, one per function
    for group in groups:
        assert group["inputs"]["retentionInDays"] == 365  # Pulumi.prod.yaml: a year (log-retention-minimum)
        assert group["propertyDependencies"]["kmsKeyId"] == [ops_key["urn"]]


def test_integration_role_has_exactly_the_routes_actions(plans):
    plan = plans["prod"].plan
    [policy] = [p for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy") if p["name"] == "api-integration-role-access"]
    actions = {(s["Sid"], tuple(s["Action"])) for s in json.loads(policy["inputs"]["policy"])["Statement"] if not s["Sid"].endswith("TableKey")}
    assert actions == {
        ("RouteDeleteCartItemItems", ("dynamodb:DeleteItem",)), ("RouteGetCartItems", ("dynamodb:Query",)),
        # prod serves the product reads through DAX functions; cart PUT is a create-only UpdateItem (A10)
        ("RouteGetProductSalesItems", ("dynamodb:GetItem",)),
        ("RoutePatchCartItemItems", ("dynamodb:UpdateItem",)), ("RoutePutCartItemItems", ("dynamodb:UpdateItem",)),
    }


def test_app_users_may_invoke_exactly_the_iam_routes(plans):
    plan = plans["prod"].plan
    [invoke] = [p for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy") if p["name"] == "shopper-role-invoke"]
    assert invoke["inputs"]["policy"] == UNKNOWN  # names the API id, assigned by AWS


def test_deployment_hash_changes_when_a_template_changes(plans, scratch, tmp_path):
    import yaml

    api = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:api"]["value"]
    api["routes"]["getCart"]["response"]["quantity"] = {"type": "number"}  # a direct route in prod
    scratch.set_model("api", api)
    scratch.write_stack("prod", yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"])
    changed = preview(scratch.root, "prod", tmp_path).plan
    [before] = of_type(plans["prod"].plan, "aws:apigateway/deployment:Deployment")
    [after] = of_type(changed, "aws:apigateway/deployment:Deployment")
    assert before["inputs"]["triggers"] != after["inputs"]["triggers"]  # A6


def test_openapi_document_is_written_next_to_the_plan(plans):
    document = json.loads((plans["dev"].plan_path.parent / "openapi.json").read_text())
    assert document["openapi"] == "3.0.3" and "/cart/items/{productId}" in document["paths"]


def test_function_routes_may_be_invoked_only_from_their_own_stage(plans):  # A12
    for stack in ("dev", "prod"):
        plan = plans[stack].plan
        stages = of_type(plan, "aws:apigateway/stage:Stage")
        permissions = of_type(plan, "aws:lambda/permission:Permission")
        readers = ["api-getProductViaDax-invoke", "api-listProductsViaDax-invoke"] if stack == "prod" else []  # DAX in prod
        assert sorted(p["name"] for p in permissions) == sorted(["api-placeOrder-invoke", *readers])
        for permission in permissions:
            # The source ARN is computed from the stage's execution ARN alone (not the REST API's, which
            # would need a "*" stage); its shape is proven by tests/api/test_invoke_source_arn.py.
            assert permission["propertyDependencies"]["sourceArn"] == [stages[0]["urn"]]
            assert permission["inputs"]["principal"] == "apigateway.amazonaws.com"
            assert permission["inputs"]["action"] == "lambda:InvokeFunction"


def test_reference_stacks_throttle_each_method_with_the_stage_default_only(plans):  # A11
    for stack in ("dev", "prod"):
        settings = of_type(plans[stack].plan, "aws:apigateway/methodSettings:MethodSettings")
        assert [s["inputs"]["methodPath"] for s in settings] == ["*/*"]


def test_route_overrides_become_method_settings_with_the_stage_logging_and_their_own_limits(scratch, tmp_path):  # A11, A14
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:apiExecutionLogLevel": "INFO",
                               "ddb-blueprint:apiRouteThrottle": {"putCartItem": {"rateLimit": 20, "burstLimit": 40},
                                                                  "placeOrder": {"rateLimit": 5, "burstLimit": 10}}})
    result = preview(scratch.root, "qa", tmp_path)
    settings = {s["name"]: s for s in of_type(result.plan, "aws:apigateway/methodSettings:MethodSettings")}
    assert sorted(settings) == ["api-settings", "api-settings-placeOrder", "api-settings-putCartItem"]
    observability = {"loggingLevel": "INFO", "dataTraceEnabled": False, "metricsEnabled": True}
    assert settings["api-settings"]["inputs"]["settings"] == {**observability, "throttlingRateLimit": 50,
                                                              "throttlingBurstLimit": 100}
    put = settings["api-settings-putCartItem"]["inputs"]
    assert put["methodPath"] == "cart/items/{productId}/PUT" and put["stageName"] == "v1"
    assert put["settings"] == {**observability, "throttlingRateLimit": 20, "throttlingBurstLimit": 40}
    order = settings["api-settings-placeOrder"]["inputs"]
    assert order["methodPath"] == "orders/POST"
    assert order["settings"] == {**observability, "throttlingRateLimit": 5, "throttlingBurstLimit": 10}
    # Each override is an update of the same stage: applied one after the other, after the default.
    assert settings["api-settings"]["urn"] in settings["api-settings-placeOrder"]["dependencies"]
    assert settings["api-settings-placeOrder"]["urn"] in settings["api-settings-putCartItem"]["dependencies"]
    stage = of_type(result.plan, "aws:apigateway/stage:Stage")[0]
    assert all(s["propertyDependencies"]["stageName"] == [stage["urn"]] for s in settings.values())
    # (qa has no policy config, so every protection is required: only the API rules are judged here.)
    assert [v for v in result.guardrails.mandatory_violations if v["policy"].startswith("apigateway-")] == []
    assert "apigateway-stage-observability" in result.guardrails.passed
