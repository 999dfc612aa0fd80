"""The inference-pipeline variant of the predictive-maintenance workflow (``featurizer.mode: pipeline``).

::

    FeaturizeData (scikit-learn processing .sync) -> TrainModel -> CreateModel (Containers:
      featurizer, XGBoost) -> BatchTransform (raw test readings) -> EvaluateModel -> CheckMetric?
        -> RegisterModel (a version in the model package group, with its evaluation)
        -> LatestApproved (the newest approved version)? none: AwaitingApproval (Succeed)
        -> CreateDeployModel (from that version) -> CreateEndpointConfig (100 % data capture) -> Create/UpdateEndpoint -> PredictSamples
        -> SuggestBaseline (Model Monitor analyzer .sync, training readings)
        -> ScheduleMonitoring (hourly data quality; UpdateMonitoring when it exists) -> Done

The featurizer (:mod:`workflows.jobs.featurizer`) writes everything under the execution
input's ``PreparedDataUri``; later states find its files there by ``States.Format``.  The
endpoint, the batch transform and the evaluation all see raw readings
``Type,Air temperature,Process temperature,Rotational speed,Torque,Tool wear``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workflows.settings import Settings

FEATURIZE = "FeaturizeData"
BASELINE = "SuggestBaseline"
SCHEDULE_MONITORING = "ScheduleMonitoring"
REGISTER_MODEL = "RegisterModel"
LATEST_APPROVED = "LatestApproved"
HAS_APPROVED = "HasApprovedVersion"
CREATE_DEPLOY_MODEL = "CreateDeployModel"
AWAITING_APPROVAL = "AwaitingApproval"
APPROVED = "$.approved.ModelPackageSummaryList[0].ModelPackageArn"
UPDATE_MONITORING = "UpdateMonitoring"

FEATURIZER_SCRIPT = Path(__file__).with_name("jobs") / "featurizer.py"
FEATURIZER_PROGRAM = "featurizer.py"

# Execution input members this variant adds (see predictive_maintenance.EXECUTION_INPUT).
PIPELINE_INPUT: dict[str, type] = {
    "FeaturizerJobName": str,
    "FeaturizerCodeUri": str,
    "BaselineJobName": str,
    "BaselineUri": str,
    "DeployModelName": str,
}

# Where the featurizer job writes, relative to PreparedDataUri.
TRAIN = "train/"
VALIDATION = "validation/"
TEST = "test/"
TEST_FILE = "test/test.csv"
SAMPLES_FILE = "test-features/test_features.csv"
BASELINE_DATA = "baseline/baseline.csv"
FEATURIZER_MODEL = "featurizer/model.tar.gz"
MANIFEST = "manifest.json"

PROCESSING = "/opt/ml/processing"
ENDPOINT_CAPTURE_PATH = "/opt/ml/processing/input/endpoint"
# The names Step Functions gives an existing schedule's error (AWS's SDK exception name; the
# error code, as the local runtime reports it).
SCHEDULE_EXISTS = ("SageMaker.ResourceInUseException", "SageMaker.ResourceInUse")


def prepared(path: str) -> str:
    """``States.Format`` of a file under the execution input's PreparedDataUri."""
    return f"States.Format('{{}}{path}', $$.Execution.Input.PreparedDataUri)"


def example_input(settings: Settings, run_id: str) -> dict[str, Any]:
    base, d = settings.name, settings.data
    return {
        "FeaturizerJobName": f"{base}-featurize-{run_id}",
        "FeaturizerCodeUri": code_uri(settings),
        "BaselineJobName": f"{base}-baseline-{run_id}",
        "BaselineUri": d.uri(settings.monitoring.reports_prefix, "baseline", run_id) + "/",
        "DeployModelName": f"{base}-deploy-{run_id}",
    }


def code_uri(settings: Settings) -> str:
    return settings.data.uri(settings.featurizer.code_prefix, FEATURIZER_PROGRAM)


def images(sdk: Any, settings: Settings) -> dict[str, str]:
    retrieve = sdk.sagemaker.image_uris.retrieve
    return {
        "sklearn": retrieve(
            "sklearn", settings.region, version=settings.featurizer.sklearn_version
        ),
        "monitor": retrieve("model-monitor", settings.region),
    }


def _cluster(instance_type: str) -> dict[str, Any]:
    return {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 5}
    }


def _s3_input(name: str, local: str, uri_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri.$": uri_path,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def featurize_step(parts: Any) -> Any:
    """The scikit-learn processing job: split, fit the featurizer, write features and readings."""
    s = parts.settings
    image = images(parts.sdk, s)["sklearn"]
    step = parts.sdk.steps.Task(
        FEATURIZE,
        resource="arn:aws:states:::sagemaker:createProcessingJob.sync",
        comment="scikit-learn: stratified split, StandardScaler + OneHotEncoder fitted on train.",
        parameters={
            "ProcessingJobName.$": "$$.Execution.Input.FeaturizerJobName",
            "RoleArn": s.roles.sagemaker,
            "AppSpecification": {
                "ImageUri": image,
                "ContainerEntrypoint": [
                    "python3",
                    f"{PROCESSING}/input/code/{FEATURIZER_PROGRAM}",
                ],
                "ContainerArguments": [
                    "--seed",
                    str(s.data.seed),
                    "--validation-fraction",
                    str(s.prepare.validation_fraction),
                    "--test-fraction",
                    str(s.prepare.test_fraction),
                    "--input",
                    f"{PROCESSING}/input/data",
                    "--output",
                    f"{PROCESSING}/output",
                ],
            },
            "ProcessingInputs": [
                _s3_input(
                    "code", f"{PROCESSING}/input/code", "$$.Execution.Input.FeaturizerCodeUri"
                ),
                _s3_input("data", f"{PROCESSING}/input/data", "$$.Execution.Input.RawDataUri"),
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "prepared",
                        "S3Output": {
                            "S3Uri.$": "$$.Execution.Input.PreparedDataUri",
                            "LocalPath": f"{PROCESSING}/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": _cluster(s.featurizer.instance_type),
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        result_path="$.featurize",
    )
    return step


def containers(parts: Any) -> list[dict[str, Any]]:
    """The inference pipeline's containers: the fitted featurizer, then XGBoost."""
    s = parts.settings
    return [
        {
            "Image": images(parts.sdk, s)["sklearn"],
            "ModelDataUrl.$": prepared(FEATURIZER_MODEL),
            "Environment": {
                "SAGEMAKER_PROGRAM": FEATURIZER_PROGRAM,
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            },
        },
        {
            "Image": parts.image,
            "ModelDataUrl.$": "$.train.ModelArtifacts.S3ModelArtifacts",
        },
    ]


def create_model_step(parts: Any) -> Any:
    """CreateModel with two containers: the fitted featurizer, then XGBoost."""
    return parts.sdk.steps.Task(
        "CreateModel",
        resource="arn:aws:states:::sagemaker:createModel",
        comment="Inference pipeline: raw reading -> featurizer container -> XGBoost container.",
        parameters={
            "ModelName.$": "$$.Execution.Input.ModelName",
            "ExecutionRoleArn": parts.settings.roles.sagemaker,
            "Containers": containers(parts),
        },
        result_path="$.model",
    )


def registry_steps(parts: Any, task: Any, deploy: Any) -> Any:
    """RegisterModel -> LatestApproved -> HasApprovedVersion? -> CreateDeployModel -> ``deploy``."""
    steps, s = parts.sdk.steps, parts.settings
    register = steps.Task(
        REGISTER_MODEL,
        resource="arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
        comment="A new version in the model package group, with its evaluation metrics.",
        parameters={
            "ModelPackageGroupName": s.registry.group,
            "ModelPackageDescription.$": "States.Format('run {}', $$.Execution.Input.RunId)",
            "InferenceSpecification": {
                "Containers": containers(parts),
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri.$": "$.evaluate.Payload.evaluation_uri",
                    }
                }
            },
            "CustomerMetadataProperties": {
                "RunId.$": "$$.Execution.Input.RunId",
                "roc_auc.$": "States.Format('{}', $.evaluate.Payload.roc_auc)",
                "pr_auc.$": "States.Format('{}', $.evaluate.Payload.pr_auc)",
                "f1.$": "States.Format('{}', $.evaluate.Payload.f1)",
            },
            "ModelApprovalStatus": s.registry.approval,
        },
        result_path="$.package",
    )
    latest = steps.Task(
        LATEST_APPROVED,
        resource="arn:aws:states:::aws-sdk:sagemaker:listModelPackages",
        comment="Deployment takes the newest approved version, this run's or an earlier one.",
        parameters={
            "ModelPackageGroupName": s.registry.group,
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
        result_path="$.approved",
    )
    create = steps.Task(
        CREATE_DEPLOY_MODEL,
        resource="arn:aws:states:::sagemaker:createModel",
        comment="The model the endpoint serves: the approved version's containers.",
        parameters={
            "ModelName.$": "$$.Execution.Input.DeployModelName",
            "ExecutionRoleArn": s.roles.sagemaker,
            "PrimaryContainer": {"ModelPackageName.$": APPROVED},
        },
        result_path="$.deploy_model",
    )
    has = steps.Choice(HAS_APPROVED, comment="Deploy only an approved version.")
    has.add_choice(steps.ChoiceRule.IsPresent(APPROVED, True), task(parts, create))
    has.default_choice(steps.Succeed(AWAITING_APPROVAL, comment="No approved version yet."))
    create.next(deploy)
    task(parts, register).next(task(parts, latest))
    latest.next(has)
    return register


def data_capture(parts: Any) -> Any:
    from sagemaker.model_monitor import DataCaptureConfig

    s = parts.settings
    return DataCaptureConfig(
        enable_capture=True,
        sampling_percentage=100,
        destination_s3_uri=s.data.uri(s.monitoring.capture_prefix).rstrip("/"),
        csv_content_types=["text/csv"],
        sagemaker_session=parts.session,
    )


def monitoring_steps(parts: Any, task: Any) -> Any:
    """SuggestBaseline -> ScheduleMonitoring (-> UpdateMonitoring when it exists) -> Done."""
    steps, s = parts.sdk.steps, parts.settings
    monitor_image = images(parts.sdk, s)["monitor"]
    baseline = steps.Task(
        BASELINE,
        resource="arn:aws:states:::sagemaker:createProcessingJob.sync",
        comment="Model Monitor's data-quality baseline of the training readings.",
        parameters={
            "ProcessingJobName.$": "$$.Execution.Input.BaselineJobName",
            "RoleArn": s.roles.sagemaker,
            "AppSpecification": {"ImageUri": monitor_image},
            "Environment": {
                "dataset_format": json.dumps({"csv": {"header": True}}),
                "dataset_source": f"{PROCESSING}/input/baseline_dataset_input",
                "output_path": f"{PROCESSING}/output",
                "publish_cloudwatch_metrics": "Disabled",
            },
            "ProcessingInputs": [
                _s3_input(
                    "baseline_dataset_input",
                    f"{PROCESSING}/input/baseline_dataset_input",
                    prepared(BASELINE_DATA),
                )
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "monitoring_output",
                        "S3Output": {
                            "S3Uri.$": "$$.Execution.Input.BaselineUri",
                            "LocalPath": f"{PROCESSING}/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": _cluster(s.monitoring.instance_type),
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        result_path="$.baseline",
    )
    config = {
        "ScheduleConfig": {"ScheduleExpression": s.monitoring.schedule_expression},
        "MonitoringType": "DataQuality",
        "MonitoringJobDefinition": {
            "BaselineConfig": {
                "ConstraintsResource": {
                    "S3Uri.$": "States.Format('{}constraints.json', $$.Execution.Input.BaselineUri)"
                },
                "StatisticsResource": {
                    "S3Uri.$": "States.Format('{}statistics.json', $$.Execution.Input.BaselineUri)"
                },
            },
            "MonitoringInputs": [
                {
                    "EndpointInput": {
                        "EndpointName.$": "$$.Execution.Input.EndpointName",
                        "LocalPath": ENDPOINT_CAPTURE_PATH,
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                }
            ],
            "MonitoringOutputConfig": {
                "MonitoringOutputs": [
                    {
                        "S3Output": {
                            "S3Uri": s.data.uri(s.monitoring.reports_prefix, "reports"),
                            "LocalPath": f"{PROCESSING}/output",
                            "S3UploadMode": "EndOfJob",
                        }
                    }
                ]
            },
            "MonitoringResources": _cluster(s.monitoring.instance_type),
            "MonitoringAppSpecification": {"ImageUri": monitor_image},
            "RoleArn": s.roles.sagemaker,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }
    request = {"MonitoringScheduleName": s.monitoring.schedule, "MonitoringScheduleConfig": config}
    schedule = steps.Task(
        SCHEDULE_MONITORING,
        resource="arn:aws:states:::aws-sdk:sagemaker:createMonitoringSchedule",
        comment="Hourly data-quality monitoring of the endpoint's captured readings.",
        parameters=request,
        result_path="$.monitoring",
    )
    update = steps.Task(
        UPDATE_MONITORING,
        resource="arn:aws:states:::aws-sdk:sagemaker:updateMonitoringSchedule",
        comment="The schedule exists (an earlier run): point it at this run's baseline.",
        parameters=request,
        result_path="$.monitoring",
    )
    done = steps.Succeed("Done")
    schedule.add_catch(
        steps.Catch(error_equals=list(SCHEDULE_EXISTS), next_step=update, result_path="$.exists")
    )
    task(parts, baseline).next(task(parts, schedule))
    schedule.next(done)
    task(parts, update).next(done)
    return baseline
