"""The hotel-cluster state machines, built with the Step Functions Data Science SDK.

Ingestion::

    IngestFeatures (Lambda: clean, derive, sample users, PCA, two feature groups) -> Done

Training::

    BuildTrainingSet (Lambda: Athena query over both offline stores, 70/20/10 split)
      -> TrainModel (XGBoost multi:softmax, num_class from the data, .sync) -> CreateModel
      -> EvaluateModel (processing job .sync: accuracy, top-5 accuracy on the test split)
      -> ReadEvaluation (aws-sdk s3:getObject) -> CheckAccuracy?
           >= MinAccuracy: EnsureModelPackageGroup -> RegisterModel (model package, Approved) -> CreateEndpointConfig
                           -> EndpointExists? Create/UpdateEndpoint -> Done
           otherwise:      ModelRejected (Fail)

Every name and location comes from the execution input (:func:`training_input`), so one
definition serves every run; building makes no AWS call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows import settings_loader as loader
from workflows.settings_loader import ConfigError

NAME = "hotel-clusters"
SECTION = "hotel_clusters"  # the key of the user's configuration file holding these settings
FUNCTIONS_FILE = (
    Path(__file__).resolve().parents[2] / "lambdas" / "hotel_clusters" / "functions.yaml"
)
JOBS_DIR = Path(__file__).resolve().parent / "jobs"

INGEST = "IngestFeatures"
BUILD_SET = "BuildTrainingSet"
TRAIN = "TrainModel"
CREATE_MODEL = "CreateModel"
EVALUATE = "EvaluateModel"
READ_EVALUATION = "ReadEvaluation"
CHECK = "CheckAccuracy"
ENSURE_GROUP = "EnsureModelPackageGroup"
REGISTER = "RegisterModel"
# What CreateModelPackageGroup answers when the group exists (AWS: ValidationException).
GROUP_EXISTS_ERRORS = ("SageMaker.ValidationException", "SageMaker.ResourceInUse")
ENDPOINT_CONFIG = "CreateEndpointConfig"
ENDPOINT_EXISTS = "EndpointExists"
CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
DONE = "Done"
REJECTED = "ModelRejected"
REJECTED_ERROR = "ModelBelowThreshold"
PROCESSING_ROOT = "/opt/ml/processing"

TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


@dataclass(frozen=True)
class HotelSettings:
    """What a run of the use case needs; the defaults run locally and on AWS alike."""

    region: str = "us-east-1"
    bucket: str = "hotel-clusters-data"
    prefix: str = "hotel-clusters"
    customers_group: str = "hotel-customers"
    destinations_group: str = "hotel-destinations"
    endpoint: str = "hotel-clusters"
    model_package_group: str = "hotel-clusters"
    table: str = "hotel-cluster-predictions"
    stream: str = "hotel-searches"
    failures_queue: str = "hotel-searches-failed"
    max_users: int = 20_000
    seed: int = 42
    rows: int = 20_000
    min_accuracy: float = 0.15
    sagemaker_role: str = "arn:aws:iam::123456789012:role/hotel-clusters-sagemaker"
    state_machine_role: str = "arn:aws:iam::123456789012:role/hotel-clusters-states"
    instance_type: str = "ml.m5.xlarge"
    endpoint_instance_type: str = "ml.m5.large"
    xgboost_version: str = "1.7-1"
    hyperparameters: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "multi:softmax",
            "num_round": 10,
            "max_depth": 4,
            "eta": 0.2,
            "subsample": 0.9,
            "tree_method": "hist",
            "max_bin": 64,
            "eval_metric": "merror",
        }
    )

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", self.prefix, *(p.strip("/") for p in parts)])

    @property
    def ingestion_name(self) -> str:
        return f"{NAME}-ingestion"

    @property
    def training_name(self) -> str:
        return f"{NAME}-training"


def load_settings(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> HotelSettings:
    """:class:`HotelSettings`: its defaults, then the ``hotel_clusters:`` section of the
    user's file (``--config FILE``, else ``$WORKFLOWS_CONFIG``), then ``overrides`` (dotted
    keys; ``None`` values ignored). Typed as every use case's settings are
    (:mod:`workflows.settings_loader`)."""
    settings, _ = loader.load(
        HotelSettings,
        loader.dataclass_defaults(HotelSettings),
        path,
        overrides,
        section=SECTION,
        open_maps=("hyperparameters",),
    )
    _check_settings(settings)
    return settings


def _check_settings(s: HotelSettings) -> None:
    where = f"{SECTION}."
    if not 0 <= s.min_accuracy <= 1:
        raise ConfigError(
            f"{where}min_accuracy: {s.min_accuracy} is not an accuracy; give a number from 0 to 1"
        )
    for key in ("rows", "max_users"):
        if getattr(s, key) < 1:
            raise ConfigError(f"{where}{key}: {getattr(s, key)}; give at least 1")
    if s.prefix.startswith("/") or s.prefix.endswith("/"):
        raise ConfigError(
            f"{where}prefix: {s.prefix!r} must be a key prefix without leading or trailing '/', "
            "e.g. 'hotel-clusters'"
        )
    if s.hyperparameters.get("objective", "multi:softmax") != "multi:softmax":
        raise ConfigError(
            f"{where}hyperparameters.objective: {s.hyperparameters['objective']!r}; the "
            "workflow predicts one cluster per event: use multi:softmax or leave it out"
        )
    if "num_class" in s.hyperparameters:
        raise ConfigError(
            f"{where}hyperparameters.num_class: set by the workflow from the clusters in the "
            "training set; remove it from the configuration"
        )


def function_names() -> dict[str, str]:
    """Handler module (ingest / training_set / stream) -> function name."""
    from workflows.functions import load_functions

    return {spec.module.rsplit(".", 1)[-1]: spec.name for spec in load_functions(FUNCTIONS_FILE)}


# -- execution inputs -------------------------------------------------------------------


def ingestion_input(s: HotelSettings, run_id: str) -> dict[str, Any]:
    return {
        "RunId": run_id,
        "EventsUri": s.uri("raw", run_id, "train.csv"),
        "DestinationsUri": s.uri("raw", run_id, "destinations.csv"),
        "CustomersGroup": s.customers_group,
        "DestinationsGroup": s.destinations_group,
        "OfflineUri": s.uri("feature-store") + "/",
        "FeatureGroupRole": s.sagemaker_role,
        "MaxUsers": s.max_users,
        "Seed": s.seed,
    }


def training_input(
    s: HotelSettings, run_id: str, ingestion: dict[str, Any], *, endpoint_exists: bool
) -> dict[str, Any]:
    """``ingestion`` is the IngestFeatures Lambda's result (tables, counts, group ARNs)."""
    _check_run_id(run_id)
    return {
        "RunId": run_id,
        "Ingestion": ingestion,
        "TrainingSetUri": s.uri("training-sets", run_id) + "/",
        "AthenaOutputUri": s.uri("athena", run_id) + "/",
        "TrainingJobName": f"{NAME}-train-{run_id}",
        "ModelName": f"{NAME}-model-{run_id}",
        "ModelOutputUri": s.uri("models"),
        "EvaluationJobName": f"{NAME}-eval-{run_id}",
        "EvaluationUri": s.uri("evaluation", run_id),
        "EvaluationBucket": s.bucket,
        "EvaluationKey": f"{s.prefix}/evaluation/{run_id}/evaluation.json",
        "EvaluateCodeUri": s.uri("code", "evaluate.py"),
        "EndpointConfigName": f"{NAME}-epc-{run_id}",
        "EndpointName": s.endpoint,
        "EndpointExists": endpoint_exists,
        "ModelPackageGroupName": s.model_package_group,
        "MinAccuracy": s.min_accuracy,
        "Seed": s.seed,
    }


def _check_run_id(run_id: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9](-*[A-Za-z0-9])*", run_id) or len(run_id) > 36:
        raise ConfigError(
            f"run id {run_id!r}: use at most 36 letters, digits and single hyphens, "
            "e.g. 20240101-120000-ab12"
        )


# -- definitions ------------------------------------------------------------------------


def ingestion_definition(s: HotelSettings) -> dict[str, Any]:
    from workflows import sdk

    with sdk.region(s.region):
        names = function_names()
        ingest = _lambda(
            sdk,
            INGEST,
            names["ingest"],
            {
                "events_uri.$": "$.EventsUri",
                "destinations_uri.$": "$.DestinationsUri",
                "customers_group.$": "$.CustomersGroup",
                "destinations_group.$": "$.DestinationsGroup",
                "offline_uri.$": "$.OfflineUri",
                "role_arn.$": "$.FeatureGroupRole",
                "max_users.$": "$.MaxUsers",
                "seed.$": "$.Seed",
            },
            result_path="$.ingest",
            comment="Clean, derive, sample users, PCA of d1..d149; ingest both feature groups.",
        )
        ingest.next(sdk.steps.Succeed(DONE))
        return _asl(
            sdk, ingest, "Hotel clusters: ingest bookings and destinations into the feature store."
        )


def training_definition(s: HotelSettings) -> dict[str, Any]:
    from workflows import sdk

    with sdk.region(s.region):
        return _asl(
            sdk,
            _training_chain(sdk, s),
            (
                "Hotel clusters: training set by Athena over the offline stores, XGBoost multi:softmax, "
                "accuracy and top-5 on the test split, deploy when accuracy >= MinAccuracy."
            ),
        )


# ResultSelector of the states that keep only part of their result (the SDK 2.3.0 has no
# result_selector argument: it is set on the rendered definition).
RESULT_SELECTORS = {
    INGEST: {"Payload.$": "$.Payload"},
    BUILD_SET: {"Payload.$": "$.Payload"},
    TRAIN: {"ModelArtifacts.$": "$.ModelArtifacts", "TrainingJobArn.$": "$.TrainingJobArn"},
    READ_EVALUATION: {"metrics.$": "States.StringToJson($.Body)"},
}


def _asl(sdk: Any, chain: Any, comment: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sdk.steps.Graph(chain).to_json())
    body.pop("Comment", None)
    for name, state in body["States"].items():
        if name in RESULT_SELECTORS:
            state["ResultSelector"] = RESULT_SELECTORS[name]
    return {"Comment": comment, **body}


def _lambda(
    sdk: Any,
    state_id: str,
    function: str,
    payload: dict[str, Any],
    *,
    result_path: str,
    comment: str,
) -> Any:
    step = sdk.steps.LambdaStep(
        state_id,
        comment=comment,
        parameters={"FunctionName": function, "Payload": payload},
        result_path=result_path,
    )
    step.add_retry(
        sdk.Retry(
            error_equals=list(TRANSIENT_LAMBDA_ERRORS),
            interval_seconds=2,
            max_attempts=3,
            backoff_rate=2.0,
        )
    )
    return step


def _training_chain(sdk: Any, s: HotelSettings) -> Any:
    steps = sdk.steps
    names = function_names()
    ts = "$.training_set.Payload"
    build = _lambda(
        sdk,
        BUILD_SET,
        names["training_set"],
        {
            "database.$": "$.Ingestion.database",
            "customers_table.$": "$.Ingestion.customers_table",
            "destinations_table.$": "$.Ingestion.destinations_table",
            "customers_group_arn.$": "$.Ingestion.customers_group_arn",
            "destinations_group_arn.$": "$.Ingestion.destinations_group_arn",
            "ingested_after.$": "$.Ingestion.ingested_after",
            "customers.$": "$.Ingestion.customers",
            "destinations.$": "$.Ingestion.destinations",
            "athena_output_uri.$": "$.AthenaOutputUri",
            "output_prefix.$": "$.TrainingSetUri",
            "seed.$": "$.Seed",
        },
        result_path="$.training_set",
        comment="Athena: latest customer and destination records joined; split 70/20/10.",
    )
    build.add_retry(
        sdk.Retry(
            error_equals=["OfflineStoreNotReady"],
            interval_seconds=30,
            max_attempts=10,
            backoff_rate=1.5,
        )
    )
    image = sdk.sagemaker.image_uris.retrieve("xgboost", s.region, version=s.xgboost_version)
    hyper = {k: str(v) for k, v in s.hyperparameters.items()}
    train = steps.Task(
        TRAIN,
        resource="arn:aws:states:::sagemaker:createTrainingJob.sync",
        comment="Built-in XGBoost, multi:softmax; num_class from the training set.",
        parameters={
            "TrainingJobName.$": "$.TrainingJobName",
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "RoleArn": s.sagemaker_role,
            "HyperParameters": {
                **hyper,
                "num_class.$": f"States.Format('{{}}', {ts}.num_class)",
            },
            "InputDataConfig": [
                _channel("train", f"{ts}.train_uri"),
                _channel("validation", f"{ts}.validation_uri"),
            ],
            "OutputDataConfig": {"S3OutputPath.$": "$.ModelOutputUri"},
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": s.instance_type,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        result_path="$.train",
    )
    create_model = steps.Task(
        CREATE_MODEL,
        resource="arn:aws:states:::sagemaker:createModel",
        parameters={
            "ModelName.$": "$.ModelName",
            "ExecutionRoleArn": s.sagemaker_role,
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl.$": "$.train.ModelArtifacts.S3ModelArtifacts",
            },
        },
        result_path="$.model",
    )
    evaluate = steps.Task(
        EVALUATE,
        resource="arn:aws:states:::sagemaker:createProcessingJob.sync",
        comment="Accuracy and top-5 accuracy of the model on the test split.",
        parameters={
            "ProcessingJobName.$": "$.EvaluationJobName",
            "RoleArn": s.sagemaker_role,
            "AppSpecification": {
                "ImageUri": image,
                "ContainerEntrypoint": ["python3", f"{PROCESSING_ROOT}/code/evaluate.py"],
                "ContainerArguments": [PROCESSING_ROOT],
            },
            "ProcessingInputs": [
                _processing_input("code", "$.EvaluateCodeUri", "code"),
                _processing_input("model", "$.train.ModelArtifacts.S3ModelArtifacts", "model"),
                _processing_input("test", f"{ts}.test_uri", "test"),
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "evaluation",
                        "S3Output": {
                            "S3Uri.$": "$.EvaluationUri",
                            "LocalPath": f"{PROCESSING_ROOT}/evaluation",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": s.instance_type,
                    "VolumeSizeInGB": 10,
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        },
        result_path=None,
    )
    read = steps.Task(
        READ_EVALUATION,
        resource="arn:aws:states:::aws-sdk:s3:getObject",
        parameters={"Bucket.$": "$.EvaluationBucket", "Key.$": "$.EvaluationKey"},
        result_path="$.evaluation",
    )
    rejected = steps.Fail(
        REJECTED,
        error=REJECTED_ERROR,
        cause="test accuracy is below MinAccuracy (the execution input); the model was not deployed",
    )
    check = steps.Choice(CHECK, comment="Deploy only when accuracy >= MinAccuracy.")
    check.add_choice(
        steps.ChoiceRule.NumericGreaterThanEqualsPath(
            "$.evaluation.metrics.accuracy", "$.MinAccuracy"
        ),
        _deployment(sdk, s),
    )
    check.default_choice(rejected)
    return steps.Chain([build, train, create_model, evaluate, read, check])


def _deployment(sdk: Any, s: HotelSettings) -> Any:
    steps = sdk.steps
    image = sdk.sagemaker.image_uris.retrieve("xgboost", s.region, version=s.xgboost_version)
    register = steps.Task(
        REGISTER,
        resource="arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
        comment="A version of the model in the registry, approved by the accuracy gate.",
        parameters={
            "ModelPackageGroupName.$": "$.ModelPackageGroupName",
            "ModelPackageDescription.$": "States.Format('run {}: test accuracy {}, top-5 {}', $.RunId, $.evaluation.metrics.accuracy, $.evaluation.metrics.top5_accuracy)",
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": image, "ModelDataUrl.$": "$.train.ModelArtifacts.S3ModelArtifacts"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
        result_path="$.model_package",
    )
    config = steps.Task(
        ENDPOINT_CONFIG,
        resource="arn:aws:states:::sagemaker:createEndpointConfig",
        parameters={
            "EndpointConfigName.$": "$.EndpointConfigName",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName.$": "$.ModelName",
                    "InitialInstanceCount": 1,
                    "InstanceType": s.endpoint_instance_type,
                }
            ],
        },
        result_path="$.endpoint_config",
    )
    done = steps.Succeed(DONE)
    endpoint = {}
    for update in (False, True):
        endpoint[update] = steps.Task(
            UPDATE_ENDPOINT if update else CREATE_ENDPOINT,
            resource=f"arn:aws:states:::sagemaker:{'updateEndpoint' if update else 'createEndpoint'}",
            parameters={
                "EndpointName.$": "$.EndpointName",
                "EndpointConfigName.$": "$.EndpointConfigName",
            },
            result_path="$.endpoint",
        )
        endpoint[update].next(done)
    exists = steps.Choice(ENDPOINT_EXISTS)
    exists.add_choice(steps.ChoiceRule.BooleanEquals("$.EndpointExists", True), endpoint[True])
    exists.default_choice(endpoint[False])
    config.next(exists)
    register.next(config)
    group = steps.Task(
        ENSURE_GROUP,
        resource="arn:aws:states:::aws-sdk:sagemaker:createModelPackageGroup",
        comment="The registry's group of this use case; an existing group is fine.",
        parameters={
            "ModelPackageGroupName.$": "$.ModelPackageGroupName",
            "ModelPackageGroupDescription": "Hotel-cluster models that passed the accuracy gate",
        },
        result_path=None,
    )
    group.add_catch(
        steps.Catch(error_equals=list(GROUP_EXISTS_ERRORS), next_step=register, result_path=None)
    )
    group.next(register)
    return group


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


def _processing_input(name: str, path: str, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri.$": path,
            "LocalPath": f"{PROCESSING_ROOT}/{local}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }
