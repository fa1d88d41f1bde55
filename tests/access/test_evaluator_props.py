"""Algebraic properties of stacks.iam_eval, checked with hypothesis.

The rules come from the IAM User Guide pages "Policy evaluation logic", "Conditions with multiple
context keys or values", "Single-valued vs. multivalued context keys" and "IAM policy elements:
Variables and tags"; the row-scoped statement is the shape stacks.access generates (GOTCHAS I1, I3).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stacks.access.evaluator import Request, evaluate, explain

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
OWNER_KEY = "aws:PrincipalTag/userSub"
ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:BatchGetItem"]

# User ids as an identity provider might issue them, including characters that are wildcards or
# ARN separators in policy text: substituted values must still compare literally.
ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24)
short = st.text(alphabet="abc*?", min_size=1, max_size=3)


def row_scoped(guarded: bool = True) -> dict[str, Any]:
    condition: dict[str, Any] = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [f"${{{OWNER_KEY}}}"]}}
    if guarded:
        condition["Null"] = {"dynamodb:LeadingKeys": "false"}
    return {"Version": "2012-10-17",
            "Statement": [{"Sid": "OwnRows", "Effect": "Allow", "Action": ITEM_ACTIONS, "Resource": TABLE, "Condition": condition}]}


def as_owner(principal: str, action: str = "dynamodb:GetItem", keys: list[str] | None = None) -> Request:
    context: dict[str, Any] = {OWNER_KEY: principal}
    if keys is not None:
        context["dynamodb:LeadingKeys"] = keys
    return Request(action, TABLE, context)


@given(a=ids, b=ids, action=st.sampled_from(ITEM_ACTIONS))
def test_owner_reaches_own_partition_and_no_other(a, b, action):
    assume(a != b)
    assert evaluate([row_scoped()], as_owner(a, action, [a])) == "allow"
    assert evaluate([row_scoped()], as_owner(a, action, [b])) == "implicit-deny"


@given(principal=ids, keys=st.lists(st.one_of(ids, st.just("")), max_size=5))
def test_batch_allowed_iff_every_key_is_the_callers(principal, keys):
    # ForAllValues = subset; the Null guard removes the empty set (GOTCHAS I3).
    expected = "allow" if keys and set(keys) == {principal} else "implicit-deny"
    assert evaluate([row_scoped()], as_owner(principal, "dynamodb:BatchGetItem", keys)) == expected


@given(principal=ids)
def test_guard_is_what_stops_keyless_requests(principal):
    assert evaluate([row_scoped(guarded=False)], as_owner(principal)) == "allow"  # the I3 pitfall
    assert evaluate([row_scoped(guarded=True)], as_owner(principal)) == "implicit-deny"


@given(principal=ids, key=ids)
def test_without_identity_nothing_is_reachable(principal, key):
    # a caller without the owner tag: the variable has no value, StringEquals never matches it
    request = Request("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": [key]})
    assert evaluate([row_scoped()], request) == "implicit-deny"


@given(principal=ids, keys=st.lists(ids, min_size=1, max_size=3))
def test_variables_are_literal_before_2012(principal, keys):  # GOTCHAS I6
    doc = {**row_scoped(), "Version": "2008-10-17"}
    assume(f"${{{OWNER_KEY}}}" not in keys)
    assert evaluate([doc], as_owner(principal, keys=keys)) == "implicit-deny"


request_values = st.one_of(st.none(), st.lists(short, max_size=4))
policy_values = st.lists(short, min_size=1, max_size=3)


def decide_one(operator: str, policy_vals: list[str], req: list[str] | None) -> bool:
    doc = {"Version": "2012-10-17",
           "Statement": {"Effect": "Allow", "Action": "svc:Do", "Resource": "*", "Condition": {operator: {"svc:Keys": policy_vals}}}}
    context = {} if req is None else {"svc:Keys": req}
    return evaluate([doc], Request("svc:Do", "r", context)) == "allow"


@given(pol=policy_values, req=request_values)
def test_set_qualifiers_are_subset_and_intersection(pol, req):
    # "Single-valued vs. multivalued context keys": ForAllValues true iff every request value is
    # in the policy (vacuously on an absent/empty key); ForAnyValue iff some value is.
    values = req or []
    assert decide_one("ForAllValues:StringEquals", pol, req) == set(values).issubset(pol)
    assert decide_one("ForAnyValue:StringEquals", pol, req) == bool(set(values) & set(pol))


@given(pol=policy_values, req=request_values)
def test_negated_operator_is_the_complement_unless_qualified_by_for_any(pol, req):
    # "Conditions with multiple context keys or values": a negated operator NOR-s its values, so
    # without qualifier it is exactly the complement (absent key: false vs true).
    assert decide_one("StringNotEquals", pol, req) != decide_one("StringEquals", pol, req)
    assert decide_one("StringNotLike", pol, req) != decide_one("StringLike", pol, req)
    # ForAllValues:StringNotEquals = no request value is a policy value (vacuous when absent)
    assert decide_one("ForAllValues:StringNotEquals", pol, req) == (not set(req or []) & set(pol))


@given(pol=policy_values, req=request_values)
def test_if_exists_only_changes_the_absent_case(pol, req):
    for op in ("StringEquals", "StringLike", "ForAnyValue:StringEquals"):
        plain, if_exists = decide_one(op, pol, req), decide_one(op + "IfExists", pol, req)
        assert if_exists == (True if not req else plain)


@given(text=st.text(alphabet="ab:/-", max_size=8), other=st.text(alphabet="ab:/-", max_size=8))
def test_like_without_wildcards_is_equals(text, other):
    assert decide_one("StringLike", [text], [other]) == (text == other) == decide_one("StringEquals", [text], [other])


statement = st.fixed_dictionaries({
    "Effect": st.sampled_from(["Allow", "Deny"]),
    "Action": st.sampled_from(["*", "dynamodb:*", "dynamodb:Get*", "dynamodb:PutItem", "s3:*"]),
    "Resource": st.sampled_from(["*", TABLE, f"{TABLE}/index/*", "arn:aws:dynamodb:*:*:table/o?ders"]),
})
docs = st.lists(st.lists(statement, min_size=1, max_size=4).map(lambda s: {"Version": "2012-10-17", "Statement": s}), max_size=3)
requests = st.builds(Request, st.sampled_from(ITEM_ACTIONS + ["s3:GetObject"]), st.sampled_from([TABLE, f"{TABLE}/index/byDate"]))
DENY_ALL = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}


@given(policies=docs, request=requests)
def test_deny_wins_and_allow_only_adds(policies, request):
    # "Policy evaluation logic": an explicit deny overrides; an allow cannot undo a deny.
    before = evaluate(policies, request)
    assert evaluate(policies + [DENY_ALL], request) == "explicit-deny"
    assert evaluate(policies + [ALLOW_ALL], request) == ("explicit-deny" if before == "explicit-deny" else "allow")


@given(policies=docs, request=requests, seed=st.integers())
@settings(max_examples=50)
def test_order_of_policies_and_statements_is_irrelevant(policies, request, seed):
    rng = random.Random(seed)
    shuffled = [{**doc, "Statement": rng.sample(doc["Statement"], len(doc["Statement"]))} for doc in policies]
    rng.shuffle(shuffled)
    assert evaluate(shuffled, request) == evaluate(policies, request)


@given(policies=docs, request=requests)
@settings(max_examples=50)
def test_explain_ends_with_the_decision(policies, request):
    assert explain(policies, request)[-1] == f"decision: {evaluate(policies, request)}"
