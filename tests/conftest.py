"""Shared test helpers: a scratch copy of the project whose stack files a test can write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


class ScratchProject:
    """The real Pulumi.yaml, program and package, with stack files (and optionally a model) of the test's own."""

    def __init__(self, root: Path):
        self.root = root
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(REPO / name, root / name)
        (root / "stacks").symlink_to(REPO / "stacks")
        (root / "policies").symlink_to(REPO / "policies")
        (root / "lambdas").symlink_to(REPO / "lambdas")

    def write_stack(self, stack: str, config: dict | str) -> Path:
        text = config if isinstance(config, str) else yaml.safe_dump({"config": config}, sort_keys=False)
        path = self.root / f"Pulumi.{stack}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def set_model(self, key: str, value: dict) -> None:
        """Replace one project-level model key (tables, access) in this copy's Pulumi.yaml."""
        project = yaml.safe_load((self.root / "Pulumi.yaml").read_text())
        project["config"][f"ddb-blueprint:{key}"]["value"] = value
        (self.root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

    def set_tables(self, tables: dict) -> None:
        self.set_model("tables", tables)


@pytest.fixture
def scratch(tmp_path: Path) -> ScratchProject:
    return ScratchProject(tmp_path)
