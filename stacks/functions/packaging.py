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


# Compiles each "<source>\t<name>\t<target>" line of stdin to an unchecked-hash pyc (valid whatever
# the zip's timestamps, PEP 552), in a fresh interpreter: marshal's output depends on the reference
# counts of interned objects, so compiling inside a long-lived process (a preview that imported much,
# a test run) is not byte-for-byte reproducible. A file that does not compile is named on stderr.
_COMPILE = """
import py_compile, sys
for line in sys.stdin.read().splitlines():
    source, name, target = line.split("\\t")
    try:
        py_compile.compile(source, cfile=target, dfile=name, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError as exc:
        print(source + "\\t" + str(exc.exc_value), file=sys.stderr)
"""


def compile_files(sources: list[tuple[Path, str]], workdir: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """(name -> pyc bytes, source -> why it does not compile) for (source path, name in the zip) pairs."""
    import subprocess
    import sys

    if not sources:
        return {}, {}
    jobs = [(path, name, workdir / f"{i}.pyc") for i, (path, name) in enumerate(sources)]
    done = subprocess.run([sys.executable, "-c", _COMPILE], text=True, capture_output=True,
                          input="\n".join(f"{path}\t{name}\t{target}" for path, name, target in jobs))
    if done.returncode != 0:
        raise PackagingError(f"compiling bytecode failed: {done.stderr.strip()[-300:]}")
    failed = dict(line.split("\t", 1) for line in done.stderr.splitlines() if "\t" in line)
    compiled = {name: target.read_bytes() for _, name, target in jobs if target.exists()}
    return compiled, failed


def zip_bytes(source: Path, entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, tempfile.TemporaryDirectory() as tmp:
        compiled, failed = compile_files([(source / e.source, e.source) for e in entries if e.compiled], Path(tmp))
        for path, why in failed.items():
            raise PackagingError(f"{path}: does not compile: {why}")
        for entry in entries:
            data = compiled[entry.source] if entry.compiled else (source / entry.source).read_bytes()
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
