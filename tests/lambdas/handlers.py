"""One way to load a Lambda handler in tests: a fresh module per call, as a new execution environment
gets (module-scope clients and caches start empty)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
_loads = itertools.count()


def fresh_handler(function: str) -> ModuleType:
    """Load lambdas/<function>/handler.py as a new module. It stays in sys.modules under a unique
    name: dataclasses (and Powertools' serialisation) look their module up there."""
    name = f"lambda_{function}_handler_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, LAMBDAS / function / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
