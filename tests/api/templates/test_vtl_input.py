"""$input in request and response templates.

Doc (unless noted): AWS API Gateway Developer Guide, "API Gateway mapping template and access
logging variable reference", `$input` table and "$input Variable template examples":
- $input.body "Returns the raw request payload as a string."
- $input.json(x) "evaluates a JSONPath expression and returns the results as a JSON string".
- $input.path(x) "returns a JSON object representation of the result. This allows you to access and
  manipulate elements of the payload natively in ... VTL".
- $input.params() "Returns a map of all the request parameters."
- $input.params(x) "Returns the value of a method request parameter from the path, query string, or
  header value (searched in that order)".
In an integration response template the payload is the integration (DynamoDB) response.
"""

from __future__ import annotations

import json

import pytest

from stacks.local.vtl import VtlBodyParseError, VtlError, VtlRequest, render_request, render_response


def render(template: str, body: str = "", **request) -> str:
    return render_request(template, VtlRequest(body=body, **request)).output


BODY = json.dumps({"a": "x", "n": 7, "ok": True, "obj": {"b": 1, "tags": ["t1", "t2"]}, "list": [{"id": 1}, {"id": 2}]})


def test_json_returns_json_text_while_path_returns_the_value():
    assert render("$input.json('$.a')|$input.path('$.a')", BODY) == '"x"|x'
    assert render("$input.json('$.n')|$input.path('$.n')", BODY) == "7|7"
    assert render("$input.json('$.ok')|$input.path('$.ok')", BODY) == "true|true"
    assert json.loads(render("$input.json('$.obj')", BODY)) == {"b": 1, "tags": ["t1", "t2"]}
    assert json.loads(render("$input.json('$')", BODY)) == json.loads(BODY)


def test_path_values_are_usable_natively_in_vtl():
    template = (
        "#set($o = $input.path('$.obj'))"
        "$o.size() $o.isEmpty() $o.containsKey('b') $o.containsKey('zz') $o.get('b') $o.b "
        "#foreach($k in $o.keySet())$k;#end "
        "#foreach($t in $o.tags)$t#if($foreach.hasNext),#end#end "
        "$o.tags.size() $input.path('$.list').size() $input.path('$.a').length()"
    )
    assert render(template, BODY) == "2 false true false 1 1 b;tags; t1,t2 2 2 1"


def test_docs_example_request_and_response():
    # "Example request and response using $input": POST /things/abc with three things.
    template = (
        '{\n    "id" : "$input.params(\'id\')",\n    "count" : "$input.path(\'$.things\').size()",\n'
        '    "things" : $input.json(\'$.things\')\n}'
    )
    body = '{"things": {"1": {}, "2": {}, "3": {}}}'
    output = json.loads(render(template, body, path={"id": "abc"}))
    assert output == {"id": "abc", "count": "3", "things": {"1": {}, "2": {}, "3": {}}}
    # The page also shows `$input.path('$.pets').count()` returning the number of pets.
    assert render("$input.path('$.pets').count()", '{"pets": [{"id": 1}, {"id": 2}, {"id": 3}]}') == "3"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", None),
        ("$.obj.b", "1"),
        ("$['obj']['b']", "1"),
        ('$["obj"].tags[1]', "t2"),
        ("$.list[0].id", "1"),
        ("$.list[-1].id", "2"),  # Jayway JsonPath (linked from the AWS page) counts negative indexes from the end
        ("obj.b", "1"),  # Jayway reads a path without `$` as `$.` + path
    ],
)
def test_supported_jsonpath_forms(path, expected):
    quoted = f'"{path}"' if "'" in path else f"'{path}'"  # a VTL '...' literal cannot hold a '
    output = render(f"$input.path({quoted})", BODY)
    if expected is None:
        assert output.startswith("{a=x, n=7, ok=true, obj={b=1, tags=")
    else:
        assert output == expected


def test_maps_render_like_java_and_arrays_like_json():
    # Not in the AWS page; LocalStack #12379 recorded on AWS that $input.path maps print as Java
    # maps ({foo=bar}) and lists, also inside maps, as JSON.
    assert render("$input.path('$.obj')", BODY) == '{b=1, tags=["t1","t2"]}'
    assert render("$input.path('$.list')", BODY) == '[{"id":1},{"id":2}]'
    assert render("$input.path('$.f')", '{"f": 0.00001}') == "1.0E-5"  # java.lang.Double.toString


def test_missing_path_is_null_and_missing_json_is_an_empty_string():
    # $input.path with no match is null: renders empty (a null reference renders empty in API
    # Gateway). $input.json with no match gives "" (LocalStack #12774, checked on AWS).
    assert render("[$input.path('$.nope')][$input.path('$.obj.nope.deeper')][$input.path('$.list[9]')]", BODY) == "[][][]"
    assert render("$input.json('$.nope')", BODY) == '""'
    assert render("#foreach($x in $input.path('$.nope'))never#end", BODY) == ""


def test_a_missing_property_named_like_a_python_dict_method_is_still_null():
    assert render("[$input.path('$').items][$input.path('$').keys]", BODY) == "[][]"


def test_unsupported_jsonpath_is_a_clear_error():
    with pytest.raises(VtlError, match="unsupported JSONPath"):
        render("$input.path('$..id')", BODY)
    with pytest.raises(VtlError, match="unsupported JSONPath"):
        render("$input.json('$.list[*].id')", BODY)


def test_body_that_is_not_json_cannot_be_read_with_jsonpath():
    # API Gateway answers 400 "Could not parse request body into json" in this case.
    with pytest.raises(VtlBodyParseError, match="Could not parse request body into json") as error:
        render("{\n  \"x\": $input.json('$.a')\n}", "a=1&b=2")
    assert error.value.line == 2
    assert render("$input.body", "a=1&b=2") == "a=1&b=2"  # the raw body is still readable


def test_empty_body():
    # Not in the AWS page: LocalStack #12413 recorded on AWS that an empty payload reads as {}.
    assert render("$input.body", "") == "{}"
    assert render("$input.json('$')", "") == "{}"
    assert render("[$input.path('$.a')]", "") == "[]"


def test_params_search_order_is_path_then_querystring_then_header():
    request = dict(path={"id": "from-path"}, querystring={"id": "from-query", "q": "from-query"},
                   header={"id": "from-header", "q": "from-header", "h": "from-header"})
    assert render("$input.params('id')|$input.params('q')|$input.params('h')", **request) == "from-path|from-query|from-header"
    # a parameter that is absent everywhere is the empty string, so .length()/.matches() work on it
    assert render("[$input.params('nope')] $input.params('nope').length()", **request) == "[] 0"


def test_params_without_argument_is_the_map_of_all_parameters():
    # The AWS page's "Parameter mapping template example", verbatim.
    template = """#set($allParams = $input.params())
{
  "params" : {
    #foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type" : {
      #foreach($paramName in $params.keySet())
      "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
      #if($foreach.hasNext),#end
      #end
    }
    #if($foreach.hasNext),#end
    #end
  }
}"""
    output = render(template, path={"id": "7"}, querystring={"limit": "10", "q": "a/b"}, header={"Accept": "application/json"})
    assert json.loads(output) == {"params": {
        "path": {"id": "7"},
        "querystring": {"limit": "10", "q": "a/b"},
        "header": {"Accept": "application/json"},
    }}
    assert render("$input.params().querystring.get('limit') $input.params().path.id", path={"id": "7"}, querystring={"limit": "10"}) == "10 7"


def test_response_template_reads_the_integration_body():
    request = VtlRequest(body='{"Item": "from the method request body"}', path={"id": "abc-1"}, querystring={"id": "q"})
    dynamodb = json.dumps({"Item": {"id": {"S": "abc-1"}, "title": {"S": "hello"}, "n": {"N": "3"}}})
    template = (
        "#set($item = $input.path('$.Item'))"
        '{"id": "$item.id.S", "title": "$item.title.S", "n": $item.n.N, "raw": $input.json(\'$.Item.title\')}'
    )
    result = render_response(template, request, dynamodb)
    assert json.loads(result.output) == {"id": "abc-1", "title": "hello", "n": 3, "raw": {"S": "hello"}}
    assert render_response("$input.body", request, dynamodb).output == dynamodb


@pytest.mark.parametrize("reference", ["$input.params('id')", "$input.params()", "$!input.params().path.get('id')"])
def test_response_templates_cannot_read_method_request_parameters(reference):  # A10: undocumented in AWS
    request = VtlRequest(body="", path={"id": "abc-1"})
    with pytest.raises(VtlError, match=r"not available in integration response templates.*A10"):
        render_response(f'{{"id": "{reference}"}}', request, "{}")
    assert render_request(f'{{"id": "{reference}"}}', request).output  # request templates keep them


def test_response_template_over_a_query_result():
    dynamodb = json.dumps({"Count": 2, "Items": [{"pk": {"S": "u"}, "sk": {"S": "1"}}, {"pk": {"S": "u"}, "sk": {"S": "2"}}],
                           "LastEvaluatedKey": {"pk": {"S": "u"}, "sk": {"S": "2"}}})
    template = (
        '{"items": [#foreach($i in $input.path(\'$.Items\'))"$i.sk.S"#if($foreach.hasNext),#end#end], '
        '"count": $input.path(\'$.Count\'), '
        '"next": "$util.base64Encode($input.path(\'$.LastEvaluatedKey.sk.S\'))"}'
    )
    assert json.loads(render_response(template, VtlRequest(body=""), dynamodb).output) == {
        "items": ["1", "2"], "count": 2, "next": "Mg=="}
