"""Stream consumers run once (facts T14, T15): every replica's stream carries every write, so the
functions consume the HOME region's stream only (their event source mappings name the home table's
stream) and are idempotent. Proven on the local runtime of staging (home us-east-2, replica us-west-2):
a write made in the replica region is replicated home, published once and counted once (the
counter, productSales, is a regional table of the home region)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.local.runtime import LocalRuntime

REPO = Path(__file__).resolve().parents[2]
HOME, REPLICA = "us-east-2", "us-west-2"


@pytest.fixture(scope="module")
def rt(tmp_path_factory, reference_preview):
    with LocalRuntime(REPO, "staging", tmp_path_factory.mktemp("build"), replication_lag=0.0,
                      from_plan=reference_preview("staging").plan) as runtime:
        yield runtime


def product(product_id: str) -> dict:
    return {"productId": {"S": product_id}, "category": {"S": "tea"}, "name": {"S": product_id.title()},
            "price": {"N": "4.5"}, "currency": {"S": "EUR"}, "stock": {"N": "9"}}


def published(rt) -> list[dict]:
    (observer,) = rt.observers  # the productChanges topic
    return rt.published(observer)


def units_sold(rt, region: str, product_id: str):
    """The orderStats counter: item {productId} of the productSales table, which is regional
    (global: false): it lives in the home region only, so a region without the table has no count."""
    if region not in rt.regions("productSales"):
        return None
    item = rt.dynamodb(region).get_item(TableName=rt.table_name("productSales"), Key={"productId": {"S": product_id}},
                                        ConsistentRead=True).get("Item", {})
    return int(item["unitsSold"]["N"]) if "unitsSold" in item else None


def test_consumers_read_the_home_regions_streams_only(rt):
    home_streams = {rt.local.table(name).stream_arn for name in ("products", "orders")}
    assert {m.stream_arn for m in rt.pump.mappings} <= home_streams
    assert all(f":{HOME}:" in m.stream_arn for m in rt.pump.mappings)
    assert rt.regions("orders") == [HOME, REPLICA] and rt.regions("sessions") == [HOME]
    assert rt.regions("productSales") == [HOME]  # the orderStats counter is regional (global: false)


def test_a_product_written_in_the_replica_region_is_published_exactly_once(rt):
    published(rt)  # drain
    rt.dynamodb(REPLICA).put_item(TableName=rt.table_name("products"), Item=product("p-west"))
    rt.quiesce()
    home = rt.dynamodb(HOME).get_item(TableName=rt.table_name("products"), Key={"productId": {"S": "p-west"}})
    assert home["Item"]["name"] == {"S": "P-West"}  # replicated home
    events = [e for e in published(rt) if e["productId"] == "p-west"]
    assert [e["type"] for e in events] == ["ProductCreated"]  # once, though both regions' streams hold the write
    rt.quiesce()
    assert [e for e in published(rt) if e["productId"] == "p-west"] == []


def test_an_order_placed_in_the_replica_region_is_counted_exactly_once_everywhere(rt):
    rt.dynamodb(HOME).put_item(TableName=rt.table_name("products"), Item=product("p-count"))
    rt.quiesce()
    order = {"userId": {"S": "u-1"}, "orderId": {"S": "o-west-1"}, "status": {"S": "PLACED"},
             "items": {"L": [{"M": {"productId": {"S": "p-count"}, "quantity": {"N": "3"}, "price": {"N": "4.5"}}}]}}
    rt.dynamodb(REPLICA).put_item(TableName=rt.table_name("orders"), Item=order)
    rt.quiesce()
    assert units_sold(rt, HOME, "p-count") == 3  # counted at home, from the order replicated home
    assert units_sold(rt, REPLICA, "p-count") is None  # productSales is regional: no copy in the replica region
    rt.quiesce()
    assert (units_sold(rt, HOME, "p-count"), units_sold(rt, REPLICA, "p-count")) == (3, None)  # not counted again


def test_an_order_placed_at_home_is_counted_once_although_it_also_streams_in_the_replica(rt):
    rt.dynamodb(HOME).put_item(TableName=rt.table_name("products"), Item=product("p-home"))
    order = {"userId": {"S": "u-2"}, "orderId": {"S": "o-home-1"}, "status": {"S": "PLACED"},
             "items": {"L": [{"M": {"productId": {"S": "p-home"}, "quantity": {"N": "2"}, "price": {"N": "4.5"}}}]}}
    rt.quiesce()
    rt.dynamodb(HOME).put_item(TableName=rt.table_name("orders"), Item=order)
    rt.quiesce()
    replica_copy = rt.dynamodb(REPLICA).get_item(TableName=rt.table_name("orders"),
                                                 Key={"userId": {"S": "u-2"}, "orderId": {"S": "o-home-1"}})
    assert "Item" in replica_copy  # the replica's stream has it too (T15)
    assert (units_sold(rt, HOME, "p-home"), units_sold(rt, REPLICA, "p-home")) == (2, None)  # once, home only
