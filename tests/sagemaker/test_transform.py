"""Batch transform: inputs, split and batch options, concurrency, data processing, failures."""

import threading

import numpy as np
import pytest
from hosting_support import FEATURIZER, builtin_model_tar, dataset, tar_gz, train_booster

from localaws.errors import UserError
from localaws.runtime import Runtime
from localaws.sagemaker.transform import CsvFilter, TransformPlan, output_uri, run_transform_job

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture(scope="module")
def data():
    X, y = dataset(n_rows=200)
    return X, y, train_booster(X, y)


@pytest.fixture
def runtime(tmp_path):
    rt = Runtime(tmp_path / "state")
    rt.state_dir.mkdir(parents=True)
    return rt


def csv(rows):
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def scores(booster, X):
    return booster.inplace_predict(np.asarray(X, dtype=np.float32)).tolist()


def batch_output(values):
    return ("\n".join(map(str, values)) + "\n").encode()


def xgb_model(runtime, booster):
    runtime.storage.write("s3://models/xgb/model.tar.gz", builtin_model_tar(booster))
    return {
        "ModelName": "xgb",
        "PrimaryContainer": {"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/xgb/model.tar.gz"},
    }


def job(**overrides):
    spec = {
        "TransformJobName": "tj",
        "ModelName": "xgb",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://data/out", "AssembleWith": "Line"},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": 2,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def run(runtime, spec, model):
    lines = []
    run_transform_job(runtime, spec, model, threading.Event(), lines.append)
    return lines


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("$", ["a", "b", "c"], ["a", "b", "c"]),
        ("$[1:]", ["a", "b", "c"], ["b", "c"]),
        ("$[0,-1]", ["a", "b", "c"], ["a", "c"]),
        ("$[0,2:]", ["a", "b", "c", "d"], ["a", "c", "d"]),
        ("$[:2]", ["a", "b", "c"], ["a", "b"]),
        ("$[-2:]", ["a", "b", "c"], ["b", "c"]),
    ],
)
def test_csv_filter(expression, fields, expected):
    flt = CsvFilter.parse(expression, "DataProcessing.InputFilter")
    assert flt.apply([f.encode() for f in fields]) == [e.encode() for e in expected]


@pytest.mark.parametrize("expression", ["$.features", "$[a]", "features"])
def test_csv_filter_refuses_what_csv_cannot_mean(expression):
    with pytest.raises(UserError, match=r"DataProcessing\.InputFilter"):
        CsvFilter.parse(expression, "DataProcessing.InputFilter")


def test_output_uri():
    assert output_uri("s3://b/in/", "s3://b/in/a/x.csv", "s3://b/out") == "s3://b/out/a/x.csv.out"
    assert (
        output_uri("s3://b/in/data", "s3://b/in/data-1.csv", "s3://b/out")
        == "s3://b/out/data-1.csv.out"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BatchStrategy": "Everything"}, "BatchStrategy: 'Everything' is not one of"),
        ({"TransformInput": {"SplitType": "RecordIO"}}, "TransformInput.SplitType"),
        (
            {"TransformInput": {"SplitType": "None"}, "DataProcessing": {"JoinSource": "Input"}},
            "set TransformInput.SplitType to Line",
        ),
        ({"TransformInput": {"CompressionType": "Gzip"}}, "TransformInput.CompressionType"),
        ({"DataProcessing": {"OutputFilter": "$.SageMakerOutput"}}, "DataProcessing.OutputFilter"),
    ],
    ids=["batch-strategy", "split-type", "join-needs-lines", "compression", "json-filter-on-csv"],
)
def test_plan_refuses_bad_options(overrides, message):
    with pytest.raises(UserError, match=message):
        TransformPlan.from_job(job(**overrides))


@pytest.mark.slow
def test_fast_path_every_object_under_the_prefix(runtime, data):
    X, _, booster = data
    runtime.storage.write("s3://data/in/part-1.csv", csv(X[:120]))
    runtime.storage.write("s3://data/in/sub/part-2.csv", csv(X[120:]))
    log = run(runtime, job(), xgb_model(runtime, booster))
    assert any("in-process XGBoost" in line for line in log)
    assert runtime.storage.read("s3://data/out/part-1.csv.out") == batch_output(
        scores(booster, X[:120])
    )
    assert runtime.storage.read("s3://data/out/sub/part-2.csv.out") == batch_output(
        scores(booster, X[120:])
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides"),
    [
        {"BatchStrategy": "SingleRecord"},
        {"BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1},
        {"TransformOutput": {"AssembleWith": "None"}},
        {"TransformInput": {"SplitType": "None"}},
        {"MaxConcurrentTransforms": 4, "BatchStrategy": "SingleRecord"},
    ],
    ids=["single-record", "multi-record", "assemble-none", "split-none", "concurrent"],
)
def test_server_path_gives_the_fast_path_answer(runtime, data, overrides):
    """The same job in-process and through the model server writes the same bytes."""
    X, _, booster = data
    runtime.storage.write("s3://data/in/part.csv", csv(X[:40]))
    model = xgb_model(runtime, booster)
    spec = job(**overrides)
    run_transform_job(runtime, spec, model, threading.Event(), print)
    in_process = runtime.storage.read("s3://data/out/part.csv.out")  # or server, for split None
    runtime.storage.delete("s3://data/out/part.csv.out")
    log = []
    run_transform_job(runtime, spec, model, threading.Event(), log.append, in_process=False)
    assert any("model server" in line for line in log)
    assert runtime.storage.read("s3://data/out/part.csv.out") == in_process
    assert in_process == batch_output(scores(booster, X[:40]))


@pytest.mark.slow
def test_join_input_and_output_filter(runtime, data):
    X, y, booster = data
    labelled = np.column_stack([y[:10], X[:10]])
    runtime.storage.write("s3://data/in/labelled.csv", csv(labelled))
    spec = job(
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    )
    log = run(runtime, spec, xgb_model(runtime, booster))
    assert any("in-process" in line for line in log)
    out = runtime.storage.read("s3://data/out/labelled.csv.out").decode().splitlines()
    expected = [
        f"{float(label)!r},{score}"
        for label, score in zip(y[:10], scores(booster, X[:10]), strict=True)
    ]
    assert out == expected


def labelled_csv(y, X, *, blank=1, empty=2, text_label=None, pad=False):
    """Labelled records as a user might write them: integer labels, short and long numbers,
    an empty field (missing), a blank line; ``pad``: numbers with spaces and tabs around."""
    lines = []
    for i, (label, row) in enumerate(zip(y, X, strict=True)):
        fields = [text_label or str(int(label))]
        fields += [f"{v:.{1 + i % 7}f}" if i % 3 else repr(float(v)) for v in row]
        if pad:
            fields = [fields[0]] + [
                [" ", "\t", ""][(i + j) % 3] + f for j, f in enumerate(fields[1:])
            ]
        if empty and i % 11 == empty:
            fields[1 + i % len(row)] = ""
        lines.append(",".join(fields))
        if blank and i % 17 == blank:
            lines.append("")
    return ("\n".join(lines) + "\n").encode()


WORKFLOW_PROCESSING = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"DataProcessing": WORKFLOW_PROCESSING}, {}),
        ({"DataProcessing": WORKFLOW_PROCESSING, "MaxPayloadInMB": 1}, {"blank": 0}),
        ({"DataProcessing": {"JoinSource": "Input", "InputFilter": "$[1:]"}}, {}),
        ({"DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$[0,0]"}}, {}),
        (
            {
                "DataProcessing": WORKFLOW_PROCESSING,
                "TransformOutput": {"AssembleWith": "None"},
                "BatchStrategy": "SingleRecord",
            },
            {"empty": 0},
        ),
        ({"DataProcessing": {**WORKFLOW_PROCESSING, "OutputFilter": "$[0,3:5,-1]"}}, {}),
        (  # quotes mean nothing to the CSV split: '"a,b"' is two fields
            {"DataProcessing": {**WORKFLOW_PROCESSING, "InputFilter": "$[2:]"}},
            {"text_label": '"a,b"'},
        ),
        ({"DataProcessing": WORKFLOW_PROCESSING}, {"pad": True}),
        (  # the output writes padded features verbatim
            {"DataProcessing": {**WORKFLOW_PROCESSING, "OutputFilter": "$[0,3:5,-1]"}},
            {"pad": True},
        ),
    ],
    ids=[
        "workflow",
        "workflow-1mb",
        "join",
        "filter-twice",
        "assemble-none",
        "slices",
        "quotes",
        "padded",
        "padded-joined",
    ],
)
def test_in_process_gives_the_model_servers_bytes(runtime, data, overrides, text):
    """With DataProcessing filters and joins, the vectorised in-process path writes exactly
    the bytes the model server path writes (the workflow's own settings first)."""
    X, y, booster = data
    runtime.storage.write("s3://data/in/a.csv", labelled_csv(y[:150], X[:150], **text))
    runtime.storage.write("s3://data/in/b.csv", labelled_csv(y[150:], X[150:], **text))
    model = xgb_model(runtime, booster)
    spec = job(**overrides)
    log = run(runtime, spec, model)
    assert any("in-process" in line for line in log)
    fast = [runtime.storage.read(f"s3://data/out/{n}.csv.out") for n in "ab"]
    for n in "ab":
        runtime.storage.delete(f"s3://data/out/{n}.csv.out")
    run_transform_job(runtime, spec, model, threading.Event(), print, in_process=False)
    assert [runtime.storage.read(f"s3://data/out/{n}.csv.out") for n in "ab"] == fast
    assert fast[0].count(b",") >= 150


@pytest.mark.slow
def test_in_process_refuses_what_the_server_refuses(runtime, data):
    X, y, booster = data
    runtime.storage.write("s3://data/in/a.csv", labelled_csv(y[:20], X[:20]))
    spec = job(DataProcessing={**WORKFLOW_PROCESSING, "OutputFilter": "$[0,40]"})
    with pytest.raises(
        UserError, match=r"DataProcessing\.OutputFilter: \$\[0,40\] on s3://data/in/a.csv record 1"
    ):
        run(runtime, spec, xgb_model(runtime, booster))
    runtime.storage.write("s3://data/in/a.csv", labelled_csv(y[:20], np.hstack([X[:20], X[:20]])))
    with pytest.raises(UserError, match="Feature size of inference data"):
        run(runtime, job(DataProcessing=WORKFLOW_PROCESSING), xgb_model(runtime, booster))
    assert runtime.storage.list("s3://data/out/") == []


@pytest.mark.slow
def test_input_filter_alone_stays_in_process(runtime, data):
    X, y, booster = data
    runtime.storage.write("s3://data/in/labelled.csv", csv(np.column_stack([y[:10], X[:10]])))
    log = run(runtime, job(DataProcessing={"InputFilter": "$[1:]"}), xgb_model(runtime, booster))
    assert any("in-process" in line for line in log)
    assert runtime.storage.read("s3://data/out/labelled.csv.out") == batch_output(
        scores(booster, X[:10])
    )


@pytest.mark.slow
def test_pipeline_transform(runtime, data):
    import joblib
    from sklearn.preprocessing import StandardScaler

    X, y, _ = data
    raw = X * 5 + 1
    scaler = StandardScaler().fit(raw)
    booster = train_booster(scaler.transform(raw).astype(np.float32), y)
    path = runtime.state_dir / "scaler.joblib"
    joblib.dump(scaler, path)
    runtime.storage.write(
        "s3://models/f/model.tar.gz", tar_gz({"scaler.joblib": path.read_bytes()})
    )
    runtime.storage.write(
        "s3://code/f/sourcedir.tar.gz", tar_gz({"inference.py": FEATURIZER.encode()})
    )
    runtime.storage.write("s3://models/x/model.tar.gz", builtin_model_tar(booster))
    model = {
        "ModelName": "pipe",
        "Containers": [
            {
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": "s3://models/f/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://code/f/sourcedir.tar.gz",
                    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                },
            },
            {"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/x/model.tar.gz"},
        ],
    }
    runtime.storage.write("s3://data/in/raw.csv", csv(raw[:30]))
    run(runtime, job(MaxConcurrentTransforms=3, BatchStrategy="SingleRecord"), model)
    out = np.array(runtime.storage.read("s3://data/out/raw.csv.out").decode().split(), dtype=float)
    np.testing.assert_allclose(
        out,
        booster.inplace_predict(scaler.transform(raw[:30].astype(np.float64)).astype(np.float32)),
        rtol=1e-5,
    )


@pytest.mark.slow
@pytest.mark.parametrize("fast", [True, False], ids=["in-process", "model-server"])
def test_bad_record_fails_the_job_and_writes_nothing(runtime, data, fast):
    X, _, booster = data
    runtime.storage.write("s3://data/in/a-good.csv", csv(X[:5]))
    runtime.storage.write("s3://data/in/b-bad.csv", csv(X[:5]) + b"not,a,number,at,all\n")
    with pytest.raises(UserError, match="csv data failed"):
        run_transform_job(
            runtime,
            job(DataProcessing={"JoinSource": "Input"}),
            xgb_model(runtime, booster),
            threading.Event(),
            print,
            in_process=None if fast else False,
        )
    assert runtime.storage.list("s3://data/out/") == []


@pytest.mark.slow
def test_join_needs_one_output_line_per_record(runtime, data):
    X, _, booster = data
    runtime.storage.write("s3://data/in/a.csv", csv(X[:5]))
    spec = job(
        DataProcessing={"JoinSource": "Input"}, TransformOutput={"Accept": "application/json"}
    )
    with pytest.raises(UserError, match="Accept to text/csv"):
        run(runtime, spec, xgb_model(runtime, booster))


def test_no_input_objects(runtime, data):
    with pytest.raises(UserError, match="no objects under s3://data/in/"):
        run(runtime, job(), xgb_model(runtime, data[2]))


@pytest.mark.slow
def test_cancelled_job_writes_nothing(runtime, data):
    X, _, booster = data
    runtime.storage.write("s3://data/in/a.csv", csv(X[:5]))
    cancelled = threading.Event()
    cancelled.set()
    run_transform_job(runtime, job(), xgb_model(runtime, booster), cancelled, lambda line: None)
    assert runtime.storage.list("s3://data/out/") == []


@pytest.mark.parametrize(
    ("edit", "vectorised"),
    [
        (lambda body: body, True),
        (lambda body: body.replace(b"\n", b"\n\n"), True),  # empty lines are skipped alike
        # float() strips spaces and tabs around a number, and so does pyarrow's parser
        (lambda body: body.replace(b",", b", ", 1), True),
        (lambda body: _first_feature(body, b"\t-1.5 "), True),
        (lambda body: _first_feature(body, b"nan(1)"), False),  # pyarrow: NaN; float(): error
        (lambda body: _first_feature(body, b"1_0"), False),  # float(): 10.0; pyarrow: error
        (lambda body: body.replace(b"\n", b"\r\n"), False),
        (lambda body: body + b"   \n", False),  # a blank line the record path skips
        (lambda body: body + b"1,2\n", False),  # ragged
    ],
    ids=[
        "plain",
        "empty-lines",
        "padded",
        "padded-tab",
        "nan-parenthesis",
        "underscore",
        "crlf",
        "blank-line",
        "ragged",
    ],
)
def test_which_objects_take_the_vectorised_path(data, edit, vectorised):
    """Plain CSV is done on whole columns; anything else goes record by record (which gives
    the model server's exact answer or error)."""
    from localaws.sagemaker import model_server, transform

    X, y, booster = data
    plan = TransformPlan.from_job(job(DataProcessing=WORKFLOW_PROCESSING))
    body = edit(labelled_csv(y[:50], X[:50]))
    result = transform._vectorised(
        body, plan, model_server.BoosterPredictor(booster), "s3://data/in/a.csv"
    )
    assert (result is not None) == vectorised


def test_records_after_many_empty_lines_are_transformed(data):
    from localaws.sagemaker import model_server, transform

    X, y, booster = data
    plan = TransformPlan.from_job(job(DataProcessing=WORKFLOW_PROCESSING))
    predictor = model_server.BoosterPredictor(booster)
    body = labelled_csv(y[:50], X[:50])
    padded = transform._vectorised(b"\n" * 100 + body, plan, predictor, "s3://data/in/a.csv")
    plain = transform._vectorised(body, plan, predictor, "s3://data/in/a.csv")
    assert isinstance(padded, list) and isinstance(plain, list)
    assert [v for c in padded for v in c.to_pylist()] == [v for c in plain for v in c.to_pylist()]


def _first_feature(body, text):
    first, rest = body.split(b"\n", 1)
    fields = first.split(b",")
    fields[1] = text
    return b",".join(fields) + b"\n" + rest


@pytest.mark.parametrize(
    ("data", "limit", "fits"),
    [
        (b"", 3, True),
        (b"abc\nde\n", 3, True),
        (b"abc\nde", 2, False),
        (b"ab\ncd\nef\n", 2, True),
        (b"ab\ncde\nf\n", 2, False),
        (b"ab\n\n\nabcd", 3, False),
        (b"ab\n\n\nabcd", 4, True),
        (b"abcd", 4, True),
        (b"x\n" * 1000 + b"y" * 50 + b"\n" + b"z\n" * 1000, 49, False),
        (b"x\n" * 1000 + b"y" * 50 + b"\n" + b"z\n" * 1000, 50, True),
    ],
)
def test_lines_fit(data, limit, fits):
    from localaws.sagemaker.transform import _lines_fit

    assert _lines_fit(data, limit) == fits
    assert fits == all(len(line) <= limit for line in data.split(b"\n"))


def test_a_record_over_max_payload_fails_the_in_process_job(runtime, data):
    X, y, booster = data
    body = labelled_csv(y[:20], X[:20])
    huge = _first_feature(body, b"0." + b"0" * (1024 * 1024) + b"1")
    runtime.storage.write("s3://data/in/a.csv", huge)
    spec = job(DataProcessing=WORKFLOW_PROCESSING, MaxPayloadInMB=1)
    with pytest.raises(UserError, match="larger than MaxPayloadInMB"):
        run(runtime, spec, xgb_model(runtime, booster))
    assert runtime.storage.list("s3://data/out/") == []


def test_score_texts_are_pythons_str_of_each_score():
    from localaws.sagemaker.transform import score_texts

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.random(20_000).astype(np.float32),
            (rng.random(5_000) * 10.0 ** rng.integers(-8, 12, 5_000)).astype(np.float32),
            np.array([0, 1, -1, 2.5, 1e-4, 9.99e-5, 1e9, 123456789.5, np.nan, np.inf, -np.inf]),
        ]
    ).astype(np.float32)
    assert score_texts(values).to_pylist() == [str(v) for v in values.tolist()]


def test_a_model_replaced_under_the_same_uri_is_loaded_again(runtime, data):
    """The in-process path keeps loaded models between jobs; a new archive at the same URI
    (a retrained model) must not be answered by the old one."""
    X, y, booster = data
    runtime.storage.write("s3://data/in/part.csv", csv(X[:50]))
    model = xgb_model(runtime, booster)
    run(runtime, job(), model)
    assert runtime.storage.read("s3://data/out/part.csv.out") == batch_output(
        scores(booster, X[:50])
    )
    other = train_booster(X, 1 - y)
    assert scores(other, X[:50]) != scores(booster, X[:50])
    xgb_model(runtime, other)  # the same ModelDataUrl, a new object
    run(runtime, job(TransformJobName="tj-2"), model)
    assert runtime.storage.read("s3://data/out/part.csv.out") == batch_output(scores(other, X[:50]))
