"""A plan's own templates (dev: where every reference route is a direct integration; prod serves the
product reads through DAX), rendered with a real Velocity engine and executed against moto,
behave exactly as through the local gateway (there is no second copy of the templates)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from stacks.local.api_plan import load_api
from stacks.local.aws import LocalAws, bootstrap, plan_region
from stacks.local.gateway import HttpRequest, LocalGateway
from stacks.local.runtime import dynamodb_caller
from stacks.local.tokens import LocalIssuer, user_sub
from stacks.local.vtl import VtlRequest, render_request, render_response

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def env(reference_preview, tmp_path_factory):
    plan = copy.deepcopy(reference_preview("dev").plan)  # prod reads products through DAX functions
    out = tmp_path_factory.mktemp("build")
    with LocalAws(plan_region(plan)) as aws:
        local = bootstrap(plan, aws)
        api = load_api(plan)
        issuer = LocalIssuer.for_stack(out, "dev")
        tables = {t.name: t.arn for t in local.tables.values()}
        keys = {r["inputs"]["name"]: r["inputs"]["hashKey"] for r in plan["resources"] if r["type"] == "aws:dynamodb/table:Table"}
        call = dynamodb_caller(aws.endpoint_url, aws.region)
        gateway = LocalGateway(api, issuer, call, region=aws.region, account="123456789012", table_arns=tables, partition_keys=keys)
        aws.client("dynamodb").put_item(TableName=local.table("products").name, Item={
            "productId": {"S": "p-1"}, "category": {"S": "tea"}, "name": {"S": 'Green "sencha"'},
            "price": {"N": "4.5"}, "currency": {"S": "EUR"}, "stock": {"N": "3"}})
        aws.client("dynamodb").put_item(TableName=local.table("productSales").name, Item={
            "productId": {"S": "p-1"}, "unitsSold": {"N": "7"}})
        yield api, issuer, call, gateway


def direct(api, call, method, path, claims, *, body="", query=None):
    """Render the plan's templates for one request and execute them against moto, by hand."""
    route, params = api.route(method, path)
    request = VtlRequest(body=body, path=params, querystring=query or {}, header={},
                         context={"requestId": "r-1", "requestTimeEpoch": int(time.time() * 1000),
                                  "authorizer": {"claims": claims}, "identity": {}})
    rendered = render_request(route.request_template, request)
    status, response = call(route.action, rendered.output)
    chosen = next(r for r in route.responses if (r.pattern and __import__("re").fullmatch(r.pattern, str(status))) or not r.pattern and status < 300)
    out = render_response(chosen.template, request, response)
    final = out.status_override or int(chosen.status)
    return final, (json.loads(out.output) if out.output.strip() else None)


CASES = [
    ("GET", "/products/p-1", "", None),
    ("GET", "/products/none", "", None),
    ("GET", "/products/p-1/sales", "", None),
    ("GET", "/products/none/sales", "", None),
    ("GET", "/products", "", {"category": "tea", "limit": "1"}),
    ("GET", "/products", "", {"category": "tea", "limit": "0"}),
    ("PUT", "/cart/items/p-1", '{"quantity": 2, "note": "a \\"quoted\\" note"}', None),
    ("PUT", "/cart/items/p-1", '{"quantity": 2}', None),
    ("PATCH", "/cart/items/p-1", '{"delta": -5}', None),
    ("PATCH", "/cart/items/p-1", '{"delta": 1}', None),
    ("GET", "/cart", "", {"limit": "5"}),
    ("DELETE", "/cart/items/p-1", "", None),
    ("DELETE", "/cart/items/p-1", "", None),
]


def test_every_reference_route_of_the_plan_is_exercised(env):
    api = env[0]
    exercised = {(m, api.route(m, p)[0].path) for m, p, _, _ in CASES}
    cognito = {(r.method, r.path) for r in api.routes
               if r.authorization == "COGNITO_USER_POOLS" and r.integration_type == "AWS"}  # templates, not functions
    assert cognito <= exercised


def test_direct_execution_and_local_gateway_agree(env):
    api, issuer, call, gateway = env
    claims = {"sub": user_sub("zoe")}
    direct_results = [direct(api, call, m, p, claims, body=b, query=q) for m, p, b, q in CASES]
    # Reset the cart (the same sequence runs again through the gateway).
    token = issuer.mint("zoe")
    gateway_results = []
    for m, p, b, q in CASES:
        target = "/v1" + p + ("?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else "")
        response = gateway.handle(HttpRequest(m, target, {"Authorization": token, "Content-Type": "application/json"}, b))
        gateway_results.append((response.status, response.json()))
    assert [s for s, _ in direct_results] == [200, 404, 200, 404, 200, 400, 201, 409, 409, 200, 200, 204, 404]
    # addedAt is the server's clock at the time of each PUT: compare everything else.
    # It appears at the top level (PUT) and inside listed items (GET /cart), so strip it everywhere.
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "addedAt"}
        return [strip(v) for v in value] if isinstance(value, list) else value

    def timeless(results):
        return [(s, strip(b)) for s, b in results]
    assert timeless(direct_results) == timeless(gateway_results)


def test_create_answers_201_with_the_line_as_stored_not_echoed_from_the_request(env):  # A10
    api, _, call, _ = env
    claims = {"sub": user_sub("ann")}
    status, body = direct(api, call, "PUT", "/cart/items/p-1", claims, body='{"quantity": 3}')
    assert status == 201
    assert body["productId"] == "p-1" and body["quantity"] == 3 and isinstance(body["addedAt"], int)
    assert body["note"] is None  # an optional field that was not sent is not stored at all
    status, body = direct(api, call, "PUT", "/cart/items/p-2", claims, body='{"quantity": 1, "note": "gift"}')
    assert (status, body["note"]) == (201, "gift")
    assert direct(api, call, "PUT", "/cart/items/p-2", claims, body='{"quantity": 1}')[0] == 409


def test_patch_keeps_the_quantity_within_the_bounds_of_the_create_route(env):
    api, _, call, _ = env
    claims = {"sub": user_sub("bob")}
    assert direct(api, call, "PUT", "/cart/items/p-1", claims, body='{"quantity": 98}')[0] == 201
    assert direct(api, call, "PATCH", "/cart/items/p-1", claims, body='{"delta": 1}')[1]["quantity"] == 99
    status, body = direct(api, call, "PATCH", "/cart/items/p-1", claims, body='{"delta": 1}')
    assert status == 409 and "quantity at most 99" in body["message"]
    status, body = direct(api, call, "PATCH", "/cart/items/p-1", claims, body='{"delta": -99}')
    assert status == 409 and "quantity at least 1" in body["message"]


def test_a_bad_page_parameter_gets_one_message_naming_both(env):  # A10: no request parameters in responses
    api, _, call, _ = env
    for query in ({"category": "tea", "limit": "0"}, {"category": "tea", "nextToken": "!!"}):
        status, body = direct(api, call, "GET", "/products", {"sub": user_sub("cy")}, query=query)
        assert status == 400
        assert "limit must be a whole number from 1 to 100" in body["message"] and "nextToken" in body["message"]
