"""A function's own third-party dependencies, bundled into its package (lambdas/<fn>/requirements.txt).

- Pinned: every line is `name==version`; the file lists every distribution to bundle and is installed
  without resolving (`--no-deps`), so it is the lock. What the Lambda runtime provides (boto3,
  botocore) is not bundled; `missing_requirements` proves nothing else is needed.
- Built for the function: wheels for its architecture and Python (`--platform manylinux2014_aarch64
  --only-binary=:all: --python-version 3.x`); a project published only as an sdist is built here and
  accepted only if the result is a pure-Python wheel (`-none-any`).
- Cached under build/dependencies/<key>, the key being the hash of the requirements, runtime,
  architecture and this bundler's version, so a preview after the first only reads the cache.
- Reproducible: merged with the function's own zip with sorted entries, fixed times and modes; the
  content hash is what Lambda reports as CodeSha256.
"""

from __future__ import annotations

from typing import Optional

import base64
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .packaging import FIXED_TIME, Package, PackagingError, compile_files

BUNDLER_VERSION = "1"
REQUIREMENTS = "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.!+_-]+)$")
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# Distributions the Lambda Python runtimes include (AWS SDK for Python); not bundled.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "jmespath", "s3transfer", "python-dateutil", "urllib3"})
SKIP_DIRS = {"__pycache__"}


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path) -> list[Requirement]:
    """Exact pins only: a range would make two builds of the same source differ."""
    found: list[Requirement] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if not match:
            raise PackagingError(f"{path}:{number}: {line!r} is not pinned; write name==exact.version (the file is the lock)")
        found.append(Requirement(match.group(1), match.group(2)))
    names = [normalise(r.name) for r in found]
    if len(set(names)) != len(names):
        raise PackagingError(f"{path}: a distribution is listed twice")
    return sorted(found, key=lambda r: normalise(r.name))


def cache_key(requirements: list[Requirement], runtime: str, architecture: str) -> str:
    text = "\n".join([BUNDLER_VERSION, runtime, architecture, *(r.spec for r in requirements)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(f"pip {args[0]} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")


def _fetch_wheel(requirement: Requirement, runtime: str, architecture: str, wheels: Path) -> Path:
    version = runtime.removeprefix("python")
    before = set(wheels.glob("*.whl"))
    built = False
    try:
        _pip("download", "--no-deps", "--only-binary=:all:", "--platform", PLATFORMS[architecture],
             "--python-version", version, "--implementation", "cp", "--dest", str(wheels), requirement.spec)
    except PackagingError:
        # Published as an sdist only (amazon-dax-client is): build it, and accept only a pure wheel.
        _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), requirement.spec)
        built = True
    new = sorted(set(wheels.glob("*.whl")) - before)
    if len(new) != 1:
        raise PackagingError(f"{requirement.spec}: expected one wheel, got {[w.name for w in new]}")
    wheel = new[0]
    if built and not wheel.name.endswith("-none-any.whl"):
        raise PackagingError(f"{requirement.spec}: no {PLATFORMS[architecture]} wheel is published and the sdist builds "
                             f"a platform-specific one ({wheel.name}); it cannot be built for Lambda here")
    return wheel


def missing_requirements(site: Path, runtime: str) -> list[str]:
    """Requires-Dist of the bundled distributions that neither the bundle nor the runtime provides."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement as Spec

    environment = {**default_environment(), "python_version": runtime.removeprefix("python"),
                   "python_full_version": runtime.removeprefix("python") + ".0", "sys_platform": "linux",
                   "platform_system": "Linux", "extra": ""}
    bundled = {normalise(m.parent.name.split("-")[0]) for m in site.glob("*.dist-info/METADATA")}
    missing = []
    for metadata in sorted(site.glob("*.dist-info/METADATA")):
        for line in metadata.read_text(encoding="utf-8").splitlines():
            if line.startswith("Requires-Dist:"):
                spec = Spec(line.split(":", 1)[1].strip())
                if spec.marker is not None and not spec.marker.evaluate(environment):
                    continue
                name = normalise(spec.name)
                if name not in bundled and name not in RUNTIME_PROVIDED:
                    missing.append(f"{metadata.parent.name}: {spec}")
    return missing


def install(requirements_file: Path, cache_root: Path, runtime: str, architecture: str) -> Path:
    """The installed dependencies of one requirements file (built once, then read from the cache)."""
    requirements = read_requirements(requirements_file)
    target = cache_root / cache_key(requirements, runtime, architecture)
    site = target / "site"
    if (target / "complete").is_file():
        return site
    cache_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root, prefix="building-") as tmp:
        wheels, staging = Path(tmp) / "wheels", Path(tmp) / "site"
        wheels.mkdir()
        for requirement in requirements:
            _fetch_wheel(requirement, runtime, architecture, wheels)
        _pip("install", "--no-deps", "--no-index", "--no-compile", "--find-links", str(wheels), "--target", str(staging),
             "--platform", PLATFORMS[architecture], "--only-binary=:all:", "--python-version", runtime.removeprefix("python"),
             "--implementation", "cp", *(r.spec for r in requirements))
        for scripts in staging.glob("bin"):
            shutil.rmtree(scripts)  # console scripts: never used in Lambda
        missing = missing_requirements(staging, runtime)
        if missing:
            raise PackagingError(f"{requirements_file}: bundled distributions need what it does not list: {'; '.join(missing)}")
        target.mkdir(parents=True, exist_ok=True)
        _publish(staging, site)
    _write_atomically(target / "complete", "\n".join(r.spec for r in requirements) + "\n")
    return site


def _publish(staging: Path, site: Path) -> None:
    """Move a finished build into place in one rename. Several previews may build the same key at
    once (parallel test workers, two terminals): the first rename wins and the others' identical
    builds are dropped, so a reader never sees a half-moved or replaced directory."""
    try:
        os.rename(staging, site)
    except OSError:
        if not site.is_dir():  # not a lost race: a real error
            raise


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _site_files(site: Path, compile_bytecode: bool) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    sources: list[tuple[Path, str]] = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        relative = path.relative_to(site)
        if SKIP_DIRS & set(relative.parts) or path.suffix == ".pyc":
            continue
        name = relative.as_posix()
        files[name] = path.read_bytes()
        if compile_bytecode and path.suffix == ".py":
            sources.append((path, name))
    if sources:
        # Lambda's code directory is read-only: without these, every cold start compiles the library
        # again. Modules that do not compile (Python-2-only files some libraries ship) are never imported.
        with tempfile.TemporaryDirectory() as tmp:
            compiled, _ = compile_files(sources, Path(tmp))
        files.update({importlib.util.cache_from_source(name): data for name, data in compiled.items()})
    return files


def with_dependencies(package: Package, source: Path, out_dir: Path, cache_root: Path, runtime: str,
                      architecture: str = "arm64", compile_bytecode: Optional[bool] = None) -> Package:
    """The function's package plus its requirements (unchanged when it has no requirements.txt).

    Bytecode of the dependencies follows the package's own decision (facts L6, L7): only when the
    build Python is the runtime's version, so every machine builds the same bytes otherwise."""
    if compile_bytecode is None:
        compile_bytecode = package.bytecode
    requirements = source / REQUIREMENTS
    if not requirements.is_file():
        return package
    site = install(requirements, cache_root, runtime, architecture)
    files = _site_files(site, compile_bytecode)
    with zipfile.ZipFile(package.path) as own:
        for name in own.namelist():
            if name in files:
                raise PackagingError(f"{source}: {name} is both the function's and a dependency's")
            files[name] = own.read(name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            archive.writestr(_entry(name), files[name])
    data = buffer.getvalue()
    digest = hashlib.sha256(data).digest()
    path = out_dir / f"{source.name}-{digest.hex()[:16]}.zip"
    if not path.exists():
        path.write_bytes(data)
    return Package(path=path, sha256_base64=base64.b64encode(digest).decode(), files=tuple(sorted(files)),
                   bytecode=package.bytecode)
