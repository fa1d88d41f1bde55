"""Deterministic Lambda packages: lambdas/<fn> sources, plus bytecode when it can help (GOTCHAS L6).

Packaging never depends on the build machine's Python. The zip always carries the sources, which
run on every Lambda Python runtime. Bytecode is an optimisation only: a .pyc is read solely by the
interpreter version that wrote it, so it is added exactly when the build's Python is the runtime's
version (a cold start then skips compiling); on any other build Python the package is sources
only, and Lambda compiles them at the first import, as for any zip without bytecode.

The same sources and the same decision always give the same zip (sorted entries, fixed timestamps
and modes, hash-based .pyc), so the content hash changes only when the code (or the decision) does,
and `pulumi up` updates a function only then. Build with the runtime's Python in CI to get the
bytecode and one stable hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import py_compile
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP = {"__pycache__", ".pytest_cache"}
RUNTIME = re.compile(r"^python(3)\.(\d{1,2})$")


class PackagingError(Exception):
    """A function's code cannot be packaged (no handler, unreadable file, syntax error, no space)."""


@dataclass(frozen=True)
class Package:
    path: Path
    sha256_base64: str  # what Lambda reports as CodeSha256
    files: tuple[str, ...]
    bytecode: bool  # whether the zip carries .pyc files for the runtime


@dataclass(frozen=True)
class Entry:
    """One file of the zip: `name` in the archive, made from the source file `source` (relative)."""

    name: str
    source: str
    compiled: bool


def build_python_version() -> str:
    """The runtime identifier of the Python running this build, e.g. python3.12."""
    return runtime_of(sys.version_info[:2])


def runtime_of(version: tuple[int, int]) -> str:
    return f"python{version[0]}.{version[1]}"


def runtime_version(runtime: str) -> tuple[int, int]:
    match = RUNTIME.match(runtime)
    if match is None:
        raise PackagingError(f"{runtime!r} is not a Python runtime identifier (python3.<minor>)")
    return int(match.group(1)), int(match.group(2))


def ships_bytecode(runtime: str, build_version: tuple[int, int]) -> bool:
    """Bytecode helps only when the build's interpreter is the runtime's: a .pyc is version-bound."""
    return runtime_version(runtime) == tuple(build_version[:2])


def cached_name(relative: str, runtime: str) -> str:
    """Where the runtime's interpreter looks for the bytecode of `relative` (PEP 3147)."""
    major, minor = runtime_version(runtime)
    path = PurePosixPath(relative)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-{major}{minor}.pyc").removeprefix("./")


def package_entries(sources: Iterable[str], runtime: str, build_version: tuple[int, int]) -> list[Entry]:
    """What goes in the zip, in order: every source, and its bytecode only when it would be used."""
    bytecode = ships_bytecode(runtime, build_version)
    entries: list[Entry] = []
    for relative in sorted(set(sources)):
        entries.append(Entry(relative, relative, compiled=False))
        if bytecode and relative.endswith(".py"):
            entries.append(Entry(cached_name(relative, runtime), relative, compiled=True))
    return sorted(entries, key=lambda e: e.name)


def source_files(source: Path) -> list[str]:
    """The function's Python files, relative and POSIX-style, without caches."""
    if not source.is_dir():
        raise PackagingError(f"{source}: not a directory")
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.py")
                   if p.is_file() and not SKIP & set(p.relative_to(source).parts))
    if "handler.py" not in files:
        raise PackagingError(f"{source}: no handler.py")
    return files


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _compile(path: Path, relative: str, workdir: Path) -> bytes:
    # Unchecked hash-based pyc: valid regardless of file timestamps in the zip (PEP 552).
    compiled = workdir / "out.pyc"
    try:
        py_compile.compile(str(path), cfile=str(compiled), dfile=relative, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError as exc:
        raise PackagingError(f"{path}: does not compile: {exc.exc_value}") from None
    return compiled.read_bytes()


def zip_bytes(source: Path, entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            path = source / entry.source
            data = _compile(path, entry.source, Path(tmp)) if entry.compiled else path.read_bytes()
            archive.writestr(_entry(entry.name), data)
    return buffer.getvalue()


def package_function(source: Path, out_dir: Path, runtime: str) -> Package:
    """Zip `source` for `runtime` into `out_dir` (named by content hash); PackagingError if it cannot.

    The decision about bytecode is this interpreter's (it is the one that would compile it).
    """
    try:
        entries = package_entries(source_files(source), runtime, (sys.version_info.major, sys.version_info.minor))
        data = zip_bytes(source, entries)
        digest = hashlib.sha256(data).digest()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{source.name}-{digest.hex()[:16]}.zip"
        if not path.exists():
            path.write_bytes(data)
    except OSError as exc:
        where = exc.filename or source
        raise PackagingError(f"cannot package {source.name}: {where}: {exc.strerror or exc}") from None
    return Package(path=path, sha256_base64=base64.b64encode(digest).decode(),
                   files=tuple(e.name for e in entries), bytecode=any(e.compiled for e in entries))
