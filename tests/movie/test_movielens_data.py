"""The MovieLens-shaped generator and the `--data DIR` reader."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from localaws.errors import UserError
from workflows import movielens_data as ml


def test_generated_files_have_movielens_schemas_and_structure(
    small: ml.MovieLens, tmp_path: Path
) -> None:
    written = ml.write(small, tmp_path)
    assert sorted(written) == sorted(ml.FILES)
    for name, path in written.items():
        header = path.read_text().splitlines()[0]
        assert header == ",".join(ml.FILES[name])
    ratings = pd.concat([small.ratings, small.partial])
    assert ratings.groupby("userId").size().min() >= ml.MIN_RATINGS_PER_USER
    assert set(ratings["rating"]) <= {x / 2 for x in range(1, 11)}
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert ratings["timestamp"].between(820_454_400, 1_537_833_600).all()
    genres = {g for gs in small.movies["genres"] for g in gs.split("|")}
    assert genres <= set(ml.GENRES) and len(genres) > 15
    # Popular and niche movies: the most rated movie has many times the median's ratings.
    per_movie = ratings.groupby("movieId").size()
    assert per_movie.max() > 5 * per_movie.median()
    assert small.links["imdbId"].str.fullmatch(r"\d{7}").all()
    assert small.movies["title"].str.contains(r", The \(\d{4}\)$").any()
    movies_text = written["movies.csv"].read_text()
    assert '"' in movies_text  # titles with commas are quoted, as in MovieLens
    parsed = pd.read_csv(io.StringIO(movies_text))
    assert parsed["title"].tolist() == small.movies["title"].tolist()


def test_split_is_80_20_and_disjoint(small: ml.MovieLens) -> None:
    total = len(small.ratings) + len(small.partial)
    assert 0.17 < len(small.partial) / total < 0.23
    keys = lambda f: set(zip(f["userId"], f["movieId"], strict=True))  # noqa: E731
    assert not keys(small.ratings) & keys(small.partial)


def test_the_generator_is_seeded() -> None:
    a, b = ml.generate(20, 60, seed=3), ml.generate(20, 60, seed=3)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    assert not a.ratings.equals(ml.generate(20, 60, seed=4).ratings)


def test_read_dir_splits_ratings_when_there_is_no_partial_load_file(
    small: ml.MovieLens, tmp_path: Path
) -> None:
    ml.write(small, tmp_path)
    (tmp_path / ml.PARTIAL).unlink()
    data = ml.read_dir(tmp_path)
    assert len(data.ratings) + len(data.partial) == len(small.ratings)
    assert 0.15 < len(data.partial) / len(small.ratings) < 0.25


def test_read_dir_keeps_the_workshop_partial_load_file(small: ml.MovieLens, tmp_path: Path) -> None:
    ml.write(small, tmp_path)
    data = ml.read_dir(tmp_path)
    assert len(data.ratings) == len(small.ratings) and len(data.partial) == len(small.partial)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "links.csv is missing"),
        ("header", "links.csv has header movieId,imdb,tmdbId; expected movieId,imdbId,tmdbId"),
    ],
    ids=["missing-file", "wrong-header"],
)
def test_read_dir_names_the_bad_file(
    small: ml.MovieLens, tmp_path: Path, change: str, message: str
) -> None:
    ml.write(small, tmp_path)
    if change == "missing":
        (tmp_path / "links.csv").unlink()
    else:
        (tmp_path / "links.csv").write_text("movieId,imdb,tmdbId\n1,0114709,862\n")
    with pytest.raises(UserError, match=message):
        ml.read_dir(tmp_path)
