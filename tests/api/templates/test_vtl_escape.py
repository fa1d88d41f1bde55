"""$util.escapeJavaScript and the GOTCHAS A3 idiom, rendered by the local VTL adapter.

Doc: AWS API Gateway Developer Guide, "API Gateway mapping template and access logging variable
reference", `$util` table: "$util.escapeJavaScript() Escapes the characters in a string using
JavaScript string rules. This function will turn any regular single quotes (') into escaped ones
(\\'). However, the escaped single quotes are not valid in JSON. Thus, when the output from this
function is used in a JSON property, you must turn any escaped single quotes (\\') back to regular
single quotes ('): $util.escapeJavaScript(data).replaceAll("\\\\'","'")".
"JavaScript string rules" are those of Apache Commons Lang StringEscapeUtils.escapeJavaScript
(escapeJavaStyleString with escapeSingleQuote and escapeForwardSlash): \\" \\' \\\\ \\/, \\b \\f \\n
\\r \\t, \\uXXXX (uppercase) for other controls and for every UTF-16 unit above 0x7F.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stacks.local.vtl import VtlRequest, escape_javascript, render_request

A3 = """.replaceAll("\\\\'","'")"""  # the idiom exactly as the AWS page and GOTCHAS A3 write it
assert A3 == r""".replaceAll("\\'","'")"""


def render(template: str, **request) -> str:
    return render_request(template, VtlRequest(body=request.pop("body", ""), **request)).output


def escaped(value: str) -> str:
    return render("$util.escapeJavaScript($input.params('t'))", querystring={"t": value})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the doc's own statement: single quotes come out as \'
        ("it's", "it\\'s"),
        ('say "hi"', 'say \\"hi\\"'),
        ("C:\\temp", "C:\\\\temp"),
        ("</script>", "<\\/script>"),
        ("line1\nline2", "line1\\nline2"),
        ("a\tb\r\n", "a\\tb\\r\\n"),
        ("\b\f", "\\b\\f"),
        ("\x00\x01\x1f", "\\u0000\\u0001\\u001F"),
        ("\x7f", "\x7f"),  # DEL is not escaped (only units above 0x7F)
        ("é", "\\u00E9"),
        ("日本", "\\u65E5\\u672C"),
        ("😀", "\\uD83D\\uDE00"),  # outside the BMP: the two UTF-16 surrogates
        ("\u2028", "\\u2028"),
        ("plain text 123", "plain text 123"),
        ("", ""),
    ],
)
def test_escape_javascript_follows_java_string_rules(text, expected):  # A3
    assert escape_javascript(text) == expected
    assert escaped(text) == expected


def test_escaped_single_quote_is_not_json_without_the_replace_all_idiom():  # A3
    # The reason for the idiom: \' is not a JSON escape.
    raw = render('{"v": "$util.escapeJavaScript($input.params(\'t\'))"}', querystring={"t": "it's"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    fixed = render('{"v": "$util.escapeJavaScript($input.params(\'t\'))' + A3 + '"}', querystring={"t": "it's"})
    assert json.loads(fixed) == {"v": "it's"}


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=400, deadline=None)
@given(TEXT)
@example("it's")
@example("\\'")  # a backslash before a quote: \\\' must become \\' (an escaped backslash, then ')
@example("\\\\'")
@example('"},"UserID":{"S":"B')
@example("😀é日本\n\t\x00\x7f/</")
def test_a3_idiom_gives_json_holding_exactly_the_input(text):  # A3
    template = '{"v": "$util.escapeJavaScript($input.params(\'t\'))' + A3 + '"}'
    output = render(template, querystring={"t": text})
    assert json.loads(output) == {"v": text}


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_a3_idiom_on_a_body_property(text):  # A3
    # Same guarantee for a value read from the JSON body with $input.path (request template).
    template = '{"v": "$util.escapeJavaScript($input.path(\'$.name\'))' + A3 + '"}'
    output = render(template, body=json.dumps({"name": text}))
    assert json.loads(output) == {"v": text}


def test_injection_attempt_stays_inside_the_string():  # A3
    # A PutItem body where the caller controls `note` and tries to smuggle in another UserID.
    attack = '"},"UserID":{"S":"B'
    template = (
        '{"TableName": "notes", "Item": {'
        '"UserID": {"S": "$util.escapeJavaScript($context.authorizer.claims.sub)' + A3 + '"}, '
        '"note": {"S": "$util.escapeJavaScript($input.params(\'note\'))' + A3 + '"}}}'
    )
    output = render(template, querystring={"note": attack}, context={"authorizer": {"claims": {"sub": "A"}}})
    item = json.loads(output)["Item"]
    assert item == {"UserID": {"S": "A"}, "note": {"S": attack}}


def test_escape_of_null_renders_nothing_and_numbers_are_stringified():
    # Java returns null for null input; a null reference renders empty in API Gateway.
    assert render("[$util.escapeJavaScript($input.path('$.missing'))]", body="{}") == "[]"
    assert render("$util.escapeJavaScript($input.path('$.n'))", body='{"n": 5}') == "5"


def test_escaping_a_json_fragment_as_in_the_docs_example():
    # AWS page, "$input Variable template examples": $util.escapeJavaScript($input.json('$.mykey')).
    output = render("$util.escapeJavaScript($input.json('$.mykey'))", body='{"mykey": {"a": "x/y"}}')
    assert output == '{\\"a\\":\\"x\\/y\\"}'
