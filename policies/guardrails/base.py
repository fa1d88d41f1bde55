"""Small plumbing shared by the rules: type filtering and config defaults."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

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

        wrapper.resource_types = frozenset(resource_types)  # type: ignore[attr-defined]  # see applies_to
        return wrapper

    return decorate


def applies_to(policy: ResourceValidationPolicy | StackValidationPolicy) -> frozenset[str] | None:
    """The resource types a rule's validator looks at (declared with `of_type`), None if any type.

    The offline evaluator calls a rule only for these: calling it for others reports nothing
    (the `of_type` wrapper returns first), but building each call's args costs per resource."""
    return getattr(policy, "_applies_to", None)


def schema_defaults(schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The `default` of every property of a config schema."""
    if schema is None:
        return {}
    return {key: spec["default"] for key, spec in schema.properties.items() if "default" in spec}


def config_value(args: ResourceValidationArgs, schema: PolicyConfigSchema, key: str) -> Any:
    """Policy config value, falling back to the schema default. The CLI fills defaults itself;
    direct calls (tests, other tools) may not, and the schema stays the one source of truth."""
    return args.get_config().get(key, schema_defaults(schema)[key])


def required_switch(description: str) -> PolicyConfigSchema:
    """The config of a rule a stack may switch off (`required: false`, dev and staging): on by default."""
    return PolicyConfigSchema(properties={"required": {"type": "boolean", "default": True, "description": description}})


def skip_unless_required(args: ResourceValidationArgs, schema: PolicyConfigSchema, what: str) -> None:
    """End the check as not applicable when the stack's policy config switches the rule off."""
    if not config_value(args, schema, "required"):
        args.not_applicable(f"{what} is not required by this stack's policy config")


def rule(
    name: str,
    description: str,
    validate: Callable[..., None],
    *,
    stack: bool = False,
    config_schema: PolicyConfigSchema | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy | StackValidationPolicy:
    """One guardrail, declared once: its name, what it checks, its validator (resource types are
    chosen by the validator's `of_type`, or by the stack rule itself), whether it looks at the whole
    stack, its config schema and its enforcement level (every rule of this pack is mandatory)."""
    kind = StackValidationPolicy if stack else ResourceValidationPolicy
    extra = {"config_schema": config_schema} if config_schema is not None else {}
    policy = kind(name=name, description=description, enforcement_level=level, validate=validate, **extra)
    policy._applies_to = getattr(validate, "resource_types", None)  # type: ignore[union-attr]
    return policy
