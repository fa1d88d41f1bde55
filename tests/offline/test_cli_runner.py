"""The in-process CLI runner (tests/cli.py) shows what a process would print on stderr: records
logged with a traceback and a thread's uncaught exception, so "no traceback" assertions on
in-process runs mean what they say."""

from __future__ import annotations

import logging
import threading

import stacks.__main__ as cli
from tests.cli import REPO, run_in_process


def test_logged_tracebacks_and_thread_errors_reach_the_captured_stderr(monkeypatch):
    def noisy(argv=None):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
        thread = threading.Thread(target=lambda: 1 / 0)
        thread.start()
        thread.join()
        return 0

    monkeypatch.setattr(cli, "main", noisy)
    result = run_in_process(REPO, "preview", "dev")
    assert result.returncode == 0
    assert result.stderr.count("Traceback") == 2
    assert "ValueError: boom" in result.stderr and "ZeroDivisionError" in result.stderr


def test_the_runner_restores_what_it_borrowed():
    hook, handlers, root = threading.excepthook, list(logging.getLogger().handlers), cli.PROJECT_ROOT
    result = run_in_process(REPO, "previw", "dev")  # a usage error: argparse exits 2
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert threading.excepthook is hook and logging.getLogger().handlers == handlers and cli.PROJECT_ROOT == root
