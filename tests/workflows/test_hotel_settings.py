"""HotelSettings from ``--config FILE`` (its ``hotel_clusters:`` section), typed and checked
as every use case's settings are (workflows/settings_loader.py), and one file for all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflows import cli
from workflows import settings as pm_settings
from workflows.errors import ExitCode
from workflows.hotel_clusters import workflow as wf
from workflows.many_models_settings import load as load_many_models
from workflows.settings_loader import ENV_CONFIG, ConfigError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    monkeypatch.setenv("LOCALAWS_STATE_DIR", str(tmp_path / "state"))


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_without_a_file_the_settings_are_the_dataclass_defaults() -> None:
    assert wf.load_settings() == wf.HotelSettings()


def test_the_section_changes_only_what_it_names(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "hotel_clusters:\n  min_accuracy: 0.3\n  rows: 500\n  hyperparameters:\n    max_depth: 6\n",
    )
    s = wf.load_settings(path)
    assert (s.min_accuracy, s.rows, s.seed) == (0.3, 500, 42)
    assert s.hyperparameters["max_depth"] == 6
    assert s.hyperparameters["objective"] == "multi:softmax"  # merged key by key


def test_the_environment_names_the_file_and_overrides_beat_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CONFIG, str(_config(tmp_path, "hotel_clusters:\n  rows: 500\n")))
    assert wf.load_settings().rows == 500
    assert wf.load_settings(overrides={"rows": 800, "seed": None}).rows == 800


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("hotel_clusters:\n  rowz: 5\n", "hotel_clusters.rowz: unknown setting; known here:"),
        ("hotel_clusters:\n  rows: many\n", "hotel_clusters.rows: must be a number, got 'many'"),
        ("hotel_clusters:\n  rows: 2.5\n", "hotel_clusters.rows: must be a whole number"),
        ("hotel_clusters:\n  bucket: ''\n", "hotel_clusters.bucket: must be a non-empty string"),
        ("hotel_clusters:\n  min_accuracy: 2\n", "hotel_clusters.min_accuracy: 2.0 is not an"),
        ("hotel_clusters:\n  rows: 0\n", "hotel_clusters.rows: 0; give at least 1"),
        ("hotel_clusters:\n  prefix: /x/\n", "hotel_clusters.prefix: '/x/' must be a key prefix"),
        (
            "hotel_clusters:\n  hyperparameters: 3\n",
            "hotel_clusters.hyperparameters: must be a mapping of names to values, got 3",
        ),
        (
            "hotel_clusters:\n  hyperparameters:\n    objective: multi:softprob\n",
            "hotel_clusters.hyperparameters.objective: 'multi:softprob'; the workflow predicts",
        ),
        (
            "hotel_clusters:\n  hyperparameters:\n    num_class: 100\n",
            "hotel_clusters.hyperparameters.num_class: set by the workflow",
        ),
        ("hotel_clusters: [1]\n", "hotel_clusters: must be a mapping of settings, got list"),
        ("- a list\n", "the top level must be a mapping"),
        ("hotel_clusters: {rows: [\n", "not valid YAML"),
        (
            "hotel_cluster:\n  rows: 5\n",
            "hotel_cluster: unknown section; did you mean hotel_clusters?",
        ),
    ],
    ids=[
        "typo",
        "not-a-number",
        "not-whole",
        "empty-string",
        "accuracy-range",
        "no-rows",
        "absolute-prefix",
        "hyperparameters-not-mapping",
        "objective",
        "num-class",
        "section-not-mapping",
        "top-not-mapping",
        "bad-yaml",
        "misspelled-section",
    ],
)
def test_a_bad_setting_is_named_with_its_section(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        wf.load_settings(_config(tmp_path, body))
    assert message in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--config: no configuration file at .*nope.yaml"):
        wf.load_settings(tmp_path / "nope.yaml")


def test_one_file_configures_every_use_case(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "evaluation:\n  threshold: 0.8\n"
        "many_models:\n  fanout:\n    max_concurrency: 4\n"
        "hotel_clusters:\n  min_accuracy: 0.25\n",
    )
    assert pm_settings.load(path).evaluation.threshold == 0.8
    assert load_many_models(str(path)).fanout.max_concurrency == 4
    assert wf.load_settings(path).min_accuracy == 0.25


def test_build_hotel_clusters_reads_the_config(tmp_path: Path) -> None:
    path = _config(tmp_path, "hotel_clusters:\n  hyperparameters:\n    max_depth: 7\n")
    out = tmp_path / "build"
    assert cli.main(["--config", str(path), "build", "hotel-clusters", "--out", str(out)]) == 0
    training = json.loads((out / "training.json").read_text(encoding="utf-8"))
    params = training["States"][wf.TRAIN]["Parameters"]
    assert params["HyperParameters"]["max_depth"] == "7"


def test_run_hotel_clusters_refuses_a_bad_config_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, "hotel_clusters:\n  min_acuracy: 0.3\n")
    assert cli.main(["run", "hotel-clusters", "--config", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "hotel_clusters.min_acuracy: unknown setting; known here:" in err
    assert "min_accuracy" in err
    assert not (tmp_path / "state").exists()


def test_run_options_override_the_file(tmp_path: Path) -> None:
    from workflows.hotel_clusters import cli as hotel_cli

    path = _config(tmp_path, "hotel_clusters:\n  rows: 500\n  seed: 3\n  min_accuracy: 0.3\n")
    args = cli.make_parser().parse_args(
        ["run", "hotel-clusters", "--config", str(path), "--rows", "900", "--threshold", "0.5"]
    )
    s = hotel_cli.settings(args)
    assert (s.rows, s.seed, s.min_accuracy) == (900, 3, 0.5)
