"""Whatever a client sends, the local gateway answers like API Gateway, in JSON, and keeps serving
(GOTCHAS A15: no route is 403 MISSING_AUTHENTICATION_TOKEN; A16: URL, header and payload limits).

Requests are written byte by byte on raw sockets: HTTP libraries refuse to send most of these.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.local.gateway import MAX_BODY_BYTES, MAX_URL_CHARACTERS
from stacks.local.tokens import user_sub

# What API Gateway itself or this API's integrations answer (the OpenAPI document's statuses, the
# gateway responses of the plan, 413/414/431 for oversized requests). Never 500/502: nothing a
# client sends is a server error.
API_GATEWAY_STATUSES = {200, 201, 204, 400, 401, 403, 404, 409, 413, 414, 415, 429, 431}


@pytest.fixture(scope="module")
def missing_route_body(runtime):
    """The plan's MISSING_AUTHENTICATION_TOKEN gateway response body."""
    return json.loads(runtime.gateway.api.gateway_responses["MISSING_AUTHENTICATION_TOKEN"].template)


class Answer:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def json(self):
        assert self.headers.get("content-type") == "application/json", self.headers
        assert int(self.headers["content-length"]) == len(self.body)
        return json.loads(self.body)


def send(runtime, data: bytes, timeout: float = 30) -> Answer:
    """Write `data`, read the answer until the server closes (HTTP/1.0: one request a connection)."""
    url = urlsplit(runtime.url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: the answer is still there
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert raw, "the connection was dropped without an answer"
    return Answer(raw)


def request(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def authorized(runtime, user: str = "alice") -> dict[str, str]:
    return {"Authorization": runtime.token(user), "Content-Type": "application/json"}


def still_serves(runtime) -> None:
    answer = send(runtime, request("GET", "/v1/products/b-001", authorized(runtime)))
    assert answer.status == 200 and answer.json()["productId"] == "b-001"


def cart_rows(runtime, user: str) -> list[dict]:
    return runtime.dynamodb().query(TableName=runtime.table_name("carts"), KeyConditionExpression="userId = :u",
                                    ExpressionAttributeValues={":u": {"S": user_sub(user)}})["Items"]


# -- methods without a route --------------------------------------------------------------------

@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "FOO", "CONNECT", "PROPFIND", "get", "M-SEARCH"])
def test_a_method_without_a_route_is_api_gateways_json_403(runtime, missing_route_body, method):  # A15
    answer = send(runtime, request(method, "/v1/products", authorized(runtime)))
    assert answer.status == 403 and answer.json() == missing_route_body
    still_serves(runtime)


def test_head_is_the_json_403_without_a_body(runtime):  # A15
    answer = send(runtime, request("HEAD", "/v1/products/b-001", authorized(runtime)))
    assert answer.status == 403
    assert answer.headers["content-type"] == "application/json" and answer.body == b""
    assert int(answer.headers["content-length"]) > 0  # the length the GET-less answer would have
    still_serves(runtime)


@pytest.mark.parametrize("target", ["/", "/v1", "/v2/products", "/v1/nothing/here", "*", "/v1/products/../cart"])
def test_paths_without_a_route_are_the_json_403(runtime, missing_route_body, target):  # A15
    answer = send(runtime, request("GET", target, authorized(runtime)))
    assert answer.status == 403 and answer.json() == missing_route_body


# -- bodies no backend can take -----------------------------------------------------------------

@pytest.mark.parametrize("depth", [50, 900, 5_000, 200_000])
@pytest.mark.parametrize("route", [("PUT", "/v1/cart/items/b-001"), ("POST", "/v1/orders"),
                                   ("GET", "/v1/cart"), ("DELETE", "/v1/cart/items/b-002")])
def test_a_deeply_nested_body_is_a_json_400_on_every_route(runtime, route, depth):
    method, path = route
    body = ('{"quantity": ' + "[" * depth + "1" + "]" * depth + "}").encode()
    answer = send(runtime, request(method, path, authorized(runtime, "deep"), body))
    # Routes without a body model never read the body (API Gateway ignores it there too).
    assert answer.status in ({400} if method in ("PUT", "POST") or depth > 900 else {200, 204, 400, 404}), answer.body
    answer.json()
    assert cart_rows(runtime, "deep") == []
    still_serves(runtime)


@pytest.mark.parametrize("text", ["\\ud800", "a\\udfffb", "\\ud83d", "\\ude00\\ud83d"])
def test_a_lone_surrogate_is_a_json_400_and_stores_nothing(runtime, text):
    body = ('{"quantity": 1, "note": "' + text + '"}').encode()
    answer = send(runtime, request("PUT", "/v1/cart/items/b-001", authorized(runtime, "surrogate"), body))
    assert answer.status == 400 and "message" in answer.json()
    key = ('{"quantity": 1, "' + text + '": 1}').encode()
    assert send(runtime, request("POST", "/v1/orders", authorized(runtime, "surrogate"), key)).status == 400
    assert cart_rows(runtime, "surrogate") == []
    still_serves(runtime)


def test_a_surrogate_pair_is_an_ordinary_character(runtime):
    body = b'{"quantity": 1, "note": "\\ud83d\\ude00"}'
    answer = send(runtime, request("PUT", "/v1/cart/items/b-003", authorized(runtime, "emoji"), body))
    assert answer.status in (200, 201), answer.body
    assert cart_rows(runtime, "emoji")[0]["note"]["S"] == "\U0001F600"


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b'{"quantity": 1, "note": "\xed\xa0\x80"}'])
def test_bytes_that_are_not_utf8_are_a_json_400(runtime, raw):
    answer = send(runtime, request("PUT", "/v1/cart/items/b-004", authorized(runtime, "bytes"), raw))
    assert answer.status == 400 and answer.json()
    still_serves(runtime)


# -- oversized requests -------------------------------------------------------------------------

@pytest.mark.parametrize("length", [MAX_URL_CHARACTERS + 1, 20_000, 70_000])
def test_an_over_long_url_is_a_json_414(runtime, length):  # A16
    target = "/v1/products/" + "x" * (length - len("/v1/products/"))
    answer = send(runtime, request("GET", target, authorized(runtime)))
    assert answer.status == 414 and answer.json() == {"message": "Request-URI Too Long"}
    still_serves(runtime)


def test_a_url_at_the_limit_is_served(runtime):  # A16
    target = "/v1/products/b-001?pad=" + "x" * (MAX_URL_CHARACTERS - len("/v1/products/b-001?pad="))
    assert len(target) == MAX_URL_CHARACTERS  # locally the URL is the path and query (no scheme, no host)
    assert send(runtime, request("GET", target, authorized(runtime))).status == 200


@pytest.mark.parametrize("headers", [
    {"X-Big": "x" * 11_000},  # header values over 10,240 bytes together
    {f"X-Part{i}": "x" * 1_100 for i in range(10)},
    {"X-Huge": "x" * 70_000},  # one header line over http.server's 64 KiB
    {f"X-H{i}": "1" for i in range(120)},  # more headers than http.server reads
])
def test_oversized_headers_are_a_json_431(runtime, headers):  # A16
    answer = send(runtime, request("GET", "/v1/products/b-001", {**authorized(runtime), **headers}))
    assert answer.status == 431 and answer.json() == {"message": "Request Header Fields Too Large"}
    still_serves(runtime)


def test_a_body_over_10_mb_is_a_json_413_without_reading_it(runtime):  # A16
    head = request("PUT", "/v1/cart/items/b-001", {**authorized(runtime), "Content-Length": str(MAX_BODY_BYTES + 1)})
    answer = send(runtime, head)  # the body is never sent: the answer must not wait for it
    assert answer.status == 413 and answer.json() == {"message": "Request Entity Too Large"}
    still_serves(runtime)


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "0x10", "  "])
def test_a_content_length_that_is_no_number_is_a_json_400(runtime, value):
    answer = send(runtime, request("PUT", "/v1/cart/items/b-001", {**authorized(runtime), "Content-Length": value}))
    assert answer.status in (400,) if value.strip() else answer.status in (400, 200, 201)
    answer.json()
    still_serves(runtime)


def test_a_body_shorter_than_its_content_length_is_a_json_400(runtime):
    data = request("PUT", "/v1/cart/items/b-001", {**authorized(runtime), "Content-Length": "100"}) + b'{"quantity": 1}'
    url = urlsplit(runtime.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # the client says it is done: the body is short
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    answer = Answer(raw)
    assert answer.status == 400 and answer.json()
    still_serves(runtime)


def test_a_chunked_body_is_read_and_served(runtime):
    body = b'{"quantity": 2}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    data = request("PUT", "/v1/cart/items/b-005", {**authorized(runtime, "chunky"), "Transfer-Encoding": "chunked"}) + chunked
    answer = send(runtime, data)
    assert answer.status in (200, 201), answer.body
    assert cart_rows(runtime, "chunky")[0]["quantity"]["N"] == "2"


@pytest.mark.parametrize("chunked", [b"zz\r\nab\r\n0\r\n\r\n", b"%x\r\n" % (MAX_BODY_BYTES + 1)])
def test_a_malformed_or_oversized_chunked_body_is_a_json_error(runtime, chunked):
    data = request("PUT", "/v1/cart/items/b-005", {**authorized(runtime), "Transfer-Encoding": "chunked"}) + chunked
    answer = send(runtime, data)
    assert answer.status in (400, 413) and answer.json()
    still_serves(runtime)


# -- malformed HTTP -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/products HTTP/2.0\r\n\r\n",
    b"GET /v1/products HTTP/x.y\r\n\r\n",
    b"GET /v1/products HTTP/1.1 extra\r\n\r\n",
    b"\r\n\r\nGET\r\n\r\n",
    b"GET /v1/products HTTP/1.1\r\nBad Header Line\r\n\r\n",
])
def test_malformed_http_is_a_json_400(runtime, raw):
    answer = send(runtime, raw)
    # 401/403: the request line parsed (a header line without a colon is skipped), no token or no route.
    assert answer.status in (400, 401, 403), answer.status_line
    answer.json()
    still_serves(runtime)


# -- anything at all ------------------------------------------------------------------------------

METHODS = st.one_of(st.sampled_from(["GET", "PUT", "PATCH", "POST", "DELETE", "HEAD", "OPTIONS", "TRACE", "ANY"]),
                    st.from_regex(r"\A[A-Za-z!#$%&'*+.^_`|~-]{1,12}\Z"))
PATHS = st.one_of(
    st.sampled_from(["/v1/products", "/v1/products/b-001", "/v1/cart", "/v1/cart/items/b-001", "/v1/orders",
                     "/v1/orders/x"]),
    st.builds(lambda parts: "/v1/" + "/".join(quote(p, safe="") for p in parts), st.lists(st.text(max_size=20), max_size=4)),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=60).map(lambda t: "/" + t),
)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)
BODIES = st.one_of(st.just(b""), st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                   st.fixed_dictionaries({"quantity": st.integers(-5, 200)}, optional={"note": st.text(max_size=30)})
                   .map(lambda v: json.dumps(v).encode()))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=PATHS, body=BODIES, signed=st.booleans(),
       content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", None]))
def test_any_request_gets_json_and_a_status_api_gateway_sends_and_the_server_keeps_serving(
        runtime, method, path, body, signed, content_type):
    headers = {"Authorization": runtime.token("fuzz")} if signed else {}
    if content_type:
        headers["Content-Type"] = content_type
    answer = send(runtime, request(method, path, headers, body))
    assert answer.status in API_GATEWAY_STATUSES, (answer.status, answer.body)
    assert answer.headers.get("content-type") == "application/json"
    if method != "HEAD" and answer.status != 204:
        answer.json()
    else:
        assert answer.body == b""
    still_serves(runtime)


# -- the gateway's own guarantees ----------------------------------------------------------------

def test_an_unexpected_local_failure_is_a_json_500_and_the_next_request_is_served(runtime):
    def broken(action, body):
        raise RuntimeError("moto went away")

    original = runtime.gateway.dynamodb
    runtime.gateway.dynamodb = broken
    try:
        answer = send(runtime, request("GET", "/v1/products/b-001", authorized(runtime)))
    finally:
        runtime.gateway.dynamodb = original
    assert answer.status == 500 and answer.json()["message"] == "Internal server error"
    still_serves(runtime)


@pytest.mark.parametrize(("body", "unusable"), [
    ('{"a": "\\ud800"}', True),
    ('{"\\udc00": 1}', True),
    ('["ok", ["\\udbff"]]', True),
    ("[" * 100_000 + "]" * 100_000, True),
    ("caf\udce9", True),  # the byte 0xE9 alone, kept by the HTTP layer as a lone surrogate
    ('{"a": "\\ud83d\\ude00"}', False),
    ('{"a": [[[[1]]]]}', False),
    ("not json", False),  # validation and templates answer it (400 from the validator or the template)
    ("", False),
])
def test_unusable_bodies_are_those_no_utf8_backend_can_take(body, unusable):
    from stacks.local.gateway import unusable_json

    assert unusable_json(body) is unusable


def test_the_gateway_itself_refuses_an_oversized_body_and_url_whatever_the_transport(runtime):  # A16
    from stacks.local.gateway import HttpRequest

    big = runtime.gateway.handle(HttpRequest("PUT", "/v1/cart/items/b-001", authorized(runtime), "x" * (MAX_BODY_BYTES + 1)))
    assert (big.status, big.json()) == (413, {"message": "Request Entity Too Large"})
    long = runtime.gateway.handle(HttpRequest("GET", "/v1/" + "x" * MAX_URL_CHARACTERS, authorized(runtime)))
    assert (long.status, long.json()) == (414, {"message": "Request-URI Too Long"})


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff, exclude_characters="\x7f"), max_size=300)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=st.one_of(HEADER_TEXT, st.sampled_from(["Bearer x", "eyJ.eyJ.sig", "a.b.c", "...", "=="])),
       content_type=HEADER_TEXT, query=st.text(max_size=100),
       route=st.sampled_from([("GET", "/v1/products/b-001"), ("GET", "/v1/products"), ("PUT", "/v1/cart/items/b-009"),
                              ("GET", "/v1/orders"), ("POST", "/v1/orders")]))
def test_any_credentials_content_type_or_query_get_json_and_the_server_keeps_serving(
        runtime, authorization, content_type, query, route):
    method, path = route
    target = path + "?" + quote(query, safe="=&")
    headers = {"Authorization": authorization.strip() or "x", "Content-Type": content_type.strip() or "x"}
    answer = send(runtime, request(method, target, headers, b'{"quantity": 1}' if method != "GET" else b""))
    assert answer.status in API_GATEWAY_STATUSES - {200, 201, 204}, (answer.status, answer.body)  # never authorized
    answer.json()
    still_serves(runtime)
