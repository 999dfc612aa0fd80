"""Many models, piece by piece: the data generator and trees, the preprocessing and evaluation
scripts, the settings and the two definitions (no runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from localaws.asl.validate import validate_definition
from localaws.errors import UserError
from workflows import churn_data
from workflows import many_models as mm
from workflows.jobs import churn_evaluate, churn_preprocess
from workflows.many_models_settings import ManyModels, load
from workflows.settings import ConfigError


@pytest.fixture(scope="module")
def settings() -> ManyModels:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKFLOWS_CONFIG", raising=False)
        return load()


def test_generated_rows_have_the_samples_shape_and_a_balanced_label() -> None:
    frame = churn_data.generate("dim01", 1000, seed=3)
    assert tuple(frame.columns) == churn_data.COLUMNS
    assert set(frame["Churn?"]) == {"True.", "False."}
    assert (frame["Churn?"] == "True.").mean() == pytest.approx(0.5, abs=0.01)
    assert set(frame["State"]) <= set(churn_data.STATES) and len(churn_data.STATES) == 51
    assert frame["Area Code"].between(657, 878).all() and len(churn_data.AREA_CODES) == 33
    assert set(frame["Int'l Plan"]) == {"yes", "no"} and set(frame["Dimension"]) == {"dim01"}
    assert frame.equals(churn_data.generate("dim01", 1000, seed=3))
    assert not frame.equals(churn_data.generate("dim02", 1000, seed=3))


def test_preprocessing_drops_encodes_and_splits_70_20_10(tmp_path: Path) -> None:
    written = churn_data.write_tree(tmp_path, ["dim01"], 1000, seed=5)
    counts = churn_preprocess.run(tmp_path / "training-dataset" / "dim01", tmp_path / "out", 42)
    assert counts == {"train": 700, "validation": 200, "test": 100}
    train = pd.read_csv(tmp_path / "out" / "train" / "train.csv", header=None)
    assert set(train[0]) == {0, 1}
    features = json.loads((tmp_path / "out" / "features" / "features.json").read_text())
    names = features["features"]
    assert train.shape[1] == 1 + len(names)
    assert not {"Phone", "Day Charge", "Dimension", "State"} & set(names)
    assert "Area Code_657" in names and "Int'l Plan_yes" in names
    baseline = pd.read_csv(tmp_path / "out" / "baseline" / "train.csv")
    assert list(baseline.columns) == names and len(baseline) == 700
    # The generated inference file has the label first, then the same features in order.
    inference = pd.read_csv(written[0].inference[0])
    assert list(inference.columns) == [churn_preprocess.INFERENCE_LABEL, *names]


def test_the_signal_is_learnable(tmp_path: Path) -> None:
    import xgboost

    churn_data.write_tree(tmp_path, ["dim01"], 2000, seed=11)
    churn_preprocess.run(tmp_path / "training-dataset" / "dim01", tmp_path / "out", 42)
    train = pd.read_csv(tmp_path / "out" / "train" / "train.csv", header=None)
    test = pd.read_csv(tmp_path / "out" / "test" / "test.csv", header=None)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.2},
        xgboost.DMatrix(train.iloc[:, 1:], train[0]),
        60,
    )
    report = churn_evaluate.metrics(
        test[0].to_numpy(np.float64), booster.predict(xgboost.DMatrix(test.iloc[:, 1:]))
    )
    assert report["binary_classification_metrics"]["auc"]["value"] > 0.75  # type: ignore[index]


def test_preprocessing_refuses_an_unknown_label(tmp_path: Path) -> None:
    frame = churn_data.generate("dim01", 100, seed=1)
    frame.loc[0, "Churn?"] = "maybe"
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / "x.csv", index=False)
    with pytest.raises(churn_preprocess.DataError, match=r"Churn\?.*maybe"):
        churn_preprocess.run(tmp_path / "in", tmp_path / "out", 1)


def test_read_tree_takes_the_samples_folder_with_quoted_headers(tmp_path: Path) -> None:
    churn_data.write_tree(tmp_path, ["Region-A", "Region-B"], 100, seed=2)
    path = tmp_path / "inference-dataset" / "Region-A" / "Region-A.csv"
    text = path.read_text()
    header, _, rest = text.partition("\n")
    path.write_text(",".join(f'"{name}"' for name in header.split(",")) + "\n" + rest)
    found = churn_data.read_tree(tmp_path)
    assert [d.name for d in found] == ["Region-A", "Region-B"]
    names, rows = churn_data.read_inference_rows(path.read_text())
    assert names[0] == "Churn?_True." and len(rows) == 10


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no training-dataset/ directory"),
        ({"training-dataset/bad_name/x.csv": "a\n1\n"}, "dimension 'bad_name'"),
        ({"training-dataset/d1/x.txt": "a\n"}, "no CSV files"),
    ],
    ids=["no-tree", "bad-dimension", "no-csv"],
)
def test_read_tree_names_what_is_wrong(
    tmp_path: Path, layout: dict[str, str], message: str
) -> None:
    for rel, text in layout.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with pytest.raises(UserError, match=message):
        churn_data.read_tree(tmp_path)


def test_settings_refuse_unknown_keys_and_metrics(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("many_models:\n  fanout:\n    max_concurency: 3\n")
    with pytest.raises(ConfigError, match=r"many_models\.fanout\.max_concurency: unknown setting"):
        load(str(bad))
    bad.write_text("many_models:\n  quality:\n    metric: f1\n")
    with pytest.raises(ConfigError, match=r"quality\.metric: 'f1'; use one of accuracy, auc"):
        load(str(bad))
    good = tmp_path / "g.yaml"
    good.write_text("many_models:\n  fanout:\n    max_concurrency: 4\n")
    assert load(str(good)).fanout.max_concurrency == 4


def test_training_definition_is_valid_and_visits_the_steps_in_order(settings: ManyModels) -> None:
    body = validate_definition(mm.training_definition(settings))
    states = body["States"]
    assert body["StartAt"] == mm.INPUT
    chain = [mm.ENSURE_GROUP]
    while "Next" in states[chain[-1]]:
        chain.append(states[chain[-1]]["Next"])
    assert chain == [mm.ENSURE_GROUP, mm.FIND_APPROVED, mm.PREPROCESS, mm.HAS_BASELINE]
    assert states[mm.DATA_QUALITY_BASELINE]["Next"] == mm.TRAIN
    assert states[mm.READ_EVALUATION]["Next"] == mm.QUALITY_GATE
    gate = states[mm.QUALITY_GATE]["Choices"][0]
    assert gate["Variable"].endswith("auc.value") and gate["Next"] == mm.CREATE_MODEL
    transform = states[mm.TRANSFORM]["Parameters"]
    assert transform["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "JoinSource": "Input",
        "OutputFilter": "$[0,-1]",
    }
    assert states[mm.REGISTER]["Resource"].endswith("sagemaker:createModelPackage")
    assert states[mm.APPROVE]["Next"] == mm.ENDPOINT_CONFIG


def test_tuning_and_manual_approval_are_configuration(settings: ManyModels) -> None:
    import dataclasses

    tuned = dataclasses.replace(
        settings,
        tuning=dataclasses.replace(settings.tuning, enabled=True),
        registry=dataclasses.replace(settings.registry, auto_approve=False),
    )
    states = validate_definition(mm.training_definition(tuned))["States"]
    assert mm.TRAIN not in states and states[mm.TUNE]["Next"] == mm.DESCRIBE_BEST
    tuning = states[mm.TUNE]["Parameters"]["HyperParameterTuningJobConfig"]
    assert tuning["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:auc",
    }
    assert states[mm.REGISTER]["Next"] == mm.AWAITING_APPROVAL and mm.APPROVE not in states


def test_fanout_reads_the_prefix_and_writes_results(settings: ManyModels) -> None:
    body = validate_definition(
        mm.fanout_definition(settings, "arn:aws:states:us-east-1:1:stateMachine:t")
    )
    state = body["States"][mm.FANOUT]
    assert state["ItemReader"]["Parameters"] == {
        "Bucket": settings.data.bucket,
        "Prefix": settings.data.training_prefix,
    }
    assert state["MaxConcurrency"] == settings.fanout.max_concurrency
    assert state["ResultWriter"]["Parameters"]["Prefix"] == settings.data.results_prefix
    child = state["ItemProcessor"]["States"][mm.TRAIN_DIMENSION]
    assert child["Resource"] == "arn:aws:states:::states:startExecution.sync:2"


def test_cli_lists_workflows_and_refuses_misplaced_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflows import cli
    from workflows.errors import ExitCode

    assert cli.main(["list"]) == ExitCode.OK
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names[0] == "predictive-maintenance" and "many-models" in names
    assert cli.main(["run", "--dimensions", "3", "--state-dir", str(tmp_path)]) == ExitCode.USAGE
    assert "--dimensions: only `run many-models` takes it" in capsys.readouterr().err
    code = cli.main(["run", "many-models", "--data", str(tmp_path / "missing")])
    assert code == ExitCode.USAGE
    assert "--data" in (err := capsys.readouterr().err) and "not a directory" in err


def test_cli_builds_both_definitions(tmp_path: Path) -> None:
    from workflows import cli

    assert cli.main(["build", "many-models", "--out", str(tmp_path)]) == 0
    training = json.loads((tmp_path / "training.asl.json").read_text())
    assert training["StartAt"] == mm.INPUT
    fanout = json.loads((tmp_path / "fanout.asl.json").read_text())
    assert mm.FANOUT in fanout["States"]
    assert json.loads((tmp_path / "example-input.json").read_text())["dimension"] == "dim01"
