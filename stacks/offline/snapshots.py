"""Reviewed golden copies of every generated policy, so a policy change shows up in code review.

`./blueprint snapshots` compares the policies of each stack's plan with tests/snapshots/iam/<stack>.json
(exit 1 and a diff when they differ); `./blueprint snapshots --update` rewrites them after review.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from .mockrun import UNKNOWN

SNAPSHOT_DIR = Path("tests") / "snapshots" / "iam"


def policy_snapshot(plan: dict[str, Any]) -> dict[str, Any]:
    roles, keys = {}, {}
    for resource in plan["resources"]:
        if resource["type"] == "ddb-blueprint:index:AccessRole":
            out = resource.get("outputs", {})
            roles[out["roleName"]] = {"trustPolicy": out["trustPolicy"], "permissionPolicy": out["permissionPolicy"]}
        elif resource["type"] == "aws:kms/key:Key":
            policy = resource["inputs"].get("policy", UNKNOWN)
            keys[resource["name"]] = json.loads(policy) if policy != UNKNOWN else UNKNOWN
    return {"stack": plan["stack"], "roles": roles, "keyPolicies": keys}


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True).replace(UNKNOWN, "(known after apply)") + "\n"


def snapshot_path(root: Path, stack: str) -> Path:
    return root / SNAPSHOT_DIR / f"{stack}.json"


def compare(root: Path, plan: dict[str, Any]) -> str:
    """A unified diff between the committed snapshot and the plan's policies ('' when equal)."""
    path = snapshot_path(root, plan["stack"])
    current = render(policy_snapshot(plan))
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed == current:
        return ""
    return "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True), str(path), "generated"))


def update(root: Path, plan: dict[str, Any]) -> Path:
    path = snapshot_path(root, plan["stack"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(policy_snapshot(plan)), encoding="utf-8")
    return path
