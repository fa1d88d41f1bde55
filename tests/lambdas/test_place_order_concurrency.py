"""POST /orders under concurrency: many simultaneous orders for the last few units.

Setup: moto's `ThreadedMotoServer` on 127.0.0.1 (a free port), through the project's own wrapper
`stacks.local.aws.LocalAws`; every simulated Lambda execution environment is a fresh load of the
handler whose module-scope client is pointed at that server (`AWS_ENDPOINT_URL`, GOTCHAS P4 env).
Not `mock_aws`: it patches one process-wide botocore hook and drives moto's backend from whichever
thread calls, with no locking.

What moto does under concurrency (moto 5.2.5; `test_moto_alone_loses_committed_writes` shows it):
its server runs each request on its own thread, and `DynamoDBBackend.transact_write_items` takes no
lock. It snapshots the tables it touches, applies the items one by one and, on a failed condition,
restores the snapshot: a cancelled transaction can undo writes another transaction committed
meanwhile, and two transactions can both pass `stock >= :q` before either writes. Observed with 20
threads buying 1-2 of 5 units: up to 8 units sold out of 5, an order stored by a cancelled
transaction, and server errors (`dictionary changed size during iteration` in the snapshot copy).
So moto does NOT honour TransactWriteItems conditions atomically under concurrency.

What these tests do instead: `serialized_dynamodb` makes moto handle one DynamoDB request at a time
(a lock around `DynamoHandler.call_action`), which is DynamoDB's own guarantee for what the handler
relies on: each request is atomic and transactions are serializable. Requests of different callers
still interleave freely between one another (read cart, read prices, transact), which is where a
handler's races live; the thread switch interval is lowered to make interleavings dense. The shim
is stronger than DynamoDB in one way (a Query sees a snapshot rather than read-committed items);
the handler never relies on what it read, since every write is re-checked by the transaction's
conditions.
"""

from __future__ import annotations

import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError
from place_order_fixtures import (
    CLEARED,
    ENVIRONMENT,
    REGION,
    TABLE_NAMES,
    FakeLambdaContext,
    Shop,
    api_event,
    body_of,
    create_table_requests,
    create_tables,
    load_handler,
    units_of,
)

from stacks.local.aws import LocalAws
from stacks.local.tokens import user_sub

SCARCE, PLENTY = "last-mug", "tote-bag"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as aws:
        yield aws


@pytest.fixture
def environment(monkeypatch, server):
    """Handler environment variables, the AWS endpoint being the moto server."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**ENVIRONMENT, **server.env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def shop(server, environment) -> Iterator[Shop]:
    client = server.client("dynamodb")
    create_tables(client)
    yield Shop(client)
    for request in create_table_requests():
        client.delete_table(TableName=request["TableName"])


@pytest.fixture
def serialized_dynamodb(monkeypatch):
    """One DynamoDB request at a time inside moto (see the module docstring)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@contextmanager
def dense_thread_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, released together; results in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with dense_thread_switching(), ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class StockWatch:
    """Reads a product's stock continuously while orders run; remembers the lowest value seen."""

    def __init__(self, shop: Shop, product_id: str):
        self.shop, self.product_id = shop, product_id
        self.lowest: int | None = None
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            value = self.shop.stock(self.product_id)
            self.reads += 1
            self.lowest = value if self.lowest is None else min(self.lowest, value)

    def __enter__(self) -> "StockWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --------------------------------------------------------------------------------------------------
# moto without help
# --------------------------------------------------------------------------------------------------


def test_moto_alone_loses_committed_writes(shop, monkeypatch):
    """Why `serialized_dynamodb` exists. If this starts failing, moto isolates transactions now and
    the shim may be dropped (re-check with the concurrent tests without it)."""
    import moto.dynamodb.models as models

    # GIVEN transaction A paused inside moto after its snapshot, A being bound to fail on its 2nd item
    shop.add_product("x", price="1.00", stock=5)
    shop.add_product("y", price="1.00", stock=0)
    paused, resume = threading.Event(), threading.Event()
    original = models.get_filter_expression

    def pause_a_once(expression, names, values, *args, **kwargs):
        if values and ":pause" in values and not paused.is_set():
            paused.set()
            resume.wait(timeout=30)
        return original(expression, names, values, *args, **kwargs)

    monkeypatch.setattr(models, "get_filter_expression", pause_a_once)

    def update(product: str, quantity: int, marker: bool = False) -> dict[str, Any]:
        values = {":q": {"N": str(quantity)}, **({":pause": {"N": "0"}} if marker else {})}
        return {"Update": {"TableName": TABLE_NAMES["products"], "Key": {"productId": {"S": product}},
                           "UpdateExpression": "SET stock = stock - :q",
                           "ConditionExpression": "stock >= :q" + (" AND :pause = :pause" if marker else ""),
                           "ExpressionAttributeValues": values}}

    def transaction_a() -> str:
        try:
            shop.client.transact_write_items(TransactItems=[update("x", 1, marker=True), update("y", 1)])
            return "committed"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=1) as pool:
        a = pool.submit(transaction_a)
        assert paused.wait(timeout=30), "transaction A never reached its condition check"
        # WHEN transaction B commits 2 units of x meanwhile, then A fails and rolls back
        shop.client.transact_write_items(TransactItems=[update("x", 2)])
        resume.set()
        # THEN A is cancelled, as it should be...
        assert a.result(timeout=30) == "TransactionCanceledException"
    # ...but its rollback restored x from its snapshot: B's committed decrement is gone
    assert shop.stock("x") == 5, "moto kept B's write: its transactions may be isolated now"


# --------------------------------------------------------------------------------------------------
# The bar: many simultaneous orders for the last few units
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_simultaneous_orders_for_the_last_units_never_oversell(shop, serialized_dynamodb, seed):
    # GIVEN 5 units of the scarce product, plenty of another, and 20 users each with 1-2 scarce units
    #       (half of them with some of the plentiful product too) - 20 execution environments
    rng = random.Random(seed)
    shop.add_product(SCARCE, price="12.50", stock=5)
    shop.add_product(PLENTY, price="3.99", stock=1000)
    users = [f"user{i:02d}" for i in range(20)]
    wanted = {user: {SCARCE: rng.choice([1, 2])} for user in users}
    for user in users[::2]:
        wanted[user][PLENTY] = rng.randint(1, 3)
    for user, lines in wanted.items():
        for product, quantity in lines.items():
            shop.add_to_cart(user, product, quantity)
    handlers = [load_handler() for _ in users]

    # WHEN they all place their order at once (while the stock is watched)
    calls = [lambda h=h, u=u: h.lambda_handler(api_event(u), FakeLambdaContext()) for h, u in zip(handlers, users)]
    with StockWatch(shop, SCARCE) as watch:
        responses = dict(zip(users, run_at_once(calls)))

    # THEN every order either succeeded (201) or was refused with 409 out of stock naming the scarce product
    placed = {u for u, r in responses.items() if r["statusCode"] == 201}
    refused = {u for u, r in responses.items() if r["statusCode"] != 201}
    for user in refused:
        assert responses[user]["statusCode"] == 409, (user, responses[user])
        assert body_of(responses[user]) == {"message": "out of stock", "outOfStock": [SCARCE]}, user
    assert placed and refused
    # ...stock never went negative, not at the end and not in between
    final = shop.stock(SCARCE)
    assert final >= 0 and watch.lowest is not None and watch.lowest >= 0 and watch.reads > 0
    # ...the units ordered are exactly the stock decrement, for both products (all or nothing)
    orders = shop.orders()
    assert sorted(o["userId"] for o in orders) == sorted(user_sub(u) for u in placed)
    assert sum(units_of(o, SCARCE) for o in orders) == 5 - final
    assert sum(units_of(o, PLENTY) for o in orders) == 1000 - shop.stock(PLENTY)
    assert sum(wanted[u][SCARCE] for u in placed) == 5 - final
    for user in placed:
        assert {(i["productId"], i["quantity"]) for i in body_of(responses[user])["items"]} == set(wanted[user].items())
    # ...no refusal the final stock could have filled (stock only went down)
    assert all(wanted[u][SCARCE] > final for u in refused)
    # ...no cart of a placed order remains; refused carts are untouched
    for user in placed:
        assert shop.cart(user) == {}, user
    for user in refused:
        assert shop.cart(user) == wanted[user], user


def test_one_users_simultaneous_checkouts_place_one_order(shop, serialized_dynamodb):
    # GIVEN alice's cart (3 mugs, 1 tote) and 10 simultaneous checkouts of it, without keys
    shop.add_product(SCARCE, price="12.50", stock=100)
    shop.add_product(PLENTY, price="3.99", stock=100)
    shop.add_to_cart("alice", SCARCE, 3)
    shop.add_to_cart("alice", PLENTY, 1)
    handlers = [load_handler() for _ in range(10)]
    # WHEN they run at once
    responses = run_at_once([lambda h=h: h.lambda_handler(api_event("alice"), FakeLambdaContext()) for h in handlers])
    # THEN one order; the others found the cart changed (409) or already empty (400); stock taken once
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses.count(201) == 1, statuses
    for response in responses:
        if response["statusCode"] == 409:
            assert body_of(response) == {"message": "the cart changed; review it and try again"}
        elif response["statusCode"] == 400:
            assert body_of(response) == {"message": "the cart is empty"}
    assert len(shop.orders("alice")) == 1
    assert (shop.stock(SCARCE), shop.stock(PLENTY)) == (97, 99)
    assert shop.cart("alice") == {}


def test_simultaneous_retries_with_one_key_place_one_order(shop, serialized_dynamodb):  # L5
    # GIVEN alice's cart and 10 simultaneous sends of one request with one Idempotency-Key
    shop.add_product(SCARCE, price="12.50", stock=100)
    shop.add_to_cart("alice", SCARCE, 2)
    handlers = [load_handler() for _ in range(10)]
    headers = {"Idempotency-Key": "checkout-1"}
    # WHEN they run at once
    responses = run_at_once([lambda h=h: h.lambda_handler(api_event("alice", '{"note": "n"}', headers),
                                                          FakeLambdaContext()) for h in handlers])
    # THEN one order, one decrement; every other answer is that same 201 or 409 "in progress"
    [order] = shop.orders("alice")
    assert shop.stock(SCARCE) == 98
    for response in responses:
        if response["statusCode"] == 201:
            assert body_of(response)["orderId"] == order["orderId"]
        else:
            assert response["statusCode"] == 409 and "in progress" in body_of(response)["message"], response
    # ...and a later retry with the key replays the 201
    late = load_handler().lambda_handler(api_event("alice", '{"note": "n"}', headers), FakeLambdaContext())
    assert late["statusCode"] == 201 and body_of(late)["orderId"] == order["orderId"]
