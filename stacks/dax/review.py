"""The DAX part of the security review (`python -m stacks audit`): the cluster, the network path, the
service role, the accepted exceptions, and for every principal whether it may use DAX and why.
Pure: the validated config and the recorded plan in, markdown lines out.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .policies import dax_grants
from .spec import TLS_PORT

CLUSTER = "aws:dax/cluster:Cluster"


def _of(plan: Mapping[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def principal_verdicts(config: Any) -> list[tuple[str, str, str, str]]:
    """(principal, kind, may use DAX, why) for every principal of the effective access model."""
    dax = config.settings.dax
    cached = set(dax.tables) if dax.enabled else set()
    via = {}
    for name, grant in dax_grants(config.access):
        via.setdefault(grant.principal, []).append((name, grant))
    rows = []
    for name, principal in sorted(config.access.principals.items()):
        grants = [g for g in config.access.grants.values() if g.principal == name]
        scoped = sorted({g.table for g in grants if (g.rowScope or g.attributes) and g.table in cached})
        if name in via:
            parts = [f"`{n}`: {', '.join(g.actions or g.access)} on `{g.table}`" for n, g in via[name]]
            rows.append((name, principal.kind, "yes",
                         f"declared `via: dax` ({'; '.join(parts)}); no row or attribute scope; like every client it "
                         "could use all of the cluster role's rights on the cached tables (D3)"))
        elif principal.kind == "cognitoUser":
            rows.append((name, principal.kind, "no", "app users are outside the VPC and their grants are row-scoped; DAX "
                         "enforces no per-user condition (D3); their reads stay with DynamoDB or API Gateway"))
        elif scoped:
            rows.append((name, principal.kind, "no", f"row- or attribute-scoped on {', '.join(scoped)}, which the "
                         "cluster caches: DAX would ignore the scope (D3); the guardrail dax-no-row-scoped-clients refuses it"))
        else:
            rows.append((name, principal.kind, "no", "no `via: dax` grant: it reads DynamoDB directly" if cached
                         else "DAX is off in this stack"))
    return rows


def review_lines(config: Any, plan: Mapping[str, Any]) -> list[str]:
    dax = config.settings.dax
    lines = ["## DAX", ""]
    if not dax.enabled:
        lines += ["DAX is off in this stack: no cluster, no VPC; the read routes are direct integrations.", ""]
        return lines
    [cluster] = [r["inputs"] for r in _of(plan, CLUSTER)]
    lines += [
        f"Cluster `{cluster['clusterName']}`: {cluster['replicationFactor']} x `{cluster['nodeType']}` in "
        f"{', '.join(f'`{z}`' for z in cluster.get('availabilityZones', []))}; caches {', '.join(f'`{t}`' for t in dax.tables)}; "
        f"item TTL {dax.itemTtlMillis} ms, query TTL {dax.queryTtlMillis} ms.",
        f"- Encryption at rest: {'on' if cluster['serverSideEncryption'].get('enabled') else '**off**'} "
        "(AWS managed key: DAX takes no customer key, D11; accepted exception to K8).",
        f"- Encryption in transit: `{cluster['clusterEndpointEncryptionType']}`; clients use `daxs://` on port {TLS_PORT}. "
        "The cluster name appears in public Certificate Transparency logs (D10): it holds no secret.",
        "",
        "**Network path**: API Gateway → reader functions (private subnets, client security group) → DAX over TLS → "
        "DynamoDB as the cluster's role.",
    ]
    network = dax.network
    if network is not None and network.create is not None:
        endpoints = [e["inputs"] for e in _of(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")]
        lines += [f"- VPC `{network.create.cidr}` created by the stack: subnets in {', '.join(network.create.availabilityZones)}, "
                  "no internet gateway, no NAT, no route out; default security group emptied.",
                  "- Endpoints: " + ", ".join(f"`{e['serviceName']}` ({e['vpcEndpointType']})" for e in endpoints)
                  + " (the gateway endpoint's policy admits this stack's tables only).",
                  f"- Flow logs: all traffic, to a log group encrypted with the ops key, kept {network.create.flowLogRetentionDays} days."]
    elif network is not None and network.existing is not None:
        lines += [f"- Existing VPC `{network.existing.vpcId}`, subnets "
                  + ", ".join(f"`{s}` ({z})" for s, z in sorted(network.existing.subnets.items()))
                  + ": their routes, endpoints and flow logs are managed elsewhere; review them there."]
    for rule in _of(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        i = rule["inputs"]
        if rule["name"].startswith("dax-"):
            source = i.get("cidrIpv4") or ("the client security group" if "referencedSecurityGroupId" in i else "?")
            lines.append(f"- Ingress `{rule['name']}`: {i['ipProtocol']} {i['fromPort']}-{i['toPort']} from {source}.")
    for rule in _of(plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        i = rule["inputs"]
        lines.append(f"- Egress `{rule['name']}` (client security group): {i['ipProtocol']} {i['fromPort']}-{i['toPort']} "
                     "to the cluster security group only.")
    roles = {r["name"]: r for r in _of(plan, "aws:iam/role:Role")}
    policies = {r["name"]: r for r in _of(plan, "aws:iam/rolePolicy:RolePolicy")}
    if "dax-role" in roles:
        trust = json.loads(roles["dax-role"]["inputs"]["assumeRolePolicy"])
        lines += ["", f"**Service role `{roles['dax-role']['inputs']['name']}`**: trusted by "
                  f"{', '.join(json.dumps(s['Principal']) for s in trust['Statement'])} with no condition: AWS documents "
                  "no aws:SourceAccount/aws:SourceArn support for DAX (D1, I8; deployer check listed there).", ""]
        document = json.loads(policies["dax-role-policy"]["inputs"]["policy"])
        lines += ["| Sid | actions | resources |", "|---|---|---|"]
        for s in document["Statement"]:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            lines.append(f"| `{s['Sid']}` | {', '.join(s['Action'])} | {'<br>'.join(resources)} |")
    lines += ["", "**Who may use DAX**", "", "| principal | kind | DAX | why |", "|---|---|---|---|"]
    lines += [f"| `{p}` | {k} | {v} | {why} |" for p, k, v, why in principal_verdicts(config)]
    lines += ["", "**Accepted exceptions**: SSE with the AWS managed key (D11); the readers' network-interface "
              "actions on `*`, which Lambda needs to attach them to the VPC (D6; only these actions, alone in their "
              "statement); no confused-deputy condition on the DAX trust (D1).", ""]
    return lines
