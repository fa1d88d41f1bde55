"""API Gateway mapping-template variables for the local runtime, rendered by a real Velocity engine.

API Gateway REST APIs here talk to DynamoDB through AWS service integrations whose request and
response bodies are Velocity (VTL) mapping templates. Locally the very same templates are rendered
with airspeed-ext (the Velocity engine LocalStack uses); this module supplies what API Gateway puts
in scope -- `$input`, `$util`, `$context`, `$stageVariables` -- and reads back the overrides.

Reference: AWS API Gateway Developer Guide, "API Gateway mapping template and access logging
variable reference" (also published as "Variables for data transformations for API Gateway").
Where that page is silent, behaviour follows what LocalStack recorded against real API Gateway
(its airspeed-ext snapshot tests and apigateway pull requests), each noted where used.

Public API: `VtlRequest`, `VtlResult`, `render_request`, `render_response`, `VtlError`
(`VtlBodyParseError` for a body that is not JSON), and `escape_javascript` (the `$util` function).

Choices that differ from plain (Java) Velocity, on purpose, to match API Gateway:

* Undefined references render as the empty string, `$ref` as well as `$!ref`. Plain Velocity
  prints an undefined `$ref` literally, but API Gateway does not: LocalStack's recorded AWS
  responses show `Hello $name` rendering as `Hello ` (airspeed tests
  `test_unmatched_name_does_not_get_substituted`), and missing `$input.path(...)` properties render
  empty (toqoz/api-gateway-mapping-template#5). airspeed-ext already forces this for AWS parity.
* `#if($ref)` is TRUE when `$ref` is undefined/null. Again an AWS recording (airspeed tests
  `test_if_statement_considers_None_to_be_*`, `test_formal_reference_in_an_if_condition`), kept
  as airspeed-ext implements it. Templates must test presence with `"$!ref" != ""`.
* `$input.body` of an empty body is `{}` (LocalStack #12413, checked on AWS), and JSONPath over an
  empty body reads `{}`. `$input.path` with no match is null; `$input.json` with no match is `""`
  (LocalStack #12774, checked on the AWS console; not in the AWS page). JSONPath over a body that
  is not JSON raises `VtlBodyParseError` (API Gateway answers 400 "Could not parse request body
  into json").
* `$input.params(x)` (request templates only: not documented in response templates, facts A10, so
  `render_response` refuses it) matches path and query string names exactly, header names exactly and then
  case-insensitively (HTTP header names are case-insensitive; not stated on the AWS page).

airspeed-ext limitations and how they are handled:

* Its Java-method table (`airspeed.operators.__additional_methods__`) is keyed by exact type and
  consulted only when Python has no attribute of that name. Values this module hands to templates
  are therefore wrapped (`JavaString`, `VtlMap`, `JavaList`, `JsonArray`, `JavaDouble`) with Java
  semantics. Strings the engine creates itself (literals, `"$interpolated"` strings) stay plain
  `str`; for them the table's entries for `str`, `dict` and `list` are set (once, on import) to
  the same Java implementations, replacing airspeed's where they diverge from Java (`indexOf`
  raised instead of returning -1, `substring` accepted negative/out-of-range indexes, `replaceAll`
  used Python's `\\1` replacement syntax, `length` counted code points, `List.add` returned
  nothing). Python's own `split`/`replace`/`strip` still win on plain `str` (airspeed looks up
  attributes first): `"$x".split(',')` is Python's split (keeps trailing empty strings, splits on
  the literal text). Values from `$input`/`$util`/`$context` use Java's `split`.
* Method arguments are values, not expressions (Velocity 1.x grammar, which airspeed parses):
  `$s.substring($i + 1)` is a syntax error; `#set($j = $i + 1)$s.substring($j)` works.
* `/` is floor division and `%` Python's modulo (Java truncates toward zero): identical for the
  non-negative integers templates use (`$context.requestTimeEpoch / 1000`); floats divide as
  floor division too, so avoid float arithmetic in templates.
* Regular expressions are Java syntax translated to Python `re` (`\\Q..\\E`, `(?<name>..)`, `\\z`,
  `\\Z`); `\\p{..}` classes and `&&` class intersections are not supported and raise `VtlError`.
* `$context.authorizer.claims` reads as null by itself, as documented, but a claim read through a
  variable (`#set($c = $context.authorizer.claims)$c.sub`) still works locally; in API Gateway it
  would not.
* airspeed resolves `$map.name(...)` by key before method: a JSON object with a key named like a
  Map method (`size`, `get`, `values`, `keySet`...) shadows that method, so `$o.size()` fails on
  `{"size": "L"}` (Velocity would call Map.size()); use `$o.keySet().size()`. Conversely an absent
  key with such a name read as a property (`$map.size`) yields the method, not null.
* Maps and lists built in the template (`{}`, `[]`) are plain Python objects: rendered directly
  they print Python-style (`{'a': 1}`); `.toString()` gives the Java form (`{a=1}`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Optional
from urllib.parse import quote_plus, unquote_plus

import airspeed
from airspeed import operators as _airspeed_ops

__all__ = [
    "VtlBodyParseError",
    "VtlError",
    "VtlRequest",
    "VtlResult",
    "escape_javascript",
    "render_request",
    "render_response",
]


# ------------------------------------------------------------------------------------------------
# Public types
# ------------------------------------------------------------------------------------------------


class VtlError(Exception):
    """A template that API Gateway could not render (syntax error, failing method, bad value).

    `line`/`column` locate the failing element in the template when known (1-based).
    """

    def __init__(self, message: str, *, line: Optional[int] = None, column: Optional[int] = None):
        self.detail = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(where + message)


class VtlBodyParseError(VtlError):
    """`$input.json`/`$input.path`/`$util.parseJson` on text that is not JSON.

    API Gateway answers such requests itself with 400 "Could not parse request body into json".
    """


@dataclass(frozen=True)
class VtlRequest:
    body: str  # raw method request body ("" if none)
    path: Mapping[str, str] = field(default_factory=dict)  # method request path parameters
    querystring: Mapping[str, str] = field(default_factory=dict)
    header: Mapping[str, str] = field(default_factory=dict)
    # requestId, requestTimeEpoch (int ms), requestTime, httpMethod, resourcePath, path, stage,
    # accountId, apiId, identity {...}, authorizer {claims {...}, principalId, ...}
    context: Mapping[str, Any] = field(default_factory=dict)
    stage_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VtlResult:
    output: str
    status_override: Optional[int]  # $context.responseOverride.status (response templates)
    header_overrides: Mapping[str, str]  # requestOverride.header (request) / responseOverride.header (response)


# ------------------------------------------------------------------------------------------------
# $util.escapeJavaScript
# ------------------------------------------------------------------------------------------------

# Semantics of Apache Commons Lang 2.x StringEscapeUtils.escapeJavaScript(String), i.e.
# escapeJavaStyleString(str, escapeSingleQuote=true, escapeForwardSlash=true), which the AWS page
# describes ("Escapes the characters in a string using JavaScript string rules ... will turn any
# regular single quotes (') into escaped ones (\')"). Per UTF-16 code unit:
#   > 0x7F                 -> \uXXXX (uppercase hex; characters outside the BMP become the two
#                             surrogates, e.g. U+1F600 -> \uD83D\uDE00)
#   \b \n \t \f \r         -> \b \n \t \f \r
#   other < 0x20           -> \u00XX
#   '  "  \  /             -> \'  \"  \\  \/
#   anything else (incl. 0x7F) unchanged.
# Commons Lang 3 StringEscapeUtils.escapeEcmaScript produces the same output. The AWS page states
# the single-quote part; users hit it in practice (serverless/serverless#2901, bustle/shep#52).
# LocalStack's version (json.dumps) differs: it neither escapes ' nor /, and writes lowercase hex.
_ASCII_ESCAPES: tuple[str, ...] = tuple(
    {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, "\\u%04X" % c) if c < 0x20
    else {0x27: "\\'", 0x22: '\\"', 0x5C: "\\\\", 0x2F: "\\/"}.get(c, chr(c))
    for c in range(0x80)
)


def escape_javascript(text: str) -> str:
    """Java `StringEscapeUtils.escapeJavaScript` (Commons Lang 2.x), as `$util.escapeJavaScript`."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x80:
            out.append(_ASCII_ESCAPES[code])
        elif code <= 0xFFFF:
            out.append("\\u%04X" % code)
        else:
            code -= 0x10000
            out.append("\\u%04X\\u%04X" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# Java-like values
# ------------------------------------------------------------------------------------------------


def _u16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def _from_u16(data: bytes) -> "JavaString":
    return JavaString(data.decode("utf-16-le", "surrogatepass"))


def _int_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VtlError(f"{what} must be an integer, got {_java_str(value)!r}")
    return value


def _str_arg(value: Any, what: str) -> str:
    if value is None:
        raise VtlError(f"NullPointerException: {what} is null")
    return _java_str(value)


@functools.lru_cache(maxsize=512)
def _java_regex(pattern: str) -> "re.Pattern[str]":
    """Compile a java.util.regex pattern with Python's `re` (the common subset, see module doc)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                out.append(re.escape(pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]))
                i = n if end < 0 else end + 2
                continue
            if nxt == "z":
                out.append(r"\Z")
            elif nxt == "Z":
                out.append(r"(?=\n?\Z)")
            elif nxt in "pP":
                raise VtlError(f"unsupported Java regex construct \\{nxt}{{...}} in {pattern!r}")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        if pattern.startswith("&&", i):
            raise VtlError(f"unsupported Java regex construct '&&' (class intersection) in {pattern!r}")
        out.append(char)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise VtlError(f"PatternSyntaxException: {exc} in {pattern!r}") from None


def _java_replacement(replacement: str) -> Callable[["re.Match[str]"], str]:
    """A `re.sub` callback applying java.util.regex.Matcher replacement syntax ($1, ${name}, \\x)."""

    def expand(match: "re.Match[str]") -> str:
        out: list[str] = []
        i, n = 0, len(replacement)
        while i < n:
            char = replacement[i]
            if char == "\\":
                if i + 1 >= n:
                    raise VtlError("IllegalArgumentException: character to be escaped is missing")
                out.append(replacement[i + 1])
                i += 2
            elif char == "$":
                i += 1
                if i >= n:
                    raise VtlError("IllegalArgumentException: Illegal group reference: group index is missing")
                if replacement[i] == "{":
                    end = replacement.find("}", i)
                    if end < 0:
                        raise VtlError("IllegalArgumentException: named capturing group is missing trailing '}'")
                    name = replacement[i + 1 : end]
                    if name not in match.re.groupindex:
                        raise VtlError(f"IllegalArgumentException: No group with name {{{name}}}")
                    out.append(match.group(name) or "")
                    i = end + 1
                elif replacement[i] in "0123456789":
                    group = int(replacement[i])
                    if group > match.re.groups:
                        raise VtlError(f"IndexOutOfBoundsException: No group {group}")
                    i += 1
                    while i < n and replacement[i] in "0123456789":
                        longer = group * 10 + int(replacement[i])
                        if longer > match.re.groups:
                            break
                        group, i = longer, i + 1
                    out.append(match.group(group) or "")
                else:
                    raise VtlError("IllegalArgumentException: Illegal group reference")
            else:
                out.append(char)
                i += 1
        return "".join(out)

    return expand


class JavaString(str):
    """A `str` with the java.lang.String methods templates call (Java semantics, UTF-16 indexes)."""

    __slots__ = ()

    # -- size and comparison --
    def length(self) -> int:
        return len(self) if self.isascii() else len(_u16(self)) // 2

    def isEmpty(self) -> bool:  # noqa: N802 (Java names)
        return len(self) == 0

    def isBlank(self) -> bool:  # noqa: N802
        return self.strip() == ""

    def equals(self, other: Any) -> bool:
        return isinstance(other, str) and str.__eq__(self, other)

    def equalsIgnoreCase(self, other: Any) -> bool:  # noqa: N802
        return isinstance(other, str) and self.upper().lower() == other.upper().lower()

    def compareTo(self, other: Any) -> int:  # noqa: N802
        a, b = _u16(self), _u16(_str_arg(other, "compareTo argument"))
        for i in range(0, min(len(a), len(b)), 2):
            x, y = int.from_bytes(a[i : i + 2], "little"), int.from_bytes(b[i : i + 2], "little")
            if x != y:
                return x - y
        return (len(a) - len(b)) // 2

    def contains(self, sub: Any) -> bool:
        return _str_arg(sub, "contains argument") in self

    def startsWith(self, prefix: Any, offset: int = 0) -> bool:  # noqa: N802
        prefix = _str_arg(prefix, "startsWith prefix")
        if offset == 0:
            return self.startswith(prefix)
        if offset < 0 or offset > self.length():
            return False
        return _u16(self)[2 * offset :].startswith(_u16(prefix))

    def endsWith(self, suffix: Any) -> bool:  # noqa: N802
        return self.endswith(_str_arg(suffix, "endsWith suffix"))

    def matches(self, regex: Any) -> bool:
        return _java_regex(_str_arg(regex, "regex")).fullmatch(self) is not None

    # -- search (UTF-16 indexes, -1 when absent) --
    def indexOf(self, sub: Any, from_index: int = 0) -> int:  # noqa: N802
        sub = chr(sub) if isinstance(sub, int) and not isinstance(sub, bool) else _str_arg(sub, "indexOf argument")
        start = max(_int_arg(from_index, "fromIndex"), 0)
        if self.isascii() and sub.isascii():
            if start > len(self):
                return len(self) if sub == "" else -1
            return self.find(sub, start)
        hay, needle, pos = _u16(self), _u16(sub), 2 * start
        if pos > len(hay):
            return len(hay) // 2 if not needle else -1
        while True:
            found = hay.find(needle, pos)
            if found < 0:
                return -1
            if found % 2 == 0:
                return found // 2
            pos = found + 1

    def lastIndexOf(self, sub: Any, from_index: Optional[int] = None) -> int:  # noqa: N802
        sub = chr(sub) if isinstance(sub, int) and not isinstance(sub, bool) else _str_arg(sub, "lastIndexOf argument")
        hay, needle = _u16(self), _u16(sub)
        end = len(hay) if from_index is None else min(len(hay), 2 * (_int_arg(from_index, "fromIndex")) + len(needle))
        if end < 0:
            return -1
        while True:
            found = hay.rfind(needle, 0, end)
            if found < 0:
                return -1
            if found % 2 == 0:
                return found // 2
            end = found + len(needle) - 1

    def charAt(self, index: int) -> "JavaString":  # noqa: N802
        index = _int_arg(index, "index")
        if not 0 <= index < self.length():
            raise VtlError(f"StringIndexOutOfBoundsException: index {index}, length {self.length()}")
        if self.isascii():
            return JavaString(str.__getitem__(self, index))
        return _from_u16(_u16(self)[2 * index : 2 * index + 2])

    def substring(self, begin: int, end: Optional[int] = None) -> "JavaString":
        length = self.length()
        begin = _int_arg(begin, "beginIndex")
        end = length if end is None else _int_arg(end, "endIndex")
        if begin < 0 or end > length or begin > end:
            raise VtlError(f"StringIndexOutOfBoundsException: begin {begin}, end {end}, length {length}")
        if self.isascii():
            return JavaString(str.__getitem__(self, slice(begin, end)))
        return _from_u16(_u16(self)[2 * begin : 2 * end])

    # -- transformations --
    def toLowerCase(self) -> "JavaString":  # noqa: N802
        return JavaString(self.lower())

    def toUpperCase(self) -> "JavaString":  # noqa: N802
        return JavaString(self.upper())

    def trim(self) -> "JavaString":
        """Java trim(): removes code points <= U+0020 (not other whitespace) at both ends."""
        start, end = 0, len(self)
        while start < end and ord(self[start]) <= 0x20:
            start += 1
        while end > start and ord(self[end - 1]) <= 0x20:
            end -= 1
        return JavaString(str.__getitem__(self, slice(start, end)))

    def strip(self, chars: Optional[str] = None) -> "JavaString":
        return JavaString(str.strip(self, chars))

    def concat(self, other: Any) -> "JavaString":
        return JavaString(self + _str_arg(other, "concat argument"))

    def replace(self, target: Any, replacement: Any, count: int = -1) -> "JavaString":  # type: ignore[override]
        """Java replace(CharSequence, CharSequence): every literal occurrence."""
        return JavaString(str.replace(self, _str_arg(target, "target"), _str_arg(replacement, "replacement"), count))

    def replaceAll(self, regex: Any, replacement: Any) -> "JavaString":  # noqa: N802
        pattern = _java_regex(_str_arg(regex, "regex"))
        return JavaString(pattern.sub(_java_replacement(_str_arg(replacement, "replacement")), self))

    def replaceFirst(self, regex: Any, replacement: Any) -> "JavaString":  # noqa: N802
        pattern = _java_regex(_str_arg(regex, "regex"))
        return JavaString(pattern.sub(_java_replacement(_str_arg(replacement, "replacement")), self, count=1))

    def split(self, regex: Any = None, limit: int = 0) -> "JavaList":  # type: ignore[override]
        """Java split(regex[, limit]): no leading empty string for a zero-width match at 0, and with
        limit 0 trailing empty strings are removed."""
        if regex is None:
            raise VtlError("NullPointerException: split regex is null")
        limit = _int_arg(limit, "limit")
        pattern = _java_regex(_java_str(regex))
        parts: list[str] = []
        index = 0
        for match in pattern.finditer(self):
            if limit > 0 and len(parts) >= limit - 1:
                break
            if match.end() == 0:
                continue  # zero-width match at the beginning: no leading empty substring
            parts.append(str.__getitem__(self, slice(index, match.start())))
            index = match.end()
        if index == 0 and not parts:
            return JavaList([JavaString(self)])
        parts.append(str.__getitem__(self, slice(index, None)))
        if limit == 0:
            while parts and parts[-1] == "":
                parts.pop()
        return JavaList(JavaString(p) for p in parts)

    def toString(self) -> "JavaString":  # noqa: N802
        return self


_JAVA_STRING_METHODS = (
    "length", "isEmpty", "isBlank", "equals", "equalsIgnoreCase", "compareTo", "contains", "startsWith",
    "endsWith", "matches", "indexOf", "lastIndexOf", "charAt", "substring", "toLowerCase", "toUpperCase",
    "trim", "concat", "replaceAll", "replaceFirst", "toString",
)


class JavaDouble(float):
    """A JSON floating-point number; renders like java.lang.Double.toString (1.0, 1.0E-5, 1.0E20)."""

    __slots__ = ()

    def __str__(self) -> str:
        return _java_double(float(self))


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    decimal = Decimal(repr(magnitude))
    if 1e-3 <= magnitude < 1e7:
        text = format(decimal, "f")
        if "." not in text:
            text += ".0"
        return sign + text
    _, digits, exponent = decimal.as_tuple()
    digits_text = "".join(map(str, digits)).rstrip("0") or "0"
    sci_exponent = len(digits) + int(exponent) - 1
    return f"{sign}{digits_text[0]}.{digits_text[1:] or '0'}E{sci_exponent}"


def _java_str(value: Any) -> str:
    """String.valueOf(value) as Velocity would render it inside a Java collection."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, (VtlMap, JavaList, _ClaimsMap, JavaDouble)):
        return str(value)
    if isinstance(value, Mapping):
        return _map_to_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    return str(value)


def _map_to_string(mapping: Mapping[Any, Any]) -> str:
    """java.util.AbstractMap.toString: {k1=v1, k2=v2}."""
    items = dict.items(mapping) if isinstance(mapping, dict) else ((k, mapping[k]) for k in mapping)
    return "{" + ", ".join(f"{_java_str(k)}={_java_str(v)}" for k, v in items) + "}"


def _to_plain(value: Any) -> Any:
    """Python builtins for json.dumps."""
    if isinstance(value, _ClaimsMap):
        value = value.data
    if isinstance(value, Mapping):
        items = dict.items(value) if isinstance(value, dict) else ((k, value[k]) for k in value)
        return {str(k): _to_plain(v) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    return value


def _to_json(value: Any) -> str:
    return json.dumps(_to_plain(value), ensure_ascii=False, separators=(",", ":"))


# Python dict methods that would shadow a missing JSON property of the same name
# (`$body.items` when the body has no "items" must read as null, not as a bound method).
_HIDDEN_DICT_ATTRIBUTES = frozenset({"items", "keys", "copy", "update", "pop", "popitem", "setdefault", "fromkeys"})


class _Entry:
    """java.util.Map.Entry for `entrySet()`."""

    __slots__ = ("key", "value")

    def __init__(self, key: Any, value: Any):
        self.key, self.value = key, value

    def getKey(self) -> Any:  # noqa: N802
        return self.key

    def getValue(self) -> Any:  # noqa: N802
        return self.value

    def __str__(self) -> str:
        return f"{_java_str(self.key)}={_java_str(self.value)}"


class VtlMap(dict):
    """A java.util.Map (LinkedHashMap) for templates: Java methods, Java toString `{a=1, b=x}`."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name in _HIDDEN_DICT_ATTRIBUTES:
            raise AttributeError(name)
        return dict.__getattribute__(self, name)

    def __str__(self) -> str:
        return _map_to_string(self)

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> bool:  # noqa: N802
        return len(self) == 0

    def containsKey(self, key: Any) -> bool:  # noqa: N802
        return key in self

    def containsValue(self, value: Any) -> bool:  # noqa: N802
        return value in dict.values(self)

    def getOrDefault(self, key: Any, default: Any) -> Any:  # noqa: N802
        return dict.get(self, key, default)

    def keySet(self) -> "JavaList":  # noqa: N802
        return JavaList(dict.keys(self))

    def values(self) -> "JavaList":  # type: ignore[override]
        return JavaList(dict.values(self))

    def entrySet(self) -> "JavaList":  # noqa: N802
        return JavaList(_Entry(k, v) for k, v in dict.items(self))

    def put(self, key: Any, value: Any) -> Any:
        previous = dict.get(self, key)
        self[key] = value
        return previous

    def putAll(self, other: Mapping[Any, Any]) -> None:  # noqa: N802
        for key in other:
            self[key] = other[key]

    def remove(self, key: Any) -> Any:
        return dict.pop(self, key, None)

    def toString(self) -> str:  # noqa: N802
        return _map_to_string(self)


class JavaList(list):
    """A java.util.List for templates; toString `[a, b]` (AbstractCollection)."""

    __slots__ = ()

    def __str__(self) -> str:
        return "[" + ", ".join(_java_str(v) for v in self) + "]"

    def size(self) -> int:
        return len(self)

    def count(self, *value: Any) -> int:  # type: ignore[override]
        # The AWS page shows `$input.path('$.pets').count()` returning the length.
        return len(self) if not value else list.count(self, value[0])

    def isEmpty(self) -> bool:  # noqa: N802
        return len(self) == 0

    def get(self, index: int) -> Any:
        index = _int_arg(index, "index")
        if not 0 <= index < len(self):
            raise VtlError(f"IndexOutOfBoundsException: Index {index} out of bounds for length {len(self)}")
        return self[index]

    def contains(self, value: Any) -> bool:
        return value in self

    def indexOf(self, value: Any) -> int:  # noqa: N802
        return self.index(value) if value in self else -1

    def add(self, value: Any) -> bool:  # type: ignore[override]
        self.append(value)
        return True  # Java's List.add returns true (and Velocity renders it)

    def addAll(self, values: Iterable[Any]) -> bool:  # noqa: N802
        values = list(values)
        self.extend(values)
        return bool(values)

    def toString(self) -> str:  # noqa: N802
        return str(self) if isinstance(self, JavaList) else _java_str(self)


class JsonArray(JavaList):
    """An array read from JSON. Jayway JsonPath's json-smart JSONArray renders as compact JSON: LocalStack
    found `$input.path` lists (and lists nested in maps) rendering as JSON on AWS (LocalStack #12379)."""

    __slots__ = ()

    def __str__(self) -> str:
        return _to_json(self)


class _ClaimsMap:
    """`$context.authorizer.claims`: each claim is readable (`.sub`, `['cognito:groups']`), but the
    map itself is null -- "Calling `$context.authorizer.claims` returns null" (AWS page; GOTCHAS A9)."""

    __slots__ = ("data",)

    def __init__(self, data: VtlMap):
        self.data = data

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]  # KeyError (-> null) when the claim is absent

    def __str__(self) -> str:
        return ""  # how a null reference renders


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return VtlMap((JavaString(k), _from_json(v)) for k, v in value.items())
    if isinstance(value, list):
        return JsonArray(_from_json(v) for v in value)
    if isinstance(value, str):
        return JavaString(value)
    if isinstance(value, float):
        return JavaDouble(value)
    return value


def _from_python(value: Any) -> Any:
    if isinstance(value, (VtlMap, JavaList, JavaString, JavaDouble, _ClaimsMap)):
        return value
    if isinstance(value, Mapping):
        return VtlMap((JavaString(k) if isinstance(k, str) else k, _from_python(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return JavaList(_from_python(v) for v in value)
    if isinstance(value, str):
        return JavaString(value)
    if isinstance(value, float):
        return JavaDouble(value)
    return value


# ------------------------------------------------------------------------------------------------
# Java methods for values the engine creates itself (plain str / dict / list)
# ------------------------------------------------------------------------------------------------


def _install_java_methods() -> None:
    """Point airspeed's method table for plain str/dict/list at the Java implementations above.

    airspeed consults `__additional_methods__[type(obj)]` only when Python has no attribute of that
    name, so Python's own str.split/replace/strip and dict.get/values still win on plain values.
    """
    table = _airspeed_ops.__additional_methods__

    def via(cls: type, name: str) -> Callable[..., Any]:
        def call(self: Any, *args: Any) -> Any:
            return getattr(cls(self), name)(*args)

        call.__name__ = name
        return call

    str_methods = table.setdefault(str, {})
    for name in _JAVA_STRING_METHODS:
        if not hasattr(str, name):
            str_methods[name] = via(JavaString, name)

    dict_methods = table.setdefault(dict, {})
    for name in ("size", "isEmpty", "containsKey", "containsValue", "getOrDefault", "keySet", "entrySet", "remove",
                 "toString"):
        dict_methods[name] = (lambda n: lambda self, *args: getattr(VtlMap, n)(self, *args))(name)

    list_methods = table.setdefault(list, {})
    list_methods["add"] = lambda self, value: JavaList.add(self, value)  # type: ignore[arg-type]
    for name in ("addAll", "indexOf", "toString"):
        list_methods[name] = (lambda n: lambda self, *args: getattr(JavaList, n)(self, *args))(name)


_install_java_methods()


# ------------------------------------------------------------------------------------------------
# $input
# ------------------------------------------------------------------------------------------------

_JSONPATH_STEP = re.compile(
    r"""\.(?P<name>[^.\[\]]+)"""
    r"""|\[\s*(?:'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)"|(?P<index>-?\d+))\s*\]"""
)
_MISSING = object()


@functools.lru_cache(maxsize=512)
def _parse_jsonpath(path: str) -> tuple[Any, ...]:
    """The supported JSONPath subset: `$`, `.name`, `['name']`, `["name"]`, `[index]` (negative from
    the end). Like Jayway JsonPath (which API Gateway links to), a path without a leading `$` is read
    as `$.` + path."""
    text = path.strip() or "$"
    if not text.startswith("$"):
        text = "$." + text
    steps: list[Any] = []
    position = 1
    while position < len(text):
        match = _JSONPATH_STEP.match(text, position)
        if not match:
            raise VtlError(f"unsupported JSONPath {path!r} (supported: $, .name, ['name'], [index])")
        if match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            name = match.group("name")
            if name is None:
                quoted = match.group("sq") if match.group("sq") is not None else match.group("dq")
                name = re.sub(r"\\(.)", r"\1", quoted)
            elif name == "*" or "(" in name:
                raise VtlError(f"unsupported JSONPath {path!r} (wildcards and functions are not supported)")
            steps.append(name)
        position = match.end()
    return tuple(steps)


def _jsonpath_read(document: Any, path: str) -> Any:
    current = document
    for step in _parse_jsonpath(path):
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return _MISSING
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return _MISSING
            current = dict.__getitem__(current, step)
    return current


class _Input:
    """`$input`: the payload (method request body in request templates, integration response body in
    response templates) and the method request parameters (in both)."""

    def __init__(self, body: str, params: Optional[VtlMap], body_name: str):
        self._body = body or ""
        self._params = params
        self._body_name = body_name
        self._document: Any = _MISSING

    @property
    def body(self) -> JavaString:
        """"Returns the raw request payload as a string"; an empty payload reads as `{}` (LocalStack #12413)."""
        return JavaString(self._body if self._body != "" else "{}")

    def _parsed(self) -> Any:
        if self._document is _MISSING:
            text = self._body if self._body.strip() != "" else "{}"
            try:
                self._document = _from_json(json.loads(text))
            except ValueError as exc:
                raise VtlBodyParseError(f"Could not parse {self._body_name} into json: {exc}") from None
            except RecursionError:  # nested deeper than Python's stack: no template can use it
                raise VtlBodyParseError(f"Could not parse {self._body_name} into json: nested too deeply") from None
        return self._document

    def json(self, path: Any = "$") -> JavaString:
        """"Evaluates a JSONPath expression and returns the results as a JSON string." No match gives an
        empty JSON string `""` (LocalStack #12774, checked on AWS); null gives `null`."""
        value = _jsonpath_read(self._parsed(), "$" if path is None else _java_str(path))
        return JavaString('""' if value is _MISSING else _to_json(value))

    def path(self, path: Any) -> Any:
        """"Returns a JSON object representation of the result" usable natively in VTL; null if no match."""
        value = _jsonpath_read(self._parsed(), "$" if path is None else _java_str(path))
        return None if value is _MISSING else value

    def params(self, name: Any = None) -> Any:
        """No argument: the map of path / querystring / header maps. With a name: "the value of a method
        request parameter from the path, query string, or header value (searched in that order)";
        empty string when absent. Request templates only: API Gateway documents no method-request
        parameters in integration response templates (facts A10), so a response template using them
        fails here rather than working locally and not in AWS."""
        if self._params is None:
            raise VtlError("$input.params() is not available in integration response templates: API Gateway "
                           "documents method request parameters for request templates only (facts A10); answer "
                           "from the integration response ($input.path) or $context")
        if name is None:
            return self._params
        key = _java_str(name)
        for part in ("path", "querystring"):
            values = dict.__getitem__(self._params, part)
            if key in values:
                return dict.__getitem__(values, key)
        headers = dict.__getitem__(self._params, "header")
        if key in headers:
            return dict.__getitem__(headers, key)
        for header, value in dict.items(headers):  # HTTP header names are case-insensitive
            if header.lower() == key.lower():
                return value
        return JavaString("")

    def __str__(self) -> str:
        return ""


# ------------------------------------------------------------------------------------------------
# $util
# ------------------------------------------------------------------------------------------------


class _Util:
    """`$util` ("Unless otherwise specified, the default character set is UTF-8")."""

    @staticmethod
    def escapeJavaScript(value: Any) -> Optional[JavaString]:  # noqa: N802
        return None if value is None else JavaString(escape_javascript(_java_str(value)))

    @staticmethod
    def parseJson(value: Any) -> Any:  # noqa: N802
        """"Takes 'stringified' JSON and returns an object representation of the result"."""
        if value is None:
            return None
        try:
            return _from_json(json.loads(_java_str(value)))
        except ValueError as exc:
            raise VtlBodyParseError(f"$util.parseJson: not JSON: {exc}") from None

    @staticmethod
    def urlEncode(value: Any) -> Optional[JavaString]:  # noqa: N802
        """java.net.URLEncoder.encode(s, UTF-8): keeps A-Z a-z 0-9 . - * _, space -> '+'."""
        if value is None:
            return None
        encoded = quote_plus(_java_str(value), safe="*", encoding="utf-8", errors="replace")
        return JavaString(encoded.replace("~", "%7E"))

    @staticmethod
    def urlDecode(value: Any) -> Optional[JavaString]:  # noqa: N802
        """java.net.URLDecoder.decode(s, UTF-8): '+' -> space; a bad % escape is an error."""
        if value is None:
            return None
        text = _java_str(value)
        if re.search(r"%(?![0-9A-Fa-f]{2})", text):
            raise VtlError(f"IllegalArgumentException: URLDecoder: Illegal hex characters in escape (%) pattern: {text!r}")
        return JavaString(unquote_plus(text, encoding="utf-8", errors="replace"))

    @staticmethod
    def base64Encode(value: Any) -> Optional[JavaString]:  # noqa: N802
        if value is None:
            return None
        return JavaString(base64.b64encode(_java_str(value).encode("utf-8", "replace")).decode("ascii"))

    @staticmethod
    def base64Decode(value: Any) -> Optional[JavaString]:  # noqa: N802
        """Decodes standard or URL-safe base64, ignoring characters outside the alphabet and missing
        padding (lenient, like Commons Codec's decoder); the bytes are read as UTF-8."""
        if value is None:
            return None
        text = re.sub(r"[^A-Za-z0-9+/]", "", _java_str(value).replace("-", "+").replace("_", "/"))
        if len(text) % 4 == 1:
            text = text[:-1]  # a lone trailing character carries no full byte
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:  # pragma: no cover - cleaned input always decodes
            raise VtlError(f"$util.base64Decode: {exc}") from None
        return JavaString(data.decode("utf-8", "replace"))

    def __str__(self) -> str:
        return ""


# ------------------------------------------------------------------------------------------------
# $context
# ------------------------------------------------------------------------------------------------


def _authorizer(values: Mapping[str, Any]) -> VtlMap:
    """Lambda authorizer context values are "the stringified value" (AWS page); Cognito claims are
    only readable one property at a time."""
    result = VtlMap()
    for key, value in values.items():
        if key == "claims" and isinstance(value, Mapping):
            result[JavaString(key)] = _ClaimsMap(_from_python(value))
        elif value is None or isinstance(value, (Mapping, list, tuple)):
            result[JavaString(key)] = _from_python(value)
        else:
            result[JavaString(key)] = JavaString(_java_str(value))
    return result


def _context(values: Mapping[str, Any]) -> VtlMap:
    context = VtlMap()
    for key, value in values.items():
        if key == "authorizer" and isinstance(value, Mapping):
            context[JavaString(key)] = _authorizer(value)
        elif key not in ("requestOverride", "responseOverride"):
            context[JavaString(key)] = _from_python(value)
    context[JavaString("requestOverride")] = VtlMap(header=VtlMap(), path=VtlMap(), querystring=VtlMap())
    context[JavaString("responseOverride")] = VtlMap(header=VtlMap(), status=None)
    return context


def _params(request: VtlRequest) -> VtlMap:
    return VtlMap(
        path=_from_python(dict(request.path)),
        querystring=_from_python(dict(request.querystring)),
        header=_from_python(dict(request.header)),
    )


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> airspeed.Template:
    compiled = airspeed.Template(template, filename="<mapping template>")
    try:
        compiled.ensure_compiled()
    except airspeed.TemplateSyntaxError as exc:
        reason = re.sub(r"^line \d+, column \d+: ", "", str(exc))
        raise VtlError(f"syntax error: {reason}", line=exc.line, column=exc.column) from None
    return compiled


def _position(template: str, offset: int) -> tuple[int, int]:
    line = template.count("\n", 0, offset) + 1
    column = offset - (template.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _render(template: str, namespace: dict[str, Any]) -> str:
    compiled = _compile(template)
    try:
        return compiled.merge(namespace)
    except airspeed.TemplateExecutionError as exc:
        cause = exc.__cause__
        line, column = _position(template, exc.start)
        snippet = exc.element.my_text().strip().splitlines()[0] if exc.element.my_text().strip() else ""
        if isinstance(cause, VtlError):
            raise type(cause)(f"{cause.detail} (in `{snippet}`)", line=line, column=column) from None
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        raise VtlError(f"error evaluating `{snippet}`: {reason}", line=line, column=column) from None
    except VtlError:
        raise
    except RecursionError:
        raise VtlError("template recursion too deep") from None


def _namespace(request: VtlRequest, body: str, body_name: str, with_params: bool = True) -> dict[str, Any]:
    return {
        "input": _Input(body, _params(request) if with_params else None, body_name),
        "util": _Util(),
        "context": _context(request.context),
        "stageVariables": _from_python(dict(request.stage_variables)),
    }


def _headers(override: Any) -> Mapping[str, str]:
    headers = override.get("header") if isinstance(override, Mapping) else None
    result: dict[str, str] = {}
    if isinstance(headers, Mapping):
        items = dict.items(headers) if isinstance(headers, dict) else ((k, headers[k]) for k in headers)
        for name, value in items:
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                result[str(name)] = ",".join(_java_str(v) for v in value)
            else:
                result[str(name)] = _java_str(value)
    return MappingProxyType(result)


def _status(override: Any) -> Optional[int]:
    status = override.get("status") if isinstance(override, Mapping) else None
    if status is None:
        return None
    text = _java_str(status).strip()
    if isinstance(status, float) and float(status).is_integer():
        text = str(int(status))
    if not re.fullmatch(r"[1-5][0-9]{2}", text):
        raise VtlError(f"$context.responseOverride.status must be an HTTP status code, got {_java_str(status)!r}")
    return int(text)


def render_request(template: str, request: VtlRequest) -> VtlResult:
    """Render an integration request template: `$input` is the method request (body and parameters).

    `header_overrides` are the `$context.requestOverride.header.*` values the template set.
    """
    namespace = _namespace(request, request.body, "request body")
    output = _render(template, namespace)
    override = dict.get(namespace["context"], "requestOverride")
    return VtlResult(output=output, status_override=None, header_overrides=_headers(override))


def render_response(template: str, request: VtlRequest, integration_body: str) -> VtlResult:
    """Render an integration response template: `$input.body/json/path` read the integration response
    body; `$input.params()` raises VtlError (not documented there, facts A10); `$context` as in the request.

    `status_override` / `header_overrides` come from `$context.responseOverride.status` / `.header.*`.
    """
    namespace = _namespace(request, integration_body, "integration response body", with_params=False)
    output = _render(template, namespace)
    override = dict.get(namespace["context"], "responseOverride")
    return VtlResult(output=output, status_override=_status(override), header_overrides=_headers(override))
