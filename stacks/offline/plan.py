"""The plan: the desired state of one stack as `pulumi up` would create it, stable and sorted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .mockrun import UNKNOWN, Recording

PLAN_VERSION = 1


def plan_from_recording(recording: Recording) -> dict[str, Any]:
    for urn, outputs in recording.component_outputs.items():
        if urn in recording.resources:
            recording.resources[urn]["outputs"] = outputs
    return {
        "planVersion": PLAN_VERSION,
        "project": recording.project,
        "stack": recording.stack,
        "unknownMarker": UNKNOWN,
        "resources": [recording.resources[urn] for urn in sorted(recording.resources)],
        "outputs": recording.outputs,
    }


def write_plan(document: dict[str, Any], path: Path) -> None:
    """Write a plan (or a report about one) as stable, sorted JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def resources_of_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def _show(value: Any) -> str:
    if value == UNKNOWN:
        return "(known after apply)"
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def _summary(resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    kind = resource["type"]
    parts: list[str] = []
    if kind == "aws:dynamodb/table:Table":
        keys = inputs.get("hashKey", "?") + (f"/{inputs['rangeKey']}" if inputs.get("rangeKey") else "")
        pitr = inputs.get("pointInTimeRecovery", {})
        parts += [
            inputs.get("name", "?"),
            f"key={keys}",
            inputs.get("billingMode", "billing=?"),
            f"pitr={str(pitr.get('recoveryPeriodInDays', '')) + 'd' if pitr.get('enabled') else 'OFF'}",
            f"deletionProtection={'on' if inputs.get('deletionProtectionEnabled') else 'OFF'}",
        ]
        if inputs.get("streamEnabled"):
            parts.append(f"stream={inputs.get('streamViewType')}")
        gsis = [g["name"] for g in inputs.get("globalSecondaryIndexes", [])]
        lsis = [i["name"] for i in inputs.get("localSecondaryIndexes", [])]
        if gsis:
            parts.append(f"gsi={','.join(gsis)}")
        if lsis:
            parts.append(f"lsi={','.join(lsis)}")
        if inputs.get("ttl", {}).get("enabled"):
            parts.append(f"ttl={inputs['ttl'].get('attributeName')}")
    elif kind == "aws:kms/key:Key":
        parts += [
            f"rotation={'on' if inputs.get('enableKeyRotation') else 'OFF'}/{inputs.get('rotationPeriodInDays', '?')}d",
            f"deletionWindow={inputs.get('deletionWindowInDays', '?')}d",
        ]
    elif kind == "aws:kms/alias:Alias":
        parts.append(inputs.get("name", "?"))
    elif kind == "aws:appautoscaling/target:Target":
        parts.append(f"{inputs.get('scalableDimension')} {inputs.get('minCapacity')}..{inputs.get('maxCapacity')}")
    options = resource["options"]
    flags = [flag for flag in ("protect", "retainOnDelete") if options.get(flag)]
    if options.get("ignoreChanges"):
        flags.append("ignoreChanges=" + ",".join(options["ignoreChanges"]))
    if flags:
        parts.append("[" + " ".join(flags) + "]")
    return "  ".join(parts)


def render_tree(plan: dict[str, Any]) -> str:
    """A readable resource tree (parents before children, siblings sorted) and the outputs."""
    children: dict[Any, list[dict[str, Any]]] = {}
    for resource in plan["resources"]:
        children.setdefault(resource["parent"], []).append(resource)
    lines = [f"{plan['project']} / {plan['stack']}: {len(plan['resources'])} resources"]

    def walk(parent: Any, prefix: str) -> None:
        items = sorted(children.get(parent, []), key=lambda r: (r["custom"], r["type"], r["name"]))
        for i, resource in enumerate(items):
            last = i == len(items) - 1
            summary = _summary(resource)
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{resource['type']}  {resource['name']}" + (f"  {summary}" if summary else ""))
            walk(resource["urn"], prefix + ("   " if last else "│  "))

    walk(None, "")
    lines.append("")
    lines.append("Outputs:")
    for name, value in sorted(plan["outputs"].items()):
        lines.append(f"  {name}: {_render_output(value, '    ')}")
    return "\n".join(lines)


def _render_output(value: Any, indent: str) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = [f"{indent}{k}: {_render_output(v, indent + '  ')}" for k, v in sorted(value.items())]
        return "\n" + "\n".join(inner)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return _show(value)


def render_guardrails(report: Any) -> str:
    """One line per finding, mandatory violations first; then the count that decides the exit code."""
    order = {"violation": 0, "unknown": 1, "not-applicable": 2}
    findings = sorted(report.results, key=lambda r: (r["enforcementLevel"] != "mandatory", order[r["outcome"]], r["policy"], r["urn"]))
    lines = ["Guardrails (policies/, evaluated over the plan):"]
    for r in findings:
        if r["outcome"] == "not-applicable":
            continue
        name = r["urn"].rsplit("::", 1)[-1] if r["urn"] else "(stack)"
        lines.append(f"  {r['enforcementLevel'].upper():9} {r['outcome']:9} {r['policy']}  {name}: {r['message']}")
    skipped = sorted({r["policy"] for r in report.results if r["outcome"] == "not-applicable"})
    lines.append(f"  passed: {', '.join(sorted(set(report.passed) - set(skipped))) or '-'}")
    if skipped:
        lines.append(f"  not required for this stack: {', '.join(skipped)}")
    if report.disabled:
        lines.append(f"  disabled by policy config: {', '.join(sorted(report.disabled))}")
    lines.append(f"  mandatory violations: {len(report.mandatory_violations)}")
    return "\n".join(lines)
