from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pytest

from workflows import ai4i_data

# The real file's counts per 10,000 rows (UCI, AI4I 2020).
PUBLISHED = {"Machine failure": 339, "TWF": 46, "HDF": 115, "PWF": 95, "OSF": 98, "RNF": 19}


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return ai4i_data.generate(100_000, seed=42)


def test_columns_are_exactly_the_raw_schema(big):
    assert list(big.columns) == [
        "UDI", "Product ID", "Type", "Air temperature [K]", "Process temperature [K]",
        "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]", "Machine failure",
        "TWF", "HDF", "PWF", "OSF", "RNF",
    ]  # fmt: skip
    assert big["UDI"].tolist()[:3] == [1, 2, 3]
    assert big["Product ID"].str.fullmatch(r"[LMH]\d{5}").all()
    assert (big["Product ID"].str[0] == big["Type"]).all()


def test_seeded():
    pd.testing.assert_frame_equal(ai4i_data.generate(500, seed=1), ai4i_data.generate(500, seed=1))
    assert not ai4i_data.generate(500, seed=1).equals(ai4i_data.generate(500, seed=2))


@pytest.mark.parametrize("rows", [1, 2, 37])
def test_any_number_of_rows(rows):
    df = ai4i_data.generate(rows, seed=0)
    assert len(df) == rows
    assert df.notna().all().all()


@pytest.mark.parametrize("rows", [0, -5, 1.5, True])
def test_rows_must_be_a_positive_integer(rows):
    with pytest.raises(ValueError, match="rows: must be a positive integer"):
        ai4i_data.generate(rows, seed=0)


def test_published_marginals(big):
    per_10k = {name: big[name].sum() / 10 for name in PUBLISHED}
    assert 0.03 <= big["Machine failure"].mean() <= 0.04
    for name, published in PUBLISHED.items():
        # "Of the same order": within a factor of 2.2 (RNF: 10 from p = 0.1 %, vs 19 in the file).
        assert published / 2.2 <= per_10k[name] <= published * 1.6, (name, per_10k[name])
    shares = big["Type"].value_counts(normalize=True)
    assert shares["L"] == pytest.approx(0.6, abs=0.01)
    assert shares["M"] == pytest.approx(0.3, abs=0.01)
    assert shares["H"] == pytest.approx(0.1, abs=0.01)
    air, process = big["Air temperature [K]"], big["Process temperature [K]"]
    assert air.mean() == pytest.approx(300.0, abs=0.05) and air.std() == pytest.approx(
        2.0, abs=0.05
    )
    assert (process - air).mean() == pytest.approx(10.0, abs=0.05)
    assert (process - air).std() == pytest.approx(1.0, abs=0.05)
    torque, speed = big["Torque [Nm]"], big["Rotational speed [rpm]"]
    assert (torque >= 0).all() and torque.mean() == pytest.approx(40.0, abs=0.3)
    assert speed.mean() == pytest.approx(1539, abs=15) and speed.std() == pytest.approx(179, abs=20)
    assert np.corrcoef(speed, torque)[0, 1] == pytest.approx(-0.875, abs=0.04)
    wear = big["Tool wear [min]"]
    assert wear.min() == 0 and wear.max() <= 245 and wear.mean() == pytest.approx(108, abs=6)


def test_failure_modes_follow_their_rules(big):
    air, process = big["Air temperature [K]"], big["Process temperature [K]"]
    speed, torque, wear = big["Rotational speed [rpm]"], big["Torque [Nm]"], big["Tool wear [min]"]
    hdf = (process - air < 8.6) & (speed < 1380)
    assert (big["HDF"] == hdf).all()
    power = torque * speed * 2 * np.pi / 60
    assert (big["PWF"] == ((power < 3500) | (power > 9000))).all()
    limit = big["Type"].map({"L": 11_000, "M": 12_000, "H": 13_000})
    assert (big["OSF"] == (wear * torque > limit)).all()
    assert wear[big["TWF"] == 1].between(200, 245).all()
    modes = big[list(ai4i_data.FAILURE_MODES)].any(axis=1)
    assert (big["Machine failure"] == modes).all()


def test_tool_wear_grows_by_the_previous_variant_and_resets():
    df = ai4i_data.generate(5000, seed=3)
    wear = df["Tool wear [min]"].to_numpy()
    step = np.diff(wear)
    added = df["Type"].map({"L": 2, "M": 3, "H": 5}).to_numpy()[:-1]
    grows = step > 0
    assert (step[grows] == added[grows]).all()
    assert (wear[1:][~grows] == 0).all()  # a new tool


@pytest.mark.parametrize(
    ("sep", "bom"), [(",", False), ("\t", True), (",", True)], ids=["comma", "tab-bom", "comma-bom"]
)
def test_write_csv_and_read_the_real_format(tmp_path, sep, bom):
    df = ai4i_data.generate(200, seed=5)
    written = ai4i_data.write_csv(df, tmp_path / "a" / "ai4i2020.csv")
    assert written.read_text().splitlines()[0].startswith("UDI,Product ID,Type,Air temperature [K]")
    if sep != "," or bom:
        body = df.to_csv(index=False, sep=sep).encode()
        written.write_bytes((codecs.BOM_UTF8 if bom else b"") + body)
    back = ai4i_data.read_ai4i(written)
    assert list(back.columns) == list(ai4i_data.COLUMNS)
    pd.testing.assert_frame_equal(back, df, check_dtype=False, atol=0.051)


def test_read_refuses_another_schema(tmp_path):
    path = tmp_path / "x.csv"
    ai4i_data.generate(10, seed=0).drop(columns=["RNF"]).assign(Other=1).to_csv(path, index=False)
    with pytest.raises(
        ValueError, match=r"missing columns: \['RNF'\]; unexpected columns: \['Other'\]"
    ):
        ai4i_data.read_ai4i(path)
