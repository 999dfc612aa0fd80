"""The Expedia-shaped generator and reader, and `--data DIR` errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from localaws.errors import UserError
from workflows import hotel_data
from workflows.cli import main


def test_generated_files_have_expedias_columns_nulls_and_labels(tmp_path: Path) -> None:
    data = hotel_data.generate(5000, seed=7)
    assert list(data.events.columns) == list(hotel_data.EVENT_COLUMNS)
    assert list(data.destinations.columns) == [
        "srch_destination_id",
        *hotel_data.DESTINATION_FEATURES,
    ]
    assert (data.destinations[list(hotel_data.DESTINATION_FEATURES)] < 0).all().all()
    assert 0.3 < data.events["orig_destination_distance"].isna().mean() < 0.42
    assert 0 < data.events["srch_ci"].isna().sum() < 50
    assert data.events["hotel_cluster"].between(0, 99).all()
    assert 0.1 < data.events["is_booking"].mean() < 0.2
    # Reproducible, and read back as written.
    assert hotel_data.generate(5000, seed=7).events.equals(data.events)
    data.write(tmp_path)
    back = hotel_data.read(tmp_path)
    assert back.events.shape == data.events.shape
    assert (
        back.destinations["srch_destination_id"].tolist()
        == data.destinations["srch_destination_id"].tolist()
    )


def test_a_destination_mostly_books_its_three_clusters() -> None:
    events = hotel_data.generate(20_000, seed=1).events
    top3 = events.groupby("srch_destination_id")["hotel_cluster"].agg(
        lambda s: s.value_counts().head(3).sum() / len(s)
    )
    assert top3.median() > 0.9


def test_read_names_the_missing_file(tmp_path: Path) -> None:
    hotel_data.generate(100).write(tmp_path)
    (tmp_path / "destinations.csv").unlink()
    with pytest.raises(UserError, match=r"destinations\.csv is missing"):
        hotel_data.read(tmp_path)


def test_read_names_missing_columns(tmp_path: Path) -> None:
    data = hotel_data.generate(100)
    data.events.drop(columns=["srch_ci"]).to_csv(tmp_path / "train.csv", index=False)
    data.destinations.to_csv(tmp_path / "destinations.csv", index=False)
    with pytest.raises(UserError, match=r"columns \['srch_ci'\] are missing"):
        hotel_data.read(tmp_path)


def test_run_refuses_a_data_path_that_is_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--state-dir",
            str(tmp_path / "state"),
            "run",
            "hotel-clusters",
            "--data",
            str(tmp_path / "nope"),
        ]
    )
    assert code == 2
    assert "holding train.csv and destinations.csv" in capsys.readouterr().err
