"""Deterministic Lambda packages: lambdas/<fn> sources plus their compiled bytecode (GOTCHAS L6).

The same sources always give the same zip (sorted entries, fixed timestamps and modes), so the
content hash changes only when the code does, and `pulumi up` updates a function only then.
Bytecode is compiled by the build's Python, which must be the runtime's version: a .pyc of another
version would be ignored by Lambda and cost a compile at every cold start instead.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import py_compile
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP = {"__pycache__", ".pytest_cache"}


class PackagingError(Exception):
    pass


@dataclass(frozen=True)
class Package:
    path: Path
    sha256_base64: str  # what Lambda reports as CodeSha256
    files: tuple[str, ...]


def build_python_version() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def package_function(source: Path, out_dir: Path, runtime: str) -> Package:
    if runtime != build_python_version():
        raise PackagingError(
            f"{source}: the runtime is {runtime} but this build runs {build_python_version()}; "
            "compiled bytecode must match the runtime (set ddb-blueprint:lambdaRuntime or build with that Python)"
        )
    files = sorted(p for p in source.rglob("*.py") if not SKIP & set(p.relative_to(source).parts))
    if not any(p.name == "handler.py" and p.parent == source for p in files):
        raise PackagingError(f"{source}: no handler.py")
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w") as archive, tempfile.TemporaryDirectory() as tmp:
        for path in files:
            relative = path.relative_to(source).as_posix()
            archive.writestr(_entry(relative), path.read_bytes())
            names.append(relative)
            # Unchecked hash-based pyc: valid regardless of file timestamps in the zip (PEP 552).
            compiled = Path(tmp) / "out.pyc"
            py_compile.compile(str(path), cfile=str(compiled), dfile=relative, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            cached = importlib.util.cache_from_source(relative)
            archive.writestr(_entry(cached), compiled.read_bytes())
            names.append(cached)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).digest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{source.name}-{digest.hex()[:16]}.zip"
    if not path.exists():
        path.write_bytes(data)
    return Package(path=path, sha256_base64=base64.b64encode(digest).decode(), files=tuple(sorted(names)))
