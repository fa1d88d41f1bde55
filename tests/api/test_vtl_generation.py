"""Template generation (pure): ranges, tokens, escaping in every generated template.

Patterns are checked with re.fullmatch: VTL templates call Java's String.matches, a whole-string match."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stacks.config.loader import load_config
from stacks.config.sources import cli_config, read_project, read_stack
from stacks.api.vtl import ESCAPED_QUOTE_FIX, int_range_regex, route_templates, token_attributes, token_regex

REPO = Path(__file__).resolve().parents[2]


def config():
    project = read_project(REPO)
    stack = read_stack(REPO, "dev")
    return load_config(cli_config(project, stack), project, "dev", stack)


@given(st.integers(1, 2000), st.integers(-10, 3000))
def test_int_range_regex_matches_exactly_the_range(high, n):
    pattern = int_range_regex(1, high)
    assert bool(re.fullmatch(pattern, str(n))) == (1 <= n <= high)


def test_int_range_regex_refuses_leading_zeros_signs_and_spaces():
    pattern = int_range_regex(1, 100)
    for text in ("01", "+5", " 5", "5 ", "1e2", "", "100.0"):
        assert not re.fullmatch(pattern, text), text


def test_token_regex_needs_exactly_the_declared_number_of_non_empty_base64_parts():  # A4
    assert re.fullmatch(token_regex(2), "YQ==.Yg==")
    for bad in ("YQ==", "YQ==.Yg==.Yw==", "YQ==.", ".Yg==", "YQ.Yg==", "YQ==.Yg==\n", "Y Q==.Yg=="):
        assert not re.fullmatch(token_regex(2), bad), bad


def test_tokens_never_carry_the_queried_partition():  # A4
    cfg = config()
    products = cfg.tables["products"]
    assert token_attributes(cfg.api.routes["listProducts"], products) == [("name", "S"), ("productId", "S")]
    assert token_attributes(cfg.api.routes["getCart"], cfg.tables["carts"]) == [("productId", "S")]


def test_every_user_value_in_every_template_is_escaped():  # A3
    cfg = config()
    for route_id, route in cfg.api.routes.items():
        t = route_templates(route_id, route, cfg.tables[route.table], f"t-{route.table}")
        for text in (t.request, t.success, t.client_error):
            for line in text.splitlines():
                if line.startswith("#") or '"S": "' not in line:
                    continue
                for value in re.findall(r'"S": "([^"]*(?:"[^"]*)*?)"\}', line):
                    assert value.startswith("$util.escapeJavaScript(") and value.endswith(ESCAPED_QUOTE_FIX), (route_id, line)


def test_partition_keys_of_user_routes_come_from_the_authenticated_identity():  # A9
    cfg = config()
    cart = route_templates("getCart", cfg.api.routes["getCart"], cfg.tables["carts"], "t")
    assert "#set($callerId = $context.authorizer.claims.sub)" in cart.request
    assert '":k0": {"S": "$util.escapeJavaScript($callerId)' in cart.request
    orders = route_templates("listOrders", cfg.api.routes["listOrders"], cfg.tables["orders"], "t")
    assert "cognitoAuthenticationProvider" in orders.request and "claims" not in orders.request


def test_invalid_input_becomes_a_request_dynamodb_refuses():
    cfg = config()
    t = route_templates("listProducts", cfg.api.routes["listProducts"], cfg.tables["products"], "t-products")
    assert '#if($invalid)\n{"TableName": "t-products", "Limit": 0}' in t.request


def test_no_response_template_reads_request_parameters():  # A10: undocumented in response templates
    cfg = config()
    for route_id, route in cfg.api.routes.items():
        templates = route_templates(route_id, route, cfg.tables[route.table], f"t-{route.table}")
        for text in (templates.success, templates.client_error, templates.server_error):
            assert "$input.params" not in text and "$!input.params" not in text, route_id
        assert "$input.params" in templates.request or not (route.key and any(
            s.startswith(("path.", "query.")) for s in route.key.values())), route_id
