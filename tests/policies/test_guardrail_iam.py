"""The IAM and Cognito guardrails called directly, the way the engine calls them: inputs wrapped in
`unknown_checking_proxy`, UnknownValueError propagating to the caller.

For every rule: a passing input, a failing input per distinct reason, the property missing, the
property unknown. Documents are shaped like the ones the program generates (see build/<stack>/plan.json).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.guardrails.offline import evaluate_plan
from tests.policies.guardrail_helpers import DROP, POLICY, UNKNOWN, collect_then_raise, single

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
IDENTITY_POOL = "aws:cognito/identityPool:IdentityPool"
ROLE_ATTACHMENT = "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment"

VERSION = "iam-policy-version"
WILDCARDS = "iam-no-wildcards"
SID = "iam-sid-required"
LEADING = "iam-leading-keys"
NO_SCAN = "iam-row-scoped-no-scan"
ATTRIBUTES = "iam-attribute-scope"
COGNITO = "iam-cognito-trust"
UNAUTHENTICATED = "iam-no-unauthenticated-identities"
SERVICE = "iam-service-trust-scoped"
PERMISSION_RULES = [VERSION, WILDCARDS, SID, LEADING, NO_SCAN, ATTRIBUTES]
TRUST_RULES = [COGNITO, SERVICE]

ARN = "arn:aws:dynamodb:us-east-1:123456789012"
CARTS = f"{ARN}:table/ddb-blueprint-dev-carts"
ORDERS = f"{ARN}:table/ddb-blueprint-dev-orders"
PRODUCTS = f"{ARN}:table/ddb-blueprint-dev-products"
ANY_KEY = "arn:aws:kms:us-east-1:123456789012:key/*"
ROW_SCOPE = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"]},
             "Null": {"dynamodb:LeadingKeys": "false"}}
KEY_BY_ALIAS = {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/ddb-blueprint/dev/tables"]}}

# The shopper's access policy: row-scoped cart, a stream consumer's grants, the table key by alias.
PERMISSIONS: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ShopperCartRowScoped", "Effect": "Allow",
     "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
     "Resource": [CARTS, f"{CARTS}/index/byAddedAt"], "Condition": ROW_SCOPE},
    {"Sid": "ProductEventsStream", "Effect": "Allow",
     "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
     "Resource": f"{PRODUCTS}/stream/*"},
    {"Sid": "ProductEventsListStreams", "Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"},
    {"Sid": "ShopperCartTableKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
     "Resource": ANY_KEY, "Condition": KEY_BY_ALIAS},
]}
# Row- and attribute-scoped reads of the shopper's orders, as the program generates them.
ORDERS_READ: dict[str, Any] = {
    "Sid": "ShopperOrdersItems", "Effect": "Allow",
    "Action": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], "Resource": [ORDERS],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"],
                                                "dynamodb:Attributes": ["orderId", "status", "total", "userId"]},
                  "Null": {"dynamodb:LeadingKeys": "false"},
                  "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}}
POOL_ID = "us-east-1:1234abcd-5678-90ef-1234-567890abcdef"
COGNITO_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ShopperAssumedByCognito", "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
     "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
     "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": POOL_ID},
                   "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}},
]}
LAMBDA_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "OrderStatsAssumedByLambda", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
     "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}},
]}
ECS_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ExporterAssumedByEcsTasks", "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
     "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}},
]}
GOOD_POOL = {"identityPoolName": "ddb-blueprint-dev", "allowUnauthenticatedIdentities": False,
             "allowClassicFlow": False}
GOOD_ATTACHMENT = {"identityPoolId": UNKNOWN, "roles": {"authenticated": UNKNOWN}}


def edit(document: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    """A deep copy of `document` with keys of Statement[index] set (or removed with DROP)."""
    result = copy.deepcopy(document)
    for key, value in changes.items():
        if value is DROP:
            del result["Statement"][index][key]
        else:
            result["Statement"][index][key] = value
    return result


def added(document: dict[str, Any], *statements: dict[str, Any]) -> dict[str, Any]:
    return {**document, "Statement": [*copy.deepcopy(document["Statement"]), *statements]}


def grant(sid: str, actions: Any, resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def policy_inputs(document: Any) -> dict[str, Any]:
    text = document if isinstance(document, str) else json.dumps(document)
    return {"name": "declared-access", "role": UNKNOWN, "policy": text}


def role_inputs(document: Any) -> dict[str, Any]:
    text = document if isinstance(document, str) else json.dumps(document)
    return {"name": "ddb-blueprint-dev-shopper", "assumeRolePolicy": text}


def violations(policy_name: str, inputs: dict[str, Any], resource_type: str = ROLE_POLICY) -> list[str]:
    """Call the policy's validate with args built as the engine builds them."""
    messages: list[str] = []
    args = ResourceValidationArgs(
        resource_type, unknown_checking_proxy(copy.deepcopy(inputs)),
        f"urn:pulumi:test::ddb-blueprint::{resource_type}::subject", "subject",
        PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None), None, {}, {})
    POLICY[policy_name].validate(args, lambda message, urn=None: messages.append(message))
    return messages


def permissions(policy_name: str, document: Any, resource_type: str = ROLE_POLICY) -> list[str]:
    return violations(policy_name, policy_inputs(document), resource_type)


def trust(policy_name: str, document: Any) -> list[str]:
    return violations(policy_name, role_inputs(document), ROLE)



# --- every document rule ----------------------------------------------------------------------

DOCUMENT_RULES = [*((rule, ROLE_POLICY, "policy") for rule in PERMISSION_RULES),
                  *((rule, MANAGED_POLICY, "policy") for rule in PERMISSION_RULES),
                  *((rule, ROLE, "assumeRolePolicy") for rule in TRUST_RULES)]
GOOD_DOCUMENT = {ROLE_POLICY: added(PERMISSIONS, ORDERS_READ), MANAGED_POLICY: added(PERMISSIONS, ORDERS_READ),
                 ROLE: added(COGNITO_TRUST, *LAMBDA_TRUST["Statement"])}


@pytest.mark.parametrize(("rule", "resource_type", "path"), DOCUMENT_RULES)
def test_generated_documents_pass(rule: str, resource_type: str, path: str):
    assert violations(rule, {path: json.dumps(GOOD_DOCUMENT[resource_type])}, resource_type) == []


@pytest.mark.parametrize(("rule", "resource_type", "path"), DOCUMENT_RULES)
def test_missing_document_passes(rule: str, resource_type: str, path: str):
    # A required input: the provider rejects the resource, and no document grants nothing.
    assert violations(rule, {"name": "declared-access"}, resource_type) == []


@pytest.mark.parametrize(("rule", "resource_type", "path"), DOCUMENT_RULES)
def test_unknown_document_cannot_be_judged(rule: str, resource_type: str, path: str):
    # In preview the program's documents are Output.json_dumps of unknown ARNs: unknown as a whole.
    with pytest.raises(UnknownValueError) as raised:
        violations(rule, {path: UNKNOWN}, resource_type)
    assert raised.value.message == f"string value at .{path} can't be known during preview"


@pytest.mark.parametrize(("rule", "resource_type", "path"), DOCUMENT_RULES)
@pytest.mark.parametrize(("text", "reason"), [
    ("{not json", "is not valid JSON"),
    ("", "is not valid JSON"),
    ('["Statement"]', "is not a JSON object"),
    ('{"Version": "2012-10-17", "Statement": []}', "Statement is not a non-empty list"),
])
def test_malformed_document_is_violation(rule: str, resource_type: str, path: str, text: str, reason: str):
    assert reason in single(violations(rule, {path: text}, resource_type))


@pytest.mark.parametrize(("rule", "resource_type", "path"), DOCUMENT_RULES)
def test_document_that_is_not_a_string_is_violation(rule: str, resource_type: str, path: str):
    message = single(violations(rule, {path: GOOD_DOCUMENT[resource_type]}, resource_type))
    assert message.startswith(f"{path} is not a JSON string") and "pulumi.Output.json_dumps" in message


@pytest.mark.parametrize("rule", [*PERMISSION_RULES, *TRUST_RULES, UNAUTHENTICATED])
def test_iam_rules_ignore_other_resource_types(rule: str):
    inputs = {"policy": "{not json", "assumeRolePolicy": "{not json", "allowUnauthenticatedIdentities": True}
    assert violations(rule, inputs, "aws:kms/key:Key") == []


def test_single_statement_object_is_judged_like_a_list():  # IAM accepts "Statement": {...}
    document = {"Version": "2012-10-17", "Statement": grant("ShopperScan", "dynamodb:Scan", "*")}
    assert "on Resource \"*\"" in single(permissions(WILDCARDS, document))


# --- iam-policy-version (I6) ------------------------------------------------------------------

def test_policy_version_2012_passes():  # I6
    assert permissions(VERSION, PERMISSIONS) == []


def test_policy_version_2008_is_violation():  # I6: ${aws:PrincipalTag/userSub} would be literal text
    message = single(permissions(VERSION, {**PERMISSIONS, "Version": "2008-10-17"}))
    assert message.startswith('policy: Version is "2008-10-17"; set "Version": "2012-10-17"') and "I6" in message


def test_policy_version_missing_is_violation():  # I6: IAM defaults to 2008-10-17
    document = {k: v for k, v in PERMISSIONS.items() if k != "Version"}
    assert single(permissions(VERSION, document)).startswith("policy: Version is not set")


def test_policy_version_unknown_inside_document_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        permissions(VERSION, {**PERMISSIONS, "Version": UNKNOWN})


def test_policy_version_applies_to_managed_policies():  # I6
    assert len(permissions(VERSION, {**PERMISSIONS, "Version": "2008-10-17"}, MANAGED_POLICY)) == 1


# --- iam-no-wildcards (L3) --------------------------------------------------------------------

def test_wildcards_stream_list_streams_and_key_by_alias_pass():  # L3
    assert permissions(WILDCARDS, PERMISSIONS) == []


@pytest.mark.parametrize("action", ["*", "dynamodb:*", "dynamodb:Get*", "dynamodb:GetIte?"])
def test_wildcard_action_is_violation(action: str):
    message = single(permissions(WILDCARDS, edit(PERMISSIONS, 0, Action=["dynamodb:Query", action])))
    assert message.startswith(f'policy: Statement[0] (ShopperCartRowScoped) allows action "{action}"')


def test_scopable_action_on_any_resource_is_violation():  # L3: only ListStreams & co. take "*"
    document = edit(PERMISSIONS, 2, Action=["dynamodb:ListStreams", "dynamodb:DescribeStream"])
    message = single(permissions(WILDCARDS, document))
    assert 'allows dynamodb:DescribeStream on Resource "*"' in message and "L3" in message


@pytest.mark.parametrize("action", ["dynamodb:ListTables", "dynamodb:DescribeLimits", "dynamodb:DescribeEndpoints",
                                    "DynamoDB:listStreams", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                    "XRay:putTraceSegments"])
def test_resourceless_action_on_any_resource_passes(action: str):  # L3; actions are case-insensitive
    assert permissions(WILDCARDS, edit(PERMISSIONS, 2, Action=action)) == []


def test_xray_actions_do_not_excuse_other_actions_on_any_resource():  # L3
    document = edit(PERMISSIONS, 2, Action=["xray:PutTraceSegments", "xray:PutTelemetryRecords", "sqs:SendMessage"])
    message = single(permissions(WILDCARDS, document))
    assert 'allows sqs:SendMessage on Resource "*"' in message and "xray" not in message.split(" on ")[0]


def test_xray_wildcard_action_is_still_a_wildcard():  # only the two exact actions are allowed on "*"
    messages = permissions(WILDCARDS, edit(PERMISSIONS, 2, Action="xray:Put*"))
    assert any('allows action "xray:Put*"' in m for m in messages)
    assert any('allows xray:Put* on Resource "*"' in m for m in messages)


def test_generated_function_xray_statement_passes_every_permission_rule():  # L3
    from stacks.functions.component import runtime_policy

    generated = runtime_policy("aws", "us-east-1", "123456789012", "orderStats",
                               "/aws/lambda/ddb-blueprint-dev-orderStats", None)
    xray = [s for s in generated["Statement"] if s["Resource"] == "*"]
    assert len(xray) == 1 and all(a.startswith("xray:") for a in xray[0]["Action"])
    document = {"Version": "2012-10-17", "Statement": xray}
    for rule in PERMISSION_RULES:
        assert permissions(rule, document) == [], rule


@pytest.mark.parametrize("resource", [
    f"{ARN}:table/*",
    f"{ARN}:table/ddb-blueprint-dev-*",
    f"{CARTS}/index/*",
    "arn:aws:dynamodb:*:123456789012:table/ddb-blueprint-dev-products/stream/*",  # stream, any region
    f"{PRODUCTS}/stream/2024-*",
])
def test_wildcard_resource_other_than_a_stream_is_violation(resource: str):  # L3
    message = single(permissions(WILDCARDS, edit(PERMISSIONS, 0, Resource=[CARTS, resource])))
    assert message.startswith(f'policy: Statement[0] (ShopperCartRowScoped) allows Resource "{resource}" with a '
                              "wildcard")


def test_any_key_without_alias_condition_is_violation():
    document = edit(PERMISSIONS, 3, Condition={"StringEquals": KEY_BY_ALIAS["StringEquals"]})
    message = single(permissions(WILDCARDS, document))
    assert f'allows Resource "{ANY_KEY}" without a ForAnyValue:StringEquals condition on kms:ResourceAliases' in message


def test_any_key_with_empty_alias_condition_is_violation():
    document = edit(PERMISSIONS, 3, Condition={"ForAnyValue:StringEquals": {"kms:ResourceAliases": []}})
    assert "kms:ResourceAliases" in single(permissions(WILDCARDS, document))


@pytest.mark.parametrize("resource", ["arn:aws:kms:*:123456789012:key/*", "arn:aws:kms:us-east-1:*:key/*"])
def test_any_key_in_any_region_or_account_is_violation(resource: str):  # account and region stay fixed
    assert "with a wildcard" in single(permissions(WILDCARDS, edit(PERMISSIONS, 3, Resource=resource)))


def test_key_alias_condition_with_unknown_alias_passes():  # only the condition's presence matters
    condition = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [UNKNOWN]}}
    assert permissions(WILDCARDS, edit(PERMISSIONS, 3, Condition=condition)) == []


@pytest.mark.parametrize(("element", "replaces"), [("NotAction", "Action"), ("NotResource", "Resource")])
def test_allow_with_not_element_is_violation(element: str, replaces: str):
    statement = PERMISSIONS["Statement"][1]
    document = edit(PERMISSIONS, 1, **{element: statement[replaces], replaces: DROP})
    assert f"allows with {element}, which grants everything not listed" in single(permissions(WILDCARDS, document))


def test_deny_with_wildcards_passes():  # a Deny only takes away
    deny = {"Sid": "NoTableDeletion", "Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": f"{ARN}:table/*"}
    assert permissions(WILDCARDS, added(PERMISSIONS, deny)) == []


def test_wildcards_unknown_resource_cannot_be_judged_but_known_violation_is_reported():
    document = added(edit(PERMISSIONS, 1, Resource=UNKNOWN), grant("ShopperAll", "dynamodb:*", CARTS))
    messages = collect_then_raise(lambda report: POLICY[WILDCARDS].validate(
        ResourceValidationArgs(ROLE_POLICY, unknown_checking_proxy(policy_inputs(document)), "urn", "subject",
                               PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
                               None, {}, {}), report))
    assert single(messages).startswith('policy: Statement[4] (ShopperAll) allows action "dynamodb:*"')


# --- iam-sid-required -------------------------------------------------------------------------

def test_sids_present_and_unique_pass():
    assert permissions(SID, PERMISSIONS) == []


@pytest.mark.parametrize("sid", [DROP, "", None])
def test_statement_without_sid_is_violation(sid: Any):
    message = single(permissions(SID, edit(PERMISSIONS, 2, Sid=sid)))
    assert message.startswith("policy: Statement[2] (no Sid) has no Sid") and "declared grant" in message


def test_repeated_sid_is_violation_naming_the_first():
    message = single(permissions(SID, edit(PERMISSIONS, 2, Sid="ProductEventsStream")))
    assert message == ("policy: Statement[2] (ProductEventsStream) repeats the Sid of Statement[1] "
                       "(ProductEventsStream); Sids must be unique within a policy, one per declared grant")


@pytest.mark.parametrize("sid", ["Product-Events", "Product Events", "ProductÉvents"])
def test_sid_with_characters_iam_rejects_is_violation(sid: str):  # IAM: A-Z, a-z, 0-9 only
    assert "characters IAM rejects" in single(permissions(SID, edit(PERMISSIONS, 2, Sid=sid)))


def test_unknown_sid_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        permissions(SID, edit(PERMISSIONS, 2, Sid=UNKNOWN))


# --- iam-leading-keys (I1, I2, I3) ------------------------------------------------------------

def test_leading_keys_row_scope_passes():  # I1, I2, I3
    assert permissions(LEADING, added(PERMISSIONS, ORDERS_READ)) == []


@pytest.mark.parametrize("operator", ["ForAnyValue:StringEquals", "StringEquals", "StringLike"])
def test_leading_keys_without_for_all_values_is_violation(operator: str):  # I1
    condition = {operator: ROW_SCOPE["ForAllValues:StringEquals"], "Null": ROW_SCOPE["Null"]}
    message = single(permissions(LEADING, edit(PERMISSIONS, 0, Condition=condition)))
    assert f"uses {operator} on dynamodb:LeadingKeys" in message and "I1" in message


def test_leading_keys_condition_key_is_case_insensitive():  # I1: IAM condition keys ignore case
    condition = {"ForAnyValue:StringEquals": {"DynamoDB:leadingKeys": ["${aws:PrincipalTag/userSub}"]},
                 "Null": {"dynamodb:LeadingKeys": "false"}}
    assert "I1" in single(permissions(LEADING, edit(PERMISSIONS, 0, Condition=condition)))


def test_leading_keys_with_only_a_null_condition_is_violation():  # I1
    message = single(permissions(LEADING, edit(PERMISSIONS, 0, Condition={"Null": ROW_SCOPE["Null"]})))
    assert "no ForAllValues: condition on its values" in message


@pytest.mark.parametrize("null", [DROP, {"dynamodb:LeadingKeys": "true"}, {"aws:PrincipalTag/userSub": "false"}])
def test_leading_keys_without_null_false_is_violation(null: Any):  # I3: ForAllValues is true without keys
    condition = {k: v for k, v in ROW_SCOPE.items() if k != "Null"} | ({} if null is DROP else {"Null": null})
    message = single(permissions(LEADING, edit(PERMISSIONS, 0, Condition=condition)))
    assert message.startswith('policy: Statement[0] (ShopperCartRowScoped) lacks "Null": {"dynamodb:LeadingKeys": '
                              '"false"}') and "I3" in message


def test_leading_keys_null_false_as_json_boolean_passes():  # I3
    condition = {**ROW_SCOPE, "Null": {"dynamodb:LeadingKeys": False}}
    assert permissions(LEADING, edit(PERMISSIONS, 0, Condition=condition)) == []


@pytest.mark.parametrize("action", ["dynamodb:Scan", "dynamodb:DescribeTable", "dynamodb:ListStreams",
                                    "dynamodb:Get*"])
def test_leading_keys_with_action_it_does_not_restrict_is_violation(action: str):  # I2
    document = edit(PERMISSIONS, 0, Action=["dynamodb:GetItem", action])
    message = single(permissions(LEADING, document))
    assert f"allows {action}, which dynamodb:LeadingKeys does not restrict" in message and "I2" in message


def test_leading_keys_with_not_action_is_violation():  # I2
    document = edit(PERMISSIONS, 0, NotAction=["dynamodb:Scan"], Action=DROP)
    assert "uses NotAction with dynamodb:LeadingKeys" in single(permissions(LEADING, document))


@pytest.mark.parametrize("action", ["dynamodb:PartiQLSelect", "dynamodb:ConditionCheckItem", "DynamoDB:batchWriteItem"])
def test_leading_keys_with_any_item_action_passes(action: str):  # I2, case-insensitive actions
    assert permissions(LEADING, edit(PERMISSIONS, 0, Action=action)) == []


def test_leading_keys_in_deny_statement_is_not_judged():  # a Deny only takes away
    deny = {"Sid": "NoOtherCarts", "Effect": "Deny", "Action": "dynamodb:*", "Resource": CARTS,
            "Condition": {"ForAnyValue:StringNotEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"]}}}
    assert permissions(LEADING, added(PERMISSIONS, deny)) == []


def test_leading_keys_unknown_condition_value_cannot_be_judged():
    condition = {**ROW_SCOPE, "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [UNKNOWN]}}
    with pytest.raises(UnknownValueError) as raised:
        permissions(LEADING, edit(PERMISSIONS, 0, Condition=condition))
    assert raised.value.props == ["policy", "Statement", "0", "Condition", "ForAllValues:StringEquals",
                                  "dynamodb:LeadingKeys", "0"]


# --- iam-row-scoped-no-scan (I3) --------------------------------------------------------------

def test_row_scoped_policy_without_full_table_reads_passes():  # I3
    assert permissions(NO_SCAN, added(PERMISSIONS, ORDERS_READ)) == []


def test_scan_of_a_table_that_is_not_row_scoped_passes():  # I3 is about the row-scoped tables only
    assert permissions(NO_SCAN, added(PERMISSIONS, grant("CatalogueScan", "dynamodb:Scan", PRODUCTS))) == []


@pytest.mark.parametrize("resource", [
    CARTS,
    f"{CARTS}/index/byAddedAt",  # an index of the scoped table
    f"{CARTS}/index/*",
    f"{CARTS}*",
    f"{ARN}:table/*",
    f"{ARN}:table/ddb-blueprint-dev-c?rts",
    "arn:aws:dynamodb:eu-west-1:123456789012:table/ddb-blueprint-dev-carts",  # a replica holds the same items
    "arn:aws:dynamodb:*",  # a wildcard spanning the ARN's colons
    "*",
])
def test_scan_covering_a_row_scoped_table_is_violation(resource: str):  # I3
    message = single(permissions(NO_SCAN, added(PERMISSIONS, grant("CartsScan", "dynamodb:Scan", resource))))
    assert message.startswith("policy: Statement[4] (CartsScan) allows dynamodb:Scan on table ddb-blueprint-dev-carts, "
                              "which Statement[0] (ShopperCartRowScoped) row-scopes") and "I3" in message


def test_partiql_select_on_an_index_of_a_row_scoped_table_is_violation():  # I3: full-table PartiQL
    statement = grant("CartsSelect", ["dynamodb:PartiQLSelect"], f"{CARTS}/index/byAddedAt")
    assert "allows dynamodb:PartiQLSelect on table ddb-blueprint-dev-carts" in single(
        permissions(NO_SCAN, added(PERMISSIONS, statement)))


def test_scan_inside_the_row_scoped_statement_is_violation():  # I3: the condition does not restrict Scan
    document = edit(PERMISSIONS, 0, Action=["dynamodb:Query", "dynamodb:Scan"])
    assert single(permissions(NO_SCAN, document)).startswith("policy: Statement[0] (ShopperCartRowScoped) allows "
                                                              "dynamodb:Scan")


@pytest.mark.parametrize("action", ["dynamodb:*", "dynamodb:S*", "DynamoDB:SCAN"])
def test_scan_through_wildcard_or_other_case_is_violation(action: str):  # I3
    statement = grant("CartsAll", action, CARTS)
    assert "allows dynamodb:Scan" in single(permissions(NO_SCAN, added(PERMISSIONS, statement)))


def test_scan_through_not_action_is_violation():  # I3: NotAction allows everything not listed
    statement = {"Sid": "CartsAllButDelete", "Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": CARTS}
    assert "dynamodb:Scan and dynamodb:PartiQLSelect" in single(permissions(NO_SCAN, added(PERMISSIONS, statement)))


def test_scan_through_not_resource_is_violation():  # I3: NotResource allows every other table
    statement = {"Sid": "ScanOthers", "Effect": "Allow", "Action": "dynamodb:Scan", "NotResource": PRODUCTS}
    assert "table ddb-blueprint-dev-carts" in single(permissions(NO_SCAN, added(PERMISSIONS, statement)))


@pytest.mark.parametrize("resource", [f"{CARTS}/stream/*", f"{CARTS}-archive", f"{ARN}:table/ddb-blueprint-dev-cart"])
def test_scan_of_other_resources_passes(resource: str):  # streams and other tables are not the row-scoped table
    assert permissions(NO_SCAN, added(PERMISSIONS, grant("OtherScan", "dynamodb:Scan", resource))) == []


def test_denied_scan_passes():  # I3
    deny = {"Sid": "NoCartScan", "Effect": "Deny", "Action": "dynamodb:Scan", "Resource": CARTS}
    assert permissions(NO_SCAN, added(PERMISSIONS, deny)) == []


def test_scan_without_a_row_scope_in_the_document_passes():  # the scope is per document
    document = edit(PERMISSIONS, 0, Condition=DROP)
    assert permissions(NO_SCAN, added(document, grant("CartsScan", "dynamodb:Scan", CARTS))) == []


def test_row_scope_with_unknown_resource_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        permissions(NO_SCAN, edit(PERMISSIONS, 0, Resource=[UNKNOWN]))


# --- iam-attribute-scope (I5) -----------------------------------------------------------------

def test_attribute_scoped_reads_pass():  # I5
    assert permissions(ATTRIBUTES, added(PERMISSIONS, ORDERS_READ)) == []


def attribute_scoped(**changes: Any) -> dict[str, Any]:
    return added(PERMISSIONS, {**copy.deepcopy(ORDERS_READ), **changes})


def orders_condition(**operators: Any) -> dict[str, Any]:
    condition = copy.deepcopy(ORDERS_READ["Condition"])
    for operator, block in operators.items():
        operator = operator.replace("__", ":")
        if block is DROP:
            del condition[operator]
        else:
            condition[operator] = block
    return condition


def test_attributes_without_for_all_values_is_violation():  # I5
    condition = orders_condition(ForAllValues__StringEquals={"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"]},
                                 ForAnyValue__StringEquals={"dynamodb:Attributes": ["orderId", "status"]})
    message = single(permissions(ATTRIBUTES, attribute_scoped(Condition=condition)))
    assert "uses ForAnyValue:StringEquals on dynamodb:Attributes" in message and "I5" in message


@pytest.mark.parametrize("select", [DROP, {"dynamodb:Select": ["SPECIFIC_ATTRIBUTES", "ALL_ATTRIBUTES"]},
                                    {"dynamodb:Select": "ALL_ATTRIBUTES"}])
def test_attributes_without_select_restricted_to_specific_attributes_is_violation(select: Any):  # I5
    message = single(permissions(ATTRIBUTES, attribute_scoped(Condition=orders_condition(StringEqualsIfExists=select))))
    assert "does not restrict dynamodb:Select to SPECIFIC_ATTRIBUTES" in message


def test_attributes_with_select_under_string_equals_passes():  # I5
    condition = orders_condition(StringEqualsIfExists=DROP, StringEquals={"dynamodb:Select": "SPECIFIC_ATTRIBUTES"})
    assert permissions(ATTRIBUTES, attribute_scoped(Condition=condition)) == []


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                                    "dynamodb:Put*"])
def test_attributes_with_whole_item_write_is_violation(action: str):  # I5
    message = single(permissions(ATTRIBUTES, attribute_scoped(Action=["dynamodb:GetItem", action])))
    assert "with dynamodb:Attributes: these write or delete whole items" in message and "I5" in message


def test_attributes_with_update_and_safe_return_values_passes():  # I5
    condition = orders_condition(StringEqualsIfExists={"dynamodb:Select": "SPECIFIC_ATTRIBUTES",
                                                       "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]})
    document = attribute_scoped(Action=["dynamodb:GetItem", "dynamodb:UpdateItem"], Condition=condition)
    assert permissions(ATTRIBUTES, document) == []


@pytest.mark.parametrize("return_values", [None, ["NONE", "ALL_NEW"], "ALL_OLD", []])
def test_attributes_with_update_and_unrestricted_return_values_is_violation(return_values: Any):  # I5
    select = {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    if return_values is not None:
        select["dynamodb:ReturnValues"] = return_values
    document = attribute_scoped(Action=["dynamodb:UpdateItem"], Condition=orders_condition(StringEqualsIfExists=select))
    assert "allows dynamodb:UpdateItem without restricting dynamodb:ReturnValues" in single(
        permissions(ATTRIBUTES, document))


def test_attributes_unknown_condition_value_cannot_be_judged():
    condition = orders_condition(StringEqualsIfExists={"dynamodb:Select": UNKNOWN})
    with pytest.raises(UnknownValueError):
        permissions(ATTRIBUTES, attribute_scoped(Condition=condition))


# --- iam-cognito-trust (I7) -------------------------------------------------------------------

def test_cognito_trust_for_one_pool_and_authenticated_identities_passes():  # I7
    assert trust(COGNITO, COGNITO_TRUST) == []


def test_cognito_trust_with_unknown_pool_id_passes():  # I7: the pool id is only known after apply
    condition = copy.deepcopy(COGNITO_TRUST["Statement"][0]["Condition"])
    condition["StringEquals"]["cognito-identity.amazonaws.com:aud"] = UNKNOWN
    assert trust(COGNITO, edit(COGNITO_TRUST, 0, Condition=condition)) == []


def test_cognito_trust_with_only_web_identity_passes():  # I7: TagSession is optional
    assert trust(COGNITO, edit(COGNITO_TRUST, 0, Action="sts:AssumeRoleWithWebIdentity")) == []


@pytest.mark.parametrize("action", ["sts:AssumeRole", ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"],
                                    "sts:*", ["sts:TagSession"]])
def test_cognito_trust_with_other_actions_is_violation(action: Any):  # I7
    message = single(trust(COGNITO, edit(COGNITO_TRUST, 0, Action=action)))
    assert message.startswith("assumeRolePolicy: Statement[0] (ShopperAssumedByCognito) trusts "
                              "cognito-identity.amazonaws.com with Action") and "I7" in message


@pytest.mark.parametrize("aud", [DROP, "", []])
def test_cognito_trust_without_pool_id_is_violation(aud: Any):  # I7: any pool's identities could assume it
    condition = copy.deepcopy(COGNITO_TRUST["Statement"][0]["Condition"])
    if aud is DROP:
        del condition["StringEquals"]
    else:
        condition["StringEquals"]["cognito-identity.amazonaws.com:aud"] = aud
    message = single(trust(COGNITO, edit(COGNITO_TRUST, 0, Condition=condition)))
    assert 'lacks "StringEquals": {"cognito-identity.amazonaws.com:aud": <identity pool id>}' in message


def test_cognito_trust_with_pool_id_under_string_like_is_violation():  # I7: StringEquals, exactly
    condition = copy.deepcopy(COGNITO_TRUST["Statement"][0]["Condition"])
    condition["StringLike"] = condition.pop("StringEquals")
    assert "cognito-identity.amazonaws.com:aud" in single(trust(COGNITO, edit(COGNITO_TRUST, 0, Condition=condition)))


AMR = "cognito-identity.amazonaws.com:amr"


@pytest.mark.parametrize("amr", [DROP, {"ForAnyValue:StringLike": {AMR: "unauthenticated"}},
                                 {"ForAnyValue:StringLike": {AMR: "*"}},
                                 {"StringEquals": {AMR: "authenticated"}}])
def test_cognito_trust_without_authenticated_amr_is_violation(amr: Any):  # I7: guests could assume it
    condition = {"StringEquals": COGNITO_TRUST["Statement"][0]["Condition"]["StringEquals"]}
    if amr is not DROP:
        for operator, block in amr.items():
            condition[operator] = {**condition.get(operator, {}), **block}
    message = single(trust(COGNITO, edit(COGNITO_TRUST, 0, Condition=condition)))
    assert 'lacks "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}' in message


def test_cognito_trust_unknown_amr_cannot_be_judged():  # only the aud value may be unknown
    condition = copy.deepcopy(COGNITO_TRUST["Statement"][0]["Condition"])
    condition["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] = UNKNOWN
    with pytest.raises(UnknownValueError):
        trust(COGNITO, edit(COGNITO_TRUST, 0, Condition=condition))


def test_cognito_trust_ignores_service_trust():
    assert trust(COGNITO, LAMBDA_TRUST) == []


# --- iam-no-unauthenticated-identities (I7) ---------------------------------------------------

def test_identity_pool_without_guests_passes():  # I7
    assert violations(UNAUTHENTICATED, GOOD_POOL, IDENTITY_POOL) == []


def test_identity_pool_flags_missing_pass():  # I7: AWS defaults both to false
    assert violations(UNAUTHENTICATED, {"identityPoolName": "ddb-blueprint-dev"}, IDENTITY_POOL) == []


@pytest.mark.parametrize("flag", ["allowUnauthenticatedIdentities", "allowClassicFlow"])
def test_identity_pool_allowing_guests_or_classic_flow_is_violation(flag: str):  # I7
    message = single(violations(UNAUTHENTICATED, {**GOOD_POOL, flag: True}, IDENTITY_POOL))
    assert message.startswith(f"{flag} is true") and f"set {flag}=false" in message and "I7" in message


@pytest.mark.parametrize("flag", ["allowUnauthenticatedIdentities", "allowClassicFlow"])
def test_identity_pool_unknown_flag_cannot_be_judged(flag: str):
    with pytest.raises(UnknownValueError):
        violations(UNAUTHENTICATED, {**GOOD_POOL, flag: UNKNOWN}, IDENTITY_POOL)


def test_identity_pool_known_violation_is_reported_before_an_unknown_flag():  # I7
    pool = {**GOOD_POOL, "allowUnauthenticatedIdentities": UNKNOWN, "allowClassicFlow": True}
    messages = collect_then_raise(lambda report: POLICY[UNAUTHENTICATED].validate(
        ResourceValidationArgs(IDENTITY_POOL, unknown_checking_proxy(pool), "urn", "subject",
                               PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
                               None, {}, {}), report))
    assert single(messages).startswith("allowClassicFlow is true")


def test_role_attachment_with_authenticated_role_only_passes():  # I7
    assert violations(UNAUTHENTICATED, GOOD_ATTACHMENT, ROLE_ATTACHMENT) == []


@pytest.mark.parametrize("role", ["arn:aws:iam::123456789012:role/guest", UNKNOWN])
def test_role_attachment_with_unauthenticated_role_is_violation(role: str):  # I7: even a role not yet created
    attachment = {**GOOD_ATTACHMENT, "roles": {"authenticated": UNKNOWN, "unauthenticated": role}}
    message = single(violations(UNAUTHENTICATED, attachment, ROLE_ATTACHMENT))
    assert message.startswith("roles.unauthenticated is set") and "I7" in message


def test_role_attachment_without_roles_passes():
    assert violations(UNAUTHENTICATED, {"identityPoolId": UNKNOWN}, ROLE_ATTACHMENT) == []


def test_role_attachment_unknown_roles_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(UNAUTHENTICATED, {**GOOD_ATTACHMENT, "roles": UNKNOWN}, ROLE_ATTACHMENT)


# --- iam-service-trust-scoped (I8) ------------------------------------------------------------

@pytest.mark.parametrize("document", [LAMBDA_TRUST, ECS_TRUST, COGNITO_TRUST])
def test_service_trust_of_one_service_passes(document: dict[str, Any]):  # I8
    assert trust(SERVICE, document) == []


def test_service_trust_as_list_of_one_service_passes():  # I8
    assert trust(SERVICE, edit(LAMBDA_TRUST, 0, Principal={"Service": ["lambda.amazonaws.com"]})) == []


@pytest.mark.parametrize("service", [["lambda.amazonaws.com", "states.amazonaws.com"], "*", "*.amazonaws.com", []])
def test_service_trust_of_several_or_any_service_is_violation(service: Any):  # I8
    message = single(trust(SERVICE, edit(LAMBDA_TRUST, 0, Principal={"Service": service})))
    assert message.startswith("assumeRolePolicy: Statement[0] (OrderStatsAssumedByLambda) trusts Service") and (
        "name exactly one service principal" in message and "I8" in message)


@pytest.mark.parametrize("action", [["sts:AssumeRole", "sts:TagSession"], "sts:*", "sts:AssumeRoleWithWebIdentity"])
def test_service_trust_with_other_actions_is_violation(action: Any):  # I8
    message = single(trust(SERVICE, edit(LAMBDA_TRUST, 0, Action=action)))
    assert "trusts lambda.amazonaws.com with Action" in message and "allow exactly sts:AssumeRole" in message


def test_service_trust_with_action_as_list_of_one_passes():  # I8
    assert trust(SERVICE, edit(LAMBDA_TRUST, 0, Action=["sts:AssumeRole"])) == []


@pytest.mark.parametrize("condition", [DROP, {"StringLike": {"aws:SourceAccount": "123456789012"}},
                                       {"StringEquals": {"aws:SourceAccount": ""}}])
def test_source_account_service_without_source_account_is_violation(condition: Any):  # I8: confused deputy
    message = single(trust(SERVICE, edit(ECS_TRUST, 0, Condition=condition)))
    assert 'trusts ecs-tasks.amazonaws.com without "StringEquals": {"aws:SourceAccount": <account id>}' in message


def test_source_account_unknown_value_passes():  # I8: only its presence matters (the account of the stack)
    assert trust(SERVICE, edit(ECS_TRUST, 0, Condition={"StringEquals": {"aws:SourceAccount": UNKNOWN}})) == []


def test_service_outside_source_account_table_needs_no_source_account():  # I8: API Gateway is not in the table
    apigw = edit(LAMBDA_TRUST, 0, Principal={"Service": "apigateway.amazonaws.com"}, Condition=DROP)
    assert trust(SERVICE, apigw) == []


def test_lambda_trust_without_source_account_is_violation():  # I8, L10: Lambda is in the table now
    message = single(trust(SERVICE, edit(LAMBDA_TRUST, 0, Condition=DROP)))
    assert 'trusts lambda.amazonaws.com without "StringEquals": {"aws:SourceAccount": <account id>}' in message


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root", "*"]}])
def test_trust_of_everyone_is_violation(principal: Any):  # I8
    message = single(trust(SERVICE, edit(LAMBDA_TRUST, 0, Principal=principal)))
    assert "trusts every AWS principal" in message


def test_trust_with_not_principal_is_violation():  # Allow + NotPrincipal trusts everyone else
    document = edit(LAMBDA_TRUST, 0, Principal=DROP, NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"})
    assert "trusts every AWS principal" in single(trust(SERVICE, document))


@pytest.mark.parametrize("provider", ["accounts.google.com",
                                      "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"])
def test_trust_of_other_federated_provider_is_violation(provider: str):  # we generate Cognito trusts only
    message = single(trust(SERVICE, edit(COGNITO_TRUST, 0, Principal={"Federated": provider})))
    assert f'trusts federated provider "{provider}"' in message and "I7" in message


def test_trust_of_specific_account_principal_passes():  # not a service, not everyone: not this rule's concern
    assert trust(SERVICE, edit(LAMBDA_TRUST, 0, Principal={"AWS": "arn:aws:iam::123456789012:role/ops"})) == []


def test_service_trust_unknown_principal_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        trust(SERVICE, edit(LAMBDA_TRUST, 0, Principal={"Service": UNKNOWN}))


def test_service_trust_ignores_unknown_cognito_pool_id():  # I7/I8: the aud value is not read here
    condition = copy.deepcopy(COGNITO_TRUST["Statement"][0]["Condition"])
    condition["StringEquals"]["cognito-identity.amazonaws.com:aud"] = UNKNOWN
    assert trust(SERVICE, edit(COGNITO_TRUST, 0, Condition=condition)) == []


# --- end to end through evaluate_plan ---------------------------------------------------------

COMPONENT_URN = "urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:AccessRole::shopper"


def plan_resource(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"urn": f"urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:AccessRole${type_}::{name}",
            "type": type_, "name": name, "parent": COMPONENT_URN, "custom": True, "inputs": copy.deepcopy(inputs),
            "options": {"protect": False}, "dependencies": [], "propertyDependencies": {}}


SHOPPER_ROLE = plan_resource(ROLE, "shopper-role", role_inputs(COGNITO_TRUST))
SHOPPER_POLICY = plan_resource(ROLE_POLICY, "shopper-role-access", policy_inputs(added(PERMISSIONS, ORDERS_READ)))
STATS_ROLE = plan_resource(ROLE, "orderStats-role", role_inputs(LAMBDA_TRUST))
POOL = plan_resource(IDENTITY_POOL, "app-identity-identities", GOOD_POOL)
ATTACHMENT = plan_resource(ROLE_ATTACHMENT, "app-identity-roles", GOOD_ATTACHMENT)
IAM_RULES = [*PERMISSION_RULES, COGNITO, UNAUTHENTICATED, SERVICE]



def evaluate_all(*resources: dict[str, Any]) -> Any:
    """Every rule of the pack over a plan of these resources."""
    return evaluate_plan({"project": "ddb-blueprint", "stack": "test", "resources": list(resources)}, {})


def test_compliant_access_plan_passes_every_iam_policy():
    report = evaluate_all(SHOPPER_ROLE, SHOPPER_POLICY, STATS_ROLE, POOL, ATTACHMENT)
    assert report.results == [] and set(IAM_RULES) <= set(report.passed)


def test_preview_plan_with_unknown_trust_policy_reports_advisory_unknowns():  # as the program's preview does
    role = plan_resource(ROLE, "shopper-role", role_inputs(UNKNOWN))
    report = evaluate_all(role, SHOPPER_POLICY)
    assert {(r["policy"], r["enforcementLevel"], r["outcome"]) for r in report.results} == {
        (COGNITO, "advisory", "unknown"), (SERVICE, "advisory", "unknown")}
    assert report.mandatory_violations == []


def test_plan_with_a_scan_on_a_row_scoped_table_fails_the_mandatory_policies():  # I2, I3
    scanning = plan_resource(ROLE_POLICY, "shopper-role-access", policy_inputs(
        edit(PERMISSIONS, 0, Action=["dynamodb:GetItem", "dynamodb:Scan"])))
    report = evaluate_all(SHOPPER_ROLE, scanning)
    assert {(r["policy"], r["urn"]) for r in report.mandatory_violations} == {
        (LEADING, scanning["urn"]), (NO_SCAN, scanning["urn"])}


# --- iam-role-policies-generated -----------------------------------------------------------------

def _generated_only(type_: str, props: dict) -> list[str]:
    from policies.guardrails.iam import IAM_POLICIES
    from policies.guardrails.offline import resource_validation_args

    policy = next(p for p in IAM_POLICIES if p.name == "iam-role-policies-generated")
    found: list[str] = []
    args = resource_validation_args({"type": type_, "name": "r", "urn": "urn:pulumi:s::p::" + type_ + "::r",
                                     "inputs": props, "options": {}})
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def test_role_without_inline_or_managed_policies_passes():
    assert _generated_only("aws:iam/role:Role", {"name": "r", "assumeRolePolicy": "{}"}) == []


def test_role_with_inline_policies_is_a_violation():
    found = _generated_only("aws:iam/role:Role", {"inlinePolicies": [{"name": "x", "policy": "{}"}]})
    assert found and "inlinePolicies" in found[0]


def test_role_with_managed_policy_arns_is_a_violation():
    found = _generated_only("aws:iam/role:Role", {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]})
    assert found and "managedPolicyArns" in found[0]


def test_managed_policy_attachment_is_a_violation():
    assert _generated_only("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": "arn"})


def test_unknown_inline_policies_cannot_be_judged():
    import pytest
    from pulumi_policy.proxy import UnknownValueError

    with pytest.raises(UnknownValueError):
        _generated_only("aws:iam/role:Role", {"inlinePolicies": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})


def test_log_writing_may_name_the_streams_of_one_exact_log_group():
    from policies.guardrails.iam import LOG_STREAMS_ARN

    assert LOG_STREAMS_ARN.fullmatch("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:*")
    assert not LOG_STREAMS_ARN.fullmatch("arn:aws:logs:us-east-1:123456789012:log-group:*")
    assert not LOG_STREAMS_ARN.fullmatch("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/*:*")
