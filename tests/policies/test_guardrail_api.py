"""The API Gateway and log group guardrails (GOTCHAS A1-A8).

Resource rules are called directly, the way the engine calls them (inputs wrapped in
`unknown_checking_proxy`, UnknownValueError propagating). Stack rules run through `evaluate_plan`
over small hand-built plans shaped like the program's (see build/<stack>/plan.json): ids unknown,
joined by `propertyDependencies`. For every rule: passing, failing (one per reason), property
missing, property unknown. The real prod plan is evaluated at the end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.guardrails import POLICIES
from policies.guardrails.api import API_POLICIES, template_findings
from policies.guardrails.offline import evaluate_plan
from tests.policies.guardrail_helpers import (
    DROP, POLICY, UNKNOWN, changed, found, plan_resource, removed, replaced, single, single_violation, unknown_only, violations, without_dependencies)

REPO = Path(__file__).resolve().parents[2]

UNAUTHENTICATED = "apigateway-no-unauthenticated-methods"
VALIDATION = "apigateway-request-validation"
PASSTHROUGH = "apigateway-integration-passthrough-never"
CALLER = "apigateway-caller-credentials-iam-only"
ERRORS = "apigateway-integration-error-responses"
TEMPLATES = "apigateway-templates-escape-user-input"
OBSERVABILITY = "apigateway-stage-observability"
REDEPLOYS = "apigateway-deployment-redeploys"
LOGS = "log-groups-encrypted-with-retention"
ACCOUNT_RULE = "apigateway-no-account-settings"
NEW_RULES = [policy.name for policy in API_POLICIES]

REST_API_T = "aws:apigateway/restApi:RestApi"
RESOURCE_T = "aws:apigateway/resource:Resource"
AUTHORIZER_T = "aws:apigateway/authorizer:Authorizer"
VALIDATOR_T = "aws:apigateway/requestValidator:RequestValidator"
METHOD_T = "aws:apigateway/method:Method"
INTEGRATION_T = "aws:apigateway/integration:Integration"
RESPONSE_T = "aws:apigateway/integrationResponse:IntegrationResponse"
STAGE_T = "aws:apigateway/stage:Stage"
SETTINGS_T = "aws:apigateway/methodSettings:MethodSettings"
DEPLOYMENT_T = "aws:apigateway/deployment:Deployment"
ACCOUNT_T = "aws:apigateway/account:Account"
LOG_GROUP_T = "aws:cloudwatch/logGroup:LogGroup"
ROLE_T = "aws:iam/role:Role"
KEY_T = "aws:kms/key:Key"

API_URN = "urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:Api::api"
ROLE_ARN = "arn:aws:iam::123456789012:role/ddb-blueprint-test-api"
CALLER_CREDENTIALS = "arn:aws:iam::*:user/*"
ESCAPE = """.replaceAll("\\\\'","'")"""  # the A3 fix, as the templates spell it
ACCESS_LOG_FORMAT = json.dumps({"requestId": "$context.requestId", "status": "$context.status"})


# --- plans ------------------------------------------------------------------------------------


def res(type_: str, name: str, inputs: dict[str, Any], **deps: list[dict[str, Any]]) -> dict[str, Any]:
    return plan_resource(type_, name, inputs, component="Api", parent=API_URN, **deps)




REQUEST_TEMPLATE = (
    "#set($callerId = $context.authorizer.claims.sub)\n"
    '{"TableName": "carts", "Key": {"userId": {"S": "$util.escapeJavaScript($callerId)' + ESCAPE + '"}}}\n')
OK_TEMPLATE = (
    "#set($item = $input.path('$.Item'))\n"
    '{"quantity": #if("$!{item.quantity.N}" != "")${item.quantity.N}#else null#end}\n')
ERROR_TEMPLATE = '{"message": "internal error"}\n'

REST_API = res(REST_API_T, "api", {"name": "ddb-blueprint-test-shop"})
CART = res(RESOURCE_T, "api-resource-cart", {"pathPart": "cart", "parentId": UNKNOWN, "restApi": UNKNOWN},
           parentId=[REST_API], restApi=[REST_API])
ORDER = res(RESOURCE_T, "api-resource-orders-orderId",
            {"pathPart": "{orderId}", "parentId": UNKNOWN, "restApi": UNKNOWN}, parentId=[REST_API], restApi=[REST_API])
AUTHORIZER = res(AUTHORIZER_T, "api-cognito", {"type": "COGNITO_USER_POOLS", "restApi": UNKNOWN,
                                               "providerArns": [UNKNOWN]}, restApi=[REST_API])
BODY_VALIDATOR = res(VALIDATOR_T, "api-validate-body", {
    "name": "body-and-parameters", "restApi": UNKNOWN, "validateRequestBody": True,
    "validateRequestParameters": True}, restApi=[REST_API])
PARAMS_VALIDATOR = res(VALIDATOR_T, "api-validate-params", {
    "name": "parameters", "restApi": UNKNOWN, "validateRequestBody": False,
    "validateRequestParameters": True}, restApi=[REST_API])
INTEGRATION_ROLE = res(ROLE_T, "api-integration-role", {"assumeRolePolicy": UNKNOWN})


def method(route: str, http_method: str, resource: dict[str, Any], authorization: str,
           validator: dict[str, Any] | None = None, **inputs: Any) -> dict[str, Any]:
    deps: dict[str, list[dict[str, Any]]] = {"restApi": [REST_API], "resourceId": [resource]}
    values: dict[str, Any] = {"restApi": UNKNOWN, "resourceId": UNKNOWN, "httpMethod": http_method,
                              "authorization": authorization, **inputs}
    if authorization == "COGNITO_USER_POOLS":
        values["authorizerId"] = UNKNOWN
        deps["authorizerId"] = [AUTHORIZER]
    if validator is not None:
        values["requestValidatorId"] = UNKNOWN
        deps["requestValidatorId"] = [validator]
    return res(METHOD_T, f"api-{route}-method", values, **deps)


def integration(route: str, owner: dict[str, Any], resource: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "restApi": UNKNOWN, "resourceId": UNKNOWN, "httpMethod": owner["inputs"]["httpMethod"], "type": "AWS",
        "integrationHttpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:dynamodb:action/GetItem",
        "credentials": UNKNOWN, "passthroughBehavior": "NEVER", "timeoutMilliseconds": 5000,
        "requestTemplates": {"application/json": REQUEST_TEMPLATE}, **inputs}
    deps = {"restApi": [REST_API], "resourceId": [resource], "httpMethod": [owner]}
    if values.get("credentials") == UNKNOWN:
        deps["credentials"] = [INTEGRATION_ROLE]
    return res(INTEGRATION_T, f"api-{route}-integration", values, **deps)


def response(route: str, owner: dict[str, Any], resource: dict[str, Any], key: str, status: str,
             pattern: str | None, template: str) -> dict[str, Any]:
    values: dict[str, Any] = {"restApi": UNKNOWN, "resourceId": UNKNOWN, "httpMethod": owner["inputs"]["httpMethod"],
                              "statusCode": status, "responseTemplates": {"application/json": template}}
    if pattern is not None:
        values["selectionPattern"] = pattern
    return res(RESPONSE_T, f"api-{route}-{key}", values, restApi=[REST_API], resourceId=[resource],
               httpMethod=[owner])


def responses(route: str, owner: dict[str, Any], resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [response(route, owner, resource, "ok", "200", None, OK_TEMPLATE),
            response(route, owner, resource, "4xx", "400", r"4\d{2}", ERROR_TEMPLATE),
            response(route, owner, resource, "5xx", "500", r"5\d{2}", ERROR_TEMPLATE)]


GET_CART = method("getCart", "GET", CART, "COGNITO_USER_POOLS", PARAMS_VALIDATOR,
                  requestParameters={"method.request.querystring.limit": False})
GET_CART_INTEGRATION = integration("getCart", GET_CART, CART, uri="arn:aws:apigateway:us-east-1:dynamodb:action/Query")
PUT_CART = method("putCart", "PUT", CART, "COGNITO_USER_POOLS", BODY_VALIDATOR,
                  requestModels={"application/json": "PutCartBody"})
PUT_CART_INTEGRATION = integration("putCart", PUT_CART, CART, uri="arn:aws:apigateway:us-east-1:dynamodb:action/PutItem")
GET_ORDER = method("getOrder", "GET", ORDER, "AWS_IAM", PARAMS_VALIDATOR,
                   requestParameters={"method.request.path.orderId": True})
GET_ORDER_INTEGRATION = integration("getOrder", GET_ORDER, ORDER, credentials=CALLER_CREDENTIALS)
PREFLIGHT = method("preflight-cart", "OPTIONS", CART, "NONE")
PREFLIGHT_INTEGRATION = res(INTEGRATION_T, "api-preflight-cart-integration", {
    "restApi": UNKNOWN, "resourceId": UNKNOWN, "httpMethod": "OPTIONS", "type": "MOCK",
    "passthroughBehavior": "NEVER", "requestTemplates": {"application/json": '{"statusCode": 200}'}},
    restApi=[REST_API], resourceId=[CART], httpMethod=[PREFLIGHT])
ROUTES = [GET_CART, GET_CART_INTEGRATION, *responses("getCart", GET_CART, CART),
          PUT_CART, PUT_CART_INTEGRATION, *responses("putCart", PUT_CART, CART),
          GET_ORDER, GET_ORDER_INTEGRATION, *responses("getOrder", GET_ORDER, ORDER),
          PREFLIGHT, PREFLIGHT_INTEGRATION]

OPS_KEY = res(KEY_T, "ops-key", {"enableKeyRotation": True})
ACCESS_LOGS = res(LOG_GROUP_T, "api-access-logs", {
    "name": "/aws/apigateway/ddb-blueprint-test-shop/access", "kmsKeyId": UNKNOWN, "retentionInDays": 90},
    kmsKeyId=[OPS_KEY])
DEPLOYMENT = res(DEPLOYMENT_T, "api-deployment", {"restApi": UNKNOWN, "triggers": {"definition": "2e1ec956"}},
                 restApi=[REST_API])
STAGE = res(STAGE_T, "api-stage", {
    "restApi": UNKNOWN, "deployment": UNKNOWN, "stageName": "v1", "xrayTracingEnabled": True,
    "accessLogSettings": {"destinationArn": UNKNOWN, "format": ACCESS_LOG_FORMAT}},
    restApi=[REST_API], deployment=[DEPLOYMENT], accessLogSettings=[ACCESS_LOGS])
SETTINGS = {"dataTraceEnabled": False, "loggingLevel": "ERROR", "metricsEnabled": True,
            "throttlingBurstLimit": 100, "throttlingRateLimit": 50}
METHOD_SETTINGS = res(SETTINGS_T, "api-settings", {
    "restApi": UNKNOWN, "stageName": "v1", "methodPath": "*/*", "settings": SETTINGS},
    restApi=[REST_API], stageName=[STAGE])
STAGING = [OPS_KEY, ACCESS_LOGS, DEPLOYMENT, STAGE, METHOD_SETTINGS]

API = [REST_API, CART, ORDER, AUTHORIZER, BODY_VALIDATOR, PARAMS_VALIDATOR, INTEGRATION_ROLE, *ROUTES, *STAGING]



# --- the compliant API ------------------------------------------------------------------------

def test_compliant_api_passes_every_new_rule():
    plan = {"project": "ddb-blueprint", "stack": "test", "resources": API, "outputs": {}}
    report = evaluate_plan(plan, {}, policies=API_POLICIES)
    assert report.results == [] and report.passed == NEW_RULES


def test_new_rules_are_registered_mandatory():
    assert [p.name for p in POLICIES[-len(API_POLICIES):]] == NEW_RULES
    assert all(p.enforcement_level.value == "mandatory" for p in API_POLICIES)


def test_stack_rules_report_nothing_without_api_resources():
    # Other stacks (and the offline/engine parity tests) must see no result from the stack rules.
    assert found(UNAUTHENTICATED, [OPS_KEY]) == [] and found(OBSERVABILITY, [OPS_KEY]) == []


# --- apigateway-no-unauthenticated-methods (A8) -----------------------------------------------

def test_cognito_iam_and_mock_preflight_pass():  # A8
    assert found(UNAUTHENTICATED, API) == []


@pytest.mark.parametrize("http_method", ["GET", "PUT", "DELETE"])
def test_none_on_a_data_method_is_violation(http_method: str):  # A8
    name, message = single_violation(UNAUTHENTICATED, replaced(API, changed(
        GET_CART, authorization="NONE", httpMethod=http_method, authorizerId=DROP)))
    assert name == "api-getCart-method"
    assert message.startswith(f'authorization is "NONE" on {http_method} method api-getCart-method')
    assert "API key alone is not authentication" in message and "A8" in message


def test_api_key_alone_is_not_authentication():  # A8
    _, message = single_violation(UNAUTHENTICATED, replaced(API, changed(
        GET_CART, authorization="NONE", apiKeyRequired=True, authorizerId=DROP)))
    assert "API key alone" in message


def test_none_on_options_wired_to_dynamodb_is_violation():  # A8: the preflight must be a MOCK
    aws_preflight = changed(PREFLIGHT_INTEGRATION, type="AWS")
    name, message = single_violation(UNAUTHENTICATED, replaced(API, aws_preflight))
    assert name == "api-preflight-cart-method"
    assert 'integration api-preflight-cart-integration has type "AWS"' in message and "MOCK" in message


def test_none_on_options_without_integration_is_violation():  # A8
    _, message = single_violation(UNAUTHENTICATED, removed(API, "api-preflight-cart-integration"))
    assert "no Integration of this stack is found for it" in message


def test_preflight_is_joined_on_resource_not_only_method():
    # The MOCK integration of another resource's OPTIONS does not excuse this one.
    other = changed(PREFLIGHT_INTEGRATION)
    other["propertyDependencies"]["resourceId"] = [ORDER["urn"]]
    other["propertyDependencies"]["httpMethod"] = []
    _, message = single_violation(UNAUTHENTICATED, replaced(API, other))
    assert "no Integration of this stack is found" in message


def test_preflight_joined_on_known_values():
    # Imported ids (known values, no dependencies) join by value.
    method_ = changed(without_dependencies(without_dependencies(PREFLIGHT, "restApi"), "resourceId"),
                      restApi="a1b2c3", resourceId="r1")
    mock = without_dependencies(without_dependencies(without_dependencies(
        changed(PREFLIGHT_INTEGRATION, restApi="a1b2c3", resourceId="r1"), "restApi"), "resourceId"), "httpMethod")
    assert found(UNAUTHENTICATED, replaced(API, method_, mock)) == []
    assert single_violation(UNAUTHENTICATED, replaced(API, method_, changed(mock, resourceId="r2")))


def test_preflight_join_undecidable_is_unknown():
    mock = without_dependencies(without_dependencies(PREFLIGHT_INTEGRATION, "resourceId"), "httpMethod")
    message = unknown_only(UNAUTHENTICATED, replaced(API, mock))
    assert message == "string value at .api-preflight-cart-method.integration can't be known during preview"


def test_preflight_with_unknown_integration_type_is_unknown():
    message = unknown_only(UNAUTHENTICATED, replaced(API, changed(PREFLIGHT_INTEGRATION, type=UNKNOWN)))
    assert message == "string value at .api-preflight-cart-integration.type can't be known during preview"


@pytest.mark.parametrize("kind", ["COGNITO_USER_POOLS", "CUSTOM"])
def test_authorizer_kinds_need_an_authorizer_id(kind: str):  # A8
    name, message = single_violation(UNAUTHENTICATED, replaced(API, without_dependencies(
        changed(GET_CART, authorization=kind, authorizerId=DROP), "authorizerId")))
    assert name == "api-getCart-method"
    assert message.startswith(f"authorization is {kind} on method api-getCart-method but authorizerId is not set")


def test_known_authorizer_id_passes():
    assert found(UNAUTHENTICATED, replaced(API, without_dependencies(
        changed(GET_CART, authorizerId="abc123"), "authorizerId"))) == []


def test_unknown_authorizer_id_without_authorizer_dependency_is_unknown():
    message = unknown_only(UNAUTHENTICATED, replaced(API, without_dependencies(GET_CART, "authorizerId")))
    assert message == "string value at .api-getCart-method.authorizerId can't be known during preview"


def test_missing_authorization_is_violation():  # the provider requires it; nothing is authenticated
    _, message = single_violation(UNAUTHENTICATED, replaced(API, changed(GET_ORDER, authorization=DROP)))
    assert message.startswith("authorization is not set on method api-getOrder-method")


def test_unknown_authorization_is_unknown():
    message = unknown_only(UNAUTHENTICATED, replaced(API, changed(GET_ORDER, authorization=UNKNOWN)))
    assert message == "string value at .api-getOrder-method.authorization can't be known during preview"


def test_unknown_http_method_on_none_is_unknown():
    message = unknown_only(UNAUTHENTICATED, replaced(API, changed(PREFLIGHT, httpMethod=UNKNOWN)))
    assert message.endswith(".api-preflight-cart-method.httpMethod can't be known during preview")


# --- apigateway-caller-credentials-iam-only (A1) ----------------------------------------------

def test_caller_credentials_on_iam_method_pass():  # A1
    assert found(CALLER, API) == []


def test_caller_credentials_on_cognito_method_is_violation():  # A1: no SigV4, no caller credentials
    name, message = single_violation(CALLER, replaced(API, changed(
        GET_CART_INTEGRATION, credentials=CALLER_CREDENTIALS)))
    assert name == "api-getCart-integration"
    assert "method api-getCart-method has authorization \"COGNITO_USER_POOLS\"" in message and "A1" in message


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_caller_credentials_of_other_partitions_are_recognised(partition: str):  # A1
    credentials = f"arn:{partition}:iam::*:user/*"
    assert single_violation(CALLER, replaced(API, changed(GET_CART_INTEGRATION, credentials=credentials)))
    assert found(CALLER, replaced(API, changed(GET_ORDER_INTEGRATION, credentials=credentials))) == []


def test_caller_credentials_without_method_is_violation():
    _, message = single_violation(CALLER, removed(API, "api-getOrder-method"))
    assert "no Method of this stack is found for it" in message


def test_caller_credentials_with_unknown_authorization_is_unknown():
    message = unknown_only(CALLER, replaced(API, changed(GET_ORDER, authorization=UNKNOWN)))
    assert message.endswith(".api-getOrder-method.authorization can't be known during preview")


def test_role_credentials_are_not_judged_by_the_caller_rule():
    assert found(CALLER, replaced(API, changed(GET_ORDER, authorization="COGNITO_USER_POOLS"),
                                  changed(GET_ORDER_INTEGRATION, credentials=ROLE_ARN))) == []


# --- apigateway-request-validation (A8) -------------------------------------------------------

def test_body_and_required_parameters_validated_pass():  # A8
    assert found(VALIDATION, API) == []


def test_body_with_parameters_only_validator_is_violation():  # A8
    weak = copy.deepcopy(PUT_CART)
    weak["propertyDependencies"]["requestValidatorId"] = [PARAMS_VALIDATOR["urn"]]
    name, message = single_violation(VALIDATION, replaced(API, weak))
    assert name == "api-putCart-method"
    assert ("has a request body model (requestModels) but its validator api-validate-params has "
            "validateRequestBody false") in message


def test_body_without_validator_is_violation():  # A8
    _, message = single_violation(VALIDATION, replaced(API, without_dependencies(
        changed(PUT_CART, requestValidatorId=DROP), "requestValidatorId")))
    assert "requestValidatorId is not set" in message and "validateRequestBody=true" in message


def test_required_parameter_without_validator_is_violation():  # A8
    _, message = single_violation(VALIDATION, replaced(API, without_dependencies(
        changed(GET_ORDER, requestValidatorId=DROP), "requestValidatorId")))
    assert "required parameters (method.request.path.orderId)" in message and "validateRequestParameters=true" in message


def test_required_parameter_with_validator_not_validating_parameters_is_violation():  # A8
    lax = changed(PARAMS_VALIDATOR, validateRequestParameters=False)
    results = found(VALIDATION, replaced(API, lax))
    assert {name for _, name, _ in results} == {"api-getOrder-method"}  # getCart's parameters are optional
    assert "validateRequestParameters false" in results[0][2]


def test_validator_flag_missing_is_false():  # the AWS default
    _, message = single_violation(VALIDATION, replaced(API, changed(BODY_VALIDATOR, validateRequestBody=DROP)))
    assert "its validator api-validate-body has validateRequestBody not set" in message


def test_optional_parameters_need_no_validator():
    assert found(VALIDATION, replaced(API, without_dependencies(
        changed(GET_CART, requestValidatorId=DROP), "requestValidatorId"))) == []


def test_validator_outside_the_stack_is_violation():
    _, message = single_violation(VALIDATION, replaced(API, without_dependencies(
        changed(PUT_CART, requestValidatorId="v1abc"), "requestValidatorId")))
    assert 'requestValidatorId "v1abc", which is no RequestValidator of this stack' in message


@pytest.mark.parametrize(("subject", "key"), [
    (PUT_CART, "requestModels"), (GET_ORDER, "requestParameters")])
def test_unknown_body_or_parameters_is_unknown(subject: dict[str, Any], key: str):
    message = unknown_only(VALIDATION, replaced(API, changed(subject, **{key: UNKNOWN})))
    assert message.endswith(f".{subject['name']}.{key} can't be known during preview")


def test_unknown_validator_flag_is_unknown():
    message = unknown_only(VALIDATION, replaced(API, changed(BODY_VALIDATOR, validateRequestBody=UNKNOWN)))
    assert message == "string value at .api-validate-body.validateRequestBody can't be known during preview"


# --- apigateway-integration-passthrough-never (A1, A2) ----------------------------------------

def integration_inputs(**inputs: Any) -> dict[str, Any]:
    values = {**GET_CART_INTEGRATION["inputs"], **inputs}
    return {k: v for k, v in values.items() if v is not DROP}


def test_generated_service_integration_passes():  # A1, A2
    assert violations(PASSTHROUGH, integration_inputs(), INTEGRATION_T) == []


@pytest.mark.parametrize("credentials", [ROLE_ARN, CALLER_CREDENTIALS, UNKNOWN,
                                         "arn:aws-cn:iam::123456789012:role/api", "arn:aws-cn:iam::*:user/*"])
def test_role_caller_and_unknown_credentials_pass(credentials: str):  # A1
    assert violations(PASSTHROUGH, integration_inputs(credentials=credentials), INTEGRATION_T) == []


def test_mock_preflight_passes():
    assert violations(PASSTHROUGH, PREFLIGHT_INTEGRATION["inputs"], INTEGRATION_T) == []


@pytest.mark.parametrize("kind", ["AWS_PROXY", "HTTP_PROXY"])
def test_proxy_integrations_take_no_templates(kind: str):
    assert violations(PASSTHROUGH, {"type": kind, "uri": "https://example.com"}, INTEGRATION_T) == []


@pytest.mark.parametrize(("behaviour", "shown"), [("WHEN_NO_MATCH", 'is "WHEN_NO_MATCH"'),
                                                  ("WHEN_NO_TEMPLATES", 'is "WHEN_NO_TEMPLATES"'),
                                                  (DROP, "is not set (WHEN_NO_MATCH by default)")])
@pytest.mark.parametrize("kind", ["AWS", "HTTP", "MOCK"])
def test_passthrough_other_than_never_is_violation(kind: str, behaviour: Any, shown: str):  # A2
    inputs = integration_inputs(type=kind, passthroughBehavior=behaviour)
    message = single(violations(PASSTHROUGH, inputs, INTEGRATION_T))
    assert message.startswith(f"passthroughBehavior {shown}: ") and "NEVER" in message and "A2" in message


@pytest.mark.parametrize("templates", [DROP, {}, {"text/plain": "x"}])
def test_missing_json_request_template_is_violation(templates: Any):  # A2
    message = single(violations(PASSTHROUGH, integration_inputs(requestTemplates=templates), INTEGRATION_T))
    assert message.startswith('requestTemplates has no "application/json" template')


def test_get_to_a_service_action_is_violation():  # A1
    message = single(violations(PASSTHROUGH, integration_inputs(integrationHttpMethod="GET"), INTEGRATION_T))
    assert message.startswith('integrationHttpMethod is "GET": AWS service actions are always called with POST')


def test_missing_integration_http_method_is_violation():  # A1
    message = single(violations(PASSTHROUGH, integration_inputs(integrationHttpMethod=DROP), INTEGRATION_T))
    assert message.startswith("integrationHttpMethod is not set")


@pytest.mark.parametrize("uri", [
    "arn:aws:apigateway:us-east-1:dynamodb:path/tables/carts",
    "arn:aws:apigateway:us-east-1:dynamodb:action/",
    "https://dynamodb.us-east-1.amazonaws.com/",
    "arn:aws:lambda:us-east-1:123456789012:function:x",
    DROP,
])
def test_uri_other_than_a_service_action_is_violation(uri: Any):  # A1
    message = single(violations(PASSTHROUGH, integration_inputs(uri=uri), INTEGRATION_T))
    assert message.startswith("uri ") and "action/<Action>" in message


@pytest.mark.parametrize("uri", ["arn:aws-cn:apigateway:cn-north-1:dynamodb:action/Query",
                                 "arn:aws-us-gov:apigateway:us-gov-west-1:dynamodb:action/GetItem"])
def test_uri_of_other_partitions_passes(uri: str):  # A1: partition from the provider
    assert violations(PASSTHROUGH, integration_inputs(uri=uri), INTEGRATION_T) == []


@pytest.mark.parametrize(("credentials", "start"), [
    (DROP, "credentials is not set"), ("", "credentials is not set"),
    ("arn:aws:iam::123456789012:user/deployer", 'credentials is "arn:aws:iam::123456789012:user/deployer"'),
    ("arn:aws:iam::*:role/*", 'credentials is "arn:aws:iam::*:role/*"')])
def test_bad_credentials_are_violations(credentials: Any, start: str):  # A1
    message = single(violations(PASSTHROUGH, integration_inputs(credentials=credentials), INTEGRATION_T))
    assert message.startswith(start) and "A1" in message


def test_http_integration_needs_no_credentials():
    inputs = integration_inputs(type="HTTP", uri="https://example.com/x", credentials=DROP, integrationHttpMethod="GET")
    assert violations(PASSTHROUGH, inputs, INTEGRATION_T) == []


@pytest.mark.parametrize("key", ["passthroughBehavior", "requestTemplates", "integrationHttpMethod", "uri", "type"])
def test_unknown_integration_property_cannot_be_judged(key: str):
    with pytest.raises(UnknownValueError) as raised:
        violations(PASSTHROUGH, integration_inputs(**{key: UNKNOWN}), INTEGRATION_T)
    assert raised.value.message == f"string value at .{key} can't be known during preview"


def test_violations_are_reported_before_an_unknown():
    messages: list[str] = []
    args = ResourceValidationArgs(
        INTEGRATION_T, unknown_checking_proxy(integration_inputs(uri=UNKNOWN, passthroughBehavior="WHEN_NO_MATCH")),
        "urn", "subject", PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
        None, {}, {})
    with pytest.raises(UnknownValueError):
        POLICY[PASSTHROUGH].validate(args, lambda message, urn=None: messages.append(message))
    assert len(messages) == 1 and messages[0].startswith("passthroughBehavior")


def test_missing_type_is_left_to_the_provider():
    assert violations(PASSTHROUGH, integration_inputs(type=DROP), INTEGRATION_T) == []


# --- apigateway-integration-error-responses (A5) ----------------------------------------------

def test_4xx_and_5xx_responses_pass():  # A5
    assert found(ERRORS, API) == []


@pytest.mark.parametrize(("gone", "missing"), [("api-getCart-5xx", "5xx"), ("api-getCart-4xx", "4xx")])
def test_missing_error_class_is_violation(gone: str, missing: str):  # A5
    name, message = single_violation(ERRORS, removed(API, gone))
    assert name == "api-getCart-integration"
    assert f"covers every {missing} status" in message and "A5" in message


def test_partial_pattern_does_not_cover_the_class():  # A5: "404" leaves 400, 409, 429... to the default
    narrow = changed(next(r for r in API if r["name"] == "api-getCart-4xx"), selectionPattern="404")
    _, message = single_violation(ERRORS, replaced(API, narrow))
    assert "covers every 4xx status" in message


def test_patterns_of_several_responses_add_up():
    four = changed(next(r for r in API if r["name"] == "api-getCart-4xx"), selectionPattern="40\\d|4[1-9]\\d")
    both = changed(next(r for r in API if r["name"] == "api-getOrder-4xx"), selectionPattern="[45]\\d{2}")
    assert found(ERRORS, removed(replaced(API, four, both), "api-getOrder-5xx")) == []


def test_responses_of_another_method_do_not_count():
    # putCart shares getCart's resource; its responses do not cover getCart's integration.
    assert single_violation(ERRORS, removed(API, "api-getCart-4xx"))[0] == "api-getCart-integration"


def test_unknown_selection_pattern_is_unknown():
    unknown = changed(next(r for r in API if r["name"] == "api-getCart-5xx"), selectionPattern=UNKNOWN)
    message = unknown_only(ERRORS, replaced(API, unknown))
    assert message == "string value at .api-getCart-5xx.selectionPattern can't be known during preview"


def test_mock_integrations_need_no_error_responses():
    assert found(ERRORS, [PREFLIGHT, PREFLIGHT_INTEGRATION]) == []


# --- apigateway-templates-escape-user-input (A3) ----------------------------------------------

def findings(template: str, *, request: bool = True) -> list[tuple[int, str]]:
    return template_findings(template, request=request)


def request_template(*lines: str) -> str:
    return "\n".join(("## a comment line", *lines)) + "\n"


def test_escaped_sources_and_tainted_variables_pass():  # A3
    template = request_template(
        "#set($callerId = $context.authorizer.claims.sub)",
        "#set($body_note = $input.path('$.note'))",
        '{"Key": {"id": {"S": "$util.escapeJavaScript($input.params(\'id\'))' + ESCAPE + '"},',
        ' "user": {"S": "$util.escapeJavaScript($callerId)' + ESCAPE + '"},',
        ' "note": {"S": "$util.escapeJavaScript($body_note)' + ESCAPE + '"}}}')
    assert findings(template) == []


@pytest.mark.parametrize("source", [
    "$input.params('id')", "$!input.params('id')", "${input.params('id')}", "$!{input.params('id')}",
    "$input.params().path.get('id')", "$input.path('$.name')", "$context.authorizer.claims.sub",
    "$context.identity.cognitoIdentityId", "$util.base64Decode($x)", "$util.parseJson('{}')",
])
def test_unescaped_source_in_a_string_is_violation(source: str):  # A3: "S": "$input.params('id')"
    [(line, problem)] = findings(request_template('{"Key": {"id": {"S": "' + source + '"}}}'))
    assert line == 2 and problem.startswith("prints $") and "unescaped" in problem


def test_unescaped_tainted_variable_is_violation():  # A3: "S": "$body_note"
    template = request_template("#set($body_note = $input.path('$.note'))", '{"note": {"S": "$body_note"}}')
    [(line, problem)] = findings(template)
    assert line == 3
    assert problem.startswith("prints $body_note (from $input.path(...)) unescaped")


def test_taint_follows_assignments_and_base64_decoding():  # A3, A4
    template = request_template(
        "#set($token = \"$!input.params().querystring.get('nextToken')\")",
        "#set($rest = $token)",
        "#set($t0 = $util.base64Decode($rest))",
        '{"ExclusiveStartKey": {"sk": {"S": "$t0"}}}')
    [(line, problem)] = findings(template)
    assert line == 5 and problem.startswith("prints $t0 (from $util.base64Decode(...)) unescaped")


def test_taint_is_flow_insensitive():
    template = request_template('{"a": {"S": "$b"}}', "#set($b = $a)", "#set($a = $input.path('$.a'))")
    assert [line for line, _ in findings(template)] == [2]


@pytest.mark.parametrize("body", ["$input.body", "$!input.body", "${input.body}", "$input.json('$')",
                                  "$util.escapeJavaScript($input.json('$.a'))" + ESCAPE])
def test_raw_body_in_a_request_template_is_violation(body: str):  # A3: no pass-through at all
    [(line, problem)] = findings(request_template("{", f'"Item": "{body}"', "}"))
    assert line == 3 and "forwards the raw request body" in problem


def test_raw_body_in_a_set_of_a_request_template_is_violation():
    [(line, problem)] = findings(request_template("#set($all = $input.json('$'))", "{}"))
    assert line == 2 and "forwards the raw request body" in problem


def test_tainted_foreach_variable_printed_raw_is_violation():  # A3
    template = request_template(
        "#set($items = $input.path('$.items'))",
        '{"Items": [#foreach($item in $items){"S": "$item"}#if($foreach.hasNext),#end#end]}')
    [(line, problem)] = findings(template)
    assert line == 3 and problem.startswith("prints $item (from $items) unescaped")


def test_number_without_matches_check_is_violation():  # A3: "N": "$input.path('$.q')"
    [(line, problem)] = findings(request_template('{"q": {"N": "$input.path(\'$.q\')"}}'))
    assert line == 2 and problem.startswith("prints $input.path(...) unescaped")


def test_tainted_number_without_matches_check_is_violation():  # A3
    template = request_template("#set($q = $input.path('$.q'))", '{"q": {"N": "$q"}}')
    [(line, problem)] = findings(template)
    assert line == 3 and "never checks $q itself with .matches(" in problem


@pytest.mark.parametrize("check", [
    "#if(!$q.matches('^-?[0-9]{1,15}$'))#set($invalid = true)#end",
    "#if(\"$!q\" != \"\" && !\"$q\".matches('^-?[0-9]{1,15}$'))#set($invalid = true)#end",
    "#if(!${q}.matches(\"^(?:[1-9]|[1-9][0-9]|100)$\"))#set($invalid = true)#end",
    "#if(!$q.matches('^-?[0-9]{1,20}(\\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?$'))#set($invalid = true)#end",
])
def test_checked_number_passes_quoted_and_unquoted(check: str):  # A3
    template = request_template("#set($q = $input.path('$.q'))", check,
                                '{"q": {"N": "$q"}, "Limit": $q,', '"n": $!q}')
    assert findings(template) == []


@pytest.mark.parametrize("pattern", [".*", "^[0-9a-z]+$", "^[^\"]+$", "^\\w+$", "^[+-z]+$", "^\\S+$", "(?s).*"])
def test_matches_check_that_admits_more_than_numbers_does_not_count(pattern: str):  # A3
    template = request_template("#set($q = $input.path('$.q'))", f"#if(!$q.matches('{pattern}'))#end",
                                '{"q": {"N": "$q"}}')
    assert [line for line, _ in findings(template)] == [4]


def test_check_on_a_copy_is_not_a_check_of_the_printed_variable():  # the rule as specified: "checks it"
    template = request_template("#set($q = $input.path('$.q'))", '#set($text_q = "$!q")',
                                "#if(!$text_q.matches('^-?[0-9]{1,15}$'))#end", '{"q": {"N": "$q"}}')
    assert [line for line, _ in findings(template)] == [5]
    printed_copy = template.replace('"N": "$q"', '"N": "$text_q"')
    assert findings(printed_copy) == []


def test_number_derived_from_a_checked_number_needs_its_own_check():  # as in patchCartItem's :min0
    template = request_template("#set($d = $input.path('$.delta'))", "#if(!$d.matches('^-?[0-9]{1,15}$'))#end",
                                "#set($min = 1 - $d)", '{":a": {"N": "$d"}, ":min": {"N": "$min"}}')
    [(line, problem)] = findings(template)
    assert line == 5 and "$min (from $d)" in problem


@pytest.mark.parametrize("printed", ['"N": "x$q"', '"S": "$q"', '"N": "$q.toString()"', '"a": $q x'])
def test_checked_number_only_as_a_whole_json_number(printed: str):
    template = request_template("#set($q = $input.path('$.q'))", "#if(!$q.matches('^[0-9]+$'))#end",
                                "{" + printed + "}")
    assert [line for line, _ in findings(template)] == [4]


def test_escape_without_the_json_fix_is_violation():  # A3: escapeJavaScript emits \'
    [(line, problem)] = findings(request_template('{"S": "$util.escapeJavaScript($input.params(\'id\'))"}'))
    assert line == 2 and "without .replaceAll" in problem


def test_call_after_escape_that_could_undo_it_is_violation():  # A3
    template = request_template('{"S": "$util.escapeJavaScript($input.params(\'id\'))' + ESCAPE +
                                '.replace(\'\\\\"\',\'"\')"}')
    [(line, problem)] = findings(template)
    assert line == 2 and "calls .replace(...) on the result of $util.escapeJavaScript" in problem


def test_source_passed_to_another_function_is_violation():
    [(line, problem)] = findings(request_template('{"S": "$util.urlDecode($input.params(\'q\'))"}'))
    assert line == 2 and problem.startswith("prints $input.params(...) through $util.urlDecode(...)")


def test_evaluate_of_user_input_is_violation():  # template injection
    [(line, problem)] = findings(request_template("#evaluate($input.path('$.t'))"))
    assert line == 2 and problem.startswith("passes $input.path(...) to #evaluate")


def test_aliases_of_input_and_mutated_collections_are_tainted():
    template = request_template(
        "#set($in = $input)",
        "#set($list = [])",
        "#set($ignored = $list.add($input.path('$.x')))",
        '{"a": "$in.path(\'$.a\')", "b": "$list"}')
    [(line, problem)] = findings(template)
    assert line == 5 and "$in.path(...)" in problem and "$list" in problem


def test_sources_in_conditions_and_assignments_pass():  # A3 (b) (c) (d)
    template = request_template(
        "#set($type = \"$!input.path('$.__type')\")",
        "#if($type.endsWith('Exception') || $input.params('x') == '1')",
        '{"message": "bad"}',
        "#elseif($context.authorizer.claims.sub == '')",
        "#foreach($i in $input.path('$.items'))#end",
        "#end")
    assert findings(template) == []


def test_comment_lines_are_ignored_and_lines_are_numbered_from_one():
    template = "## $input.body\n  ## \"$input.params('a')\"\n{\"a\": \"$input.params('b')\"}\n"
    assert [line for line, _ in findings(template)] == [3]


def test_every_offending_line_is_reported():
    template = request_template('{"a": "$input.params(\'a\')",', '"b": "ok",', '"c": "$input.params(\'c\')"}')
    assert [line for line, _ in findings(template)] == [2, 4]


def test_untainted_values_print_freely():
    template = request_template("#set($now = $context.requestTimeEpoch / 1000)", '{"t": {"N": "$now"}, '
                                '"id": "$context.requestId"}')
    assert findings(template) == []


RESPONSE_OK = (
    "#set($items = $input.path('$.Items'))\n"
    '{"items": [\n'
    '#foreach($item in $items){"n": #if("$!{item.qty.N}" != "")${item.qty.N}#else null#end, '
    '"b": #if("$!{item.flag.BOOL}" != "")${item.flag.BOOL}#else null#end, '
    '"l": [#foreach($e in $item.lines.L){"p": #if("$!{e.M.price.N}" != "")${e.M.price.N}#else null#end}#end], '
    '"s": "$util.escapeJavaScript($item.name.S)' + ESCAPE + '"}#if($foreach.hasNext),#end\n'
    "#end\n"
    "]}\n")


def test_response_template_with_dynamodb_typed_numbers_passes():  # A3
    assert findings(RESPONSE_OK, request=False) == []


@pytest.mark.parametrize(("printed", "why"), [
    ('"s": "$item.name.S"', "unescaped"),
    ('"s": $item.name.S', "not a DynamoDB-typed field"),
    ('"n": $item.N', "not a DynamoDB-typed field"),
    ('"t": "$util.base64Encode($item.name.S)"', "through $util.base64Encode(...), not $util.escapeJavaScript"),
])
def test_response_template_prints_stored_strings_escaped(printed: str, why: str):  # A3
    template = "#set($item = $input.path('$.Item'))\n{" + printed + "}\n"
    [(line, problem)] = findings(template, request=False)
    assert line == 2 and why in problem


def test_matches_check_does_not_excuse_response_numbers():  # "(requests)": typed fields only
    template = "#set($x = $input.path('$.count'))\n#if(!$x.matches('^[0-9]+$'))#end\n{\"c\": $x}\n"
    assert [line for line, _ in findings(template, request=False)] == [3]


def test_raw_body_is_allowed_in_response_templates_only_escaped():
    escaped = '{"e": "$util.escapeJavaScript($input.body)' + ESCAPE + '"}'
    assert findings(escaped, request=False) == []
    assert [line for line, _ in findings('{"e": $input.json(\'$\')}', request=False)] == [1]


def template_violations(resource_type: str, templates: Any) -> list[str]:
    key = "requestTemplates" if resource_type == INTEGRATION_T else "responseTemplates"
    return violations(TEMPLATES, {"type": "AWS", key: templates}, resource_type)


def test_rule_reports_one_violation_per_offending_line_with_its_number():  # A3
    template = request_template("#set($n = $input.path('$.n'))", '{"a": "$n",', '"b": "$input.params(\'b\')"}')
    messages = template_violations(INTEGRATION_T, {"application/json": template})
    assert [m.split(":", 1)[0] for m in messages] == ['requestTemplates["application/json"] line 3',
                                                      'requestTemplates["application/json"] line 4']
    assert messages[0].endswith('(GOTCHAS A3). Line 3: {"a": "$n",')


def test_rule_reads_integration_response_templates():
    messages = template_violations(RESPONSE_T, {"application/json": '{"x": "$input.path(\'$.Item.x.S\')"}'})
    assert single(messages).startswith('responseTemplates["application/json"] line 1: prints $input.path(...)')


def test_rule_ignores_other_resource_types():
    assert violations(TEMPLATES, {"requestTemplates": {"application/json": "$input.body"}}, METHOD_T) == []


def test_missing_templates_pass():
    assert violations(TEMPLATES, {"type": "AWS"}, INTEGRATION_T) == []
    assert violations(TEMPLATES, {"statusCode": "200"}, RESPONSE_T) == []


def test_unknown_templates_cannot_be_judged():
    with pytest.raises(UnknownValueError) as raised:
        template_violations(INTEGRATION_T, UNKNOWN)
    assert raised.value.message == "string value at .requestTemplates can't be known during preview"


def test_unknown_template_is_judged_after_the_known_ones():
    messages: list[str] = []
    args = ResourceValidationArgs(
        INTEGRATION_T, unknown_checking_proxy({"requestTemplates": {
            "application/json": '{"a": "$input.params(\'a\')"}', "text/plain": UNKNOWN}}),
        "urn", "subject", PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
        None, {}, {})
    with pytest.raises(UnknownValueError):
        POLICY[TEMPLATES].validate(args, lambda message, urn=None: messages.append(message))
    assert len(messages) == 1 and messages[0].startswith('requestTemplates["application/json"] line 1')


# --- apigateway-stage-observability (A8) ------------------------------------------------------

def test_stage_with_json_access_logs_xray_and_method_settings_passes():  # A8
    assert found(OBSERVABILITY, API) == []


def stage_with(**inputs: Any) -> dict[str, Any]:
    return changed(STAGE, **inputs)


@pytest.mark.parametrize(("stage", "start"), [
    (stage_with(accessLogSettings=DROP), "stage api-stage: accessLogSettings.destinationArn is not set"),
    (stage_with(accessLogSettings={"format": ACCESS_LOG_FORMAT}), "stage api-stage: accessLogSettings.destinationArn"),
    (stage_with(accessLogSettings={"destinationArn": UNKNOWN, "format": "$context.requestId $context.status"}),
     "stage api-stage: accessLogSettings.format is not a JSON object"),
    (stage_with(accessLogSettings={"destinationArn": UNKNOWN, "format": '["$context.requestId"]'}),
     "stage api-stage: accessLogSettings.format is not a JSON object"),
    (stage_with(xrayTracingEnabled=False), "stage api-stage: xrayTracingEnabled is false"),
    (stage_with(xrayTracingEnabled=DROP), "stage api-stage: xrayTracingEnabled is not set"),
])
def test_stage_without_access_logs_or_tracing_is_violation(stage: dict[str, Any], start: str):  # A8
    results = found(OBSERVABILITY, replaced(API, stage))
    assert results and all(outcome == "violation" and name == "api-stage" for outcome, name, _ in results)
    assert results[0][2].startswith(start) and "A8" in results[0][2]


def test_stage_without_method_settings_is_violation():  # A8
    name, message = single_violation(OBSERVABILITY, removed(API, "api-settings"))
    assert name == "api-stage" and message.startswith('stage api-stage has no MethodSettings for "*/*"')


def test_method_settings_of_another_stage_do_not_count():  # joined on restApi and stageName
    other_stage = changed(STAGE, stageName="v2")
    other_stage["name"], other_stage["urn"] = "api-stage-v2", STAGE["urn"] + "-v2"
    assert single_violation(OBSERVABILITY, [*API, other_stage])[0] == "api-stage-v2"


def test_method_settings_for_one_method_do_not_count():
    narrow = changed(METHOD_SETTINGS, methodPath="cart/GET")
    assert single_violation(OBSERVABILITY, replaced(API, narrow))[0] == "api-stage"


def test_method_settings_joined_on_known_stage_name():
    by_value = without_dependencies(METHOD_SETTINGS, "stageName")
    assert found(OBSERVABILITY, replaced(API, by_value)) == []
    assert single_violation(OBSERVABILITY, replaced(API, changed(by_value, stageName="v2")))[0] == "api-stage"


def settings_with(**settings: Any) -> dict[str, Any]:
    values = {k: v for k, v in {**SETTINGS, **settings}.items() if v is not DROP}
    return changed(METHOD_SETTINGS, settings=values)


@pytest.mark.parametrize(("settings", "start"), [
    (settings_with(dataTraceEnabled=True), "settings.dataTraceEnabled is true: full request and response bodies"),
    (settings_with(loggingLevel="OFF"), 'settings.loggingLevel is "OFF"; set ERROR or INFO'),
    (settings_with(loggingLevel=DROP), "settings.loggingLevel is not set (OFF by default)"),
    (settings_with(metricsEnabled=False), "settings.metricsEnabled is false"),
    (settings_with(metricsEnabled=DROP), "settings.metricsEnabled is not set"),
    (settings_with(throttlingRateLimit=0), "settings.throttlingRateLimit is 0"),
    (settings_with(throttlingRateLimit=-1), "settings.throttlingRateLimit is -1"),
    (settings_with(throttlingBurstLimit=DROP), "settings.throttlingBurstLimit is not set"),
])
def test_method_settings_without_logging_metrics_or_throttling_is_violation(settings: dict[str, Any], start: str):
    name, message = single_violation(OBSERVABILITY, replaced(API, settings))  # A8
    assert name == "api-settings" and message.startswith(f"method settings api-settings: {start}")


@pytest.mark.parametrize("level", ["ERROR", "INFO"])
def test_logging_levels_error_and_info_pass(level: str):
    assert found(OBSERVABILITY, replaced(API, settings_with(loggingLevel=level, dataTraceEnabled=DROP))) == []


def route_override(**settings: Any) -> dict[str, Any]:
    """A per-method override as the program writes it (apiRouteThrottle): every setting stated."""
    values = {k: v for k, v in {**SETTINGS, "throttlingRateLimit": 20, "throttlingBurstLimit": 40, **settings}.items()
              if v is not DROP}
    return res(SETTINGS_T, "api-settings-putCartItem", {"restApi": UNKNOWN, "stageName": "v1",
                                                        "methodPath": "cart/items/{productId}/PUT", "settings": values},
               restApi=[REST_API], stageName=[STAGE])


def test_data_trace_is_refused_on_any_method_path():  # A8
    name, message = single_violation(OBSERVABILITY, [*API, route_override(dataTraceEnabled=True)])
    assert name == "api-settings-putCartItem" and "dataTraceEnabled is true" in message


def test_a_route_override_with_logging_metrics_and_its_own_limits_passes():  # A8, A11
    assert found(OBSERVABILITY, [*API, route_override()]) == []


@pytest.mark.parametrize(("settings", "start"), [
    ({"loggingLevel": DROP}, "settings.loggingLevel is not set (OFF by default)"),
    ({"loggingLevel": "OFF"}, 'settings.loggingLevel is "OFF"; set ERROR or INFO'),
    ({"metricsEnabled": DROP}, "settings.metricsEnabled is not set"),
    ({"metricsEnabled": False}, "settings.metricsEnabled is false"),
    ({"throttlingRateLimit": -1}, "settings.throttlingRateLimit is -1: the method is limited only by the account-wide"),
    ({"throttlingBurstLimit": DROP}, "settings.throttlingBurstLimit is not set"),
])
def test_a_route_override_must_state_logging_metrics_and_limits_itself(settings: dict[str, Any], start: str):  # A8, A11
    # Whether an override inherits the */* settings is undocumented: it may not rely on it.
    name, message = single_violation(OBSERVABILITY, [*API, route_override(**settings)])
    assert name == "api-settings-putCartItem"
    assert message.startswith(f"method settings api-settings-putCartItem: {start}")


def test_a_route_override_does_not_replace_the_stage_default():  # A8
    name, message = single_violation(OBSERVABILITY, [*removed(API, "api-settings"), route_override()])
    assert name == "api-stage" and message.startswith('stage api-stage has no MethodSettings for "*/*"')


@pytest.mark.parametrize(("subject", "path"), [
    (stage_with(accessLogSettings={"destinationArn": UNKNOWN, "format": UNKNOWN}), "api-stage.accessLogSettings.format"),
    (stage_with(xrayTracingEnabled=UNKNOWN), "api-stage.xrayTracingEnabled"),
    (settings_with(loggingLevel=UNKNOWN), "api-settings.settings.loggingLevel"),
    (settings_with(throttlingRateLimit=UNKNOWN), "api-settings.settings.throttlingRateLimit"),
    (changed(METHOD_SETTINGS, methodPath=UNKNOWN), "api-settings.methodPath"),
])
def test_unknown_observability_property_is_unknown(subject: dict[str, Any], path: str):
    message = unknown_only(OBSERVABILITY, replaced(API, subject))
    assert message == f"string value at .{path} can't be known during preview"


def test_unknown_destination_is_a_log_group_of_the_stack():
    assert found(OBSERVABILITY, API) == [] and STAGE["inputs"]["accessLogSettings"]["destinationArn"] == UNKNOWN


def test_stage_join_undecidable_is_unknown():
    loose = without_dependencies(changed(METHOD_SETTINGS, stageName=UNKNOWN), "stageName")
    message = unknown_only(OBSERVABILITY, replaced(API, loose))
    assert message == "string value at .api-stage.methodSettings can't be known during preview"


# --- apigateway-deployment-redeploys (A6) -----------------------------------------------------

def deployment(**inputs: Any) -> dict[str, Any]:
    return {k: v for k, v in {**DEPLOYMENT["inputs"], **inputs}.items() if v is not DROP}


def test_deployment_with_triggers_and_no_stage_passes():  # A6
    assert violations(REDEPLOYS, deployment(), DEPLOYMENT_T) == []


@pytest.mark.parametrize("stage_name", ["v1", UNKNOWN])
def test_deployment_stage_name_is_violation(stage_name: str):  # A6: pulumi-aws v7 has no such input
    message = single(violations(REDEPLOYS, deployment(stageName=stage_name), DEPLOYMENT_T))
    assert message.startswith("stageName is set on the Deployment") and "A6" in message


@pytest.mark.parametrize(("triggers", "shown"), [(DROP, "is not set"), ({}, "is empty")])
def test_deployment_without_triggers_is_violation(triggers: Any, shown: str):  # A6
    message = single(violations(REDEPLOYS, deployment(triggers=triggers), DEPLOYMENT_T))
    assert message.startswith(f"triggers {shown}: API changes would not be deployed")


def test_unknown_triggers_cannot_be_judged():
    with pytest.raises(UnknownValueError) as raised:
        violations(REDEPLOYS, deployment(triggers=UNKNOWN), DEPLOYMENT_T)
    assert raised.value.message == "string value at .triggers can't be known during preview"


def test_triggers_with_unknown_values_pass():  # the hash of unknown ids is still a trigger
    assert violations(REDEPLOYS, deployment(triggers={"definition": UNKNOWN}), DEPLOYMENT_T) == []


# --- log-groups-encrypted-with-retention ------------------------------------------------------

def log_group(**inputs: Any) -> dict[str, Any]:
    return {k: v for k, v in {**ACCESS_LOGS["inputs"], **inputs}.items() if v is not DROP}


@pytest.mark.parametrize("key", [UNKNOWN, "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
def test_encrypted_log_group_with_retention_passes(key: str):
    assert violations(LOGS, log_group(kmsKeyId=key), LOG_GROUP_T) == []


@pytest.mark.parametrize("key", [DROP, ""])
def test_log_group_without_key_is_violation(key: Any):
    assert single(violations(LOGS, log_group(kmsKeyId=key), LOG_GROUP_T)).startswith("kmsKeyId is not set")


@pytest.mark.parametrize(("retention", "shown"), [(DROP, "is not set"), (0, "is 0"), (-1, "is -1"), ("90", 'is "90"')])
def test_log_group_without_retention_is_violation(retention: Any, shown: str):
    message = single(violations(LOGS, log_group(retentionInDays=retention), LOG_GROUP_T))
    assert message.startswith(f"retentionInDays {shown}: the log events would be kept forever")


def test_unknown_retention_cannot_be_judged_after_the_key():
    messages: list[str] = []
    args = ResourceValidationArgs(
        LOG_GROUP_T, unknown_checking_proxy(log_group(kmsKeyId=DROP, retentionInDays=UNKNOWN)), "urn", "subject",
        PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None), None, {}, {})
    with pytest.raises(UnknownValueError):
        POLICY[LOGS].validate(args, lambda message, urn=None: messages.append(message))
    assert len(messages) == 1 and messages[0].startswith("kmsKeyId is not set")


# --- apigateway-no-account-settings (A7) ------------------------------------------------------

def test_account_resource_is_violation():  # A7
    message = single(violations(ACCOUNT_RULE, {"cloudwatchRoleArn": UNKNOWN}, ACCOUNT_T))
    assert message.startswith("aws.apigateway.Account sets the CloudWatch logging role of the whole account")
    assert "bootstrap stack" in message and "A7" in message


def test_account_rule_ignores_other_resource_types():
    assert violations(ACCOUNT_RULE, STAGE["inputs"], STAGE_T) == []


@pytest.mark.parametrize("rule", [PASSTHROUGH, TEMPLATES, REDEPLOYS, LOGS, ACCOUNT_RULE])
def test_resource_rules_ignore_other_resource_types(rule: str):
    assert violations(rule, {"type": "AWS", "requestTemplates": "{", "stageName": "v1"}, KEY_T) == []



def test_stack_rules_match_the_real_analyzer():
    """pulumi-policy's own AnalyzeStack, in-process, gives what evaluate_plan gives: joins through
    propertyDependencies, violations against the named URN, unknowns as advisory."""
    from google.protobuf import struct_pb2
    from pulumi.runtime import proto
    from pulumi_policy import StackValidationPolicy
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from policies.guardrails import PACK_ENFORCEMENT_LEVEL, PACK_NAME

    resources = removed(replaced(
        API, changed(GET_CART, authorization="NONE"), settings_with(loggingLevel="OFF"),
        changed(BODY_VALIDATOR, validateRequestBody=UNKNOWN)), "api-getOrder-5xx")
    stack_rules = [p for p in API_POLICIES if isinstance(p, StackValidationPolicy)]
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
        (UNAUTHENTICATED, "violation"), (OBSERVABILITY, "violation"), (ERRORS, "violation"), (VALIDATION, "unknown")}

# --- the real program ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prod_plan(reference_preview: Any) -> dict[str, Any]:
    return copy.deepcopy(reference_preview("prod").plan)


def test_real_prod_plan_has_no_mandatory_violation_from_the_new_rules(prod_plan: dict[str, Any]):
    report = evaluate_plan(prod_plan, {}, policies=API_POLICIES)
    assert [(r["policy"], r["urn"].rsplit("::", 1)[-1], r["message"]) for r in report.mandatory_violations] == []
    assert report.results == [] and report.passed == NEW_RULES
    assert {r["type"] for r in prod_plan["resources"]} >= {METHOD_T, INTEGRATION_T, RESPONSE_T, STAGE_T,
                                                          SETTINGS_T, DEPLOYMENT_T, LOG_GROUP_T, VALIDATOR_T}


def test_every_real_prod_template_passes(prod_plan: dict[str, Any]):  # A3, line by line
    judged = 0
    for resource in prod_plan["resources"]:
        for key, request in (("requestTemplates", True), ("responseTemplates", False)):
            for content_type, template in (resource["inputs"].get(key) or {}).items():
                judged += 1
                assert template_findings(template, request=request) == [], (resource["name"], key, content_type)
    assert judged >= 30  # 8 routes: one request and three response templates each


def test_real_cors_preflights_pass_the_method_rules(scratch: Any, tmp_path: Path):  # A8: OPTIONS + MOCK
    from stacks.offline.preview import preview

    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:apiCorsOrigins": ["https://shop.example.com"]})
    plan = preview(scratch.root, "qa", tmp_path).plan
    preflights = [r for r in plan["resources"] if r["type"] == METHOD_T and r["inputs"].get("httpMethod") == "OPTIONS"]
    assert preflights and all(r["inputs"]["authorization"] == "NONE" for r in preflights)
    rules = [p for p in API_POLICIES if p.name != TEMPLATES]
    assert evaluate_plan(plan, {}, policies=rules).results == []


def test_access_log_format_may_place_api_gateways_quoted_message_unquoted():
    from policies.guardrails.api import _is_json_object

    assert _is_json_object('{"requestId": "$context.requestId", "errorMessage": $context.error.messageString}')
    assert not _is_json_object('{"requestId": "$context.requestId", "errorMessage": $context.error.message}')
