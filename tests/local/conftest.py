"""Fixtures of the local-runtime tests: the dev stack running locally with the sample catalogue, and
an HTTP session that ignores the developer's proxy settings. Module-scoped: a module's tests share one
runtime (a module that needs its own stack defines its own `runtime`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from stacks.local.runtime import LocalRuntime, seed_catalogue

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, reference_preview):
    """dev on the local runtime, started from the process's one preview of dev, catalogue seeded."""
    with LocalRuntime(REPO, "dev", tmp_path_factory.mktemp("build"), from_plan=reference_preview("dev").plan) as rt:
        seed_catalogue(rt)
        yield rt


@pytest.fixture(scope="module")
def http():
    session = requests.Session()
    session.trust_env = False
    return session
