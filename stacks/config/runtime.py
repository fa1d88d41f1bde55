"""Reading this stack's config from the Pulumi runtime, identically under `pulumi up` and mocks."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from .loader import BlueprintConfig, load_for_stack
from .errors import ConfigError

# Not resolved: a project that links this package in (tests do) keeps its own root.
PROJECT_ROOT = Path(__file__).absolute().parent.parent.parent


def config_map() -> dict[str, str]:
    """Every config key the engine passed to the program, as strings (objects as JSON)."""
    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    return {str(k): str(v) for k, v in values.items()}


def load_stack_config(project_root: Path = PROJECT_ROOT) -> BlueprintConfig:
    """The validated config of the running stack; a clean error (no traceback) if it is invalid."""
    try:
        return load_for_stack(project_root, pulumi.get_stack(), config_map())
    except ConfigError as exc:
        # RunError ends `pulumi up` with just this message: no traceback, nothing registered.
        raise pulumi.RunError(exc.render()) from None
