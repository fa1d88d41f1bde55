"""Caller-credential (iam) routes answer invalid paging input as the Cognito routes do: 400 with the
reason. The request DynamoDB refuses keeps the caller's own key, so the caller's policy allows it
(LeadingKeys, Null guard: I1, I3) and DynamoDB then refuses it as invalid (ValidationException)."""

from __future__ import annotations

import copy
import json
import re
import time

import pytest

from stacks.local.api_plan import load_api
from stacks.local.aws import LocalAws, bootstrap, plan_region
from stacks.local.gateway import Identity, LocalGateway
from stacks.local.runtime import dynamodb_caller
from stacks.local.tokens import LocalIssuer, user_sub
from stacks.local.vtl import VtlRequest, render_request, render_response


@pytest.fixture(scope="module")
def env(tmp_path_factory, reference_preview):
    out = tmp_path_factory.mktemp("build")
    plan = copy.deepcopy(reference_preview("prod").plan)
    with LocalAws(plan_region(plan)) as aws:
        local = bootstrap(plan, aws)
        api = load_api(plan)
        tables = {t.name: t.arn for t in local.tables.values()}
        keys = {r["inputs"]["name"]: r["inputs"]["hashKey"] for r in plan["resources"] if r["type"] == "aws:dynamodb/table:Table"}
        call = dynamodb_caller(aws.endpoint_url, aws.region)
        gateway = LocalGateway(api, LocalIssuer.for_stack(out, "prod"), call, region=aws.region, account="123456789012",
                               table_arns=tables, partition_keys=keys)
        yield api, call, gateway, aws.region


def run(env, path: str, query: dict, user: str = "uma"):
    api, call, gateway, region = env
    route, params = api.route("GET", path)
    identity = Identity({"sub": user_sub(user)}, region)
    request = VtlRequest(body="", path=params, querystring=query, header={},
                         context={"requestId": "r-1", "requestTimeEpoch": int(time.time() * 1000),
                                  "authorizer": {}, "identity": identity.context()})
    sent = render_request(route.request_template, request).output
    denied = gateway._caller_denied(route.action, sent, identity)
    status, body = call(route.action, sent)
    chosen = next(r for r in route.responses if (r.pattern and re.fullmatch(r.pattern, str(status))) or (not r.pattern and status < 300))
    out = render_response(chosen.template, request, body)
    return json.loads(sent), denied, status, body, out.status_override or int(chosen.status), json.loads(out.output)


@pytest.mark.parametrize("query, reason", [
    ({"limit": "0"}, "limit"), ({"limit": "x\"}"}, "limit"), ({"limit": "51"}, "limit"),
    ({"nextToken": "!!!"}, "nextToken"), ({"nextToken": "A" * 5000}, "nextToken"),
])
def test_invalid_paging_on_list_orders_is_refused_by_dynamodb_not_by_iam(env, query, reason):
    sent, denied, status, body, final, message = run(env, "/orders", query)
    assert sent["ExpressionAttributeValues"][":k0"] == {"S": user_sub("uma")}  # the caller's own key
    assert sent["Limit"] == 1 and "ExclusiveStartKey" not in sent
    assert denied is None  # the caller's policy allows the request ...
    assert status == 400 and "ValidationException" in body and "unused" in body  # ... DynamoDB refuses it
    assert final == 400 and reason in message["message"]


def test_valid_paging_on_list_orders_sends_no_refused_name(env):
    sent, denied, status, _, final, _ = run(env, "/orders", {"limit": "5"})
    assert "#invalid" not in sent["ExpressionAttributeNames"] and sent["Limit"] == 5
    assert denied is None and status == 200 and final == 200
