"""$util (other than escapeJavaScript), $context, overrides, Java string methods and errors.

Doc (unless noted): AWS API Gateway Developer Guide, "API Gateway mapping template and access
logging variable reference" ($util and $context tables), and "Use a mapping template to override an
API's request and response parameters and status codes" (linked from the responseOverride rows).
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.local.vtl import VtlBodyParseError, VtlError, VtlRequest, render_request, render_response


def render(template: str, body: str = "", **request) -> str:
    return render_request(template, VtlRequest(body=body, **request)).output


# -- $util ---------------------------------------------------------------------------------------


def test_parse_json_docs_example():
    # $util.parseJson() row: the payload, template and output given on the AWS page.
    payload = '{"errorMessage":"{\\"key1\\":\\"var1\\",\\"key2\\":{\\"arr\\":[1,2,3]}}"}'
    template = (
        "#set ($errorMessageObj = $util.parseJson($input.path('$.errorMessage')))\n"
        "{\n   \"errorMessageObjKey2ArrVal\" : $errorMessageObj.key2.arr[0]\n}\n"
    )
    assert json.loads(render_response(template, VtlRequest(body=""), payload).output) == {"errorMessageObjKey2ArrVal": 1}


def test_parse_json_then_foreach():
    template = (
        "#set($o = $util.parseJson($input.params('filter')))"
        "#foreach($k in $o.keySet())$k=#foreach($v in $o.get($k))$v#if($foreach.hasNext)|#end#end;#end"
        " $o.size()"
    )
    assert render(template, querystring={"filter": '{"color": ["red", "blue"], "fit": ["L"]}'}) == "color=red|blue;fit=L; 2"


def test_parse_json_of_invalid_text_fails():
    with pytest.raises(VtlBodyParseError, match="parseJson"):
        render("#set($o = $util.parseJson($input.params('p')))", querystring={"p": "{not json"})


def test_base64_known_values():
    # "Encodes the data into a base64-encoded string"; default character set UTF-8.
    assert render("$util.base64Encode('hello')") == "aGVsbG8="
    assert render("$util.base64Encode($input.params('t'))", querystring={"t": "é"}) == "w6k="
    assert render("$util.base64Decode('aGVsbG8=')") == "hello"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40))
def test_base64_round_trip(text):
    assert render("$util.base64Decode($util.base64Encode($input.params('t')))", querystring={"t": text}) == text
    assert render("$util.base64Encode($input.params('t'))", querystring={"t": text}) == base64.b64encode(text.encode()).decode()


def test_url_encode_and_decode():
    # "Converts a string into application/x-www-form-urlencoded format" (java.net.URLEncoder, UTF-8).
    encoded = render("$util.urlEncode($input.params('t'))", querystring={"t": "a b&c=d/é~*_.-"})
    assert encoded == "a+b%26c%3Dd%2F%C3%A9%7E*_.-"
    assert render("$util.urlDecode($input.params('t'))", querystring={"t": encoded}) == "a b&c=d/é~*_.-"
    with pytest.raises(VtlError, match="Illegal hex characters"):
        render("$util.urlDecode('%zz')")


# -- numbers, validation idioms ------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "valid"), [("10", True), ("1", True), ("999", True), ("1000", False), ("", False),
                                              ("1e3", False), ("-1", False), ("10\n", False), (" 10", False)])
def test_limit_is_validated_with_matches(limit, valid):  # A3: numbers validated before use
    template = "#if($input.params('limit').matches('^[0-9]{1,3}$'))\"Limit\": $input.params('limit')#{else}invalid#end"
    output = render(template, querystring={"limit": limit})
    assert output == (f'"Limit": {limit}' if valid else "invalid")


def test_request_time_epoch_arithmetic():
    # $context.requestTimeEpoch: "The Epoch-formatted request time" (milliseconds).
    template = "#set($now = $context.requestTimeEpoch / 1000)#set($ttl = $now + 86400)$now $ttl"
    assert render(template, context={"requestTimeEpoch": 1700000000123}) == "1700000000 1700086400"


# -- overrides -----------------------------------------------------------------------------------


def test_response_override_status_and_headers():
    # $context.responseOverride.status / .header.header_name: "the status code to be returned instead of ..."
    template = (
        "#set($item = $input.path('$.Item'))\n"
        "#if(\"$!item\" == \"\")\n"
        "#set($context.responseOverride.status = 404)\n"
        "#set($context.responseOverride.header.Cache-Control = 'no-store')\n"
        '{"message": "not found"}\n'
        "#else\n"
        "$input.json('$.Item')\n"
        "#end\n"
    )
    missing = render_response(template, VtlRequest(body=""), "{}")
    assert missing.status_override == 404
    assert dict(missing.header_overrides) == {"Cache-Control": "no-store"}
    assert json.loads(missing.output) == {"message": "not found"}
    found = render_response(template, VtlRequest(body=""), '{"Item": {"id": {"S": "1"}}}')
    assert found.status_override is None and dict(found.header_overrides) == {}


def test_status_override_accepts_a_string_and_rejects_garbage():
    assert render_response("#set($context.responseOverride.status = '201')", VtlRequest(body=""), "{}").status_override == 201
    assert render_response("#set($h = 'X-Dyn')#set($context.responseOverride.header[$h] = 'v')", VtlRequest(body=""),
                           "{}").header_overrides == {"X-Dyn": "v"}
    with pytest.raises(VtlError, match="HTTP status code"):
        render_response("#set($context.responseOverride.status = 'oops')", VtlRequest(body=""), "{}")


def test_request_template_reads_back_request_override_headers_only():
    result = render_request(
        "#set($context.requestOverride.header.X-Amz-Target = 'DynamoDB_20120810.GetItem')"
        "#set($context.responseOverride.status = 500){}",
        VtlRequest(body=""),
    )
    assert result.output == "{}"
    assert dict(result.header_overrides) == {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
    assert result.status_override is None  # responseOverride applies to integration responses only


# -- $context ------------------------------------------------------------------------------------

CONTEXT = {
    "requestId": "r-1",
    "httpMethod": "GET",
    "stage": "dev",
    "identity": {"cognitoIdentityId": "eu-west-1:1111", "sourceIp": "192.0.2.1"},
    "authorizer": {"principalId": "p", "claims": {"sub": "user-sub", "cognito:username": "alice"}, "numKey": 1, "boolKey": True},
}


def test_authorizer_claims_and_identity():  # A9
    template = ("$context.authorizer.claims.sub $context.authorizer.claims['cognito:username'] "
                "$context.identity.cognitoIdentityId $context.identity.sourceIp $context.requestId $context.stage")
    assert render(template, context=CONTEXT) == "user-sub alice eu-west-1:1111 192.0.2.1 r-1 dev"


def test_claims_map_itself_is_null():  # A9
    # "Calling $context.authorizer.claims returns null."
    assert render("[$context.authorizer.claims][$context.authorizer.claims.keySet()][$context.authorizer.claims.nope]",
                  context=CONTEXT) == "[][][]"
    assert render("#foreach($k in $context.authorizer.claims.keySet())$k#end", context=CONTEXT) == ""


def test_lambda_authorizer_values_are_stringified():
    # $context.authorizer.property: numKey 1 -> "1", boolKey true -> "true".
    assert render("$context.authorizer.numKey $context.authorizer.boolKey $context.authorizer.principalId", context=CONTEXT) == "1 true p"
    assert render("#if($context.authorizer.numKey == '1')string#end", context=CONTEXT) == "string"


def test_stage_variables():
    # $stageVariables.<name>, $stageVariables['<name>'], ${stageVariables['<name>']}
    sv = {"table": "orders-dev"}
    assert render("$stageVariables.table $stageVariables['table'] ${stageVariables['table']}", stage_variables=sv) == "orders-dev " * 2 + "orders-dev"


# -- undefined references ------------------------------------------------------------------------


def test_undefined_references_render_empty():
    # Plain Velocity prints an undefined $ref literally; API Gateway prints nothing (LocalStack's
    # airspeed snapshot recorded on AWS: "Hello $name" -> "Hello "; toqoz/api-gateway-mapping-template#5).
    assert render("a $nope b $!nope c ${nope} d $context.nope.deeper e $input.path('$').nope f", body="{}") == "a  b  c  d  e  f"


def test_if_on_an_undefined_reference_is_true_as_in_api_gateway():
    # LocalStack's airspeed snapshot recorded on AWS: "#if ($some_value)hide me#end" -> "hide me".
    # Presence is therefore tested with "$!ref" != "" (what stacks/vtl.py does).
    assert render("#if($nope)T#{else}F#end") == "T"
    assert render("#if(\"$!nope\" != \"\")T#{else}F#end") == "F"
    assert render("#if(\"$!x\" != \"\")T#{else}F#end", body='{"x": 1}') == "F"  # $x is a template variable, unset
    assert render("#set($x = $input.path('$.x'))#if(\"$!x\" != \"\")T#{else}F#end", body='{"x": 1}') == "T"


# -- Java String methods -------------------------------------------------------------------------

STRINGS = {"s": " Ab,,c:d:ERROR,, ", "e": "😀é", "t": "a:b:ConditionalCheckFailedException"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$s.trim()", "Ab,,c:d:ERROR,,"),
        ("$s.toLowerCase()", " ab,,c:d:error,, "),
        ("$s.toUpperCase()", " AB,,C:D:ERROR,, "),
        ("$s.length()", "17"),
        ("$e.length()", "3"),  # UTF-16 units: the emoji counts 2
        ("$e.substring(2)", "é"),
        ("$s.trim().substring(0, 2)", "Ab"),
        ("$s.replace(',,', ';')", " Ab;c:d:ERROR; "),
        ("$s.replaceAll('[:,]+', '-')", " Ab-c-d-ERROR- "),
        ("$s.replaceAll('(A)(b)', '$2$1')", " bA,,c:d:ERROR,, "),
        ("$s.replaceAll('(?<first>A)', '${first}${first}')", " AAb,,c:d:ERROR,, "),
        ("$s.replaceFirst(',', ';')", " Ab;,c:d:ERROR,, "),
        ("$s.trim().split(',').size()", "3"),  # trailing empty strings removed, as in Java
        ("$s.trim().split(',')", "[Ab, , c:d:ERROR]"),
        ("$s.split(':', 2).get(1)", "d:ERROR,, "),
        ("$s.contains('ERROR')", "true"),
        ("$t.startsWith('a:')", "true"),
        ("$t.endsWith('ConditionalCheckFailedException')", "true"),
        ("$t.indexOf(':')", "1"),
        ("$t.indexOf('zz')", "-1"),
        ("$t.lastIndexOf(':')", "3"),
        ("$t.matches('a:.*')", "true"),
        ("$t.matches('a:')", "false"),  # whole-string match, like Java
        ("$t.isEmpty()", "false"),
        ("$t.equals('x')", "false"),
        ("$t.equalsIgnoreCase('A:B:CONDITIONALCHECKFAILEDEXCEPTION')", "true"),
        ("$t.charAt(2)", "b"),
    ],
)
def test_java_string_methods(expression, expected):
    on_values = f"#set($s = $input.params('s'))#set($e = $input.params('e'))#set($t = $input.params('t')){expression}"
    assert render(on_values, querystring=STRINGS) == expected
    if ".split(" not in expression and ".replace(" not in expression:
        # Strings built by the engine itself ("$interpolated") get the same Java methods
        # (Python's own split/replace win there, see the module doc).
        on_plain = ('#set($s = "$!input.params(\'s\')")#set($e = "$!input.params(\'e\')")'
                    f'#set($t = "$!input.params(\'t\')"){expression}')
        assert render(on_plain, querystring=STRINGS) == expected


def test_consumer_idioms_on_interpolated_strings():
    # Shapes used by stacks/vtl.py: an error type read into a plain string, then endsWith;
    # the user-pool sub after the last ':' of cognitoAuthenticationProvider.
    template = (
        "#set($type = \"$!input.path('$.__type')\")#if($type.endsWith('ConditionalCheckFailedException'))409#{else}other#end "
        "#set($provider = \"$!context.identity.cognitoAuthenticationProvider\")"
        "#set($at = $provider.lastIndexOf(':') + 1)$provider.substring($at)"
    )
    body = '{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}'
    context = {"identity": {"cognitoAuthenticationProvider": "cognito-idp.eu-west-1.amazonaws.com/pool,cognito-idp.eu-west-1.amazonaws.com/pool:CognitoSignIn:sub-123"}}
    assert render_response(template, VtlRequest(body="", context=context), body).output == "409 sub-123"


def test_list_add_returns_true_like_java():
    assert render("#set($l = [])$l.add('a') $l.size()") == "true 1"


# -- errors --------------------------------------------------------------------------------------


def test_syntax_error_reports_the_line():
    with pytest.raises(VtlError, match="syntax error") as error:
        render("{\n  #if($input.params('a')\n}")
    assert error.value.line == 2


def test_runtime_error_reports_the_line_and_expression():
    with pytest.raises(VtlError) as error:
        render("{\n\n  \"x\": \"$input.params('id').substring(3)\"\n}", path={"id": "ab"})
    assert error.value.line == 3
    assert "StringIndexOutOfBoundsException" in str(error.value)
    assert "substring(3)" in str(error.value)


def test_expressions_are_not_method_arguments():
    # Velocity 1.x grammar (what airspeed parses): compute into a variable first.
    with pytest.raises(VtlError, match="syntax error"):
        render("$input.params('a').substring($input.params('a').indexOf(':') + 1)")
