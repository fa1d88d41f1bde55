"""Small plumbing shared by the rules: type filtering and config defaults."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs

Validator = Callable[[ResourceValidationArgs, ReportViolation], None]

TABLE = "aws:dynamodb/table:Table"
GLOBAL_TABLE = "aws:dynamodb/globalTable:GlobalTable"
KMS_KEY = "aws:kms/key:Key"


def of_type(*resource_types: str) -> Callable[[Validator], Validator]:
    """Run the validator only on the given resource types (the Python SDK has no
    `validateResourceOfType`), so other resources neither fail nor report not-applicable."""

    def decorate(validate: Validator) -> Validator:
        @functools.wraps(validate)
        def wrapper(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type in resource_types:
                validate(args, report_violation)

        return wrapper

    return decorate


def schema_defaults(schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The `default` of every property of a config schema."""
    if schema is None:
        return {}
    return {key: spec["default"] for key, spec in schema.properties.items() if "default" in spec}


def config_value(args: ResourceValidationArgs, schema: PolicyConfigSchema, key: str) -> Any:
    """Policy config value, falling back to the schema default. The CLI fills defaults itself;
    direct calls (tests, other tools) may not, and the schema stays the one source of truth."""
    return args.get_config().get(key, schema_defaults(schema)[key])
