"""Lambda functions, their stream mappings, permissions and roles, and the SQS/SNS messaging
around them (GOTCHAS L1, L2, L5, I8).

Resource rules judge one resource's inputs. What needs another resource is a stack policy: whether
a mapping reads a stream when its `eventSourceArn` is unknown (always, in preview: a table's stream
ARN is an output) is decided by the resource that ARN is computed from (`propertyDependencies`), and
a function's role is the `aws:iam/role:Role` its `role` input comes from. Stack policies see
inputs in preview and outputs during an update, so they read both shapes (a role ARN is known
after apply; a Role's `inlinePolicies` output lists the RolePolicy resources attached to it).

Unknown values follow the other rules: everything known is judged and reported first; then the
first value a rule needed but could not read raises UnknownValueError ("can't run policy during
preview", advisory). Accepted unknowns, where only presence is judged: a failure destination ARN,
a KMS key id, a function's log group, a permission's `sourceArn`/`sourceAccount`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from .api import Stack, stack_rule
from .base import TABLE, config_value, of_type, rule
from .props import UNKNOWN_SENTINELS, Prop, get_prop, is_number, show

FUNCTION = "aws:lambda/function:Function"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
PERMISSION = "aws:lambda/permission:Permission"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

PARTITION = r"arn:aws(?:-[a-z]+)*"
DYNAMODB_STREAM_ARN = re.compile(PARTITION + r":dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/stream/.+")
KINESIS_STREAM_ARN = re.compile(PARTITION + r":kinesis:[a-z0-9-]+:\d{12}:stream/.+")  # consumers included
# What an unknown eventSourceArn may be computed from.
STREAM_SOURCES = {TABLE: "DynamoDB stream", "aws:kinesis/stream:Stream": "Kinesis stream",
                  "aws:kinesis/streamConsumer:StreamConsumer": "Kinesis stream"}
OTHER_SOURCES = frozenset({QUEUE, "aws:msk/cluster:Cluster", "aws:msk/serverlessCluster:ServerlessCluster",
                           "aws:mq/broker:Broker", "aws:docdb/cluster:Cluster"})

MAX_RETRY_ATTEMPTS = 10_000  # exclusive: 0..9999 retries
RECORD_AGE_SECONDS = (60, 604_800)
PARTIAL_BATCH = "ReportBatchItemFailures"

AWS_MANAGED_KEY = re.compile(r"(?:^|:)alias/aws/")
LAMBDA_SERVICE = "lambda.amazonaws.com"
INVOKE = "lambda:InvokeFunction"
SERVICE_PRINCIPAL = re.compile(r"[a-z0-9.-]+\.amazonaws\.com")
# Services whose Lambda permission cannot name the calling resource: aws:SourceAccount is the
# confused-deputy guard there (GOTCHAS I8). Keep it to services this program uses or may use.
SOURCE_ACCOUNT_ONLY = frozenset({"config.amazonaws.com"})
DEFAULT_RUNTIMES = ["python3.11", "python3.12", "python3.13", "python3.14"]  # facts L7


# --- lambda-stream-mapping-safe (L1, L2) ------------------------------------------------------

def _describe(prop: Prop) -> str:
    """Prop.describe, with the engine's integral floats (-1.0) shown as the plan shows them (-1)."""
    if prop.known and isinstance(prop.value, float) and prop.value.is_integer():
        return f"is {int(prop.value)}"
    return prop.describe()


def _stream_kind(stack: Stack, mapping: PolicyResource) -> str | None:
    """"DynamoDB stream", "Kinesis stream" or None (another kind of source); "" when undecided."""
    arn = get_prop(mapping.props, "eventSourceArn")
    if arn.known:
        if not isinstance(arn.value, str):
            return None
        if DYNAMODB_STREAM_ARN.fullmatch(arn.value):
            return "DynamoDB stream"
        return "Kinesis stream" if KINESIS_STREAM_ARN.fullmatch(arn.value) else None
    if arn.missing:
        return None  # self-managed Kafka: no ARN, no stream
    sources = [d.resource_type for d in mapping.property_dependencies.get("eventSourceArn", [])]
    for source in sources:
        if source in STREAM_SOURCES:
            return STREAM_SOURCES[source]
    if any(source in OTHER_SOURCES for source in sources):
        return None
    if not get_prop(mapping.props, "topics").missing:
        return None  # Kafka mappings name topics
    position = stack.read(mapping, "startingPosition")
    if position.unknown:
        return ""
    # SQS takes no starting position; a stream requires one.
    return "stream (startingPosition is set)" if not position.blank else None


def _stream_mappings(stack: Stack, report_violation: ReportViolation) -> None:
    for mapping in stack.of(EVENT_SOURCE_MAPPING):
        kind = _stream_kind(stack, mapping)
        if kind:
            _check_stream_mapping(stack, mapping, kind, report_violation)


def _check_stream_mapping(stack: Stack, mapping: PolicyResource, kind: str, report_violation: ReportViolation) -> None:
    where = f"event source mapping {mapping.name} ({kind})"
    retries = stack.read(mapping, "maximumRetryAttempts")
    if not retries.unknown and not (is_number(retries.value) and 0 <= retries.value < MAX_RETRY_ATTEMPTS):
        default = " (-1 by default: infinite)" if retries.missing else ""
        report_violation(
            f"{where}: maximumRetryAttempts {_describe(retries)}{default}: a failing batch would be retried until "
            f"its records expire, blocking its shard; set 0..{MAX_RETRY_ATTEMPTS - 1} (GOTCHAS L1)", mapping.urn)
    age = stack.read(mapping, "maximumRecordAgeInSeconds")
    low, high = RECORD_AGE_SECONDS
    if not age.unknown and not (is_number(age.value) and low <= age.value <= high):
        default = " (-1 by default: until the record leaves the stream)" if age.missing else ""
        report_violation(
            f"{where}: maximumRecordAgeInSeconds {_describe(age)}{default}: set {low}..{high} seconds so a stuck "
            "batch goes to the failure destination instead of holding the shard (GOTCHAS L1)", mapping.urn)
    bisect = stack.read(mapping, "bisectBatchOnFunctionError")
    if not bisect.unknown and bisect.value is not True:
        default = " (false by default)" if bisect.missing else ""
        report_violation(
            f"{where}: bisectBatchOnFunctionError {bisect.describe()}{default}: one bad record fails its whole "
            "batch on every retry; set it to true (GOTCHAS L1)", mapping.urn)
    _check_response_types(stack, mapping, where, report_violation)
    destination = get_prop(mapping.props, "destinationConfig.onFailure.destinationArn")  # unknown: of the stack
    if destination.blank:
        report_violation(
            f"{where}: destinationConfig.onFailure.destinationArn is not set: records that exhaust their retries "
            "or age would be dropped without a trace; send failures to an encrypted SQS queue or SNS topic, which "
            "receives the batch's metadata (shard, sequence numbers), not the records: replay them from the "
            "stream while it retains them (GOTCHAS L1, L2)", mapping.urn)


def _check_response_types(stack: Stack, mapping: PolicyResource, where: str, report_violation: ReportViolation) -> None:
    types = stack.read(mapping, "functionResponseTypes")
    if types.unknown:
        return
    shown = types.describe()
    if types.known and _is_sequence(types.value):
        # Item by item: one unknown item does not hide a known "ReportBatchItemFailures".
        items = [get_prop(mapping.props, f"functionResponseTypes.{i}") for i in range(len(types.value))]
        if any(item.known and item.value == PARTIAL_BATCH for item in items):
            return
        unknown = next((item for item in items if item.unknown), None)
        if unknown is not None:
            stack.read(mapping, unknown.path)  # records it as undecided
            return
        shown = f"is {show([item.value for item in items])}"
    report_violation(
        f"{where}: functionResponseTypes {shown}: without {show(PARTIAL_BATCH)} a handler cannot report which "
        "records failed, so the whole batch is retried and records that succeeded are processed again; set "
        f'functionResponseTypes=["{PARTIAL_BATCH}"] (GOTCHAS L1)', mapping.urn)


def _is_sequence(value: Any) -> bool:
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, Mapping))


# --- messaging-encrypted-with-cmk --------------------------------------------------------------

@of_type(QUEUE, TOPIC)
def _validate_messaging_key(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    queue = args.resource_type == QUEUE
    what = "the queue's messages" if queue else "the topic's messages"
    key = get_prop(args.props, "kmsMasterKeyId")  # unknown: the ARN of a key of the stack
    managed = get_prop(args.props, "sqsManagedSseEnabled")  # missing on topics: an SQS-only input
    fix = "set kmsMasterKeyId to a customer-managed key of the stack (the ops key)"
    if key.blank:
        if managed.known and managed.value is True:
            report_violation(
                f"sqsManagedSseEnabled is true without kmsMasterKeyId: SSE-SQS encrypts with a key SQS owns, whose "
                f"use no key policy limits and CloudTrail does not show; {fix}")
        elif queue:
            report_violation(
                f"kmsMasterKeyId is not set: {what} would be encrypted at most with an SQS-owned key (SSE-SQS); {fix}")
        else:
            report_violation(f"kmsMasterKeyId is not set: {what} would be stored unencrypted; {fix}")
        return
    if key.known and (not isinstance(key.value, str) or AWS_MANAGED_KEY.search(key.value)):
        service = "sqs" if queue else "sns"
        report_violation(
            f"kmsMasterKeyId is {show(key.value)}: an AWS-managed key (alias/aws/{service}) has a policy nobody can "
            f"change, so no other service or account can be allowed to use it and its use cannot be limited; {fix}")
    if managed.known and managed.value is True:
        report_violation(
            "sqsManagedSseEnabled is true together with kmsMasterKeyId: SQS accepts only one kind of "
            "server-side encryption; remove sqsManagedSseEnabled and keep the customer-managed key")
    managed.require_known()


# --- lambda-supported-runtime (L5) ------------------------------------------------------------

RUNTIME_SCHEMA = PolicyConfigSchema(properties={
    "runtimes": {
        "type": "array", "items": {"type": "string"}, "default": DEFAULT_RUNTIMES,
        "description": "Lambda runtimes functions may use: current ones only (GOTCHAS L5).",
    },
})


@of_type(FUNCTION)
def _validate_function(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    allowed = list(config_value(args, RUNTIME_SCHEMA, "runtimes"))
    undecided: list[Prop] = []
    runtime = get_prop(args.props, "runtime")
    if runtime.unknown:
        undecided.append(runtime)
    elif runtime.value not in allowed:
        report_violation(
            f"runtime {runtime.describe()}: use one of {', '.join(allowed)} (policy config `runtimes`): current "
            "runtimes only, with the matching Powertools layer and bytecode (GOTCHAS L5)")
    mode = get_prop(args.props, "tracingConfig.mode")
    if mode.unknown:
        undecided.append(mode)
    elif mode.value != "Active":
        default = " (PassThrough by default)" if mode.missing else ""
        report_violation(
            f"tracingConfig.mode {mode.describe()}{default}: the function would not trace its calls to DynamoDB, "
            'SNS and SQS; set tracingConfig.mode="Active"')
    log_group = get_prop(args.props, "loggingConfig.logGroup")  # unknown: a group of the stack
    if log_group.blank:
        report_violation(
            "loggingConfig.logGroup is not set: the function logs to the default /aws/lambda/<function name>, "
            "which has a retention and a customer-managed key only if the stack happens to create a group of that "
            "exact name; set loggingConfig.logGroup to the stack's log group")
    for prop in undecided:
        prop.require_known()


# --- lambda-permission-scoped (I8) ------------------------------------------------------------

API_GATEWAY_SERVICE = "apigateway.amazonaws.com"
EXECUTE_API_ARN = re.compile(PARTITION + r":execute-api:[^:]*:[^:]*:(?P<resource>.*)")


def execute_api_wildcard(arn: str) -> str | None:
    """Why an API Gateway source ARN (arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>)
    is not limited to one API and one stage, or None. Wildcards in the method or path are the
    rule's business only as far as the stage goes: `*` for a path parameter's value is expected."""
    found = EXECUTE_API_ARN.fullmatch(arn)
    if found is None:
        return None  # not an execute-api ARN: another kind of source, judged as before
    api_id, _, rest = found.group("resource").partition("/")
    stage = rest.split("/", 1)[0]
    for what, value in (("API id", api_id), ("stage", stage)):
        if not value:
            return f"it names no {what}"
        if any(c in value for c in "*?"):
            return f"the {what} is {show(value)}, a wildcard"
    return None


@of_type(PERMISSION)
def _validate_permission(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    undecided: list[Prop] = []
    action = get_prop(args.props, "action")
    if action.unknown:
        undecided.append(action)
    elif action.value != INVOKE:
        report_violation(
            f"action {action.describe()}: grant exactly {INVOKE}; other actions let the caller read or change the "
            "function, or call it through a function URL")
    principal = get_prop(args.props, "principal")
    if principal.unknown:
        undecided.append(principal)
    elif principal.known and isinstance(principal.value, str) and "*" in principal.value:
        report_violation(
            f"principal is {show(principal.value)}: anyone (any account, any service) could invoke the function; "
            "name the service principal and the source resource (GOTCHAS I8)")
    elif principal.known and isinstance(principal.value, str) and SERVICE_PRINCIPAL.fullmatch(principal.value):
        _check_source(args, principal.value, report_violation)
    for prop in undecided:
        prop.require_known()


def _check_source(args: ResourceValidationArgs, service: str, report_violation: ReportViolation) -> None:
    source = get_prop(args.props, "sourceArn")
    if source.known and not source.blank and service == API_GATEWAY_SERVICE and isinstance(source.value, str):
        problem = execute_api_wildcard(source.value)
        if problem:
            report_violation(
                f"sourceArn {show(source.value)}: {problem}, so another stage or API could invoke the function; "
                "build it from the stage's executionArn: <stage executionArn>/<METHOD>/<path> (GOTCHAS A12)")
        return
    if not source.blank:
        return  # unknown: the ARN of a resource of the stack
    if service in SOURCE_ACCOUNT_ONLY:
        if get_prop(args.props, "sourceAccount").blank:
            report_violation(
                f"principal is {show(service)} without sourceAccount: that service's use in any account could invoke "
                "the function (confused deputy); set sourceAccount to this account (GOTCHAS I8)")
        return
    report_violation(
        f"principal is {show(service)} without sourceArn: any {service.removesuffix('.amazonaws.com')} resource, in "
        "any account, could invoke the function (confused deputy); set sourceArn to the one resource that "
        "invokes it (GOTCHAS I8)")


# --- lambda-role-scoped (I8) ------------------------------------------------------------------

def _function_roles(stack: Stack, report_violation: ReportViolation) -> None:
    users: dict[str, list[PolicyResource]] = {}
    roles: dict[str, PolicyResource] = {}
    for function in stack.of(FUNCTION):
        for role in _roles_of(stack, function, report_violation):
            roles[role.urn] = role
            users.setdefault(role.urn, []).append(function)
    for urn, role in roles.items():
        names = ", ".join(sorted(f.name for f in users[urn]))
        where = f"role {role.name} (of function{'s' if len(users[urn]) > 1 else ''} {names})"
        _check_trust(stack, role, where, report_violation)
        _check_no_inline(stack, role, where, report_violation)


def _roles_of(stack: Stack, function: PolicyResource, report_violation: ReportViolation) -> list[PolicyResource]:
    """The Roles of the stack a function's `role` names; reports one that is no role of the stack."""
    dependencies = function.property_dependencies.get("role", [])
    found = [d for d in dependencies if d.resource_type == ROLE]
    if found:
        return found
    role = get_prop(function.props, "role")
    if role.unknown:
        if not dependencies:
            stack.read(function, "role")  # computed from nothing the stack shows: undecided
            return []
        sources = ", ".join(sorted({d.resource_type for d in dependencies}))
        report_violation(
            f"function {function.name}: role is computed from {sources}, not from an aws.iam.Role of this stack; "
            "run each function with a role the stack creates for it, so its trust and permissions are judged "
            "(GOTCHAS I8)", function.urn)
        return []
    if role.known and isinstance(role.value, str):
        matched, undecided = _roles_by_arn(stack, role.value)
        if matched:
            return matched
        if undecided:
            stack.defer(function, "role")
            return []
    report_violation(
        f"function {function.name}: role {role.describe()}, which is no aws.iam.Role of this stack: its trust "
        "policy and permissions escape the guardrails; create the function's role in the stack (GOTCHAS I8)",
        function.urn)
    return []


def _roles_by_arn(stack: Stack, arn: str) -> tuple[list[PolicyResource], bool]:
    """Roles whose `arn` (an output, after apply) or `name` is the ARN's; whether one is unreadable."""
    name = arn.rsplit("/", 1)[-1] if ":role/" in arn else None
    matched, undecided = [], False
    for role in stack.of(ROLE):
        role_arn, role_name = get_prop(role.props, "arn"), get_prop(role.props, "name")
        if (role_arn.known and role_arn.value == arn) or (name and role_name.known and role_name.value == name):
            matched.append(role)
        elif role_arn.unknown and role_name.unknown:
            undecided = True
    return matched, undecided


def _check_trust(stack: Stack, role: PolicyResource, where: str, report_violation: ReportViolation) -> None:
    document = stack.read(role, "assumeRolePolicy")
    if document.unknown or document.missing:
        return  # a required input: the provider rejects a role without one
    parsed: Any = None
    if isinstance(document.value, str):
        try:
            parsed = json.loads(document.value)
        except ValueError:
            parsed = None
    statements = parsed.get("Statement") if isinstance(parsed, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        report_violation(
            f"{where}: assumeRolePolicy is not a JSON trust policy with a Statement list; trust exactly "
            f"{LAMBDA_SERVICE} (GOTCHAS I8)", role.urn)
        return
    trusted: set[str] = set()
    undecided = False
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        unknown = _first_unknown(statement, ("Effect", "Principal", "NotPrincipal"))
        if unknown is not None:
            stack.undecided.append(UnknownValueError(
                unknown[1], [role.name, "assumeRolePolicy", "Statement", str(index), *unknown[0]]))
            undecided = True
            continue
        if statement.get("Effect") == "Deny":
            continue
        trusted |= _principals(statement)
    expected = {f"Service {LAMBDA_SERVICE}"}
    if trusted != expected and not (undecided and trusted <= expected):
        shown = ", ".join(sorted(trusted)) or "no principal"
        report_violation(
            f"{where}: assumeRolePolicy trusts {shown}; a function's role trusts exactly Service {LAMBDA_SERVICE} "
            "and nothing else, one role per service (GOTCHAS I8)", role.urn)


def _principals(statement: Mapping[str, Any]) -> set[str]:
    """Every principal an Allow statement trusts, as "<kind> <value>"."""
    if "NotPrincipal" in statement:
        return {"NotPrincipal (everyone not listed)"}
    principal = statement.get("Principal")
    if principal is None:
        return set()
    if not isinstance(principal, Mapping):
        return {f"Principal {show(principal)}"}
    found = set()
    for kind, values in principal.items():
        for value in values if isinstance(values, list) else [values]:
            found.add(f"{kind} {value}")
    return found


def _first_unknown(value: Any, keys: tuple[str, ...]) -> tuple[list[str], str] | None:
    """(path, sentinel) of the first engine sentinel under the given keys of a statement."""
    def walk(item: Any, path: list[str]) -> tuple[list[str], str] | None:
        if isinstance(item, str) and item in UNKNOWN_SENTINELS:
            return path, item
        children = item.items() if isinstance(item, Mapping) else enumerate(item) if isinstance(item, list) else []
        for key, child in children:
            found = walk(child, [*path, str(key)])
            if found is not None:
                return found
        return None

    for key in keys:
        if key in value:
            found = walk(value[key], [key])
            if found is not None:
                return found
    return None


def _check_no_inline(stack: Stack, role: PolicyResource, where: str, report_violation: ReportViolation) -> None:
    managed = stack.read(role, "managedPolicyArns")
    if managed.known and _is_sequence(managed.value) and len(managed.value) > 0:
        report_violation(
            f"{where}: managedPolicyArns is set: managed policies are not generated from declared grants and "
            "escape the IAM guardrails; declare grants instead (GOTCHAS I8)", role.urn)
    inline = stack.read(role, "inlinePolicies")
    if not (inline.known and _is_sequence(inline.value)):
        return
    generated = _generated_policy_names(stack, role)
    extra = []
    for index in range(len(inline.value)):
        name = stack.read(role, f"inlinePolicies.{index}.name")
        if name.unknown:
            continue
        # After apply the output lists the RolePolicy resources attached to the role: those are generated.
        if not (name.known and name.value in generated):
            extra.append(show(name.value) if name.known and name.value else "an unnamed block")
    if extra:
        report_violation(
            f"{where}: inlinePolicies is set ({', '.join(extra)}): inline policies on the role are not generated "
            "from declared grants (an empty block even deletes the generated ones); remove them, the role's "
            "RolePolicy resources carry its permissions and the IAM rules judge them (GOTCHAS I8)", role.urn)


def _generated_policy_names(stack: Stack, role: PolicyResource) -> set[str]:
    role_name = get_prop(role.props, "name")
    names = set()
    for policy in stack.of(ROLE_POLICY):
        attached = role in policy.property_dependencies.get("role", [])
        value = get_prop(policy.props, "role")
        if attached or (value.known and role_name.known and value.value == role_name.value):
            name = get_prop(policy.props, "name")
            if name.known:
                names.add(name.value)
    return names


FUNCTION_POLICIES = [
    rule("lambda-stream-mapping-safe", ("Event source mappings on DynamoDB or Kinesis streams bound retries (0..9999) and record age "
                     "(60..604800 s), bisect failing batches, report batch item failures and send failures to a "
                     "destination."), stack_rule(_stream_mappings), stack=True),
    rule("messaging-encrypted-with-cmk", ("SQS queues and SNS topics are encrypted with a customer-managed KMS key: not an AWS-managed "
                     "alias/aws/* key, not SSE-SQS."), _validate_messaging_key),
    rule("lambda-supported-runtime", ("Functions use a current runtime from the configured list, Active X-Ray tracing and the "
                     "stack's log group."), _validate_function, config_schema=RUNTIME_SCHEMA),
    rule("lambda-permission-scoped", ("Lambda permissions grant only lambda:InvokeFunction, never to \"*\"; a service principal is "
                     "limited to its source resource (sourceArn), or its account where only that is supported; an API Gateway "
                     "sourceArn names one API and one stage, never a wildcard stage."), _validate_permission),
    rule("lambda-role-scoped", ("Every function runs with a role of the stack that trusts exactly lambda.amazonaws.com and "
                     "carries no inline or managed policies of its own."), stack_rule(_function_roles), stack=True),
]
