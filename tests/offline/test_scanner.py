"""The scanner in the review: checkov's findings classified against policies/scanner-exceptions.yaml;
a new finding fails audit; a scanner that did not run is said to have not run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.offline.audit import scanner_section
from stacks.offline.scanner import (EXCEPTIONS_FILE, ExceptionsError, Finding, ScanResult, checkov_binary, classify,
                                    load_exceptions, parse_report, run_checkov)
from stacks.offline.terraform import to_terraform

REPO = Path(__file__).resolve().parents[2]
RECORDED = json.loads((Path(__file__).parent / "fixtures" / "checkov-prod.json").read_text())  # checkov 3.3.30, prod, 2026-11-30


@pytest.fixture(scope="module")
def prod_terraform(reference_preview):
    return to_terraform(reference_preview("prod").plan)


def test_recorded_prod_findings_are_all_accepted_with_reasons(prod_terraform):
    passed, findings = parse_report(RECORDED, prod_terraform)
    assert len(findings) == 106 and all("." in f.resource and not f.resource.startswith("resource.") for f in findings)
    accepted, new = classify(findings, load_exceptions(REPO / EXCEPTIONS_FILE))
    assert new == []
    assert all(len(exception.reason.split()) >= 5 for _, exception in accepted)


def test_a_finding_no_exception_covers_is_new(prod_terraform):
    report = json.loads(json.dumps(RECORDED))
    report["results"]["failed_checks"].append({"check_id": "CKV_AWS_999", "check_name": "Something new",
                                               "resource": "resource.ddb-blueprint-prod-orders"})
    report["results"]["failed_checks"].append({"check_id": "CKV_AWS_120", "check_name": "caching",
                                               "resource": "aws_lambda_function.functions-placeOrder"})  # wrong resource
    _, findings = parse_report(report, prod_terraform)
    _, new = classify(findings, load_exceptions(REPO / EXCEPTIONS_FILE))
    assert [(f.check, f.resource) for f in new] == [("CKV_AWS_120", "aws_lambda_function.functions-placeOrder"),
                                                    ("CKV_AWS_999", "resource.ddb-blueprint-prod-orders")]
    section = "\n".join(scanner_section(ScanResult(True, "checkov 3.3.30", 1, findings, [], new)))
    assert "**2 new**" in section and "| `CKV_AWS_999` |" in section


@pytest.mark.parametrize("text, message", [
    ("- {check: CKV_AWS_1, resources: ['*']}", "a written reason is required"),
    ("- {check: CKV_AWS_1, resources: [], reason: 'because this is fine here'}", "non-empty list"),
    ("- {check: AWS_1, resources: ['*'], reason: 'because this is fine here'}", "checkov id"),
    ("- {check: CKV_AWS_1, resources: ['*'], reason: 'because this is fine here', until: 2027}", "only the keys"),
    ("{check: CKV_AWS_1}", "expected a list"),
])
def test_malformed_exceptions_are_refused_with_the_entry(tmp_path, text, message):
    path = tmp_path / "exceptions.yaml"
    path.write_text(text)
    with pytest.raises(ExceptionsError) as caught:
        load_exceptions(path)
    assert message in str(caught.value)


def test_a_scanner_that_is_not_installed_is_reported_as_not_run(tmp_path, prod_terraform):
    result = run_checkov(tmp_path, tmp_path, prod_terraform, install=False)
    assert not result.ran and result.status.startswith("scanner not run: checkov is not installed")
    section = "\n".join(scanner_section(result))
    assert "**scanner not run" in section and "No scanner results" in section


@pytest.mark.skipif(not checkov_binary(REPO).exists(), reason="checkov's tool environment is not installed (audit creates it)")
def test_audit_prod_runs_checkov_over_the_whole_export_with_every_finding_justified_and_none_new(tmp_path):
    from tests.cli import run_in_process

    done = run_in_process(REPO, "audit", "prod", "--out", str(tmp_path))
    # prod's one open guardrail is the SES identity only the deploying team has (cognitoEmail, C1): the
    # audit exits 1 for it alone; nothing the scanner found is new.
    guardrails = json.loads((tmp_path / "prod" / "guardrails.json").read_text())
    violations = {r["policy"] for r in guardrails["results"] if r["outcome"] == "violation"}
    assert violations <= {"cognito-email-through-ses"}, done.stdout + done.stderr
    assert done.returncode == (1 if violations else 0), done.stdout + done.stderr
    assert "scanner: checkov 3.3.30:" in done.stdout and ", 0 new" in done.stdout
    review = (tmp_path / "prod" / "security-review.md").read_text()
    assert "## Scanner (checkov on the Terraform JSON export)" in review and "**0 new**" in review
    # checkov really ran over the whole export (one run serves both claims: it costs seconds)
    passed = re.search(r"checkov 3\.3\.30: (\d+) checks passed", review)
    assert passed and int(passed.group(1)) > 100
