"""Model Monitor over HTTP: data capture of a real endpoint, the analyzer's baseline through the
SageMaker SDK, monitoring schedules and their executions, drift and model quality."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import numpy as np
import pytest
from endpoint_support import FEATURES, ROLE, csv_text, deploy_endpoint, features, wait_for

from localaws.sagemaker import monitor_analyzer

DRIFTED = {"f1", "f3"}
BUCKET = "monitor"


@pytest.fixture(scope="module")
def endpoint(server: Any) -> Iterator[str]:
    """A capturing XGBoost endpoint, built with boto3 through the server."""
    yield deploy_endpoint(
        server,
        "monitored",
        BUCKET,
        capture={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )


def capture_files(server: Any) -> list[Path]:
    root = Path(server.runtime.state_dir) / "s3" / BUCKET / "capture"
    return sorted(root.rglob("*.jsonl"))


def test_capture_writes_aws_json_lines_layout(
    client: Callable[..., Any], server: Any, endpoint: str
) -> None:
    before = set(capture_files(server))
    runtime = client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=b"0.1,0.2,0.3,0.4", ContentType="text/csv", InferenceId="inf-1"
    )["Body"].read()
    summary = client("sagemaker").describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]
    assert summary == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "KmsKeyId": "",
    }
    new = sorted(set(capture_files(server)) - before)
    assert len(new) == 1
    rel = new[0].relative_to(Path(server.runtime.state_dir) / "s3" / BUCKET).as_posix()
    assert re.fullmatch(
        r"capture/monitored/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl",
        rel,
    ), rel
    event = json.loads(new[0].read_text())
    assert event["eventVersion"] == "0"
    assert event["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "0.1,0.2,0.3,0.4",
        "encoding": "CSV",
    }
    output = event["captureData"]["endpointOutput"]
    assert output["mode"] == "OUTPUT" and output["data"] == answer.decode()
    assert event["eventMetadata"]["inferenceId"] == "inf-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["eventMetadata"]["inferenceTime"])


@pytest.fixture
def sdk_env(server: Any, monkeypatch: pytest.MonkeyPatch, restore_root_logger: None) -> None:
    """The SDK makes some clients of its own (S3 reads of reports): point them at the server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)


def sdk_session(client: Callable[..., Any]) -> Any:
    from sagemaker.session import Session

    return Session(
        boto_session=boto3.Session(region_name="us-east-1"),
        sagemaker_client=client("sagemaker"),
        sagemaker_runtime_client=client("sagemaker-runtime"),
        default_bucket=BUCKET,
    )


def test_drifted_traffic_reports_the_drifted_features_and_no_others(
    client: Callable[..., Any], server: Any, endpoint: str, sdk_env: None
) -> None:
    from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    s3 = client("s3")
    baseline = "f0,f1,f2,f3\n" + csv_text(features(1000, 1))
    s3.put_object(Bucket=BUCKET, Key="baseline/data.csv", Body=baseline.encode())
    session = sdk_session(client)
    monitor = DefaultModelMonitor(
        role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session
    )
    monitor.suggest_baseline(
        baseline_dataset=f"s3://{BUCKET}/baseline/data.csv",
        dataset_format=DatasetFormat.csv(header=True),
        output_s3_uri=f"s3://{BUCKET}/baseline/out",
        job_name="baseline-job",
        wait=True,
        logs=False,
    )
    statistics = monitor.baseline_statistics().body_dict
    constraints = monitor.suggested_constraints().body_dict
    assert [f["name"] for f in statistics["features"]] == FEATURES
    assert statistics["dataset"]["item_count"] == 1000
    kll = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sum(b["count"] for b in kll["buckets"]) == 1000
    assert (
        constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
    )

    runtime = client("sagemaker-runtime")
    drifted = features(600, 2, DRIFTED)
    for chunk in np.array_split(drifted, 30):
        runtime.invoke_endpoint(EndpointName=endpoint, Body=csv_text(chunk), ContentType="text/csv")

    monitor.create_monitoring_schedule(
        monitor_schedule_name="drift",
        endpoint_input=endpoint,
        output_s3_uri=f"s3://{BUCKET}/reports",
        statistics=monitor.baseline_statistics(),
        constraints=monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.hourly(),
    )
    sm = client("sagemaker")
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="drift")
    assert described["MonitoringScheduleStatus"] == "Scheduled"
    assert (
        described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
        == "cron(0 * ? * * *)"
    )

    summary = server.runtime.sagemaker.run_monitoring_schedule("drift")
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations", summary
    executions = sm.list_monitoring_executions(MonitoringScheduleName="drift")
    [execution] = executions["MonitoringExecutionSummaries"]
    job = sm.describe_processing_job(
        ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1]
    )
    output = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, key = output[len("s3://") :].split("/", 1)
    report = json.loads(
        s3.get_object(Bucket=bucket, Key=f"{key}/constraint_violations.json")["Body"].read()
    )
    flagged = {v["feature_name"] for v in report["violations"]}
    assert flagged == DRIFTED, report
    assert {v["constraint_check_type"] for v in report["violations"]} == {"baseline_drift_check"}
    latest = monitor.latest_monitoring_constraint_violations()
    assert {v["feature_name"] for v in latest.body_dict["violations"]} == DRIFTED
    # The CLI's way through a server (`python -m workflows monitor drift`): a NOW copy.
    from workflows.monitoring import run_schedule_now
    from workflows.target import ServerTarget

    again = run_schedule_now(ServerTarget(server.url), "drift")
    assert again["MonitoringExecutionStatus"] == "CompletedWithViolations", again
    assert again["MonitoringScheduleName"].startswith("drift-now-")
    names = [
        s["MonitoringScheduleName"]
        for s in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]
    ]
    assert not [n for n in names if n.startswith("drift-now-")]


def test_schedule_lifecycle_and_bad_cron(client: Callable[..., Any], endpoint: str) -> None:
    sm = client("sagemaker")
    definition = {
        "JobDefinitionName": "dq-def",
        "DataQualityAppSpecification": {
            "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
        },
        "DataQualityJobInput": {
            "EndpointInput": {
                "EndpointName": endpoint,
                "LocalPath": "/opt/ml/processing/input/endpoint",
            }
        },
        "DataQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/dq",
                        "LocalPath": "/opt/ml/processing/output",
                    }
                }
            ]
        },
        "JobResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 20,
            }
        },
        "RoleArn": ROLE,
    }
    sm.create_data_quality_job_definition(**definition)
    assert sm.describe_data_quality_job_definition(JobDefinitionName="dq-def")["JobDefinitionArn"]
    listed = sm.list_data_quality_job_definitions(EndpointName=endpoint)["JobDefinitionSummaries"]
    assert "dq-def" in [s["MonitoringJobDefinitionName"] for s in listed]
    config = {
        "MonitoringJobDefinitionName": "dq-def",
        "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "every hour"},
    }
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_monitoring_schedule(MonitoringScheduleName="bad", MonitoringScheduleConfig=config)
    assert "cron(0 * ? * * *)" in e.value.response["Error"]["Message"]
    config["ScheduleConfig"] = {"ScheduleExpression": "cron(0 0 ? * * *)"}
    sm.create_monitoring_schedule(MonitoringScheduleName="daily", MonitoringScheduleConfig=config)
    sm.stop_monitoring_schedule(MonitoringScheduleName="daily")
    assert (
        sm.describe_monitoring_schedule(MonitoringScheduleName="daily")["MonitoringScheduleStatus"]
        == "Stopped"
    )
    sm.start_monitoring_schedule(MonitoringScheduleName="daily")
    names = [
        s["MonitoringScheduleName"]
        for s in sm.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"]
    ]
    assert "daily" in names
    with pytest.raises(botocore.exceptions.ClientError):
        sm.delete_data_quality_job_definition(JobDefinitionName="dq-def")
    sm.delete_monitoring_schedule(MonitoringScheduleName="daily")
    sm.delete_data_quality_job_definition(JobDefinitionName="dq-def")


def test_cron_schedule_fires_through_the_scheduler() -> None:
    from datetime import UTC, datetime

    from localaws.sagemaker.monitor import cron_iter

    start = datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert cron_iter("cron(0 * ? * * *)", start).get_next(datetime) == datetime(
        2026, 1, 1, 11, 0, tzinfo=UTC
    )
    # AWS numbers days of the week from 1 = Sunday.
    assert cron_iter("cron(0 8 ? * 2 *)", start).get_next(datetime).strftime("%a") == "Mon"


def test_model_quality_merges_ground_truth(
    client: Callable[..., Any], server: Any, endpoint: str, sdk_env: None
) -> None:
    from sagemaker.model_monitor import CronExpressionGenerator, EndpointInput, ModelQualityMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    s3, runtime = client("s3"), client("sagemaker-runtime")
    X = features(200, 5)
    truth = (X[:, 0] > 0).astype(int)
    booster_scores = []
    for i, row in enumerate(X[:80]):
        out = runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=csv_text(row[None, :]),
            ContentType="text/csv",
            InferenceId=f"id-{i}",
        )
        booster_scores.append(float(out["Body"].read()))
    # Baseline: the model's own scores on labelled data.
    lines = ["probability,prediction,label"] + [
        f"{p},{int(p >= 0.5)},{t}" for p, t in zip(booster_scores, truth[:80], strict=True)
    ]
    s3.put_object(Bucket=BUCKET, Key="mq/baseline.csv", Body="\n".join(lines).encode())
    # Ground truth, inverted for half the records so that quality drops.
    now = time.gmtime()
    gt = "\n".join(
        json.dumps(
            {
                "groundTruthData": {
                    "data": str(int(t) if i % 2 else 1 - int(t)),
                    "encoding": "CSV",
                },
                "eventMetadata": {"eventId": f"id-{i}"},
                "eventVersion": "0",
            }
        )
        for i, t in enumerate(truth[:80])
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"mq/gt/{time.strftime('%Y/%m/%d/%H', now)}/labels.jsonl",
        Body=gt.encode(),
    )

    monitor = ModelQualityMonitor(
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        sagemaker_session=sdk_session(client),
    )
    monitor.suggest_baseline(
        baseline_dataset=f"s3://{BUCKET}/mq/baseline.csv",
        dataset_format=DatasetFormat.csv(header=True),
        output_s3_uri=f"s3://{BUCKET}/mq/baseline-out",
        problem_type="BinaryClassification",
        inference_attribute="prediction",
        probability_attribute="probability",
        ground_truth_attribute="label",
        job_name="mq-baseline",
        wait=True,
        logs=False,
    )
    baseline = monitor.baseline_statistics().body_dict["binary_classification_metrics"]
    assert baseline["accuracy"]["value"] > 0.8 and "auc" in baseline
    monitor.create_monitoring_schedule(
        monitor_schedule_name="quality",
        endpoint_input=EndpointInput(
            endpoint_name=endpoint,
            destination="/opt/ml/processing/input_data",
            start_time_offset="-PT1H",
            end_time_offset="-PT0H",
            probability_attribute="0",
            probability_threshold_attribute=0.5,
        ),
        ground_truth_input=f"s3://{BUCKET}/mq/gt",
        problem_type="BinaryClassification",
        output_s3_uri=f"s3://{BUCKET}/mq/reports",
        constraints=monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.hourly(),
    )
    summary = server.runtime.sagemaker.run_monitoring_schedule("quality")
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations", summary
    violations = monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    assert "accuracy" in {v["metric_name"] for v in violations}


def test_analyzer_keeps_same_distribution_clean() -> None:
    names = FEATURES
    base_rows = [[f"{v}" for v in row] for row in features(1000, 7)]
    stats = monitor_analyzer.data_statistics(names, base_rows)
    constraints = monitor_analyzer.suggest_constraints(stats)
    same = [[f"{v}" for v in row] for row in features(500, 8)]
    _, violations = monitor_analyzer.check_data_quality(names, same, stats, constraints)
    assert violations == []
    typed = [[*row[:1], "abc", *row[2:]] for row in same]
    _, violations = monitor_analyzer.check_data_quality(names, typed, stats, constraints)
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("f1", "data_type_check")
    ]


def test_analyzer_reports_are_indented_with_each_sketchs_items_on_one_line(
    tmp_path: Path,
) -> None:
    """statistics.json reads as before (two-space indent), but a KLL sketch's items, the bulk
    of it, are one line a level: the C encoder writes them."""
    rows = [[f"{v}" for v in row] for row in features(3000, 7)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text(
        ",".join(FEATURES) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    )
    monitor_analyzer.run(
        {
            "dataset_source": str(tmp_path / "data"),
            "output_path": str(tmp_path / "out"),
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "analysis_type": "DATA_QUALITY",
        }
    )
    text = (tmp_path / "out" / "statistics.json").read_text()
    stats = json.loads(text)
    assert [f["name"] for f in stats["features"]] == FEATURES
    sketch = stats["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"]
    assert sum(len(level) for level in sketch["data"]) > 1000
    assert len(text.splitlines()) < 100 * len(FEATURES)  # not a line a number
    assert text.startswith('{\n  "version": 0.0,\n  "dataset": {\n    "item_count": 3000\n  },')
    level = json.dumps(sketch["data"][0])
    assert any(line.strip() in (level, level + ",") for line in text.splitlines())


def test_now_schedule_runs_once_and_reports_an_empty_window(
    client: Callable[..., Any], endpoint: str
) -> None:
    """ScheduleExpression NOW (AWS's one-time schedule) runs right away over its window; an
    execution with no captured data in it fails with the reason."""
    sm = client("sagemaker")
    runtime = client("sagemaker-runtime")
    runtime.invoke_endpoint(EndpointName=endpoint, Body=b"0,0,0,0", ContentType="text/csv")
    sm.create_monitoring_schedule(
        MonitoringScheduleName="once",
        MonitoringScheduleConfig={
            "ScheduleConfig": {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT0H",
                "DataAnalysisEndTime": "-PT0H",
            },
            "MonitoringType": "DataQuality",
            "MonitoringJobDefinition": {
                "MonitoringInputs": [
                    {
                        "EndpointInput": {
                            "EndpointName": endpoint,
                            "LocalPath": "/opt/ml/processing/input/endpoint",
                        }
                    }
                ],
                "MonitoringOutputConfig": {
                    "MonitoringOutputs": [
                        {
                            "S3Output": {
                                "S3Uri": f"s3://{BUCKET}/once",
                                "LocalPath": "/opt/ml/processing/output",
                            }
                        }
                    ]
                },
                "MonitoringResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 20,
                    }
                },
                "MonitoringAppSpecification": {
                    "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
                },
                "RoleArn": ROLE,
            },
        },
    )

    def finished() -> dict[str, Any] | None:
        found = sm.list_monitoring_executions(MonitoringScheduleName="once")
        done = [
            e
            for e in found["MonitoringExecutionSummaries"]
            if e["MonitoringExecutionStatus"] not in ("Pending", "InProgress")
        ]
        return done[0] if done else None

    execution = wait_for(finished, "the NOW execution")
    assert execution["MonitoringExecutionStatus"] == "Failed"
    assert "no records to analyze" in execution["FailureReason"]
    assert execution["ProcessingJobArn"].startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-"
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="once")
    assert described["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"] == "Failed"


def test_window_ending_within_a_captures_second_includes_it(
    client: Callable[..., Any], server: Any, endpoint: str
) -> None:
    """Captures stamp inferenceTime to the second; a window ending 0.5 s into that second (a NOW
    schedule created right after the traffic) must still see them, one starting then must not."""
    from datetime import UTC, datetime, timedelta

    before = set(capture_files(server))
    client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, Body=b"0,0,0,0", ContentType="text/csv"
    )
    [new] = sorted(set(capture_files(server)) - before)
    stamp = json.loads(new.read_text())["eventMetadata"]["inferenceTime"]
    second = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    sm = client("sagemaker")
    sm.create_monitoring_schedule(
        MonitoringScheduleName="same-second",
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 0 ? * * *)"},
            "MonitoringType": "DataQuality",
            "MonitoringJobDefinition": {
                "MonitoringInputs": [
                    {
                        "EndpointInput": {
                            "EndpointName": endpoint,
                            "LocalPath": "/opt/ml/processing/input/endpoint",
                        }
                    }
                ],
                "MonitoringOutputConfig": {
                    "MonitoringOutputs": [
                        {
                            "S3Output": {
                                "S3Uri": f"s3://{BUCKET}/same-second",
                                "LocalPath": "/opt/ml/processing/output",
                            }
                        }
                    ]
                },
                "MonitoringResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 20,
                    }
                },
                "MonitoringAppSpecification": {
                    "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
                },
                "RoleArn": ROLE,
            },
        },
    )
    run = server.runtime.sagemaker.run_monitoring_schedule
    half = second + timedelta(milliseconds=500)
    ending = run("same-second", DataAnalysisStartTime=second, DataAnalysisEndTime=half)
    assert ending["MonitoringExecutionStatus"] == "Completed", ending
    starting = run(
        "same-second", DataAnalysisStartTime=half, DataAnalysisEndTime=half + timedelta(seconds=1)
    )
    assert starting["MonitoringExecutionStatus"] == "Failed", starting
    assert "no records to analyze" in starting["FailureReason"]
    sm.delete_monitoring_schedule(MonitoringScheduleName="same-second")
