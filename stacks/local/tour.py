"""A short scripted tour of the local runtime: what an app team sees, checked as it goes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

from .runtime import LocalRuntime

# Between two reads of something a stream consumer or the replicator writes asynchronously: a
# local read costs milliseconds, so waiting 50 ms shows the result about when it lands.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Step:
    title: str
    user: Optional[str]
    method: str
    path: str
    expected: int
    body: Any = None
    params: Optional[dict] = None
    check: Optional[Callable[[Any], bool]] = None
    keep: Optional[str] = None  # remember the response's nextToken (or orderId) under this name
    wait_until: Optional[Callable[[Any], bool]] = None  # poll (stream consumers run asynchronously)


@dataclass(frozen=True)
class Outcome:
    step: Step
    status: int
    body: Any
    ok: bool


def steps() -> list[Step]:
    return [
        Step("browse books, page 1 of 3", "alice", "GET", "/products", 200, params={"category": "books", "limit": "10"},
             check=lambda b: len(b["items"]) == 10 and "nextToken" in b, keep="page2"),
        Step("browse books, page 2 (nextToken)", "alice", "GET", "/products", 200,
             params={"category": "books", "limit": "10", "nextToken": "$page2"},
             check=lambda b: b["items"][0]["productId"] == "b-011" and "nextToken" in b, keep="page3"),
        Step("browse books, page 3 (last)", "alice", "GET", "/products", 200,
             params={"category": "books", "limit": "10", "nextToken": "$page3"},
             check=lambda b: len(b["items"]) == 5 and "nextToken" not in b),
        Step("a product that does not exist", "alice", "GET", "/products/b-999", 404),
        Step("alice adds a book to her cart", "alice", "PUT", "/cart/items/b-001", 201, body={"quantity": 2, "note": 'gift "wrap"'}),
        Step("adding it again is a conflict (create-only)", "alice", "PUT", "/cart/items/b-001", 409, body={"quantity": 1}),
        Step("quantity below 1 is refused atomically", "alice", "PATCH", "/cart/items/b-001", 409, body={"delta": -2}),
        Step("one more copy, atomically", "alice", "PATCH", "/cart/items/b-001", 200, body={"delta": 1},
             check=lambda b: b["quantity"] == 3),
        Step("invalid body (quantity 0)", "alice", "PUT", "/cart/items/b-002", 400, body={"quantity": 0}),
        Step("alice's cart", "alice", "GET", "/cart", 200,
             check=lambda b: [i["productId"] for i in b["items"]] == ["b-001"] and b["items"][0]["note"] == 'gift "wrap"'),
        Step("bob's cart: alice's items are invisible", "bob", "GET", "/cart", 200, check=lambda b: b["items"] == []),
        Step("bob cannot delete alice's cart line", "bob", "DELETE", "/cart/items/b-001", 404),
        Step("a crafted nextToken cannot switch carts", "bob", "GET", "/cart", 200,
             params={"nextToken": "YWxpY2U=", "limit": "5"}, check=lambda b: b["items"] == []),
        Step("no token, no access", None, "GET", "/cart", 401),
        Step("alice's orders (isolation enforced by DynamoDB itself)", "alice", "GET", "/orders", 200,
             check=lambda b: b["items"] == []),
        Step("alice removes her cart line", "alice", "DELETE", "/cart/items/b-001", 204),
    ]


def order_steps() -> list[Step]:
    """When the stack serves POST /orders (the transactional function)."""
    return [
        Step("alice adds 2 copies of b-002", "alice", "PUT", "/cart/items/b-002", 201, body={"quantity": 2}),
        Step("alice places the order (one transaction)", "alice", "POST", "/orders", 201, body={"note": "leave at the door"},
             check=lambda b: b["items"] == [{"productId": "b-002", "quantity": 2, "price": 11.9}] and b["total"] == 23.8,
             keep="orderId"),
        Step("her cart is empty", "alice", "GET", "/cart", 200, check=lambda b: b["items"] == []),
        Step("the order is in GET /orders", "alice", "GET", "/orders", 200, check=lambda b: len(b["items"]) == 1),
        Step("stock went from 5 to 3", "alice", "GET", "/products/b-002", 200, check=lambda b: b["stock"] == 3),
        Step("the counter says 2 sold (productSales, from the orders stream)", "alice", "GET", "/products/b-002/sales", 200,
             wait_until=lambda b: b.get("unitsSold") == 2, check=lambda b: b["unitsSold"] == 2),
        Step("bob cannot order from an empty cart", "bob", "POST", "/orders", 400, body={},
             check=lambda b: "empty" in b["message"]),
        Step("bob asks for more than is left: 409 names it", "bob", "PUT", "/cart/items/b-002", 201, body={"quantity": 9}),
        Step("out of stock: nothing changes", "bob", "POST", "/orders", 409, body={},
             check=lambda b: b.get("outOfStock") == ["b-002"]),
    ]


def run_tour(runtime: LocalRuntime, printer: Callable[[str], None] = print) -> list[Outcome]:
    session = requests.Session()
    session.trust_env = False
    kept: dict[str, str] = {}
    outcomes = []
    has_orders = any(r.method == "POST" and r.path == "/orders" for r in runtime.gateway.api.routes)  # type: ignore[union-attr]
    through_dax = bool(runtime.dax)
    for step in steps() + (order_steps() if has_orders else []):
        # (Only GET /products/{productId} is a DAX reader; its /sales stays a direct integration.)
        if through_dax and step.wait_until is not None and step.path.startswith("/products/") and step.path.count("/") == 2:
            # Through DAX the item cache may serve the item as it was until its TTL (D7): the
            # stream consumer's later write is checked in the table itself.
            outcomes.append(_check_in_table(runtime, step, printer))
            continue
        headers = {"Authorization": runtime.token(step.user)} if step.user else {}
        params = {k: (kept.get(v[1:], "") if isinstance(v, str) and v.startswith("$") else v) for k, v in (step.params or {}).items()}
        deadline = time.time() + 10
        while True:
            response = session.request(step.method, runtime.url + step.path, params=params or None, json=step.body,
                                       headers=headers, timeout=30)
            body = response.json() if response.text.strip() else None
            if step.wait_until is None or time.time() > deadline or (isinstance(body, dict) and step.wait_until(body)):
                break
            time.sleep(POLL_SECONDS)
        ok = response.status_code == step.expected and (step.check is None or (body is not None and step.check(body)))
        if step.keep and isinstance(body, dict) and "nextToken" in body:
            kept[step.keep] = body["nextToken"]
        outcomes.append(Outcome(step, response.status_code, body, ok))
        shown = json.dumps(body, ensure_ascii=False)
        if len(shown) > 90:
            shown = shown[:87] + "..."
        printer(f"{'ok  ' if ok else 'FAIL'} {response.status_code} {step.method:6} {step.path:22} {step.title}  {shown}")
    if through_dax:
        outcomes += dax_tour(runtime, session, printer)
    if runtime.local is not None and runtime.local.replicas:
        outcomes += replica_tour(runtime, session, printer)
    if has_orders and runtime.observers:
        for topic in sorted(runtime.observers):
            events = runtime.published(topic)
            kinds = sorted({e.get("type", "?") for e in events})
            stock = [e for e in events if e.get("productId") == "b-002" and "stock" in e.get("changes", {})]
            ok = bool(stock)
            outcomes.append(Outcome(Step(f"{topic} published the stock change", None, "SNS", topic, 0), 0, None, ok))
            printer(f"{'ok  ' if ok else 'FAIL'} SNS {topic}: {len(events)} events ({', '.join(kinds)}); "
                    f"b-002 stock change published: {ok}")
    return outcomes


def _check_in_table(runtime: LocalRuntime, step: Step, printer: Callable[[str], None]) -> Outcome:
    product = step.path.rsplit("/", 1)[-1]
    deadline, item = time.time() + 10, {}
    ddb = runtime.dynamodb()
    while time.time() < deadline:
        raw = ddb.get_item(TableName=runtime.table_name("products"), Key={"productId": {"S": product}},
                           ConsistentRead=True).get("Item", {})
        item = {k: int(v["N"]) for k, v in raw.items() if "N" in v and k in ("stock", "unitsSold")}
        if step.wait_until is None or step.wait_until(item):
            break
        time.sleep(POLL_SECONDS)
    ok = step.check is None or step.check(item)
    printer(f"{'ok  ' if ok else 'FAIL'} table  {product:29} {step.title} (in the table: through DAX the cached item "
            f"may lag up to the item TTL)  {json.dumps(item)}")
    return Outcome(step, 200, item, ok)


def dax_tour(runtime: LocalRuntime, session: Any, printer: Callable[[str], None]) -> list[Outcome]:
    """The DAX path (stacks that enable it): cache hits, and the query cache's documented staleness."""
    [cache] = runtime.dax.values()
    headers = {"Authorization": runtime.token("alice")}
    outcomes: list[Outcome] = []

    def get(path: str, params: Optional[dict] = None) -> tuple[int, Any]:
        response = session.get(runtime.url + path, params=params, headers=headers, timeout=30)
        return response.status_code, response.json()

    def record(title: str, ok: bool, status: int, body: Any) -> None:
        outcomes.append(Outcome(Step(title, "alice", "GET", "(dax)", 200), status, body, ok))
        printer(f"{'ok  ' if ok else 'FAIL'} {status} DAX    {title}")

    hits = cache.stats.item_hits
    first, second = get("/products/g-001"), get("/products/g-002")
    again = get("/products/g-001")
    record("GET /products/g-001 twice: the second read is an item-cache hit",
           first == again and first[0] == 200 and cache.stats.item_hits > hits, again[0], again[1])
    status, before = get("/products", {"category": "games"})
    runtime.dynamodb().put_item(TableName=runtime.table_name("products"), Item={
        "productId": {"S": "g-004"}, "category": {"S": "games"}, "name": {"S": "Games volume 004"},
        "price": {"N": "13.9"}, "currency": {"S": "EUR"}, "stock": {"N": "5"}})
    status, after = get("/products", {"category": "games"})
    record("a new game written to the table is not listed yet: the query cache is not invalidated by writes "
           "(until the query TTL)", status == 200 and len(after["items"]) == len(before["items"]) == 3, status, after)
    stats = cache.stats
    record(f"DAX stand-in: {stats.reads} reads, hit rate {stats.hit_rate:.0%}, {stats.table_calls} reached the table",
           stats.hit_rate > 0 and second[0] == 200, 200, None)
    return outcomes


def _poll(read: Callable[[], Any], timeout: float = 10.0) -> tuple[Any, float]:
    """Read until something is there (replication is asynchronous); returns it and the seconds waited."""
    started = time.monotonic()
    while True:
        value = read()
        if value or time.monotonic() - started > timeout:
            return value, time.monotonic() - started
        time.sleep(POLL_SECONDS)


def replica_tour(runtime: LocalRuntime, session: Any, printer: Callable[[str], None]) -> list[Outcome]:
    """Global tables: a write in one region read from another, both ways (local replicator, T14)."""
    from .tokens import user_sub

    assert runtime.local is not None and runtime.gateway is not None
    outcomes: list[Outcome] = []
    home = runtime.local.region
    for logical in sorted(runtime.local.replicas):
        printer(f"     global table {logical}: {', '.join(runtime.regions(logical))}")
    carts, products = runtime.table_name("carts"), runtime.table_name("products")
    replica = next(iter(runtime.local.replicas.get("products", runtime.local.replicas[sorted(runtime.local.replicas)[0]])))

    # 1. through the API (home region), read in the replica region
    response = session.put(runtime.url + "/cart/items/b-004", json={"quantity": 1},
                           headers={"Authorization": runtime.token("alice")}, timeout=30)
    key = {"userId": {"S": user_sub("alice")}, "productId": {"S": "b-004"}}
    replica_ddb = runtime.dynamodb(replica)

    def replicated() -> Any:  # asynchronous (T14): wait for the line as written, not just for any version of it
        found = replica_ddb.get_item(TableName=carts, Key=key).get("Item")
        return found if found and found.get("quantity") == {"N": "1"} else None

    item, waited = _poll(replicated)
    if not item:  # show what the replica holds
        item = replica_ddb.get_item(TableName=carts, Key=key).get("Item")
    ok = response.status_code == 201 and bool(item) and item.get("quantity") == {"N": "1"}
    step = Step(f"alice's cart line written in {home} is read in {replica}", "alice", "PUT", "/cart/items/b-004", 201)
    outcomes.append(Outcome(step, response.status_code, item, ok))
    printer(f"{'ok  ' if ok else 'FAIL'} {response.status_code} PUT    /cart/items/b-004      {step.title} (after {waited:.2f} s)")

    # 2. written in the replica region, served by the API in the home region
    replica_ddb.put_item(TableName=products, Item={
        "productId": {"S": "r-001"}, "category": {"S": "maps"}, "name": {"S": f"Map printed in {replica}"},
        "price": {"N": "7.5"}, "currency": {"S": "EUR"}, "stock": {"N": "4"}})

    def served() -> Any:
        got = session.get(runtime.url + "/products/r-001", headers={"Authorization": runtime.token("bob")}, timeout=30)
        return got.json() if got.status_code == 200 else None

    body, waited = _poll(served)
    ok = bool(body) and body.get("name") == f"Map printed in {replica}"
    step = Step(f"a product written in {replica} is served from {home}", "bob", "GET", "/products/r-001", 200)
    outcomes.append(Outcome(step, 200 if body else 404, body, ok))
    printer(f"{'ok  ' if ok else 'FAIL'} {200 if body else 404} GET    /products/r-001        {step.title} (after {waited:.2f} s)")
    return outcomes
