"""EventBridge InputTransformer: placeholders in JSON and text templates, as AWS fills them."""

from __future__ import annotations

import json

import pytest

from localaws.events.dispatcher import transform

EVENT = {
    "detail": {
        "bucket": {"name": "data"},
        "object": {"key": 'training-dataset/d1/say "hi".csv', "size": 5},
        "tags": ["a", "b"],
    }
}
PATHS = {
    "bucket": "$.detail.bucket.name",
    "key": "$.detail.object.key",
    "size": "$.detail.object.size",
    "tags": "$.detail.tags",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            '{"bucket": <bucket>, "key": <key>, "size": <size>}',
            {"bucket": "data", "key": 'training-dataset/d1/say "hi".csv', "size": 5},
        ),
        ('{"bucket": "<bucket>"}', {"bucket": "data"}),
        ('{"uri": "s3://<bucket>/<key>"}', {"uri": 's3://data/training-dataset/d1/say "hi".csv'}),
        ('{"size": "<size> bytes", "tags": <tags>}', {"size": "5 bytes", "tags": ["a", "b"]}),
        ('[<bucket>, "<bucket>!", <size>]', ["data", "data!", 5]),
    ],
    ids=["unquoted-strings", "quoted", "inside-a-string", "number-in-text-and-list", "array"],
)
def test_json_template_quotes_unquoted_strings_and_escapes_text(
    template: str, expected: object
) -> None:
    out = transform({"InputPathsMap": PATHS, "InputTemplate": template}, EVENT)
    assert json.loads(out) == expected


def test_text_template_takes_values_as_text() -> None:
    out = transform({"InputPathsMap": PATHS, "InputTemplate": "<bucket> has <size> bytes"}, EVENT)
    assert out == "data has 5 bytes"
