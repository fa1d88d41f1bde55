"""Physical names. Deterministic, so ARNs are known before deployment and equal in every region.

Changing any input of these names renames the resource in AWS, which for a table or key means a
replacement: the names depend only on project, stack and the logical name in the data model.
"""


def physical_table_name(project: str, stack: str, table: str) -> str:
    return f"{project}-{stack}-{table}"


def key_alias_name(project: str, stack: str) -> str:
    return f"alias/{project}/{stack}/tables"


def standard_tags(project: str, stack: str) -> dict[str, str]:
    return {"project": project, "stack": stack, "managed-by": "pulumi"}


def tag_value(text: str) -> str:
    """Free text (a description) as a tag value AWS accepts (GOTCHAS G1): characters outside
    letters, digits, spaces and _ . : / = + - @ become spaces; at most 256 characters."""
    import re

    return " ".join(re.sub(r"[^\w +\-=.:/@]", " ", text).split())[:256]


def role_name(project: str, stack: str, principal: str) -> str:
    return f"{project}-{stack}-{principal}"


def cognito_name(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def ops_key_alias_name(project: str, stack: str) -> str:
    return f"alias/{project}/{stack}/ops"


def api_name(project: str, stack: str, api: str) -> str:
    return f"{project}-{stack}-{api}"


def function_name(project: str, stack: str, function: str) -> str:
    return f"{project}-{stack}-{function}"
