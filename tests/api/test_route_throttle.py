"""Throttling: the */* default is a limit per method; per-route overrides (apiRouteThrottle) name a
route and become a MethodSettings on that route's method path (GOTCHAS A11, A14)."""

from __future__ import annotations

import pytest

from stacks.api.rules import route_throttle_findings
from stacks.api.spec import method_settings_path
from tests.config.test_config_errors import BASE, only, problems

ROUTES = ["getCart", "putCartItem", "placeOrder"]
KEY = "ddb-blueprint:apiRouteThrottle"


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("PUT", "/cart/items/{productId}", "cart/items/{productId}/PUT"),  # no leading slash, slashes as-is
    ("POST", "/orders", "orders/POST"),
    ("GET", "/orders/{orderId}", "orders/{orderId}/GET"),
])
def test_method_path_is_the_resource_path_without_its_leading_slash_then_the_method(method, path, expected):  # A14
    assert method_settings_path(method, path) == expected


def test_overrides_of_known_routes_have_no_findings():
    assert route_throttle_findings({"putCartItem": {}, "placeOrder": {}}, ROUTES) == []


def test_an_unknown_route_id_is_located_with_a_suggestion():
    [(path, message)] = route_throttle_findings({"putCartItm": {}}, ROUTES)
    assert path == "putCartItm"
    assert message == "no route 'putCartItm' (did you mean 'putCartItem'?); routes: getCart, placeOrder, putCartItem"


def test_without_routes_every_override_is_refused():
    [(_, message)] = route_throttle_findings({"getCart": {}}, [])
    assert message.endswith("routes: none: the stack declares no API routes")


# -- through the loader: located, every mistake at once -------------------------------------------

def test_per_route_overrides_of_direct_and_function_routes_are_valid(scratch):
    config = {**BASE, KEY: {"putCartItem": {"rateLimit": 20, "burstLimit": 40},
                            "placeOrder": {"rateLimit": 5, "burstLimit": 10}}}
    assert problems(scratch, config) == []


def test_a_typo_in_a_route_id_is_one_located_error(scratch):
    found = problems(scratch, {**BASE, KEY: {"putCartItm": {"rateLimit": 20, "burstLimit": 40}}})
    only(found, f"{KEY}.putCartItm", "no route 'putCartItm'", "did you mean 'putCartItem'?")
    assert found[0].line == 4  # config:, aws:region, the key, then the route id


@pytest.mark.parametrize(("limits", "field", "fragment"), [
    ({"rateLimit": 0, "burstLimit": 10}, "rateLimit", "greater than or equal to 1"),
    ({"rateLimit": 10_001, "burstLimit": 10}, "rateLimit", "less than or equal to 10000"),  # A11 account quota
    ({"rateLimit": 10, "burstLimit": 5_001}, "burstLimit", "less than or equal to 5000"),  # A11 account burst
    ({"rateLimit": 10, "burstLimit": -1}, "burstLimit", "greater than or equal to 1"),  # -1 would turn throttling off
    ({"rateLimit": 10}, "burstLimit", "is required"),
    ({"rateLimit": "fast", "burstLimit": 10}, "rateLimit", ""),
    ({"rateLimit": 10, "burstLimit": 10, "burst": 5}, "burst", ""),
])
def test_limits_outside_what_aws_applies_are_located(scratch, limits, field, fragment):  # A11
    found = problems(scratch, {**BASE, KEY: {"getCart": limits}})
    only(found, f"{KEY}.getCart.{field}", fragment)


def test_the_stage_default_has_the_same_ranges(scratch):  # A11
    only(problems(scratch, {**BASE, "ddb-blueprint:apiThrottle": {"rateLimit": 50, "burstLimit": 9_000}}),
         "ddb-blueprint:apiThrottle.burstLimit", "less than or equal to 5000")


def test_unknown_ids_and_bad_limits_are_all_reported(scratch):
    found = problems(scratch, {**BASE, KEY: {"nope": {"rateLimit": 1, "burstLimit": 1},
                                             "getCart": {"rateLimit": 0, "burstLimit": 1}}})
    assert sorted(p.path for p in found) == [f"{KEY}.getCart.rateLimit", f"{KEY}.nope"]
