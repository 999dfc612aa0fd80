from __future__ import annotations

import codecs
import io
import json
from typing import Any

import pandas as pd
import prepare
import pytest
from common.errors import DataQualityError, InputNotFoundError, InvalidEventError, SchemaError

from workflows import ai4i_data


@pytest.fixture
def raw_csv() -> bytes:
    return ai4i_data.generate(2000, seed=7).to_csv(index=False).encode()


@pytest.fixture
def event(load_event, store, raw_csv) -> dict[str, Any]:
    ev = load_event("prepare")
    store.write(ev["raw_uri"] + "ai4i2020.csv", raw_csv)
    return ev


def read_csv(store: Any, uri: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(store.read(uri)), header=None)


def objects_under(store: Any, prefix: str) -> list[str]:
    return store.list(prefix)


def test_example_event_writes_label_first_splits_and_manifest(event, store):
    result = prepare.handler(event, None)

    prefix = event["output_prefix"]
    assert result["prefix"] == prefix
    assert result["train_uri"] == prefix + "train/train.csv"
    assert result["validation_uri"] == prefix + "validation/validation.csv"
    assert result["test_uri"] == prefix + "test/test.csv"
    assert result["test_features_uri"] == prefix + "test-features/test_features.csv"
    assert result["sample_uri"] == result["test_features_uri"]
    assert result["manifest_uri"] == prefix + "manifest.json"
    assert result["quarantine_uri"] is None
    assert result["features"] == list(prepare.FEATURES)
    assert sorted(objects_under(store, prefix)) == sorted(
        [
            result[k]
            for k in (
                "train_uri",
                "validation_uri",
                "test_uri",
                "test_features_uri",
                "manifest_uri",
            )
        ]
    )

    train, validation, test = (
        read_csv(store, result[k]) for k in ("train_uri", "validation_uri", "test_uri")
    )
    features = read_csv(store, result["test_features_uri"])
    assert train.shape[1] == validation.shape[1] == test.shape[1] == 1 + len(prepare.FEATURES) == 9
    assert features.shape == (len(test), 8)
    assert (features.to_numpy() == test.iloc[:, 1:].to_numpy()).all()
    assert len(train) + len(validation) + len(test) == 2000
    assert result["rows"] == {
        "raw": 2000,
        "valid": 2000,
        "quarantined": 0,
        "train": len(train),
        "validation": len(validation),
        "test": len(test),
    }
    assert abs(len(test) / 2000 - 0.15) < 0.01 and abs(len(validation) / 2000 - 0.15) < 0.01
    assert set(train[0].unique()) == {0, 1}
    # One-hot Type: exactly one of the last three columns is set.
    assert (train.iloc[:, 6:9].sum(axis=1) == 1).all()

    # Stratified: every split has the overall failure rate, to within one row.
    raw = ai4i_data.generate(2000, seed=7)
    positives = int(raw["Machine failure"].sum())
    for part in (train, validation, test):
        assert abs(part[0].sum() - positives * len(part) / 2000) <= 1
    assert result["scale_pos_weight"] == pytest.approx((train[0] == 0).sum() / train[0].sum())
    assert isinstance(result["scale_pos_weight"], float)

    manifest = json.loads(store.read(result["manifest_uri"]))
    assert manifest["features"] == list(prepare.FEATURES)
    assert manifest["label"] == "Machine failure"
    assert manifest["dropped_columns"] == ["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"]
    assert manifest["rows"] == result["rows"]
    assert manifest["class_balance"]["all"]["positives"] == positives
    assert manifest["class_balance"]["train"]["negatives"] == (train[0] == 0).sum()
    assert manifest["scale_pos_weight"] == result["scale_pos_weight"]


def test_same_seed_same_split_and_other_seed_another(event, store):
    first = prepare.handler(event, None)
    body = store.read(first["train_uri"])
    assert store.read(prepare.handler(event, None)["train_uri"]) == body
    assert store.read(prepare.handler({**event, "seed": 43}, None)["train_uri"]) != body


def test_reads_the_real_file_format_bom_and_tabs(load_event, store, raw_csv):
    ev = load_event("prepare")
    tabbed = ai4i_data.generate(500, seed=1).to_csv(index=False, sep="\t").encode()
    store.write(ev["raw_uri"] + "ai4i2020.csv", codecs.BOM_UTF8 + tabbed)
    result = prepare.handler(ev, None)
    assert result["rows"]["valid"] == 500


def test_prefix_with_several_objects_is_concatenated(load_event, store):
    ev = load_event("prepare")
    df = ai4i_data.generate(1000, seed=2)
    store.write(ev["raw_uri"] + "part-1.csv", df.iloc[:600].to_csv(index=False).encode())
    store.write(ev["raw_uri"] + "part-2.csv", df.iloc[600:].to_csv(index=False).encode())
    store.write(ev["raw_uri"] + "README.md", b"not data")
    assert prepare.handler(ev, None)["rows"]["raw"] == 1000


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda df: df.drop(columns=["Torque [Nm]"]), "missing columns: ['Torque [Nm]']"),
        (lambda df: df.assign(Extra=1), "unexpected columns: ['Extra']"),
        (
            lambda df: df.rename(columns={"Type": "Quality"}),
            "missing columns: ['Type']; unexpected columns: ['Quality']",
        ),
    ],
    ids=["missing", "unexpected", "renamed"],
)
def test_schema_errors_list_missing_and_unexpected_columns(load_event, store, change, expected):
    ev = load_event("prepare")
    store.write(
        ev["raw_uri"] + "ai4i2020.csv",
        change(ai4i_data.generate(100, seed=1)).to_csv(index=False).encode(),
    )
    with pytest.raises(SchemaError, match="not the AI4I 2020 raw schema") as info:
        prepare.handler(ev, None)
    assert expected in str(info.value)
    assert "ai4i2020.csv" in str(info.value)
    assert objects_under(store, ev["output_prefix"]) == []


def test_a_few_unparseable_rows_are_quarantined_not_dropped(load_event, store):
    ev = load_event("prepare")
    lines = ai4i_data.generate(1000, seed=3).to_csv(index=False).splitlines()
    fields = lines[5].split(",")
    fields[6] = "n/a"  # Torque [Nm]
    lines[5] = ",".join(fields)
    lines[9] = lines[9] + ",999"  # one field too many
    fields = lines[12].split(",")
    fields[2] = "X"  # Type
    lines[12] = ",".join(fields)
    store.write(ev["raw_uri"] + "ai4i2020.csv", ("\n".join(lines) + "\n").encode())

    result = prepare.handler(ev, None)

    assert result["rows"]["raw"] == 1000
    assert result["rows"]["quarantined"] == 3
    assert result["rows"]["valid"] == 997
    assert (
        result["quarantine_uri"]
        == "s3://predictive-maintenance/quarantine/prepared/run-0001/rows.csv"
    )
    quarantined = pd.read_csv(io.BytesIO(store.read(result["quarantine_uri"])))
    assert list(quarantined["line"]) == [6, 10, 13]
    assert list(quarantined["reason"]) == [
        "Torque [Nm]: 'n/a' is not a number",
        "expected 14 fields, found 15",
        "Type: 'X' is not one of L, M, H",
    ]
    assert quarantined["record"].iloc[0] == lines[5]


def test_a_corrupted_file_fails_and_leaves_nothing_in_the_prepared_prefix(load_event, store):
    ev = load_event("prepare")
    lines = ai4i_data.generate(200, seed=3).to_csv(index=False).splitlines()
    garbled = [lines[0]] + [line.replace(".", "#") for line in lines[1:]]
    store.write(ev["raw_uri"] + "ai4i2020.csv", ("\n".join(garbled)).encode())

    with pytest.raises(
        DataQualityError, match=r"200 of 200 rows .* have unparseable values"
    ) as info:
        prepare.handler(ev, None)

    assert "more than max_invalid_fraction 5.0%" in str(info.value)
    assert "first: line 2: Air temperature [K]: '" in str(info.value)
    assert "#" in str(info.value) and "is not a number" in str(info.value)
    assert objects_under(store, "s3://predictive-maintenance/prepared/") == []
    assert store.exists("s3://predictive-maintenance/quarantine/prepared/run-0001/rows.csv")


def test_binary_garbage_is_a_data_quality_error(load_event, store):
    ev = load_event("prepare")
    store.write(ev["raw_uri"] + "ai4i2020.csv", b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage")
    with pytest.raises(DataQualityError, match="not UTF-8 text"):
        prepare.handler(ev, None)
    assert objects_under(store, "s3://predictive-maintenance/prepared/") == []


def test_no_raw_object_names_the_uri(load_event, store):
    ev = load_event("prepare")
    with pytest.raises(
        InputNotFoundError, match=r"raw_uri: no object at s3://predictive-maintenance/raw/"
    ):
        prepare.handler(ev, None)


def test_a_failed_write_removes_what_was_written(event, store):
    class FailingStore:
        """The real store, except that the third write fails (disk full)."""

        def __init__(self, inner: Any):
            self.inner, self.writes = inner, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def write(self, uri: str, data: bytes) -> None:
            self.writes += 1
            if self.writes == 3:
                raise OSError(28, "No space left on device")
            self.inner.write(uri, data)

    with pytest.raises(OSError, match="No space left"):
        prepare.prepare(prepare.PrepareRequest.from_event(event), FailingStore(store))
    assert objects_under(store, event["output_prefix"]) == []


def test_too_few_failures_to_stratify(load_event, store):
    ev = load_event("prepare")
    df = ai4i_data.generate(300, seed=4)
    df = df[df["Machine failure"] == 0].copy()
    df.iloc[:2, df.columns.get_loc("Machine failure")] = 1
    store.write(ev["raw_uri"] + "ai4i2020.csv", df.to_csv(index=False).encode())
    with pytest.raises(
        DataQualityError, match=r"2 failures and .* a stratified split needs at least 3 of each"
    ):
        prepare.handler(ev, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"raw_uri": None}, "raw_uri: expected an s3://bucket/key URI, got None"),
        (
            {"output_prefix": "/tmp/out"},
            "output_prefix: expected an s3://bucket/key URI, got '/tmp/out'",
        ),
        (
            {"test_fraction": 1.5},
            "test_fraction: expected a number strictly between 0 and 1, got 1.5",
        ),
        (
            {"validation_fraction": "0.1"},
            "validation_fraction: expected a number strictly between 0 and 1",
        ),
        ({"test_fraction": 0.6, "validation_fraction": 0.4}, "their sum must be below 1"),
        ({"seed": -1}, "seed: expected a non-negative integer, got -1"),
        ({"max_invalid_fraction": 2}, "max_invalid_fraction: expected a number from 0 to 1, got 2"),
    ],
    ids=[
        "no-raw",
        "not-s3",
        "fraction-range",
        "fraction-type",
        "no-train-left",
        "seed",
        "max-invalid",
    ],
)
def test_bad_events_name_the_field(load_event, change, message):
    with pytest.raises(InvalidEventError) as info:
        prepare.PrepareRequest.from_event({**load_event("prepare"), **change})
    assert message in str(info.value)


def test_defaults_are_documented_values(load_event):
    ev = load_event("prepare")
    request = prepare.PrepareRequest.from_event(
        {"raw_uri": ev["raw_uri"], "output_prefix": "s3://b/prepared/r1"}
    )
    assert (
        request.seed,
        request.test_fraction,
        request.validation_fraction,
        request.max_invalid_fraction,
    ) == (42, 0.15, 0.15, 0.05)
    assert request.output_prefix == "s3://b/prepared/r1/"
    assert request.quarantine_prefix == "s3://b/quarantine/prepared/r1/"


def _row_by_row(data: bytes, source: str) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    strings, malformed, rows = prepare.parse_source(data.decode("utf-8-sig"), source)
    typed, invalid = prepare.validate(strings, source)
    return typed, malformed + invalid, rows


def _edit_lines(edit: Any) -> Any:
    def apply(text: str) -> str:
        lines = text.splitlines()
        edit(lines)
        return "\n".join(lines) + "\n"

    return apply


def _set_field(line: int, field: int, value: str) -> Any:
    def edit(lines: list[str]) -> None:
        fields = lines[line].split(",")
        fields[field] = value
        lines[line] = ",".join(fields)

    return _edit_lines(edit)


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text,
        lambda text: text.replace("\n", "\r\n"),
        lambda text: text.replace(",", "\t"),
        _edit_lines(lambda lines: lines.insert(7, "")),
        _edit_lines(lambda lines: lines.insert(7, "   \t")),
        _edit_lines(lambda lines: lines.insert(9, " , ")),
        _edit_lines(lambda lines: lines.__setitem__(4, lines[4] + ",1")),
        _set_field(3, 6, "n/a"),
        _set_field(3, 3, " 301.25 "),
        _set_field(5, 4, "inf"),
        _set_field(6, 5, "1e3"),
        _set_field(7, 5, "1_000"),
        _set_field(8, 8, "1.0"),
        _set_field(9, 8, "2"),
        _set_field(10, 2, " M"),
        _set_field(11, 2, "m"),
        _set_field(12, 7, ""),
        lambda text: text.rstrip("\n"),
    ],
    ids=[
        "plain", "crlf", "tabs", "empty-line", "blank-line", "delimiters-only", "extra-field",
        "not-a-number", "padded", "inf", "exponent", "underscore", "label-float", "label-2",
        "type-padded", "type-lowercase", "empty-field", "no-final-newline",
    ],
)  # fmt: skip
@pytest.mark.parametrize("block", [prepare.PARSE_BLOCK_BYTES, 512], ids=["one-block", "blocks"])
def test_the_vectorised_parse_is_the_row_by_row_parse(
    change: Any, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parse_plain (pyarrow, whole columns) gives what parse_source + validate give, when
    the text is parsed in one block or in many."""
    monkeypatch.setattr(prepare, "PARSE_BLOCK_BYTES", block)
    text = change(ai4i_data.generate(40, seed=5).to_csv(index=False))
    data = text.encode()
    plain = prepare.parse_plain(data, "s3://b/raw.csv")
    assert plain is not None
    typed, malformed, invalid, rows = plain
    expected_typed, expected_bad, expected_rows = _row_by_row(data, "s3://b/raw.csv")
    assert rows == expected_rows
    assert sorted(malformed + invalid, key=lambda r: r["line"]) == sorted(
        expected_bad, key=lambda r: r["line"]
    )
    pd.testing.assert_frame_equal(
        typed.reset_index(drop=True), expected_typed.reset_index(drop=True), check_dtype=True
    )
    for columns in ([prepare.LABEL, *prepare.FEATURES], list(prepare.FEATURES)):
        buffer = io.StringIO()
        typed[columns].to_csv(
            buffer, header=False, index=False, lineterminator="\n", float_format="%.10g"
        )
        assert prepare.to_csv(typed, columns) == buffer.getvalue().encode()


@pytest.mark.parametrize(
    "data",
    [b'"UDI",x\n', "UDI,Typ\u00e9\n".encode(), b"UDI\x0bx\n"],
    ids=["quotes", "non-ascii", "vertical-tab"],
)
def test_unusual_text_goes_row_by_row(data: bytes) -> None:
    assert prepare.parse_plain(data, "s3://b/raw.csv") is None


def test_a_header_without_rows_is_a_data_quality_error(load_event, store):
    ev = load_event("prepare")
    header = ai4i_data.generate(5, seed=1).to_csv(index=False).splitlines()[0]
    store.write(ev["raw_uri"] + "ai4i2020.csv", (header + "\n").encode())
    with pytest.raises(DataQualityError, match="holds a header but no data rows"):
        prepare.handler(ev, None)
