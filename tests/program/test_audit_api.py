"""The review's API section (issue 13, item 5): per route auth, credentials, action, isolation
guarantee and measured evidence, plus CORS, WAF, throttling and logging; a template that ignores
the caller's identity fails the evidence and the audit."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from stacks.config.loader import load_for_stack
from stacks.config.sources import cli_config, read_project, read_stack
from stacks.local.tokens import user_sub
from stacks.offline.api_review import OWNER, isolation_evidence

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod(reference_audit, tmp_path_factory):
    result = reference_audit("prod")
    out = tmp_path_factory.mktemp("build")  # this module's own evidence runs write here
    config = load_for_stack(REPO, "prod", cli_config(read_project(REPO, "prod"), read_stack(REPO, "prod")))
    return result, config, out


def api_section(result) -> str:
    text = result.markdown_path.read_text()
    return text[text.index("## API"): text.index("## Every policy in this stack")]


def test_every_route_is_in_the_api_section_with_auth_credentials_and_action(prod):
    result, config, _ = prod
    section = api_section(result)
    for route in config.api.routes.values():
        assert f"| `{route.method} {route.path}` |" in section
    assert "| `POST /orders` | Cognito" in section
    assert "the caller's own identity-pool credentials (role `ddb-blueprint-prod-shopper`)" in section  # iam routes
    assert "the integration role `ddb-blueprint-prod-apiIntegration`" in section
    # prod reads the catalogue through DAX readers (function routes) over shared data
    assert "| `GET /products` | Cognito user-pool authorizer (ID token) | the function `listProductsViaDax`" in section
    assert "no user-owned rows" in section


def test_every_user_owned_route_has_passing_isolation_evidence(prod):
    result, config, _ = prod
    section = api_section(result)
    owned = [r for r in config.api.routes.values() if "identity" in r.key.values()]
    assert len(owned) == 6  # cart (4) and orders (2)
    for route in owned:
        row = next(line for line in section.splitlines() if line.startswith(f"| `{route.method} {route.path}` |"))
        assert "| PASS: " in row, row
    assert result.isolation_failures == 0


def test_stage_protections_are_reported(prod):
    section = api_section(prod[0])
    assert "- CORS: off" in section
    assert "- WAF: **none**" in section
    assert "- Throttling: 50 requests/s, burst 100" in section
    assert "execution logs `ERROR`, data traces off" in section and "X-Ray on" in section


def test_a_template_that_ignores_the_callers_identity_fails_the_evidence(prod):
    # GIVEN the getCart template rewritten to read alice's partition for everyone
    result, config, out = prod
    plan = copy.deepcopy(result.preview.plan)
    integration = next(r for r in plan["resources"] if r["name"] == "api-getCart-integration")
    template = integration["inputs"]["requestTemplates"]["application/json"]
    integration["inputs"]["requestTemplates"]["application/json"] = template.replace(
        "#set($callerId = $context.authorizer.claims.sub)", f"#set($callerId = \"{user_sub(OWNER)}\")")
    assert integration["inputs"]["requestTemplates"]["application/json"] != template
    # WHEN the evidence is measured THEN getCart fails (mallory sees alice's cart), the others still pass
    evidence = isolation_evidence(config, plan, out)
    assert not evidence["getCart"].ok
    assert all(e.ok for route_id, e in evidence.items() if route_id != "getCart")


def test_the_review_says_why_each_service_trust_has_its_conditions(prod):
    text = prod[0].markdown_path.read_text()
    assert "Confused-deputy conditions for `lambda.amazonaws.com`: `aws:SourceAccount` = this account" in text
    assert "Confused-deputy conditions for `apigateway.amazonaws.com`: none: AWS documents no" in text
