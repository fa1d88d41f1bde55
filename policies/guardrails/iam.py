"""IAM and Cognito identity rules (GOTCHAS I1-I8, L3).

Permission documents (`RolePolicy.policy`, `Policy.policy`) and trust documents
(`Role.assumeRolePolicy`) arrive as JSON strings. During preview the whole string is usually
unknown: the rule cannot judge and lets UnknownValueError propagate, as the other rules do. When a
known document embeds an unknown value (an engine sentinel string), a statement whose judged
elements hold one is left undecided: the known statements are judged first, then the first
undecided one raises. The only tolerated unknowns are condition values whose presence, not value,
is what a rule checks (the Cognito `aud` pool id, `aws:SourceAccount`, the KMS alias).

IAM compares actions and condition keys case-insensitively, so do these rules; operators and
principals are compared exactly (the stricter reading).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from .base import Validator, of_type, rule
from .props import UNKNOWN_SENTINELS, get_prop, show

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
IDENTITY_POOL = "aws:cognito/identityPool:IdentityPool"
ROLE_ATTACHMENT = "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment"

PERMISSION_DOCUMENTS = {ROLE_POLICY: "policy", MANAGED_POLICY: "policy"}
TRUST_DOCUMENTS = {ROLE: "assumeRolePolicy"}

POLICY_VERSION = "2012-10-17"
WILDCARD = re.compile(r"[*?]")

# Actions that cannot be scoped to a resource: the only ones allowed on Resource "*" (GOTCHAS L3).
# X-Ray's API takes no resource: a traced function sends its segments and telemetry on "*".
RESOURCELESS_ACTIONS = frozenset(a.lower() for a in (
    "dynamodb:ListStreams", "dynamodb:ListTables", "dynamodb:DescribeLimits", "dynamodb:DescribeEndpoints",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords"))
# What Lambda needs to attach a function to a VPC (the AWSLambdaVPCAccessExecutionRole actions, D6):
# on "*" only in a statement of these actions alone.
LAMBDA_VPC_ACTIONS = frozenset(a.lower() for a in (
    "ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses"))
# A table's stream: the stream label is not known in advance (GOTCHAS L3).
STREAM_ARN = re.compile(r"arn:aws(-[a-z]+)*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/stream/\*")
# Every key of one account and region, narrowed by a kms:ResourceAliases condition.
KMS_ANY_KEY_ARN = re.compile(r"arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/\*")
KMS_ALIAS_OPERATOR, KMS_ALIAS_KEY = "ForAnyValue:StringEquals", "kms:ResourceAliases"

LEADING_KEYS = "dynamodb:LeadingKeys"
# The actions dynamodb:LeadingKeys restricts (GOTCHAS I2).
LEADING_KEYS_ACTIONS = frozenset(f"dynamodb:{name}".lower() for name in (
    "BatchGetItem", "BatchWriteItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PartiQLDelete",
    "PartiQLInsert", "PartiQLSelect", "PartiQLUpdate", "PutItem", "Query", "UpdateItem"))
# Reads of a whole table, which no row scope restricts (GOTCHAS I3).
FULL_TABLE_READS = ("dynamodb:Scan", "dynamodb:PartiQLSelect")
TABLE_ARN = re.compile(r"arn:[^:]*:dynamodb:[^:]*:[^:]*:table/([^/]+)(/index/.*)?")

ATTRIBUTES = "dynamodb:Attributes"
WHOLE_ITEM_WRITES = ("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem")
STRING_EQUALS = ("StringEquals", "StringEqualsIfExists")
SAFE_RETURN_VALUES = frozenset({"NONE", "UPDATED_OLD", "UPDATED_NEW"})

COGNITO = "cognito-identity.amazonaws.com"
COGNITO_AUD, COGNITO_AMR = f"{COGNITO}:aud", f"{COGNITO}:amr"
WEB_IDENTITY, TAG_SESSION = "sts:AssumeRoleWithWebIdentity", "sts:TagSession"
# Services that document aws:SourceAccount / aws:SourceArn in role trust policies for
# confused-deputy prevention (GOTCHAS I8). Keep it to services this program trusts or may trust.
# API Gateway is not here: no AWS page documents the keys for the role it assumes (I8).
SOURCE_ACCOUNT_SUPPORTED = frozenset({"lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "states.amazonaws.com"})
SOURCE_ACCOUNT = "aws:SourceAccount"


# --- documents --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    path: str  # the document's property, e.g. "policy"
    index: int
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        sid = self.body.get("Sid")
        return f"Statement[{self.index}] ({sid if isinstance(sid, str) and sid else 'no Sid'})"

    @property
    def allows(self) -> bool:
        # Anything but an explicit Deny is judged as a grant (IAM rejects other Effects anyway).
        return self.body.get("Effect") != "Deny"

    def unknown(self, *elements: str,
                tolerate: Callable[[tuple[str, ...]], bool] = lambda path: False) -> UnknownValueError | None:
        """The error for the first engine sentinel inside the given elements, if any."""
        for element in elements:
            for path, value in _leaves(self.body.get(element), (element,)):
                if isinstance(value, str) and value in UNKNOWN_SENTINELS and not tolerate(path):
                    return UnknownValueError(value, [self.path, "Statement", str(self.index), *path])
        return None

    def actions(self) -> list[str]:
        return _strings(self.body.get("Action"))

    def resources(self) -> list[str]:
        return _strings(self.body.get("Resource"))

    def grants(self, action: str) -> bool:
        """Whether an Allow statement's Action (or NotAction) covers `action`, wildcards included."""
        if not self.allows:
            return False
        if "Action" in self.body:
            return any(_like(pattern, action, ignore_case=True) for pattern in self.actions())
        if "NotAction" in self.body:
            return not any(_like(p, action, ignore_case=True) for p in _strings(self.body["NotAction"]))
        return False

    def operators_on(self, key: str) -> list[str]:
        """Condition operators with a block naming `key` (condition keys are case-insensitive)."""
        return [operator for operator, block in self._condition().items()
                if isinstance(block, Mapping) and any(k.lower() == key.lower() for k in block)]

    def condition_values(self, operator: str, key: str) -> list[Any] | None:
        """The values of `key` under `operator` as a list; None when the statement has no such condition."""
        block = self._condition().get(operator)
        if isinstance(block, Mapping):
            for name, value in block.items():
                if name.lower() == key.lower():
                    return list(value) if isinstance(value, list) else [value]
        return None

    def _condition(self) -> Mapping[str, Any]:
        condition = self.body.get("Condition")
        return condition if isinstance(condition, Mapping) else {}


@dataclass(frozen=True)
class Document:
    path: str
    version: Any
    statements: list[Statement]


@dataclass
class Findings:
    """What a rule found in one document: violations to report, statements it could not judge."""

    path: str
    violations: list[str] = field(default_factory=list)
    undecided: list[UnknownValueError] = field(default_factory=list)

    def add(self, statement: Statement, problem: str) -> None:
        self.violations.append(f"{self.path}: {statement.label} {problem}")

    def undecidable(self, statement: Statement, *elements: str,
                    tolerate: Callable[[tuple[str, ...]], bool] = lambda path: False) -> bool:
        """True (and recorded) when an element the rule reads is unknown: skip the statement."""
        error = statement.unknown(*elements, tolerate=tolerate)
        if error is not None:
            self.undecided.append(error)
        return error is not None


def read_document(args: ResourceValidationArgs, path: str, report_violation: ReportViolation) -> Document | None:
    """The parsed document, or None when it is missing (a required input: the provider rejects the
    resource, and no document grants nothing) or malformed (reported). Unknown raises."""
    prop = get_prop(args.props, path)
    text = prop.require_known()
    if prop.missing:
        return None
    fix = "build the document as a dict and serialise it with pulumi.Output.json_dumps"
    if not isinstance(text, str):
        report_violation(f"{path} is not a JSON string; {fix}")
        return None
    try:
        parsed = json.loads(text)
    except ValueError as error:
        report_violation(f"{path} is not valid JSON ({error}); {fix}")
        return None
    if not isinstance(parsed, dict):
        report_violation(f"{path} is not a JSON object; {fix}")
        return None
    raw = parsed.get("Statement")
    raw = [raw] if isinstance(raw, dict) else raw  # IAM accepts a single statement object
    if not isinstance(raw, list) or not raw:
        report_violation(f"{path}: Statement is not a non-empty list; list every statement explicitly")
        return None
    statements = []
    for index, body in enumerate(raw):
        if isinstance(body, dict):
            statements.append(Statement(path, index, body))
        else:
            report_violation(f"{path}: Statement[{index}] is not an object; {fix}")
    return Document(path, parsed.get("Version"), statements)


def document_rule(documents: Mapping[str, str], judge: Callable[[Document, Findings], None]) -> Validator:
    """A validator that parses the resource's document and reports what `judge` finds."""

    @of_type(*documents)
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        path = documents[args.resource_type]
        document = read_document(args, path, report_violation)
        if document is None:
            return
        findings = Findings(path)
        judge(document, findings)
        for message in findings.violations:
            report_violation(message)
        # Judge everything known first; then an unknown value means "can't run during preview".
        if findings.undecided:
            raise findings.undecided[0]

    validate.__name__ = validate.__qualname__ = f"_validate{judge.__name__}"
    return validate


# --- iam-policy-version (I6) ------------------------------------------------------------------

def _policy_version(document: Document, findings: Findings) -> None:
    version = document.version
    if isinstance(version, str) and version in UNKNOWN_SENTINELS:
        findings.undecided.append(UnknownValueError(version, [document.path, "Version"]))
    elif version != POLICY_VERSION:
        described = "is not set" if version is None else f"is {show(version)}"
        findings.violations.append(
            f'{document.path}: Version {described}; set "Version": "{POLICY_VERSION}": under the older '
            "version, policy variables such as ${aws:PrincipalTag/userSub} are literal text (GOTCHAS I6)")


# --- iam-no-wildcards (L3) --------------------------------------------------------------------

def _no_wildcards(document: Document, findings: Findings) -> None:
    for statement in document.statements:
        # Condition is only read for the presence of the KMS alias condition, so it is not judged here.
        if findings.undecidable(statement, "Effect", "Action", "NotAction", "Resource", "NotResource"):
            continue
        if not statement.allows:
            continue  # a Deny with wildcards only takes more away
        for element in ("NotAction", "NotResource"):
            if element in statement.body:
                findings.add(statement, f"allows with {element}, which grants everything not listed; list "
                                        f"what is granted in {element.removeprefix('Not')} instead")
        actions = statement.actions()
        for action in actions:
            if WILDCARD.search(action):
                findings.add(statement, f"allows action {show(action)}: a wildcard grants actions nobody "
                                        "declared; list the exact actions")
        for resource in statement.resources():
            _check_resource(statement, resource, actions, findings)


# One exact log group's streams (stream names are chosen at run time), for writing logs only.
LOG_STREAMS_ARN = re.compile(r"arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[^*?:]+:\*")
LOG_STREAM_ACTIONS = {"logs:createlogstream", "logs:putlogevents"}


def _check_resource(statement: Statement, resource: str, actions: list[str], findings: Findings) -> None:
    if resource == "*":
        if actions and {a.lower() for a in actions} <= LAMBDA_VPC_ACTIONS:
            return
        scopable = [a for a in actions if a.lower() not in RESOURCELESS_ACTIONS]
        if scopable:
            findings.add(statement, f'allows {", ".join(scopable)} on Resource "*"; name the table, index, '
                                    "stream or key ARNs (only dynamodb:ListStreams, ListTables, DescribeLimits, "
                                    'DescribeEndpoints and xray:PutTraceSegments, PutTelemetryRecords take "*", '
                                    "GOTCHAS L3)")
    elif WILDCARD.search(resource):
        if STREAM_ARN.fullmatch(resource):
            return
        if LOG_STREAMS_ARN.fullmatch(resource) and {a.lower() for a in actions} <= LOG_STREAM_ACTIONS:
            return  # the streams of one exact log group: their names are made at run time
        if KMS_ANY_KEY_ARN.fullmatch(resource):
            aliases = statement.condition_values(KMS_ALIAS_OPERATOR, KMS_ALIAS_KEY)
            if not _non_empty_strings(aliases):
                findings.add(statement, f"allows Resource {show(resource)} without a {KMS_ALIAS_OPERATOR} "
                                        f"condition on {KMS_ALIAS_KEY}; name the key by its alias there, or "
                                        "name the key ARN")
            return
        findings.add(statement, f"allows Resource {show(resource)} with a wildcard; name the exact ARNs (only "
                                "a table's stream, table/<name>/stream/*, may end in a wildcard, GOTCHAS L3)")


# --- iam-sid-required -------------------------------------------------------------------------

def _sid_required(document: Document, findings: Findings) -> None:
    seen: dict[str, Statement] = {}
    for statement in document.statements:
        if findings.undecidable(statement, "Sid"):
            continue
        sid = statement.body.get("Sid")
        if not isinstance(sid, str) or not sid:
            findings.add(statement, "has no Sid; give every statement a Sid naming the declared grant it "
                                    "came from, for the security review")
        elif not sid.isascii() or not sid.isalnum():
            findings.add(statement, "has a Sid with characters IAM rejects; use only A-Z, a-z and 0-9")
        elif sid in seen:
            findings.add(statement, f"repeats the Sid of {seen[sid].label}; Sids must be unique within a "
                                    "policy, one per declared grant")
        else:
            seen[sid] = statement


# --- iam-leading-keys (I1, I2, I3) ------------------------------------------------------------

def _leading_keys(document: Document, findings: Findings) -> None:
    for statement in document.statements:
        if findings.undecidable(statement, "Effect", "Action", "NotAction", "Condition"):
            continue
        operators = statement.operators_on(LEADING_KEYS)
        if not statement.allows or not operators:
            continue  # a Deny with a row condition only takes more away
        value_operators = [op for op in operators if op != "Null"]
        if not value_operators:
            findings.add(statement, f"has a Null condition on {LEADING_KEYS} but no ForAllValues: condition "
                                    "on its values; add ForAllValues:StringEquals with the owner's key (GOTCHAS I1)")
        for operator in value_operators:
            if not operator.startswith("ForAllValues:"):
                findings.add(statement, f"uses {operator} on {LEADING_KEYS}; use a ForAllValues: operator such "
                                        "as ForAllValues:StringEquals (GOTCHAS I1)")
        if not _is_false(statement.condition_values("Null", LEADING_KEYS)):
            findings.add(statement, f'lacks "Null": {{"{LEADING_KEYS}": "false"}}: ForAllValues is true when '
                                    "the request names no leading key, e.g. a Scan; add it (GOTCHAS I3)")
        if "NotAction" in statement.body:
            findings.add(statement, f"uses NotAction with {LEADING_KEYS}; list the actions, all of them item "
                                    "actions the condition restricts (GOTCHAS I2)")
        unscoped = [a for a in statement.actions() if a.lower() not in LEADING_KEYS_ACTIONS]
        if unscoped:
            findings.add(statement, f"allows {', '.join(unscoped)}, which {LEADING_KEYS} does not restrict: "
                                    "the row scope would not apply to them; keep only item actions "
                                    "(GetItem, Query, PutItem, UpdateItem, ...) in a row-scoped statement (GOTCHAS I2)")


# --- iam-row-scoped-no-scan (I3) --------------------------------------------------------------

@dataclass(frozen=True)
class RowScope:
    table: str
    arn: str  # the table ARN the scope was granted on, without /index/...
    statement: Statement


def _row_scoped_no_scan(document: Document, findings: Findings) -> None:
    judged = [s for s in document.statements
              if s.allows and not findings.undecidable(s, "Effect", "Action", "NotAction", "Resource", "NotResource")]
    scopes = [scope for statement in judged for scope in _row_scopes(statement)]
    tables: dict[str, RowScope] = {}
    for scope in scopes:
        tables.setdefault(scope.table, scope)  # named after the first statement scoping the table
    for statement in judged:
        reads = [action for action in FULL_TABLE_READS if statement.grants(action)]
        if not reads:
            continue
        for table, scope in tables.items():
            if _covers_table(statement, scope):
                findings.add(statement, f"allows {' and '.join(reads)} on table {table}, which "
                                        f"{scope.statement.label} row-scopes: a full-table read returns every "
                                        "owner's items regardless of dynamodb:LeadingKeys; remove it or grant it "
                                        "to another role (GOTCHAS I3)")


def _row_scopes(statement: Statement) -> list[RowScope]:
    if not any(op != "Null" for op in statement.operators_on(LEADING_KEYS)):
        return []
    scopes = []
    for resource in statement.resources():
        match = TABLE_ARN.fullmatch(resource)
        if match:
            scopes.append(RowScope(match.group(1), resource[:match.start(2)] if match.group(2) else resource,
                                   statement))
    return scopes


def _covers_table(statement: Statement, scope: RowScope) -> bool:
    if "Resource" in statement.body:
        return any(_pattern_covers(pattern, scope) for pattern in statement.resources())
    if "NotResource" in statement.body:
        return not any(_pattern_covers(p, scope) for p in _strings(statement.body["NotResource"]))
    return False


def _pattern_covers(pattern: str, scope: RowScope) -> bool:
    """Whether a resource pattern could match the scoped table or one of its indexes. Compared by
    table name (a replica in another region holds the same items); a wildcard spanning the ARN's
    colons is matched against the scoped ARN itself."""
    parts = pattern.split(":", 5)
    if len(parts) < 6:
        return _like(pattern, scope.arn) or _could_extend(pattern, f"{scope.arn}/index/")
    prefix, _, service, _, _, resource = parts
    table = f"table/{scope.table}"
    return (_like(prefix, "arn") and _like(service, "dynamodb")
            and (_like(resource, table) or _could_extend(resource, f"{table}/index/")))


# --- iam-attribute-scope (I5) -----------------------------------------------------------------

def _attribute_scope(document: Document, findings: Findings) -> None:
    for statement in document.statements:
        if findings.undecidable(statement, "Effect", "Action", "NotAction", "Condition"):
            continue
        operators = [op for op in statement.operators_on(ATTRIBUTES) if op != "Null"]
        if not statement.allows or not operators:
            continue
        for operator in operators:
            if not operator.startswith("ForAllValues:"):
                findings.add(statement, f"uses {operator} on {ATTRIBUTES}; use ForAllValues:StringEquals so "
                                        "every requested attribute must be listed (GOTCHAS I5)")
        if not _restricted_to(statement, "dynamodb:Select", {"SPECIFIC_ATTRIBUTES"}):
            findings.add(statement, f"does not restrict dynamodb:Select to SPECIFIC_ATTRIBUTES; add "
                                    '"StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}, or a '
                                    "request without a projection returns every attribute (GOTCHAS I5)")
        writes = [action for action in WHOLE_ITEM_WRITES if statement.grants(action)]
        if writes:
            findings.add(statement, f"allows {', '.join(writes)} with {ATTRIBUTES}: these write or delete "
                                    "whole items, attributes nobody listed included; grant UpdateItem on the "
                                    "listed attributes instead (GOTCHAS I5)")
        if statement.grants("dynamodb:UpdateItem") and not _restricted_to(
                statement, "dynamodb:ReturnValues", SAFE_RETURN_VALUES):
            findings.add(statement, "allows dynamodb:UpdateItem without restricting dynamodb:ReturnValues to "
                                    "NONE, UPDATED_OLD or UPDATED_NEW: ALL_OLD/ALL_NEW return unlisted "
                                    'attributes; add "StringEqualsIfExists": {"dynamodb:ReturnValues": '
                                    '["NONE", "UPDATED_OLD", "UPDATED_NEW"]} (GOTCHAS I5)')


def _restricted_to(statement: Statement, key: str, allowed: set[str] | frozenset[str]) -> bool:
    for operator in STRING_EQUALS:
        values = statement.condition_values(operator, key)
        if values and all(isinstance(v, str) and v in allowed for v in values):
            return True
    return False


# --- iam-cognito-trust (I7) -------------------------------------------------------------------

def _cognito_trust(document: Document, findings: Findings) -> None:
    for statement in document.statements:
        if findings.undecidable(statement, "Effect", "Principal"):
            continue
        if not statement.allows or COGNITO not in _principals(statement, "Federated"):
            continue
        # The pool id is only known after apply: the aud condition must be there, its value may be unknown.
        if findings.undecidable(statement, "Action", "NotAction", "Condition", tolerate=_is_aud_value):
            continue
        actions = {a.lower() for a in statement.actions()}
        if "NotAction" in statement.body or WEB_IDENTITY.lower() not in actions or not actions <= {
                WEB_IDENTITY.lower(), TAG_SESSION.lower()}:
            findings.add(statement, f"trusts {COGNITO} with Action {show(statement.body.get('Action'))}; allow "
                                    f"exactly {WEB_IDENTITY} (and {TAG_SESSION} for principal tags) (GOTCHAS I7)")
        if not _non_empty_strings(statement.condition_values("StringEquals", COGNITO_AUD)):
            findings.add(statement, f'lacks "StringEquals": {{"{COGNITO_AUD}": <identity pool id>}}: without it '
                                    "any identity pool's identities can assume the role (GOTCHAS I7)")
        if statement.condition_values("ForAnyValue:StringLike", COGNITO_AMR) not in (["authenticated"],):
            findings.add(statement, f'lacks "ForAnyValue:StringLike": {{"{COGNITO_AMR}": "authenticated"}}: '
                                    "without it unauthenticated (guest) identities can assume the role (GOTCHAS I7)")


def _is_aud_value(path: tuple[str, ...]) -> bool:
    return len(path) >= 3 and path[:2] == ("Condition", "StringEquals") and path[2].lower() == COGNITO_AUD


# --- iam-no-unauthenticated-identities (I7) ---------------------------------------------------

@of_type(IDENTITY_POOL, ROLE_ATTACHMENT)
def _validate_no_unauthenticated(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == ROLE_ATTACHMENT:
        _check_role_attachment(args, report_violation)
        return
    undecided = []
    for name in ("allowUnauthenticatedIdentities", "allowClassicFlow"):
        flag = get_prop(args.props, name)  # missing is false, the AWS default
        if flag.unknown:
            undecided.append(flag)
        elif flag.known and flag.value is not False:
            report_violation(f"{name} {flag.describe()}: guests would get AWS credentials without signing in; "
                             f"set {name}=false (GOTCHAS I7)")
    for flag in undecided:
        flag.require_known()


def _check_role_attachment(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    roles = get_prop(args.props, "roles")
    if not isinstance(roles.require_known(), Mapping):
        return
    # Iterate the keys: reading a value (the role ARN, unknown in preview) is not needed.
    if "unauthenticated" in list(roles.value) and not get_prop(args.props, "roles.unauthenticated").missing:
        report_violation("roles.unauthenticated is set: guest identities would assume that role; remove it "
                         "and keep only roles.authenticated (GOTCHAS I7)")


# --- iam-service-trust-scoped (I8) ------------------------------------------------------------

def _service_trust(document: Document, findings: Findings) -> None:
    for statement in document.statements:
        if findings.undecidable(statement, "Effect", "Principal", "NotPrincipal"):
            continue
        if not statement.allows:
            continue
        principal = statement.body.get("Principal")
        if "NotPrincipal" in statement.body or principal == "*" or "*" in _principals(statement, "AWS"):
            findings.add(statement, "trusts every AWS principal; name the one service that assumes the role "
                                    "(GOTCHAS I8)")
        federated = [p for p in _principals(statement, "Federated") if p != COGNITO]
        if federated:
            findings.add(statement, f"trusts federated provider {', '.join(map(show, federated))}; this program "
                                    f"only trusts Cognito identity pools ({COGNITO}, GOTCHAS I7)")
        if isinstance(principal, Mapping) and "Service" in principal:
            _check_service(statement, findings)


def _check_service(statement: Statement, findings: Findings) -> None:
    if findings.undecidable(statement, "Action", "NotAction", "Condition", tolerate=_is_source_account_value):
        return
    services = _principals(statement, "Service")
    if len(services) != 1 or WILDCARD.search(services[0]):
        findings.add(statement, f"trusts Service {show(statement.body['Principal']['Service'])}; name exactly "
                                "one service principal, one role per service (GOTCHAS I8)")
        return
    action = statement.body.get("Action")
    actions = action if isinstance(action, list) else [action]
    if "NotAction" in statement.body or [a.lower() if isinstance(a, str) else a for a in actions] != ["sts:assumerole"]:
        findings.add(statement, f"trusts {services[0]} with Action {show(action)}; allow exactly sts:AssumeRole "
                                "(GOTCHAS I8)")
    if services[0] in SOURCE_ACCOUNT_SUPPORTED and not _non_empty_strings(
            statement.condition_values("StringEquals", SOURCE_ACCOUNT)):
        findings.add(statement, f'trusts {services[0]} without "StringEquals": {{"{SOURCE_ACCOUNT}": <account id>}}: '
                                "another account's use of the service could assume the role (confused deputy; "
                                "GOTCHAS I8)")


def _is_source_account_value(path: tuple[str, ...]) -> bool:
    return len(path) >= 3 and path[:2] == ("Condition", "StringEquals") and path[2].lower() == SOURCE_ACCOUNT.lower()


# --- helpers ----------------------------------------------------------------------------------

def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, str(index)))
    else:
        yield path, value


def _strings(value: Any) -> list[str]:
    """An IAM element that is a string or a list of strings, as a list (other items dropped)."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _principals(statement: Statement, kind: str) -> list[str]:
    principal = statement.body.get("Principal")
    return _strings(principal.get(kind)) if isinstance(principal, Mapping) else []


def _non_empty_strings(values: Sequence[Any] | None) -> bool:
    return bool(values) and all(isinstance(v, str) and v for v in values)


def _is_false(values: Sequence[Any] | None) -> bool:
    return bool(values) and all(isinstance(v, (str, bool)) and str(v).lower() == "false" for v in values)


def _like(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: `*` any run of characters (colons and slashes included), `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if ignore_case else 0) is not None


def _could_extend(pattern: str, prefix: str) -> bool:
    """Whether the pattern matches some string `prefix` + at least one more character (an index
    name after ".../index/"): the pattern's wildcards simulated as a small automaton."""
    states = _star_closure(pattern, {0})
    for char in prefix:
        states = _star_closure(pattern, {i + 1 for i in states if i < len(pattern) and pattern[i] in (char, "?")}
                               | {i for i in states if i < len(pattern) and pattern[i] == "*"})
    return any(i < len(pattern) for i in states)


def _star_closure(pattern: str, states: set[int]) -> set[int]:
    closed, todo = set(states), list(states)
    while todo:
        i = todo.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in closed:
            closed.add(i + 1)
            todo.append(i + 1)
    return closed


# --- iam-role-policies-generated ---------------------------------------------------------------

ATTACHMENT_TYPES = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment")


@of_type(ROLE, *ATTACHMENT_TYPES)
def _validate_generated_only(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Access comes only from the RolePolicy generated from declared grants, which the other rules
    read; inline policies on the role or attached managed policies would escape them."""
    if args.resource_type in ATTACHMENT_TYPES:
        report_violation("a managed policy is attached to a role: its permissions are not generated from "
                         "declared grants and escape review; declare a grant instead")
        return
    for name in ("inlinePolicies", "managedPolicyArns"):
        value = get_prop(args.props, name)
        if value.unknown:
            value.require_known()
        if value.known and value.value:
            report_violation(f"{name} is set on the role: permissions must come from the generated "
                             "RolePolicy (declared grants); remove it and declare a grant instead")


IAM_POLICIES = [
    rule("iam-policy-version", 'IAM permission policies declare "Version": "2012-10-17", so policy variables work.', document_rule(PERMISSION_DOCUMENTS, _policy_version)),
    rule("iam-no-wildcards", ("IAM permission policies name exact actions and resources; Resource \"*\" only for "
                     "resource-less actions, wildcards only in stream ARNs and alias-conditioned key ARNs."), document_rule(PERMISSION_DOCUMENTS, _no_wildcards)),
    rule("iam-sid-required", "Every IAM permission policy statement has a unique Sid naming its declared grant.", document_rule(PERMISSION_DOCUMENTS, _sid_required)),
    rule("iam-leading-keys", ("Row-scoped statements use ForAllValues: on dynamodb:LeadingKeys, require the key with a "
                     "Null condition and allow only item actions the condition restricts."), document_rule(PERMISSION_DOCUMENTS, _leading_keys)),
    rule("iam-row-scoped-no-scan", "A policy that row-scopes a table allows no Scan or PartiQLSelect on that table.", document_rule(PERMISSION_DOCUMENTS, _row_scoped_no_scan)),
    rule("iam-attribute-scope", ("Attribute-scoped statements use ForAllValues:, require Select=SPECIFIC_ATTRIBUTES, "
                     "allow no whole-item writes and restrict ReturnValues on UpdateItem."), document_rule(PERMISSION_DOCUMENTS, _attribute_scope)),
    rule("iam-cognito-trust", ("Roles trusted by Cognito identity pools allow only AssumeRoleWithWebIdentity, for one "
                     "pool (aud) and authenticated identities (amr)."), document_rule(TRUST_DOCUMENTS, _cognito_trust)),
    rule("iam-no-unauthenticated-identities", ("Cognito identity pools allow no unauthenticated identities or classic flow, and map "
                     "no guest role."), _validate_no_unauthenticated),
    rule("iam-service-trust-scoped", ("Role trust policies trust one service principal with sts:AssumeRole (and aws:SourceAccount "
                     "where supported), never everyone or a non-Cognito federated provider."), document_rule(TRUST_DOCUMENTS, _service_trust)),
    rule("iam-role-policies-generated", ("Roles carry no inline policies or attached managed policies: every permission comes "
                     "from the policy generated from declared grants."), _validate_generated_only),
]
