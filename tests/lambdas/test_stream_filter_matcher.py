"""The tests' filter matcher (stream_fixtures.matches) against Lambda's documented filter semantics,
for the subset it implements: nested objects, exact values (any of a list), `exists`."""

from __future__ import annotations

import pytest
from stream_fixtures import matches, passes_filters

RECORD = {
    "eventName": "MODIFY",
    "dynamodb": {"Keys": {"productId": {"S": "p-1"}}, "NewImage": {"tags": {"SS": ["a", "b"]}}},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT", "MODIFY"]}, True),  # any value of the list
        ({"eventName": ["INSERT"]}, False),
        ({"dynamodb": {"Keys": {"productId": {"S": ["p-1"]}}}}, True),  # nested objects
        ({"dynamodb": {"Keys": {"productId": {"S": [{"exists": True}]}}}}, True),
        ({"dynamodb": {"Keys": {"productId": {"N": [{"exists": True}]}}}}, False),
        ({"dynamodb": {"OldImage": {"price": {"N": [{"exists": False}]}}}}, True),  # absent parent: does not exist
        ({"dynamodb": {"Keys": {"productId": [{"exists": True}]}}}, False),  # exists applies to leaves only
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),  # an array matches if any element does
        ({"eventName": ["MODIFY"], "dynamodb": {"Keys": {"productId": {"S": ["p-2"]}}}}, False),  # fields AND
    ],
)
def test_matcher_follows_lambda_filter_semantics(pattern, expected):
    assert matches(pattern, RECORD) is expected


def test_patterns_are_ored_and_no_patterns_let_everything_through():
    assert passes_filters([{"eventName": ["INSERT"]}, {"eventName": ["MODIFY"]}], RECORD)
    assert passes_filters([], RECORD)


def test_operators_outside_the_subset_are_refused():
    with pytest.raises(NotImplementedError):
        matches({"eventName": [{"prefix": "MOD"}]}, RECORD)
