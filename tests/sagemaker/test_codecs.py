import json

import numpy as np
import pytest

from localaws.sagemaker import codecs


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"1,2,3", "text/csv", [[1, 2, 3]]),
        (b"1,2,3\n", "text/csv; charset=utf-8", [[1, 2, 3]]),
        (b"1,2,3\n4,5,6\n", "text/csv", [[1, 2, 3], [4, 5, 6]]),
        (b"1,2,3\r\n\r\n4,5,6", "TEXT/CSV", [[1, 2, 3], [4, 5, 6]]),
        (b"1,2,3", None, [[1, 2, 3]]),
        (b"0 0:1 2:3\n1:5", "text/libsvm", [[1, 0, 3], [0, 5, 0]]),
        (b"0:1 2:3", "text/x-libsvm", [[1, 0, 3]]),
        (b'{"instances": [[1, 2, 3], [4, 5, 6]]}', "application/json", [[1, 2, 3], [4, 5, 6]]),
        (b'{"instances": [{"features": [1, 2, 3]}]}', "application/json", [[1, 2, 3]]),
        (b'{"features": [1, 2, 3]}', "application/json", [[1, 2, 3]]),
        (
            b'{"instances": [{"data": {"features": {"values": [1, 2, 3]}}}]}',
            "application/json",
            [[1, 2, 3]],
        ),
        (b"[1, 2, 3]", "application/json", [[1, 2, 3]]),
        (b"[[1, 2, 3], [4, 5, 6]]", "application/json", [[1, 2, 3], [4, 5, 6]]),
        (
            b'{"features": [1, 2, 3]}\n{"features": [4, 5, 6]}\n',
            "application/jsonlines",
            [[1, 2, 3], [4, 5, 6]],
        ),
    ],
    ids=[
        "csv-one-row",
        "csv-charset-param",
        "csv-many-rows",
        "csv-crlf-blank-line",
        "csv-default-type",
        "libsvm-label-optional",
        "x-libsvm",
        "json-instances-lists",
        "json-instances-features",
        "json-features",
        "json-extended",
        "json-bare-row",
        "json-bare-rows",
        "jsonlines",
    ],
)
def test_decode(body, content_type, expected):
    data = codecs.decode(body, content_type)
    dense = data.toarray() if hasattr(data, "toarray") else data
    assert dense.dtype == np.float32
    np.testing.assert_array_equal(dense, np.array(expected, dtype=np.float32))


def test_csv_empty_field_is_missing():
    data = codecs.decode(b"1,,3\n4,5,", "text/csv")
    assert np.isnan(data[0, 1]) and np.isnan(data[1, 2])
    assert data[1, 1] == 5


@pytest.mark.parametrize(
    ("body", "content_type", "error", "status", "message"),
    [
        (
            b"1,2",
            "image/png",
            codecs.UnsupportedContentType,
            415,
            "Content-type image/png not supported",
        ),
        (b"a,b,c", "text/csv", codecs.PayloadError, 400, "Loading csv data failed"),
        (b"1,2\n3", "text/csv", codecs.PayloadError, 400, "different numbers of columns"),
        (b"\xff\xfe", "text/csv", codecs.PayloadError, 400, "Loading csv data failed"),
        (b"1:x", "text/libsvm", codecs.PayloadError, 400, "Loading libsvm data failed"),
        (b"{not json", "application/json", codecs.PayloadError, 400, "Loading json data failed"),
        (
            b'{"instances": [{"x": 1}]}',
            "application/json",
            codecs.PayloadError,
            400,
            "none of 'features'",
        ),
    ],
    ids=[
        "unsupported-type",
        "csv-words",
        "csv-ragged",
        "csv-not-utf8",
        "libsvm-value",
        "json-syntax",
        "json-shape",
    ],
)
def test_decode_errors(body, content_type, error, status, message):
    with pytest.raises(error, match=message) as info:
        codecs.decode(body, content_type)
    assert info.value.status == status


def test_encode_csv_as_the_container_formats_it():
    preds = np.array([0.25, 0.1], dtype=np.float32)
    assert codecs.encode(preds, "text/csv") == b"0.25,0.10000000149011612"
    assert codecs.encode(preds, "text/csv", batch=True) == b"0.25\n0.10000000149011612\n"


def test_encode_json_and_jsonlines():
    preds = np.array([0.5, 0.25], dtype=np.float32)
    assert json.loads(codecs.encode(preds, "application/json")) == {
        "predictions": [{"score": 0.5}, {"score": 0.25}]
    }
    assert codecs.encode(preds, "application/jsonlines") == b'{"score": 0.5}\n{"score": 0.25}\n'


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/csv"),
        ("", "text/csv"),
        ("*/*", "text/csv"),
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("image/png, text/csv", "text/csv"),
    ],
)
def test_negotiate_accept(accept, expected):
    assert codecs.negotiate_accept(accept) == expected


def test_negotiate_accept_default_comes_from_the_container():
    assert codecs.negotiate_accept("*/*", default="application/json") == "application/json"


def test_unsupported_accept_is_406():
    with pytest.raises(
        codecs.UnsupportedAccept, match="Accept type image/png is not supported"
    ) as info:
        codecs.negotiate_accept("image/png")
    assert info.value.status == 406
