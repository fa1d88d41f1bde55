"""The source ARN of a function route's Lambda permission names its stage (GOTCHAS A12)."""

from __future__ import annotations

import pytest

from policies.guardrails.functions import execute_api_wildcard
from stacks.api.spec import invoke_source_arn

# The shape of Stage.execution_arn, from the pulumi_aws docstring.
STAGE_ARN = "arn:aws:execute-api:eu-west-2:123456789012:z4675bid1j/v1"


def test_source_arn_is_the_stage_method_and_path():  # A12
    assert invoke_source_arn(STAGE_ARN, "POST", "/orders") == "arn:aws:execute-api:eu-west-2:123456789012:z4675bid1j/v1/POST/orders"


def test_path_parameters_match_any_value_within_the_stage():
    arn = invoke_source_arn(STAGE_ARN, "PUT", "/cart/items/{productId}")
    assert arn == "arn:aws:execute-api:eu-west-2:123456789012:z4675bid1j/v1/PUT/cart/items/*"


@pytest.mark.parametrize(("method", "path"), [("POST", "/orders"), ("GET", "/a/{b}/c/{d}"), ("DELETE", "/x")])
def test_what_the_program_builds_passes_the_guardrail(method: str, path: str):
    assert execute_api_wildcard(invoke_source_arn(STAGE_ARN, method, path)) is None
    assert execute_api_wildcard(invoke_source_arn(STAGE_ARN.replace("/v1", "/*"), method, path)) == 'the stage is "*", a wildcard'
