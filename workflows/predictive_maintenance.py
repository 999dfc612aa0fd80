"""The predictive-maintenance state machine, built with the Step Functions Data Science SDK.

::

    PrepareData (Lambda) -> TrainModel (XGBoost .sync) -> CreateModel -> BatchTransform (.sync)
      -> EvaluateModel (Lambda) -> CheckMetric?
           >= threshold: CreateEndpointConfig -> EndpointExists?
                              yes: UpdateEndpoint / no: CreateEndpoint
                          -> PredictSamples (Lambda) -> Done (Succeed)
           otherwise:    ExplainRejection (Pass) -> ModelRejected (Fail, cause names the metric)
      any task fails:    RecordFailure (Pass) -> WorkflowFailed (Fail, the original error)

The state's data starts as the execution input (see :func:`example_input`) and every task
puts its result under its own key (``$.prepare``, ``$.train``, ``$.model``, ``$.transform``,
``$.evaluation``, ``$.endpoint_config``, ``$.endpoint``, ``$.predict``), so each later state
sees everything before it.  Every name (jobs, model, endpoint config, endpoint) and every
data location comes from the execution input, so one definition serves every run.

Building is offline: the SDK sessions get a region, a default bucket and explicit output
paths, so nothing asks AWS for anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from workflows.settings import Settings

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
PREDICT = "PredictSamples"
DONE = "Done"
EXPLAIN_REJECTION = "ExplainRejection"
MODEL_REJECTED = "ModelRejected"
RECORD_FAILURE = "RecordFailure"
WORKFLOW_FAILED = "WorkflowFailed"

# The error a rejected model ends the execution with.
REJECTED_ERROR = "ModelBelowThreshold"

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

# Lambda roles -> function names when workflows.functions cannot say (see _function_names).
DEFAULT_FUNCTIONS = {
    "prepare": "predictive-maintenance-prepare",
    "evaluate": "predictive-maintenance-evaluate",
    "predict": "predictive-maintenance-predict",
}


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
        execution_input=sdk.ExecutionInput(schema=EXECUTION_INPUT),
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
    return {"Comment": body.pop("Comment"), **body}


def example_input(
    settings: Settings, run_id: str, *, endpoint_exists: bool = False
) -> dict[str, Any]:
    """The execution input for one run: unique names and per-run data locations.

    ``run_id`` must be letters, digits and hyphens (it ends every SageMaker name).
    """
    _check_run_id(settings, run_id)
    d = settings.data
    base = settings.name
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
    }


# -- building blocks --------------------------------------------------------------------


def _check_run_id(settings: Settings, run_id: str) -> None:
    import re

    from workflows.settings import ConfigError

    longest = f"{settings.name}-transform-{run_id}"
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
    from workflows import sdk

    return sdk.sagemaker.Session(
        boto_session=_boto_session(settings), default_bucket=settings.data.bucket
    )


def _function_names() -> dict[str, str]:
    """Lambda role (prepare/evaluate/predict) -> function name, from lambdas/functions.yaml."""
    try:
        from workflows.functions import load_functions
    except ImportError:  # the registration module is not in this checkout
        return dict(DEFAULT_FUNCTIONS)
    names = dict(DEFAULT_FUNCTIONS)
    for fn in load_functions():
        role = _get(fn, "role") or _get(fn, "key")
        name = _get(fn, "name")
        if role in names and name:
            names[role] = name
        else:
            for r in names:
                if name and name.endswith(r):
                    names[r] = name
    return names


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _lambda_step(
    sdk: Any,
    state_id: str,
    function: str,
    payload: dict[str, Any],
    result_path: str,
    comment: str,
    timeout: int | None = None,
) -> Any:
    return sdk.steps.LambdaStep(
        state_id,
        comment=comment,
        parameters={"FunctionName": function, "Payload": payload},
        result_path=result_path,
        timeout_seconds=timeout,
    )


def _chain(settings: Settings) -> Any:
    from workflows import sdk

    steps, sm = sdk.steps, sdk.sagemaker
    ei = sdk.ExecutionInput(schema=EXECUTION_INPUT)
    session = _sagemaker_session(settings)
    functions = _function_names()
    region = settings.region
    image = sm.image_uris.retrieve("xgboost", region, version=settings.training.xgboost_version)

    # -- failure handling shared by every task
    record_failure = steps.Pass(
        RECORD_FAILURE,
        comment="Keep the error and where the execution was when it happened.",
        parameters={
            "Error.$": "$.error.Error",
            "Cause.$": "$.error.Cause",
            "ExecutionId.$": "$$.Execution.Id",
            "RunId.$": "$$.Execution.Input.RunId",
        },
        result_path="$.failure",
    )
    workflow_failed = sdk.FailFromPaths(
        WORKFLOW_FAILED,
        comment="Fail with the original error and cause.",
        error_path="$.failure.Error",
        cause_path="$.failure.Cause",
    )
    record_failure.next(workflow_failed)

    retry = settings.prepare.retry
    transient = steps.Retry(
        error_equals=list(TRANSIENT_LAMBDA_ERRORS),
        interval_seconds=retry.interval_seconds,
        max_attempts=retry.max_attempts,
        backoff_rate=retry.backoff_rate,
    )

    # -- prepare
    prepare = _lambda_step(
        sdk,
        PREPARE,
        functions["prepare"],
        {
            "raw_uri": ei["RawDataUri"],
            "output_prefix": ei["PreparedDataUri"],
            "validation_fraction": settings.prepare.validation_fraction,
            "test_fraction": settings.prepare.test_fraction,
            "seed": settings.data.seed,
        },
        "$.prepare",
        "Validate the raw AI4I data, encode it, split it stratified into train/validation/test.",
        timeout=900,
    )
    prepared = (
        "$.prepare.Payload"  # plain JSONPath: the SDK's StepInput only reaches one state back
    )

    # -- train
    t = settings.training
    estimator = sm.estimator.Estimator(
        image_uri=image,
        role=settings.roles.sagemaker,
        instance_count=t.instance_count,
        instance_type=t.instance_type,
        volume_size=t.volume_size_gb,
        max_run=t.max_runtime_seconds,
        output_path=settings.data.uri(settings.data.models_prefix),
        sagemaker_session=session,
        hyperparameters={k: _hp(v) for k, v in t.hyperparameters.items()},
        debugger_hook_config=False,  # would pin a static S3 path; the built-in algorithm needs none
    )
    train = steps.TrainingStep(
        TRAIN,
        estimator=estimator,
        job_name=ei["TrainingJobName"],
        output_data_config_path=ei["ModelOutputUri"],
        hyperparameters={
            # The class balance measured by prepare: negatives / positives.
            "scale_pos_weight.$": "States.Format('{}', $.prepare.Payload.scale_pos_weight)",
        },
        result_path="$.train",
        comment="Built-in XGBoost, binary:logistic, early stopping on the validation AUC.",
        parameters={
            "InputDataConfig": [
                _channel("train", f"{prepared}.train_uri"),
                _channel("validation", f"{prepared}.validation_uri"),
            ],
        },
    )

    # -- create the model from the training job's artifact.  The SDK's expected model reads
    # $['ModelArtifacts'] from the state input, so the step looks at $.train only.
    with _quiet("sagemaker.estimator"):  # "No finished training job found": expected here
        model = train.get_expected_model()
    create_model = steps.ModelStep(
        CREATE_MODEL,
        model=model,
        model_name=ei["ModelName"],
        input_path="$.train",
        result_path="$.model",
    )

    # -- batch transform of the test set (label first): features in, label and score out.
    tr = settings.transform
    transformer = sm.transformer.Transformer(
        model_name="placeholder",
        instance_count=tr.instance_count,
        instance_type=tr.instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        max_payload=tr.max_payload_mb,
        output_path=settings.data.uri(settings.data.transform_prefix),
        sagemaker_session=session,
    )
    transform = steps.TransformStep(
        TRANSFORM,
        transformer=transformer,
        job_name=ei["TransformJobName"],
        model_name=ei["ModelName"],
        data="s3://replaced-below",
        content_type="text/csv",
        split_type="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
        result_path="$.transform",
        parameters={"TransformOutput": {"S3OutputPath": ei["TransformOutputUri"]}},
        comment="Score the test set; each output line is label,score.",
    )
    _set_path(
        transform, ("TransformInput", "DataSource", "S3DataSource", "S3Uri"), f"{prepared}.test_uri"
    )

    # -- evaluate
    metric = settings.evaluation.metric
    evaluate = _lambda_step(
        sdk,
        EVALUATE,
        functions["evaluate"],
        {
            "predictions_uri": ei["TransformOutputUri"],
            "labels_uri.$": f"{prepared}.test_uri",
            "output_uri": ei["EvaluationUri"],
            "threshold": settings.evaluation.decision_threshold,
        },
        "$.evaluation",
        "ROC AUC, PR AUC, F1, precision, recall and the confusion matrix on the test set.",
        timeout=300,
    )
    metric_path = f"$.evaluation.Payload.{metric}"

    # -- the gate
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
    rejected = sdk.FailFromPaths(
        MODEL_REJECTED, error_path="$.rejection.Error", cause_path="$.rejection.Cause"
    )
    explain.next(rejected)

    # -- deploy
    ep = settings.endpoint
    endpoint_config = steps.EndpointConfigStep(
        ENDPOINT_CONFIG,
        endpoint_config_name=ei["EndpointConfigName"],
        model_name=ei["ModelName"],
        initial_instance_count=ep.initial_instance_count,
        instance_type=ep.instance_type,
        result_path="$.endpoint_config",
    )
    create_endpoint = steps.EndpointStep(
        CREATE_ENDPOINT,
        endpoint_name=ei["EndpointName"],
        endpoint_config_name=ei["EndpointConfigName"],
        result_path="$.endpoint",
    )
    update_endpoint = steps.EndpointStep(
        UPDATE_ENDPOINT,
        endpoint_name=ei["EndpointName"],
        endpoint_config_name=ei["EndpointConfigName"],
        update=True,
        result_path="$.endpoint",
    )
    predict = _lambda_step(
        sdk,
        PREDICT,
        functions["predict"],
        {
            "endpoint_name": ei["EndpointName"],
            "model_name": ei["ModelName"],
            "records_uri.$": f"{prepared}.sample_uri",
            "table": settings.prediction.table,
            "run_id": ei["RunId"],
        },
        "$.predict",
        "Send sample records to the endpoint and store the predictions.",
        timeout=300,
    )
    done = steps.Succeed(DONE)
    predict.next(done)
    create_endpoint.next(predict)
    update_endpoint.next(predict)

    endpoint_exists = steps.Choice(
        ENDPOINT_EXISTS, comment="Update the endpoint when it already exists."
    )
    endpoint_exists.add_choice(
        steps.ChoiceRule.And(
            [
                steps.ChoiceRule.IsPresent("$.EndpointExists", True),
                steps.ChoiceRule.BooleanEquals("$.EndpointExists", True),
            ]
        ),
        update_endpoint,
    )
    endpoint_exists.default_choice(create_endpoint)
    endpoint_config.next(endpoint_exists)

    check = steps.Choice(CHECK_METRIC, comment=f"Deploy only when {metric} >= MetricThreshold.")
    check.add_choice(
        steps.ChoiceRule.NumericGreaterThanEqualsPath(metric_path, "$.MetricThreshold"),
        endpoint_config,
    )
    check.default_choice(explain)

    tasks = [
        prepare,
        train,
        create_model,
        transform,
        evaluate,
        endpoint_config,
        create_endpoint,
        update_endpoint,
        predict,
    ]
    for task in (prepare, evaluate, predict):
        task.add_retry(transient)
    for task in tasks:
        task.add_catch(
            steps.Catch(
                error_equals=["States.ALL"], next_step=record_failure, result_path="$.error"
            )
        )

    return steps.Chain([prepare, train, create_model, transform, evaluate, check])


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
