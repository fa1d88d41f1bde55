"""Read resource properties as the policy engine presents them: KNOWN, MISSING or UNKNOWN.

During preview, values computed from other resources are unknown. The engine wraps inputs in
`unknown_checking_proxy`, which raises `UnknownValueError` on access; plain dicts (tests, other
callers) hold the raw sentinel strings instead. `get_prop` handles both the same way.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_STRING_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_OBJECT_VALUE,
})


class State(enum.Enum):
    KNOWN = "known"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Prop:
    """The result of reading one property path."""

    path: str
    state: State
    value: Any = None
    error: UnknownValueError | None = None

    @property
    def known(self) -> bool:
        return self.state is State.KNOWN

    @property
    def missing(self) -> bool:
        return self.state is State.MISSING

    @property
    def unknown(self) -> bool:
        return self.state is State.UNKNOWN

    @property
    def blank(self) -> bool:
        """Missing, or known but empty: an empty ARN or policy is as good as none."""
        # len(), not ==: comparing a proxied dict reads its values, which may be unknown.
        return self.missing or (self.known and isinstance(self.value, Sized) and len(self.value) == 0)

    def describe(self) -> str:
        """How the value reads in a violation message: "is not set" or "is <value>"."""
        if self.missing:
            return "is not set"
        return "is unknown" if self.unknown else f"is {show(self.value)}"

    def require_known(self) -> Any:
        """The value (None when missing). Raises UnknownValueError when it is unknown, which
        pulumi-policy reports as "can't run policy during preview" instead of a pass or a fail."""
        if self.error is not None:
            raise self.error
        return self.value


_ABSENT = object()


def get_prop(props: Mapping[str, Any], path: str) -> Prop:
    """Read a dotted path such as "serverSideEncryption.kmsKeyArn" or "replicas.0.kmsKeyArn".

    An absent key, a null value, or a path through a non-container is MISSING.
    """
    current: Any = props
    walked: list[str] = []
    for segment in path.split("."):
        walked.append(segment)
        try:
            current = _child(current, segment)
        except UnknownValueError as error:
            return Prop(path, State.UNKNOWN, error=error)
        if current is _ABSENT or current is None:
            return Prop(path, State.MISSING)
        if isinstance(current, str) and current in UNKNOWN_SENTINELS:
            # Unproxied input: build the error the proxy would have raised.
            return Prop(path, State.UNKNOWN, error=UnknownValueError(current, walked))
    return Prop(path, State.KNOWN, current)


def _child(container: Any, segment: str) -> Any:
    if isinstance(container, Mapping):
        # Not `.get`/`in`: on the proxy both call __getitem__ anyway; only KeyError means absent.
        try:
            return container[segment]
        except KeyError:
            return _ABSENT
    if isinstance(container, Sequence) and not isinstance(container, str) and segment.isdigit():
        index = int(segment)
        return container[index] if index < len(container) else _ABSENT
    return _ABSENT


def show(value: Any) -> str:
    """A scalar as it is written in JSON and Pulumi config (false, "PROVISIONED", 30)."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def is_number(value: Any) -> bool:
    """Numbers arrive as int (plan JSON) or float (engine protobuf); bool is not a number here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
