"""One churn model per dimension: the training workflow (SDK builder) and the fan-out.

The training workflow, for one dimension::

    Input? -> FromInput | FromUpload -> Names -> EnsureGroup -> FindApproved
      -> Preprocess (processing job: scikit-learn script) -> HasBaseline?
           yes: DescribeApproved -> CheckDataQuality (Model Monitor analyzer against the
                registered baseline) -> [ReadViolations -> DataViolations? when configured]
         -> DataQualityBaseline (analyzer: statistics.json + constraints.json of this data)
      -> Train (built-in XGBoost) | Tune (maximising validation:auc) -> DescribeBest
      -> Evaluate (processing job: evaluation.json, accuracy and AUC) -> ReadEvaluation
      -> QualityGate? (metric >= threshold, else ModelRejected)
      -> CreateModel -> Transform (test split, DataProcessing: label,probability)
      -> ModelQualityBaseline (analyzer) -> Register (model package with metrics and drift
         baselines) -> Approve? -> CreateEndpointConfig -> FindEndpoint
           exists: UpdateEndpoint / missing: CreateEndpoint
      -> WaitInService (Wait/Describe loop) -> Retire (the previous config and model) -> Done

Input: ``{"dimension", "input_uri", "model_package_group"}``, or what the retrain rule
sends on an upload (``{"bucket", "key"}``: the dimension is the key's folder under the
training prefix).  Every job, model and config name is ``<job_prefix>-<dimension>-<step>-<id>``
with an 8-hex-digit id drawn per execution; every output is under
``s3://<bucket>/<work_prefix><dimension>/<id>/``.

The fan-out (:func:`fanout_definition`) is a Distributed Map over the objects under the
training prefix (ItemReader ``s3:listObjectsV2``), one child execution of the training
workflow per dimension, ``MaxConcurrency`` and ``ToleratedFailurePercentage`` from the
settings, results in S3 (ResultWriter).  The SDK has no Distributed Map: it is ASL written
here directly.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from workflows import step_kit
from workflows.many_models_settings import ManyModels

# State names, in the order a run visits them.
INPUT = "Input"
FROM_INPUT = "FromInput"
FROM_UPLOAD = "FromUpload"
NAMES = "Names"
ENSURE_GROUP = "EnsureGroup"
FIND_APPROVED = "FindApproved"
PREPROCESS = "Preprocess"
HAS_BASELINE = "HasBaseline"
DESCRIBE_APPROVED = "DescribeApproved"
CHECK_DATA_QUALITY = "CheckDataQuality"
READ_VIOLATIONS = "ReadViolations"
DATA_VIOLATIONS = "DataViolations"
DATA_QUALITY_BASELINE = "DataQualityBaseline"
TRAIN = "Train"
TUNE = "Tune"
DESCRIBE_BEST = "DescribeBest"
EVALUATE = "Evaluate"
READ_EVALUATION = "ReadEvaluation"
QUALITY_GATE = "QualityGate"
CREATE_MODEL = "CreateModel"
TRANSFORM = "Transform"
MODEL_QUALITY_BASELINE = "ModelQualityBaseline"
REGISTER = "Register"
APPROVE = "Approve"
AWAITING_APPROVAL = "AwaitingApproval"
ENDPOINT_CONFIG = "CreateEndpointConfig"
FIND_ENDPOINT = "FindEndpoint"
CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
WAIT = "WaitInService"
DESCRIBE_ENDPOINT = "DescribeEndpoint"
IN_SERVICE = "InService"
RETIRE_CONFIG = "RetireEndpointConfig"
RETIRE_MODEL = "RetireModel"
DONE = "Done"
MODEL_REJECTED = "ModelRejected"
DATA_REJECTED = "DataQualityViolations"
ENDPOINT_FAILED = "EndpointFailed"
RECORD_FAILURE = step_kit.RECORD_FAILURE
WORKFLOW_FAILED = step_kit.WORKFLOW_FAILED
FANOUT = "TrainEveryDimension"
TRAIN_DIMENSION = "TrainDimension"

REJECTED_ERROR = "ModelBelowThreshold"
SCRIPTS = ("churn_preprocess.py", "churn_evaluate.py")
ANALYZER = "/opt/ml/processing"
SDK = "arn:aws:states:::aws-sdk:"
# What AWS's SDK integration calls a SageMaker ValidationException (not a modelled error)
# and what the local runtime calls it: a missing endpoint, an existing group.
NOT_FOUND_ERRORS = ["SageMaker.ValidationException", "SageMaker.SageMakerException"]
EXISTS_ERRORS = ["SageMaker.ValidationException", "SageMaker.SageMakerException"]
CONTENT_JSON = "application/json"


# -- the public builders ------------------------------------------------------------------


def build_workflow(settings: ManyModels, *, client: Any = None) -> Any:
    """The SDK ``Workflow`` of the training workflow."""
    from workflows import sdk

    if client is None:
        import boto3

        client = boto3.Session(region_name=settings.region).client("stepfunctions")
    return sdk.Workflow(
        name=settings.training_machine,
        definition=_chain(settings),
        role=settings.roles.state_machine,
        client=client,
    )


def training_definition(settings: ManyModels) -> dict[str, Any]:
    """The training workflow's ASL."""
    from workflows import sdk

    graph = sdk.steps.Graph(_chain(settings))
    body: dict[str, Any] = json.loads(graph.to_json())
    comment = (
        "One churn model for one dimension: preprocess, data-quality baseline and check, "
        f"train, evaluate, gate on {settings.quality.metric} >= {settings.quality.threshold}, "
        "batch transform, model-quality baseline, register, approve, deploy."
    )
    return {"Comment": comment, **body}


def fanout_definition(settings: ManyModels, training_machine_arn: str) -> dict[str, Any]:
    """The Distributed Map over the dimensions under the training prefix."""
    d = settings.data
    depth = len(d.training_prefix.strip("/").split("/"))
    return {
        "Comment": (
            "Train every dimension under "
            f"s3://{d.bucket}/{d.training_prefix}: one child execution of the training "
            "workflow per dimension, at most fanout.max_concurrency at a time."
        ),
        "StartAt": FANOUT,
        "States": {
            FANOUT: {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": d.bucket, "Prefix": d.training_prefix},
                },
                "ItemSelector": {
                    "bucket": d.bucket,
                    "key.$": "$$.Map.Item.Value.Key",
                    "dimension.$": (
                        "States.ArrayGetItem(States.StringSplit($$.Map.Item.Value.Key, '/'), "
                        f"{depth})"
                    ),
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": TRAIN_DIMENSION,
                    "States": {
                        TRAIN_DIMENSION: {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::states:startExecution.sync:2",
                            "Parameters": {
                                "StateMachineArn": training_machine_arn,
                                "Input": {
                                    "bucket.$": "$.bucket",
                                    "key.$": "$.key",
                                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                                },
                            },
                            "ResultSelector": {
                                "dimension.$": "$.Output.dimension",
                                "endpoint.$": "$.Output.endpoint",
                                "model_package_arn.$": "$.Output.model_package_arn",
                                "metrics.$": "$.Output.metrics",
                                "execution.$": "$.ExecutionArn",
                            },
                            "End": True,
                        }
                    },
                },
                "MaxConcurrency": settings.fanout.max_concurrency,
                "ToleratedFailurePercentage": settings.fanout.tolerated_failure_percentage,
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": d.bucket, "Prefix": d.results_prefix},
                },
                "End": True,
            }
        },
    }


def training_input(settings: ManyModels, dimension: str) -> dict[str, Any]:
    """The training workflow's input for one dimension (all its files under the prefix)."""
    d = settings.data
    return {
        "dimension": dimension,
        "input_uri": d.uri(d.training_prefix, dimension, "/"),
        "model_package_group": settings.group_name(dimension),
    }


def scripts() -> dict[str, bytes]:
    """The processing jobs' code: file name -> bytes (uploaded under data.code_prefix)."""
    from pathlib import Path

    here = Path(__file__).with_name("jobs")
    return {name: (here / name).read_bytes() for name in SCRIPTS}


# -- building blocks ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    sdk: Any
    s: ManyModels
    session: Any
    xgboost: str
    sklearn: str
    analyzer: str
    on_failure: Any

    def uri(self, *parts: str) -> str:
        """An intrinsic: ``s3://<bucket>/<work>/<dimension>/<id>/<parts>``."""
        tail = "/".join(parts)
        return f"States.Format('{{}}{tail}', $.names.prefix)"

    def key(self, *parts: str) -> str:
        tail = "/".join(parts)
        return f"States.Format('{{}}{tail}', $.names.key_prefix)"


class _Task:
    """Factory of the SDK's ``Task`` that also takes ``ResultSelector`` (the SDK lacks it)."""

    @staticmethod
    @functools.cache
    def cls(sdk: Any) -> Any:
        class Task(sdk.steps.Task):  # type: ignore[misc, name-defined]
            def is_field_allowed(self, field_name: str) -> bool:
                return field_name == "result_selector" or bool(super().is_field_allowed(field_name))

        return Task


def _chain(settings: ManyModels) -> Any:
    from workflows import sdk
    from workflows.predictive_maintenance import _cached_sagemaker_session

    with sdk.region(settings.region):
        parts = _Parts(
            sdk=sdk,
            s=settings,
            session=_cached_sagemaker_session(settings.region, settings.data.bucket),
            xgboost=sdk.sagemaker.image_uris.retrieve(
                "xgboost", settings.region, version=settings.images.xgboost_version
            ),
            sklearn=sdk.sagemaker.image_uris.retrieve(
                "sklearn", settings.region, version=settings.images.sklearn_version
            ),
            analyzer=sdk.sagemaker.image_uris.retrieve("model-monitor", settings.region),
            on_failure=_failure_states(sdk),
        )
        return _build(parts)


def _build(p: _Parts) -> Any:
    steps = p.sdk.steps
    names = _names(p)
    start = _input_choice(p, names)
    find = _sdk_task(
        p,
        FIND_APPROVED,
        "sagemaker:listModelPackages",
        {
            "ModelPackageGroupName.$": "$.run.group",
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
        result_path="$.approved",
        result_selector={"packages.$": "$.ModelPackageSummaryList"},
        comment="The dimension's latest approved model: its drift baselines are the reference.",
    )
    ensure = _sdk_task(
        p,
        ENSURE_GROUP,
        "sagemaker:createModelPackageGroup",
        {
            "ModelPackageGroupName.$": "$.run.group",
            "ModelPackageGroupDescription.$": "States.Format('Churn models of dimension {}', $.run.dimension)",
        },
        result_path=None,
        comment="The dimension's registry group (already there after its first model).",
        catch_to=None,
    )
    ensure.add_catch(steps.Catch(error_equals=EXISTS_ERRORS, next_step=find, result_path=None))
    _catch(p, ensure)
    preprocess = _preprocess(p)
    baseline = _analyzer_job(
        p,
        DATA_QUALITY_BASELINE,
        "dqb",
        dataset="preprocess/baseline",
        output="data-quality",
        environment={
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "analysis_type": "DATA_QUALITY",
        },
        comment="Statistics and suggested constraints of this run's training data (Model Monitor format).",
    )
    has_baseline = steps.Choice(
        HAS_BASELINE,
        comment="The first model of a dimension registers a baseline; later ones check against it.",
    )
    describe_approved = _sdk_task(
        p,
        DESCRIBE_APPROVED,
        "sagemaker:describeModelPackage",
        {"ModelPackageName.$": "$.approved.packages[0].ModelPackageArn"},
        result_path="$.reference",
        result_selector={"baselines.$": "$.DriftCheckBaselines"},
    )
    check = _analyzer_job(
        p,
        CHECK_DATA_QUALITY,
        "dqc",
        dataset="preprocess/baseline",
        output="data-quality-check",
        environment={
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "analysis_type": "DATA_QUALITY",
        },
        baseline=(
            "$.reference.baselines.ModelDataQuality.Statistics.S3Uri",
            "$.reference.baselines.ModelDataQuality.Constraints.S3Uri",
        ),
        comment="This data against the registered baseline's constraints.",
    )
    describe_approved.next(check)
    if p.s.quality.fail_on_data_violations:
        read = _read_json(
            p, READ_VIOLATIONS, "data-quality-check/constraint_violations.json", "$.violations"
        )
        gate = steps.Choice(DATA_VIOLATIONS, comment="Stop on any violation of the baseline.")
        gate.add_choice(
            steps.ChoiceRule.IsPresent("$.violations.json.violations[0]", True),
            p.sdk.FailFromPaths(
                DATA_REJECTED,
                error="DataQualityViolations",
                cause="The new data breaks the registered data-quality baseline; see constraint_violations.json under the run's data-quality-check/",
            ),
        )
        gate.default_choice(baseline)
        check.next(read)
        read.next(gate)
    else:
        check.next(baseline)
    has_baseline.add_choice(
        steps.ChoiceRule.IsPresent("$.approved.packages[0]", True), describe_approved
    )
    has_baseline.default_choice(baseline)

    train_head, train_tail = _training(p)
    evaluate = _evaluate(p)
    read_eval = _read_json(p, READ_EVALUATION, "evaluation/evaluation.json", "$.evaluation")
    deploy = _deploy(p)
    gate = _quality_gate(p, next_step=_model_and_register(p, deploy))
    baseline.next(train_head)
    train_tail.next(evaluate)
    evaluate.next(read_eval)
    read_eval.next(gate)

    names.next(ensure)
    steps.Chain([ensure, find, preprocess, has_baseline])
    return start


def _names(p: _Parts) -> Any:
    """``$.names``: every name and location of this run, from ``$.run``."""
    s = p.s
    jp = s.job_prefix

    def name(step: str) -> str:
        return f"States.Format('{jp}-{{}}-{step}-{{}}', $.run.dimension, $.run.id)"

    return p.sdk.steps.Pass(
        NAMES,
        comment="Names of this run's jobs, model and endpoint config; its S3 locations.",
        parameters={
            "prefix.$": f"States.Format('s3://{s.data.bucket}/{s.data.work_prefix}{{}}/{{}}/', $.run.dimension, $.run.id)",
            "key_prefix.$": f"States.Format('{s.data.work_prefix}{{}}/{{}}/', $.run.dimension, $.run.id)",
            "endpoint.$": f"States.Format('{s.name}-{{}}', $.run.dimension)",
            **{
                f"{key}.$": name(tag)
                for key, tag in (
                    ("preprocess", "pre"),
                    ("data_quality_check", "dqc"),
                    ("data_quality_baseline", "dqb"),
                    ("training", "train"),
                    ("tuning", "tune"),
                    ("evaluate", "eval"),
                    ("model", "model"),
                    ("transform", "tr"),
                    ("model_quality_baseline", "mqb"),
                    ("endpoint_config", "epc"),
                )
            },
        },
        result_path="$.names",
    )


def _input_choice(p: _Parts, names: Any) -> Any:
    steps, s = p.sdk.steps, p.s
    depth = len(s.data.training_prefix.strip("/").split("/"))
    run_id = "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0)"
    from_input = steps.Pass(
        FROM_INPUT,
        parameters={
            "dimension.$": "$.dimension",
            "input_uri.$": "$.input_uri",
            "group.$": "$.model_package_group",
            "id.$": run_id,
        },
        result_path="$.run",
    )
    dimension = f"States.ArrayGetItem(States.StringSplit($.key, '/'), {depth})"
    from_upload = steps.Pass(
        FROM_UPLOAD,
        comment="An upload under the training prefix: the dimension is the key's folder.",
        parameters={
            "dimension.$": dimension,
            "input_uri.$": (
                f"States.Format('s3://{{}}/{s.data.training_prefix}{{}}/', $.bucket, {dimension})"
            ),
            "group.$": f"States.Format('{s.name}-{{}}', {dimension})",
            "id.$": run_id,
        },
        result_path="$.run",
    )
    from_input.next(names)
    from_upload.next(names)
    choice = steps.Choice(INPUT, comment="A dimension named in the input, or an uploaded object.")
    choice.add_choice(steps.ChoiceRule.IsPresent("$.dimension", True), from_input)
    choice.default_choice(from_upload)
    return choice


def _failure_states(sdk: Any) -> Any:
    return step_kit.failure_states(sdk, execution=False)


def _catch(p: _Parts, step: Any) -> Any:
    return step_kit.catch_all(p.sdk, step, p.on_failure)


def _sdk_task(
    p: _Parts,
    state_id: str,
    action: str,
    parameters: dict[str, Any],
    *,
    result_path: str | None,
    result_selector: dict[str, Any] | None = None,
    comment: str | None = None,
    catch_to: Any = "failure",
) -> Any:
    kwargs: dict[str, Any] = {"resource": SDK + action, "parameters": parameters}
    if comment:
        kwargs["comment"] = comment
    if result_selector is not None:
        kwargs["result_selector"] = result_selector
    task = _Task.cls(p.sdk)(state_id, result_path=result_path, **kwargs)
    return _catch(p, task) if catch_to == "failure" else task


def _read_json(p: _Parts, state_id: str, relative: str, result_path: str) -> Any:
    """GetObject of a JSON file the run wrote; its content parsed under ``result_path.json``."""
    return _sdk_task(
        p,
        state_id,
        "s3:getObject",
        {"Bucket": p.s.data.bucket, "Key.$": p.key(relative)},
        result_path=result_path,
        result_selector={"json.$": "States.StringToJson($.Body)"},
    )


def _processing(
    p: _Parts,
    state_id: str,
    name_key: str,
    *,
    image: str,
    entrypoint: list[str],
    inputs: list[tuple[str, str, str]],
    outputs: list[tuple[str, str, str]],
    environment: dict[str, str] | None = None,
    comment: str,
) -> Any:
    """A processing job; inputs/outputs are (name, S3 URI intrinsic or path, local path)."""
    sm, s = p.sdk.sagemaker, p.s
    processor = sm.processing.Processor(
        role=s.roles.sagemaker,
        image_uri=image,
        instance_count=1,
        instance_type=s.processing.instance_type,
        entrypoint=entrypoint,
        max_runtime_in_seconds=s.processing.max_runtime_seconds,
        env=environment,
        sagemaker_session=p.session,
    )
    step = p.sdk.steps.ProcessingStep(
        state_id,
        processor=processor,
        job_name="set-below",
        container_entrypoint=entrypoint,
        result_path=None,
        comment=comment,
    )
    params = step.fields["parameters"]
    params.pop("ProcessingJobName", None)
    params["ProcessingJobName.$"] = f"$.names.{name_key}"
    if environment:
        params["Environment"] = environment
    params["ProcessingInputs"] = [
        {
            "InputName": name,
            "S3Input": {
                _dynamic("S3Uri", uri): uri,
                "LocalPath": local,
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }
        for name, uri, local in inputs
    ]
    params["ProcessingOutputConfig"] = {
        "Outputs": [
            {
                "OutputName": name,
                "S3Output": {
                    _dynamic("S3Uri", uri): uri,
                    "LocalPath": local,
                    "S3UploadMode": "EndOfJob",
                },
            }
            for name, uri, local in outputs
        ]
    }
    return _catch(p, step)


def _dynamic(key: str, value: str) -> str:
    return f"{key}.$" if value.startswith(("$", "States.")) else key


def _preprocess(p: _Parts) -> Any:
    code = p.s.data.uri(p.s.data.code_prefix, "churn_preprocess.py")
    out = "/opt/ml/processing/output"
    return _processing(
        p,
        PREPROCESS,
        "preprocess",
        image=p.sklearn,
        entrypoint=[
            "python3",
            "/opt/ml/processing/input/code/churn_preprocess.py",
            "--input",
            "/opt/ml/processing/input/data",
            "--output",
            out,
            "--seed",
            str(p.s.data.seed),
        ],
        inputs=[
            ("data", "$.run.input_uri", "/opt/ml/processing/input/data"),
            ("code", code, "/opt/ml/processing/input/code"),
        ],
        outputs=[
            (part, p.uri("preprocess", part), f"{out}/{part}")
            for part in ("train", "validation", "test", "baseline", "features")
        ],
        comment="Drop Phone and the charges, one-hot the categories, label first, shuffle, split 70/20/10 (scikit-learn).",
    )


def _analyzer_job(
    p: _Parts,
    state_id: str,
    tag: str,
    *,
    dataset: str,
    output: str,
    environment: dict[str, str],
    baseline: tuple[str, str] | None = None,
    comment: str,
) -> Any:
    """A Model Monitor analyzer processing job over one of this run's datasets."""
    name_key = {
        "dqb": "data_quality_baseline",
        "dqc": "data_quality_check",
        "mqb": "model_quality_baseline",
    }[tag]
    inputs = [
        ("baseline_dataset_input", p.uri(dataset), f"{ANALYZER}/input/baseline_dataset_input")
    ]
    env = {
        "dataset_source": f"{ANALYZER}/input/baseline_dataset_input",
        "output_path": f"{ANALYZER}/output",
        "publish_cloudwatch_metrics": "Disabled",
        **environment,
    }
    if baseline is not None:
        inputs += [
            ("baseline_statistics", baseline[0], f"{ANALYZER}/baseline/statistics"),
            ("baseline_constraints", baseline[1], f"{ANALYZER}/baseline/constraints"),
        ]
        env["baseline_statistics"] = f"{ANALYZER}/baseline/statistics"
        env["baseline_constraints"] = f"{ANALYZER}/baseline/constraints"
    step = _processing(
        p,
        state_id,
        name_key,
        image=p.analyzer,
        entrypoint=[],
        inputs=inputs,
        outputs=[("monitoring_output", p.uri(output), f"{ANALYZER}/output")],
        environment=env,
        comment=comment,
    )
    step.fields["parameters"]["AppSpecification"] = {"ImageUri": p.analyzer}
    return step


def _training(p: _Parts) -> tuple[Any, Any]:
    """(first, last) state of training: Train, or Tune -> DescribeBest; ``$.train`` is
    DescribeTrainingJob's shape either way."""
    sm, steps, s = p.sdk.sagemaker, p.sdk.steps, p.s
    hp = {k: _hp(v) for k, v in s.training.hyperparameters.items()}
    estimator = sm.estimator.Estimator(
        image_uri=p.xgboost,
        role=s.roles.sagemaker,
        instance_count=1,
        instance_type=s.training.instance_type,
        max_run=s.training.max_runtime_seconds,
        output_path=s.data.uri(s.data.work_prefix),
        sagemaker_session=p.session,
        hyperparameters=hp,
        debugger_hook_config=False,
    )
    channels = {
        "train": p.uri("preprocess", "train"),
        "validation": p.uri("preprocess", "validation"),
    }
    channel_config = [
        {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri.$": uri,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
        for name, uri in channels.items()
    ]
    if not s.tuning.enabled:
        train = steps.TrainingStep(
            TRAIN,
            estimator=estimator,
            job_name="set-below",
            result_path="$.train",
            comment="Built-in XGBoost, binary:logistic, early stopping on the validation AUC.",
            parameters={"InputDataConfig": channel_config},
        )
        params = train.fields["parameters"]
        params.pop("TrainingJobName", None)
        params["TrainingJobName.$"] = "$.names.training"
        params["OutputDataConfig"] = {"S3OutputPath.$": p.uri("model")}
        _catch(p, train)
        return train, train
    tuner = sm.tuner.HyperparameterTuner(
        estimator,
        objective_metric_name="validation:auc",
        objective_type="Maximize",
        hyperparameter_ranges={
            name: (
                sm.tuner.IntegerParameter
                if name in ("max_depth",)
                else sm.tuner.ContinuousParameter
            )(low, high)
            for name, (low, high) in s.tuning.ranges.items()
        },
        max_jobs=s.tuning.max_jobs,
        max_parallel_jobs=s.tuning.max_parallel_jobs,
    )
    tune = steps.TuningStep(
        TUNE,
        tuner=tuner,
        job_name="set-below",
        data={"train": "s3://set-below", "validation": "s3://set-below"},
        result_path="$.tune",
        comment="Tune XGBoost's eta, max_depth and min_child_weight, maximising validation:auc.",
    )
    params = tune.fields["parameters"]
    params.pop("HyperParameterTuningJobName", None)
    # Tuning job names: at most 32 characters.
    params["HyperParameterTuningJobName.$"] = (
        f"States.Format('{p.s.job_prefix}-tune-{{}}', $.run.id)"
    )
    params["TrainingJobDefinition"]["InputDataConfig"] = channel_config
    params["TrainingJobDefinition"]["OutputDataConfig"] = {"S3OutputPath.$": p.uri("model")}
    best = _sdk_task(
        p,
        DESCRIBE_BEST,
        "sagemaker:describeTrainingJob",
        {"TrainingJobName.$": "$.tune.BestTrainingJob.TrainingJobName"},
        result_path="$.train",
        comment="The best training job: its model is the one evaluated and registered.",
    )
    _catch(p, tune).next(best)
    return tune, best


def _evaluate(p: _Parts) -> Any:
    code = p.s.data.uri(p.s.data.code_prefix, "churn_evaluate.py")
    return _processing(
        p,
        EVALUATE,
        "evaluate",
        image=p.xgboost,
        entrypoint=[
            "python3",
            "/opt/ml/processing/input/code/churn_evaluate.py",
            "--model",
            "/opt/ml/processing/model",
            "--test",
            "/opt/ml/processing/test",
            "--output",
            "/opt/ml/processing/evaluation",
        ],
        inputs=[
            ("model", "$.train.ModelArtifacts.S3ModelArtifacts", "/opt/ml/processing/model"),
            ("test", p.uri("preprocess", "test"), "/opt/ml/processing/test"),
            ("code", code, "/opt/ml/processing/input/code"),
        ],
        outputs=[("evaluation", p.uri("evaluation"), "/opt/ml/processing/evaluation")],
        comment="Accuracy and AUC (on probabilities) of the model on the test split: evaluation.json.",
    )


def _metric_path(metric: str) -> str:
    return f"$.evaluation.json.binary_classification_metrics.{metric}.value"


def _quality_gate(p: _Parts, *, next_step: Any) -> Any:
    steps, q = p.sdk.steps, p.s.quality
    path = _metric_path(q.metric)
    reject = steps.Pass(
        "ExplainRejection",
        parameters={
            "Error": REJECTED_ERROR,
            "Cause.$": (
                f"States.Format('{q.metric} = {{}} on the test split is below the threshold "
                f"{q.threshold} (quality.threshold); the model was not registered', {path})"
            ),
        },
        result_path="$.rejection",
    )
    reject.next(
        p.sdk.FailFromPaths(
            MODEL_REJECTED, error_path="$.rejection.Error", cause_path="$.rejection.Cause"
        )
    )
    gate = steps.Choice(QUALITY_GATE, comment=f"Register only when {q.metric} >= {q.threshold}.")
    gate.add_choice(steps.ChoiceRule.NumericGreaterThanEquals(path, q.threshold), next_step)
    gate.default_choice(reject)
    return gate


def _model_and_register(p: _Parts, deploy: Any) -> Any:
    steps, sm, s = p.sdk.steps, p.sdk.sagemaker, p.s
    model = sm.model.Model(
        image_uri=p.xgboost,
        model_data="s3://set-below/model.tar.gz",
        role=s.roles.sagemaker,
        sagemaker_session=p.session,
    )
    create_model = steps.ModelStep(
        CREATE_MODEL, model=model, model_name="set-below", result_path=None
    )
    params = create_model.fields["parameters"]
    params.pop("ModelName", None)
    params["ModelName.$"] = "$.names.model"
    container = params["PrimaryContainer"]
    container.pop("ModelDataUrl", None)
    container["ModelDataUrl.$"] = "$.train.ModelArtifacts.S3ModelArtifacts"
    _catch(p, create_model)

    transformer = sm.transformer.Transformer(
        model_name="set-below",
        instance_count=1,
        instance_type=s.processing.instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        output_path=s.data.uri(s.data.work_prefix),
        sagemaker_session=p.session,
    )
    transform = steps.TransformStep(
        TRANSFORM,
        transformer=transformer,
        job_name="set-below",
        model_name="set-below",
        data="s3://set-below",
        content_type="text/csv",
        split_type="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
        result_path=None,
        comment="Score the test split; each output line is label,probability.",
    )
    params = transform.fields["parameters"]
    for key in ("TransformJobName", "ModelName"):
        params.pop(key, None)
    params["TransformJobName.$"] = "$.names.transform"
    params["ModelName.$"] = "$.names.model"
    source = params["TransformInput"]["DataSource"]["S3DataSource"]
    source.pop("S3Uri", None)
    source["S3Uri.$"] = p.uri("preprocess", "test")
    params["TransformOutput"]["S3OutputPath.$"] = p.uri("transform")
    params["TransformOutput"].pop("S3OutputPath", None)
    _catch(p, transform)

    model_quality = _analyzer_job(
        p,
        MODEL_QUALITY_BASELINE,
        "mqb",
        dataset="transform",
        output="model-quality",
        environment={
            "dataset_format": json.dumps({"csv": {"header": False}}),
            "analysis_type": "MODEL_QUALITY",
            "problem_type": "BinaryClassification",
            "ground_truth_attribute": "0",
            "probability_attribute": "1",
            "probability_threshold_attribute": "0.5",
        },
        comment="Model-quality statistics and constraints of the test split's predictions.",
    )
    register = _sdk_task(
        p, REGISTER, "sagemaker:createModelPackage", _package(p), result_path="$.package"
    )
    after_register: Any
    if s.registry.auto_approve:
        approve = _sdk_task(
            p,
            APPROVE,
            "sagemaker:updateModelPackage",
            {
                "ModelPackageArn.$": "$.package.ModelPackageArn",
                "ModelApprovalStatus": "Approved",
                "ApprovalDescription.$": (
                    f"States.Format('{s.quality.metric} {{}} >= {s.quality.threshold}', "
                    f"{_metric_path(s.quality.metric)})"
                ),
            },
            result_path=None,
            comment="Approve automatically (registry.auto_approve).",
        )
        approve.next(deploy)
        after_register = approve
    else:
        after_register = steps.Succeed(
            AWAITING_APPROVAL, comment="registry.auto_approve is false: a person approves it."
        )
    register.next(after_register)
    steps.Chain([create_model, transform, model_quality, register])
    return create_model


def _package(p: _Parts) -> dict[str, Any]:
    s = p.s

    def report(folder: str, name: str) -> dict[str, str]:
        return {"ContentType": CONTENT_JSON, "S3Uri.$": p.uri(folder, name)}

    def pair(folder: str) -> dict[str, Any]:
        return {
            "Statistics": report(folder, "statistics.json"),
            "Constraints": report(folder, "constraints.json"),
        }

    return {
        "ModelPackageGroupName.$": "$.run.group",
        "ModelPackageDescription.$": "States.Format('Churn model of {}, run {}', $.run.dimension, $.run.id)",
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {"Image": p.xgboost, "ModelDataUrl.$": "$.train.ModelArtifacts.S3ModelArtifacts"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": [s.endpoint.instance_type],
            "SupportedTransformInstanceTypes": [s.processing.instance_type],
        },
        "ModelMetrics": {
            "ModelQuality": pair("model-quality"),
            "ModelDataQuality": pair("data-quality"),
        },
        "DriftCheckBaselines": {
            "ModelQuality": pair("model-quality"),
            "ModelDataQuality": pair("data-quality"),
        },
        "CustomerMetadataProperties": {
            "dimension.$": "$.run.dimension",
            "accuracy.$": f"States.Format('{{}}', {_metric_path('accuracy')})",
            "auc.$": f"States.Format('{{}}', {_metric_path('auc')})",
            "training_job.$": "$.train.TrainingJobName",
        },
    }


def _deploy(p: _Parts) -> Any:
    """CreateEndpointConfig -> FindEndpoint -> Create/UpdateEndpoint -> wait -> retire -> Done."""
    steps, s = p.sdk.steps, p.s
    config = steps.EndpointConfigStep(
        ENDPOINT_CONFIG,
        endpoint_config_name="set-below",
        model_name="set-below",
        initial_instance_count=s.endpoint.initial_instance_count,
        instance_type=s.endpoint.instance_type,
        result_path=None,
    )
    params = config.fields["parameters"]
    params.pop("EndpointConfigName", None)
    params["EndpointConfigName.$"] = "$.names.endpoint_config"
    variant = params["ProductionVariants"][0]
    variant.pop("ModelName", None)
    variant["ModelName.$"] = "$.names.model"
    _catch(p, config)

    find = _sdk_task(
        p,
        FIND_ENDPOINT,
        "sagemaker:describeEndpoint",
        {"EndpointName.$": "$.names.endpoint"},
        result_path="$.previous",
        result_selector={"EndpointConfigName.$": "$.EndpointConfigName"},
        comment="Update the dimension's endpoint when it exists, else create it.",
        catch_to=None,
    )
    endpoint = {}
    for update in (False, True):
        step = steps.EndpointStep(
            UPDATE_ENDPOINT if update else CREATE_ENDPOINT,
            endpoint_name="set-below",
            endpoint_config_name="set-below",
            update=update,
            result_path=None,
        )
        params = step.fields["parameters"]
        params.pop("EndpointName", None)
        params.pop("EndpointConfigName", None)
        params["EndpointName.$"] = "$.names.endpoint"
        params["EndpointConfigName.$"] = "$.names.endpoint_config"
        endpoint[update] = _catch(p, step)
    find.add_catch(
        steps.Catch(error_equals=NOT_FOUND_ERRORS, next_step=endpoint[False], result_path=None)
    )
    _catch(p, find)
    find.next(endpoint[True])

    wait = steps.Wait(WAIT, seconds=s.endpoint.poll_seconds)
    describe = _sdk_task(
        p,
        DESCRIBE_ENDPOINT,
        "sagemaker:describeEndpoint",
        {"EndpointName.$": "$.names.endpoint"},
        result_path="$.endpoint",
        result_selector={"EndpointStatus.$": "$.EndpointStatus", "EndpointArn.$": "$.EndpointArn"},
    )
    done = steps.Pass(
        DONE,
        comment="What the fan-out reports per dimension.",
        parameters={
            "dimension.$": "$.run.dimension",
            "endpoint.$": "$.names.endpoint",
            "model_package_arn.$": "$.package.ModelPackageArn",
            "metrics": {
                "accuracy.$": _metric_path("accuracy"),
                "auc.$": _metric_path("auc"),
            },
            "run_id.$": "$.run.id",
        },
    )
    retire_config = _sdk_task(
        p,
        RETIRE_CONFIG,
        "sagemaker:describeEndpointConfig",
        {"EndpointConfigName.$": "$.previous.EndpointConfigName"},
        result_path="$.retired",
        result_selector={
            "EndpointConfigName.$": "$.EndpointConfigName",
            "ModelName.$": "$.ProductionVariants[0].ModelName",
        },
        comment="The previous config and model: retired once the new ones serve.",
    )
    delete_config = _sdk_task(
        p,
        "DeleteOldEndpointConfig",
        "sagemaker:deleteEndpointConfig",
        {"EndpointConfigName.$": "$.retired.EndpointConfigName"},
        result_path=None,
    )
    delete_model = _sdk_task(
        p,
        RETIRE_MODEL,
        "sagemaker:deleteModel",
        {"ModelName.$": "$.retired.ModelName"},
        result_path=None,
    )
    in_service = steps.Choice(IN_SERVICE)
    retire = steps.Choice("RetirePrevious", comment="An update leaves a previous config behind.")
    retire.add_choice(
        steps.ChoiceRule.IsPresent("$.previous.EndpointConfigName", True), retire_config
    )
    retire.default_choice(done)
    in_service.add_choice(
        steps.ChoiceRule.StringEquals("$.endpoint.EndpointStatus", "InService"), retire
    )
    in_service.add_choice(
        steps.ChoiceRule.StringEquals("$.endpoint.EndpointStatus", "Failed"),
        p.sdk.FailFromPaths(
            ENDPOINT_FAILED,
            error="EndpointFailed",
            cause="The endpoint failed; see DescribeEndpoint's FailureReason",
        ),
    )
    in_service.default_choice(wait)
    for step in endpoint.values():  # described at once: a local endpoint is up in ~0.1 s
        step.next(describe)
    steps.Chain([describe, in_service])
    wait.next(describe)
    steps.Chain([retire_config, delete_config, delete_model, done])
    config.next(find)
    return config


def _hp(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
