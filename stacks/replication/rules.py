"""Replication rules, checked before anything is registered (pure; (path, message) findings).

Paths are config keys without the namespace: `replicaRegions[1]`, `witnessRegion`,
`tables.orders.ttlAttribute`, `tableOverrides.products.replicaReadCapacity.us-west-2`. The loader
turns them into located errors. Facts: T1 (streams), T10 (MRSC topology, region sets, mode is
create-time only), T13 (MRSC: no TTL, no LSIs, no transactions), T16 (replica blocks).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from ..tables.model import TableModel
from .model import MRSC_REGION_SETS, MRSC_REPLICA_REGIONS, Topology, partition_of, region_set_of

Finding = tuple[str, str]

_SETS_TEXT = "; ".join(f"{name}: {', '.join(regions)}" for name, regions in MRSC_REGION_SETS.items())


def _closest(word: str, choices: Iterable[str]) -> str:
    import difflib

    match = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def topology_findings(topology: Topology, known_regions: Iterable[str]) -> list[Finding]:
    """Problems with replicaRegions / replicaConsistency / witnessRegion of one stack."""
    known = set(known_regions)
    found: list[Finding] = []
    seen: set[str] = set()
    for i, region in enumerate(topology.replicas):
        path = f"replicaRegions[{i}]"
        if region == topology.home:
            found.append((path, f"{region!r} is the home region (aws:region); list only the OTHER regions"))
        elif region in seen:
            found.append((path, f"{region!r} is listed twice; a global table has one replica per region"))
        elif region not in known:
            found.append((path, f"unknown region {region!r}{_closest(region, known)}"))
        elif partition_of(region) != partition_of(topology.home):
            found.append((path, f"{region!r} is in partition {partition_of(region)}, the home region "
                          f"{topology.home!r} in {partition_of(topology.home)}; replicas stay in one partition"))
        seen.add(region)
    witness = topology.witness
    if witness is not None:
        if topology.mode != "STRONG":
            found.append(("witnessRegion", "a witness belongs to replicaConsistency STRONG (MRSC) only; "
                          "remove it or set replicaConsistency: STRONG"))
        elif witness not in known:
            found.append(("witnessRegion", f"unknown region {witness!r}{_closest(witness, known)}"))
        elif witness in topology.regions:
            found.append(("witnessRegion", f"{witness!r} already holds a replica; the witness is a different region (T10)"))
    if topology.mode == "STRONG":
        found += _mrsc_topology_findings(topology)
    return found


def _mrsc_topology_findings(topology: Topology) -> list[Finding]:
    regions = list(dict.fromkeys(topology.regions))
    with_witness = topology.witness is not None
    expected = 2 if with_witness else MRSC_REPLICA_REGIONS
    if len(regions) != expected:
        shape = (f"{len(regions)} replica regions plus a witness" if with_witness else f"{len(regions)} regions")
        return [("replicaRegions", f"STRONG (MRSC) needs exactly 3 regions (home + 2 replicaRegions) or 2 regions "
                 f"(home + 1 replicaRegions) plus witnessRegion; got {shape} (T10)")]
    all_regions = regions + ([topology.witness] if topology.witness else [])
    sets = {region: region_set_of(region) for region in all_regions}
    outside = [r for r, s in sets.items() if s is None]
    if outside:
        return [("replicaRegions", f"STRONG (MRSC) is available in these region sets only: {_SETS_TEXT}; "
                 f"{', '.join(outside)} is in none (T10)")]
    if len(set(sets.values())) > 1:
        spread = ", ".join(f"{r} ({s})" for r, s in sets.items())
        return [("replicaRegions", f"STRONG (MRSC) regions must all be in one region set; got {spread} (T10)")]
    return []


def strong_table_findings(
    tables: Mapping[str, TableModel], transactional_tables: Mapping[str, list[str]]
) -> list[Finding]:
    """Features of global tables that MRSC does not support (T13). Only called for STRONG stacks."""
    found: list[Finding] = []
    for name in sorted(tables):
        table = tables[name]
        if not table.is_global:
            continue
        where = f"tables.{name}"
        why = "replicaConsistency STRONG (MRSC) does not support"
        if table.ttlAttribute:
            found.append((f"{where}.ttlAttribute", f"{why} TTL (T13); remove ttlAttribute or set global: false"))
        if table.localIndexes:
            found.append((f"{where}.localIndexes", f"{why} local secondary indexes (T13); use a global index or "
                          "set global: false"))
        users = transactional_tables.get(name)
        if users:
            found.append((where, f"{why} transactions (T13), and function(s) {', '.join(users)} use "
                          "TransactWriteItems/TransactGetItems on it; set global: false or use EVENTUAL"))
    return found


def stream_findings(tables: Mapping[str, TableModel], topology: Topology) -> list[Finding]:
    """MREC replicas always have a stream with new and old images (T1); a declared stream must agree."""
    if not topology.replicated or topology.mode != "EVENTUAL":
        return []
    return [
        (f"tables.{name}.stream", f"a global table replicated with EVENTUAL consistency streams NEW_AND_OLD_IMAGES "
         f"(replication uses the stream, it cannot be turned off or narrowed, T1); declare stream: NEW_AND_OLD_IMAGES "
         f"or set global: false (got {table.stream})")
        for name, table in sorted(tables.items())
        if table.is_global and table.stream is not None and table.stream != "NEW_AND_OLD_IMAGES"
    ]


def override_findings(
    overrides: Mapping[str, Any], tables: Mapping[str, TableModel], topology: Topology, billing_modes: Mapping[str, str]
) -> list[Finding]:
    """replicaReadCapacity: only on PROVISIONED global tables, only for the stack's replica regions."""
    found: list[Finding] = []
    for name, override in sorted(overrides.items()):
        per_region = getattr(override, "replicaReadCapacity", {}) or {}
        if not per_region or name not in tables:
            continue
        path = f"tableOverrides.{name}.replicaReadCapacity"
        if billing_modes.get(name) != "PROVISIONED":
            found.append((path, "applies to PROVISIONED tables (on-demand replicas need no capacity)"))
            continue
        if not tables[name].is_global:
            found.append((path, f"table {name!r} is not global (global: false); it has no replicas"))
            continue
        for region in per_region:
            if region not in topology.replicas:
                listed = ", ".join(topology.replicas) or "none"
                found.append((f"{path}.{region}", f"{region!r} is not one of replicaRegions ({listed})"))
    return found


def transactional_tables(functions: Any, access: Any) -> dict[str, list[str]]:
    """Table → the transactional functions whose principal has an item grant on it (from the models)."""
    from ..access.policies import item_actions

    users: dict[str, list[str]] = {}
    for fn_name, fn in sorted(functions.functions.items()):
        if not fn.transactional:
            continue
        for grant in access.grants.values():
            # Item grants only: reading a table's stream is not a transaction on it.
            if grant.principal == fn.principal and grant.table is not None and item_actions(grant):
                users.setdefault(grant.table, [])
                if fn_name not in users[grant.table]:
                    users[grant.table].append(fn_name)
    return users


def replication_findings(
    topology: Topology,
    known_regions: Iterable[str],
    tables: Optional[Mapping[str, TableModel]],
    overrides: Mapping[str, Any],
    billing_modes: Mapping[str, str],
    functions: Any = None,
    access: Any = None,
) -> list[Finding]:
    """Every replication problem of one stack."""
    found = topology_findings(topology, known_regions)
    if tables is None:
        return found
    found += stream_findings(tables, topology)
    found += override_findings(overrides, tables, topology, billing_modes)
    if topology.mode == "STRONG":
        users = transactional_tables(functions, access) if functions is not None and access is not None else {}
        found += strong_table_findings(tables, users)
    return found


def mode_change_findings(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[Finding]:
    """Consistency mode is create-time only (T10): compare this plan's tables with the last plan's.

    `previous`/`current` map table logical names to {"mode": ..., "replicas": [...]} as written in
    build/<stack>/plan.json. A table that had replicas and has them now with another mode would
    need to be recreated empty; the only way there is a new table and a data migration.
    """
    found: list[Finding] = []
    for name in sorted(set(previous) & set(current)):
        before, after = previous[name], current[name]
        if before.get("replicas") and after.get("replicas") and before.get("mode") != after.get("mode"):
            found.append((f"tables.{name}", f"consistency mode changes from {before.get('mode')} to {after.get('mode')}: "
                          "a global table's mode is chosen at creation and cannot change (T10); keep "
                          f"replicaConsistency {before.get('mode')} or migrate to a new table"))
    return found
