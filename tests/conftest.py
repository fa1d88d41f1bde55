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
        # The bundled third-party dependencies (pip downloads, keyed by requirements and runtime)
        # come from the repository's cache, as in a second preview: a test talks only to localhost.
        (REPO / "build" / "dependencies").mkdir(parents=True, exist_ok=True)
        (root / "build").mkdir()
        (root / "build" / "dependencies").symlink_to(REPO / "build" / "dependencies")

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


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_data_loader():
    """Every boto3 session in a test process shares one botocore data loader.

    Each test loads its Lambda handler afresh (a cold start), and Powertools opens a new boto3
    session for it: each new session parsed botocore's endpoint and service JSON again (about a
    second per test). The loader returns the same parsed data to every client of one session
    anyway, so sharing it across sessions changes nothing a client sees.
    """
    from botocore import loaders, session

    original = session.create_loader
    shared: dict = {}

    def create_loader(search_path_string=None):
        if search_path_string not in shared:
            shared[search_path_string] = loaders.create_loader(search_path_string)
        return shared[search_path_string]

    session.create_loader = create_loader
    yield
    session.create_loader = original


@pytest.fixture(scope="session")
def reference_preview(tmp_path_factory):
    """The repository's own stacks, previewed once per test process: `reference_preview("prod")`.

    Tests read the result (plan, paths); a test that changes a plan works on
    `copy.deepcopy(reference_preview(stack).plan)`.
    """
    from stacks.offline.preview import preview

    results: dict = {}

    def previewed(stack: str):
        if stack not in results:
            results[stack] = preview(REPO, stack, tmp_path_factory.mktemp(f"preview-{stack}"))
        return results[stack]

    return previewed


@pytest.fixture(scope="session")
def reference_audit(tmp_path_factory):
    """The repository's own stacks' security reviews (no scanner), built once per test process:
    `reference_audit("prod")`. Tests read them; one that changes a plan deep-copies it. The modules
    using it share one xdist group (SHARED_GROUPS), so each review is built once per run."""
    from stacks.offline.audit import audit

    results: dict = {}

    def audited(stack: str):
        if stack not in results:
            results[stack] = audit(REPO, stack, tmp_path_factory.mktemp(f"audit-{stack}"), scanner=False)
        return results[stack]

    return audited


# --- test selection and distribution -------------------------------------------------------------

# `pytest --quick` (`./blueprint test --quick`): pure logic only, in seconds. Modules of pure
# functions (no moto, no subprocess); within them, tests that run the program (`reference_preview`,
# `scratch`) are left out too. Add a module here when it is pure and fast.
QUICK_MODULES = {
    "tests/access/test_evaluator.py",
    "tests/access/test_policies.py",
    "tests/api/templates/test_vtl_escape.py",
    "tests/api/templates/test_vtl_input.py",
    "tests/api/templates/test_vtl_util_context.py",
    "tests/api/test_openapi.py",
    "tests/api/test_vtl_generation.py",
    "tests/config/test_sources.py",
    "tests/keys/test_policy.py",
    "tests/lambdas/test_stream_filter_matcher.py",
    "tests/offline/test_changes.py",
    "tests/policies/test_guardrail_api.py",
    "tests/policies/test_guardrail_functions.py",
    "tests/policies/test_guardrail_iam.py",
    "tests/policies/test_guardrail_rules.py",
    "tests/tables/test_spec.py",
}
PROGRAM_FIXTURES = {"reference_preview", "reference_audit", "scratch"}
# Under pytest-xdist (`--dist loadgroup`, as `./blueprint test` runs it) each module's tests stay on
# one worker, so module-scoped servers and fixtures start once; these modules' tests are long and
# independent, so they are spread over the workers instead.
SPREAD_MODULES = {"tests/lambdas/test_stream_fault_injection.py", "tests/bench/test_bench_small.py"}
# Modules that read the same session fixture's expensive results run on one worker together.
SHARED_GROUPS = {
    "tests/program/test_audit.py": "reference-audits",
    "tests/program/test_audit_api.py": "reference-audits",
    "tests/program/test_audit_inventory.py": "reference-audits",
}


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="only the pure-logic tests (seconds); see QUICK_MODULES in tests/conftest.py")


def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): tests that run on the same pytest-xdist worker")


def _module_of(path: Path) -> str:
    return path.resolve().relative_to(REPO).as_posix()


def pytest_ignore_collect(collection_path: Path, config):
    if config.getoption("--quick") and collection_path.is_file() and collection_path.name.startswith("test_"):
        return _module_of(collection_path) not in QUICK_MODULES  # not even imported
    return None


def pytest_collection_modifyitems(config, items):
    if config.getoption("--quick"):
        runs_program = [item for item in items if PROGRAM_FIXTURES & set(getattr(item, "fixturenames", ()))]
        if runs_program:
            config.hook.pytest_deselected(items=runs_program)
            items[:] = [item for item in items if item not in runs_program]
    for item in items:
        module = _module_of(item.path)
        if module not in SPREAD_MODULES:
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(module, module)))
