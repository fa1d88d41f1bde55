"""stacks.iam_eval against the examples and rules of the AWS documentation.

Each test names the page it encodes. Policies are the documentation's, shortened to what the test
needs; where a page shows a resource policy, its Principal element is dropped (we evaluate
identity policies only). The doc's evaluation tables are kept as parameter rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.access.evaluator import Request, evaluate, explain

ACCOUNT = "123456789012"
GAME_SCORES = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/GameScores"
TOP_SCORE_INDEX = f"{GAME_SCORES}/index/TopScoreDateTimeIndex"
LWA = "www.amazon.com:user_id"  # Login with Amazon user id, a web-identity policy variable


def policy(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        doc["Version"] = version
    return doc


def decide(doc: dict[str, Any], action: str, resource: str, **context: Any) -> str:
    return evaluate([doc], Request(action, resource, context))


# ============================================================================================
# DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control"
# ============================================================================================

FULL_ACCESS_TO_USER_ITEMS = {  # example 1, "FullAccessToUserItems"
    "Sid": "FullAccessToUserItems",
    "Effect": "Allow",
    "Action": [
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
        "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    ],
    "Resource": [GAME_SCORES],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"]}},
}

NULL_GUARD = {"Null": {"dynamodb:LeadingKeys": "false"}}


def with_scan_and_guard(guard: bool) -> dict[str, Any]:
    statement = {**FULL_ACCESS_TO_USER_ITEMS, "Action": FULL_ACCESS_TO_USER_ITEMS["Action"] + ["dynamodb:Scan"]}
    if guard:
        statement["Condition"] = {**statement["Condition"], **NULL_GUARD}
    return policy(statement)


def test_leading_keys_owner_reads_own_partition():
    # "Using IAM policy conditions for fine-grained access control", example 1: the user reaches the
    # items whose partition key is their Login with Amazon id.
    assert decide(policy(FULL_ACCESS_TO_USER_ITEMS), "dynamodb:GetItem", GAME_SCORES,
                  **{LWA: "amzn1.account.alice", "dynamodb:LeadingKeys": ["amzn1.account.alice"]}) == "allow"


def test_leading_keys_other_users_partition_denied():
    # same page, example 1: "no users can access data items that they do not own".
    assert decide(policy(FULL_ACCESS_TO_USER_ITEMS), "dynamodb:GetItem", GAME_SCORES,
                  **{LWA: "amzn1.account.alice", "dynamodb:LeadingKeys": ["amzn1.account.bob"]}) == "implicit-deny"


def test_leading_keys_doc_policy_leaves_scan_out():
    # same page, example 1, "Important": the action list does not include Scan, because Scan
    # returns all items regardless of the leading keys.
    assert decide(policy(FULL_ACCESS_TO_USER_ITEMS), "dynamodb:Scan", GAME_SCORES, **{LWA: "alice"}) == "implicit-deny"


def test_scan_without_leading_keys_passes_for_all_values_alone():  # GOTCHAS I3
    # A Scan carries no dynamodb:LeadingKeys; ForAllValues is true on an absent key
    # ("Single-valued vs. multivalued context keys"), so Scan in a row-scoped grant reads every row.
    assert decide(with_scan_and_guard(False), "dynamodb:Scan", GAME_SCORES, **{LWA: "alice"}) == "allow"


def test_null_guard_denies_request_without_leading_keys():  # GOTCHAS I3
    # "Multivalued context key examples": a Null condition with value false stops a missing key
    # from evaluating to true.
    doc = with_scan_and_guard(True)
    assert decide(doc, "dynamodb:Scan", GAME_SCORES, **{LWA: "alice"}) == "implicit-deny"
    assert decide(doc, "dynamodb:GetItem", GAME_SCORES, **{LWA: "alice", "dynamodb:LeadingKeys": ["alice"]}) == "allow"


def test_null_guard_explains_the_vacuous_truth():
    lines = explain([with_scan_and_guard(True)], Request("dynamodb:Scan", GAME_SCORES, {LWA: "alice"}))
    assert any("vacuously" in line and "I3" in line for line in lines)
    assert any(line.startswith("    Null dynamodb:LeadingKeys") and line.endswith("False") for line in lines)
    assert lines[-1] == "decision: implicit-deny"


@pytest.mark.parametrize(
    "keys, expected",
    [
        (["alice", "alice"], "allow"),
        (["alice", "bob"], "implicit-deny"),  # one foreign key is enough to refuse the whole batch
        (["bob", "carol"], "implicit-deny"),
    ],
)
def test_batch_get_item_every_key_must_be_the_callers(keys, expected):
    # "Using IAM policy conditions for fine-grained access control" + "Single-valued vs. multivalued
    # context keys": ForAllValues requires every request value to match a policy value.
    doc = policy({**FULL_ACCESS_TO_USER_ITEMS, "Condition": {**FULL_ACCESS_TO_USER_ITEMS["Condition"], **NULL_GUARD}})
    assert decide(doc, "dynamodb:BatchGetItem", GAME_SCORES, **{LWA: "alice", "dynamodb:LeadingKeys": keys}) == expected


def test_leading_keys_without_the_identity_variable_denied():
    # "IAM policy elements: Variables and tags", "Policy variables with no value": a caller
    # without a Login with Amazon id has no value for the variable, so StringEquals cannot match.
    assert decide(policy(FULL_ACCESS_TO_USER_ITEMS), "dynamodb:GetItem", GAME_SCORES,
                  **{"dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"]}) == "implicit-deny"


GAME_ROLE = {  # the page's opening example: LeadingKeys + Attributes + StringEqualsIfExists Select
    "Sid": "AllowAccessToOnlyItemsMatchingUserID",
    "Effect": "Allow",
    "Action": [
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
        "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    ],
    "Resource": [GAME_SCORES],
    "Condition": {
        "ForAllValues:StringEquals": {
            "dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"],
            "dynamodb:Attributes": ["UserId", "GameTitle", "Wins", "Losses", "TopScore", "TopScoreDateTime"],
        },
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
    },
}


@pytest.mark.parametrize(
    "action, extra, expected",
    [
        # an allowed projection
        ("dynamodb:GetItem", {"dynamodb:Attributes": ["UserId", "GameTitle", "TopScore"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}, "allow"),
        # one attribute outside the list
        ("dynamodb:GetItem", {"dynamodb:Attributes": ["UserId", "GameTitle", "PilotName"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}, "implicit-deny"),
        # "the app can't request all attributes"
        ("dynamodb:Query", {"dynamodb:Attributes": ["UserId", "GameTitle"], "dynamodb:Select": "ALL_ATTRIBUTES"}, "implicit-deny"),
        # no Select parameter in the request (UpdateItem has none): IfExists lets it through
        ("dynamodb:UpdateItem", {"dynamodb:Attributes": ["UserId", "GameTitle", "Wins"]}, "allow"),
        # the owner rule still applies
        ("dynamodb:GetItem", {"dynamodb:LeadingKeys": ["bob"], "dynamodb:Attributes": ["UserId"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}, "implicit-deny"),
    ],
)
def test_attributes_and_select(action, extra, expected):
    # "Using IAM policy conditions for fine-grained access control", opening GameScores example.
    context = {LWA: "alice", "dynamodb:LeadingKeys": ["alice"], **extra}
    assert decide(policy(GAME_ROLE), action, GAME_SCORES, **context) == expected


LIMIT_ACCESS_TO_SPECIFIC_ATTRIBUTES = {  # example 2
    "Sid": "LimitAccessToSpecificAttributes",
    "Effect": "Allow",
    "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:Scan"],
    "Resource": [GAME_SCORES],
    "Condition": {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["UserId", "TopScore"]},
        "StringEqualsIfExists": {
            "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
            "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"],
        },
    },
}


@pytest.mark.parametrize(
    "return_values, expected",
    [("UPDATED_NEW", "allow"), ("NONE", "allow"), (None, "allow"), ("ALL_NEW", "implicit-deny"), ("ALL_OLD", "implicit-deny")],
)
def test_update_item_return_values(return_values, expected):
    # same page, example 2: "If the user specifies the ReturnValues parameter, then its value must
    # be NONE, UPDATED_OLD, or UPDATED_NEW".
    context: dict[str, Any] = {"dynamodb:Attributes": ["UserId", "TopScore"]}
    if return_values:
        context["dynamodb:ReturnValues"] = return_values
    assert decide(policy(LIMIT_ACCESS_TO_SPECIFIC_ATTRIBUTES), "dynamodb:UpdateItem", GAME_SCORES, **context) == expected


PREVENT_UPDATES_ON_CERTAIN_ATTRIBUTES = {  # example 3
    "Sid": "PreventUpdatesOnCertainAttributes",
    "Effect": "Allow",
    "Action": ["dynamodb:UpdateItem"],
    "Resource": GAME_SCORES,
    "Condition": {
        "ForAllValues:StringNotLike": {"dynamodb:Attributes": ["FreeGamesAvailable", "BossLevelUnlocked"]},
        "StringEquals": {"dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]},
    },
}


@pytest.mark.parametrize(
    "attributes, return_values, expected",
    [
        (["UserId", "GameTitle", "TopScore"], "NONE", "allow"),
        (["UserId", "GameTitle", "BossLevelUnlocked"], "NONE", "implicit-deny"),
        (["FreeGamesAvailable"], "UPDATED_NEW", "implicit-deny"),
        (["UserId", "TopScore"], "ALL_NEW", "implicit-deny"),
    ],
)
def test_for_all_values_string_not_like_blocks_listed_attributes(attributes, return_values, expected):
    # same page, example 3: the StringNotLike condition prevents updating the listed attributes.
    context = {"dynamodb:Attributes": attributes, "dynamodb:ReturnValues": return_values}
    assert decide(policy(PREVENT_UPDATES_ON_CERTAIN_ATTRIBUTES), "dynamodb:UpdateItem", GAME_SCORES, **context) == expected


def test_query_only_projected_index_attributes():
    # same page, example 4 ("QueryOnlyProjectedIndexAttributes" and "QueryAllIndexAttributes").
    specific = policy({
        "Sid": "QueryOnlyProjectedIndexAttributes",
        "Effect": "Allow",
        "Action": ["dynamodb:Query"],
        "Resource": [TOP_SCORE_INDEX],
        "Condition": {
            "ForAllValues:StringEquals": {"dynamodb:Attributes": ["TopScoreDateTime", "GameTitle", "Wins", "Losses", "Attempts"]},
            "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
        },
    })
    projected = {"dynamodb:Attributes": ["TopScoreDateTime", "Wins"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert decide(specific, "dynamodb:Query", TOP_SCORE_INDEX, **projected) == "allow"
    assert decide(specific, "dynamodb:Query", TOP_SCORE_INDEX, **{**projected, "dynamodb:Select": "ALL_PROJECTED_ATTRIBUTES"}) == "implicit-deny"
    assert decide(specific, "dynamodb:Query", TOP_SCORE_INDEX, **{"dynamodb:Attributes": ["Wins"]}) == "implicit-deny"  # StringEquals, no IfExists
    assert decide(specific, "dynamodb:Query", GAME_SCORES, **projected) == "implicit-deny"  # the table is not the index

    all_projected = policy({
        "Sid": "QueryAllIndexAttributes",
        "Effect": "Allow",
        "Action": ["dynamodb:Query"],
        "Resource": [TOP_SCORE_INDEX],
        "Condition": {"StringEquals": {"dynamodb:Select": "ALL_PROJECTED_ATTRIBUTES"}},
    })
    assert decide(all_projected, "dynamodb:Query", TOP_SCORE_INDEX, **{"dynamodb:Select": "ALL_PROJECTED_ATTRIBUTES"}) == "allow"
    assert decide(all_projected, "dynamodb:Query", TOP_SCORE_INDEX, **{"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}) == "implicit-deny"


def test_attributes_and_partition_key_on_table_and_index():
    # same page, example 5 ("LimitAccessToCertainAttributesAndKeyValues"), Facebook id variable.
    doc = policy({
        "Sid": "LimitAccessToCertainAttributesAndKeyValues",
        "Effect": "Allow",
        "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
        "Resource": [GAME_SCORES, TOP_SCORE_INDEX],
        "Condition": {
            "ForAllValues:StringEquals": {
                "dynamodb:LeadingKeys": ["${graph.facebook.com:id}"],
                "dynamodb:Attributes": ["attribute-A", "attribute-B"],
            },
            "StringEqualsIfExists": {
                "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
                "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"],
            },
        },
    })
    me = {"graph.facebook.com:id": "fb-1", "dynamodb:LeadingKeys": ["fb-1"]}
    read = {**me, "dynamodb:Attributes": ["attribute-A"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert decide(doc, "dynamodb:Query", TOP_SCORE_INDEX, **read) == "allow"
    assert decide(doc, "dynamodb:GetItem", GAME_SCORES, **read) == "allow"
    assert decide(doc, "dynamodb:Query", TOP_SCORE_INDEX, **{**read, "dynamodb:LeadingKeys": ["fb-2"]}) == "implicit-deny"
    assert decide(doc, "dynamodb:UpdateItem", GAME_SCORES, **{**me, "dynamodb:Attributes": ["attribute-B"], "dynamodb:ReturnValues": "ALL_OLD"}) == "implicit-deny"
    assert decide(doc, "dynamodb:PutItem", GAME_SCORES, **read) == "implicit-deny"  # not in the action list


def test_cognito_identity_item_level_access():
    # IAM User Guide, "Amazon DynamoDB: Allows item-level access to DynamoDB based on an Amazon
    # Cognito ID" (GOTCHAS I7: the variable is the identity-pool identity id).
    doc = policy({
        "Effect": "Allow",
        "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        "Resource": [f"arn:aws:dynamodb:*:*:table/MyTable"],
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${cognito-identity.amazonaws.com:sub}"]}},
    })
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/MyTable"
    me = {"cognito-identity.amazonaws.com:sub": "eu-west-1:1111"}
    assert decide(doc, "dynamodb:Query", table, **me, **{"dynamodb:LeadingKeys": ["eu-west-1:1111"]}) == "allow"
    assert decide(doc, "dynamodb:Query", table, **me, **{"dynamodb:LeadingKeys": ["eu-west-1:2222"]}) == "implicit-deny"
    assert decide(doc, "dynamodb:Query", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Other", **me,
                  **{"dynamodb:LeadingKeys": ["eu-west-1:1111"]}) == "implicit-deny"


# ============================================================================================
# IAM User Guide, "Single-valued vs. multivalued context keys" and "Multivalued context key
# examples"
# ============================================================================================


def deny_tagging(operator: str, values: Any, action: list[str] | None = None, resource: Any = "*") -> dict[str, Any]:
    return policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},  # the doc's deny is combined with some allow
        {"Effect": "Deny", "Action": action or ["iam:Tag*", "iam:UnTag*"], "Resource": resource,
         "Condition": {operator: {"aws:TagKeys": values}}},
    )


@pytest.mark.parametrize(
    "tag_keys, expected",
    [
        (["key1:legal"], "allow"),  # No match: may be allowed by another statement
        (["key1:hr", "key1:personnel"], "allow"),
        (["key2:audit"], "explicit-deny"),  # Match
        (None, "explicit-deny"),  # No aws:TagKeys in the request context: Match
    ],
)
def test_deny_with_for_all_values_single_value(tag_keys, expected):
    # "Multivalued context key examples", "Deny a single policy condition value for a multivalued
    # context key": the doc's evaluation table.
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert decide(deny_tagging("ForAllValues:StringNotLike", "key1*"), "iam:TagUser", f"arn:aws:iam::{ACCOUNT}:user/u", **context) == expected


@pytest.mark.parametrize(
    "tag_keys, expected",
    [
        (["key1:legal"], "allow"),
        (["key1:hr", "key1:personnel"], "allow"),
        (["key1:hr", "key2:audit"], "allow"),
        (["key3:legal"], "explicit-deny"),
        (None, "explicit-deny"),
    ],
)
def test_deny_with_for_all_values_multiple_values(tag_keys, expected):
    # "Multivalued context key examples", "Deny multiple policy condition values for a multivalued
    # context key": the doc's evaluation table.
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    doc = deny_tagging("ForAllValues:StringNotLike", ["key1*", "key2*"])
    assert decide(doc, "iam:UntagUser", f"arn:aws:iam::{ACCOUNT}:user/u", **context) == expected


@pytest.mark.parametrize(
    "tag_keys, expected",
    [
        (["webserver"], "explicit-deny"),
        (["environment", "webserver", "test"], "explicit-deny"),
        (["environment", "test"], "allow"),
        (None, "allow"),  # ForAnyValue on an absent key is false: No match
    ],
)
def test_deny_with_for_any_value(tag_keys, expected):
    # "Multivalued context key examples", "Deny policy with condition set operator ForAnyValue".
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    doc = deny_tagging("ForAnyValue:StringEquals", "webserver", ["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
                       "arn:aws:ec2:us-west-2::snapshot/*")
    assert decide(doc, "ec2:CreateSnapshot", "arn:aws:ec2:us-west-2::snapshot/snap-1", **context) == expected


def test_for_all_values_request_attributes_table():
    # "Creating a condition that tests multiple key values (set operations)" (older IAM User Guide
    # page): requesting PostDateTime and UserName against PostDateTime/Message/Tags is denied,
    # because UserName matches no policy value. (The page writes the action as "GetItem"; the
    # service prefix is added here.)
    thread = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Thread"
    allow = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": thread,
                    "Condition": {"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}}})
    assert decide(allow, "dynamodb:GetItem", thread, **{"dynamodb:requestedAttributes": ["PostDateTime", "Message"]}) == "allow"
    assert decide(allow, "dynamodb:GetItem", thread, **{"dynamodb:requestedAttributes": ["PostDateTime", "UserName"]}) == "implicit-deny"

    deny = policy({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": thread},
                  {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": thread,
                   "Condition": {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}})
    assert decide(deny, "dynamodb:PutItem", thread, **{"dynamodb:requestedAttributes": ["UserName", "Message", "PostDateTime"]}) == "explicit-deny"
    assert decide(deny, "dynamodb:PutItem", thread, **{"dynamodb:requestedAttributes": ["UserName"]}) == "allow"


def test_empty_request_values_are_an_empty_data_set():
    # "Creating a condition that tests multiple key values (set operations)", note: an empty data
    # set makes ForAllValues true and ForAnyValue false; "Multivalued context key examples": a Null
    # check with false rejects "context keys with empty values".
    t = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
    for_all = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": t,
                      "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": "u1"}}})
    for_any = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": t,
                      "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": "u1"}}})
    guarded = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": t,
                      "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": "u1"}, **NULL_GUARD}})
    assert decide(for_all, "dynamodb:GetItem", t, **{"dynamodb:LeadingKeys": []}) == "allow"
    assert decide(for_any, "dynamodb:GetItem", t, **{"dynamodb:LeadingKeys": []}) == "implicit-deny"
    assert decide(guarded, "dynamodb:GetItem", t, **{"dynamodb:LeadingKeys": []}) == "implicit-deny"


# ============================================================================================
# IAM User Guide, "Conditions with multiple context keys or values"
# ============================================================================================

BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"
ANA, MARY, NIKKI = (f"arn:aws:iam::222222222222:user/{n}" for n in ("Ana", "Mary", "Nikki"))
TAGS = {"aws:PrincipalTag/department": ["finance", "hr", "legal"], "aws:PrincipalTag/role": ["audit", "security"]}


@pytest.mark.parametrize(
    "arn_operator, context, expected",
    [
        ("ArnLike", {"aws:PrincipalTag/department": "legal", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": MARY}, "allow"),
        ("ArnLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": NIKKI}, "implicit-deny"),
        ("ArnLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "payroll", "aws:PrincipalArn": MARY}, "implicit-deny"),
        ("ArnLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalArn": MARY}, "implicit-deny"),
        ("ArnLike", {"aws:PrincipalArn": MARY}, "implicit-deny"),
        # "Evaluation logic for negated matching condition operators": values are NOR-ed
        ("ArnNotLike", {"aws:PrincipalTag/department": "legal", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": NIKKI}, "allow"),
        ("ArnNotLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": MARY}, "implicit-deny"),
        ("ArnNotLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "payroll", "aws:PrincipalArn": NIKKI}, "implicit-deny"),
        ("ArnNotLike", {"aws:PrincipalTag/department": "hr", "aws:PrincipalArn": NIKKI}, "implicit-deny"),
        ("ArnNotLike", {"aws:PrincipalArn": NIKKI}, "implicit-deny"),
    ],
)
def test_operators_and_keys_are_anded_values_ored(arn_operator, context, expected):
    # "Conditions with multiple context keys or values": both evaluation tables.
    doc = policy({"Sid": "ExamplePolicy", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                  "Condition": {"StringEquals": TAGS, arn_operator: {"aws:PrincipalArn": [ANA, MARY]}}})
    assert decide(doc, "s3:ListBucket", BUCKET, **context) == expected


# ============================================================================================
# IAM User Guide, "IAM JSON policy elements: Condition operators"
# ============================================================================================


def one(condition: dict[str, Any], action: str = "svc:Do", effect: str = "Allow") -> dict[str, Any]:
    return policy({"Effect": effect, "Action": action, "Resource": "*", "Condition": condition})


def test_missing_key_is_false_for_positive_operators():
    # "...the key is not present in the request context, the values do not match and the
    # condition is false" (the principal-tag job-category example).
    doc = policy({"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": f"arn:aws:iam::{ACCOUNT}:user/*",
                  "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}})
    user = f"arn:aws:iam::{ACCOUNT}:user/dave"
    assert decide(doc, "iam:CreateAccessKey", user, **{"aws:PrincipalTag/job-category": "iamuser-admin"}) == "allow"
    assert decide(doc, "iam:CreateAccessKey", user) == "implicit-deny"


@pytest.mark.parametrize("operator", ["StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase", "ArnNotEquals", "ArnNotLike", "NumericNotEquals"])
def test_missing_key_is_true_for_negated_operators(operator):
    # "If the policy condition requires that the key is not matched, such as StringNotLike or
    # ArnNotLike, and the right key is not present, the condition is true."
    value = "5" if operator.startswith("Numeric") else "arn:aws:iam::1:user/x"
    assert decide(one({operator: {"svc:Key": value}}), "svc:Do", "r") == "allow"


def test_string_like_example_with_username_variable():
    # the s3:prefix "home directory" example: "", "home/", "home/${aws:username}/".
    doc = policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::BUCKET-NAME",
                  "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}})
    for prefix, expected in [("", "allow"), ("home/", "allow"), ("home/David/", "allow"), ("home/Adele/", "implicit-deny")]:
        assert decide(doc, "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", **{"aws:username": "David", "s3:prefix": prefix}) == expected


def test_numeric_less_than_equals_max_keys():
    # the NumericLessThanEquals s3:max-keys example: list up to 10 objects at a time.
    doc = one({"NumericLessThanEquals": {"s3:max-keys": "10"}}, "s3:ListBucket")
    assert decide(doc, "s3:ListBucket", "arn:aws:s3:::example_bucket", **{"s3:max-keys": "10"}) == "allow"
    assert decide(doc, "s3:ListBucket", "arn:aws:s3:::example_bucket", **{"s3:max-keys": "11"}) == "implicit-deny"
    assert decide(doc, "s3:ListBucket", "arn:aws:s3:::example_bucket") == "implicit-deny"


@pytest.mark.parametrize(
    "operator, policy_value, request_value, expected",
    [
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", "11", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericGreaterThan", "10", "10.5", True),
        ("NumericGreaterThanEquals", "10", "9", False),
        ("NumericEquals", 10, "abc", False),  # an unparseable request value never matches
    ],
)
def test_numeric_operators(operator, policy_value, request_value, expected):
    # "Numeric condition operators" table.
    doc = one({operator: {"svc:Count": policy_value}})
    assert (decide(doc, "svc:Do", "r", **{"svc:Count": request_value}) == "allow") is expected


def test_bool_secure_transport_deny():
    # the Bool example: deny every S3 action on the bucket when the request is not over TLS.
    doc = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                 {"Sid": "BooleanExample", "Effect": "Deny", "Action": "s3:*",
                  "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    obj = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/a.txt"
    assert decide(doc, "s3:GetObject", obj, **{"aws:SecureTransport": "false"}) == "explicit-deny"
    assert decide(doc, "s3:GetObject", obj, **{"aws:SecureTransport": False}) == "explicit-deny"
    assert decide(doc, "s3:GetObject", obj, **{"aws:SecureTransport": "true"}) == "allow"


def test_arn_like_matches_component_by_component():
    # the ArnLike vs StringLike example: StringLike's first * spans colons, ArnLike's does not.
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert decide(one({"StringLike": {"aws:SourceArn": pattern}}), "svc:Do", "r", **{"aws:SourceArn": value}) == "allow"
    for op in ("ArnLike", "ArnEquals"):  # "ArnEquals and ArnLike condition operators behave identically"
        assert decide(one({op: {"aws:SourceArn": pattern}}), "svc:Do", "r", **{"aws:SourceArn": value}) == "implicit-deny"
        good = "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"
        assert decide(one({op: {"aws:SourceArn": pattern}}), "svc:Do", "r", **{"aws:SourceArn": good}) == "allow"


def test_arn_equals_source_arn_example():
    # the SQS/SNS ArnEquals example, and its note that a missing aws:SourceArn makes it false.
    topic = "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"
    doc = policy({"Effect": "Allow", "Action": "SQS:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:QUEUE-ID",
                  "Condition": {"ArnEquals": {"aws:SourceArn": topic}}})
    queue = "arn:aws:sqs:us-east-1:123456789012:QUEUE-ID"
    assert decide(doc, "sqs:SendMessage", queue, **{"aws:SourceArn": topic}) == "allow"
    assert decide(doc, "sqs:SendMessage", queue, **{"aws:SourceArn": topic + "-2"}) == "implicit-deny"
    assert decide(doc, "sqs:SendMessage", queue) == "implicit-deny"


def test_if_exists_run_instances_example():
    # the "...IfExists condition operators" example: StringLike on ec2:InstanceType fails for the
    # other resources RunInstances touches (THISPOLICYDOESNOTWORK); StringLikeIfExists fixes it.
    types = ["t1.*", "t2.*", "m3.*"]
    broken = one({"StringLike": {"ec2:InstanceType": types}}, "ec2:RunInstances")
    fixed = one({"StringLikeIfExists": {"ec2:InstanceType": types}}, "ec2:RunInstances")
    image = "arn:aws:ec2:us-east-1::image/ami-1"
    instance = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*"
    assert decide(broken, "ec2:RunInstances", image) == "implicit-deny"
    assert decide(fixed, "ec2:RunInstances", image) == "allow"
    assert decide(fixed, "ec2:RunInstances", instance, **{"ec2:InstanceType": "t2.micro"}) == "allow"
    assert decide(fixed, "ec2:RunInstances", instance, **{"ec2:InstanceType": "m5.large"}) == "implicit-deny"


def test_deny_with_negated_if_exists_still_denies_on_missing_key():
    # "If you are using an Effect: Deny element with a negated condition operator like
    # StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    doc = policy({"Effect": "Allow", "Action": "*", "Resource": "*"},
                 {"Effect": "Deny", "Action": "*", "Resource": "*",
                  "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/env": "dev"}}})
    assert decide(doc, "svc:Do", "r") == "explicit-deny"
    assert decide(doc, "svc:Do", "r", **{"aws:ResourceTag/env": "prod"}) == "explicit-deny"
    assert decide(doc, "svc:Do", "r", **{"aws:ResourceTag/env": "dev"}) == "allow"


def test_null_token_issue_time_example():
    # the Null example: allow EC2 only when the caller is not using temporary credentials.
    doc = one({"Null": {"aws:TokenIssueTime": "true"}}, "ec2:*")
    assert decide(doc, "ec2:DescribeInstances", "*") == "allow"
    assert decide(doc, "ec2:DescribeInstances", "*", **{"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}) == "implicit-deny"
    present = one({"Null": {"aws:TokenIssueTime": False}}, "ec2:*")  # JSON false is accepted as "false"
    assert decide(present, "ec2:DescribeInstances", "*") == "implicit-deny"
    assert decide(present, "ec2:DescribeInstances", "*", **{"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}) == "allow"


def test_string_equals_ignore_case():
    # "String condition operators" table: exact matching, ignoring case / negated.
    assert decide(one({"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Blue"}}), "svc:Do", "r", **{"aws:PrincipalTag/team": "bLUE"}) == "allow"
    assert decide(one({"StringEquals": {"aws:PrincipalTag/team": "Blue"}}), "svc:Do", "r", **{"aws:PrincipalTag/team": "bLUE"}) == "implicit-deny"
    assert decide(one({"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "Blue"}}), "svc:Do", "r", **{"aws:PrincipalTag/team": "bLUE"}) == "implicit-deny"


@pytest.mark.parametrize(
    "operator, context, expected",
    [
        ("ForAnyValue:StringEquals", {}, "implicit-deny"),  # set doc: false when the key is absent
        ("ForAnyValue:StringNotEquals", {}, "implicit-deny"),  # the qualifier rule wins over "negated is true"
        ("ForAnyValue:StringEqualsIfExists", {}, "allow"),  # the IfExists rule: absent key is true
        ("ForAllValues:StringEquals", {}, "allow"),  # vacuous truth (GOTCHAS I3)
        ("ForAnyValue:StringNotEquals", {"svc:Keys": ["a", "b"]}, "allow"),  # b is not a
        ("ForAllValues:StringNotEquals", {"svc:Keys": ["a", "b"]}, "implicit-deny"),  # a is a
    ],
)
def test_set_qualifiers_on_absent_and_present_keys(operator, context, expected):
    # "Single-valued vs. multivalued context keys": ForAllValues / ForAnyValue, missing key.
    assert decide(one({operator: {"svc:Keys": "a"}}), "svc:Do", "r", **context) == expected


def test_unqualified_operator_on_multivalued_key_is_any_pair():
    # Our documented choice where the docs are silent ("Multivalued context keys require a
    # condition set operator"): positive operators match if any request value matches, negated
    # ones only if none does.
    assert decide(one({"StringEquals": {"svc:Keys": "a"}}), "svc:Do", "r", **{"svc:Keys": ["b", "a"]}) == "allow"
    assert decide(one({"StringNotEquals": {"svc:Keys": "a"}}), "svc:Do", "r", **{"svc:Keys": ["b", "a"]}) == "implicit-deny"
    assert decide(one({"StringNotEquals": {"svc:Keys": "a"}}), "svc:Do", "r", **{"svc:Keys": ["b", "c"]}) == "allow"


def test_condition_key_names_are_case_insensitive():
    # "IAM JSON policy elements: Condition": condition key names are not case-sensitive; values are.
    doc = one({"StringEquals": {"AWS:PrincipalTag/Owner": "alice"}})
    assert decide(doc, "svc:Do", "r", **{"aws:principaltag/owner": "alice"}) == "allow"
    assert decide(doc, "svc:Do", "r", **{"aws:principaltag/owner": "Alice"}) == "implicit-deny"


# ============================================================================================
# IAM User Guide, "IAM policy elements: Variables and tags"
# ============================================================================================

OWN_ACCESS_KEYS = {"Action": ["iam:*AccessKey*"], "Effect": "Allow", "Resource": [f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"]}
DAVID = f"arn:aws:iam::{ACCOUNT}:user/David"


def test_username_variable_in_resource():
    # "By using a policy variable ... Resource arn:aws:iam::account-id:user/${aws:username}".
    doc = policy(OWN_ACCESS_KEYS)
    assert decide(doc, "iam:CreateAccessKey", DAVID, **{"aws:username": "David"}) == "allow"
    assert decide(doc, "iam:CreateAccessKey", DAVID, **{"aws:username": "Adele"}) == "implicit-deny"
    # a role session has no aws:username ("not present"): the Resource entry matches nothing
    assert decide(doc, "iam:CreateAccessKey", DAVID) == "implicit-deny"


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_variables_are_literal_without_the_2012_version(version):  # GOTCHAS I6
    # "If you don't include the Version element and set it to an appropriate version date,
    # variables like ${aws:username} are treated as literal strings in the policy."
    doc = policy(OWN_ACCESS_KEYS, version=version)
    assert decide(doc, "iam:CreateAccessKey", DAVID, **{"aws:username": "David"}) == "implicit-deny"
    literal = f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"
    assert decide(doc, "iam:CreateAccessKey", literal, **{"aws:username": "David"}) == "allow"


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_leading_keys_variable_is_literal_without_the_2012_version(version):  # GOTCHAS I6
    # "Using IAM policy conditions for fine-grained access control", note on example 1: version
    # 2008-10-17 does not support policy variables.
    doc = policy(FULL_ACCESS_TO_USER_ITEMS, version=version)
    assert decide(doc, "dynamodb:GetItem", GAME_SCORES, **{LWA: "alice", "dynamodb:LeadingKeys": ["alice"]}) == "implicit-deny"


TENANT_TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/${{aws:PrincipalTag/tenantId}}-orders"


def test_principal_tag_variable_resolved():
    # "Tags as policy variables": a tag value replaces part of the ARN.
    doc = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TENANT_TABLE})
    acme = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/acme-orders"
    assert decide(doc, "dynamodb:GetItem", acme, **{"aws:PrincipalTag/tenantId": "acme"}) == "allow"
    assert decide(doc, "dynamodb:GetItem", acme, **{"aws:PrincipalTag/tenantId": "globex"}) == "implicit-deny"


def test_missing_principal_tag_matches_no_resource():
    # "Policy variables with no value": a Resource that includes a variable with no value "will not
    # match any resource", not even one spelling the variable out or an empty tenant.
    doc = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TENANT_TABLE})
    for resource in (f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/-orders", TENANT_TABLE, f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/acme-orders"):
        assert decide(doc, "dynamodb:GetItem", resource) == "implicit-deny"


def test_multivalued_key_is_no_variable():
    # "Single-valued vs. multivalued context keys": multivalued context keys cannot be policy
    # variables, so a list value leaves the variable without value.
    doc = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TENANT_TABLE})
    acme = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/acme-orders"
    assert decide(doc, "dynamodb:GetItem", acme, **{"aws:PrincipalTag/tenantId": ["acme"]}) == "implicit-deny"


def test_variable_with_no_value_in_condition():
    # "Policy variables with no value": StringEquals/StringLike do not match; StringNotEquals does,
    # so the doc's Deny fires when aws:PrincipalTag/Team is not set.
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"},
                 {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
                  "Condition": {"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}})
    obj = "arn:aws:s3:::amzn-s3-demo-bucket/report.csv"
    assert decide(doc, "s3:GetObject", obj, **{"s3:ExistingObjectTag/Team": "red"}) == "explicit-deny"
    assert decide(doc, "s3:GetObject", obj, **{"s3:ExistingObjectTag/Team": "red", "aws:PrincipalTag/Team": "blue"}) == "explicit-deny"
    assert decide(doc, "s3:GetObject", obj, **{"s3:ExistingObjectTag/Team": "red", "aws:PrincipalTag/Team": "red"}) == "allow"
    positive = one({"StringLike": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}})
    assert decide(positive, "svc:Do", "r", **{"s3:ExistingObjectTag/Team": ""}) == "implicit-deny"


def test_default_value():
    # "Specifying default values": users without a team tag get the company-wide bucket only.
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject",
                  "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-${aws:PrincipalTag/team, 'company-wide'}/*"})
    yellow, wide = "arn:aws:s3:::amzn-s3-demo-bucket-yellow/a", "arn:aws:s3:::amzn-s3-demo-bucket-company-wide/a"
    assert decide(doc, "s3:GetObject", yellow, **{"aws:PrincipalTag/team": "yellow"}) == "allow"
    assert decide(doc, "s3:GetObject", wide, **{"aws:PrincipalTag/team": "yellow"}) == "implicit-deny"
    assert decide(doc, "s3:GetObject", wide) == "allow"
    assert decide(doc, "s3:GetObject", yellow) == "implicit-deny"


def test_special_character_escapes():
    # "Special characters": ${*}, ${?} and ${$} stand for the literal characters.
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}${?}${$}"})
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::b/*?$") == "allow"
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::b/ab$") == "implicit-deny"
    like = one({"StringLike": {"svc:Name": "${*}"}})
    assert decide(like, "svc:Do", "r", **{"svc:Name": "*"}) == "allow"
    assert decide(like, "svc:Do", "r", **{"svc:Name": "anything"}) == "implicit-deny"


def test_variable_names_are_case_insensitive_and_values_literal():
    # "Key names are case-insensitive"; a substituted value is matched literally (our choice: a
    # user-controlled value must not act as a wildcard).
    doc = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${AWS:UserName}/*"})
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::b/david/x", **{"aws:username": "david"}) == "allow"
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::b/david/x", **{"aws:username": "*"}) == "implicit-deny"


# ============================================================================================
# IAM User Guide, "Policy evaluation logic" and the Action / Resource / NotAction / NotResource
# element pages
# ============================================================================================

TABLE_T = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"


def test_explicit_deny_beats_allow():
    # "Policy evaluation logic": an explicit deny in any policy overrides any allow.
    allow = policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    deny = policy({"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE_T})
    assert evaluate([allow, deny], Request("dynamodb:DeleteItem", TABLE_T)) == "explicit-deny"
    assert evaluate([deny, allow], Request("dynamodb:DeleteItem", TABLE_T)) == "explicit-deny"
    assert evaluate([allow, deny], Request("dynamodb:GetItem", TABLE_T)) == "allow"
    assert evaluate([deny], Request("dynamodb:GetItem", TABLE_T)) == "implicit-deny"  # nothing allows
    assert evaluate([], Request("dynamodb:GetItem", TABLE_T)) == "implicit-deny"


def test_not_action_and_not_resource():
    # "IAM JSON policy elements: NotAction" / "NotResource": the statement covers everything
    # except what is listed.
    doc = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
                 {"Effect": "Deny", "Action": "dynamodb:*", "NotResource": [TABLE_T, f"{TABLE_T}/index/*"]})
    assert decide(doc, "dynamodb:GetItem", TABLE_T) == "allow"
    assert decide(doc, "dynamodb:Query", f"{TABLE_T}/index/byDate") == "allow"
    assert decide(doc, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/other") == "explicit-deny"
    assert decide(doc, "iam:CreateUser", "*") == "implicit-deny"
    assert decide(doc, "s3:GetObject", "arn:aws:s3:::b/k") == "allow"


def test_action_wildcards_are_case_insensitive():
    # "IAM JSON policy elements: Action": prefix and action name are case-insensitive; * and ?.
    doc = policy({"Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:?uery"], "Resource": TABLE_T})
    assert decide(doc, "dynamodb:GetItem", TABLE_T) == "allow"
    assert decide(doc, "DynamoDB:getitem", TABLE_T) == "allow"
    assert decide(doc, "dynamodb:Query", TABLE_T) == "allow"
    assert decide(doc, "dynamodb:PutItem", TABLE_T) == "implicit-deny"
    assert decide(doc, "dynamodb:BatchGetItem", TABLE_T) == "implicit-deny"  # the glob spans the whole name


def test_resource_wildcards_and_case():
    # "IAM JSON policy elements: Resource": * and ? over the whole ARN; ARNs are case-sensitive.
    doc = policy({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "arn:aws:dynamodb:*:*:table/t/index/*"})
    assert decide(doc, "dynamodb:Query", f"{TABLE_T}/index/byDate") == "allow"
    assert decide(doc, "dynamodb:Query", f"arn:aws:dynamodb:eu-west-1:999999999999:table/t/index/x") == "allow"
    assert decide(doc, "dynamodb:Query", TABLE_T) == "implicit-deny"  # the table itself is not an index
    assert decide(doc, "dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T/index/byDate") == "implicit-deny"
    assert decide(doc, "dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tt/index/byDate") == "implicit-deny"
    q = policy({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "arn:aws:dynamodb:us-east-1:*:table/t?"})
    assert decide(q, "dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t1") == "allow"
    assert decide(q, "dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t12") == "implicit-deny"


def test_single_statement_object_and_sid_ignored():
    # "IAM JSON policy elements: Statement" may be one object; Sid is only a label.
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_T}
    as_object = {"Version": "2012-10-17", "Statement": statement}
    with_sid = policy({**statement, "Sid": "Anything"})
    for doc in (as_object, with_sid, policy(statement)):
        assert decide(doc, "dynamodb:GetItem", TABLE_T) == "allow"


# ============================================================================================
# Malformed or unsupported input raises instead of guessing.
# ============================================================================================


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"StringEqualz": {"k": "v"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"ForEveryValue:StringEquals": {"k": "v"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"NullIfExists": {"k": "true"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"ForAllValues:Null": {"k": "true"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"Null": {"k": "maybe"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"Bool": {"k": "yes"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"NumericLessThan": {"k": "ten"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"StringEquals": {"k": []}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"StringEquals": {"k": {"nested": 1}}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"StringEquals": {}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": ["StringEquals"]},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {"StringEquals": {"k": "${aws:username"}}},
        {"Effect": "Allow", "Action": "svc:Do", "Resource": "arn:aws:s3:::b/${}"},
        {"Effect": "allow", "Action": "svc:Do", "Resource": "*"},
        {"Action": "svc:Do", "Resource": "*"},
        {"Effect": "Allow", "Action": "svc:Do", "NotAction": "svc:Other", "Resource": "*"},
        {"Effect": "Allow", "Action": "svc:Do"},
        {"Effect": "Allow", "Action": [], "Resource": "*"},
        {"Effect": "Allow", "Action": "GetItem", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "svc:Do", "Resource": "*"},
    ],
)
def test_malformed_statement_raises(statement):
    with pytest.raises(ValueError):
        evaluate([policy(statement)], Request("svc:Do", "arn:aws:s3:::b/x", {"k": "v"}))


@pytest.mark.parametrize(
    "policies",
    [
        {"Version": "2012-10-17", "Statement": []},  # a single document instead of a list
        [{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}],
        [{"Version": "2012-10-17", "Statement": []}],
        [{"Version": "2012-10-17"}],
        [{"Version": "2012-10-17", "Statement": "Allow"}],
        [{"Version": "2012-10-17", "Statement": [], "Extra": 1}],
        ["not a policy"],
    ],
)
def test_malformed_policy_raises(policies):
    with pytest.raises(ValueError):
        evaluate(policies, Request("svc:Do", "r"))


def test_a_later_malformed_statement_raises_even_after_a_deny():
    doc = policy({"Effect": "Deny", "Action": "*", "Resource": "*"},
                 {"Effect": "Allow", "Action": "svc:Other", "Resource": "*", "Condition": {"StringEqualsMaybe": {"k": "v"}}})
    with pytest.raises(ValueError, match="StringEqualsMaybe"):
        evaluate([doc], Request("svc:Do", "r"))


@pytest.mark.parametrize(
    "request_",
    [
        Request("GetItem", TABLE_T),
        Request("dynamodb:GetItem", ""),
        Request("dynamodb:GetItem", TABLE_T, {"k": None}),
        Request("dynamodb:GetItem", TABLE_T, {"k": [["nested"]]}),
        Request("dynamodb:GetItem", TABLE_T, {"aws:username": "a", "AWS:UserName": "b"}),
    ],
)
def test_malformed_request_raises(request_):
    with pytest.raises(ValueError):
        evaluate([policy({"Effect": "Allow", "Action": "*", "Resource": "*"})], request_)
