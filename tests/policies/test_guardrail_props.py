"""get_prop tells KNOWN, MISSING and UNKNOWN apart, behind the engine's proxy and on plain dicts."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.guardrails.props import State, get_prop

INPUTS: dict[str, Any] = {
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": UNKNOWN_STRING_VALUE},
    "pointInTimeRecovery": UNKNOWN_OBJECT_VALUE,
    "replicas": [{"regionName": "eu-central-1", "kmsKeyArn": None}],
    "deletionProtectionEnabled": False,
}


@pytest.fixture(params=["proxied", "plain"])
def props(request: pytest.FixtureRequest) -> Any:
    return unknown_checking_proxy(INPUTS) if request.param == "proxied" else INPUTS


@pytest.mark.parametrize(("path", "state", "value"), [
    ("serverSideEncryption.enabled", State.KNOWN, True),
    ("deletionProtectionEnabled", State.KNOWN, False),  # a known false is not missing
    ("replicas.0.regionName", State.KNOWN, "eu-central-1"),
    ("billingMode", State.MISSING, None),
    ("replicas.0.kmsKeyArn", State.MISSING, None),  # null is missing
    ("replicas.1.kmsKeyArn", State.MISSING, None),  # index past the end
    ("deletionProtectionEnabled.nested", State.MISSING, None),  # path through a scalar
    ("serverSideEncryption.kmsKeyArn", State.UNKNOWN, None),
    ("pointInTimeRecovery.enabled", State.UNKNOWN, None),  # inside an unknown object
])
def test_get_prop_reports_state_and_value(props: Any, path: str, state: State, value: Any):
    prop = get_prop(props, path)
    assert (prop.state, prop.value) == (state, value)


def test_unknown_prop_reraises_the_engine_error_naming_the_path(props: Any):
    with pytest.raises(UnknownValueError) as raised:
        get_prop(props, "serverSideEncryption.kmsKeyArn").require_known()
    assert raised.value.message == "string value at .serverSideEncryption.kmsKeyArn can't be known during preview"


def test_missing_prop_requires_to_none(props: Any):
    assert get_prop(props, "billingMode").require_known() is None
