"""contracts/product-events.schema.json: what productEvents publishes, held to the handler.

Every message any stream test drains is validated against the schema (stream_fixtures.Shop.drain);
these tests pin the schema itself to the code and the config, and show a subscription filter
policy on the documented message attribute doing its job (moto's SNS applies filter policies).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import jsonschema
import pytest
from stream_fixtures import (
    EVENT_SCHEMA,
    RELEVANT_ATTRIBUTES,
    FakeLambdaContext,
    assert_event_contract,
    aws_environment,  # noqa: F401 (fixture)
    function_environment,
    load_handler,
    read_stream,
    shop,  # noqa: F401 (fixture)
)


@pytest.fixture
def fn(shop, monkeypatch):  # noqa: F811
    return load_handler("product_events", monkeypatch, function_environment("product_events", shop))


def put(shop, product_id: str, **attributes) -> None:
    item = {"productId": {"S": product_id}}
    item.update({k: {"N": str(v)} if isinstance(v, (int, Decimal)) else {"S": v} for k, v in attributes.items()})
    shop.ddb.put_item(TableName=shop.table("products"), Item=item)


def test_the_schema_is_valid_and_names_the_handlers_event_types(fn):
    jsonschema.Draft202012Validator.check_schema(EVENT_SCHEMA)
    assert EVENT_SCHEMA["properties"]["type"]["enum"] == sorted(fn.EVENT_TYPES.values(), key=["ProductCreated", "ProductChanged", "ProductRemoved"].index)
    assert EVENT_SCHEMA["$defs"]["messageAttributes"]["properties"]["eventType"]["enum"] == EVENT_SCHEMA["properties"]["type"]["enum"]


def test_the_schema_documents_exactly_the_relevant_attributes_the_stack_configures():
    # RELEVANT_ATTRIBUTES is the value Pulumi.yaml gives the function
    assert set(EVENT_SCHEMA["properties"]["changes"]["properties"]) == set(RELEVANT_ATTRIBUTES.split(","))


def test_created_changed_and_removed_messages_keep_the_contract(shop, fn):
    put(shop, "p-1", name="Sencha", category="tea", price=Decimal("4.50"), currency="EUR", stock=3)
    shop.ddb.update_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}},
                         UpdateExpression="SET stock = :s", ExpressionAttributeValues={":s": {"N": "2"}})
    shop.ddb.delete_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}})
    fn.lambda_handler({"Records": read_stream(shop, "products")}, FakeLambdaContext())
    messages = shop.drain()  # validated against the schema on the way in
    assert [m["body"]["type"] for m in messages] == ["ProductCreated", "ProductChanged", "ProductRemoved"]
    numbers = [int(m["body"]["sequenceNumber"]) for m in messages]
    assert numbers == sorted(numbers)  # one product's changes order by sequenceNumber


@pytest.mark.parametrize("mutate, why", [
    (lambda m: m["body"].pop("eventId"), "no deduplication key"),
    (lambda m: m["body"].update(type="ProductUpdated"), "unknown type"),
    (lambda m: m["body"].update(type="ProductChanged", changes={}), "a change without changes"),
    (lambda m: m["body"]["changes"].update(price={"old": 1, "new": 2}), "created with an old value"),
    (lambda m: m["body"].update(sequenceNumber="12a"), "sequence number not digits"),
    (lambda m: m["attributes"].update(eventType="ProductRemoved"), "attribute differs from the type"),
    (lambda m: m.update(attributes={}), "no filterable attribute"),
])
def test_messages_that_break_the_contract_are_refused(mutate, why):
    message = {"body": {"type": "ProductCreated", "productId": "p-1", "changes": {"price": {"old": None, "new": 4.5}},
                        "sequenceNumber": "100", "eventId": "e-1", "approximateCreationTime": "2026-11-30T10:00:00.000Z"},
               "attributes": {"eventType": "ProductCreated"}}
    assert_event_contract(copy.deepcopy(message))
    mutate(message)
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        assert_event_contract(message)


def test_a_subscription_filter_policy_on_event_type_selects_messages(shop, fn):
    # GIVEN a consumer that only wants removals (the README's StackReference example filters the same way)
    queue_url = shop.sqs.create_queue(QueueName="removals-only")["QueueUrl"]
    arn = shop.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    shop.sns.subscribe(TopicArn=shop.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"eventType": ["ProductRemoved"]})})
    put(shop, "p-1", name="Sencha")
    shop.ddb.delete_item(TableName=shop.table("products"), Key={"productId": {"S": "p-1"}})
    # WHEN the creation and the removal are published
    fn.lambda_handler({"Records": read_stream(shop, "products")}, FakeLambdaContext())
    # THEN the filtered subscription got only the removal
    received = shop.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert [json.loads(m["Body"])["type"] for m in received] == ["ProductRemoved"]
    assert len(shop.drain()) == 2
