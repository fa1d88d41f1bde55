"""POST /orders (lambdas/place_order): behaviour against moto's in-process DynamoDB (`mock_aws`).

One request at a time here; the concurrent bar is in test_place_order_concurrency.py (moto's server,
since `mock_aws` patches one process-wide botocore hook and its backend is not thread-safe).
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from pathlib import Path

import boto3
import jsonschema
import pytest
from moto import mock_aws
from place_order_fixtures import (
    CLEARED,
    ENVIRONMENT,
    REGION,
    TABLE_NAMES,
    FakeLambdaContext,
    Shop,
    api_event,
    body_of,
    create_tables,
    load_handler,
)

from stacks.local.tokens import user_sub


class World:
    """The handler (a fresh execution environment) and the shop's tables, under mock_aws."""

    def __init__(self, handler: Any, shop: Shop):
        self.handler = handler
        self.shop = shop

    def post(self, username: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        text = body if body is None or isinstance(body, str) else json.dumps(body)
        return self.handler.lambda_handler(api_event(username, text, headers), FakeLambdaContext())


@pytest.fixture
def world(monkeypatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client)
        yield World(load_handler(), Shop(client))


CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "lambdas" / "place_order" / "api.json").read_text())


def assert_json_response(response: dict[str, Any], status: int) -> Any:
    """The status, and a body that matches the route's documented contract (lambdas/place_order/api.json,
    merged into the OpenAPI document): every test of the handler checks the document too."""
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/json"
    body = body_of(response)
    declared = CONTRACT["responses"].get(str(status))
    if declared is None:
        assert status in (401, 500), f"{status} is not in the documented responses of POST /orders"
        jsonschema.validate(body, CONTRACT["schemas"]["OrderRejection"])
    else:
        jsonschema.validate(body, CONTRACT["schemas"][declared["schema"]])
        if declared.get("retryAfter"):
            assert response["headers"]["Retry-After"].isdigit()
    return body


# --------------------------------------------------------------------------------------------------
# Placing an order
# --------------------------------------------------------------------------------------------------


def test_happy_path_writes_order_decrements_stock_and_empties_cart(world):
    # GIVEN 3 mugs at 9.99 and 1 tea at 4.50 in alice's cart
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_product("tea", price="4.50", stock=2)
    world.shop.add_to_cart("alice", "mug", 3)
    world.shop.add_to_cart("alice", "tea", 1)
    # WHEN she places the order with a note
    response = world.post("alice", {"note": "leave at the door"})
    # THEN 201 with the order; stock decremented; the cart is empty; the order is stored as returned
    order = assert_json_response(response, 201)
    assert order["status"] == "PLACED"
    assert order["userId"] == user_sub("alice")
    assert order["currency"] == "EUR"
    assert order["total"] == Decimal("34.47")
    assert order["note"] == "leave at the door"
    assert order["items"] == [{"productId": "mug", "quantity": 3, "price": Decimal("9.99")},
                              {"productId": "tea", "quantity": 1, "price": Decimal("4.50")}]
    assert (world.shop.stock("mug"), world.shop.stock("tea")) == (7, 1)
    assert world.shop.cart("alice") == {}
    [stored] = world.shop.orders("alice")
    assert stored == order


def test_total_is_exact_decimal_arithmetic(world):
    # GIVEN 3 × 9.99 (29.969999999999995 in binary floating point)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 3)
    # WHEN alice orders
    order = assert_json_response(world.post("alice"), 201)
    # THEN the total is exactly 29.97, in the response (a JSON number) and in DynamoDB
    assert order["total"] == Decimal("29.97")
    assert '"total":29.97' in world.handler.respond(201, {"total": Decimal("29.97")})["body"]
    assert world.shop.orders("alice")[0]["total"] == Decimal("29.97")


def test_order_id_is_time_sortable_and_url_safe(world):
    # GIVEN one line in the cart
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    # WHEN alice orders
    order = assert_json_response(world.post("alice"), 201)
    # THEN the id is 13-digit epoch millis, '-', 12 hex, and createdAt is the same instant in ISO-8601 UTC
    millis, _, suffix = order["orderId"].partition("-")
    assert len(millis) == 13 and millis.isdigit() and len(suffix) == 12 and all(c in "0123456789abcdef" for c in suffix)
    assert order["createdAt"] == world.handler.iso_utc(int(millis))
    assert order["createdAt"].endswith("Z")


def test_the_user_comes_from_the_claims_not_the_body(world):
    # GIVEN mallory's cart holds a mug, alice's nothing
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("mallory", "mug", 1)
    # WHEN alice sends mallory's id in the body
    response = world.post("alice", {"userId": user_sub("mallory")})
    # THEN it is refused as an unknown field, and mallory's cart is untouched
    assert "userId" in assert_json_response(response, 400)["message"]
    assert world.shop.cart("mallory") == {"mug": 1}


def test_missing_claims_is_401_not_500(world):
    # GIVEN an event without the authorizer's claims (a wiring error)
    event = api_event("alice")
    del event["requestContext"]["authorizer"]
    # WHEN it arrives THEN 401
    assert_json_response(world.handler.lambda_handler(event, FakeLambdaContext()), 401)


def test_expired_cart_lines_are_not_ordered(world):
    # GIVEN a cart line whose TTL has passed (DynamoDB deletes expired items only eventually)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1, expires_at=1)
    # WHEN alice orders THEN the cart counts as empty
    assert assert_json_response(world.post("alice"), 400) == {"message": "the cart is empty"}
    assert world.shop.stock("mug") == 10


def test_the_whole_cart_is_read_across_pages(world):
    # GIVEN 7 lines, read 2 per page
    for i in range(7):
        world.shop.add_product(f"p{i}", price="1.00", stock=5)
        world.shop.add_to_cart("alice", f"p{i}", 1)
    # WHEN the cart is read THEN every line is there
    lines = world.handler.read_cart(user_sub("alice"), page_size=2)
    assert [line.product_id for line in lines] == [f"p{i}" for i in range(7)]


def test_unprocessed_product_keys_are_retried(world):
    # GIVEN DynamoDB leaves one key unprocessed on the first BatchGetItem (injected at the AWS boundary)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_product("tea", price="4.50", stock=10)
    calls = []

    def leave_one_unprocessed(parsed, **_):
        calls.append(1)
        if len(calls) == 1:
            table = TABLE_NAMES["products"]
            left = parsed["Responses"][table].pop()
            parsed["UnprocessedKeys"] = {table: {"Keys": [{"productId": left["productId"]}],
                                                 "ConsistentRead": True}}

    world.handler.dynamodb.meta.events.register("after-call.dynamodb.BatchGetItem", leave_one_unprocessed)
    # WHEN products are read THEN both arrive, after a second call
    products = world.handler.read_products(["mug", "tea"], backoff_seconds=0)
    assert sorted(products) == ["mug", "tea"] and len(calls) == 2


# --------------------------------------------------------------------------------------------------
# Refusals: each changes nothing
# --------------------------------------------------------------------------------------------------


def test_empty_cart_is_400(world):
    # GIVEN nothing in alice's cart WHEN she orders THEN 400 "the cart is empty"
    assert assert_json_response(world.post("alice"), 400) == {"message": "the cart is empty"}
    assert world.shop.orders() == []


def test_unknown_product_is_409_naming_it(world):
    # GIVEN a cart line for a product that is not in the catalogue
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    world.shop.add_to_cart("alice", "ghost", 1)
    # WHEN alice orders
    body = assert_json_response(world.post("alice"), 409)
    # THEN 409 naming it, and nothing changed
    assert body["unknownProducts"] == ["ghost"] and "ghost" in body["message"]
    assert world.shop.stock("mug") == 10 and world.shop.cart("alice") == {"ghost": 1, "mug": 1}
    assert world.shop.orders() == []


def test_out_of_stock_is_409_naming_only_short_lines_and_changes_nothing(world):
    # GIVEN enough mugs, too few teas and too few cups
    world.shop.add_product("cup", price="3.00", stock=0)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_product("tea", price="4.50", stock=1)
    for product, quantity in (("cup", 1), ("mug", 3), ("tea", 2)):
        world.shop.add_to_cart("alice", product, quantity)
    # WHEN alice orders
    body = assert_json_response(world.post("alice"), 409)
    # THEN 409 naming exactly the short lines; stock, cart and orders unchanged (all or nothing)
    assert body == {"message": "out of stock", "outOfStock": ["cup", "tea"]}
    assert [world.shop.stock(p) for p in ("cup", "mug", "tea")] == [0, 10, 1]
    assert world.shop.cart("alice") == {"cup": 1, "mug": 3, "tea": 2}
    assert world.shop.orders() == []


def test_mixed_currencies_is_400(world):
    # GIVEN a EUR and a USD product in one cart
    world.shop.add_product("mug", price="9.99", stock=10, currency="EUR")
    world.shop.add_product("cap", price="15.00", stock=10, currency="USD")
    world.shop.add_to_cart("alice", "mug", 1)
    world.shop.add_to_cart("alice", "cap", 1)
    # WHEN alice orders THEN 400 naming the currencies; nothing changed
    body = assert_json_response(world.post("alice"), 400)
    assert body["currencies"] == ["EUR", "USD"]
    assert world.shop.stock("mug") == 10 and world.shop.orders() == []


def test_more_lines_than_one_transaction_is_400_naming_the_limit(world):
    # GIVEN 50 lines (each needs 2 transaction items, the order 1: at most 49 fit in 100)
    for i in range(50):
        world.shop.add_product(f"p{i:02d}", price="1.00", stock=5)
        world.shop.add_to_cart("alice", f"p{i:02d}", 1)
    # WHEN alice orders THEN 400 naming the limit; nothing changed
    body = assert_json_response(world.post("alice"), 400)
    assert body["maxLines"] == 49 and "49" in body["message"]
    assert world.shop.orders() == [] and len(world.shop.cart("alice")) == 50


def test_the_largest_cart_that_fits_is_placed(world):
    # GIVEN 49 lines (99 transaction items)
    for i in range(49):
        world.shop.add_product(f"p{i:02d}", price="1.00", stock=5)
        world.shop.add_to_cart("alice", f"p{i:02d}", 1)
    # WHEN alice orders THEN it is one order of 49 lines
    assert assert_json_response(world.post("alice"), 201)["total"] == 49
    assert world.shop.cart("alice") == {}


@pytest.mark.parametrize("body, expected", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"a note"', "JSON object"),
    ('{"note": 5}', "note must be a string"),
    ('{"note": null}', "note must be a string"),
    (json.dumps({"note": "x" * 201}), "at most 200"),
    ('{"note": "ok", "coupon": "FREE"}', "coupon"),
    ('{"quantity": 3}', "quantity"),
])
def test_invalid_body_is_400_with_a_useful_message(world, body, expected):
    # GIVEN a cart that could be ordered
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    # WHEN the body is malformed THEN 400 saying what is wrong, and nothing changed
    assert expected in assert_json_response(world.post("alice", body), 400)["message"]
    assert world.shop.cart("alice") == {"mug": 1} and world.shop.orders() == []


@pytest.mark.parametrize("body", [None, "", "  ", "{}", json.dumps({"note": "x" * 200})])
def test_the_body_is_optional(world, body):
    # GIVEN a cart WHEN the body is absent, empty, {} or a maximal note THEN the order is placed
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    assert_json_response(world.post("alice", body), 201)


def test_a_base64_encoded_body_is_decoded(world):
    # GIVEN a base64-encoded body (binary media types on the API)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    event = api_event("alice", base64.b64encode(b'{"note": "gift"}').decode())
    event["isBase64Encoded"] = True
    # WHEN it arrives THEN the note is read from it
    assert body_of(world.handler.lambda_handler(event, FakeLambdaContext()))["note"] == "gift"


# --------------------------------------------------------------------------------------------------
# Cancelled transactions: mapping of CancellationReasons (injected at the AWS boundary)
# --------------------------------------------------------------------------------------------------


def _cancel_with(world, codes: list[str]) -> None:
    """Make DynamoDB answer TransactWriteItems with TransactionCanceledException and these reasons."""
    from botocore.awsrequest import AWSResponse

    def cancel(**_):
        parsed = {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                  "CancellationReasons": [{"Code": code} for code in codes],
                  "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://dynamodb", 400, {}, None), parsed

    world.handler.dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", cancel)


@pytest.mark.parametrize("codes, status, message", [
    (["TransactionConflict", "None", "None"], 409, "retry"),
    (["None", "None", "TransactionConflict"], 409, "retry"),
    (["ThrottlingError", "None", "None"], 429, "too many requests"),
    (["None", "ConditionalCheckFailed", "None"], 409, "retry"),  # order id collision
    (["None", "None", "ConditionalCheckFailed"], 409, "the cart changed"),
    (["ConditionalCheckFailed", "None", "ConditionalCheckFailed"], 409, "the cart changed"),
])
def test_cancellation_reasons_map_to_4xx_never_500(world, codes, status, message):
    # GIVEN a one-line cart and DynamoDB cancelling the transaction for these reasons
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    _cancel_with(world, codes)
    # WHEN alice orders THEN the mapped status and message
    response = world.post("alice")
    assert message in assert_json_response(response, status)["message"]
    if status == 429:
        assert response["headers"]["Retry-After"] == "1"


def test_a_cart_changed_between_read_and_write_cancels_the_order(world):
    # GIVEN alice's cart changes after it was read (a PATCH from another tab), before the transaction
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)

    def change_cart(**_):
        world.shop.add_to_cart("alice", "mug", 5)

    world.handler.dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", change_cart)
    # WHEN the order is written THEN the cart-row condition cancels it: 409, nothing changed
    assert assert_json_response(world.post("alice"), 409) == {"message": "the cart changed; review it and try again"}
    assert world.shop.stock("mug") == 10 and world.shop.cart("alice") == {"mug": 5} and world.shop.orders() == []


def test_throttled_reads_are_429(world):
    # GIVEN DynamoDB throttles the cart query (botocore has given up retrying)
    from botocore.awsrequest import AWSResponse

    def throttle(**_):
        return AWSResponse("https://dynamodb", 400, {}, None), {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 400}}

    world.handler.dynamodb.meta.events.register("before-call.dynamodb.Query", throttle)
    # WHEN alice orders THEN 429 with Retry-After
    response = world.post("alice")
    assert_json_response(response, 429)
    assert response["headers"]["Retry-After"] == "1"


# --------------------------------------------------------------------------------------------------
# Idempotency-Key (GOTCHAS L5)
# --------------------------------------------------------------------------------------------------


def test_same_key_twice_returns_the_same_response_and_orders_once(world):  # L5
    # GIVEN 3 mugs in alice's cart and in stock 10
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 3)
    headers = {"Idempotency-Key": "checkout-7f3a"}
    # WHEN the same request is sent twice (a retry after a lost response)
    first = world.post("alice", {"note": "hi"}, headers)
    second = world.post("alice", {"note": "hi"}, headers)
    # THEN the same 201, one order, one decrement
    assert_json_response(first, 201)
    assert (second["statusCode"], body_of(second)) == (first["statusCode"], body_of(first))
    assert len(world.shop.orders("alice")) == 1
    assert world.shop.stock("mug") == 7


def test_the_key_header_is_case_insensitive(world):  # L5
    # GIVEN an order placed with "idempotency-key"
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    first = world.post("alice", None, {"idempotency-key": "k1"})
    # WHEN retried as "IDEMPOTENCY-KEY" THEN it is the same request
    second = world.post("alice", None, {"IDEMPOTENCY-KEY": "k1"})
    assert body_of(second) == body_of(first) and len(world.shop.orders()) == 1


def test_a_different_key_is_a_new_attempt(world):  # L5
    # GIVEN an order placed with key A (the cart is now empty)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 3)
    assert_json_response(world.post("alice", None, {"Idempotency-Key": "A"}), 201)
    # WHEN alice sends key B THEN it runs again and finds the cart empty; still one order, one decrement
    assert assert_json_response(world.post("alice", None, {"Idempotency-Key": "B"}), 400) == {"message": "the cart is empty"}
    assert len(world.shop.orders()) == 1 and world.shop.stock("mug") == 7


def test_without_a_key_each_request_is_a_new_attempt(world):
    # GIVEN an order placed without a key, then the cart refilled
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    assert_json_response(world.post("alice"), 201)
    world.shop.add_to_cart("alice", "mug", 1)
    # WHEN the same request is sent again THEN a second order
    assert_json_response(world.post("alice"), 201)
    assert len(world.shop.orders()) == 2 and world.shop.stock("mug") == 8


def test_keys_belong_to_their_user(world):  # L5
    # GIVEN alice placed an order with key K
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    world.shop.add_to_cart("bob", "mug", 2)
    alice = body_of(world.post("alice", None, {"Idempotency-Key": "K"}))
    # WHEN bob uses the same key THEN he gets his own order, not alice's response
    bob = assert_json_response(world.post("bob", None, {"Idempotency-Key": "K"}), 201)
    assert bob["orderId"] != alice["orderId"] and bob["userId"] == user_sub("bob")
    assert world.shop.stock("mug") == 7


def test_same_key_with_a_different_body_is_422(world):  # L5
    # GIVEN an order placed with key K and note "a"
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    assert_json_response(world.post("alice", {"note": "a"}, {"Idempotency-Key": "K"}), 201)
    # WHEN K is reused with note "b" THEN 422, nothing new
    assert "different request body" in assert_json_response(
        world.post("alice", {"note": "b"}, {"Idempotency-Key": "K"}), 422)["message"]
    assert len(world.shop.orders()) == 1


def test_a_failed_attempt_is_not_recorded_so_the_same_key_can_retry(world):  # L5
    # GIVEN a key whose first attempt found the product out of stock (nothing changed)
    world.shop.add_product("mug", price="9.99", stock=0)
    world.shop.add_to_cart("alice", "mug", 1)
    assert assert_json_response(world.post("alice", None, {"Idempotency-Key": "K"}), 409)["outOfStock"] == ["mug"]
    # WHEN the stock is replenished and the same request retried with the same key
    world.shop.add_product("mug", price="9.99", stock=5)
    # THEN it runs again and succeeds (a stale 409 is not replayed)
    assert_json_response(world.post("alice", None, {"Idempotency-Key": "K"}), 201)
    assert world.shop.stock("mug") == 4


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "ünïcode", "semi;colon", "trailing-newline\n"])
def test_a_malformed_key_is_400(world, key):
    # GIVEN a cart WHEN the key is not 1-64 of [A-Za-z0-9_-] THEN 400, nothing changed
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    assert "Idempotency-Key" in assert_json_response(world.post("alice", None, {"Idempotency-Key": key}), 400)["message"]
    assert world.shop.orders() == []


def test_a_repeated_key_header_is_400(world):
    # GIVEN two Idempotency-Key values WHEN sent THEN 400
    event = api_event("alice", None, {"Idempotency-Key": "a"})
    event["multiValueHeaders"]["Idempotency-Key"] = ["a", "b"]
    assert_json_response(world.handler.lambda_handler(event, FakeLambdaContext()), 400)


def test_a_key_in_progress_is_409(world):  # L5
    # GIVEN a first request with key K still running (its in-progress record is in the store)
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    second: dict[str, Any] = {}

    def retry_while_running(**_):
        second.update(world.post("alice", None, {"Idempotency-Key": "K"}))

    world.handler.dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", retry_while_running)
    # WHEN the retry arrives before the first finished
    first = world.post("alice", None, {"Idempotency-Key": "K"})
    # THEN the retry gets 409 (retry shortly) and the first its 201; one order
    assert "in progress" in assert_json_response(second, 409)["message"]
    assert_json_response(first, 201)
    assert len(world.shop.orders()) == 1 and world.shop.stock("mug") == 9


# --------------------------------------------------------------------------------------------------
# IAM: every DynamoDB call the function makes is one its role is granted (Pulumi.yaml access model)
# --------------------------------------------------------------------------------------------------

TRANSACTION_ACTIONS = {"Update": "UpdateItem", "Put": "PutItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _granted_to_order_placement() -> set[tuple[str, str]]:
    import yaml

    from place_order_fixtures import REPO

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    grants = project["config"]["ddb-blueprint:access"]["value"]["grants"].values()
    principal = project["config"]["ddb-blueprint:functions"]["value"]["functions"]["placeOrder"]["principal"]
    return {(g["table"], action.removeprefix("dynamodb:")) for g in grants if g["principal"] == principal
            for action in g.get("actions", [])}


def test_every_dynamodb_call_is_granted_to_the_function_role(world):
    # GIVEN a recorder of every DynamoDB call the handler's client makes (item actions of transactions, I2)
    logical = {physical: name for name, physical in TABLE_NAMES.items()}
    calls: set[tuple[str, str]] = set()

    def record(params, model, **_):
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                [(kind, op)] = item.items()
                calls.add((logical[op["TableName"]], TRANSACTION_ACTIONS[kind]))
        elif model.name == "BatchGetItem":
            calls.update((logical[table], "BatchGetItem") for table in params["RequestItems"])
        else:
            calls.add((logical[params["TableName"]], model.name))

    world.handler.dynamodb.meta.events.register("before-parameter-build.dynamodb", record)
    world.shop.add_product("mug", price="9.99", stock=1)
    world.shop.add_to_cart("alice", "mug", 1)
    world.shop.add_to_cart("bob", "mug", 1)
    # WHEN orders succeed, are replayed, fail and conflict on their key
    assert_json_response(world.post("alice", None, {"Idempotency-Key": "K"}), 201)
    assert_json_response(world.post("alice", None, {"Idempotency-Key": "K"}), 201)
    assert_json_response(world.post("alice", {"note": "x"}, {"Idempotency-Key": "K"}), 422)
    assert_json_response(world.post("bob", None, {"Idempotency-Key": "K"}), 409)
    assert_json_response(world.post("bob"), 409)
    # THEN every (table, action) used is granted, and the calls cover every granted action
    granted = _granted_to_order_placement()
    assert calls <= granted, f"not granted to the function's role: {sorted(calls - granted)}"
    assert {("products", "BatchGetItem"), ("products", "UpdateItem"), ("orders", "PutItem"), ("carts", "Query"),
            ("carts", "DeleteItem"), ("idempotency", "PutItem"), ("idempotency", "UpdateItem"),
            ("idempotency", "DeleteItem")} <= calls


# --------------------------------------------------------------------------------------------------
# Lines written around the API (issue 8 item 5): refused with a 400 naming the line, nothing changes
# --------------------------------------------------------------------------------------------------


def put_raw_line(world, username: str, product_id: str, **attributes: Any) -> None:
    """A cart row as a direct writer could store it (the API would refuse it)."""
    item = {"userId": {"S": user_sub(username)}, "productId": {"S": product_id}, **attributes}
    world.shop.client.put_item(TableName=TABLE_NAMES["carts"], Item=item)


@pytest.mark.parametrize("attributes, problem", [
    ({"quantity": {"N": "1000000"}, "addedAt": {"N": "1"}, "expiresAt": {"N": "4000000000"}},
     "quantity must be at most 99 (got 1000000)"),
    ({"quantity": {"N": "2"}, "addedAt": {"N": "1"}}, "expiresAt is missing"),
    ({"quantity": {"N": "2"}, "addedAt": {"N": "1"}, "expiresAt": {"N": "4000000000"}, "note": {"S": "n" * 399_000}},
     "note is 399000 characters long; at most 200"),
])
def test_a_line_the_api_would_refuse_is_400_naming_it_and_changes_nothing(world, attributes, problem):
    # GIVEN a valid line and a line stored around the API
    world.shop.add_product("mug", price="9.99", stock=10)
    world.shop.add_product("tea", price="4.50", stock=10)
    world.shop.add_to_cart("alice", "mug", 1)
    put_raw_line(world, "alice", "tea", **attributes)
    # WHEN alice orders
    body = assert_json_response(world.post("alice"), 400)
    # THEN 400 naming the line and what is wrong with it, without echoing the stored value
    assert body["invalidLines"] == ["tea"] and problem in body["problems"]["tea"] and "tea:" in body["message"]
    assert len(json.dumps(body)) < 1000
    # AND nothing changed
    assert world.shop.stock("tea") == 10 and world.shop.stock("mug") == 10 and world.shop.orders() == []
