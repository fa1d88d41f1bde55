"""productEvents invocations per 1,000 orders: sales counters on the product items (before) vs in productSales (after).

Issue 14: every `unitsSold` ADD of orderStats used to change the product item, so the products
stream carried one MODIFY per counted product and the event source mapping woke productEvents, which
published nothing for it (a stream filter cannot compare old and new images). The counters now live
in productSales, a table without a stream.

One run, against moto in-process (`mock_aws`), per design:

1. The tables are created from Pulumi.yaml's data model as the stack declares them; --products
   products are written (their INSERTs are on the products stream before the measurement starts).
2. --orders orders of 1-3 lines are written to the orders table (seeded, reproducible).
3. The orders stream is delivered to the counter in batches of 100 with orderStats' declared filter:
   - after:  the real handler, lambdas/order_stats/handler.py (productSales, ConditionCheck on products);
   - before: the previous data model, written here only: the same marker transaction, with the
     ADD on the product item itself (`ADD unitsSold`, `attribute_exists(productId)`).
4. The products stream records written during step 3 go through productEvents' declared filter
   (Pulumi.yaml) and the real productEvents handler, in batches of 100 (the mapping's batchSize).

Reported per 1,000 orders: products-stream records from counting, records the filter passes,
productEvents invocations as the simulated mapping batches them (full batches of 100: the fewest
possible; at low traffic Lambda invokes with smaller batches, up to one invocation per record, so
the "records passed" column is the upper bound), and messages published (0 in both: the work was
wasted). Counters are checked equal in both designs.

Run: .venv/bin/python bench/counter_invocations_bench.py [--orders 1000] [--products 50]
     .venv/bin/python bench/counter_invocations_bench.py --small   (20 orders: a smoke test in seconds; CI runs it)
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "lambdas")]

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # GOTCHAS P4
}
for _name, _value in AWS_ENV.items():
    os.environ[_name] = _value

from stream_fixtures import (  # noqa: E402
    TABLES, EventSourceMapping, Shop, declared_filters, function_environment, mocked_shop, read_stream,
)
from handlers import fresh_handler  # noqa: E402

BATCH = 100
SMALL_ORDERS = 20  # a smoke test: every step runs, the products stream carries a partial batch


def load(function: str, environment: dict[str, str]) -> Any:
    for name, value in {**environment, "LOG_LEVEL": "WARNING"}.items():  # the handlers' INFO lines would bury the table
        os.environ[name] = value
    return fresh_handler(function)


def legacy_counter(order_stats: Any, shop: Shop) -> Callable[[dict, Any], dict]:
    """The previous data model: the marker transaction with the ADD on the product item itself."""
    def count(record: dict) -> None:
        units = order_stats.units_by_product(record["dynamodb"]["NewImage"])
        if not units:
            return
        marker = {"Put": {"TableName": TABLES["idempotency"],
                          "Item": {"id": {"S": f"order-stats#{record['eventID']}"}, "expiration": {"N": str(int(time.time()) + 604800)}},
                          "ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"}}}
        adds = [{"Update": {"TableName": TABLES["products"], "Key": {"productId": {"S": product}},
                            "UpdateExpression": "ADD #units :q", "ConditionExpression": "attribute_exists(#key)",
                            "ExpressionAttributeNames": {"#units": "unitsSold", "#key": "productId"},
                            "ExpressionAttributeValues": {":q": {"N": str(quantity)}}}}
                for product, quantity in sorted(units.items())]
        shop.ddb.transact_write_items(TransactItems=[marker, *adds])

    def handler(event: dict, context: Any) -> dict:
        for record in event["Records"]:
            count(record)
        return {"batchItemFailures": []}
    return handler


def place_orders(shop: Shop, orders: int, products: list[str], seed: int) -> Counter:
    rng, expected = random.Random(seed), Counter()
    for i in range(orders):
        lines = [(rng.choice(products), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        for product, quantity in lines:
            expected[product] += quantity
        shop.ddb.put_item(TableName=TABLES["orders"], Item={
            "userId": {"S": f"u-{i % 37}"}, "orderId": {"S": f"o-{i:05d}"}, "status": {"S": "PLACED"},
            "items": {"L": [{"M": {"productId": {"S": p}, "quantity": {"N": str(q)}, "price": {"N": "4.5"}}} for p, q in lines]}})
    return expected


def counters(shop: Shop, design: str) -> Counter:
    table = TABLES["productSales"] if design == "after" else TABLES["products"]
    items = shop.ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return Counter({i["productId"]["S"]: int(i["unitsSold"]["N"]) for i in items if "unitsSold" in i})


def measure(design: str, orders: int, product_count: int, seed: int) -> dict[str, Any]:
    with mocked_shop() as shop:
        products = [f"p-{i:03d}" for i in range(product_count)]
        for p in products:
            shop.ddb.put_item(TableName=TABLES["products"], Item={
                "productId": {"S": p}, "name": {"S": p}, "category": {"S": "tea"}, "stock": {"N": "100000"}})
        seeded = read_stream(shop, "products")
        last_seeded = seeded[-1]["dynamodb"]["SequenceNumber"]
        expected = place_orders(shop, orders, products, seed)
        order_stats = load("order_stats", function_environment("order_stats", shop))
        counter = order_stats.lambda_handler if design == "after" else legacy_counter(order_stats, shop)
        counted = EventSourceMapping(shop, "orders", counter, declared_filters("orderStats"), batch_size=BATCH).poll()
        assert not counted.failures, counted.failures
        assert counters(shop, design) == expected, f"{design}: counters differ from the orders"

        product_events = load("product_events", function_environment("product_events", shop))
        filters = declared_filters("productEvents")
        after_seed = [r for r in read_stream(shop, "products") if int(r["dynamodb"]["SequenceNumber"]) > int(last_seeded)]
        mapping = EventSourceMapping(shop, "products", product_events.lambda_handler, filters, batch_size=BATCH)
        delivered = mapping.poll(iterator_type="AFTER_SEQUENCE_NUMBER", start=last_seeded) if after_seed else None
        published = len(shop.drain())
        return {
            "design": design,
            "stream records": len(after_seed),
            "passed filter": delivered.delivered if delivered else 0,
            "invocations": delivered.invocations if delivered else 0,
            "published": published,
            "counter invocations": counted.invocations,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--small", action="store_true",
                        help=f"{SMALL_ORDERS} orders, a smoke test (results scaled per 1,000; the invocations column is noise)")
    args = parser.parse_args()
    orders = SMALL_ORDERS if args.small else args.orders
    scale = 1000 / orders
    if args.small:
        print(f"small mode: {orders} orders scaled per 1,000, fewer than one batch of {BATCH} records: "
              "the invocations column is noise, not a measurement")
    print(f"{orders} orders of 1-3 lines over {args.products} products; orderStats and productEvents batches of {BATCH}")
    print(f"{'design':8} {'products-stream records':>24} {'passed filter':>14} {'productEvents invocations':>26} "
          f"{'(1 per record)':>15} {'published':>10}   per 1,000 orders")
    for design in ("before", "after"):
        started = time.perf_counter()
        row = measure(design, orders, args.products, args.seed)
        per = {k: v * scale for k, v in row.items() if isinstance(v, int)}
        print(f"{design:8} {per['stream records']:>24.0f} {per['passed filter']:>14.0f} {per['invocations']:>26.1f} "
              f"{per['passed filter']:>15.0f} {per['published']:>10.0f}   ({time.perf_counter() - started:.1f} s)")
    print("invocations: the simulated mapping's full batches (fewest possible); '1 per record': low traffic, the upper bound")
    skip_teardown_collection()


def skip_teardown_collection() -> None:
    """All is printed. The interpreter's teardown would still walk what the runs left (moto's
    tables and streams, the handlers) for cycles: ~0.5 s of CPU for nothing. Frozen objects are not
    walked."""
    gc.freeze()


if __name__ == "__main__":
    main()
