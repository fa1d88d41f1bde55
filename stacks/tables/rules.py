"""Cross-field rules DynamoDB enforces at create time, checked before anything is registered.

Pure functions over the typed model: each returns (path, message) pairs, path relative to the
config key it concerns, so every problem in a file is reported at once (GOTCHAS T11, T12).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional

from ..config.base import LOGICAL_NAME
from ..config.settings import StackSettings
from .model import TableModel
from ..naming import physical_table_name

MAX_GSIS = 20
MAX_LSIS = 5
MAX_KEY_ATTRIBUTES_PER_ROLE = 4  # multi-attribute GSI keys: up to 4 HASH and 4 RANGE
MAX_PROJECTED_NON_KEY_ATTRIBUTES = 100  # across all indexes of a table
TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")  # T12
INDEX_NAME = TABLE_NAME
MAX_ATTRIBUTE_NAME_BYTES = 255  # T12: attribute names are 1-255 bytes
# Tags the blueprint sets itself: project, stack, managed-by on every resource, plus `table` on
# tables and `description` on topics (one of the two per resource).
RESERVED_TAG_KEYS = ("project", "stack", "managed-by", "table", "description")
MAX_TAGS_PER_RESOURCE = 50  # G1
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - 4
TAG_TEXT = re.compile(r"^[\w +\-=.:/@]*$")  # G1: letters, digits, spaces and _ . : / = + - @

Finding = tuple[str, str]


def key_attributes(table: TableModel) -> set[str]:
    """Every attribute used by a key of the table or one of its indexes."""
    used = {table.partitionKey} | ({table.sortKey} if table.sortKey else set())
    for gsi in table.globalIndexes.values():
        used |= set(gsi.partition_attributes) | set(gsi.sort_attributes)
    for lsi in table.localIndexes.values():
        used.add(lsi.sortKey)
    return used


def _undeclared(table: TableModel, path: str, names: Iterable[str]) -> list[Finding]:
    declared = sorted(table.attributes)
    return [
        (path, f"attribute {name!r} is not declared in attributes (declared: {', '.join(declared)})")
        for name in names
        if name not in table.attributes
    ]


def _projection_findings(
    table: TableModel, path: str, projection: str, non_key: list[str], index_keys: set[str]
) -> list[Finding]:
    found: list[Finding] = []
    if projection == "INCLUDE" and not non_key:
        found.append((f"{path}.nonKeyAttributes", "projection INCLUDE needs at least one nonKeyAttributes entry"))
    if projection != "INCLUDE" and non_key:
        found.append((f"{path}.nonKeyAttributes", f"only allowed with projection INCLUDE (projection is {projection})"))
    keys = index_keys | {table.partitionKey} | ({table.sortKey} if table.sortKey else set())
    for name in non_key:
        if name in keys:
            found.append((f"{path}.nonKeyAttributes", f"{name!r} is a key attribute and is always projected; remove it"))
    if len(set(non_key)) != len(non_key):
        found.append((f"{path}.nonKeyAttributes", "lists an attribute twice"))
    return found


def _global_index_findings(table: TableModel, name: str) -> list[Finding]:
    gsi = table.globalIndexes[name]
    path = f"globalIndexes.{name}"
    found: list[Finding] = []
    for role, attrs, minimum in (
        ("partitionKey", gsi.partition_attributes, 1),
        ("sortKey", gsi.sort_attributes, 0),
    ):
        if not minimum <= len(attrs) <= MAX_KEY_ATTRIBUTES_PER_ROLE:
            found.append((f"{path}.{role}", f"takes {minimum} to {MAX_KEY_ATTRIBUTES_PER_ROLE} attributes, got {len(attrs)}"))
        found += _undeclared(table, f"{path}.{role}", attrs)
    all_keys = gsi.partition_attributes + gsi.sort_attributes
    if len(set(all_keys)) != len(all_keys):
        found.append((path, "uses the same attribute twice in its key"))
    found += _projection_findings(table, path, gsi.projection, gsi.nonKeyAttributes, set(all_keys))
    return found


def _local_index_findings(table: TableModel, name: str) -> list[Finding]:
    lsi = table.localIndexes[name]
    path = f"localIndexes.{name}"
    found: list[Finding] = []
    if not table.sortKey:
        found.append((path, "a local index needs a table with a sortKey (it shares the table's partition key)"))
    if lsi.sortKey == table.partitionKey:
        found.append((f"{path}.sortKey", f"must differ from the table's partitionKey {table.partitionKey!r}"))
    elif lsi.sortKey == table.sortKey:
        found.append((f"{path}.sortKey", f"equals the table's sortKey {table.sortKey!r}; the index would add nothing"))
    found += _undeclared(table, f"{path}.sortKey", [lsi.sortKey])
    found += _projection_findings(table, path, lsi.projection, lsi.nonKeyAttributes, {lsi.sortKey})
    return found


def table_findings(name: str, table: TableModel, project: str, stack: str) -> list[Finding]:
    """Problems with one table of the data model (paths relative to the table)."""
    found: list[Finding] = []
    if not re.match(LOGICAL_NAME, name):
        found.append(("", "table names are identifiers: a lowercase letter, then letters or digits, at most 40"))
    physical = physical_table_name(project, stack, name)
    if not TABLE_NAME.match(physical):
        found.append(("", f"physical name {physical!r} must be 3-255 characters of a-z A-Z 0-9 _ . - (GOTCHAS T12)"))
    found += _undeclared(table, "partitionKey", [table.partitionKey])
    if table.sortKey is not None:
        if table.sortKey == table.partitionKey:
            found.append(("sortKey", f"must differ from partitionKey {table.partitionKey!r}"))
        found += _undeclared(table, "sortKey", [table.sortKey])
    if len(table.globalIndexes) > MAX_GSIS:
        found.append(("globalIndexes", f"{len(table.globalIndexes)} global indexes; DynamoDB allows at most {MAX_GSIS}"))
    if len(table.localIndexes) > MAX_LSIS:
        found.append(("localIndexes", f"{len(table.localIndexes)} local indexes; DynamoDB allows at most {MAX_LSIS}"))
    for index_name in sorted(set(table.globalIndexes) & set(table.localIndexes)):
        found.append((f"localIndexes.{index_name}", "the same name is used by a global index; index names are unique"))
    for index_name in [*table.globalIndexes, *table.localIndexes]:
        if not INDEX_NAME.match(index_name):
            found.append((index_name, "index names are 3-255 characters of a-z A-Z 0-9 _ . -"))
    for index_name in table.globalIndexes:
        found += _global_index_findings(table, index_name)
    for index_name in table.localIndexes:
        found += _local_index_findings(table, index_name)
    projected = {a for gsi in table.globalIndexes.values() for a in gsi.nonKeyAttributes}
    projected |= {a for lsi in table.localIndexes.values() for a in lsi.nonKeyAttributes}
    if len(projected) > MAX_PROJECTED_NON_KEY_ATTRIBUTES:
        found.append(("", f"{len(projected)} projected non-key attributes; DynamoDB allows {MAX_PROJECTED_NON_KEY_ATTRIBUTES}"))
    keys = key_attributes(table)
    for attribute in sorted(set(table.attributes) - keys):
        found.append(
            (f"attributes.{attribute}", "declared but used by no key or index; DynamoDB accepts key attributes only")
        )
    if table.ttlAttribute is not None and table.ttlAttribute in keys:
        found.append(("ttlAttribute", f"{table.ttlAttribute!r} is a key attribute; TTL needs a separate number attribute"))
    found += _attribute_name_findings(table)
    return found


def _attribute_name_findings(table: TableModel) -> list[Finding]:
    """Attribute names DynamoDB refuses: empty, blank or longer than 255 bytes (T12)."""
    found: list[Finding] = []
    named: list[tuple[str, str]] = [(f"attributes.{a}", a) for a in table.attributes]
    named += [(f"globalIndexes.{i}.nonKeyAttributes", a) for i, g in table.globalIndexes.items() for a in g.nonKeyAttributes]
    named += [(f"localIndexes.{i}.nonKeyAttributes", a) for i, l in table.localIndexes.items() for a in l.nonKeyAttributes]
    for path, name in named:
        if not name.strip() or len(name.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
            found.append((path, f"attribute names are 1-{MAX_ATTRIBUTE_NAME_BYTES} bytes and not blank (GOTCHAS T12)"))
    if table.ttlAttribute is not None:
        if not table.ttlAttribute.strip():
            found.append(("ttlAttribute", "is empty: name the number attribute holding the expiry time (epoch "
                                          "seconds), or leave ttlAttribute out for no TTL"))
        elif len(table.ttlAttribute.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
            found.append(("ttlAttribute", f"attribute names are 1-{MAX_ATTRIBUTE_NAME_BYTES} bytes (GOTCHAS T12)"))
    return found


def tag_findings(tags: Mapping[str, str]) -> list[Finding]:
    """Tags AWS refuses (G1): key 1-128 and value 0-256 characters of letters, digits, spaces and
    _ . : / = + - @; the aws: prefix is AWS's; at most 50 per resource with the blueprint's own."""
    found: list[Finding] = []
    for key, value in tags.items():
        path = f"tags.{key}"
        if key in RESERVED_TAG_KEYS:
            found.append((path, "is set by the blueprint itself; choose another key"))
        elif key.lower().startswith("aws:"):
            found.append((path, "keys starting with 'aws:' are reserved by AWS (GOTCHAS G1)"))
        elif not key:
            found.append(("tags", "has an empty key; tag keys are 1-128 characters (GOTCHAS G1)"))
        elif not 1 <= len(key) <= 128:
            found.append((path, "tag keys are 1-128 characters (GOTCHAS G1)"))
        elif not TAG_TEXT.match(key) or not key.strip():
            found.append((path, "tag keys may hold letters, digits, spaces and _ . : / = + - @ only (GOTCHAS G1)"))
        if len(value) > 256:
            found.append((path, "tag values are at most 256 characters (GOTCHAS G1)"))
        elif not TAG_TEXT.match(value):
            found.append((path, "tag values may hold letters, digits, spaces and _ . : / = + - @ only (GOTCHAS G1)"))
    if len(tags) > MAX_USER_TAGS:
        found.append(("tags", f"{len(tags)} tags; at most {MAX_USER_TAGS}: AWS allows {MAX_TAGS_PER_RESOURCE} per "
                              "resource and the blueprint sets 4 of its own (GOTCHAS G1)"))
    return found


def effective_billing_mode(settings: StackSettings, table: str) -> str:
    override = settings.tableOverrides.get(table)
    return (override.billingMode if override and override.billingMode else None) or settings.billingMode


def region_finding(region: str, regions: Iterable[str]) -> Optional[str]:
    known = sorted(regions)
    return None if region in known else f"unknown region {region!r}{_closest(region, known)}"


def unknown_override_findings(override_names: Iterable[str], tables: Mapping[str, TableModel]) -> list[Finding]:
    return [
        (f"tableOverrides.{name}", f"no table {name!r} in the data model{_closest(name, sorted(tables))}; tables: {', '.join(sorted(tables))}")
        for name in sorted(override_names)
        if name not in tables
    ]


def settings_findings(settings: StackSettings, tables: Mapping[str, TableModel]) -> list[Finding]:
    """Problems with the per-environment settings, given the model (paths are config keys)."""
    found: list[Finding] = []
    for table_name, override in settings.tableOverrides.items():
        path = f"tableOverrides.{table_name}"
        if table_name not in tables:
            continue  # reported by unknown_override_findings, even when other settings are invalid
        mode = effective_billing_mode(settings, table_name)
        if override.capacity is not None and mode != "PROVISIONED":
            found.append((f"{path}.capacity", f"capacity applies to PROVISIONED tables; this table is {mode}"))
        if override.maxThroughput is not None and mode != "PAY_PER_REQUEST":
            found.append((f"{path}.maxThroughput", "maxThroughput applies to PAY_PER_REQUEST tables"))
        if override.applyIndexChanges and (mode != "PROVISIONED" or not tables[table_name].globalIndexes):
            found.append((f"{path}.applyIndexChanges", "applies to PROVISIONED tables with global indexes (only their "
                                                       "indexes are ignored by pulumi up); remove it"))
        if override.capacity is not None:
            for index_name in override.capacity.indexes:
                if index_name not in tables[table_name].globalIndexes:
                    found.append((f"{path}.capacity.indexes.{index_name}", f"table {table_name!r} has no global index {index_name!r}"))
    for table_name in sorted(tables):
        override = settings.tableOverrides.get(table_name)
        if effective_billing_mode(settings, table_name) == "PROVISIONED" and (override is None or override.capacity is None):
            found.append(
                (f"tableOverrides.{table_name}.capacity", "PROVISIONED billing needs capacity (read and write min/max)")
            )
    found += tag_findings(settings.tags)
    return found


def _closest(word: str, choices: list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def closest_hint(word: str, choices: Iterable[str]) -> str:
    return _closest(word, sorted(choices))


