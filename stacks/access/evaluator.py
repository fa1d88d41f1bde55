"""Offline evaluator for the IAM identity-policy constructs this blueprint generates.

No AWS account is reachable here, so row-level isolation (GOTCHAS I1-I6) is proven by evaluating
the generated policy documents. Scope: identity policies of one account (no SCPs, boundaries,
session or resource policies). Explicit Deny wins, then any Allow, else implicit deny
("Policy evaluation logic"). Anything outside the supported grammar raises ValueError: an
evaluator that guesses could report isolation that AWS would not enforce.

Semantics, with the AWS page each follows:
- Condition operators AND-ed, keys within one operator AND-ed, values of one key OR-ed; for
  negated operators (StringNotEquals, ArnNotLike...) the values are NOR-ed
  ("Conditions with multiple context keys or values").
- Missing key: false, except negated operators (true), `...IfExists` (true) and Null
  ("IAM JSON policy elements: Condition operators").
- `ForAllValues`: every request value must satisfy the operator; true when the key is absent or
  empty. `ForAnyValue`: some request value must; false when absent or empty
  ("Single-valued vs. multivalued context keys", "Multivalued context key examples").
  `ForAnyValue:...IfExists` with the key absent is true (the IfExists rule).
- An operator without a qualifier on a key that has several request values is not defined by
  the docs (they only say such keys "require a condition set operator"). We choose: a positive
  operator is true if any request value matches any policy value, a negated one only if no pair
  matches (the same NOR rule as above). The generated policies never rely on this.
- Variables `${key}`, `${key, 'default'}` and the escapes `${*}` `${?}` `${$}` are substituted in
  Resource/NotResource and in String and ARN condition values, only under Version "2012-10-17";
  otherwise they are literal text ("IAM policy elements: Variables and tags", GOTCHAS I6).
  A variable whose key is absent (or multivalued) is "effectively null": a Resource entry with it
  matches nothing, a positive operator never matches it, a negated one does. Substituted text is
  matched literally, never as a wildcard.
- Condition key names and variable names are case-insensitive; values follow the operator.
  Actions match case-insensitively, resources case-sensitively, with `*` and `?` globbing the
  whole string. ArnEquals/ArnLike (identical per the docs) glob each of the six colon-separated
  ARN components separately.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union

ContextValue = Union[str, Sequence[str]]
Decision = Literal["allow", "explicit-deny", "implicit-deny"]

VARIABLES_VERSION = "2012-10-17"
_VERSIONS = {"2012-10-17", "2008-10-17"}
_POLICY_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


@dataclass(frozen=True)
class Request:
    action: str  # "dynamodb:GetItem"
    resource: str  # full ARN
    # A key absent from the mapping is absent from the request; a list is a multivalued key.
    context: Mapping[str, ContextValue] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Templates: policy strings split into text, escapes and variables once, resolved per request.
# --------------------------------------------------------------------------------------------

_Token = tuple[str, str, Optional[str]]  # ("text", s, None) | ("char", c, None) | ("var", key, default)
_Template = tuple[_Token, ...]
_Pieces = tuple[tuple[str, bool], ...]  # (text, wildcards active?)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WITH_DEFAULT = re.compile(r"\s*([^,'\s][^,']*?)\s*,\s*'([^']*)'\s*")


def _template(raw: str, variables: bool, where: str) -> _Template:
    if not variables:
        return (("text", raw, None),)
    tokens: list[_Token] = []
    at = 0
    for m in _VARIABLE.finditer(raw):
        tokens.append(("text", raw[at : m.start()], None))
        inner = m.group(1)
        if inner in ("*", "?", "$"):
            tokens.append(("char", inner, None))
        elif (d := _WITH_DEFAULT.fullmatch(inner)) is not None:
            tokens.append(("var", d.group(1), d.group(2)))
        elif inner.strip() and not set(inner) & {",", "'", "$", "{"}:
            tokens.append(("var", inner.strip(), None))
        else:
            raise ValueError(f"{where}: malformed policy variable ${{{inner}}} in {raw!r}")
        at = m.end()
    tokens.append(("text", raw[at:], None))
    if any(kind == "text" and "${" in text for kind, text, _ in tokens):
        raise ValueError(f"{where}: unterminated policy variable in {raw!r}")
    return tuple(t for t in tokens if t[1] or t[0] != "text")


def _resolve(template: _Template, ctx: Mapping[str, Any]) -> Optional[_Pieces]:
    """Pieces of the string for this request, or None when a variable has no value."""
    pieces: list[tuple[str, bool]] = []
    for kind, text, default in template:
        if kind == "text":
            pieces.append((text, True))
        elif kind == "char":
            pieces.append((text, False))  # ${*} is a literal asterisk, not a wildcard
        else:
            value = ctx.get(text.casefold())
            if not isinstance(value, str):  # absent, or multivalued: cannot be a variable
                if default is None:
                    return None
                value = default
            pieces.append((value, False))
    return tuple(pieces)


def _text(pieces: _Pieces) -> str:
    return "".join(text for text, _ in pieces)


@lru_cache(maxsize=4096)
def _glob(pieces: _Pieces, ignore_case: bool = False) -> re.Pattern[str]:
    out: list[str] = []
    for text, wild in pieces:
        for ch in text:
            out.append(".*" if wild and ch == "*" else "." if wild and ch == "?" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_components(pieces: _Pieces) -> Optional[list[_Pieces]]:
    """Split at the first five colons, like an ARN; None if there are fewer than six parts."""
    parts: list[list[tuple[str, bool]]] = [[]]
    for text, wild in pieces:
        for ch in text:
            if ch == ":" and len(parts) < 6:
                parts.append([])
            else:
                parts[-1].append((ch, wild))
    return [tuple(p) for p in parts] if len(parts) == 6 else None


# --------------------------------------------------------------------------------------------
# Condition operators.
# --------------------------------------------------------------------------------------------

_Matcher = Callable[[str, _Pieces], bool]


def _number(text: str) -> Optional[Decimal]:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> _Matcher:
    def match(request: str, policy: _Pieces) -> bool:
        left, right = _number(request), _number(_text(policy))
        return left is not None and right is not None and compare(left, right)

    return match


def _arn_like(request: str, policy: _Pieces) -> bool:
    values, patterns = request.split(":", 5), _arn_components(policy)
    if len(values) != 6 or patterns is None:
        return False
    return all(_glob(p).fullmatch(v) is not None for p, v in zip(patterns, values))


_string_equals: _Matcher = lambda r, p: r == _text(p)
_string_equals_ic: _Matcher = lambda r, p: r.casefold() == _text(p).casefold()
_string_like: _Matcher = lambda r, p: _glob(p).fullmatch(r) is not None
_bool: _Matcher = lambda r, p: r.lower() == _text(p).lower()

# name -> (family, positive matcher, negated). Families decide variable substitution and checks.
_OPERATORS: dict[str, tuple[str, _Matcher, bool]] = {
    "StringEquals": ("String", _string_equals, False),
    "StringNotEquals": ("String", _string_equals, True),
    "StringEqualsIgnoreCase": ("String", _string_equals_ic, False),
    "StringNotEqualsIgnoreCase": ("String", _string_equals_ic, True),
    "StringLike": ("String", _string_like, False),
    "StringNotLike": ("String", _string_like, True),
    "NumericEquals": ("Numeric", _numeric(operator.eq), False),
    "NumericNotEquals": ("Numeric", _numeric(operator.eq), True),
    "NumericLessThan": ("Numeric", _numeric(operator.lt), False),
    "NumericLessThanEquals": ("Numeric", _numeric(operator.le), False),
    "NumericGreaterThan": ("Numeric", _numeric(operator.gt), False),
    "NumericGreaterThanEquals": ("Numeric", _numeric(operator.ge), False),
    "Bool": ("Bool", _bool, False),
    "ArnEquals": ("Arn", _arn_like, False),
    "ArnLike": ("Arn", _arn_like, False),
    "ArnNotEquals": ("Arn", _arn_like, True),
    "ArnNotLike": ("Arn", _arn_like, True),
}
_QUALIFIERS = ("ForAllValues", "ForAnyValue")


@dataclass(frozen=True)
class _Condition:
    operator: str  # as written in the policy
    qualifier: Optional[str]
    base: str  # operator without qualifier and IfExists
    if_exists: bool
    key: str
    values: tuple[_Template, ...]

    def check(self, ctx: Mapping[str, Any]) -> tuple[bool, str]:
        found = _request_values(ctx, self.key)
        shown = "absent" if found is None else list(found)
        if self.base == "Null":
            absent = found is None
            ok = any((_text(_resolve(v, ctx) or ()).lower() == "true") == absent for v in self.values)
            return ok, f"{self.operator} {self.key}: request {shown} -> {ok}"
        _, matcher, negated = _OPERATORS[self.base]
        policy = [_resolve(v, ctx) for v in self.values]  # None: a variable with no value
        shown_policy = [_text(p) if p is not None else "<no value>" for p in policy]
        why = f"{self.operator} {self.key}: request {shown} vs policy {shown_policy}"

        def hit(value: str) -> bool:
            return any(p is not None and matcher(value, p) for p in policy)

        if found is None:
            if self.if_exists:
                return True, f"{why} -> true (IfExists, key absent)"
            if self.qualifier == "ForAllValues":
                return True, f"{why} -> true (ForAllValues holds vacuously on an absent key, GOTCHAS I3)"
            if self.qualifier == "ForAnyValue":
                return False, f"{why} -> false (ForAnyValue, key absent)"
            return negated, f"{why} -> {negated} ({'negated' if negated else 'positive'} operator, key absent)"
        if self.qualifier == "ForAllValues":
            ok = all(hit(v) != negated for v in found)
        elif self.qualifier == "ForAnyValue":
            ok = any(hit(v) != negated for v in found)
        else:  # no qualifier: any pair matches (positive) / no pair matches (negated)
            ok = any(hit(v) for v in found) != negated
        return ok, f"{why} -> {ok}"


def _request_values(ctx: Mapping[str, Any], key: str) -> Optional[tuple[str, ...]]:
    value = ctx.get(key.casefold())
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return value or None  # an empty list is an empty data set: treated as absent


def _parse_operator(name: str, where: str) -> tuple[Optional[str], str, bool]:
    qualifier, rest = None, name
    for q in _QUALIFIERS:
        if name.startswith(q + ":"):
            qualifier, rest = q, name[len(q) + 1 :]
    if_exists = rest.endswith("IfExists")
    base = rest[: -len("IfExists")] if if_exists else rest
    if base == "Null":
        if if_exists or qualifier:
            raise ValueError(f"{where}: condition operator {name!r}: Null takes neither IfExists nor a set qualifier")
    elif base not in _OPERATORS:
        raise ValueError(f"{where}: unsupported condition operator {name!r}")
    return qualifier, base, if_exists


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"{where}: expected a string, got {type(value).__name__}")


def _parse_conditions(block: Any, variables: bool, where: str) -> tuple[_Condition, ...]:
    if not isinstance(block, Mapping):
        raise ValueError(f"{where}: Condition must be an object")
    conditions: list[_Condition] = []
    for op, keys in block.items():
        qualifier, base, if_exists = _parse_operator(str(op), where)
        if not isinstance(keys, Mapping) or not keys:
            raise ValueError(f"{where}: {op} must map condition keys to values")
        family = _OPERATORS[base][0] if base in _OPERATORS else "Null"
        for key, raw in keys.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"{where}: {op} has an empty or non-string condition key")
            items = raw if isinstance(raw, (list, tuple)) else [raw]
            if not items:
                raise ValueError(f"{where}: {op} {key} has no values")
            texts = [_scalar(v, f"{where}: {op} {key}") for v in items]
            for text in texts:
                if family in ("Null", "Bool") and text.lower() not in ("true", "false"):
                    raise ValueError(f"{where}: {op} {key} takes 'true' or 'false', not {text!r}")
                if family == "Numeric" and _number(text) is None:
                    raise ValueError(f"{where}: {op} {key} takes a number, not {text!r}")
            substitute = variables and family in ("String", "Arn")
            values = tuple(_template(t, substitute, where) for t in texts)
            conditions.append(_Condition(str(op), qualifier, base, if_exists, key, values))
    return tuple(conditions)


# --------------------------------------------------------------------------------------------
# Policies and statements.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Statement:
    label: str
    effect: str
    actions: tuple[re.Pattern[str], ...]
    action_text: tuple[str, ...]
    not_action: bool
    resources: tuple[_Template, ...]
    resource_text: tuple[str, ...]
    not_resource: bool
    conditions: tuple[_Condition, ...]

    def applies(self, request: Request, ctx: Mapping[str, Any]) -> tuple[bool, list[str]]:
        listed = any(p.fullmatch(request.action) for p in self.actions)
        if listed == self.not_action:
            element = "NotAction" if self.not_action else "Action"
            return False, [f"{request.action} {'is' if listed else 'is not'} in {element} {list(self.action_text)}"]
        resolved = [_resolve(t, ctx) for t in self.resources]  # None matches no resource
        listed = any(p is not None and _glob(p).fullmatch(request.resource) for p in resolved)
        if listed == self.not_resource:
            element = "NotResource" if self.not_resource else "Resource"
            shown = [_text(p) if p is not None else f"<no value: {raw}>" for p, raw in zip(resolved, self.resource_text)]
            return False, [f"{request.resource} {'is' if listed else 'is not'} in {element} {shown}"]
        results = [c.check(ctx) for c in self.conditions]
        return all(ok for ok, _ in results), ["action and resource match"] + [why for _, why in results]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"{where}: expected a non-empty string or list of non-empty strings")
    return tuple(items)


def _one_of(stmt: Mapping[str, Any], a: str, b: str, where: str) -> tuple[tuple[str, ...], bool]:
    if (a in stmt) == (b in stmt):
        raise ValueError(f"{where}: exactly one of {a} / {b} is required")
    return (_strings(stmt[a], f"{where} {a}"), False) if a in stmt else (_strings(stmt[b], f"{where} {b}"), True)


def _action_pattern(text: str, where: str) -> re.Pattern[str]:
    if text != "*" and not re.fullmatch(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+", text):
        raise ValueError(f"{where}: action {text!r} is not 'service:Action' or '*'")
    return _glob(((text, True),), ignore_case=True)  # action names are case-insensitive


def _parse_statement(stmt: Any, variables: bool, where: str) -> _Statement:
    if not isinstance(stmt, Mapping):
        raise ValueError(f"{where}: a statement must be an object")
    unknown = set(stmt) - _STATEMENT_KEYS
    if unknown:
        raise ValueError(f"{where}: unsupported statement element(s) {sorted(unknown)} (identity policies only)")
    if stmt.get("Effect") not in ("Allow", "Deny"):
        raise ValueError(f"{where}: Effect must be 'Allow' or 'Deny', not {stmt.get('Effect')!r}")
    actions, not_action = _one_of(stmt, "Action", "NotAction", where)
    resources, not_resource = _one_of(stmt, "Resource", "NotResource", where)
    sid = stmt.get("Sid")
    return _Statement(
        label=f"{where}" + (f" ({sid})" if sid else ""),
        effect=stmt["Effect"],
        actions=tuple(_action_pattern(a, where) for a in actions),
        action_text=actions,
        not_action=not_action,
        resources=tuple(_template(r, variables, where) for r in resources),
        resource_text=resources,
        not_resource=not_resource,
        conditions=_parse_conditions(stmt["Condition"], variables, where) if "Condition" in stmt else (),
    )


def _parse_policy(doc: Any, index: int) -> list[_Statement]:
    where = f"policy[{index}]"
    if not isinstance(doc, Mapping):
        raise ValueError(f"{where}: a policy document must be an object")
    unknown = set(doc) - _POLICY_KEYS
    if unknown:
        raise ValueError(f"{where}: unsupported policy element(s) {sorted(unknown)}")
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise ValueError(f"{where}: unknown Version {version!r}")
    statements = doc.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, (list, tuple)) or not statements:
        raise ValueError(f"{where}: Statement must be an object or a non-empty list")
    variables = version == VARIABLES_VERSION  # older or absent Version: variables are literal text (I6)
    return [_parse_statement(s, variables, f"{where}.Statement[{i}]") for i, s in enumerate(statements)]


def _context(request: Request) -> dict[str, Union[str, tuple[str, ...]]]:
    if not isinstance(request.action, str) or ":" not in request.action:
        raise ValueError(f"request action {request.action!r} is not 'service:Action'")
    if not isinstance(request.resource, str) or not request.resource:
        raise ValueError("request resource must be a non-empty string")
    if not isinstance(request.context, Mapping):
        raise ValueError("request context must be a mapping")
    ctx: dict[str, Union[str, tuple[str, ...]]] = {}
    for key, value in request.context.items():
        folded = str(key).casefold()  # condition key names are case-insensitive
        if folded in ctx:
            raise ValueError(f"request context has {key!r} twice (key names are case-insensitive)")
        if isinstance(value, (list, tuple)):
            ctx[folded] = tuple(_scalar(v, f"context {key}") for v in value)
        else:
            ctx[folded] = _scalar(value, f"context {key}")
    return ctx


def _run(policies: Sequence[Mapping[str, Any]], request: Request) -> tuple[Decision, list[str]]:
    if isinstance(policies, (Mapping, str)) or not isinstance(policies, Sequence):
        raise ValueError("policies must be a list of policy documents")
    ctx = _context(request)
    # Parse everything first: a malformed statement raises even if an earlier one decided.
    statements = [s for i, doc in enumerate(policies) for s in _parse_policy(doc, i)]
    lines: list[str] = [f"request {request.action} on {request.resource}"]
    effects: set[str] = set()
    for st in statements:
        ok, why = st.applies(request, ctx)
        lines.append(f"{st.label} {st.effect}: {'MATCHES' if ok else 'does not match'}")
        lines += [f"    {w}" for w in why]
        if ok:
            effects.add(st.effect)
    decision: Decision = "explicit-deny" if "Deny" in effects else "allow" if "Allow" in effects else "implicit-deny"
    lines.append(f"decision: {decision}")
    return decision, lines


def evaluate(policies: Sequence[Mapping[str, Any]], request: Request) -> Decision:
    """Identity-policy decision for one request: explicit Deny > Allow > implicit deny."""
    return _run(policies, request)[0]


def explain(policies: Sequence[Mapping[str, Any]], request: Request) -> list[str]:
    """Which statements matched or failed and why, one line per fact, the decision last."""
    return _run(policies, request)[1]
