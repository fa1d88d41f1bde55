"""`python -m stacks` ends every user mistake or environment problem with one message, never a
traceback (issue 8, item 1): exit 2 for configuration, usage and environment, 1 only for guardrail
violations (and the checks that report like them), 130 when interrupted."""

from __future__ import annotations

import argparse
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stacks.__main__ import EXIT_CONFIG, EXIT_INTERRUPTED, run

REPO = Path(__file__).resolve().parents[2]
STACK = "config:\n  aws:region: us-east-1\n"


def cli(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stacks", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=timeout)


def clean_failure(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_missing_project_file_exits_2_with_one_message(scratch, tmp_path):
    scratch.write_stack("qa", STACK)
    (scratch.root / "Pulumi.yaml").unlink()
    clean_failure(cli(scratch.root, "preview", "qa", "--out", str(tmp_path / "out")), EXIT_CONFIG,
                  "Pulumi.yaml: (file): not found")
    assert not (tmp_path / "out").exists()


def test_output_directory_that_is_a_file_exits_2(scratch, tmp_path):
    scratch.write_stack("qa", STACK)
    blocker = tmp_path / "out"
    blocker.write_text("not a directory\n")
    clean_failure(cli(scratch.root, "preview", "qa", "--out", str(blocker)), EXIT_CONFIG, "error: ")


def test_build_directory_that_is_a_file_stops_packaging_with_exit_2(scratch, tmp_path):
    """The program packages functions into <project>/build/<stack>; a file there is a PackagingError,
    which ends the program (and `pulumi up`) with one located message."""
    scratch.write_stack("qa", STACK)
    shutil.rmtree(scratch.root / "build")  # the scratch project's link to the dependency cache
    (scratch.root / "build").write_text("a file where the build directory should be\n")
    clean_failure(cli(scratch.root, "preview", "qa", "--out", str(tmp_path / "out")), EXIT_CONFIG,
                  "ddb-blueprint:functions.", "cannot package")


def test_unknown_command_and_missing_stack_argument_are_usage_errors_exit_2(scratch):
    clean_failure(cli(scratch.root, "previw", "dev"), 2, "invalid choice")
    clean_failure(cli(scratch.root, "preview"), 2, "the following arguments are required: stack")


def test_unreadable_plans_for_diff_exit_2(tmp_path):
    (tmp_path / "a.json").write_bytes(b"\xff\xfe not json")
    clean_failure(cli(REPO, "diff", str(tmp_path / "a.json"), str(tmp_path / "missing.json")), EXIT_CONFIG,
                  "cannot read plan")


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), OSError(28, "No space left on device", "build/dev/plan.json")])
def test_run_turns_interruptions_and_environment_failures_into_one_line(raised, capsys):
    def command(_args):
        raise raised

    code = run(argparse.Namespace(run=command))
    err = capsys.readouterr().err
    if isinstance(raised, KeyboardInterrupt):
        assert code == EXIT_INTERRUPTED and err.strip() == "interrupted"
    else:
        assert code == EXIT_CONFIG and err.strip() == "error: build/dev/plan.json: No space left on device"


def test_ctrl_c_during_a_preview_ends_cleanly(scratch, tmp_path):
    scratch.write_stack("qa", STACK)
    process = subprocess.Popen([sys.executable, "-m", "stacks", "preview", "qa", "--out", str(tmp_path / "out")],
                               cwd=scratch.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(scratch.root)})
    # Interrupt once the program is running: it packages the functions (build/qa) before it
    # registers the resources that use them.
    deadline = time.monotonic() + 60
    while not (scratch.root / "build" / "qa").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    if "plan written" in out:
        pytest.skip("the preview finished before the interrupt arrived")
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err + out and "interrupted" in err


def _blueprint(python: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "blueprint"), "docs"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": python}, timeout=60)


def test_blueprint_without_the_named_python_says_so_and_exits_2():
    result = _blueprint("no-such-python-3.13")
    assert result.returncode == 2 and "cannot run no-such-python-3.13" in result.stderr


def test_blueprint_refuses_a_python_older_than_3_11_before_installing_anything():
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    old = sorted(str(p) for p in pyenv.glob("3.[0-9].*/bin/python")) + sorted(str(p) for p in pyenv.glob("3.10.*/bin/python"))
    if not old:
        pytest.skip("no Python older than 3.11 on this machine")
    result = _blueprint(old[-1])
    assert result.returncode == 2 and "this project needs 3.11, 3.12 or 3.13" in result.stderr
    assert "installing" not in result.stderr
