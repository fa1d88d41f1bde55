"""Bundling a function's own dependencies: pinned, built for arm64, cached, reproducible."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from stacks.functions import dependencies
from stacks.functions.dependencies import (
    PackagingError, cache_key, install, missing_requirements, read_requirements, with_dependencies,
)
from stacks.functions.packaging import build_python_version, package_function

REPO = Path(__file__).resolve().parents[2]
READER = REPO / "lambdas" / "dax_reader"
RUNTIME = build_python_version()


@pytest.fixture(scope="module")
def cache() -> Path:
    # The project's own cache: built once per requirements hash, then read (what preview does).
    return REPO / "build" / "dependencies"


def test_unpinned_requirement_is_refused_with_its_line(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the lock\nsix==1.17.0\namazon-dax-client>=2\n")
    with pytest.raises(PackagingError, match=r"requirements.txt:3: 'amazon-dax-client>=2' is not pinned"):
        read_requirements(requirements)


def test_a_distribution_listed_twice_is_refused(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\nSix==1.16.0\n")
    with pytest.raises(PackagingError, match="listed twice"):
        read_requirements(requirements)


def test_cache_key_follows_pins_runtime_and_architecture():
    pins = read_requirements(READER / "requirements.txt")
    key = cache_key(pins, "python3.11", "arm64")
    assert key == cache_key(read_requirements(READER / "requirements.txt"), "python3.11", "arm64")  # stable
    assert len({key, cache_key(pins, "python3.12", "arm64"), cache_key(pins, "python3.11", "x86_64"),
                cache_key(pins[:-1], "python3.11", "arm64")}) == 4


def test_reader_dependencies_install_and_need_nothing_beyond_the_runtime(cache):
    site = install(READER / "requirements.txt", cache, RUNTIME, "arm64")
    assert (site / "amazondax" / "__init__.py").is_file()
    assert missing_requirements(site, RUNTIME) == []  # botocore/boto3 come from the Lambda runtime


def test_a_cached_install_does_not_run_pip_again(cache, monkeypatch):
    install(READER / "requirements.txt", cache, RUNTIME, "arm64")

    def no_pip(*args):
        raise AssertionError(f"pip ran: {args}")

    monkeypatch.setattr(dependencies, "_pip", no_pip)
    assert (install(READER / "requirements.txt", cache, RUNTIME, "arm64") / "amazondax").is_dir()


def test_missing_transitive_requirement_is_reported(tmp_path):
    info = tmp_path / "example-1.0.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text("Name: example\nVersion: 1.0\nRequires-Dist: six (>=1.11)\n"
                                         "Requires-Dist: botocore\nRequires-Dist: colorama; sys_platform == 'win32'\n")
    assert missing_requirements(tmp_path, "python3.11") == ["example-1.0.dist-info: six>=1.11"]


def test_package_with_dependencies_is_reproducible_and_carries_the_client(cache, tmp_path):
    own = package_function(READER, tmp_path / "a", RUNTIME)
    first = with_dependencies(own, READER, tmp_path / "a", cache, RUNTIME)
    again = with_dependencies(package_function(READER, tmp_path / "b", RUNTIME), READER, tmp_path / "b", cache, RUNTIME)
    assert first.sha256_base64 == again.sha256_base64
    assert first.path.read_bytes() == again.path.read_bytes()
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names == sorted(names)
    assert {"handler.py", "dax_client.py", "amazondax/__init__.py", "six.py"} <= set(names)
    assert any(n.startswith("amazondax/__pycache__/") and n.endswith(".pyc") for n in names)  # no compile at cold start
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_functions_without_requirements_are_unchanged(tmp_path, cache):
    own = package_function(REPO / "lambdas" / "order_stats", tmp_path, RUNTIME)
    assert with_dependencies(own, REPO / "lambdas" / "order_stats", tmp_path, cache, RUNTIME) == own


def test_a_build_that_loses_the_race_leaves_the_winners_copy_in_place(tmp_path):
    """Two previews (or test workers) building one cache key at once: the first rename wins, the
    other's identical build is dropped, and a reader never sees a replaced directory."""
    site = tmp_path / "key" / "site"
    site.mkdir(parents=True)
    (site / "winner.txt").write_text("first")
    staging = tmp_path / "building" / "site"
    staging.mkdir(parents=True)
    (staging / "loser.txt").write_text("second")
    dependencies._publish(staging, site)
    assert sorted(p.name for p in site.iterdir()) == ["winner.txt"]


def test_a_publish_that_fails_for_another_reason_is_an_error(tmp_path):
    staging = tmp_path / "building" / "site"
    staging.mkdir(parents=True)
    with pytest.raises(OSError):
        dependencies._publish(staging, tmp_path / "no-such-parent" / "site")
