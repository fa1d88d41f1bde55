"""Configuration problems, reported all at once with the file and key path of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the configuration.

    `path` is the full config key path as a user would type it, e.g.
    `ddb-blueprint:tables.carts.globalIndexes.byUser.partitionKey`.
    """

    file: str
    path: str
    message: str
    line: Optional[int] = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}"


class ConfigError(Exception):
    """Invalid configuration. Raised before any resource is registered."""

    def __init__(self, stack: str, problems: Sequence[Problem]):
        self.stack = stack
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.path, p.message))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid configuration for stack '{self.stack}' ({count} {noun}):"]
        lines += [f"  {p.render()}" for p in self.problems]
        return "\n".join(lines)
