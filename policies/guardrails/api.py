"""API Gateway -> DynamoDB rules (GOTCHAS A1-A8) and CloudWatch log groups.

Resource rules judge one resource. What a Method needs depends on other resources (its
Integration, its RequestValidator, a Stage's MethodSettings), so those rules are stack policies
that join resources the way the program wires them: on equal known input values, or, when an id
is unknown (always, in preview: ids are outputs), on the same `propertyDependencies` URNs; an
input computed from the other resource itself (`http_method=method.http_method`,
`stage_name=stage.stage_name`) joins too. A join neither way decidable is "undecided".

Unknown values follow the other rules: everything known is judged and reported first; then the
first value the rule needed but could not read raises UnknownValueError, which the engine reports
as advisory "can't run policy during preview". Stack policies name the resource in that path
(".api-getCart-method.authorization"). Some unknowns are accepted because only presence is
judged: a role ARN in `credentials`, `authorizerId`, an access-log destination, a log group key.

`apigateway-templates-escape-user-input` analyses the VTL text statically (see `template_findings`).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from .base import of_type, rule
from .props import UNKNOWN_SENTINELS, Prop, State, get_prop, is_number, show

METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
INTEGRATION_RESPONSE = "aws:apigateway/integrationResponse:IntegrationResponse"
REQUEST_VALIDATOR = "aws:apigateway/requestValidator:RequestValidator"
AUTHORIZER = "aws:apigateway/authorizer:Authorizer"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
ACCOUNT = "aws:apigateway/account:Account"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

AUTHENTICATED = ("COGNITO_USER_POOLS", "AWS_IAM", "CUSTOM")
NEEDS_AUTHORIZER = ("COGNITO_USER_POOLS", "CUSTOM")
TEMPLATED_TYPES = ("AWS", "HTTP", "MOCK")  # the integration kinds that map requests with templates
PARTITION = r"arn:aws(?:-[a-z]+)*"
SERVICE_ACTION_URI = re.compile(PARTITION + r":apigateway:[a-z]{2}(?:-[a-z]+)+-\d+:[a-z0-9.-]+:action/[A-Za-z][A-Za-z0-9]*")
ROLE_ARN = re.compile(PARTITION + r":iam::\d{12}:role/[\w+=,.@/-]+")
CALLER_CREDENTIALS = re.compile(PARTITION + r":iam::\*:user/\*")
JSON_CONTENT_TYPE = "application/json"
LOGGING_LEVELS = ("ERROR", "INFO")
ALL_METHODS = "*/*"

# How a Method, an Integration and an IntegrationResponse name the same route.
ROUTE_KEYS = ("restApi", "resourceId", "httpMethod")
STAGE_KEYS = ("restApi", "stageName")


# --- reading the stack ------------------------------------------------------------------------

def _undecided(resource: PolicyResource, prop: Prop) -> UnknownValueError:
    """The prop's error with the resource's name in front of its path."""
    error = prop.error
    sentinel = error.unknown_type_sentinel if error is not None else UNKNOWN_STRING_VALUE
    props = list(error.props) if error is not None else prop.path.split(".")
    return UnknownValueError(sentinel, [resource.name, *props])


def _dependency_urns(resource: PolicyResource, key: str) -> frozenset[str]:
    return frozenset(d.urn for d in (resource.property_dependencies or {}).get(key, []))


def _entries(prop: Prop) -> list[tuple[str, Prop]]:
    """The (key, value) pairs of a known mapping, each value read as KNOWN/MISSING/UNKNOWN.
    Keys such as "method.request.path.id" hold dots, so get_prop's dotted paths cannot reach them."""
    if not prop.known or not isinstance(prop.value, Mapping):
        return []
    pairs = []
    for key in list(prop.value):
        path = f"{prop.path}.{key}"
        try:
            value = prop.value[key]
        except UnknownValueError as error:
            pairs.append((key, Prop(path, State.UNKNOWN, error=error)))
            continue
        if isinstance(value, str) and value in UNKNOWN_SENTINELS:
            pairs.append((key, Prop(path, State.UNKNOWN, error=UnknownValueError(value, path.split(".")))))
        elif value is None:
            pairs.append((key, Prop(path, State.MISSING)))
        else:
            pairs.append((key, Prop(path, State.KNOWN, value)))
    return pairs


@dataclass
class Stack:
    """The stack's resources, joins between them, and the unknowns a stack rule met."""

    resources: Sequence[PolicyResource]
    undecided: list[UnknownValueError] = field(default_factory=list)

    def of(self, resource_type: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type == resource_type]

    def read(self, resource: PolicyResource, path: str) -> Prop:
        """A property the rule needs: an unknown value is recorded as undecided."""
        prop = get_prop(resource.props, path)
        if prop.unknown:
            self.undecided.append(_undecided(resource, prop))
        return prop

    def defer(self, resource: PolicyResource, what: str) -> None:
        self.undecided.append(UnknownValueError(UNKNOWN_STRING_VALUE, [resource.name, what]))

    def raise_undecided(self) -> None:
        if self.undecided:
            raise self.undecided[0]

    @staticmethod
    def same(a: PolicyResource, b: PolicyResource, key: str) -> bool | None:
        """Whether input `key` of a and b names the same thing; None when it cannot be decided."""
        if b.urn in _dependency_urns(a, key) or a.urn in _dependency_urns(b, key):
            return True  # one's value is computed from the other resource itself
        pa, pb = get_prop(a.props, key), get_prop(b.props, key)
        if pa.known and pb.known:
            return pa.value == pb.value
        if pa.missing or pb.missing:
            return False
        da, db = _dependency_urns(a, key), _dependency_urns(b, key)
        if da and db:
            return da == db
        return None

    def partners(self, resource: PolicyResource, resource_type: str,
                 keys: Sequence[str]) -> tuple[list[PolicyResource], bool]:
        """Resources of `resource_type` joined to `resource` on every key, and whether some other
        one could not be decided."""
        found, undecided = [], False
        for other in self.of(resource_type):
            results = [self.same(resource, other, key) for key in keys]
            if False in results:
                continue
            if None in results:
                undecided = True
            else:
                found.append(other)
        return found, undecided


def stack_rule(judge: Any) -> Any:
    """A stack validator that judges with a fresh Stack, then raises its first undecided value."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = Stack(args.resources)
        judge(stack, report_violation)
        stack.raise_undecided()

    validate.__name__ = validate.__qualname__ = f"_validate{judge.__name__}"
    return validate


# --- apigateway-no-unauthenticated-methods (A8) -----------------------------------------------

def _authenticated_methods(stack: Stack, report_violation: ReportViolation) -> None:
    for method in stack.of(METHOD):
        authorization = stack.read(method, "authorization")
        if authorization.unknown:
            continue
        if authorization.value in NEEDS_AUTHORIZER:
            _check_authorizer(stack, method, authorization.value, report_violation)
        elif authorization.value == "AWS_IAM":
            continue
        elif authorization.value == "NONE":
            http_method = stack.read(method, "httpMethod")
            if http_method.known and http_method.value == "OPTIONS":
                _check_preflight(stack, method, report_violation)
            elif http_method.known or http_method.missing:
                report_violation(
                    f'authorization is "NONE" on {http_method.value or "a"} method {method.name}: anyone can call '
                    "it (an API key alone is not authentication); use COGNITO_USER_POOLS with an authorizer, "
                    "AWS_IAM or CUSTOM (GOTCHAS A8)", method.urn)
        else:
            report_violation(
                f"authorization {authorization.describe()} on method {method.name}; use COGNITO_USER_POOLS with "
                "an authorizer, AWS_IAM or CUSTOM (GOTCHAS A8)", method.urn)


def _check_authorizer(stack: Stack, method: PolicyResource, kind: str, report_violation: ReportViolation) -> None:
    authorizer = get_prop(method.props, "authorizerId")
    if authorizer.known and isinstance(authorizer.value, str) and authorizer.value:
        return
    if authorizer.unknown:
        # The id of an Authorizer created in this stack is unknown until it exists.
        if not any(d.resource_type == AUTHORIZER for d in method.property_dependencies.get("authorizerId", [])):
            stack.undecided.append(_undecided(method, authorizer))
        return
    report_violation(
        f"authorization is {kind} on method {method.name} but authorizerId {authorizer.describe()}: API Gateway "
        f"rejects the method; set authorizerId to the {kind.lower().replace('_', ' ')} authorizer's id (GOTCHAS A8)",
        method.urn)


def _check_preflight(stack: Stack, method: PolicyResource, report_violation: ReportViolation) -> None:
    """OPTIONS may skip authorization only as a CORS preflight: a MOCK that reaches no data."""
    integrations, undecided = stack.partners(method, INTEGRATION, ROUTE_KEYS)
    if not integrations:
        if undecided:
            stack.defer(method, "integration")
        else:
            report_violation(
                f'authorization is "NONE" on OPTIONS method {method.name} and no Integration of this stack is '
                "found for it (same restApi, resourceId, httpMethod): an unauthenticated method may only be a CORS "
                "preflight answered by a MOCK integration (GOTCHAS A8)", method.urn)
        return
    for integration in integrations:
        kind = stack.read(integration, "type")
        if kind.known and kind.value != "MOCK" or kind.missing:
            report_violation(
                f'authorization is "NONE" on OPTIONS method {method.name}, whose integration {integration.name} has '
                f"type {kind.describe().removeprefix('is ')}: browsers send preflights without credentials, so an "
                "unauthenticated OPTIONS may only be a MOCK that touches no data; make it a MOCK or require "
                "authorization (GOTCHAS A8)", method.urn)


# --- apigateway-caller-credentials-iam-only (A1) ----------------------------------------------

def _caller_credentials(stack: Stack, report_violation: ReportViolation) -> None:
    for integration in stack.of(INTEGRATION):
        credentials = get_prop(integration.props, "credentials")
        if not (credentials.known and isinstance(credentials.value, str)
                and CALLER_CREDENTIALS.fullmatch(credentials.value)):
            continue
        methods, undecided = stack.partners(integration, METHOD, ROUTE_KEYS)
        if not methods:
            if undecided:
                stack.defer(integration, "method")
            else:
                report_violation(
                    f"integration {integration.name} calls DynamoDB with the caller's credentials "
                    f"({credentials.value}) but no Method of this stack is found for it; caller credentials are only "
                    "allowed on AWS_IAM methods (GOTCHAS A1)", integration.urn)
            continue
        for method in methods:
            authorization = stack.read(method, "authorization")
            if authorization.known and authorization.value != "AWS_IAM" or authorization.missing:
                report_violation(
                    f"integration {integration.name} calls DynamoDB with the caller's credentials "
                    f"({credentials.value}) but method {method.name} has authorization "
                    f"{authorization.describe().removeprefix('is ')}: without SigV4 there are no caller credentials "
                    "to pass; use AWS_IAM on the method, or a role trusting apigateway.amazonaws.com (GOTCHAS A1)",
                    integration.urn)


# --- apigateway-request-validation (A8) -------------------------------------------------------

def _request_validation(stack: Stack, report_violation: ReportViolation) -> None:
    for method in stack.of(METHOD):
        needs: list[tuple[str, str]] = []
        models = stack.read(method, "requestModels")
        if models.known and isinstance(models.value, Mapping) and len(models.value) > 0:
            needs.append(("validateRequestBody", "a request body model (requestModels)"))
        parameters = stack.read(method, "requestParameters")
        required = []
        for name, value in _entries(parameters):
            if value.unknown:
                stack.undecided.append(_undecided(method, value))
            elif value.known and value.value is True:
                required.append(name)
        if required:
            needs.append(("validateRequestParameters", f"required parameters ({', '.join(sorted(required))})"))
        if needs:
            _check_validator(stack, method, needs, report_violation)


def _check_validator(stack: Stack, method: PolicyResource, needs: list[tuple[str, str]],
                     report_violation: ReportViolation) -> None:
    validator_id = get_prop(method.props, "requestValidatorId")
    what = " and ".join(reason for _, reason in needs)
    if validator_id.blank:
        report_violation(
            f"method {method.name} has {what} but requestValidatorId is not set: API Gateway would not check "
            "them and invalid input would reach the template; set requestValidatorId to a RequestValidator "
            f"with {' and '.join(f'{flag}=true' for flag, _ in needs)} (GOTCHAS A8)", method.urn)
        return
    validators = [d for d in method.property_dependencies.get("requestValidatorId", [])
                  if d.resource_type == REQUEST_VALIDATOR]
    if not validators:
        if validator_id.unknown:
            stack.undecided.append(_undecided(method, validator_id))
        else:
            report_violation(
                f"method {method.name} has requestValidatorId {show(validator_id.value)}, which is no "
                "RequestValidator of this stack: its settings cannot be checked; create the validator in the "
                "stack (GOTCHAS A8)", method.urn)
        return
    for validator in validators:
        for flag, reason in needs:
            value = stack.read(validator, flag)
            if not value.unknown and value.value is not True:
                report_violation(
                    f"method {method.name} has {reason} but its validator {validator.name} has {flag} "
                    f"{value.describe().removeprefix('is ')}; use a validator with {flag}=true (GOTCHAS A8)",
                    method.urn)


# --- apigateway-integration-passthrough-never (A1, A2) ----------------------------------------

@of_type(INTEGRATION)
def _validate_integration(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = get_prop(args.props, "type")
    kind.require_known()
    if kind.missing or kind.value not in TEMPLATED_TYPES:
        return  # a required input; proxy integrations take no templates
    undecided: list[Prop] = []
    passthrough = get_prop(args.props, "passthroughBehavior")
    if passthrough.unknown:
        undecided.append(passthrough)
    elif passthrough.value != "NEVER":
        report_violation(
            f"passthroughBehavior {passthrough.describe()}{' (WHEN_NO_MATCH by default)' if passthrough.missing else ''}: "
            "a request with an unmatched content type would be forwarded raw to the backend; set "
            "passthroughBehavior=NEVER (GOTCHAS A2)")
    templates = get_prop(args.props, "requestTemplates")
    if templates.unknown:
        undecided.append(templates)
    elif not (templates.known and isinstance(templates.value, Mapping) and JSON_CONTENT_TYPE in list(templates.value)):
        report_violation(
            f"requestTemplates has no {show(JSON_CONTENT_TYPE)} template: with passthroughBehavior=NEVER every "
            "request is refused (415), otherwise the raw body is forwarded; map application/json explicitly "
            "(GOTCHAS A2)")
    if kind.value == "AWS":
        undecided += _check_service_call(args, report_violation)
    for prop in undecided:
        prop.require_known()


def _check_service_call(args: ResourceValidationArgs, report_violation: ReportViolation) -> list[Prop]:
    undecided = []
    method = get_prop(args.props, "integrationHttpMethod")
    if method.unknown:
        undecided.append(method)
    elif method.value != "POST":
        report_violation(
            f"integrationHttpMethod {method.describe()}: AWS service actions are always called with POST, "
            "whatever the method the client uses; set integrationHttpMethod=POST (GOTCHAS A1)")
    uri = get_prop(args.props, "uri")
    if uri.unknown:
        undecided.append(uri)
    elif not (isinstance(uri.value, str) and SERVICE_ACTION_URI.fullmatch(uri.value)):
        report_violation(
            f"uri {uri.describe()}; an AWS service integration calls "
            "arn:<partition>:apigateway:<region>:<service>:action/<Action>, with the partition taken from the "
            "provider (GOTCHAS A1)")
    credentials = get_prop(args.props, "credentials")
    if credentials.blank:
        report_violation(
            "credentials is not set: API Gateway has no identity to call the service with; set the ARN of a role "
            "trusting apigateway.amazonaws.com (or arn:<partition>:iam::*:user/* on AWS_IAM methods) (GOTCHAS A1)")
    elif credentials.known and not (isinstance(credentials.value, str) and (
            ROLE_ARN.fullmatch(credentials.value) or CALLER_CREDENTIALS.fullmatch(credentials.value))):
        report_violation(
            f"credentials {credentials.describe()}: use the ARN of a role trusting apigateway.amazonaws.com, or "
            "exactly arn:<partition>:iam::*:user/* (caller credentials, AWS_IAM methods only) (GOTCHAS A1)")
    # An unknown credentials value is the ARN of a role created in this stack.
    return undecided


# --- apigateway-integration-error-responses (A5) ----------------------------------------------

ERROR_CLASSES = {"4xx": range(400, 500), "5xx": range(500, 600)}


def _error_responses(stack: Stack, report_violation: ReportViolation) -> None:
    for integration in stack.of(INTEGRATION):
        kind = stack.read(integration, "type")
        if not (kind.known and kind.value == "AWS"):
            continue
        responses, undecided = stack.partners(integration, INTEGRATION_RESPONSE, ROUTE_KEYS)
        covered: set[int] = set()
        unreadable = False
        for response in responses:
            pattern = stack.read(response, "selectionPattern")
            if pattern.unknown:
                unreadable = True
            elif pattern.known and isinstance(pattern.value, str):
                covered |= _codes_matched(pattern.value)
        missing = [name for name, codes in ERROR_CLASSES.items() if not set(codes) <= covered]
        if not missing:
            continue
        if undecided:
            stack.defer(integration, "integrationResponses")
        elif not unreadable:
            report_violation(
                f"integration {integration.name} has no IntegrationResponse whose selectionPattern covers every "
                f"{' and '.join(missing)} status: for AWS integrations the pattern matches DynamoDB's HTTP status, "
                "so errors would be answered by the default (success) response; add responses with "
                r'selectionPattern "4\d{2}" and "5\d{2}" (GOTCHAS A5)', integration.urn)


def _codes_matched(pattern: str) -> set[int]:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return set()
    return {code for code in range(400, 600) if compiled.fullmatch(str(code))}


# --- apigateway-stage-observability (A8) ------------------------------------------------------

def _stage_observability(stack: Stack, report_violation: ReportViolation) -> None:
    for stage in stack.of(STAGE):
        _check_stage(stack, stage, report_violation)
        settings, undecided = [], False
        for candidate in stack.of(METHOD_SETTINGS):
            joined = [stack.same(candidate, stage, key) for key in STAGE_KEYS]
            if False in joined:
                continue
            path = stack.read(candidate, "methodPath")
            if None in joined or path.unknown:
                undecided = True
            elif path.value == ALL_METHODS:
                settings.append(candidate)
        if not settings:
            if undecided:
                stack.defer(stage, "methodSettings")
            else:
                report_violation(
                    f"stage {stage.name} has no MethodSettings for {show(ALL_METHODS)} (joined on restApi and "
                    "stageName): execution logging, metrics and throttling stay at their defaults (off, off, "
                    "account-wide); add one (GOTCHAS A8)", stage.urn)
    for settings in stack.of(METHOD_SETTINGS):
        _check_method_settings(stack, settings, report_violation)


def _check_stage(stack: Stack, stage: PolicyResource, report_violation: ReportViolation) -> None:
    destination = get_prop(stage.props, "accessLogSettings.destinationArn")  # unknown: a log group of the stack
    if destination.blank:
        report_violation(
            f"stage {stage.name}: accessLogSettings.destinationArn is not set: no access logs; send them to an "
            "encrypted log group of the stack (GOTCHAS A8)", stage.urn)
    log_format = stack.read(stage, "accessLogSettings.format")
    if log_format.blank:
        report_violation(
            f"stage {stage.name}: accessLogSettings.format is not set; use a JSON object of $context fields "
            "(requestId, identity, status, integration status...) (GOTCHAS A8)", stage.urn)
    elif log_format.known and not _is_json_object(log_format.value):
        report_violation(
            f"stage {stage.name}: accessLogSettings.format is not a JSON object; write access logs as JSON so "
            "they can be queried (GOTCHAS A8)", stage.urn)
    tracing = stack.read(stage, "xrayTracingEnabled")
    if not tracing.unknown and tracing.value is not True:
        report_violation(
            f"stage {stage.name}: xrayTracingEnabled {tracing.describe()}; set it to true (GOTCHAS A8)", stage.urn)


# $context variables API Gateway already renders as quoted JSON strings; they stand unquoted.
_QUOTED_BY_API_GATEWAY = re.compile(r"\$context\.(error\.messageString|authorizer\.error)")


def _is_json_object(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return isinstance(json.loads(_QUOTED_BY_API_GATEWAY.sub('"x"', text)), dict)
    except ValueError:
        return False


def _check_method_settings(stack: Stack, settings: PolicyResource, report_violation: ReportViolation) -> None:
    where = f"method settings {settings.name}"
    trace = stack.read(settings, "settings.dataTraceEnabled")  # missing is false, the AWS default
    if trace.known and trace.value is not False:
        report_violation(
            f"{where}: settings.dataTraceEnabled {trace.describe()}: full request and response bodies (user data, "
            "tokens) would be logged; set it to false (GOTCHAS A8)", settings.urn)
    # Every MethodSettings, the */* default and each per-method override alike: an override that
    # left logging, metrics or throttling out would rely on inheriting them, which AWS does not
    # document (GOTCHAS A8, A11).
    level = stack.read(settings, "settings.loggingLevel")
    if not level.unknown and level.value not in LOGGING_LEVELS:
        report_violation(
            f"{where}: settings.loggingLevel {level.describe()}{' (OFF by default)' if level.missing else ''}; "
            "set ERROR or INFO (GOTCHAS A8)", settings.urn)
    metrics = stack.read(settings, "settings.metricsEnabled")
    if not metrics.unknown and metrics.value is not True:
        report_violation(
            f"{where}: settings.metricsEnabled {metrics.describe()}; set it to true (GOTCHAS A8)", settings.urn)
    for name in ("throttlingRateLimit", "throttlingBurstLimit"):
        limit = stack.read(settings, f"settings.{name}")
        if not limit.unknown and not (is_number(limit.value) and limit.value > 0):
            report_violation(
                f"{where}: settings.{name} {limit.describe()}: the method is limited only by the account-wide "
                "quota, which one caller can exhaust for every API; set a positive limit (GOTCHAS A8)", settings.urn)


# --- apigateway-deployment-redeploys (A6) -----------------------------------------------------

@of_type(DEPLOYMENT)
def _validate_deployment(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    stage_name = get_prop(args.props, "stageName")
    if not stage_name.missing:
        report_violation(
            "stageName is set on the Deployment: pulumi-aws v7 has no such input, and a deployment-managed stage "
            "cannot carry logging, tracing or throttling; create an aws.apigateway.Stage that points at the "
            "deployment (GOTCHAS A6)")
    triggers = get_prop(args.props, "triggers")
    if triggers.unknown:
        triggers.require_known()
    if not triggers.known or not isinstance(triggers.value, Mapping) or len(triggers.value) == 0:
        report_violation(
            f"triggers {'is empty' if triggers.known else 'is not set'}: API changes would not be deployed; set "
            "triggers to a hash of the whole API definition (resources, methods, integrations, templates, "
            "responses) (GOTCHAS A6)")


# --- log-groups-encrypted-with-retention ------------------------------------------------------

@of_type(LOG_GROUP)
def _validate_log_group(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    # An unknown key ARN is the output of a key in this stack, i.e. a customer-managed key.
    if get_prop(args.props, "kmsKeyId").blank:
        report_violation(
            "kmsKeyId is not set: log events (caller ids, paths, errors) would be encrypted only with a "
            "CloudWatch-owned key; set the ARN of a customer-managed key whose policy allows logs.<region>.amazonaws.com")
    retention = get_prop(args.props, "retentionInDays")
    retention.require_known()
    if not (is_number(retention.value) and retention.value > 0):
        report_violation(
            f"retentionInDays {retention.describe()}: the log events would be kept forever; set a retention "
            "period in days")


# --- apigateway-no-account-settings (A7) ------------------------------------------------------

@of_type(ACCOUNT)
def _validate_no_account(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    report_violation(
        "aws.apigateway.Account sets the CloudWatch logging role of the whole account and region: there is one, "
        "every environment stack would fight over it and destroying any stack resets it; set it up once per "
        "account and region in a separate bootstrap stack (README: one-time bootstrap; GOTCHAS A7)")


# --- apigateway-templates-escape-user-input (A3) ----------------------------------------------
#
# Velocity, as API Gateway runs it, read statically. A template is cut into output text and
# directives; #set/#if/#elseif/#foreach arguments are code, everything else is printed.
#
# Sources: every $input reference (body, json(), path(), params(), and an alias of $input itself),
# $util.base64Decode(...) and $util.parseJson(...), $context.authorizer (claims included),
# $context.identity.cognito* and .userAgent, and $context.path (the raw request path). A variable
# assigned (#set, #foreach item, or a method call such as $list.add(...) given a tainted argument)
# from a source or a tainted variable is tainted; taint is flow-insensitive.
#
# In printed text a source or tainted value must be inside $util.escapeJavaScript(...), and that
# call may only be followed by .replaceAll("\\'","'") (escapeJavaScript emits \', not valid JSON;
# any other call could undo the escaping). The one other way out is a number: a plain tainted
# reference that is the whole of a JSON "N": "..." string or stands unquoted right after a JSON
# key, and either (request templates) the template checks that same reference with
# .matches('<pattern>') where the pattern can only match digits, signs, "." and e/E, or (response
# templates) it reads a DynamoDB-typed field, $x.<attr>.N or $x.<attr>.BOOL. Request templates
# never use $input.body or $input.json(...) at all (raw pass-through).
#
# Limits: `.matches` is required to be present, not proven to guard the output; block comments
# (#* *#) and escaped references (\$x) are read as plain text (stricter, not looser).

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
DIRECTIVE = re.compile(r"#(?:\{([A-Za-z]+)\}|([A-Za-z]+))")
CODE_DIRECTIVES = frozenset({"set", "if", "elseif", "foreach"})
OTHER_DIRECTIVES = frozenset({"evaluate", "define", "macro", "parse", "include"})  # arguments judged as output
BARE_DIRECTIVES = frozenset({"else", "end", "break", "stop"})
BUILTINS = frozenset({"input", "util", "context", "stageVariables", "foreach", "velocityCount"})
ESCAPE_FIX_ARGS = r'''"\\'","'"'''  # .replaceAll("\\'","'") with the spaces removed
JSON_KEY_BEFORE = re.compile(r'"(?:[^"\\]|\\.)*"\s*:\s*\Z')
NUMBER_STRING_BEFORE = re.compile(r'"N"\s*:\s*"\Z')
BARE_AFTER = re.compile(r"\s*(?:[,}\]]|\Z)")
MATCHES_CHECK = re.compile(
    r'(?:"\$!?\{?(?P<quoted>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\}?"|\$!?\{?(?P<bare>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\}?)'
    r"""\.matches\(\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)")\s*\)""")
NUMBER_CHARS = frozenset("0123456789+-.eE")
DYNAMODB_TYPED = ("N", "BOOL")


@dataclass(frozen=True)
class Member:
    name: str
    args: tuple[int, int] | None  # span of the text between the parentheses of a call


@dataclass(frozen=True)
class Ref:
    """One VTL reference ($x, $!x, ${x.y}, $x.m(...)...) in the template text."""

    start: int
    end: int
    root: str
    members: tuple[Member, ...]
    escaped: bool  # inside the argument of $util.escapeJavaScript(...)
    top: bool  # not inside another reference's arguments
    within: str = ""  # the call whose arguments hold it, e.g. "$util.base64Encode(...)"

    @property
    def plain(self) -> bool:
        return all(m.args is None for m in self.members)

    @property
    def path(self) -> str:
        return ".".join([self.root, *(m.name for m in self.members)])

    def describe(self) -> str:
        shown = [self.root, *(m.name + ("(...)" if m.args is not None else "") for m in self.members[:2])]
        return "$" + ".".join(shown) + (".." if len(self.members) > 2 else "")


@dataclass(frozen=True)
class Segment:
    kind: str  # "output" or a directive name
    start: int
    end: int


def _skip_string(text: str, i: int, end: int) -> int:
    """Index after the string literal opening at text[i] (Velocity has no backslash escapes)."""
    close = text.find(text[i], i + 1, end)
    return end if close < 0 else close + 1


def _close(text: str, i: int, end: int) -> int:
    """Index after the bracket matching text[i] ("(" or "["), skipping string literals."""
    depth, j = 0, i
    while j < end:
        char = text[j]
        if char in "'\"":
            j = _skip_string(text, j, end)
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return end


def _parse_ref(text: str, i: int, end: int) -> tuple[str, tuple[Member, ...], int] | None:
    j = i + 1
    if j < end and text[j] == "!":
        j += 1
    formal = j < end and text[j] == "{"
    if formal:
        j += 1
    name = IDENT.match(text, j, end)
    if name is None:
        return None
    root, j = name.group(), name.end()
    members: list[Member] = []
    while j < end:
        if text[j] == "." and (member := IDENT.match(text, j + 1, end)) is not None:
            j = member.end()
            if j < end and text[j] == "(":
                close = _close(text, j, end)
                members.append(Member(member.group(), (j + 1, max(j + 1, close - 1))))
                j = close
            else:
                members.append(Member(member.group(), None))
        elif text[j] == "[":
            close = _close(text, j, end)
            members.append(Member("[]", (j + 1, max(j + 1, close - 1))))
            j = close
        else:
            break
    if formal and j < end and text[j] == "}":
        j += 1
    return root, tuple(members), j


def _refs(text: str, start: int, end: int, *, code: bool, escaped: bool = False,
          top: bool = True, within: str = "") -> Iterator[Ref]:
    """Every reference in text[start:end], nested ones (in call arguments, in strings) included.
    In code, '...' is a literal and "..." an interpolated string; in output text quotes are text."""
    j = start
    while j < end:
        char = text[j]
        if code and char == "'":
            j = _skip_string(text, j, end)
            continue
        if code and char == '"':
            close = _skip_string(text, j, end)
            yield from _refs(text, j + 1, max(j + 1, close - 1), code=False, escaped=escaped, top=top,
                             within=within)
            j = close
            continue
        if char == "$":
            parsed = _parse_ref(text, j, end)
            if parsed is not None:
                root, members, after = parsed
                yield Ref(j, after, root, members, escaped, top, within)
                for index, member in enumerate(members):
                    if member.args is not None:
                        escaping = root == "util" and index == 0 and member.name == "escapeJavaScript"
                        call = "$" + ".".join([root, *(m.name for m in members[:index + 1])]) + "(...)"
                        yield from _refs(text, *member.args, code=True, escaped=escaped or escaping, top=False,
                                         within=call)
                j = after
                continue
        j += 1


def _segments(text: str) -> list[Segment]:
    segments: list[Segment] = []
    out_start = pos = 0
    while (match := DIRECTIVE.search(text, pos)) is not None:
        name = match.group(1) or match.group(2)
        if name not in CODE_DIRECTIVES | OTHER_DIRECTIVES | BARE_DIRECTIVES:
            pos = match.start() + 1
            continue
        segments.append(Segment("output", out_start, match.start()))
        j = match.end()
        if name not in BARE_DIRECTIVES:
            k = j
            while k < len(text) and text[k] in " \t":
                k += 1
            if k < len(text) and text[k] == "(":
                close = _close(text, k, len(text))
                segments.append(Segment(name, k + 1, max(k + 1, close - 1)))
                j = close
        out_start = pos = j
    segments.append(Segment("output", out_start, len(text)))
    return segments


def _top_level(text: str, start: int, end: int, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """The first match of `pattern` in text[start:end] outside string literals and brackets."""
    depth, j = 0, start
    while j < end:
        char = text[j]
        if char in "'\"":
            j = _skip_string(text, j, end)
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and (match := pattern.match(text, j, end)) is not None:
            return match
        j += 1
    return None


ASSIGN = re.compile(r"=(?!=)")
IN = re.compile(r"\s+in\s+")


def _assignment(text: str, segment: Segment) -> tuple[str | None, int]:
    """(assigned variable, start of the source expression) of a #set or #foreach."""
    pattern = ASSIGN if segment.kind == "set" else IN
    match = _top_level(text, segment.start, segment.end, pattern)
    if match is None or (segment.kind == "set" and text[match.start() - 1] in "!<>="):
        return None, segment.end
    target = next(_refs(text, segment.start, match.start(), code=True), None)
    return (target.root if target is not None else None), match.end()


def _source(ref: Ref) -> bool:
    names = [m.name for m in ref.members]
    if ref.root == "input":
        return True
    if ref.root == "util":
        return not names or names[0] in ("base64Decode", "parseJson")
    if ref.root == "context":
        if not names or names[0] in ("authorizer", "path"):
            return True
        if names[0] == "identity":
            return len(names) == 1 or names[1].lower().startswith("cognito") or names[1] == "userAgent"
    return False


@dataclass
class _Template:
    text: str
    request: bool
    segments: list[Segment]
    tainted: dict[str, str] = field(default_factory=dict)  # variable -> where its value came from

    def bad(self, ref: Ref) -> bool:
        return _source(ref) or ref.root in self.tainted

    def origin(self, ref: Ref) -> str:
        return ref.describe() if _source(ref) else f"${ref.root}"

    def refs(self, segment: Segment) -> list[Ref]:
        return list(_refs(self.text, segment.start, segment.end, code=segment.kind != "output"))

    def spread_taint(self) -> None:
        """Flow-insensitive taint, to a fixed point."""
        changed = True
        while changed:
            changed = False
            for segment in self.segments:
                found: list[tuple[str, str]] = []
                if segment.kind in ("set", "foreach"):
                    target, source_start = _assignment(self.text, segment)
                    first = next((r for r in _refs(self.text, source_start, segment.end, code=True) if self.bad(r)),
                                 None)
                    if target is not None and first is not None:
                        found.append((target, self.origin(first)))
                for ref in self.refs(segment):  # $list.add($tainted) taints $list
                    for member in ref.members:
                        if member.args is None or ref.root in BUILTINS:
                            continue
                        first = next((r for r in _refs(self.text, *member.args, code=True) if self.bad(r)), None)
                        if first is not None:
                            found.append((ref.root, self.origin(first)))
                for variable, origin in found:
                    if variable not in BUILTINS and variable not in self.tainted:
                        self.tainted[variable] = origin
                        changed = True

    def numeric_checks(self) -> set[str]:
        """References the template checks with .matches() against a numbers-only pattern."""
        checked = set()
        for match in MATCHES_CHECK.finditer(self.text):
            pattern = match.group("single") if match.group("single") is not None else match.group("double")
            if _numbers_only(pattern):
                checked.add(match.group("quoted") or match.group("bare"))
        return checked


def template_findings(text: str, *, request: bool) -> list[tuple[int, str]]:
    """(line number, problem) for every offending line of a mapping template, in line order."""
    cleaned = "\n".join("" if line.lstrip().startswith("##") else line for line in text.split("\n"))
    template = _Template(cleaned, request, _segments(cleaned))
    template.spread_taint()
    checked = template.numeric_checks() if request else set()
    line_starts = [0, *(i + 1 for i, char in enumerate(cleaned) if char == "\n")]
    problems: dict[int, list[str]] = {}

    def add(position: int, problem: str) -> None:
        line = bisect.bisect_right(line_starts, position)
        if problem not in problems.setdefault(line, []):
            problems[line].append(problem)

    output_before = ""
    for segment in template.segments:
        refs = template.refs(segment)
        if request:
            for ref in refs:
                if ref.root == "input" and ref.members and ref.members[0].name.lower() in ("body", "json"):
                    add(ref.start, f"uses {ref.describe()}, which forwards the raw request body: read single "
                                   "fields with $input.path('$.field') into #set variables and print them escaped")
        if segment.kind in CODE_DIRECTIVES:
            continue
        for ref in refs:
            problem = _printed(template, segment, ref, output_before, checked)
            if problem:
                add(ref.start, problem)
        if segment.kind == "output":
            output_before += cleaned[segment.start:segment.end]
    return [(line, "; ".join(found)) for line, found in sorted(problems.items())]


def _printed(template: _Template, segment: Segment, ref: Ref, output_before: str, checked: set[str]) -> str | None:
    """What is wrong with printing `ref`, if anything."""
    text = template.text
    if ref.root == "util" and ref.members and ref.members[0].name == "escapeJavaScript" and ref.members[0].args:
        if any(template.bad(r) for r in _refs(text, *ref.members[0].args, code=True)):
            chain = list(ref.members[1:])
            if not chain:
                return ("escapes with $util.escapeJavaScript(...) but without .replaceAll(\"\\\\'\",\"'\"): "
                        "escapeJavaScript emits \\', which is not valid JSON")
            if (chain[0].name == "replaceAll" and chain[0].args is not None
                    and re.sub(r"\s", "", text[slice(*chain[0].args)]) == ESCAPE_FIX_ARGS):
                chain.pop(0)
            if chain:
                return (f"calls .{chain[0].name}{'(...)' if chain[0].args else ''} on the result of "
                        "$util.escapeJavaScript(...), which may undo the escaping; follow it only with "
                        ".replaceAll(\"\\\\'\",\"'\")")
    if not template.bad(ref) or ref.escaped:
        return None
    what = ref.describe() if _source(ref) else f"{ref.describe()} (from {template.tainted[ref.root]})"
    fix = "print it as $util.escapeJavaScript(...).replaceAll(\"\\\\'\",\"'\")"
    if segment.kind in OTHER_DIRECTIVES:
        return f"passes {what} to #{segment.kind} unescaped"
    if not ref.top:
        return f"prints {what} through {ref.within}, not $util.escapeJavaScript(...); {fix}"
    if not ref.plain or _source(ref):
        return f"prints {what} unescaped; {fix}"
    before = output_before + text[segment.start:ref.start]
    after = text[ref.end:segment.end]
    in_number = (NUMBER_STRING_BEFORE.search(before) and after.startswith('"')) or (
        JSON_KEY_BEFORE.search(before) and BARE_AFTER.match(after))
    if not in_number:
        return f"prints {what} unescaped; {fix}"
    if template.request and ref.path not in checked:
        return (f"prints {what} as a number, but the template never checks {ref.describe()} itself with "
                f".matches('<numbers-only pattern>'); numbers are validated before use: check it, or {fix}")
    if not template.request and not (len(ref.members) >= 2 and ref.members[-1].name in DYNAMODB_TYPED):
        return (f"prints {what} unquoted, but it is not a DynamoDB-typed field ($item.<attribute>.N or .BOOL); "
                f"{fix}")
    return None


def _numbers_only(pattern: str) -> bool:
    """Whether a (Java) regular expression can only match digits, "+", "-", "." and e/E. Read
    conservatively: anything this reader does not know (\\w, ".", negated classes...) is a no."""
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n or pattern[i + 1] not in "d.+-":
                return False
            i += 2
        elif char == "[":
            i = _numbers_only_class(pattern, i + 1)
            if i < 0:
                return False
        elif char == "{":
            quantifier = re.compile(r"\{\d+(?:,\d*)?\}").match(pattern, i)
            if quantifier is None:
                return False
            i = quantifier.end()
        elif char == "(":
            prefix = next((p for p in ("(?:", "(?=", "(?!", "(?<=", "(?<!") if pattern.startswith(p, i)), None)
            if prefix is None and pattern.startswith("(?", i):
                return False
            i += len(prefix) if prefix else 1
        elif char in "^$|?*+)" or (char in NUMBER_CHARS and char != "."):
            i += 1
        else:
            return False
    return True


def _numbers_only_class(pattern: str, i: int) -> int:
    """Index after a character class starting at pattern[i] (after "["), or -1 if it admits more."""
    n = len(pattern)
    if i < n and pattern[i] == "^":
        return -1
    items: list[str] = []
    while i < n and pattern[i] != "]":
        if pattern[i] == "\\":
            if i + 1 >= n or pattern[i + 1] not in "d.+-":
                return -1
            items.append(pattern[i:i + 2])
            i += 2
        elif pattern[i] in "[&":
            return -1
        else:
            items.append(pattern[i])
            i += 1
    if i >= n:
        return -1
    for index, item in enumerate(items):
        if item == "-" and 0 < index < len(items) - 1:  # a range: both ends digits
            low, high = items[index - 1], items[index + 1]
            if not (low.isdigit() and high.isdigit()):
                return -1
        elif len(item) == 1 and item not in NUMBER_CHARS:
            return -1
    return i + 1


TEMPLATE_PROPERTIES = {INTEGRATION: ("requestTemplates", True), INTEGRATION_RESPONSE: ("responseTemplates", False)}


@of_type(*TEMPLATE_PROPERTIES)
def _validate_templates(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    path, request = TEMPLATE_PROPERTIES[args.resource_type]
    templates = get_prop(args.props, path)
    templates.require_known()
    undecided = []
    for content_type, template in _entries(templates):
        if template.unknown:
            undecided.append(template)
            continue
        if not (template.known and isinstance(template.value, str)):
            continue
        lines = template.value.split("\n")
        for line, problem in template_findings(template.value, request=request):
            shown = lines[line - 1].strip()
            shown = shown if len(shown) <= 160 else shown[:157] + "..."
            report_violation(f"{path}[{show(content_type)}] line {line}: {problem} (GOTCHAS A3). Line {line}: {shown}")
    for template in undecided:
        template.require_known()


API_POLICIES = [
    rule("apigateway-no-unauthenticated-methods", ("API methods use COGNITO_USER_POOLS (with an authorizer), AWS_IAM or CUSTOM; only a CORS "
                     "preflight (OPTIONS wired to a MOCK integration) may use NONE."), stack_rule(_authenticated_methods), stack=True),
    rule("apigateway-request-validation", ("Methods with a body model use a validator that validates the body; methods with required "
                     "parameters use one that validates parameters."), stack_rule(_request_validation), stack=True),
    rule("apigateway-integration-passthrough-never", ("AWS, HTTP and MOCK integrations never pass bodies through and map application/json; AWS "
                     "service integrations POST to an action URI with credentials."), _validate_integration),
    rule("apigateway-caller-credentials-iam-only", "Integrations that pass the caller's credentials (arn:<partition>:iam::*:user/*) serve AWS_IAM methods only.", stack_rule(_caller_credentials), stack=True),
    rule("apigateway-integration-error-responses", "Every AWS integration has integration responses whose selection patterns cover 4xx and 5xx.", stack_rule(_error_responses), stack=True),
    rule("apigateway-templates-escape-user-input", ("Mapping templates print user-controlled values only through $util.escapeJavaScript, or as "
                     "checked numbers; request templates never pass the raw body through."), _validate_templates),
    rule("apigateway-stage-observability", ("Stages have JSON access logs and X-Ray; each has */* method settings; every method "
                     "settings resource (*/* and per-method overrides) has ERROR/INFO logging, no data trace, metrics and "
                     "positive throttling."), stack_rule(_stage_observability), stack=True),
    rule("apigateway-deployment-redeploys", "Deployments have triggers (a hash of the API definition) and no stageName.", _validate_deployment),
    rule("log-groups-encrypted-with-retention", "CloudWatch log groups are encrypted with a KMS key and expire their events.", _validate_log_group),
    rule("apigateway-no-account-settings", "No aws.apigateway.Account in environment stacks: the logging role is set once per account and region.", _validate_no_account),
]
