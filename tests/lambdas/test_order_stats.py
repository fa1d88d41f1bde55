"""lambdas/order_stats: new orders on the orders stream (moto's own) add units sold per product (productSales), once.

Faults are injected at the AWS boundary only (a wrapper around the real DynamoDB client).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError, ReadTimeoutError
from stream_fixtures import (
    FakeLambdaContext,
    aws_environment,  # noqa: F401 (fixture)
    declared_filters,
    function_environment,
    load_handler,
    passes_filters,
    read_stream,
    shop,  # noqa: F401 (fixture)
)

WEEK = 7 * 24 * 3600


@pytest.fixture
def fn(shop, monkeypatch):  # noqa: F811
    return load_handler("order_stats", monkeypatch, function_environment("order_stats", shop))


def add_products(shop, *product_ids: str, units_sold: int | None = None) -> None:
    for product_id in product_ids:
        item = {"productId": {"S": product_id}, "name": {"S": product_id.title()}, "category": {"S": "tea"}}
        shop.ddb.put_item(TableName=shop.table("products"), Item=item)
        if units_sold is not None:
            shop.ddb.put_item(TableName=shop.table("productSales"),
                              Item={"productId": {"S": product_id}, "unitsSold": {"N": str(units_sold)}})


def place_order(shop, user: str, order: str, lines: list[tuple[str, int]], status: str = "PLACED") -> None:
    shop.ddb.put_item(TableName=shop.table("orders"), Item={
        "userId": {"S": user}, "orderId": {"S": order}, "status": {"S": status},
        "items": {"L": [{"M": {"productId": {"S": p}, "quantity": {"N": str(q)}, "price": {"N": "4.5"}}} for p, q in lines]},
    })


def units_sold(shop) -> dict[str, int]:
    items = shop.ddb.scan(TableName=shop.table("productSales"), ConsistentRead=True)["Items"]
    return {i["productId"]["S"]: int(i["unitsSold"]["N"]) for i in items}


def markers(shop) -> dict[str, int]:
    return {i["id"]["S"]: int(i["expiration"]["N"]) for i in shop.idempotency_items() if i["id"]["S"].startswith("order-stats#")}


def invoke(fn, records) -> dict[str, Any]:
    return fn.lambda_handler({"Records": records}, FakeLambdaContext(function_name="ddb-blueprint-test-orderStats"))


class FaultyDynamoDB:
    """The real DynamoDB client, except for the TransactWriteItems calls a test chooses to fail:
    `before` ones are refused without effect, `after` ones commit and then lose their response."""

    def __init__(self, real, *, before=(), after=(), reason="TransactionConflict"):
        self.real, self.before, self.after, self.reason = real, set(before), set(after), reason
        self.calls = 0

    def transact_write_items(self, **kwargs):
        self.calls += 1
        if self.calls in self.before:
            reasons = [{"Code": "None"}] * len(kwargs["TransactItems"])
            reasons[-1] = {"Code": self.reason, "Message": "injected"}
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        response = self.real.transact_write_items(**kwargs)
        if self.calls in self.after:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        return response

    def __getattr__(self, name):
        return getattr(self.real, name)


# --------------------------------------------------------------------------------------------------
# filter patterns
# --------------------------------------------------------------------------------------------------


def test_filter_patterns_are_the_ones_the_stack_declares(fn):
    assert fn.FILTER_PATTERNS == declared_filters("orderStats")


def test_filter_patterns_accept_new_orders_only(shop, fn):
    # GIVEN an order placed, then paid, then deleted (records read from moto's stream)
    add_products(shop, "tea")
    place_order(shop, "u-1", "o-1", [("tea", 1)])
    shop.ddb.update_item(TableName=shop.table("orders"), Key={"userId": {"S": "u-1"}, "orderId": {"S": "o-1"}},
                         UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":s": {"S": "PAID"}})
    shop.ddb.delete_item(TableName=shop.table("orders"), Key={"userId": {"S": "u-1"}, "orderId": {"S": "o-1"}})
    records = read_stream(shop, "orders")
    # WHEN / THEN only the INSERT invokes the function
    assert [(r["eventName"], passes_filters(fn.FILTER_PATTERNS, r)) for r in records] == [
        ("INSERT", True), ("MODIFY", False), ("REMOVE", False)]


# --------------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------------


def test_each_line_adds_its_quantity_to_the_products_units_sold(shop, fn):
    # GIVEN three products (one already sold 10) and three orders, one with two lines of the same product
    add_products(shop, "sencha", "mug")
    add_products(shop, "tote", units_sold=10)
    place_order(shop, "u-1", "o-1", [("sencha", 2), ("mug", 1)])
    place_order(shop, "u-2", "o-2", [("sencha", 1), ("sencha", 3)])
    place_order(shop, "u-1", "o-3", [("tote", 5)])
    records = read_stream(shop, "orders")
    # WHEN the new orders are delivered
    before = int(time.time())
    response = invoke(fn, records)
    # THEN the counters are exact, and each record left its marker expiring in 7 days
    assert response == {"batchItemFailures": []}
    assert units_sold(shop) == {"sencha": 6, "mug": 1, "tote": 15}
    found = markers(shop)
    assert set(found) == {f"order-stats#{r['eventID']}" for r in records}
    assert all(before + WEEK <= expiration <= int(time.time()) + WEEK for expiration in found.values())


def test_a_redelivered_batch_changes_nothing(shop, fn, monkeypatch):
    # GIVEN two orders counted once
    add_products(shop, "sencha", "mug")
    place_order(shop, "u-1", "o-1", [("sencha", 2), ("mug", 1)])
    place_order(shop, "u-2", "o-2", [("mug", 4)])
    records = read_stream(shop, "orders")
    invoke(fn, records)
    counted = units_sold(shop)
    # WHEN the batch is delivered again, here and in a fresh execution environment
    again = invoke(fn, records)
    fresh = invoke(load_handler("order_stats", monkeypatch, function_environment("order_stats", shop)), records)
    # THEN nothing changes and both succeed
    assert again == fresh == {"batchItemFailures": []}
    assert units_sold(shop) == counted == {"sencha": 2, "mug": 5}
    assert fn.count_order(records[0]) == "already counted"


def test_a_warm_environment_skips_the_records_it_counted_without_a_transaction(shop, fn, monkeypatch):
    # GIVEN two orders counted by this execution environment
    add_products(shop, "sencha")
    place_order(shop, "u-1", "o-1", [("sencha", 2)])
    place_order(shop, "u-1", "o-2", [("sencha", 1)])
    records = read_stream(shop, "orders")
    invoke(fn, records)
    counting = FaultyDynamoDB(fn.dynamodb)
    monkeypatch.setattr(fn, "dynamodb", counting)
    # WHEN Lambda redelivers them to the same environment
    assert invoke(fn, records) == {"batchItemFailures": []}
    # THEN no transaction is attempted, and nothing changes
    assert counting.calls == 0
    assert units_sold(shop) == {"sencha": 3}


def test_modified_and_removed_orders_are_ignored(shop, fn):
    # GIVEN an order counted once, then paid, then removed, the MODIFY and REMOVE handed to the function anyway
    add_products(shop, "sencha")
    place_order(shop, "u-1", "o-1", [("sencha", 2)])
    key = {"userId": {"S": "u-1"}, "orderId": {"S": "o-1"}}
    shop.ddb.update_item(TableName=shop.table("orders"), Key=key, UpdateExpression="SET #s = :s",
                         ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "PAID"}})
    shop.ddb.delete_item(TableName=shop.table("orders"), Key=key)
    insert, modify, remove = read_stream(shop, "orders")
    invoke(fn, [insert])
    # WHEN they are delivered
    response = invoke(fn, [modify, remove])
    # THEN they succeed and change nothing (no counter, no marker)
    assert response == {"batchItemFailures": []}
    assert units_sold(shop) == {"sencha": 2}
    assert set(markers(shop)) == {f"order-stats#{insert['eventID']}"}
    assert [fn.count_order(r) for r in (modify, remove)] == ["ignored", "ignored"]


def test_an_order_of_more_than_49_products_is_counted_in_parts_exactly_once(shop, fn, monkeypatch):
    # GIVEN an order of 50 distinct products (one more than a transaction holds with its marker and
    # a check and an ADD per product), the second part's first transaction failing
    products = [f"p-{i:03d}" for i in range(50)]
    add_products(shop, *products)
    place_order(shop, "u-1", "o-big", [(p, 2) for p in products])
    records = read_stream(shop, "orders")
    monkeypatch.setattr(fn, "dynamodb", FaultyDynamoDB(fn.dynamodb, before={2}))
    # WHEN delivered: part 1 (49 products) commits, part 2 fails, so the record fails
    with pytest.raises(BatchProcessingError):
        invoke(fn, records)
    assert len(units_sold(shop)) == 49
    # ... and is redelivered
    assert invoke(fn, records) == {"batchItemFailures": []}
    # THEN every product counted its 2 units once, under two markers (49 + 1 products)
    assert units_sold(shop) == {p: 2 for p in products}
    event_id = records[0]["eventID"]
    assert set(markers(shop)) == {f"order-stats#{event_id}#1/2", f"order-stats#{event_id}#2/2"}


def test_parts_are_a_function_of_the_record_alone(fn):
    # GIVEN the same 250 products in two different line orders
    units = {f"p-{i:03d}": i % 7 + 1 for i in range(250)}
    shuffled = dict(sorted(units.items(), reverse=True))
    # WHEN split  THEN the parts are identical: 5 x 49 + 5 products, each product in exactly one part
    parts = fn.transaction_parts("e-1", units)
    assert parts == fn.transaction_parts("e-1", shuffled)
    assert [len(p.units) for p in parts] == [49, 49, 49, 49, 49, 5]
    assert [p.marker_id for p in parts] == [f"order-stats#e-1#{i}/6" for i in range(1, 7)]
    assert dict(line for p in parts for line in p.units) == units
    assert all(len(fn.transact_items(p, 0)) <= fn.MAX_TRANSACTION_ITEMS for p in parts)


def test_an_order_of_49_products_is_one_transaction(fn):
    units = {f"p-{i:02d}": 1 for i in range(49)}
    [part] = fn.transaction_parts("e-1", units)
    assert part.marker_id == "order-stats#e-1"
    assert len(fn.transact_items(part, 0)) == 99 <= fn.MAX_TRANSACTION_ITEMS


def test_counting_writes_no_product_so_the_products_stream_stays_silent(shop, fn):
    # GIVEN two products (their creation is on the products stream) and an order of both
    add_products(shop, "sencha", "mug")
    before = read_stream(shop, "products")
    place_order(shop, "u-1", "o-1", [("sencha", 2), ("mug", 1)])
    # WHEN the order is counted
    assert invoke(fn, read_stream(shop, "orders")) == {"batchItemFailures": []}
    # THEN the counters moved, the product items did not: no new record on the products stream
    # (productEvents is never invoked for a counter, issue 14)
    assert units_sold(shop) == {"sencha": 2, "mug": 1}
    assert [r["eventID"] for r in read_stream(shop, "products")] == [r["eventID"] for r in before]
    item = shop.ddb.get_item(TableName=shop.table("products"), Key={"productId": {"S": "sencha"}})["Item"]
    assert "unitsSold" not in item


def test_a_line_of_a_deleted_product_is_left_out_and_never_creates_the_product(shop, fn):
    # GIVEN an order whose second product was deleted before the order is counted
    add_products(shop, "sencha", "gone")
    place_order(shop, "u-1", "o-1", [("sencha", 2), ("gone", 1)])
    shop.ddb.delete_item(TableName=shop.table("products"), Key={"productId": {"S": "gone"}})
    # WHEN the order is delivered
    response = invoke(fn, read_stream(shop, "orders"))
    # THEN the other line is counted, and neither a counter nor a stub product appears for the deleted one
    assert response == {"batchItemFailures": []}
    assert units_sold(shop) == {"sencha": 2}
    assert "Item" not in shop.ddb.get_item(TableName=shop.table("products"), Key={"productId": {"S": "gone"}})


# --------------------------------------------------------------------------------------------------
# failures
# --------------------------------------------------------------------------------------------------


def test_a_commit_whose_response_is_lost_counts_once(shop, fn, monkeypatch):
    # GIVEN a transaction that commits and then times out on the way back
    add_products(shop, "sencha")
    place_order(shop, "u-1", "o-1", [("sencha", 3)])
    records = read_stream(shop, "orders")
    monkeypatch.setattr(fn, "dynamodb", FaultyDynamoDB(fn.dynamodb, after={1}))
    # WHEN the record fails and is redelivered
    with pytest.raises(BatchProcessingError):
        invoke(fn, records)
    assert invoke(fn, records) == {"batchItemFailures": []}
    # THEN the marker said "already counted": 3 units, not 6
    assert units_sold(shop) == {"sencha": 3}


def test_a_cancelled_transaction_fails_exactly_its_record(shop, fn, monkeypatch):
    # GIVEN three orders, the second one's transaction cancelled by a conflict
    add_products(shop, "a", "b", "c")
    for i, product in enumerate("abc"):
        place_order(shop, "u-1", f"o-{i}", [(product, 1)])
    records = read_stream(shop, "orders")
    monkeypatch.setattr(fn, "dynamodb", FaultyDynamoDB(fn.dynamodb, before={2}))
    # WHEN delivered
    response = invoke(fn, records)
    # THEN only that record is a batch item failure, and nothing of it was counted
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [records[1]["dynamodb"]["SequenceNumber"]]
    assert units_sold(shop) == {"a": 1, "c": 1}


def test_a_throttled_transaction_fails_its_record(shop, fn, monkeypatch):
    # GIVEN a transaction refused with a plain error (not a cancellation)
    add_products(shop, "a", "b")
    place_order(shop, "u-1", "o-1", [("a", 1)])
    place_order(shop, "u-1", "o-2", [("b", 1)])
    records = read_stream(shop, "orders")

    class Throttled(FaultyDynamoDB):
        def transact_write_items(self, **kwargs):
            self.calls += 1
            if self.calls == 1:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "TransactWriteItems")
            return self.real.transact_write_items(**kwargs)

    monkeypatch.setattr(fn, "dynamodb", Throttled(fn.dynamodb))
    # WHEN delivered THEN the first record fails, the second is counted
    response = invoke(fn, records)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [records[0]["dynamodb"]["SequenceNumber"]]
    assert units_sold(shop) == {"b": 1}


@pytest.mark.parametrize("quantity", ["0", "-1", "1.5"])
def test_an_order_line_without_a_whole_positive_quantity_fails_its_record(shop, fn, quantity):
    # GIVEN an order with a malformed line next to a good order
    add_products(shop, "a")
    shop.ddb.put_item(TableName=shop.table("orders"), Item={
        "userId": {"S": "u-1"}, "orderId": {"S": "bad"}, "status": {"S": "PLACED"},
        "items": {"L": [{"M": {"productId": {"S": "a"}, "quantity": {"N": quantity}, "price": {"N": "1"}}}]}})
    place_order(shop, "u-1", "good", [("a", 2)])
    records = read_stream(shop, "orders")
    # WHEN delivered THEN the malformed one fails (poison: it ends in the failure queue), the good one counts
    response = invoke(fn, records)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [records[0]["dynamodb"]["SequenceNumber"]]
    assert units_sold(shop) == {"a": 2}
