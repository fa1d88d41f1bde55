"""POST /orders (lambdas/place_order): the pure functions, property-based where there is arithmetic or
parsing, and the handler's contract with the stack (environment variables, IAM grants)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from place_order_fixtures import CLEARED, ENVIRONMENT, REPO, load_handler


@pytest.fixture(scope="module")
def handler() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        for name in CLEARED:
            patch.delenv(name, raising=False)
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        return load_handler()  # no AWS call at import: clients only


def project_config(key: str) -> Any:
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["config"][f"ddb-blueprint:{key}"]["value"]


# --------------------------------------------------------------------------------------------------
# Contract with the stack
# --------------------------------------------------------------------------------------------------


def test_the_stack_sets_every_table_variable_the_handler_reads(handler):
    # GIVEN the placeOrder function declared in Pulumi.yaml
    declared = project_config("functions")["functions"]["placeOrder"]
    # THEN its environment names exactly the four tables the handler requires, each a real table
    assert declared["code"] == "place_order"
    assert set(declared["environment"]) == {"CARTS_TABLE", "ORDERS_TABLE", "PRODUCTS_TABLE", "IDEMPOTENCY_TABLE",
                                            "CART_LINE_SCHEMA"}
    tables = {k: v for k, v in declared["environment"].items() if k.endswith("_TABLE")}
    assert {v.removeprefix("table.") for v in tables.values()} <= set(project_config("tables"))
    # AND the cart-line bounds come from the API route that creates cart lines, not from a copy
    assert declared["environment"]["CART_LINE_SCHEMA"] == "itemSchema.putCartItem"
    assert project_config("api")["routes"]["putCartItem"]["table"] == "carts"


def test_cart_line_bounds_are_the_api_models(handler):
    # GIVEN the bounds placeOrder loaded WHEN compared with the API model's body schema THEN they are its numbers
    body = project_config("api")["routes"]["putCartItem"]["body"]
    assert handler.CART_LINE["quantity"]["minimum"] == body["quantity"]["minimum"]
    assert handler.CART_LINE["quantity"]["maximum"] == body["quantity"]["maximum"]
    assert handler.CART_LINE["note"]["maxLength"] == body["note"]["maxLength"]
    assert handler.CART_LINE["expiresAt"]["required"] and handler.CART_LINE["quantity"]["required"]


def test_missing_or_broken_cart_line_schema_fails_at_load(handler):
    with pytest.raises(RuntimeError, match="CART_LINE_SCHEMA not set"):
        handler.cart_line_schema({})
    with pytest.raises(RuntimeError, match="quantity"):
        handler.cart_line_schema({"CART_LINE_SCHEMA": '{"note": {"type": "string"}}'})


NOW = 1_800_000_000


def valid_row(**changes: Any) -> dict[str, Any]:
    row = {"productId": "mug", "quantity": Decimal(2), "addedAt": Decimal(NOW - 10), "expiresAt": Decimal(NOW + 1000)}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


@pytest.mark.parametrize("changes, problem", [
    ({"quantity": Decimal(1_000_000)}, "quantity must be at most 99 (got 1000000)"),
    ({"quantity": Decimal(0)}, "quantity must be at least 1 (got 0)"),
    ({"quantity": Decimal("2.5")}, "quantity must be a whole number"),
    ({"quantity": "2"}, "quantity must be a whole number"),
    ({"quantity": None}, "quantity is missing"),
    ({"expiresAt": None}, "expiresAt is missing"),
    ({"expiresAt": Decimal(NOW + 10 * 365 * 86400)}, "expiresAt is more than 2592000 seconds in the future"),
    ({"addedAt": Decimal(NOW + 86400)}, "addedAt is more than 0 seconds in the future"),
    ({"note": "x" * 400_000}, "note is 400000 characters long; at most 200"),
    ({"note": Decimal(5)}, "note must be a string"),
])
def test_a_line_the_api_would_refuse_is_named(handler, changes, problem):
    assert handler.line_problems(valid_row(**changes), handler.CART_LINE, NOW) == [problem]


def test_a_line_as_the_api_writes_it_passes(handler):
    assert handler.line_problems(valid_row(), handler.CART_LINE, NOW) == []
    assert handler.line_problems(valid_row(note="x" * 200, quantity=Decimal(99)), handler.CART_LINE, NOW) == []


def test_missing_table_variables_fail_at_load_naming_them(handler):
    # WHEN the environment lacks tables THEN the error names every missing variable
    with pytest.raises(RuntimeError, match="CARTS_TABLE, IDEMPOTENCY_TABLE"):
        handler.Tables.from_environment({"ORDERS_TABLE": "o", "PRODUCTS_TABLE": "p"})


# --------------------------------------------------------------------------------------------------
# Pricing
# --------------------------------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False, allow_infinity=False)
lines = st.lists(st.tuples(prices, st.integers(min_value=1, max_value=99)), min_size=1, max_size=49)


@settings(max_examples=200, deadline=None)
@given(lines=lines)
def test_the_total_is_the_exact_sum_of_price_times_quantity(handler, lines):
    # GIVEN lines at 2-decimal prices
    cart = [handler.CartLine(f"p{i}", quantity) for i, (_, quantity) in enumerate(lines)]
    products = {f"p{i}": {"price": price, "currency": "EUR"} for i, (price, _) in enumerate(lines)}
    # WHEN the order is priced
    order = handler.price_order("u", cart, products, handler.OrderRequest(), now_millis=1_710_238_530_000)
    # THEN the total equals the rational sum, and the JSON number reads back as the same value
    assert Fraction(order.total) == sum(Fraction(price) * quantity for price, quantity in lines)
    body = json.loads(handler.respond(201, order.item())["body"], parse_float=Decimal)
    assert body["total"] == order.total


def test_one_currency_per_order(handler):
    # GIVEN products in EUR and USD WHEN priced THEN 400 naming both
    cart = [handler.CartLine("a", 1), handler.CartLine("b", 1)]
    products = {"a": {"price": Decimal(1), "currency": "EUR"}, "b": {"price": Decimal(1), "currency": "USD"}}
    with pytest.raises(handler.Rejected) as refused:
        handler.price_order("u", cart, products, handler.OrderRequest(), now_millis=0)
    assert refused.value.response["statusCode"] == 400
    assert json.loads(refused.value.response["body"])["currencies"] == ["EUR", "USD"]


def test_a_product_without_price_is_409_naming_it(handler):
    cart = [handler.CartLine("a", 1), handler.CartLine("b", 1)]
    products = {"a": {"price": Decimal(1), "currency": "EUR"}, "b": {"currency": "EUR"}}
    with pytest.raises(handler.Rejected) as refused:
        handler.price_order("u", cart, products, handler.OrderRequest(), now_millis=0)
    assert refused.value.response["statusCode"] == 409
    assert json.loads(refused.value.response["body"])["unpricedProducts"] == ["b"]


@given(st.lists(st.integers(min_value=0, max_value=9_999_999_999_999), min_size=2, max_size=20))
def test_order_ids_sort_by_time_and_are_url_safe(handler, millis):
    ids = [handler.new_order_id(m) for m in sorted(millis)]
    assert all(re.fullmatch(r"\d{13}-[0-9a-f]{12}", i) for i in ids)
    assert [i[:13] for i in sorted(ids)] == [i[:13] for i in ids]


def test_the_transaction_fits_and_is_ordered_stock_order_carts(handler):
    # GIVEN the largest order that fits
    cart = [handler.CartLine(f"p{i:02d}", 1) for i in range(handler.MAX_LINES)]
    products = {line.product_id: {"price": Decimal("1.00"), "currency": "EUR"} for line in cart}
    order = handler.price_order("u", cart, products, handler.OrderRequest(), now_millis=0)
    # WHEN its transaction is built
    items = handler.transaction_items(order)
    # THEN 2 per line + 1 <= 100, stock Updates first, then the Put, then the cart Deletes
    assert handler.MAX_LINES == 49 and len(items) == 99 <= handler.TRANSACTION_ITEM_LIMIT
    assert [next(iter(i)) for i in items] == ["Update"] * 49 + ["Put"] + ["Delete"] * 49
    assert all(i["Update"]["ConditionExpression"] == "#stock >= :quantity" for i in items[:49])
    assert items[49]["Put"]["ConditionExpression"] == "attribute_not_exists(#order)"
    assert all(i["Delete"]["ConditionExpression"] == "#quantity = :quantity" for i in items[50:])


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_any_note_up_to_200_characters_is_accepted(handler, note):
    assert handler.parse_request(json.dumps({"note": note})).note == note


@given(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "note"), st.integers(), min_size=1))
def test_any_other_field_is_refused_by_name(handler, extra):
    with pytest.raises(handler.Rejected) as refused:
        handler.parse_request(json.dumps({"note": "n", **extra}))
    assert refused.value.response["statusCode"] == 400
    assert sorted(extra)[0] in json.loads(refused.value.response["body"])["message"]


@given(st.text(max_size=80))
@example("key\n")
@example("x" * 64)
def test_idempotency_keys_are_1_to_64_url_safe_characters(handler, key):
    event = {"headers": {"Idempotency-Key": key}}
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        assert handler.idempotency_key(event) == key
    else:
        with pytest.raises(handler.Rejected):
            handler.idempotency_key(event)


# --------------------------------------------------------------------------------------------------
# Cancellation reasons
# --------------------------------------------------------------------------------------------------

CODES = ["None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]


@given(st.integers(min_value=1, max_value=5).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.sampled_from(CODES), min_size=2 * n + 1, max_size=2 * n + 1))))
def test_every_cancellation_is_a_409_or_429_and_names_exactly_the_short_lines(handler, case):
    n, codes = case
    products = [f"p{i}" for i in range(n)]
    response = handler.cancellation_response([{"Code": c} for c in codes], products)
    if set(codes) == {"None"}:
        assert response is None
        return
    assert response is not None and response["statusCode"] in (409, 429)
    body = json.loads(response["body"])
    cart_changed = "ConditionalCheckFailed" in codes[n + 1:]
    short = [products[i] for i in range(n) if codes[i] == "ConditionalCheckFailed"]
    if cart_changed:
        assert body == {"message": "the cart changed; review it and try again"}
    elif short:
        assert body == {"message": "out of stock", "outOfStock": short}
    elif response["statusCode"] == 429:
        assert not {"ConditionalCheckFailed", "TransactionConflict"} & set(codes)


def test_reasons_of_another_shape_are_not_explained(handler):
    assert handler.cancellation_response([{"Code": "ConditionalCheckFailed"}], ["a"]) is None
    assert handler.cancellation_response([{"Code": "ValidationError"}] * 3, ["a"]) is None


def test_the_note_bound_is_the_route_declarations(handler):
    # GIVEN placeOrder's route body in Pulumi.yaml THEN the handler's bound is that number, not a copy
    declared = project_config("functions")["functions"]["placeOrder"]["route"]["body"]["note"]["maxLength"]
    assert handler.NOTE_MAX_CHARS == declared
    with pytest.raises(RuntimeError, match="ROUTE_BODY_SCHEMA"):
        handler.route_body_schema({})
    with pytest.raises(RuntimeError, match="ROUTE_BODY_SCHEMA"):
        handler.route_body_schema({"ROUTE_BODY_SCHEMA": '{"note": {"type": "string"}}'})
