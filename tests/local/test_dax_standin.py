"""The local DAX stand-in over moto: DAX's documented semantics (D7), shown with a controllable clock.

- a query after a write returns the cached result until the query TTL passes;
- writes through the cache update the item cache (write-through); writes straight to the table are
  seen through the item cache only after the item TTL;
- strongly consistent reads pass through and are never cached;
- the hit rate of a repeated workload.
The reader's handler runs unchanged over it (its client factory picks the stand-in for local-dax://).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from stacks.local.aws import LocalAws
from stacks.local.dax import LocalDaxCache, install_hook

REPO = Path(__file__).resolve().parents[2]
TABLE = "catalogue"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def aws():
    with LocalAws("us-east-1") as local:
        client = local.client("dynamodb")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("productId", "category", "name")],
            KeySchema=[{"AttributeName": "productId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "byCategory", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "category", "KeyType": "HASH"},
                                                   {"AttributeName": "name", "KeyType": "RANGE"}]}])
        yield local


@pytest.fixture
def table(aws):
    client = aws.client("dynamodb")
    for item in client.scan(TableName=TABLE)["Items"]:
        client.delete_item(TableName=TABLE, Key={"productId": item["productId"]})
    for i in range(1, 4):
        client.put_item(TableName=TABLE, Item=product(f"t-{i}", "tea", price=i))
    return client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def product(pid: str, category: str, price: float = 1, name: str | None = None) -> dict:
    return {"productId": {"S": pid}, "category": {"S": category}, "name": {"S": name or f"{category} {pid}"},
            "price": {"N": str(price)}}


def by_category(cache_or_table, category: str = "tea") -> list[str]:
    response = cache_or_table.query(TableName=TABLE, IndexName="byCategory", KeyConditionExpression="category = :c",
                                    ExpressionAttributeValues={":c": {"S": category}})
    return [i["productId"]["S"] for i in response["Items"]]


def get(cache, pid: str, **extra) -> dict:
    return cache.get_item(TableName=TABLE, Key={"productId": {"S": pid}}, **extra).get("Item", {})


def test_query_after_a_write_returns_the_cached_result_until_the_query_ttl(table, clock):  # D7
    cache = LocalDaxCache(table, item_ttl_ms=300_000, query_ttl_ms=60_000, clock=clock)
    assert by_category(cache) == ["t-1", "t-2", "t-3"]
    cache.put_item(TableName=TABLE, Item=product("t-4", "tea"))  # even a write through DAX
    clock.advance(59)
    assert by_category(cache) == ["t-1", "t-2", "t-3"]  # stale: the query cache is not invalidated
    assert by_category(table) == ["t-1", "t-2", "t-3", "t-4"]  # the table has it
    clock.advance(2)
    assert by_category(cache) == ["t-1", "t-2", "t-3", "t-4"]  # fresh after the TTL


def test_writes_through_the_cache_update_the_item_cache(table, clock):  # D7 write-through
    cache = LocalDaxCache(table, item_ttl_ms=300_000, query_ttl_ms=300_000, clock=clock)
    assert get(cache, "t-1")["price"] == {"N": "1"}
    cache.update_item(TableName=TABLE, Key={"productId": {"S": "t-1"}}, UpdateExpression="SET price = :p",
                      ExpressionAttributeValues={":p": {"N": "7"}})
    calls = cache.stats.table_calls
    assert get(cache, "t-1")["price"] == {"N": "7"}
    assert cache.stats.table_calls == calls  # served from the item cache, already up to date
    cache.delete_item(TableName=TABLE, Key={"productId": {"S": "t-1"}})
    assert get(cache, "t-1") == {}


def test_a_write_straight_to_the_table_is_seen_only_after_the_item_ttl(table, clock):  # D7
    cache = LocalDaxCache(table, item_ttl_ms=5_000, query_ttl_ms=300_000, clock=clock)
    assert get(cache, "t-2")["price"] == {"N": "2"}
    table.put_item(TableName=TABLE, Item=product("t-2", "tea", price=9))  # another service, not through DAX
    assert get(cache, "t-2")["price"] == {"N": "2"}  # stale
    clock.advance(6)
    assert get(cache, "t-2")["price"] == {"N": "9"}


def test_strongly_consistent_reads_pass_through_and_are_not_cached(table, clock):  # D7
    cache = LocalDaxCache(table, item_ttl_ms=300_000, query_ttl_ms=300_000, clock=clock)
    get(cache, "t-3")
    table.put_item(TableName=TABLE, Item=product("t-3", "tea", price=5))
    assert get(cache, "t-3", ConsistentRead=True)["price"] == {"N": "5"}
    assert get(cache, "t-3")["price"] == {"N": "3"}  # the eventually consistent path still has the old item
    assert cache.stats.passthrough == 1


def test_hit_rate_of_a_repeated_workload(table, clock):
    cache = LocalDaxCache(table, item_ttl_ms=300_000, query_ttl_ms=300_000, clock=clock)
    for _ in range(10):
        for pid in ("t-1", "t-2", "t-3"):
            get(cache, pid)
        by_category(cache)
    stats = cache.stats
    assert (stats.item_misses, stats.query_misses, stats.table_calls) == (3, 1, 4)
    assert stats.hit_rate == pytest.approx(36 / 40)


def test_operations_it_does_not_model_fail_loudly(table):
    cache = LocalDaxCache(table, 1000, 1000)
    with pytest.raises(AttributeError, match="does not model batch_get_item"):
        cache.batch_get_item(RequestItems={})


def load_reader(monkeypatch, route: dict):
    monkeypatch.setenv("ROUTE", json.dumps(route))
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("DAX_ENDPOINT", "local-dax://catalogue-cache")
    monkeypatch.syspath_prepend(str(REPO / "lambdas" / "dax_reader"))
    sys.modules.pop("dax_client", None)
    spec = importlib.util.spec_from_file_location("dax_reader_under_test", REPO / "lambdas" / "dax_reader" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reader_handler_runs_unchanged_over_the_stand_in(table, clock, monkeypatch):
    cache = LocalDaxCache(table, item_ttl_ms=300_000, query_ttl_ms=300_000, clock=clock)
    install_hook({"catalogue-cache": cache})
    route = {"operation": "Query", "index": "byCategory", "key": {"category": ["query.category", "S"]},
             "fields": ["productId", "price"], "pageSize": {"default": 2, "max": 10},
             "token": [["name", "S"], ["productId", "S"]], "newestFirst": False}
    reader = load_reader(monkeypatch, route)
    event = {"queryStringParameters": {"category": "tea"}}
    first = json.loads(reader.lambda_handler(event, None)["body"])
    assert first["items"] == [{"productId": "t-1", "price": 1}, {"productId": "t-2", "price": 2}] and "nextToken" in first
    page2 = json.loads(reader.lambda_handler({"queryStringParameters": {"category": "tea", "nextToken": first["nextToken"]}}, None)["body"])
    assert [i["productId"] for i in page2["items"]] == ["t-3"]
    reader.lambda_handler(event, None)
    assert cache.stats.query_hits == 1
    bad = reader.lambda_handler({"queryStringParameters": {"category": "tea", "limit": "11"}}, None)
    assert bad["statusCode"] == 400


def test_the_client_factory_refuses_an_unencrypted_endpoint(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "lambdas" / "dax_reader"))
    sys.modules.pop("dax_client", None)
    import dax_client

    with pytest.raises(ValueError, match="daxs://"):
        dax_client.make_client("dax://shop.abc.dax-clusters.us-east-1.amazonaws.com", "us-east-1")
