"""The local API fuzzed from its own OpenAPI document with schemathesis: every operation, valid and
invalid inputs generated from the document, every response checked against it (status code,
content type, response schema, no server errors). Document and behaviour cannot drift apart.

schemathesis is a test dependency (pyproject.toml, group test); examples are bounded so this runs in
well under 30 s on the shared machine.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")


EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def document(reference_preview):
    """The OpenAPI document of the preview the local runtime (tests/local/conftest.py) runs."""
    return json.loads((reference_preview("dev").plan_path.parent / "openapi.json").read_text())


def operations(document):
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_of_the_document_is_fuzzed(document):
    names = sorted(f"{op.method.upper()} {op.path}" for op in operations(document))
    assert len(names) == 10 and "POST /orders" in names  # with GET /products/{productId}/sales


def fuzz(rt, document, only=None) -> list[str]:
    failures = []
    for operation in operations(document):
        if only and f"{operation.method.upper()} {operation.path}" != only:
            continue
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            # Signed in as one user (the local runtime accepts its tokens on SigV4 routes too).
            case.headers = {**(case.headers or {}), "Authorization": rt.token("fuzz")}
            case.call_and_validate(base_url=rt.url, timeout=30)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, not just the first
            # a group (hypothesis's "unreliable results") names its causes only inside: show them
            causes = "".join(f"\n  - {type(e).__name__}: {e}" for e in getattr(exc, "exceptions", ()))
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}{causes}")
    return failures


def test_local_api_conforms_to_its_openapi_document(runtime, document):
    failures = fuzz(runtime, document)
    assert not failures, "\n\n".join(failures)


def test_the_fuzzer_catches_a_document_that_lies(runtime, document):
    rt = runtime
    lying = json.loads(json.dumps(document))
    lying["components"]["schemas"]["Error"]["properties"]["message"] = {"type": "integer"}  # every error says otherwise
    [failure] = fuzz(rt, lying, only="GET /products/{productId}")
    assert "does not conform" in failure.lower() or "schema" in failure.lower(), failure
