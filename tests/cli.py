"""Running `python -m stacks <command>` from a test: in this process (fast) or as a real process.

A fresh interpreter costs about two seconds of imports (pulumi_aws alone loads ~700 modules), and
the suite ran more than a hundred of them. Most CLI tests are about what a command prints, writes
and returns, which `main()` in this process shows exactly: the same parser, the same error
handling and exit codes, stdout and stderr captured. An exception escaping `main()` (what would be
a traceback) fails the test. What only a process shows — Ctrl-C, start-up, the interpreter's own
exit, another Python — is tested with `run_process`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import stacks.__main__ as cli

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_in_process(root: Path, *args: str, stdin: Optional[str] = None) -> CliResult:
    """`python -m stacks <args>` in the project at `root` (a scratch copy links this package in, as
    a process started there would see it), run by this interpreter."""
    out, err = io.StringIO(), io.StringIO()
    previous_root, previous_stdin = cli.PROJECT_ROOT, sys.stdin
    cli.PROJECT_ROOT = root
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse's usage errors, --help
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        cli.PROJECT_ROOT, sys.stdin = previous_root, previous_stdin
    return CliResult(code, out.getvalue(), err.getvalue())


def run_process(root: Path, *args: str, stdin: Optional[str] = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m stacks <args>` as a user runs it: a fresh interpreter in `root`."""
    return subprocess.run([sys.executable, "-m", "stacks", *args], cwd=root, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(root)})
