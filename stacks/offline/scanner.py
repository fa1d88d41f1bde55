"""checkov over the Terraform JSON export, in its own tool environment, with reviewed exceptions.

checkov pins libraries this project pins differently (boto3 1.35 vs 1.44, packaging 23 vs 26,
networkx 2 vs 3, policy-sentry 0.13 vs 0.15), so it never shares the project's environment: it lives
in `build/tools/checkov`, a virtualenv created on first use from `tools/checkov-constraints.txt`
(checkov and every dependency pinned). Every finding is either fixed or accepted in
`policies/scanner-exceptions.yaml` with a written reason; a finding no exception covers is "new"
and fails `audit`. When checkov cannot be installed or run, the review says so ("scanner not run")
and nothing pretends it ran.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

CHECKOV_VERSION = "3.3.30"
EXCEPTIONS_FILE = Path("policies") / "scanner-exceptions.yaml"
CONSTRAINTS_FILE = Path("tools") / "checkov-constraints.txt"
TOOL_DIR = Path("build") / "tools" / "checkov"


class ExceptionsError(ValueError):
    """The exceptions file is malformed (each entry needs check, resources and a reason)."""


@dataclass(frozen=True)
class Finding:
    check: str
    title: str
    resource: str  # Terraform address, e.g. aws_sqs_queue.functions-productEvents-failures
    guideline: str = ""


@dataclass(frozen=True)
class Accepted:
    check: str
    resources: tuple[str, ...]
    reason: str


@dataclass
class ScanResult:
    ran: bool
    status: str  # what happened, for people ("checkov 3.3.30: 227 checks, ..." or why it did not run)
    passed: int = 0
    findings: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, Accepted]] = field(default_factory=list)
    new: list[Finding] = field(default_factory=list)


def load_exceptions(path: Path) -> list[Accepted]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ExceptionsError(f"{path}: cannot read: {exc}") from None
    if not isinstance(entries, list):
        raise ExceptionsError(f"{path}: expected a list of {{check, resources, reason}}")
    accepted = []
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i + 1}"
        if not isinstance(entry, dict) or set(entry) - {"check", "resources", "reason"}:
            raise ExceptionsError(f"{where}: only the keys check, resources and reason are allowed")
        check, resources, reason = entry.get("check"), entry.get("resources"), entry.get("reason")
        if not isinstance(check, str) or not check.startswith("CKV"):
            raise ExceptionsError(f"{where}: check must be a checkov id such as CKV_AWS_120")
        if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
            raise ExceptionsError(f"{where} ({check}): resources must be a non-empty list of Terraform address patterns")
        if not isinstance(reason, str) or len(reason.split()) < 5:
            raise ExceptionsError(f"{where} ({check}): a written reason is required (at least a sentence)")
        accepted.append(Accepted(check, tuple(resources), " ".join(reason.split())))
    return accepted


def classify(findings: list[Finding], exceptions: list[Accepted]) -> tuple[list[tuple[Finding, Accepted]], list[Finding]]:
    """(accepted findings with their exception, new findings)."""
    accepted, new = [], []
    for finding in findings:
        match = next((e for e in exceptions if e.check == finding.check
                      and any(fnmatch.fnmatchcase(finding.resource, pattern) for pattern in e.resources)), None)
        if match is None:
            new.append(finding)
        else:
            accepted.append((finding, match))
    return accepted, new


def parse_report(report: Any, terraform: dict[str, Any]) -> tuple[int, list[Finding]]:
    """checkov's JSON output (one report or a list of them) -> (passed count, failed findings).

    Non-graph checks on Terraform JSON name resources `resource.<name>`; the export's names are
    looked up to give every finding its full address.
    """
    reports = report if isinstance(report, list) else [report]
    types_by_name: dict[str, list[str]] = {}
    for kind, items in terraform.get("resource", {}).items():
        for name in items:
            types_by_name.setdefault(name, []).append(kind)
    passed, findings = 0, []
    for one in reports:
        results = one.get("results", {})
        passed += len(results.get("passed_checks", []))
        for failed in results.get("failed_checks", []):
            resource = failed.get("resource", "")
            if resource.startswith("resource."):
                name = resource[len("resource."):]
                kinds = types_by_name.get(name, [])
                resource = f"{kinds[0]}.{name}" if len(kinds) == 1 else resource
            findings.append(Finding(failed["check_id"], failed.get("check_name", ""), resource, failed.get("guideline") or ""))
    unique = {(f.check, f.resource): f for f in findings}
    return passed, [unique[k] for k in sorted(unique)]


def checkov_binary(root: Path) -> Path:
    return root / TOOL_DIR / "bin" / "checkov"


def install_checkov(root: Path) -> Optional[str]:
    """Create the tool environment on first use; None when ready, else why it could not be."""
    binary = checkov_binary(root)
    if binary.exists():
        return None
    tool = root / TOOL_DIR
    try:
        subprocess.run([sys.executable, "-m", "venv", str(tool)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(tool / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"checkov=={CHECKOV_VERSION}", "-c", str(root / CONSTRAINTS_FILE)],
                       check=True, capture_output=True, timeout=1200)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"installing checkov {CHECKOV_VERSION} into {TOOL_DIR} failed: {exc} {detail.decode(errors='replace')[-300:]}"
    return None if binary.exists() else f"installing checkov {CHECKOV_VERSION} produced no {binary}"


def run_checkov(root: Path, terraform_dir: Path, terraform: dict[str, Any], install: bool = True) -> ScanResult:
    if install:
        problem = install_checkov(root)
        if problem:
            return ScanResult(False, f"scanner not run: {problem}")
    binary = checkov_binary(root)
    if not binary.exists():
        return ScanResult(False, f"scanner not run: checkov is not installed in {TOOL_DIR} (audit installs it on first use)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_TRUNCATION": "true"}
    try:
        done = subprocess.run([str(binary), "-d", str(terraform_dir), "--framework", "terraform_json", "-o", "json",
                               "--compact", "--skip-download"],
                              capture_output=True, text=True, timeout=600, env=env)
        report = json.loads(done.stdout) if done.stdout.strip() else {}
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        return ScanResult(False, f"scanner not run: checkov failed: {exc}")
    if done.returncode not in (0, 1):  # 1 = findings
        return ScanResult(False, f"scanner not run: checkov exited {done.returncode}: {done.stderr.strip()[-300:]}")
    passed, findings = parse_report(report, terraform)
    version = (report[0] if isinstance(report, list) and report else report).get("summary", {}).get("checkov_version", CHECKOV_VERSION) \
        if report else CHECKOV_VERSION
    return ScanResult(True, f"checkov {version}", passed, findings)


def scan(root: Path, plan: dict[str, Any], out_dir: Path, install: bool = True) -> ScanResult:
    """Export the plan, run checkov, classify its findings against the exceptions file."""
    from .terraform import to_terraform, write_terraform

    terraform = to_terraform(plan)
    directory = write_terraform(plan, out_dir / plan["stack"] / "terraform").parent
    result = run_checkov(root, directory, terraform, install)
    if result.ran:
        result.accepted, result.new = classify(result.findings, load_exceptions(root / EXCEPTIONS_FILE))
    return result
