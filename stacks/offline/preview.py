"""`python -m stacks preview <stack>`: the real program under mocks, its plan, and the guardrails."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi

from ..config import load_for_stack
from ..errors import ConfigError
from ..sources import cli_config, read_project, read_stack, stack_file_name
from .mockrun import run_program
from .plan import plan_from_recording, write_plan


class PreviewError(Exception):
    """A clean, user-facing failure (bad config, missing stack file)."""


@dataclass(frozen=True)
class PreviewResult:
    plan: dict[str, Any]
    plan_path: Path


def offline_account(config: dict[str, str]) -> Optional[str]:
    """The real account when the stack pins one (aws:allowedAccountIds), else a placeholder."""
    raw = config.get("aws:allowedAccountIds")
    try:
        ids = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return None
    return str(ids[0]) if isinstance(ids, list) and ids else None


def preview(root: Path, stack: str, out_dir: Path) -> PreviewResult:
    if not (root / stack_file_name(stack)).exists():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise PreviewError(f"no stack file {stack_file_name(stack)} in {root} (stacks: {', '.join(known)})")
    try:
        project = read_project(root, stack)
        config = cli_config(project, read_stack(root, stack))
        # Validate before the program runs so errors come back as data, not as a failed run.
        load_for_stack(root, stack, config)
    except ConfigError as exc:
        raise PreviewError(exc.render()) from None
    try:
        recording = run_program(root / "__main__.py", project.name, stack, config, offline_account(config))
    except pulumi.RunError as exc:  # the program's own clean failure (same message as `pulumi up`)
        raise PreviewError(str(exc)) from None
    plan = plan_from_recording(recording)
    plan_path = out_dir / stack / "plan.json"
    write_plan(plan, plan_path)
    return PreviewResult(plan=plan, plan_path=plan_path)
