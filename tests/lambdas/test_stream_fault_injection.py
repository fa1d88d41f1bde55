"""Both stream consumers under injected AWS faults, with Lambda's retry semantics simulated.

The bar: every relevant change takes effect exactly once, or is in the failure list (what the
mapping's SQS on-failure destination receives: shard, first and last sequence numbers, GOTCHAS L2)
with enough to replay it; replaying the failure list completes the work once; replaying the whole
stream from TRIM_HORIZON changes nothing.

- Records are moto's own stream, read with dynamodbstreams; the mapping (stream_fixtures.
  EventSourceMapping) applies the function's FILTER_PATTERNS, forms batches of up to 100, redelivers
  a failed record and those after it, and after `maximumRetryAttempts` retries reports the batch to
  the failure list and moves on. The simulation uses fewer retries than the stack's 5 (products 2,
  orders 1: a warm environment skips what it already counted, so fewer records are retried) so that
  some records do exhaust their retries at a 25% fault rate (with 5, p = 0.25^6 per record).
- Faults are seeded and injected in wrappers around the real boto3 clients (the AWS boundary).
  SNS: about 1 call in 10 raises; in the other calls each entry fails with p = 1/6 (listed in
  `Failed`): 25% of publish entries fail overall. DynamoDB: 25% of TransactWriteItems fail, half
  refused without effect (TransactionConflict, throttling), half committed with the response lost
  (read timeout): the case the order markers exist for.
- What is NOT injected for SNS: a lost response after SNS accepted the batch. That is the documented
  at-least-once window of product_events (test_product_events shows it); no consumer can close it
  without a FIFO topic's deduplication.
- Cost: moto's TransactWriteItems deep-copies the table (with its stream) once per transaction item,
  so the orders test keeps to 80 orders; the products test's 1,000 changes take ~25 s on 2 vCPUs
  (moto: UpdateItem ~4 ms, PublishBatch to an SQS subscriber ~20 ms, GetRecords of 1,000 records ~2 s).

Run with `-s` to see the numbers.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any, Optional

from botocore.exceptions import ClientError, ReadTimeoutError
from stream_fixtures import (
    RELEVANT_ATTRIBUTES,
    EventSourceMapping,
    aws_environment,  # noqa: F401 (fixture)
    function_environment,
    load_handler,
    read_stream,
    shop,  # noqa: F401 (fixture)
)

SEED = 20251122
RELEVANT = RELEVANT_ATTRIBUTES.split(",")
CATEGORIES = ["tea", "coffee", "mugs", "kettles"]


# --------------------------------------------------------------------------------------------------
# product_events
# --------------------------------------------------------------------------------------------------


class SeededFaultySns:
    def __init__(self, real, rng: random.Random, *, call_failure: float = 0.10, entry_failure: float = 1 / 6):
        self.real, self.rng, self.call_failure, self.entry_failure = real, rng, call_failure, entry_failure
        self.stats: Counter = Counter()

    def publish_batch(self, **kwargs):
        entries = kwargs["PublishBatchRequestEntries"]
        self.stats["calls"] += 1
        self.stats["entries"] += len(entries)
        if self.rng.random() < self.call_failure:
            self.stats["raised calls"] += 1
            self.stats["failed entries"] += len(entries)
            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected"}}, "PublishBatch")
        failing = {e["Id"] for e in entries if self.rng.random() < self.entry_failure}
        sent = [e for e in entries if e["Id"] not in failing]
        response = self.real.publish_batch(**{**kwargs, "PublishBatchRequestEntries": sent}) if sent else {"Successful": [], "Failed": []}
        self.stats["failed entries"] += len(failing)
        return {"Successful": response["Successful"], "Failed": response["Failed"] + [
            {"Id": i, "Code": "InternalError", "Message": "injected", "SenderFault": False} for i in sorted(failing)]}

    def __getattr__(self, name):
        return getattr(self.real, name)


def _random_product(rng: random.Random, n: int) -> dict[str, Any]:
    product = {"name": f"Product {n}", "category": rng.choice(CATEGORIES), "price": Decimal(rng.randint(100, 9999)) / 100,
               "currency": rng.choice(["EUR", "USD"]), "stock": rng.randint(0, 50)}
    if rng.random() < 0.7:
        product["description"] = f"Description {n}"
    return product


def _attribute(value: Any) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, (int, Decimal)) else {"S": value}


def write_product_changes(shop, rng: random.Random, count: int) -> list[Optional[tuple[str, str, dict]]]:
    """`count` writes to the products table; per write the event it must produce (type, productId,
    {attribute: (old, new)}), or None when no relevant attribute changes. The model is the test's
    own: it never asks the handler what changed."""
    table = shop.table("products")
    live: dict[str, dict[str, Any]] = {}
    numbers = itertools.count()
    expected: list[Optional[tuple[str, str, dict]]] = []
    for _ in range(count):
        roll = rng.random()
        if not live or roll < 0.2:
            n = next(numbers)
            product_id, attributes = f"p-{n:04d}", _random_product(rng, n)
            item = {"productId": {"S": product_id}, **{a: _attribute(v) for a, v in attributes.items()}}
            if rng.random() < 0.5:
                item["internalNote"] = {"S": "supplier"}
            shop.ddb.put_item(TableName=table, Item=item)
            live[product_id] = attributes
            expected.append(("ProductCreated", product_id, {a: (None, v) for a, v in attributes.items()}))
            continue
        product_id = rng.choice(sorted(live))
        key = {"productId": {"S": product_id}}
        current = live[product_id]
        if roll < 0.3:
            shop.ddb.delete_item(TableName=table, Key=key)
            del live[product_id]
            expected.append(("ProductRemoved", product_id, {a: (v, None) for a, v in current.items()}))
        elif roll < 0.6:  # irrelevant: units sold, an internal note, or a relevant attribute set to its own value
            kind = rng.choice(["units", "note", "same"])
            if kind == "units":
                shop.ddb.update_item(TableName=table, Key=key, UpdateExpression="ADD unitsSold :u",
                                     ExpressionAttributeValues={":u": {"N": str(rng.randint(1, 5))}})
            elif kind == "note":
                shop.ddb.update_item(TableName=table, Key=key, UpdateExpression="SET internalNote = :n",
                                     ExpressionAttributeValues={":n": {"S": f"note {rng.random()}"}})
            else:
                shop.ddb.update_item(TableName=table, Key=key, UpdateExpression="SET price = :p, stock = :s",
                                     ExpressionAttributeValues={":p": _attribute(current["price"]), ":s": _attribute(current["stock"])})
            expected.append(None)
        else:  # relevant: 1-3 attributes set (some possibly to their own value), description sometimes removed
            new = dict(current)
            for attribute in rng.sample(["name", "price", "stock", "currency", "category"], rng.randint(1, 3)):
                new[attribute] = _random_product(rng, rng.randint(0, 3))[attribute]
            if "description" in new and rng.random() < 0.2:
                del new["description"]
            elif rng.random() < 0.3:
                new["description"] = f"Rewritten {rng.randint(0, 3)}"
            sets = dict(new)
            removed = [a for a in current if a not in new]
            names = {f"#a{i}": a for i, a in enumerate(sets)}
            expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(sets)))
            if removed:
                names.update({f"#r{i}": a for i, a in enumerate(removed)})
                expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed)))
            shop.ddb.update_item(TableName=table, Key=key, UpdateExpression=expression, ExpressionAttributeNames=names,
                                 ExpressionAttributeValues={f":v{i}": _attribute(v) for i, v in enumerate(sets.values())})
            live[product_id] = new
            changes = {a: (current.get(a), new.get(a)) for a in RELEVANT if current.get(a) != new.get(a)}
            expected.append(("ProductChanged", product_id, changes) if changes else None)
    return expected


def _normal(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) else value


def _as_expected(body: dict[str, Any]) -> tuple[str, str, dict]:
    return body["type"], body["productId"], {a: (_normal(c["old"]), _normal(c["new"])) for a, c in body["changes"].items()}


def _in_failure(sequence_number: str, failures: list[dict[str, Any]]) -> bool:
    return any(int(f["DDBStreamBatchInfo"]["startSequenceNumber"]) <= int(sequence_number) <= int(f["DDBStreamBatchInfo"]["endSequenceNumber"])
               for f in failures)


def test_product_changes_under_sns_faults_are_published_exactly_once_or_left_replayable(shop, monkeypatch):  # noqa: F811
    started = time.monotonic()
    fn = load_handler("product_events", monkeypatch, function_environment("product_events", shop))
    # GIVEN 1,000 product changes (inserts, relevant and irrelevant modifies, removes) on moto's stream
    plan = write_product_changes(shop, random.Random(SEED), 1000)
    # ... and SNS failing a seeded 25% of publish entries
    faulty = SeededFaultySns(fn.sns, random.Random(SEED + 1))
    monkeypatch.setattr(fn, "sns", faulty)
    mapping = EventSourceMapping(shop, "products", fn.lambda_handler, fn.FILTER_PATTERNS, batch_size=100,
                                 maximum_retry_attempts=2, after_invocation=shop.drain)

    # WHEN the mapping processes the stream from TRIM_HORIZON
    report = mapping.poll()
    first = list(shop.published)
    records = report.read  # what the mapping read from moto's stream: one record per write, in order
    assert len(records) == 1000
    expected = {r["eventID"]: e for r, e in zip(records, plan) if e is not None}
    assert all(r["dynamodb"]["Keys"]["productId"]["S"] == p[1] for r, p in zip(records, plan) if p is not None)
    sequence = {r["eventID"]: r["dynamodb"]["SequenceNumber"] for r in records}
    kinds = Counter(r["eventName"] for r in records)

    # THEN nothing irrelevant and nothing twice was published, each event exactly as expected ...
    published = Counter(m["body"]["eventId"] for m in first)
    assert not set(published) - set(expected), "published an irrelevant or unknown change"
    assert max(published.values()) == 1, "published a change twice"
    assert all(_as_expected(m["body"]) == expected[m["body"]["eventId"]] for m in first)
    assert all(m["attributes"]["eventType"] == m["body"]["type"] for m in first)
    # ... every relevant change not published lies in a failure-list range, which carries what a replay needs
    missing = set(expected) - set(published)
    assert all(_in_failure(sequence[e], report.failures) for e in missing)
    assert report.failures and missing, "the seed must exercise the failure path"
    for failure in report.failures:
        info = failure["DDBStreamBatchInfo"]
        assert info["shardId"] and info["streamArn"] == shop.stream_arns["products"] and info["batchSize"] >= 1
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert 0.20 <= faulty.stats["failed entries"] / faulty.stats["entries"] <= 0.30

    # WHEN the failure list is replayed later (a fresh execution environment, SNS healthy)
    cold = load_handler("product_events", monkeypatch, function_environment("product_events", shop))
    mapping = EventSourceMapping(shop, "products", cold.lambda_handler, cold.FILTER_PATTERNS, after_invocation=shop.drain)
    replays = [mapping.replay(f) for f in report.failures]
    replayed = shop.published[len(first):]
    # THEN exactly the missing changes are published, once
    assert all(not r.failures for r in replays)
    assert Counter(m["body"]["eventId"] for m in replayed) == Counter(missing)
    assert all(_as_expected(m["body"]) == expected[m["body"]["eventId"]] for m in replayed)

    # WHEN the whole stream is replayed from TRIM_HORIZON (another fresh environment)  THEN nothing more is published
    cold = load_handler("product_events", monkeypatch, function_environment("product_events", shop))
    again = EventSourceMapping(shop, "products", cold.lambda_handler, cold.FILTER_PATTERNS, after_invocation=shop.drain).poll()
    assert not again.failures and len(shop.published) == len(first) + len(replayed)
    statuses = Counter(i["status"]["S"] for i in shop.idempotency_items())
    assert statuses == {"COMPLETED": len(expected)}

    print(f"\nproduct_events fault injection: {len(records)} records {dict(kinds)}; relevant {len(expected)}, "
          f"irrelevant {len(records) - len(expected)}\n"
          f"  SNS: {faulty.stats['calls']} PublishBatch calls, {faulty.stats['entries']} entries, "
          f"{faulty.stats['failed entries']} failed ({faulty.stats['failed entries'] / faulty.stats['entries']:.1%}; "
          f"{faulty.stats['raised calls']} calls raised)\n"
          f"  mapping: {report.invocations} invocations, {report.retries} retries, {report.delivered} records delivered; "
          f"published {len(published)} on the first pass\n"
          f"  failure list: {len(report.failures)} entries covering "
          f"{sum(f['DDBStreamBatchInfo']['batchSize'] for f in report.failures)} records, {len(missing)} of them unpublished; "
          f"replay published {len(replayed)}; full TRIM_HORIZON replay published 0 "
          f"({again.invocations} invocations); {time.monotonic() - started:.1f} s")


# --------------------------------------------------------------------------------------------------
# order_stats
# --------------------------------------------------------------------------------------------------


class SeededFaultyDynamoDB:
    def __init__(self, real, rng: random.Random, *, failure: float = 0.25):
        self.real, self.rng, self.failure = real, rng, failure
        self.stats: Counter = Counter()

    def transact_write_items(self, **kwargs):
        self.stats["transactions"] += 1
        if self.rng.random() >= self.failure:
            return self.real.transact_write_items(**kwargs)
        self.stats["failed"] += 1
        kind = self.rng.choice(["conflict", "throttled", "response lost"])
        self.stats[kind] += 1
        if kind == "conflict":
            reasons = [{"Code": "None"}] * len(kwargs["TransactItems"])
            reasons[-1] = {"Code": "TransactionConflict", "Message": "injected"}
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        if kind == "throttled":
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "TransactWriteItems")
        self.real.transact_write_items(**kwargs)
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    def __getattr__(self, name):
        return getattr(self.real, name)


def _units(shop) -> Counter:
    items = shop.ddb.scan(TableName=shop.table("productSales"), ConsistentRead=True)["Items"]
    return Counter({i["productId"]["S"]: int(i["unitsSold"]["N"]) for i in items})


def _markers(shop) -> set[str]:
    return {i["id"]["S"] for i in shop.idempotency_items() if i["id"]["S"].startswith("order-stats#")}


def test_order_counters_under_transaction_faults_end_exact(shop, monkeypatch):  # noqa: F811
    started = time.monotonic()
    fn = load_handler("order_stats", monkeypatch, function_environment("order_stats", shop))
    rng = random.Random(SEED)
    # GIVEN 10 products and 80 new orders of 1-2 lines (a product may repeat), with status changes
    # and deletions of some orders in between (filtered out by the mapping)
    products = [f"p-{i:02d}" for i in range(10)]
    for p in products:
        shop.ddb.put_item(TableName=shop.table("products"), Item={"productId": {"S": p}, "name": {"S": p}, "category": {"S": "tea"}})
    lines_of: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for n in range(80):
        key = (f"u-{rng.randint(0, 9)}", f"o-{n:04d}")
        lines = [(rng.choice(products), rng.randint(1, 5)) for _ in range(rng.randint(1, 2))]
        lines_of[key] = lines
        shop.ddb.put_item(TableName=shop.table("orders"), Item={
            "userId": {"S": key[0]}, "orderId": {"S": key[1]}, "status": {"S": "PLACED"},
            "items": {"L": [{"M": {"productId": {"S": p}, "quantity": {"N": str(q)}, "price": {"N": "2.5"}}} for p, q in lines]}})
        if rng.random() < 0.2:
            shop.ddb.update_item(TableName=shop.table("orders"), Key={"userId": {"S": key[0]}, "orderId": {"S": key[1]}},
                                 UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                                 ExpressionAttributeValues={":s": {"S": "PAID"}})
        if rng.random() < 0.05:
            shop.ddb.delete_item(TableName=shop.table("orders"), Key={"userId": {"S": key[0]}, "orderId": {"S": key[1]}})
    records = read_stream(shop, "orders")
    inserts = {r["eventID"]: (r["dynamodb"]["Keys"]["userId"]["S"], r["dynamodb"]["Keys"]["orderId"]["S"])
               for r in records if r["eventName"] == "INSERT"}
    sequence = {r["eventID"]: r["dynamodb"]["SequenceNumber"] for r in records}
    expected: Counter = Counter()
    for lines in lines_of.values():
        for p, q in lines:
            expected[p] += q
    # ... and 25% of transactions failing (seeded)
    faulty = SeededFaultyDynamoDB(fn.dynamodb, random.Random(SEED + 1))
    monkeypatch.setattr(fn, "dynamodb", faulty)
    mapping = EventSourceMapping(shop, "orders", fn.lambda_handler, fn.FILTER_PATTERNS, batch_size=100, maximum_retry_attempts=1)

    # WHEN the mapping processes the stream
    report = mapping.poll()

    # THEN the counters hold exactly the lines of the orders whose marker exists (nothing twice) ...
    markers = _markers(shop)  # one scan, not one per order
    counted = {e for e in inserts if f"order-stats#{e}" in markers}
    partial: Counter = Counter()
    for e in counted:
        for p, q in lines_of[inserts[e]]:
            partial[p] += q
    assert _units(shop) == partial
    # ... and every order not counted lies in a failure-list range
    uncounted = set(inserts) - counted
    assert all(_in_failure(sequence[e], report.failures) for e in uncounted)
    assert report.failures and uncounted, "the seed must exercise the failure path"
    assert 0.20 <= faulty.stats["failed"] / faulty.stats["transactions"] <= 0.30

    # WHEN the failure list is replayed later (a fresh execution environment, DynamoDB healthy)  THEN the counters are exact
    cold = load_handler("order_stats", monkeypatch, function_environment("order_stats", shop))
    mapping = EventSourceMapping(shop, "orders", cold.lambda_handler, cold.FILTER_PATTERNS)
    replays = [mapping.replay(f) for f in report.failures]
    assert all(not r.failures for r in replays)
    assert _units(shop) == expected
    assert _markers(shop) == {f"order-stats#{e}" for e in inserts}

    # WHEN the whole stream is replayed from TRIM_HORIZON (another fresh environment)  THEN nothing changes
    cold = load_handler("order_stats", monkeypatch, function_environment("order_stats", shop))
    again = EventSourceMapping(shop, "orders", cold.lambda_handler, cold.FILTER_PATTERNS).poll()
    assert not again.failures
    assert _units(shop) == expected and len(_markers(shop)) == len(inserts)

    print(f"\norder_stats fault injection: {len(records)} records ({len(inserts)} INSERT, "
          f"{len(records) - len(inserts)} MODIFY/REMOVE filtered out), {sum(expected.values())} units on {len(expected)} products\n"
          f"  DynamoDB: {faulty.stats['transactions']} TransactWriteItems, {faulty.stats['failed']} failed "
          f"({faulty.stats['failed'] / faulty.stats['transactions']:.1%}: {faulty.stats['conflict']} conflicts, "
          f"{faulty.stats['throttled']} throttled, {faulty.stats['response lost']} committed with the response lost)\n"
          f"  mapping: {report.invocations} invocations, {report.retries} retries, {report.delivered} records delivered; "
          f"{len(counted)} orders counted on the first pass\n"
          f"  failure list: {len(report.failures)} entries covering "
          f"{sum(f['DDBStreamBatchInfo']['batchSize'] for f in report.failures)} records, {len(uncounted)} orders uncounted; "
          f"after replay counters exact; full TRIM_HORIZON replay changed nothing; {time.monotonic() - started:.1f} s")
