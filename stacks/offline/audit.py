"""`python -m stacks audit <stack>`: one report a security reviewer can approve a stack from.

Everything comes from the plan the preview recorded (what `pulumi up` would create), the
guardrail results over it, and the declared config the policies were generated from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..access.policies import TRUST_CONDITION_NOTES, ArnContext
from ..config.loader import BlueprintConfig, load_for_stack, project_defaults
from ..access.isolation import Scenario, grant_scenarios
from ..replication.spec import stack_table_regions
from ..keys.policy import STATEMENT_PURPOSES
from ..config.sources import cli_config, read_project, read_stack
from .mockrun import PLACEHOLDER_ACCOUNT, UNKNOWN, partition_of
from .api_review import api_failures, api_section, isolation_evidence
from .inventory import inventory
from .preview import PreviewResult, policy_config_path, preview

# Stack settings whose non-default value weakens a protection, and how to tell.
WEAKER: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "deletionProtection": ("DynamoDB deletion protection on tables; Cognito user pool deletion protection", lambda v, d: d and not v),
    "protect": ("Pulumi protect on tables, keys and the user pool", lambda v, d: d and not v),
    "retainOnDelete": ("Pulumi retainOnDelete on tables, keys and the user pool", lambda v, d: d and not v),
    "pointInTimeRecovery": ("point-in-time recovery", lambda v, d: d and not v),
    "pitrRecoveryPeriodDays": ("days of continuous backups", lambda v, d: v < d),
    "keyDeletionWindowDays": ("waiting period before a key deletion completes", lambda v, d: v < d),
    "cognitoMfa": ("multi-factor authentication for app users", lambda v, d: v == "OFF" and d != "OFF"),
}


@dataclass(frozen=True)
class AuditResult:
    preview: PreviewResult
    markdown_path: Path
    html_path: Path
    isolation_failures: int
    untraced_policies: int = 0
    scanner: Any = None  # scanner.ScanResult


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "`" + text.replace("|", "\\|").replace(UNKNOWN, "(known after apply)") + "`"


def _json_block(document: Any) -> list[str]:
    text = json.dumps(document, indent=2, sort_keys=True).replace(f'"{UNKNOWN}"', '"(known after apply)"')
    return ["```json", text, "```"]


def _list(values: Any) -> str:
    items = values if isinstance(values, list) else [values]
    return "<br>".join(_code(v) for v in items)


def _conditions(statement: Mapping[str, Any]) -> str:
    condition = statement.get("Condition") or {}
    parts = []
    for operator, keys in sorted(condition.items()):
        for key, value in sorted(keys.items()):
            parts.append(f"{_code(operator)} {_code(key)} = {_code(value)}")
    return "<br>".join(parts) or "none"


def _principal_text(principal: Any) -> str:
    if principal == "*":
        return "`*` (anyone)"
    return "<br>".join(f"{kind}: {_list(value)}" for kind, value in sorted(principal.items()))


def _resources(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def weakened_settings(config: BlueprintConfig, defaults: Mapping[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """Security defaults this stack turned off or weakened: (key, value, default, what it protects)."""
    found = []
    settings = config.settings.model_dump()
    for key, (what, weaker) in WEAKER.items():
        if key in defaults and weaker(settings[key], defaults[key]):
            found.append((f"ddb-blueprint:{key}", settings[key], defaults[key], what))
    return found


def direct_write_grants(config: BlueprintConfig) -> list[tuple[str, str]]:
    """(grant, table) of every grant letting app users write with their own credentials (directWrites)."""
    return sorted((name, str(g.table)) for name, g in config.access.grants.items() if g.directWrites)


def weakened_guardrails(policy_config: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for name, entry in sorted(policy_config.items()):
        entry = entry if isinstance(entry, dict) else {"enforcementLevel": entry}
        level = entry.get("enforcementLevel", "mandatory")
        if level in ("advisory", "disabled"):
            found.append((name, f"enforcement lowered to {level}"))
        if entry.get("required") is False:
            found.append((name, "not required for this stack"))
    return found


def isolation_proof(config: BlueprintConfig, plan: dict[str, Any], ctx: ArnContext) -> list[tuple[str, Scenario, str]]:
    """Every row-scoped grant's scenarios, evaluated on the permission policy recorded in the plan."""
    policies = {}
    for resource in _resources(plan, "aws:iam/rolePolicy:RolePolicy"):
        if not resource["name"].endswith("-role-access"):
            continue  # the invoke policy of iam routes is shown with the API
        principal = resource["name"].removesuffix("-role-access")
        policies[principal] = json.loads(resource["inputs"]["policy"])
    rows = []
    for name, grant in sorted(config.access.grants.items()):
        for scenario in grant_scenarios(name, grant, config.access, config.tables, ctx):
            rows.append((grant.principal, scenario, scenario.outcome([policies[grant.principal]])))
    return rows


def render_report(config: BlueprintConfig, result: PreviewResult, defaults: Mapping[str, Any], policy_config: Mapping[str, Any], account: str,
                  api_evidence: Mapping[str, Any] | None = None, scanner: Any = None) -> tuple[str, int]:
    plan = result.plan
    report = result.guardrails
    region = config.settings.region
    ctx = ArnContext(partition_of(region), account, region, config.project, config.stack,
                     config.settings.dax.clusterName if config.settings.dax.enabled else "",
                     table_regions=stack_table_regions(config.tables, config.settings))
    lines: list[str] = []
    add = lines.append
    verdict = "FAIL" if report.mandatory_violations else "PASS"
    add(f"# Security review: {config.project} / {config.stack}")
    add("")
    add(f"Region `{region}`, account `{account}`"
        + (" (placeholder: pin `aws:allowedAccountIds` to render the real one)" if account == PLACEHOLDER_ACCOUNT else "")
        + f". Generated from `{result.plan_path.name}`: {len(plan['resources'])} resources, exactly what `pulumi up` would create.")
    add("Values only AWS can assign (ARNs, key and pool ids) show as *(known after apply)*.")
    add("")
    add(f"**Guardrails: {verdict}** ({len(report.mandatory_violations)} mandatory violations; details at the end).")
    add("")

    add("## Security defaults this stack turns off")
    add("")
    weakened = weakened_settings(config, defaults)
    guard_off = weakened_guardrails(policy_config)
    direct = direct_write_grants(config)
    if not weakened and not guard_off and not direct:
        add("None: every protection is at its secure default.")
    else:
        add("| setting | this stack | default | protects |")
        add("|---|---|---|---|")
        for key, value, default, what in weakened:
            add(f"| `{key}` | {_code(value)} | {_code(default)} | {what} |")
        for grant, table in direct:
            add(f"| `ddb-blueprint:access.grants.{grant}.directWrites` | `true` | `false` | app users write `{table}` "
                "only through the API, which validates every value |")
        for name, what in guard_off:
            add(f"| guardrail `{name}` ({policy_config_path(Path('.'), config.stack).as_posix()}) | {what} | mandatory, required | see Guardrails |")
    add("")

    add("## Tables")
    add("")
    add("| table | key | encryption | PITR | deletion protection | protect / retain | stream |")
    add("|---|---|---|---|---|---|---|")
    for table in _resources(plan, "aws:dynamodb/table:Table"):
        i, o = table["inputs"], table["options"]
        sse = i.get("serverSideEncryption", {})
        encryption = "customer-managed key" if sse.get("enabled") and sse.get("kmsKeyArn") else "**not a CMK**"
        pitr = i.get("pointInTimeRecovery", {})
        add(f"| `{i.get('name')}` | `{i.get('hashKey')}`{' / `' + i['rangeKey'] + '`' if i.get('rangeKey') else ''} | {encryption} | "
            f"{str(pitr.get('recoveryPeriodInDays')) + ' days' if pitr.get('enabled') else '**off**'} | "
            f"{'on' if i.get('deletionProtectionEnabled') else '**off**'} | {o['protect']} / {o['retainOnDelete']} | "
            f"{i.get('streamViewType', '-')} |")
    add("")

    lines.extend(_global_tables_section(plan, region))

    add("## KMS key policies")
    for key in _resources(plan, "aws:kms/key:Key"):
        i = key["inputs"]
        add("")
        add(f"### `{key['name']}`: rotation {'on' if i.get('enableKeyRotation') else '**off**'} every {i.get('rotationPeriodInDays')} days, "
            f"deletion window {i.get('deletionWindowInDays')} days, protect {key['options']['protect']}")
        add("")
        policy = json.loads(i["policy"]) if i.get("policy") not in (None, UNKNOWN) else None
        if policy is None:
            add("Key policy: *(known after apply)*")
            continue
        add("| Sid | effect | principal | actions | conditions | why |")
        add("|---|---|---|---|---|---|")
        for s in policy["Statement"]:
            add(f"| `{s['Sid']}` | {s['Effect']} | {_principal_text(s['Principal'])} | {_list(s['Action'])} | {_conditions(s)} | {STATEMENT_PURPOSES.get(s['Sid'], '')} |")
    add("")

    identity = _resources(plan, "aws:cognito/identityPool:IdentityPool")
    if identity:
        pool = identity[0]["inputs"]
        add("## App users (Cognito)")
        add("")
        users = _resources(plan, "aws:cognito/userPool:UserPool")
        add(f"- Identity pool: unauthenticated identities **{'allowed' if pool.get('allowUnauthenticatedIdentities') else 'refused'}**, "
            f"classic flow {'on' if pool.get('allowClassicFlow') else 'off'}, server-side token check on.")
        if users:
            u = users[0]["inputs"]
            pw = u.get("passwordPolicy", {})
            add(f"- User pool (created by this stack): MFA `{u.get('mfaConfiguration')}`, passwords of at least {pw.get('minimumLength')} "
                f"characters with upper, lower, digit and symbol; deletion protection `{u.get('deletionProtection')}`.")
        else:
            add("- User pool: an existing one (ddb-blueprint:existingUserPool); its settings are reviewed where it is managed.")
        tags = _resources(plan, "aws:cognito/identityPoolProviderPrincipalTag:IdentityPoolProviderPrincipalTag")
        if tags:
            add(f"- Session tags from the token: {_code(tags[0]['inputs'].get('principalTags'))}: row-scoped grants compare partition keys with the user pool `sub`.")
        add("")

    from ..dax.review import review_lines

    lines.extend(review_lines(config, plan))
    add("## Roles")
    proof = isolation_proof(config, plan, ctx)
    failures = [row for row in proof if row[2] != row[1].expected]
    for component in _resources(plan, "ddb-blueprint:index:AccessRole"):
        out = component.get("outputs", {})
        review = out.get("review", {})
        name = component["name"].removesuffix("-role")
        add("")
        add(f"### `{out.get('roleName')}` ({review.get('kind')} principal `{name}`)")
        add("")
        add(review.get("description") or "")
        add("")
        add("**Who can assume it**")
        add("")
        for s in out.get("trustPolicy", {}).get("Statement", []):
            when = _conditions(s)
            add(f"- `{s['Sid']}`: {_principal_text(s['Principal'])} may {_list(s['Action'])}"
                + (f" only when {when}" if s.get("Condition") else " (no further condition)"))
        if review.get("service"):
            add(f"- Confused-deputy conditions for `{review['service']}`: "
                + TRUST_CONDITION_NOTES.get(review["service"], "**no documented support recorded for this service**"))
        add("")
        add("**What it may do** (each statement, the grant it serves and why)")
        add("")
        grants = {g["grant"]: g for g in review.get("grants", [])}
        by_sid = {_sid_prefix(g): g for g in grants}
        add("| Sid | grant | actions | resources | conditions | reason |")
        add("|---|---|---|---|---|---|")
        for s in out.get("permissionPolicy", {}).get("Statement", []):
            # Longest prefix first: grant "orderPlacementCart" must not be taken for "orderPlacement".
            grant_name = next((g for prefix, g in sorted(by_sid.items(), key=lambda kv: -len(kv[0])) if s["Sid"].startswith(prefix)), "?")
            reason = grants.get(grant_name, {}).get("reason", "")
            add(f"| `{s['Sid']}` | `{grant_name}` | {_list(s['Action'])} | {_list(s['Resource'])} | {_conditions(s)} | {reason} |")
        add("")
        add("**Isolation**")
        add("")
        for g in review.get("grants", []):
            limits = f"; attributes limited to {', '.join(f'`{a}`' for a in g['attributes'])}" if g["attributes"] else ""
            indexes = f"; indexes {', '.join(f'`{i}`' for i in g['indexes'])}" if g["indexes"] else "; no index"
            writes = ""
            if review.get("kind") == "cognitoUser" and not g["table"].startswith("topic "):
                writes = ("; **direct writes declared** (`directWrites: true`): app users write these items with their own "
                          "credentials, bypassing the API's validation") if g.get("directWrites") else (
                          "; read-only: app users change these items only through the API, which validates them")
            add(f"- `{g['grant']}` on `{g['table']}`: {g['isolation']}{indexes}{limits}{writes}.")
        rows = [row for row in proof if row[0] == name]
        if rows:
            add("")
            passed = sum(1 for row in rows if row[2] == row[1].expected)
            add(f"Isolation proof: {passed} of {len(rows)} requests evaluated against this role's policy behave as declared.")
            add("")
            lines.extend(_isolation_by_region(rows, region))
            add("| grant | request | expected | evaluated |")
            add("|---|---|---|---|")
            for _, scenario, outcome in rows:
                mark = "" if outcome == scenario.expected else " **MISMATCH**"
                add(f"| `{scenario.grant}` | {scenario.description} | {scenario.expected} | {outcome}{mark} |")
        add("")
        add("<details><summary>Policy documents</summary>")
        add("")
        add("Trust policy:")
        add("")
        lines.extend(_json_block(out.get("trustPolicy")))
        add("")
        add("Permission policy:")
        add("")
        lines.extend(_json_block(out.get("permissionPolicy")))
        add("")
        add("</details>")
    add("")

    lines.extend(api_section(config, plan, dict(api_evidence or {})))
    lines.extend(policy_section(config, plan, ctx))
    lines.extend(scanner_section(scanner))

    add("## Guardrails")
    add("")
    add("| policy | level | outcome | resource | message |")
    add("|---|---|---|---|---|")
    for r in sorted(report.results, key=lambda r: (r["outcome"], r["policy"], r["urn"])):
        add(f"| `{r['policy']}` | {r['enforcementLevel']} | {r['outcome']} | `{r['urn'].rsplit('::', 1)[-1]}` | {r['message'].replace('|', '/')} |")
    for name in sorted(set(report.passed) - {r["policy"] for r in report.results}):
        add(f"| `{name}` | mandatory | passed | all | |")
    add("")
    return "\n".join(lines) + "\n", len(failures) + api_failures(dict(api_evidence or {}))


def _statements_table(document: Any) -> list[str]:
    rows = ["| Sid | effect | principal | actions | resources | conditions |", "|---|---|---|---|---|---|"]
    for s in document.get("Statement", []):
        principal = _principal_text(s["Principal"]) if "Principal" in s else "the role's sessions"
        rows.append(f"| `{s.get('Sid', '')}` | {s.get('Effect')} | {principal} | {_list(s.get('Action', []))} | "
                    f"{_list(s.get('Resource', '-'))} | {_conditions(s)} |")
    return rows


def _offline_invoke_policy(config: BlueprintConfig, ctx: ArnContext) -> Any:
    from ..access.policies import invoke_policy
    from ..api.spec import STAGE_NAME, iam_routes, route_specs

    return invoke_policy(ctx.partition, ctx.account, ctx.region, "<api-id>", STAGE_NAME, iam_routes(route_specs(config)))


def policy_section(config: BlueprintConfig, plan: dict[str, Any], ctx: ArnContext) -> list[str]:
    """Every policy-bearing resource of the plan, traced to its declaration and reason (inventory.py)."""
    entries = inventory(plan)
    untraced = [e for e in entries if not e.traced]
    lines = ["## Every policy in this stack", "",
             f"{len(entries)} policies in the plan: every IAM policy, trust policy, key policy, resource policy and Lambda "
             "permission, found by their inputs and types (stacks/offline/inventory.py), each traced to the code that "
             "declares it. " + (f"**{len(untraced)} untraced: the stack is not approvable until each is explained.**"
                                if untraced else "All traced."), "",
             "| resource | type | kind | declared in | reason |", "|---|---|---|---|---|"]
    for e in entries:
        field = f" (`{e.field}`)" if e.field else ""
        declared = e.declared_in or "**UNTRACED**"
        lines.append(f"| `{e.name}`{field} | `{e.type}` | {e.kind} | {declared} | {e.reason or '**no reason recorded**'} |")
    lines.append("")
    for e in entries:
        lines += [f"### `{e.name}`: {e.kind}", "", f"`{e.urn}`", ""]
        document = e.document
        note = ""
        if document is None and e.name.endswith("-role-invoke"):
            document = _offline_invoke_policy(config, ctx)
            note = "The API id is known after apply; rendered offline by the same function with the id as `<api-id>`."
        if e.name.endswith("-role-access") or e.field == "assumeRolePolicy":
            lines += ["Statements, the grant each serves and its reason, and the isolation proof: see Roles.", ""]
            continue
        if isinstance(document, dict) and "Statement" in document:
            if note:
                lines += [note, ""]
            lines += _statements_table(document)
        elif isinstance(document, dict):
            resource = next(r for r in plan["resources"] if r["urn"] == e.urn)
            lines += ["| argument | value |", "|---|---|"]
            for key, value in document.items():
                source = resource.get("propertyDependencies", {}).get(key)
                derived = " (from " + ", ".join(f"`{u.rsplit('::', 1)[-1]}`" for u in source) + ")" if value == UNKNOWN and source else ""
                lines.append(f"| `{key}` | {_code(value)}{derived} |")
        else:
            lines.append("Document: *(known after apply)*")
        lines.append("")
    return lines


def scanner_section(scan: Any) -> list[str]:
    """checkov's findings on the Terraform JSON export: new ones, and accepted ones with their reasons."""
    lines = ["## Scanner (checkov on the Terraform JSON export)", ""]
    if scan is None:
        return lines + ["**Scanner not run** (audit --no-scanner).", ""]
    if not scan.ran:
        return lines + [f"**{scan.status}.** No scanner results in this review.", ""]
    lines += [f"{scan.status}: {scan.passed} checks passed, {len(scan.findings)} findings: "
              f"**{len(scan.new)} new** (not fixed, not accepted), {len(scan.accepted)} accepted in "
              "`policies/scanner-exceptions.yaml`. The export: `build/<stack>/terraform/main.tf.json` "
              "(`./blueprint export-tf <stack>`), for reviewers' own scanners too.", ""]
    if scan.new:
        lines += ["New findings (fix them, or accept them with a written reason):", "",
                  "| check | resource | title |", "|---|---|---|"]
        lines += [f"| `{f.check}` | `{f.resource}` | {f.title} |" for f in scan.new]
        lines.append("")
    if scan.accepted:
        by_check: dict[str, list[Any]] = {}
        for finding, exception in scan.accepted:
            by_check.setdefault(finding.check, []).append((finding, exception))
        lines += ["| check | title | resources | why accepted |", "|---|---|---|---|"]
        for check, items in sorted(by_check.items()):
            resources = "<br>".join(f"`{f.resource}`" for f, _ in items)
            lines.append(f"| `{check}` | {items[0][0].title} | {resources} | {items[0][1].reason} |")
        lines.append("")
    return lines


def untraced_policies(plan: dict[str, Any]) -> int:
    return sum(1 for e in inventory(plan) if not e.traced)


def _global_tables_section(plan: dict[str, Any], home: str) -> list[str]:
    """Replicas per table and region: key, PITR, deletion protection, tags (K1, T16)."""
    by_urn = {r["urn"]: r for r in plan["resources"]}
    rows: list[str] = []
    for table in _resources(plan, "aws:dynamodb/table:Table"):
        replicas = table["inputs"].get("replicas") or []
        keys = [by_urn[u] for u in table.get("propertyDependencies", {}).get("replicas", []) if u in by_urn]
        for replica in replicas:
            region = replica.get("regionName")
            key = next((k["name"] for k in keys if k["inputs"].get("region") == region), "**no key of this region**")
            rows.append(f"| `{table['inputs'].get('name')}` | {region} | {replica.get('consistencyMode', 'EVENTUAL')} | `{key}` | "
                        f"{'on' if replica.get('pointInTimeRecovery') else '**off**'} | "
                        f"{'on' if replica.get('deletionProtectionEnabled') else '**off**'} | "
                        f"{'yes' if replica.get('propagateTags') else 'no'} |")
    lines = ["## Global tables", ""]
    if not rows:
        return lines + [f"None: every table lives in `{home}` only.", ""]
    regional = [t["inputs"].get("name") for t in _resources(plan, "aws:dynamodb/table:Table") if not t["inputs"].get("replicas")]
    lines += [f"Home region `{home}`; replicas (version 2019.11.21) below. Each replica is encrypted with this stack's key "
              "in the replica's own region; removing a region deletes that region's copy.", ""]
    lines += ["| table | replica region | consistency | key | PITR | deletion protection | tags propagated |",
              "|---|---|---|---|---|---|---|", *rows, ""]
    if regional:
        lines += [f"Regional tables (global: false): {', '.join(f'`{n}`' for n in regional)}.", ""]
    return lines


def _isolation_by_region(rows: list[tuple[str, Scenario, str]], home: str) -> list[str]:
    """The isolation proof summed per region: the home region, each replica, a region without a copy."""
    import re

    counts: dict[str, list[int]] = {}
    for _, scenario, outcome in rows:
        match = re.search(r" in (?:replica region )?([a-z]{2}(?:-[a-z]+)+-\d)", scenario.description)
        where = f"{match.group(1)} (no copy)" if match and "no copy" in scenario.description else (match.group(1) if match else home)
        tally = counts.setdefault(where, [0, 0])
        tally[0] += outcome == scenario.expected
        tally[1] += 1
    if len(counts) == 1:
        return []
    lines = ["| region | requests as declared |", "|---|---|"]
    lines += [f"| {where} | {ok} of {total} |" for where, (ok, total) in counts.items()]
    return lines + [""]


def _sid_prefix(grant: str) -> str:
    from ..access.policies import pascal

    return pascal(grant)


def to_html(markdown_text: str, title: str) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code", "md_in_html"])
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}"
        "th{background:#f3f3f3}code{background:#f6f6f6;padding:0 .2em}pre{background:#f6f6f6;padding:1em;overflow:auto}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head><body>{body}</body></html>\n"


def audit(root: Path, stack: str, out_dir: Path, scanner: bool = True) -> AuditResult:
    from .scanner import scan

    result = preview(root, stack, out_dir)
    project = read_project(root, stack)
    config = load_for_stack(root, stack, cli_config(project, read_stack(root, stack)))
    path = policy_config_path(root, stack)
    policy_config = json.loads(path.read_text()) if path.exists() else {}
    account = (config.settings.allowedAccountIds or [PLACEHOLDER_ACCOUNT])[0]
    evidence = isolation_evidence(config, result.plan, out_dir)
    scanned = scan(root, result.plan, out_dir) if scanner else None
    text, failures = render_report(config, result, project_defaults(project), policy_config, account, evidence, scanned)
    markdown_path = out_dir / stack / "security-review.md"
    html_path = out_dir / stack / "security-review.html"
    markdown_path.write_text(text, encoding="utf-8")
    html_path.write_text(to_html(text, f"Security review: {config.project} / {stack}"), encoding="utf-8")
    return AuditResult(result, markdown_path, html_path, failures, untraced_policies(result.plan), scanned)
