"""With CORS configured, OPTIONS is the preflight MOCK route: API Gateway's static Access-Control-*
headers, no authorization; other methods keep the JSON 403 (GOTCHAS A15)."""

from __future__ import annotations

import pytest

from stacks.local.runtime import LocalRuntime
from tests.conftest import ScratchProject

ORIGIN = "https://shop.example.com"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    project = ScratchProject(tmp_path_factory.mktemp("cors"))
    project.write_stack("web", {"aws:region": "us-east-1", "ddb-blueprint:apiCorsOrigins": [ORIGIN]})
    with LocalRuntime(project.root, "web", project.root / "build") as rt:
        yield rt


def test_preflight_answers_with_the_plans_cors_headers_and_needs_no_token(runtime, http):
    r = http.options(runtime.url + "/cart/items/b-001", headers={"Origin": ORIGIN}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json" and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Allow-Methods"] == "DELETE,OPTIONS,PATCH,PUT"
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert r.headers["Access-Control-Max-Age"] == "600"


def test_errors_carry_the_origin_too(runtime, http):
    r = http.request("TRACE", runtime.url + "/cart", timeout=30)
    assert r.status_code == 403 and r.json()["message"]
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_preflight_of_a_path_without_routes_is_the_json_403(runtime, http):
    r = http.options(runtime.url + "/nothing", timeout=30)
    assert r.status_code == 403 and r.json()["message"]
