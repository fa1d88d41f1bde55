"""Running `python -m stacks <command>` from a test: in this process (fast) or as a real process.

A fresh interpreter costs about two seconds of imports (pulumi_aws alone loads ~700 modules), and
the suite ran more than a hundred of them. Most CLI tests are about what a command prints, writes
and returns, which `main()` in this process shows exactly: the same parser, the same error
handling and exit codes, stdout and stderr captured. An exception escaping `main()` (what would be
a traceback) fails the test. What the command logs, and what its threads raise, goes to the captured
stderr as it would in a process, so "no traceback in stderr" means the same thing in both. What only a
process shows — Ctrl-C, start-up, the interpreter's own exit, another Python — is tested with
`run_process`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import threading
import traceback
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
    previous_root, previous_stdin, previous_hook = cli.PROJECT_ROOT, sys.stdin, threading.excepthook
    cli.PROJECT_ROOT = root
    sys.stdin = io.StringIO(stdin or "")
    # In a process, logged records (asyncio's "Task exception was never retrieved", say) and a
    # thread's uncaught exception reach stderr; under pytest they would go to its own capture.
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)  # what a process shows by default (Python's last-resort handler)
    logging.getLogger().addHandler(handler)
    threading.excepthook = lambda hook: traceback.print_exception(hook.exc_type, hook.exc_value, hook.exc_traceback, file=err)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse's usage errors, --help
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        cli.PROJECT_ROOT, sys.stdin, threading.excepthook = previous_root, previous_stdin, previous_hook
        logging.getLogger().removeHandler(handler)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_process(root: Path, *args: str, stdin: Optional[str] = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m stacks <args>` as a user runs it: a fresh interpreter in `root`."""
    return subprocess.run([sys.executable, "-m", "stacks", *args], cwd=root, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(root)})
