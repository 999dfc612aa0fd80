"""The movie-recommender workflow on the local runtime, through the CLI (issue 19).

Generated MovieLens-shaped data (60 users, 300 movies): the DMS-style full load into four
DynamoDB tables, the partial-load ratings through Kinesis and Firehose into YYYY/MM/DD/HH/
objects, the Glue crawler and pythonshell ETL job, Athena's count, FM training in a
script-mode job, the evaluation gate against popularity, the endpoint and recommendations.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workflows import cli
from workflows import movie_recommender as mr
from workflows import movielens_data as ml
from workflows.errors import ExitCode

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("movie-end-to-end")]

RUN = "e2e-movies"
USERS, MOVIES, SEED = 60, 300, 42


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("movie-config") / "small.yaml"
    path.write_text(f"data:\n  users: {USERS}\n  movies: {MOVIES}\n  seed: {SEED}\n")
    return path


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("movie-e2e") / "state"


@pytest.fixture(scope="module")
def data() -> ml.MovieLens:
    return ml.generate(USERS, MOVIES, seed=SEED)


@pytest.fixture(scope="module")
def summary(state_dir: Path, config: Path) -> dict[str, Any]:
    code, out, err = run_cli(
        "run", "movie-recommender", "--json", "--config", str(config),
        "--state-dir", str(state_dir), "--run-id", RUN,
    )  # fmt: skip
    assert code == ExitCode.OK, err[-3000:]
    return dict(json.loads(out))


def lake(state_dir: Path) -> Path:
    return state_dir / "s3" / mr.load_settings()["lake"]["bucket"]


def test_the_run_succeeds_through_every_step(summary: dict[str, Any]) -> None:
    assert summary["status"] == "SUCCEEDED" and summary["error"] is None


def test_table_row_counts_equal_file_rows(
    summary: dict[str, Any], data: ml.MovieLens, state_dir: Path
) -> None:
    assert summary["tables"] == {
        "ratings_t": {"items": len(data.ratings), "file_rows": len(data.ratings)},
        "movies_t": {"items": len(data.movies), "file_rows": len(data.movies)},
        "links_t": {"items": len(data.links), "file_rows": len(data.links)},
        "tags_t": {"items": len(data.tags), "file_rows": len(data.tags)},
    }
    assert summary["load"]["rejected"] == 0
    report = json.loads((lake(state_dir) / "dms" / "reports" / f"{RUN}.json").read_text())
    assert {t: r["rows"] for t, r in report["tables"].items()} == {
        t: c["file_rows"] for t, c in summary["tables"].items()
    }


def test_every_streamed_rating_lands_in_exactly_one_partition_object(
    summary: dict[str, Any], state_dir: Path, data: ml.MovieLens
) -> None:
    root = lake(state_dir) / "stream" / "ratings"
    objects = sorted(p for p in root.rglob("*") if p.is_file())
    assert objects
    seen: dict[tuple[str, str], int] = {}
    for path in objects:
        partition = path.parent.relative_to(root).as_posix()
        assert len(partition.split("/")) == 4 and all(p.isdigit() for p in partition.split("/"))
        for line in path.read_text().splitlines():
            record = json.loads(line)
            key = (record["userid"], record["movieid"])
            seen[key] = seen.get(key, 0) + 1
    header = ("userId", "movieId")
    assert seen.pop(header) == 1
    expected = {
        (str(u), str(m)) for u, m in zip(data.partial.userId, data.partial.movieId, strict=True)
    }
    assert set(seen) == expected and set(seen.values()) == {1}
    assert sum(summary["partitions"].values()) == len(data.partial) + 1


def test_etl_output_is_batch_plus_stream_minus_the_header(
    summary: dict[str, Any], state_dir: Path, data: ml.MovieLens
) -> None:
    etl = summary["etl"]
    assert etl["batch_rows"] == len(data.ratings)
    assert etl["stream_rows"] == len(data.partial) + 1 and etl["dropped_rows"] == 1
    assert etl["rating_rows"] == len(data.ratings) + len(data.partial)
    out = lake(state_dir) / "ml" / "trainingdata"
    rating = pd.read_csv(out / "rating" / "rating.csv")
    assert list(rating.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(rating) == etl["rating_rows"]
    for name, columns in (
        ("movies", ["movieId", "title", "genres"]),
        ("links", ["movieId", "imdbId", "tmdbId"]),
    ):
        frame = pd.read_csv(out / name / f"{name}.csv", dtype=str, keep_default_na=False)
        assert list(frame.columns) == columns and len(frame) == len(data.movies)


def test_athena_counts_equal_pandas_counts_on_the_same_files(
    summary: dict[str, Any], state_dir: Path
) -> None:
    files = [p for p in (lake(state_dir) / "stream" / "ratings").rglob("*") if p.is_file()]
    pandas_count = sum(len(pd.read_json(p, lines=True, dtype=False)) for p in files)
    assert summary["athena"] == {"streamed": str(pandas_count), "delivered": str(pandas_count)}


def test_the_model_beats_popularity_and_recommends_titles(summary: dict[str, Any]) -> None:
    metrics = summary["metrics"]
    assert metrics["beats_baseline"] is True
    assert metrics["precision_at_10"] > metrics["baseline_precision_at_10"]
    assert metrics["binary_classification_accuracy"] > 0.7
    users = {r["user"]: r for r in summary["recommendations"]}
    assert set(users) == {"1", "new"}
    for rec in users.values():
        assert len(rec["items"]) == 10
        assert all(i["imdb_url"].startswith("https://www.imdb.com/title/tt") for i in rec["items"])
    assert users["new"]["basis"] == "new user: users with the same likes"


def test_recommend_command_uses_the_deployed_endpoint(
    summary: dict[str, Any], state_dir: Path, data: ml.MovieLens
) -> None:
    code, out, _ = run_cli("recommend", "2", "--state-dir", str(state_dir))
    assert code == ExitCode.OK
    lines = out.strip().splitlines()
    assert lines[0] == "user 2 (existing user):" and len(lines) == 11
    assert all("https://www.imdb.com/title/tt" in line for line in lines[1:])
    liked = [str(m) for m in data.movies.movieId[:2]]
    code, out, _ = run_cli(
        "recommend", "new", "--liked", *liked, "--json", "-k", "3", "--state-dir", str(state_dir)
    )
    answer = json.loads(out)
    assert code == ExitCode.OK and len(answer["recommendations"]) == 3
    assert not set(liked) & {r["movieId"] for r in answer["recommendations"]}


def test_data_dir_must_be_a_folder(tmp_path: Path) -> None:
    code, _, err = run_cli("run", "movie-recommender", "--data", str(tmp_path / "nope"),
                           "--state-dir", str(tmp_path / "s"))  # fmt: skip
    assert code == ExitCode.USAGE
    assert "--data" in err and "not a directory" in err


def test_a_load_over_its_reject_limit_fails_through_the_catch(
    summary: dict[str, Any], state_dir: Path, tmp_path: Path, data: ml.MovieLens
) -> None:
    """Runs after the happy run (same state dir): the workshop's files with two malformed
    ratings and max_rejected_rows 1 -> the full-load job raises LoadRejectedError, its run
    FAILED -> LoadTables fails (States.TaskFailed, the run's ErrorMessage in the cause, as
    glue:startJobRun.sync reports it) -> RecordFailure -> WorkflowFailed, exit 1."""
    folder = tmp_path / "workshop"
    ml.write(data, folder)
    with (folder / "ratings.csv").open("a") as fh:
        fh.write("7,8\nnot,a,rating,row,at-all\n")
    config = tmp_path / "strict.yaml"
    config.write_text(
        f"data:\n  users: {USERS}\n  movies: {MOVIES}\nload:\n  max_rejected_rows: 1\n"
    )
    code, out, _ = run_cli(
        "run", "movie-recommender", "--json", "--data", str(folder), "--config", str(config),
        "--state-dir", str(state_dir), "--run-id", "e2e-rejects",
    )  # fmt: skip
    assert code == ExitCode.FAILED
    failed = json.loads(out)
    assert failed["status"] == "FAILED" and failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert cause["JobName"] == "movie-lake-full-load" and cause["JobRunState"] == "FAILED"
    assert "LoadRejectedError" in cause["ErrorMessage"]
    assert "2 rows rejected, more than max-rejected-rows 1" in cause["ErrorMessage"]
    report = json.loads((lake(state_dir) / "dms" / "reports" / "e2e-rejects.json").read_text())
    assert report["tables"]["ratings_t"]["rejected"] == 2
