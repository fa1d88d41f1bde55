"""A short scripted tour of the local runtime: what an app team sees, checked as it goes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

from .runtime import LocalRuntime


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
    for step in steps() + (order_steps() if has_orders else []):
        headers = {"Authorization": runtime.token(step.user)} if step.user else {}
        params = {k: (kept.get(v[1:], "") if isinstance(v, str) and v.startswith("$") else v) for k, v in (step.params or {}).items()}
        deadline = time.time() + 10
        while True:
            response = session.request(step.method, runtime.url + step.path, params=params or None, json=step.body,
                                       headers=headers, timeout=30)
            body = response.json() if response.text.strip() else None
            if step.wait_until is None or time.time() > deadline or (isinstance(body, dict) and step.wait_until(body)):
                break
            time.sleep(0.3)
        ok = response.status_code == step.expected and (step.check is None or (body is not None and step.check(body)))
        if step.keep and isinstance(body, dict) and "nextToken" in body:
            kept[step.keep] = body["nextToken"]
        outcomes.append(Outcome(step, response.status_code, body, ok))
        shown = json.dumps(body, ensure_ascii=False)
        if len(shown) > 90:
            shown = shown[:87] + "..."
        printer(f"{'ok  ' if ok else 'FAIL'} {response.status_code} {step.method:6} {step.path:22} {step.title}  {shown}")
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
