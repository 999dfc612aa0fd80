"""The predictive-maintenance state machine, built with the Step Functions Data Science SDK.

::

    PrepareData (Lambda) -> TrainModel (XGBoost .sync) -> CreateModel -> BatchTransform (.sync)
      -> EvaluateModel (Lambda) -> CheckMetric?
           >= threshold: CreateEndpointConfig -> EndpointExists?
                              yes: UpdateEndpoint / no: CreateEndpoint (exists: UpdateEndpoint)
                          -> DescribeEndpoint -> EndpointReady? InService: PredictSamples
                               (Lambda) -> Done (Succeed); Failed: EndpointFailed (its
                               FailureReason); otherwise: WaitForEndpoint -> DescribeEndpoint
           otherwise:    ExplainRejection (Pass) -> ModelRejected (Fail, cause names the metric)
      any task fails:    RecordFailure (Pass) -> WorkflowFailed (Fail, the original error)

With ``featurizer.mode: pipeline`` a scikit-learn processing job replaces PrepareData, the model
is an inference pipeline taking raw readings, and monitoring follows PredictSamples: see
:mod:`workflows.predictive_maintenance_pipeline`.

The state's data starts as the execution input (see :func:`example_input`) and every task
puts its result under its own key (``$.prepare``, ``$.train``, ``$.model``, ``$.transform``,
``$.evaluation``, ``$.endpoint_config``, ``$.endpoint``, ``$.predict``), so each later state
sees everything before it.  Every name (jobs, model, endpoint config, endpoint) and every
data location comes from the execution input, so one definition serves every run.

Building is offline: the SDK sessions get a region, a default bucket and explicit output
paths, so nothing asks AWS for anything.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from workflows import step_kit
from workflows.settings import ConfigError, RetryPolicy, Settings

# State names, in the order a successful run visits them, then the failure branches.
PREPARE = "PrepareData"
TRAIN = "TrainModel"
CREATE_MODEL = "CreateModel"
TRANSFORM = "BatchTransform"
EVALUATE = "EvaluateModel"
CHECK_METRIC = "CheckMetric"
ENDPOINT_CONFIG = "CreateEndpointConfig"
ENDPOINT_EXISTS = "EndpointExists"
CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
DESCRIBE_ENDPOINT = "DescribeEndpoint"
ENDPOINT_READY = "EndpointReady"
WAIT_FOR_ENDPOINT = "WaitForEndpoint"
ENDPOINT_FAILED = "EndpointFailed"
PREDICT = "PredictSamples"
DONE = "Done"
EXPLAIN_REJECTION = "ExplainRejection"
MODEL_REJECTED = "ModelRejected"
RECORD_FAILURE = step_kit.RECORD_FAILURE
WORKFLOW_FAILED = step_kit.WORKFLOW_FAILED

# The error a rejected model ends the execution with.
REJECTED_ERROR = "ModelBelowThreshold"
# The error an endpoint that could not be deployed ends the execution with (cause: its
# FailureReason).
ENDPOINT_FAILED_ERROR = "EndpointFailed"
# What CreateEndpoint answers when the endpoint exists (a concurrent run created it):
# ValidationException "Cannot create already existing endpoint"; UpdateEndpoint answers the
# same while the endpoint is Creating or Updating.
ENDPOINT_BUSY_ERRORS = ("SageMaker.ValidationException", "SageMaker.ResourceInUse")
ENDPOINT_POLL_SECONDS = 2

# Errors of the Lambda service itself (not of the function), worth retrying; AWS's list.
TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)

# Execution input members, with their types: the contract between `run`/`execute` and
# the definition.  Names are unique per run; the endpoint name is stable across runs.
EXECUTION_INPUT: dict[str, type] = {
    "RunId": str,
    "TrainingJobName": str,
    "ModelName": str,
    "TransformJobName": str,
    "EndpointConfigName": str,
    "EndpointName": str,
    "EndpointExists": bool,
    "RawDataUri": str,
    "PreparedDataUri": str,
    "ModelOutputUri": str,
    "TransformOutputUri": str,
    "EvaluationUri": str,
    "MetricThreshold": float,
}


def execution_input_schema(settings: Settings) -> dict[str, type]:
    """The execution input members of the definition these settings build."""
    if pipeline_mode(settings):
        from workflows.predictive_maintenance_pipeline import PIPELINE_INPUT

        return {**EXECUTION_INPUT, **PIPELINE_INPUT}
    return dict(EXECUTION_INPUT)


def pipeline_mode(settings: Settings) -> bool:
    return settings.featurizer.mode == "pipeline"


# The Lambda functions the workflow calls, by handler module (lambdas/functions.yaml).
FUNCTION_ROLES = ("prepare", "evaluate", "predict")

# Where the prepare step's result (its Lambda's return value) is in the state.
PREPARED = "$.prepare.Payload"


def build_workflow(settings: Settings, *, client: Any = None) -> Any:
    """The SDK ``Workflow`` (``stepfunctions.workflow.Workflow``) for these settings.

    ``client`` is a boto3 Step Functions client for ``create()``/``execute()``; without one,
    a client for ``settings.region`` is created (no request is made until it is used).
    """
    from workflows import sdk

    if client is None:
        client = _boto_session(settings).client("stepfunctions")
    chain = _chain(settings)
    return sdk.Workflow(
        name=settings.name,
        definition=chain,
        role=settings.roles.state_machine,
        execution_input=sdk.ExecutionInput(schema=execution_input_schema(settings)),
        client=client,
    )


def definition(settings: Settings) -> dict[str, Any]:
    """The Amazon States Language definition, as a dict."""
    from workflows import sdk

    graph = sdk.steps.Graph(_chain(settings))
    body: dict[str, Any] = json.loads(graph.to_json())
    body["Comment"] = (
        "Predictive maintenance: prepare AI4I data, train XGBoost, evaluate, deploy when "
        f"{settings.evaluation.metric} >= the execution input's MetricThreshold, predict samples."
    )
    if pipeline_mode(settings):
        body["Comment"] = (
            "Predictive maintenance, inference pipeline: fit a scikit-learn featurizer, train "
            "XGBoost, deploy featurizer + model when "
            f"{settings.evaluation.metric} >= the execution input's MetricThreshold, predict "
            "raw readings, baseline and schedule data-quality monitoring."
        )
    return {"Comment": body.pop("Comment"), **body}


# The fields of the execution input that name one run: a new run (the console's "New
# execution from this input") gets them with a new run id; the raw data and the thresholds
# stay.  EndpointExists is read again when the run starts.
PER_RUN = {
    "runIdField": "RunId",
    "fields": [
        "TrainingJobName",
        "ModelName",
        "TransformJobName",
        "EndpointConfigName",
        "PreparedDataUri",
        "TransformOutputUri",
        "EvaluationUri",
    ],
    "endpointExists": {ENDPOINT_EXISTS: "EndpointName"},
}
# The inference-pipeline variant's own per-run names (pipeline.example_input).
PIPELINE_PER_RUN = ["FeaturizerJobName", "BaselineJobName", "BaselineUri", "DeployModelName"]


def per_run(settings: Settings) -> dict[str, Any]:
    """:data:`PER_RUN` of the variant ``settings`` build."""
    if not pipeline_mode(settings):
        return PER_RUN
    return {**PER_RUN, "fields": [*PER_RUN["fields"], *PIPELINE_PER_RUN]}


def example_input(
    settings: Settings, run_id: str, *, endpoint_exists: bool = False
) -> dict[str, Any]:
    """The execution input for one run: unique names and per-run data locations.

    ``run_id`` must be letters, digits and hyphens (it ends every SageMaker name).
    """
    _check_run_id(settings, run_id)
    d = settings.data
    base = settings.name
    extra: dict[str, Any] = {}
    if pipeline_mode(settings):
        from workflows import predictive_maintenance_pipeline as pipeline

        extra = pipeline.example_input(settings, run_id)
    return {
        "RunId": run_id,
        "TrainingJobName": f"{base}-train-{run_id}",
        "ModelName": f"{base}-model-{run_id}",
        "TransformJobName": f"{base}-transform-{run_id}",
        "EndpointConfigName": f"{base}-epc-{run_id}",
        "EndpointName": settings.endpoint.name,
        "EndpointExists": endpoint_exists,
        "RawDataUri": d.uri(d.raw_prefix, run_id) + "/",
        "PreparedDataUri": d.uri(d.prepared_prefix, run_id) + "/",
        "ModelOutputUri": d.uri(d.models_prefix),
        "TransformOutputUri": d.uri(d.transform_prefix, run_id) + "/",
        "EvaluationUri": d.uri(d.evaluation_prefix, run_id) + "/",
        "MetricThreshold": settings.evaluation.threshold,
        **extra,
    }


# -- building blocks --------------------------------------------------------------------


def _check_run_id(settings: Settings, run_id: str) -> None:
    import re

    longest = f"{settings.name}-featurize-{run_id}"
    if not re.fullmatch(r"[A-Za-z0-9](-*[A-Za-z0-9])*", run_id):
        raise ConfigError(
            f"run id {run_id!r}: use letters, digits and single hyphens, e.g. 20240101-120000-ab12"
        )
    if len(longest) > 63:
        raise ConfigError(
            f"run id {run_id!r}: makes the SageMaker name {longest!r} longer than 63 characters; "
            "shorten the run id or the `name` setting"
        )


def _boto_session(settings: Settings) -> Any:
    import boto3

    return boto3.Session(region_name=settings.region)


def _sagemaker_session(settings: Settings) -> Any:
    return _cached_sagemaker_session(settings.region, settings.data.bucket)


@functools.lru_cache(maxsize=8)
def _cached_sagemaker_session(region: str, bucket: str) -> Any:
    """A SageMaker SDK session that never calls AWS while steps are built (it creates seven
    clients, half a second: built once per region and bucket)."""
    import boto3

    from workflows import sdk

    return sdk.sagemaker.Session(
        boto_session=boto3.Session(region_name=region), default_bucket=bucket
    )


def _function_names() -> dict[str, str]:
    """Lambda role (prepare/evaluate/predict) -> function name, from lambdas/functions.yaml."""
    from workflows.functions import load_functions

    names = {spec.role: spec.name for spec in load_functions()}
    missing = sorted(set(FUNCTION_ROLES) - set(names))
    if missing:
        raise ConfigError(
            f"lambdas/functions.yaml: no function with handler module {missing}; the workflow "
            f"needs one per step: {', '.join(FUNCTION_ROLES)}"
        )
    return names


@dataclass(frozen=True)
class _Parts:
    """What every step builder needs: the SDK, the settings and the shared states."""

    sdk: Any
    settings: Settings
    ei: Any  # ExecutionInput placeholders
    session: Any  # sagemaker.Session (offline)
    image: str  # built-in XGBoost image URI
    functions: dict[str, str]
    on_failure: Any  # the state every Catch goes to


def _chain(settings: Settings) -> Any:
    from workflows import sdk

    with sdk.region(settings.region):
        return _build_chain(sdk, settings)


def _build_chain(sdk: Any, settings: Settings) -> Any:
    parts = _Parts(
        sdk=sdk,
        settings=settings,
        ei=sdk.ExecutionInput(schema=execution_input_schema(settings)),
        session=_sagemaker_session(settings),
        image=sdk.sagemaker.image_uris.retrieve(
            "xgboost", settings.region, version=settings.training.xgboost_version
        ),
        functions=_function_names(),
        on_failure=_failure_states(sdk),
    )
    if pipeline_mode(settings):
        from workflows import predictive_maintenance_pipeline as pipeline

        prepare = _task(parts, pipeline.featurize_step(parts))
    else:
        prepare = _prepare_step(parts)
    train, create_model = _training_steps(parts)
    transform = _transform_step(parts)
    evaluate = _evaluate_step(parts)
    deploy = _deployment_steps(parts)
    if pipeline_mode(settings):
        from workflows import predictive_maintenance_pipeline as pipeline

        deploy = pipeline.registry_steps(parts, _task, deploy)
    check = _metric_gate(parts, deploy=deploy)
    return parts.sdk.steps.Chain([prepare, train, create_model, transform, evaluate, check])


def _failure_states(sdk: Any) -> Any:
    """RecordFailure (keeps the caught error) -> WorkflowFailed (fails with it)."""
    return step_kit.failure_states(sdk, execution=True, comments=True)


def _task(parts: Any, step: Any, *retries: Any) -> Any:
    return step_kit.catch_all(parts.sdk, step, parts.on_failure, retries)


def _retry(parts: _Parts, errors: tuple[str, ...], policy: RetryPolicy) -> Any:
    return step_kit.retrier(parts.sdk, errors, policy)


def _lambda_step(
    parts: _Parts,
    state_id: str,
    role: str,
    payload: dict[str, Any],
    *,
    comment: str,
    timeout: int,
    retries: tuple[Any, ...] = (),
) -> Any:
    step = parts.sdk.steps.LambdaStep(
        state_id,
        comment=comment,
        parameters={"FunctionName": parts.functions[role], "Payload": payload},
        result_path=f"$.{role}",
        timeout_seconds=timeout,
    )
    transient = _retry(parts, TRANSIENT_LAMBDA_ERRORS, parts.settings.prepare.retry)
    return _task(parts, step, transient, *retries)


def _prepare_step(parts: _Parts) -> Any:
    s = parts.settings
    return _lambda_step(
        parts,
        PREPARE,
        "prepare",
        {
            "raw_uri": parts.ei["RawDataUri"],
            "output_prefix": parts.ei["PreparedDataUri"],
            "validation_fraction": s.prepare.validation_fraction,
            "test_fraction": s.prepare.test_fraction,
            "seed": s.data.seed,
        },
        comment="Validate the raw AI4I data, encode it, split it stratified into train/validation/test.",
        timeout=900,
    )


def _training_steps(parts: _Parts) -> tuple[Any, Any]:
    """TrainModel (built-in XGBoost) and CreateModel (from its artifact)."""
    sm, steps, t = parts.sdk.sagemaker, parts.sdk.steps, parts.settings.training
    estimator = sm.estimator.Estimator(
        image_uri=parts.image,
        role=parts.settings.roles.sagemaker,
        instance_count=t.instance_count,
        instance_type=t.instance_type,
        volume_size=t.volume_size_gb,
        max_run=t.max_runtime_seconds,
        output_path=parts.settings.data.uri(parts.settings.data.models_prefix),
        sagemaker_session=parts.session,
        hyperparameters={k: _hp(v) for k, v in t.hyperparameters.items()},
        debugger_hook_config=False,  # would pin a static S3 path; the built-in algorithm needs none
    )
    pipeline = pipeline_mode(parts.settings)
    if pipeline:
        from workflows.predictive_maintenance_pipeline import TRAIN as TRAIN_DIR
        from workflows.predictive_maintenance_pipeline import VALIDATION, prepared

        channels = [
            _channel("train", prepared(TRAIN_DIR)),
            _channel("validation", prepared(VALIDATION)),
        ]
        dynamic_hyperparameters: dict[str, str] = {}
    else:
        channels = [
            _channel("train", f"{PREPARED}.train_uri"),
            _channel("validation", f"{PREPARED}.validation_uri"),
        ]
        dynamic_hyperparameters = {
            # The class balance prepare measured on the training split: negatives / positives.
            "scale_pos_weight.$": f"States.Format('{{}}', {PREPARED}.scale_pos_weight)",
        }
    train = steps.TrainingStep(
        TRAIN,
        estimator=estimator,
        job_name=parts.ei["TrainingJobName"],
        output_data_config_path=parts.ei["ModelOutputUri"],
        hyperparameters=dynamic_hyperparameters,
        result_path="$.train",
        comment="Built-in XGBoost, binary:logistic, early stopping on the validation AUC.",
        parameters={"InputDataConfig": channels},
    )
    if pipeline:
        from workflows.predictive_maintenance_pipeline import create_model_step

        return _task(parts, train), _task(parts, create_model_step(parts))
    # The SDK's expected model reads $['ModelArtifacts'] from its state input, so CreateModel
    # looks at $.train only, and puts its result beside it.
    with _quiet("sagemaker.estimator"):  # "No finished training job found": expected here
        model = train.get_expected_model()
    create_model = steps.ModelStep(
        CREATE_MODEL,
        model=model,
        model_name=parts.ei["ModelName"],
        input_path="$.train",
        result_path="$.model",
    )
    return _task(parts, train), _task(parts, create_model)


def _transform_step(parts: _Parts) -> Any:
    """Score the test set (label first): features in, ``label,score`` lines out."""
    sm, tr = parts.sdk.sagemaker, parts.settings.transform
    transformer = sm.transformer.Transformer(
        model_name="set-by-the-step",
        instance_count=tr.instance_count,
        instance_type=tr.instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        max_payload=tr.max_payload_mb,
        output_path=parts.settings.data.uri(parts.settings.data.transform_prefix),
        sagemaker_session=parts.session,
    )
    transform = parts.sdk.steps.TransformStep(
        TRANSFORM,
        transformer=transformer,
        job_name=parts.ei["TransformJobName"],
        model_name=parts.ei["ModelName"],
        data="s3://set-below",
        content_type="text/csv",
        split_type="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
        result_path="$.transform",
        parameters={"TransformOutput": {"S3OutputPath": parts.ei["TransformOutputUri"]}},
        comment="Score the test set; each output line is label,score.",
    )
    test_path = f"{PREPARED}.test_uri"
    if pipeline_mode(parts.settings):
        from workflows.predictive_maintenance_pipeline import TEST, prepared

        test_path = prepared(TEST)
    _set_path(transform, ("TransformInput", "DataSource", "S3DataSource", "S3Uri"), test_path)
    return _task(parts, transform)


def _evaluate_step(parts: _Parts) -> Any:
    labels = f"{PREPARED}.test_uri"
    if pipeline_mode(parts.settings):
        from workflows.predictive_maintenance_pipeline import TEST_FILE, prepared

        labels = prepared(TEST_FILE)
    return _lambda_step(
        parts,
        EVALUATE,
        "evaluate",
        {
            "predictions_uri": parts.ei["TransformOutputUri"],
            "labels_uri.$": labels,
            "output_uri": parts.ei["EvaluationUri"],
            "threshold": parts.settings.evaluation.decision_threshold,
        },
        comment="ROC AUC, PR AUC, F1, precision, recall and the confusion matrix on the test set.",
        timeout=300,
    )


def _metric_gate(parts: _Parts, *, deploy: Any) -> Any:
    """CheckMetric: deploy when the metric >= MetricThreshold, else fail saying both."""
    steps = parts.sdk.steps
    metric = parts.settings.evaluation.metric
    metric_path = f"$.evaluate.Payload.{metric}"
    explain = steps.Pass(
        EXPLAIN_REJECTION,
        comment="Say which metric missed which threshold.",
        parameters={
            "Error": REJECTED_ERROR,
            "Cause.$": (
                f"States.Format('{metric} = {{}} on the test set is below the threshold {{}} "
                "(MetricThreshold in the execution input); the model was not deployed', "
                f"{metric_path}, $.MetricThreshold)"
            ),
        },
        result_path="$.rejection",
    )
    explain.next(
        parts.sdk.FailFromPaths(
            MODEL_REJECTED, error_path="$.rejection.Error", cause_path="$.rejection.Cause"
        )
    )
    check = steps.Choice(CHECK_METRIC, comment=f"Deploy only when {metric} >= MetricThreshold.")
    check.add_choice(
        steps.ChoiceRule.NumericGreaterThanEqualsPath(metric_path, "$.MetricThreshold"), deploy
    )
    check.default_choice(explain)
    return check


def _deployment_steps(parts: _Parts) -> Any:
    """CreateEndpointConfig -> EndpointExists? -> Create/UpdateEndpoint -> PredictSamples -> Done."""
    steps, ei, ep = parts.sdk.steps, parts.ei, parts.settings.endpoint
    pipeline = pipeline_mode(parts.settings)
    capture: dict[str, Any] = {}
    samples = f"{PREPARED}.test_features_uri"
    if pipeline:
        from workflows import predictive_maintenance_pipeline as pm_pipeline

        capture = {"data_capture_config": pm_pipeline.data_capture(parts)}
        samples = pm_pipeline.prepared(pm_pipeline.SAMPLES_FILE)
    endpoint_config = steps.EndpointConfigStep(
        ENDPOINT_CONFIG,
        endpoint_config_name=ei["EndpointConfigName"],
        model_name=ei["DeployModelName"] if pipeline else ei["ModelName"],
        initial_instance_count=ep.initial_instance_count,
        instance_type=ep.instance_type,
        result_path="$.endpoint_config",
        **capture,
    )
    endpoint = {
        update: steps.EndpointStep(
            UPDATE_ENDPOINT if update else CREATE_ENDPOINT,
            endpoint_name=ei["EndpointName"],
            endpoint_config_name=ei["EndpointConfigName"],
            update=update,
            result_path="$.endpoint",
        )
        for update in (False, True)
    }
    p = parts.settings.prediction
    predict = _lambda_step(
        parts,
        PREDICT,
        "predict",
        {
            "endpoint_name": ei["EndpointName"],
            "model_name": ei["DeployModelName"] if pipeline else ei["ModelName"],
            "records_uri.$": samples,
            "max_records": p.sample_records,
            "table_name": p.table,
            **({"readings": True} if pipeline else {}),
        },
        comment="Send sample test records to the endpoint and store the predictions.",
        timeout=300,
        # The endpoint is InService (DescribeEndpoint said so); a model server still warming
        # up answers EndpointError, retried.
        retries=(_retry(parts, ("EndpointError",), p.endpoint_retry),),
    )
    if pipeline:
        predict.next(pm_pipeline.monitoring_steps(parts, _task))
    else:
        predict.next(steps.Succeed(DONE))
    # A concurrent run may have created the endpoint between EndpointExists and here: the
    # create's refusal goes on to the update, which waits while that endpoint is in progress.
    endpoint[False].add_catch(
        steps.Catch(
            error_equals=list(ENDPOINT_BUSY_ERRORS),
            next_step=endpoint[True],
            result_path="$.endpoint_exists",
        )
    )
    endpoint[True].add_retry(_retry(parts, ENDPOINT_BUSY_ERRORS, p.endpoint_retry))
    describe = steps.Task(
        DESCRIBE_ENDPOINT,
        comment="Wait for the endpoint: its status, until InService or Failed.",
        resource="arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
        parameters={"EndpointName": ei["EndpointName"]},
        result_path="$.endpoint_status",
    )
    failed = parts.sdk.FailFromPaths(
        ENDPOINT_FAILED,
        comment="The endpoint could not be deployed: fail with its FailureReason.",
        error=ENDPOINT_FAILED_ERROR,
        cause_path="$.endpoint_status.FailureReason",
    )
    wait = steps.Wait(WAIT_FOR_ENDPOINT, seconds=ENDPOINT_POLL_SECONDS)
    ready = steps.Choice(ENDPOINT_READY, comment="InService: predict; Failed: stop; else wait.")
    status = "$.endpoint_status.EndpointStatus"
    ready.add_choice(steps.ChoiceRule.StringEquals(status, "InService"), predict)
    ready.add_choice(steps.ChoiceRule.StringEquals(status, "Failed"), failed)
    ready.default_choice(wait)
    wait.next(describe)
    _task(parts, describe).next(ready)
    for step in endpoint.values():
        _task(parts, step).next(describe)

    exists = steps.Choice(ENDPOINT_EXISTS, comment="Update the endpoint when it already exists.")
    exists.add_choice(
        steps.ChoiceRule.And(
            [
                steps.ChoiceRule.IsPresent("$.EndpointExists", True),
                steps.ChoiceRule.BooleanEquals("$.EndpointExists", True),
            ]
        ),
        endpoint[True],
    )
    exists.default_choice(endpoint[False])
    _task(parts, endpoint_config).next(exists)
    return endpoint_config


def _channel(name: str, path: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri.$": path,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _set_path(step: Any, keys: tuple[str, ...], jsonpath: str) -> None:
    """Make ``Parameters.<keys>`` dynamic: replace the static member with ``<last>.$``."""
    node = step.fields["parameters"]
    for key in keys[:-1]:
        node = node[key]
    node.pop(keys[-1], None)
    node[f"{keys[-1]}.$"] = jsonpath


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _hp(value: Any) -> str:
    """SageMaker hyperparameters are strings."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
