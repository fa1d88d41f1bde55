"""The API end to end on the local runtime, with `requests`, as app teams use it (GOTCHAS A3-A5, A9)."""

from __future__ import annotations

import base64

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.local.tokens import user_sub


def call(runtime, http, user, method, path, **kwargs):
    headers = {"Authorization": runtime.token(user)} if user else {}
    return http.request(method, runtime.url + path, headers=headers, timeout=30, **kwargs)


def cart_rows(runtime, user):
    result = runtime.dynamodb().query(TableName=runtime.table_name("carts"), KeyConditionExpression="userId = :u",
                                      ExpressionAttributeValues={":u": {"S": user_sub(user)}})
    return {i["productId"]["S"]: i for i in result["Items"]}


def all_rows(runtime):
    return runtime.dynamodb().scan(TableName=runtime.table_name("carts"))["Items"]


# -- success paths ----------------------------------------------------------------------------

def test_get_product_strips_type_descriptors(runtime, http):
    r = call(runtime, http, "alice", "GET", "/products/b-007")
    assert r.status_code == 200
    assert r.json() == {"productId": "b-007", "name": "Books volume 007", "category": "books", "price": 16.9,
                        "currency": "EUR", "stock": 5, "description": "Sample books item 7 (local data)"}


def test_list_products_pages_through_the_whole_category_exactly_once(runtime, http):  # A4
    seen, token, pages = [], None, 0
    while True:
        params = {"category": "books", "limit": "7", **({"nextToken": token} if token else {})}
        body = call(runtime, http, "alice", "GET", "/products", params=params).json()
        seen += [p["productId"] for p in body["items"]]
        pages += 1
        token = body.get("nextToken")
        if not token:
            break
    assert seen == [f"b-{i:03d}" for i in range(1, 26)] and pages == 4


def test_limit_defaults_and_is_bounded(runtime, http):
    assert len(call(runtime, http, "alice", "GET", "/products", params={"category": "books"}).json()["items"]) == 20
    for bad in ("0", "101", "-1", "1.5", "ten", "1e2", "٣"):
        r = call(runtime, http, "alice", "GET", "/products", params={"category": "books", "limit": bad})
        assert r.status_code == 400 and "limit" in r.json()["message"], bad


def test_missing_required_query_parameter_is_400(runtime, http):
    assert call(runtime, http, "alice", "GET", "/products").status_code == 400


def test_cart_lifecycle(runtime, http):
    assert call(runtime, http, "carol", "PUT", "/cart/items/b-003", json={"quantity": 2}).status_code == 201
    r = call(runtime, http, "carol", "PATCH", "/cart/items/b-003", json={"delta": 3})
    assert r.status_code == 200 and r.json()["quantity"] == 5
    assert call(runtime, http, "carol", "GET", "/cart").json()["items"][0]["quantity"] == 5
    assert call(runtime, http, "carol", "DELETE", "/cart/items/b-003").status_code == 204
    assert call(runtime, http, "carol", "GET", "/cart").json() == {"items": []}


def test_cart_pagination_stays_in_the_callers_partition(runtime, http):
    for i in range(5):
        call(runtime, http, "dave", "PUT", f"/cart/items/g-{i}", json={"quantity": 1})
    first = call(runtime, http, "dave", "GET", "/cart", params={"limit": "2"}).json()
    second = call(runtime, http, "dave", "GET", "/cart", params={"limit": "2", "nextToken": first["nextToken"]}).json()
    assert [i["productId"] for i in first["items"] + second["items"]] == ["g-0", "g-1", "g-2", "g-3"]
    # Dave's token in Erin's hands positions Erin in her own (empty) cart.
    assert call(runtime, http, "erin", "GET", "/cart", params={"nextToken": first["nextToken"]}).json() == {"items": []}


# -- errors -----------------------------------------------------------------------------------

def test_conflicts_and_missing_items(runtime, http):
    assert call(runtime, http, "frank", "PUT", "/cart/items/b-001", json={"quantity": 1}).status_code == 201
    assert call(runtime, http, "frank", "PUT", "/cart/items/b-001", json={"quantity": 1}).status_code == 409
    assert call(runtime, http, "frank", "PATCH", "/cart/items/b-001", json={"delta": -1}).status_code == 409
    assert call(runtime, http, "frank", "PATCH", "/cart/items/nothing", json={"delta": 1}).status_code == 404
    assert call(runtime, http, "frank", "DELETE", "/cart/items/nothing").status_code == 404
    assert call(runtime, http, "frank", "GET", "/products/nothing").status_code == 404
    assert cart_rows(runtime, "frank")["b-001"]["quantity"]["N"] == "1"


@pytest.mark.parametrize("body", [{}, {"quantity": 0}, {"quantity": 100}, {"quantity": "2"}, {"quantity": 1.5},
                                  {"quantity": 1, "extra": True}, {"quantity": 1, "note": "x" * 201}, [1]])
def test_invalid_bodies_are_400_and_store_nothing(runtime, http, body):
    r = call(runtime, http, "gina", "PUT", "/cart/items/b-002", json=body)
    assert r.status_code == 400 and "schema" in r.json()["message"]
    assert cart_rows(runtime, "gina") == {}


def test_unauthenticated_and_unknown_routes(runtime, http):
    assert call(runtime, http, None, "GET", "/cart").status_code == 401
    r = http.get(runtime.url + "/cart", headers={"Authorization": "not-a-token"}, timeout=30)
    assert r.status_code == 401
    assert call(runtime, http, "alice", "GET", "/admin").status_code == 403
    assert call(runtime, http, None, "GET", "/orders").status_code == 403  # unsigned iam route


@pytest.mark.parametrize("token", ["abc", "YWxpY2U=.Yg==.Yw==", "!!!!", "YWJj." * 2, "e30=", "eyJ1c2VySWQiOiJib2IifQ=="])
def test_crafted_next_tokens_are_refused_or_harmless(runtime, http, token):  # A4
    r = call(runtime, http, "henry", "GET", "/products", params={"category": "books", "nextToken": token})
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert all(p["category"] == "books" for p in r.json()["items"])


# -- isolation --------------------------------------------------------------------------------

INJECTIONS = ['"},"userId":{"S":"B', "x\\\"", "a'b", "\\u0000", "ünïcødé 日本 😀", "</script>", "${jndi:x}", "#set($a=1)"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_json_breaking_values_are_stored_verbatim_in_the_callers_partition_only(runtime, http, value):  # A3
    before = {(r["userId"]["S"], r["productId"]["S"]) for r in all_rows(runtime)}
    product = "p" + str(abs(hash(value)) % 10_000)
    r = call(runtime, http, "ivan", "PUT", f"/cart/items/{product}", json={"quantity": 1, "note": value})
    assert r.status_code == 201
    assert cart_rows(runtime, "ivan")[product]["note"]["S"] == value
    after = {(r["userId"]["S"], r["productId"]["S"]) for r in all_rows(runtime)}
    assert after - before == {(user_sub("ivan"), product)}


@pytest.mark.parametrize("product", ['x"},"userId":{"S":"' + user_sub("alice"), "b-001\\", "%2F..%2F", "日本"])
def test_json_breaking_path_parameters_cannot_address_another_partition(runtime, http, product):
    call(runtime, http, "alice", "PUT", "/cart/items/victim", json={"quantity": 1})
    r = call(runtime, http, "mallory", "DELETE", f"/cart/items/{product}")
    assert r.status_code == 404
    assert "victim" in cart_rows(runtime, "alice")


def test_user_a_can_neither_read_nor_change_user_b_rows_through_any_route(runtime, http):  # A9
    call(runtime, http, "bob", "PUT", "/cart/items/b-005", json={"quantity": 4, "note": "bob's"})
    bob_before = cart_rows(runtime, "bob")
    assert not [i for i in call(runtime, http, "alice", "GET", "/cart").json()["items"] if i.get("note") == "bob's"]
    assert call(runtime, http, "alice", "PATCH", "/cart/items/b-005", json={"delta": 5}).status_code == 404
    assert call(runtime, http, "alice", "DELETE", "/cart/items/b-005").status_code == 404
    assert call(runtime, http, "alice", "PUT", "/cart/items/b-005", json={"quantity": 9}).status_code in (201, 409)
    assert cart_rows(runtime, "bob") == bob_before


def test_oversized_input_is_refused(runtime, http):
    long_id = "x" * 3000  # beyond DynamoDB's 2048-byte partition/sort key limit
    assert call(runtime, http, "judy", "PUT", f"/cart/items/{long_id}", json={"quantity": 1}).status_code == 400
    assert call(runtime, http, "judy", "GET", "/products", params={"category": "books", "nextToken": "A" * 5000}).status_code == 400
    assert cart_rows(runtime, "judy") == {}


# -- orders: iam routes, isolation enforced by DynamoDB's own authorization ---------------------

def put_order(runtime, user, order_id):
    runtime.dynamodb().put_item(TableName=runtime.table_name("orders"), Item={
        "userId": {"S": user_sub(user)}, "orderId": {"S": order_id}, "status": {"S": "PLACED"},
        "total": {"N": "21.80"}, "currency": {"S": "EUR"}, "createdAt": {"S": "2026-11-22T10:00:00Z"},
        "paymentToken": {"S": "tok_secret"},
        "items": {"L": [{"M": {"productId": {"S": "b-001"}, "quantity": {"N": "2"}, "price": {"N": "10.90"}}}]},
    })


def test_orders_show_only_allowed_attributes_of_the_callers_own_orders(runtime, http):  # I5
    put_order(runtime, "kate", "2026-11-22T10:00:00Z#k1")
    put_order(runtime, "leo", "2026-11-22T11:00:00Z#l1")
    listed = call(runtime, http, "kate", "GET", "/orders").json()["items"]
    assert listed == [{"orderId": "2026-11-22T10:00:00Z#k1", "status": "PLACED", "total": 21.8, "currency": "EUR",
                       "createdAt": "2026-11-22T10:00:00Z"}]
    one = call(runtime, http, "kate", "GET", "/orders/2026-11-22T10:00:00Z%23k1").json()
    assert one["items"] == [{"productId": "b-001", "quantity": 2, "price": 10.9}] and "paymentToken" not in one
    assert call(runtime, http, "kate", "GET", "/orders/2026-11-22T11:00:00Z%23l1").status_code == 404


# -- property: any string round-trips exactly and touches no other row ----------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.text(max_size=200), product=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"),
                                                   min_size=1, max_size=40).filter(lambda s: s.strip() == s and s not in (".", "..")))
def test_any_text_round_trips_exactly_and_changes_no_other_row(runtime, http, note, product):
    from urllib.parse import quote

    before = {(r["userId"]["S"], r["productId"]["S"]): r for r in all_rows(runtime)}
    path = f"/cart/items/{quote(product, safe='')}"
    call(runtime, http, "quinn", "DELETE", path)
    r = call(runtime, http, "quinn", "PUT", path, json={"quantity": 3, "note": note})
    assert r.status_code == 201, r.text
    created = r.json()  # the line as stored (ReturnValues ALL_NEW), not echoed from the request (A10)
    assert (created["productId"], created["quantity"], created["note"]) == (product, 3, note or None)
    listed = {i["productId"]: i for i in call(runtime, http, "quinn", "GET", "/cart", params={"limit": "100"}).json()["items"]}
    stored = cart_rows(runtime, "quinn")[product]
    if note == "":  # an empty optional field is no field: nothing stored, null returned
        assert "note" not in stored and listed[product]["note"] is None
    else:
        assert stored["note"]["S"] == note and listed[product]["note"] == note
    assert stored["quantity"]["N"] == "3"
    after = {(r["userId"]["S"], r["productId"]["S"]): r for r in all_rows(runtime)}
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= {(user_sub("quinn"), product)}


@pytest.mark.parametrize("path, params, reason", [
    ("/orders", {"limit": "0"}, "limit"), ("/orders", {"limit": "abc"}, "limit"), ("/orders", {"limit": "51"}, "limit"),
    ("/orders", {"nextToken": "!!!"}, "nextToken"), ("/orders", {"nextToken": "A" * 5000}, "nextToken"),
    ("/cart", {"limit": "0"}, "limit"), ("/cart", {"nextToken": "!!!"}, "nextToken"),
])
def test_invalid_paging_is_400_with_its_reason_on_caller_credential_and_cognito_routes(runtime, http, path, params, reason):
    # Caller-credential routes keep the caller's key in the request DynamoDB refuses: DynamoDB
    # authorizes it (LeadingKeys) and then refuses it as invalid, as on the Cognito routes.
    r = call(runtime, http, "lena", "GET", path, params=params)
    assert r.status_code == 400, (r.status_code, r.text)
    assert reason in r.json()["message"]
