"""lambdas/product_events: the products stream (moto's own) becomes catalogue events on SNS (GOTCHAS L1, L5).

Every event is built from records read back from moto's stream with dynamodbstreams; what was
published is read from an SQS queue subscribed to the topic with raw message delivery. Faults are
injected at the AWS boundary only (a wrapper around the real SNS client), never in our own code.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_fixtures import (
    RELEVANT_ATTRIBUTES,
    FakeLambdaContext,
    aws_environment,  # noqa: F401 (fixture)
    declared_filters,
    function_environment,
    load_handler,
    passes_filters,
    read_stream,
    shop,  # noqa: F401 (fixture)
)

RELEVANT = RELEVANT_ATTRIBUTES.split(",")


@pytest.fixture
def fn(shop, monkeypatch):  # noqa: F811
    return load_handler("product_events", monkeypatch, function_environment("product_events", shop))


def put_product(shop, product_id: str, **attributes: Any) -> None:
    item = {"productId": {"S": product_id}}
    for name, value in attributes.items():
        item[name] = {"N": str(value)} if isinstance(value, (int, Decimal)) else {"S": value}
    shop.ddb.put_item(TableName=shop.table("products"), Item=item)


def tea(product_id: str = "p-1", **overrides: Any) -> dict[str, Any]:
    return {"name": "Sencha", "category": "tea", "price": Decimal("4.50"), "currency": "EUR", "stock": 12,
            "description": "Green tea", **overrides}


def invoke(fn, records) -> dict[str, Any]:
    return fn.lambda_handler({"Records": records}, FakeLambdaContext(function_name="ddb-blueprint-test-productEvents"))


def failed_sequence_numbers(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


class FaultySns:
    """The real SNS client, except that PublishBatch fails the entries (or whole calls) a test chooses."""

    def __init__(self, real, *, fail_ids=(), raise_calls=(), lose_response_calls=()):
        self.real, self.fail_ids = real, set(fail_ids)
        self.raise_calls, self.lose_response_calls = set(raise_calls), set(lose_response_calls)
        self.calls = 0

    def publish_batch(self, **kwargs):
        self.calls += 1
        if self.calls in self.raise_calls:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PublishBatch")
        entries = kwargs["PublishBatchRequestEntries"]
        sent = [e for e in entries if e["Id"] not in self.fail_ids]
        response = self.real.publish_batch(**{**kwargs, "PublishBatchRequestEntries": sent}) if sent else {"Successful": [], "Failed": []}
        if self.calls in self.lose_response_calls:
            raise ClientError({"Error": {"Code": "RequestTimeout", "Message": "injected: response lost"}}, "PublishBatch")
        failed = [{"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
                  for e in entries if e["Id"] in self.fail_ids]
        return {"Successful": response["Successful"], "Failed": response["Failed"] + failed}

    def __getattr__(self, name):
        return getattr(self.real, name)


# --------------------------------------------------------------------------------------------------
# filter patterns
# --------------------------------------------------------------------------------------------------


def test_filter_patterns_are_the_ones_the_stack_declares(fn):
    assert fn.FILTER_PATTERNS == declared_filters("productEvents")


def test_filter_patterns_accept_inserts_modifies_and_removes_of_products(shop, fn):
    # GIVEN a product created, changed and removed (records read from moto's stream)
    put_product(shop, "p-1", **tea())
    shop.ddb.update_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}},
                         UpdateExpression="SET price = :p", ExpressionAttributeValues={":p": {"N": "5"}})
    shop.ddb.delete_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}})
    records = read_stream(shop, "products")
    # WHEN the patterns are evaluated  THEN every record invokes the function
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert all(passes_filters(fn.FILTER_PATTERNS, r) for r in records)


def test_filter_patterns_reject_records_without_a_string_product_id(shop, fn):
    # GIVEN a products record, and variants of it a products stream must never invoke the function with
    put_product(shop, "p-1", **tea())
    record = read_stream(shop, "products")[0]
    other_table = {**record, "dynamodb": {**record["dynamodb"], "Keys": {"userId": {"S": "u"}, "orderId": {"S": "o"}}}}
    numeric_key = {**record, "dynamodb": {**record["dynamodb"], "Keys": {"productId": {"N": "1"}}}}
    unknown_event = {**record, "eventName": "TRUNCATE"}
    # WHEN / THEN
    assert passes_filters(fn.FILTER_PATTERNS, record)
    for rejected in (other_table, numeric_key, unknown_event):
        assert not passes_filters(fn.FILTER_PATTERNS, rejected), rejected["dynamodb"]["Keys"]


# --------------------------------------------------------------------------------------------------
# what is published
# --------------------------------------------------------------------------------------------------


def test_insert_publishes_product_created_with_its_relevant_attributes(shop, fn):
    # GIVEN a new product with relevant attributes and an internal one
    put_product(shop, "p-1", **tea(), internalNote="supplier 7")
    [record] = read_stream(shop, "products")
    # WHEN its record is delivered
    response = invoke(fn, [record])
    # THEN one ProductCreated carries exactly the relevant attributes, old values null
    assert response == {"batchItemFailures": []}
    [message] = shop.drain()
    assert message["attributes"] == {"eventType": "ProductCreated"}
    body = message["body"]
    assert body["type"] == "ProductCreated" and body["productId"] == "p-1"
    assert body["changes"] == {"name": {"old": None, "new": "Sencha"}, "category": {"old": None, "new": "tea"},
                               "price": {"old": None, "new": 4.5}, "currency": {"old": None, "new": "EUR"},
                               "stock": {"old": None, "new": 12}, "description": {"old": None, "new": "Green tea"}}
    assert body["eventId"] == record["eventID"]
    assert body["sequenceNumber"] == record["dynamodb"]["SequenceNumber"]
    assert body["approximateCreationTime"].endswith("Z") and body["approximateCreationTime"][:4].isdigit()


def test_modify_publishes_only_the_relevant_attributes_that_changed(shop, fn):
    # GIVEN a product whose price changes, description is removed, and units sold and a note change too
    put_product(shop, "p-1", **tea())
    shop.ddb.update_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}},
                         UpdateExpression="SET price = :p, internalNote = :n, currency = :c REMOVE description ADD unitsSold :u",
                         ExpressionAttributeValues={":p": {"N": "3.99"}, ":n": {"S": "x"}, ":c": {"S": "EUR"}, ":u": {"N": "2"}})
    records = read_stream(shop, "products")
    # WHEN both records are delivered
    invoke(fn, records)
    # THEN the ProductChanged event carries price and description only (currency was set to the same value)
    created, changed = shop.drain()
    assert created["body"]["type"] == "ProductCreated"
    assert changed["body"]["type"] == "ProductChanged"
    assert changed["body"]["changes"] == {"price": {"old": 4.5, "new": 3.99}, "description": {"old": "Green tea", "new": None}}


def test_remove_publishes_product_removed_with_the_old_values(shop, fn):
    # GIVEN a product that is deleted
    put_product(shop, "p-1", **tea())
    shop.ddb.delete_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}})
    remove = read_stream(shop, "products")[1]
    # WHEN the REMOVE record is delivered
    invoke(fn, [remove])
    # THEN ProductRemoved lists every relevant attribute it had, new values null
    [message] = shop.drain()
    assert message["attributes"] == {"eventType": "ProductRemoved"}
    assert message["body"]["changes"] == {a: {"old": v, "new": None} for a, v in
                                          {"name": "Sencha", "category": "tea", "price": 4.5, "currency": "EUR",
                                           "stock": 12, "description": "Green tea"}.items()}


def test_a_change_of_irrelevant_attributes_publishes_nothing(shop, fn):
    # GIVEN a product whose units sold, internal note and unchanged price are written
    put_product(shop, "p-1", **tea())
    key = {"productId": {"S": "p-1"}}
    shop.ddb.update_item(TableName=shop.table("products"), Key=key, UpdateExpression="ADD unitsSold :u",
                         ExpressionAttributeValues={":u": {"N": "3"}})
    shop.ddb.update_item(TableName=shop.table("products"), Key=key, UpdateExpression="SET internalNote = :n, price = :p",
                         ExpressionAttributeValues={":n": {"S": "x"}, ":p": {"N": "4.5"}})
    modifies = read_stream(shop, "products")[1:]
    # WHEN the MODIFY records are delivered
    response = invoke(fn, modifies)
    # THEN they succeed, nothing is published and no idempotency record is written for them
    assert [r["eventName"] for r in modifies] == ["MODIFY", "MODIFY"]
    assert response == {"batchItemFailures": []}
    assert shop.drain() == []
    assert shop.idempotency_items() == []


def test_a_redelivered_batch_publishes_nothing_twice(shop, fn, monkeypatch):
    # GIVEN 25 product changes delivered once
    for i in range(25):
        put_product(shop, f"p-{i}", **tea(name=f"Tea {i}"))
    records = read_stream(shop, "products")
    assert invoke(fn, records) == {"batchItemFailures": []}
    first = shop.drain()
    # WHEN the same batch is delivered again, by this environment and by a fresh one
    again = invoke(fn, records)
    fresh = invoke(load_handler("product_events", monkeypatch, function_environment("product_events", shop)), records)
    # THEN nothing more is published and both succeed
    assert len(first) == 25 and sorted(m["body"]["eventId"] for m in first) == sorted(r["eventID"] for r in records)
    assert again == fresh == {"batchItemFailures": []}
    assert shop.drain() == []


def test_changes_are_published_ten_per_publish_batch_call(shop, fn, monkeypatch):
    # GIVEN 25 relevant changes
    for i in range(25):
        put_product(shop, f"p-{i}", **tea())
    records = read_stream(shop, "products")
    counting = FaultySns(fn.sns)
    monkeypatch.setattr(fn, "sns", counting)
    # WHEN delivered in one batch
    invoke(fn, records)
    # THEN three PublishBatch calls carried them
    assert counting.calls == 3 and len(shop.drain()) == 25


# --------------------------------------------------------------------------------------------------
# failures
# --------------------------------------------------------------------------------------------------


def test_a_failed_entry_fails_exactly_its_record_and_only_it_is_published_on_retry(shop, fn, monkeypatch):
    # GIVEN 5 new products, SNS refusing the third one's entry
    for i in range(5):
        put_product(shop, f"p-{i}", **tea())
    records = read_stream(shop, "products")
    refused = records[2]
    monkeypatch.setattr(fn, "sns", FaultySns(fn.sns, fail_ids={fn.entry_id(refused["eventID"])}))
    # WHEN the batch is delivered
    response = invoke(fn, records)
    # THEN exactly that record is a batch item failure, the other four are published
    assert failed_sequence_numbers(response) == [refused["dynamodb"]["SequenceNumber"]]
    assert sorted(m["body"]["productId"] for m in shop.drain()) == ["p-0", "p-1", "p-3", "p-4"]
    # ... and its idempotency record is not left COMPLETED (4 records, all COMPLETED)
    assert sorted(i["status"]["S"] for i in shop.idempotency_items()) == ["COMPLETED"] * 4
    # WHEN Lambda redelivers from the failed record on (SNS healthy again)
    monkeypatch.setattr(fn, "sns", fn.sns.real)
    assert invoke(fn, records[2:]) == {"batchItemFailures": []}
    # THEN only the refused change is published now
    assert [m["body"]["productId"] for m in shop.drain()] == ["p-2"]


def test_a_publish_batch_call_that_raises_fails_only_its_own_records(shop, fn, monkeypatch):
    # GIVEN 15 new products (two PublishBatch calls), the first call raising
    for i in range(15):
        put_product(shop, f"p-{i:02d}", **tea())
    records = read_stream(shop, "products")
    monkeypatch.setattr(fn, "sns", FaultySns(fn.sns, raise_calls={1}))
    # WHEN delivered
    response = invoke(fn, records)
    # THEN the first ten records failed, the last five were published
    assert failed_sequence_numbers(response) == [r["dynamodb"]["SequenceNumber"] for r in records[:10]]
    assert sorted(m["body"]["productId"] for m in shop.drain()) == [f"p-{i:02d}" for i in range(10, 15)]


def test_a_message_larger_than_sns_accepts_fails_its_record_only(shop, fn):
    # GIVEN a product whose description makes the event exceed 256 KiB, and a normal one
    put_product(shop, "huge", **tea(description="x" * 300_000))
    put_product(shop, "normal", **tea())
    records = read_stream(shop, "products")
    # WHEN delivered
    response = invoke(fn, records)
    # THEN the huge one fails (every time: it ends in the failure queue), the normal one is published
    assert failed_sequence_numbers(response) == [records[0]["dynamodb"]["SequenceNumber"]]
    assert [m["body"]["productId"] for m in shop.drain()] == ["normal"]
    # ... and alone in a batch, it fails the invocation (Powertools: every record failed -> error)
    with pytest.raises(BatchProcessingError):
        invoke(fn, records[:1])


def test_a_record_claimed_by_a_crashed_invocation_is_published_once_its_time_is_up(shop, fn, monkeypatch):
    # GIVEN an invocation with 200 ms left that dies (a timeout) inside PublishBatch, before sending
    put_product(shop, "p-1", **tea())
    records = read_stream(shop, "products")

    class Timeout(BaseException):
        pass

    class DyingSns(FaultySns):
        def publish_batch(self, **kwargs):
            raise Timeout()

    monkeypatch.setattr(fn, "sns", DyingSns(fn.sns))
    with pytest.raises(Timeout):
        fn.lambda_handler({"Records": records}, FakeLambdaContext(timeout_ms=200))
    monkeypatch.setattr(fn, "sns", fn.sns.real)
    # WHEN redelivered while the claim is still held THEN the record fails and nothing is published
    with pytest.raises(BatchProcessingError, match="All records failed"):
        invoke(fn, records)
    assert shop.drain() == []
    # WHEN redelivered after the crashed invocation's time is up THEN it is published, once
    time.sleep(0.25)
    assert invoke(fn, records) == {"batchItemFailures": []}
    assert invoke(fn, records) == {"batchItemFailures": []}
    assert [m["body"]["productId"] for m in shop.drain()] == ["p-1"]


def test_a_publish_whose_response_is_lost_is_published_again(shop, fn, monkeypatch):
    # GIVEN SNS accepting a batch whose response never arrives (the documented at-least-once window)
    put_product(shop, "p-1", **tea())
    records = read_stream(shop, "products")
    monkeypatch.setattr(fn, "sns", FaultySns(fn.sns, lose_response_calls={1}))
    # WHEN the record fails (the whole one-record batch) and is redelivered
    with pytest.raises(BatchProcessingError):
        invoke(fn, records)
    assert invoke(fn, records) == {"batchItemFailures": []}
    # THEN subscribers get it twice, with the same eventId to deduplicate on
    messages = shop.drain()
    assert len(messages) == 2 and messages[0]["body"] == messages[1]["body"]


# --------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=Decimal("-1e12"), max_value=Decimal("1e12"))
       | st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(Decimal))
def test_published_numbers_equal_the_stored_decimal(fn, value):
    # GIVEN any 2-decimal amount up to 10^12, or any integer DynamoDB can hold (38 digits)
    # WHEN rendered for the message body
    rendered = fn.json_value(value)
    # THEN it reads back as exactly the stored number, integers as JSON integers
    assert Decimal(str(rendered)) == value
    assert isinstance(rendered, int) == (value == value.to_integral_value())


def test_sets_and_binary_values_become_sorted_lists_and_base64(shop, fn):
    # GIVEN a product whose relevant attributes hold a string set and binary data
    shop.ddb.put_item(TableName=shop.table("products"), Item={
        "productId": {"S": "p-1"}, "name": {"S": "Mug"}, "description": {"SS": ["b", "a"]}, "stock": {"B": b"\x00\x01"}})
    # WHEN its record is delivered
    invoke(fn, read_stream(shop, "products"))
    # THEN the set is a sorted list, the binary value base64
    [message] = shop.drain()
    assert message["body"]["changes"]["description"]["new"] == ["a", "b"]
    assert message["body"]["changes"]["stock"]["new"] == "AAE="
