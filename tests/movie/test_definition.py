"""The movie-recommender definition: compared whole with its snapshot, every task caught,
the waits retried, the settings validated, and `build movie-recommender` writing its files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from workflows import cli
from workflows import movie_recommender as mr
from workflows.settings import ConfigError

SNAPSHOT = Path(__file__).with_name("snapshots") / "definition.json"


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return mr.definition(mr.load_settings())


def test_definition_matches_its_snapshot(definition: dict[str, Any]) -> None:
    """Review the diff and rewrite with MOVIE_SNAPSHOT_UPDATE=1 when the change is intended."""
    text = json.dumps(definition, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MOVIE_SNAPSHOT_UPDATE"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_every_task_is_caught_and_the_waits_are_retried(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, state in states.items():
        if state["Type"] == "Task":
            assert [c["Next"] for c in state["Catch"]] == [mr.RECORD_FAILURE], name
    retried = {
        name: {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        for name, state in states.items()
    }
    assert "StreamNotDrainedError" in retried[mr.DRAIN]
    assert "EndpointError" in retried[mr.RECOMMEND]
    assert "Glue.CrawlerRunningException" in retried[mr.START_CRAWLER]
    assert states[mr.ETL]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert states[mr.COUNT]["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert states[mr.CRAWLER_DONE]["Default"] == mr.WAIT_CRAWLER


def test_an_unknown_setting_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lake:\n  buckit: x\n")
    with pytest.raises(ConfigError, match=r"lake\.buckit: no such setting; known: .*bucket"):
        mr.load_settings(path)


def test_build_writes_definition_input_and_mapping(tmp_path: Path) -> None:
    assert cli.main(["build", "movie-recommender", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "definition.json", "example-input.json", "table-mappings.json",
    ]  # fmt: skip
    example = json.loads((tmp_path / "example-input.json").read_text())
    assert set(example) == set(mr.EXECUTION_INPUT)
    mapping = json.loads((tmp_path / "table-mappings.json").read_text())
    ratings = next(r for r in mapping["rules"] if r.get("target-table-name") == "ratings_t")
    attrs = {
        a["target-attribute-name"]: a["value"]
        for a in ratings["mapping-parameters"]["attribute-mappings"]
    }
    assert attrs == {"Id": "${userId}X${movieId}", "timestamp_c": "${timestamp}"}
