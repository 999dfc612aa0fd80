"""Distributed Map: ItemReader over the local S3, ItemBatcher, ResultWriter, tolerated
failures, Map Runs and redrive (Step Functions developer guide, "Distributed Map state")."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sfn_helpers import create, execute, history, open_backend, wait_for

from localaws.errors import ServiceError
from localaws.stepfunctions.backend import StepFunctionsBackend

BUCKET = "data"


@pytest.fixture
def sfn(tmp_path: Any) -> Iterator[StepFunctionsBackend]:
    yield from open_backend(tmp_path)


def put(sfn: StepFunctionsBackend, key: str, body: bytes | str, bucket: str = BUCKET) -> None:
    s3 = sfn.runtime.s3
    if not s3.bucket_dir(bucket).is_dir():
        s3.create_bucket(bucket)
    sfn.runtime.storage.write(
        f"s3://{bucket}/{key}", body.encode() if isinstance(body, str) else body
    )


def get(sfn: StepFunctionsBackend, key: str, bucket: str = BUCKET) -> Any:
    return json.loads(sfn.runtime.storage.read(f"s3://{bucket}/{key}"))


def distributed(processor_states: dict[str, Any], start: str, **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": start,
                    "States": processor_states,
                },
                "End": True,
                **fields,
            }
        },
    }


PASS_CHILD = {"Pass": {"Type": "Pass", "End": True}}

# A child that fails for rows marked fail=yes, unless it is a redrive of that child.
FLAKY_CHILD = {
    "Check": {
        "Type": "Choice",
        "Choices": [
            {
                "And": [
                    {"Variable": "$.fail", "StringEquals": "yes"},
                    {"Variable": "$$.Execution.RedriveCount", "NumericEquals": 0},
                ],
                "Next": "Boom",
            }
        ],
        "Default": "Done",
    },
    "Boom": {"Type": "Fail", "Error": "Row.Bad", "Cause": "row marked to fail"},
    "Done": {"Type": "Pass", "End": True},
}


def test_items_from_input_run_as_child_executions_recorded_as_a_map_run(
    sfn: StepFunctionsBackend,
) -> None:
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemsPath="$.items",
        ItemSelector={"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
        Label="Squares",
    )
    done = execute(sfn, definition, {"items": [1, 2, 3]})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [
        {"value": 1, "index": 0},
        {"value": 2, "index": 1},
        {"value": 3, "index": 2},
    ]
    runs = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"]
    assert len(runs) == 1
    map_run = runs[0]["mapRunArn"]
    assert ":mapRun:machine/Squares:" in map_run
    assert runs[0]["stateMachineArn"].endswith(":stateMachine:machine/Squares")
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["status"] == "SUCCEEDED"
    assert described["itemCounts"]["succeeded"] == 3
    assert described["itemCounts"]["total"] == 3
    assert described["executionCounts"]["succeeded"] == 3
    children = sfn.list_executions(mapRunArn=map_run)["executions"]
    assert len(children) == 3
    assert {c["status"] for c in children} == {"SUCCEEDED"}
    assert all(c["mapRunArn"] == map_run for c in children)
    assert all(":execution:machine/Squares:" in c["executionArn"] for c in children)
    types = [e["type"] for e in history(sfn, done["executionArn"])]
    assert types == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
    started = [e for e in history(sfn, done["executionArn"]) if e["type"] == "MapRunStarted"]
    assert started[0]["mapRunStartedEventDetails"] == {"mapRunArn": map_run}
    child_history = history(sfn, children[0]["executionArn"])
    assert child_history[0]["type"] == "ExecutionStarted"


@pytest.mark.parametrize(
    ("input_type", "body", "config", "expected"),
    [
        ("JSON", json.dumps([{"a": 1}, {"a": 2}]), {}, [{"a": 1}, {"a": 2}]),
        ("JSONL", '{"a": 1}\n{"a": 2}\n', {}, [{"a": 1}, {"a": 2}]),
        (
            "CSV",
            "rating,movie\n4,Heat\n5,Alien\n",
            {"CSVHeaderLocation": "FIRST_ROW"},
            [{"rating": "4", "movie": "Heat"}, {"rating": "5", "movie": "Alien"}],
        ),
        (
            "CSV",
            "4|Heat\n5|Alien\n",
            {
                "CSVHeaderLocation": "GIVEN",
                "CSVHeaders": ["rating", "movie"],
                "CSVDelimiter": "PIPE",
            },
            [{"rating": "4", "movie": "Heat"}, {"rating": "5", "movie": "Alien"}],
        ),
        ("JSON", json.dumps([1, 2, 3, 4]), {"MaxItems": 2}, [1, 2]),
    ],
    ids=["json", "jsonl", "csv-first-row", "csv-given-headers-pipe", "max-items"],
)
def test_item_reader_get_object(
    sfn: StepFunctionsBackend, input_type: str, body: str, config: dict[str, Any], expected: Any
) -> None:
    put(sfn, "in/items", body)
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": input_type, **config},
            "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"},
        },
    )
    done = execute(sfn, definition, {"key": "in/items"})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == expected


def test_item_reader_list_objects_gives_aws_object_items(sfn: StepFunctionsBackend) -> None:
    put(sfn, "images/a.jpg", b"12345")
    put(sfn, "images/b.jpg", b"1")
    put(sfn, "other/c.jpg", b"1")
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": BUCKET, "Prefix": "images/"},
        },
    )
    done = execute(sfn, definition)
    items = json.loads(done["output"])
    assert [i["Key"] for i in items] == ["images/a.jpg", "images/b.jpg"]
    assert items[0]["Size"] == 5
    assert set(items[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert isinstance(items[0]["LastModified"], int)


def test_item_reader_s3_inventory_manifest(sfn: StepFunctionsBackend) -> None:
    put(sfn, "inventory/data/part-0.csv.gz", gzip.compress(b'"data","x/1.csv"\n"data","x/2.csv"\n'))
    manifest = {
        "sourceBucket": BUCKET,
        "destinationBucket": f"arn:aws:s3:::{BUCKET}",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key",
        "files": [{"key": "inventory/data/part-0.csv.gz", "size": 10, "MD5checksum": "x"}],
    }
    put(sfn, "inventory/manifest.json", json.dumps(manifest))
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "MANIFEST"},
            "Parameters": {"Bucket": BUCKET, "Key": "inventory/manifest.json"},
        },
    )
    done = execute(sfn, definition)
    assert json.loads(done["output"]) == [
        {"Bucket": "data", "Key": "x/1.csv"},
        {"Bucket": "data", "Key": "x/2.csv"},
    ]


def test_missing_object_fails_with_item_reader_failed(sfn: StepFunctionsBackend) -> None:
    sfn.runtime.s3.create_bucket(BUCKET)
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": BUCKET, "Key": "nope.json"},
        },
    )
    done = execute(sfn, definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.ItemReaderFailed"
    assert "NoSuchKey" in done["cause"]


def test_item_batcher_groups_items_with_batch_input(sfn: StepFunctionsBackend) -> None:
    definition = distributed(
        PASS_CHILD,
        "Pass",
        ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"factor.$": "$.factor"}},
    )
    arn = create(sfn, definition)
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1, 2, 3]))
    # ItemsPath defaults to the whole input: an array here.
    done = sfn.wait(started["executionArn"], timeout=20)
    assert done["status"] == "FAILED"  # $.factor cannot be read from an array input
    definition["States"]["Map"]["ItemsPath"] = "$.items"
    done = execute(sfn, definition, {"items": [1, 2, 3], "factor": 7}, name="batched")
    assert json.loads(done["output"]) == [
        {"BatchInput": {"factor": 7}, "Items": [1, 2]},
        {"BatchInput": {"factor": 7}, "Items": [3]},
    ]
    run = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"][0]["mapRunArn"]
    counts = sfn.describe_map_run(mapRunArn=run)
    assert counts["itemCounts"]["succeeded"] == 3
    assert counts["executionCounts"]["succeeded"] == 2


def test_max_input_bytes_per_batch_splits_batches(sfn: StepFunctionsBackend) -> None:
    definition = distributed(PASS_CHILD, "Pass", ItemBatcher={"MaxInputBytesPerBatch": 30})
    done = execute(sfn, definition, ["aaaaaaaa", "bbbbbbbb", "cccccccc"])
    batches = json.loads(done["output"])
    assert [len(b["Items"]) for b in batches] == [1, 1, 1] or [
        len(b["Items"]) for b in batches
    ] == [
        2,
        1,
    ]
    assert all(len(json.dumps(b)) <= 30 or len(b["Items"]) == 1 for b in batches)


def test_any_failure_without_tolerance_fails_the_map_run(sfn: StepFunctionsBackend) -> None:
    definition = distributed(FLAKY_CHILD, "Check")
    done = execute(sfn, definition, [{"fail": "no"}, {"fail": "yes"}])
    assert done["status"] == "FAILED"
    assert done["error"] == "States.ExceedToleratedFailureThreshold"
    run = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run)["status"] == "FAILED"
    types = [e["type"] for e in history(sfn, done["executionArn"])]
    assert "MapRunFailed" in types and "MapStateFailed" in types


def test_csv_of_100_rows_with_tolerated_failures_writes_results_and_redrive_reruns_failed(
    sfn: StepFunctionsBackend,
) -> None:
    rows = ["id,fail"] + [f"{i},{'yes' if i % 10 == 3 else 'no'}" for i in range(100)]
    put(sfn, "input/rows.csv", "\n".join(rows) + "\n")
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": BUCKET, "Key": "input/rows.csv"},
    }
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": "results"},
    }
    # Within tolerance (10 of 100 failed, 10% tolerated): the Map Run succeeds.
    tolerant = distributed(
        FLAKY_CHILD,
        "Check",
        ItemReader=reader,
        ResultWriter=writer,
        ToleratedFailurePercentage=10,
        MaxConcurrency=8,
    )
    done = execute(sfn, tolerant, name="tolerant")
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    map_run = output["MapRunArn"]
    run_id = map_run.rsplit(":", 1)[1]
    assert output["ResultWriterDetails"] == {
        "Bucket": BUCKET,
        "Key": f"results/{run_id}/manifest.json",
    }
    manifest = get(sfn, f"results/{run_id}/manifest.json")
    assert manifest["DestinationBucket"] == BUCKET
    assert manifest["MapRunArn"] == map_run
    assert set(manifest["ResultFiles"]) == {"FAILED", "PENDING", "SUCCEEDED"}
    assert [f["Key"] for f in manifest["ResultFiles"]["SUCCEEDED"]] == [
        f"results/{run_id}/SUCCEEDED_0.json"
    ]
    assert [f["Key"] for f in manifest["ResultFiles"]["FAILED"]] == [
        f"results/{run_id}/FAILED_0.json"
    ]
    assert manifest["ResultFiles"]["PENDING"] == []
    succeeded = get(sfn, f"results/{run_id}/SUCCEEDED_0.json")
    failed = get(sfn, f"results/{run_id}/FAILED_0.json")
    assert len(succeeded) == 90 and len(failed) == 10
    size = len(sfn.runtime.storage.read(f"s3://{BUCKET}/results/{run_id}/SUCCEEDED_0.json"))
    assert manifest["ResultFiles"]["SUCCEEDED"][0]["Size"] == size
    entry = succeeded[0]
    assert {
        "ExecutionArn",
        "Input",
        "InputDetails",
        "Name",
        "Output",
        "OutputDetails",
        "RedriveCount",
        "RedriveStatus",
        "StartDate",
        "StateMachineArn",
        "Status",
        "StopDate",
    } <= set(entry)
    assert entry["Status"] == "SUCCEEDED"
    assert json.loads(entry["Input"]) == json.loads(entry["Output"])
    assert failed[0]["Error"] == "Row.Bad" and failed[0]["Status"] == "FAILED"
    assert json.loads(failed[0]["Input"])["fail"] == "yes"

    # Over tolerance (10 failed > 5%): the Map Run fails; a redrive re-runs only the failed.
    strict = distributed(
        FLAKY_CHILD, "Check", ItemReader=reader, ResultWriter=writer, ToleratedFailurePercentage=5
    )
    done = execute(sfn, strict, name="strict")
    assert done["status"] == "FAILED"
    assert done["error"] == "States.ExceedToleratedFailureThreshold"
    map_run = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"][0]["mapRunArn"]
    before = {
        c["executionArn"]: c["status"]
        for c in sfn.list_executions(mapRunArn=map_run, maxResults=1000)["executions"]
    }
    assert "FAILED" in before.values()
    sfn.redrive_execution(executionArn=done["executionArn"])
    redone = sfn.wait(done["executionArn"], timeout=30)
    assert redone["status"] == "SUCCEEDED", redone
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["status"] == "SUCCEEDED"
    assert described["redriveCount"] == 1
    # Items that never started before run now for the first time (and may fail within the
    # tolerance); every child that failed or was aborted is redriven and succeeds.
    counts = described["itemCounts"]
    assert counts["succeeded"] + counts["failed"] == counts["total"] == 100
    after = sfn.list_executions(mapRunArn=map_run, maxResults=1000)["executions"]
    assert len(after) == 100
    for child in after:
        previous = before.get(child["executionArn"])
        if previous == "SUCCEEDED":
            assert child["redriveCount"] == 0, "a succeeded item ran again"
        elif previous is not None:
            assert child["redriveCount"] == 1, "a failed item was not redriven"
            assert child["status"] == "SUCCEEDED"
        else:
            assert child["redriveCount"] == 0
    types = [e["type"] for e in history(sfn, done["executionArn"])]
    assert "MapRunRedriven" in types
    run_id = map_run.rsplit(":", 1)[1]
    manifest = get(sfn, f"results/{run_id}/manifest.json")
    assert manifest["ResultFiles"]["PENDING"] == []
    assert len(get(sfn, f"results/{run_id}/SUCCEEDED_0.json")) == counts["succeeded"]


def test_update_map_run_and_unknown_map_run(sfn: StepFunctionsBackend) -> None:
    done = execute(sfn, distributed(PASS_CHILD, "Pass"), [1])
    run = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"][0]["mapRunArn"]
    sfn.update_map_run(mapRunArn=run, maxConcurrency=3, toleratedFailureCount=2)
    described = sfn.describe_map_run(mapRunArn=run)
    assert described["maxConcurrency"] == 3
    assert described["toleratedFailureCount"] == 2
    with pytest.raises(ServiceError) as raised:
        sfn.describe_map_run(mapRunArn=run + "x")
    assert raised.value.code == "ResourceNotFound"


def test_result_writer_only_in_a_distributed_map_is_refused_at_creation(
    sfn: StepFunctionsBackend,
) -> None:
    definition = {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "ItemBatcher": {"MaxItemsPerBatch": 2},
                "End": True,
            }
        },
    }
    with pytest.raises(Exception, match="ItemBatcher: only a Distributed Map"):
        create(sfn, definition)


def test_stopping_the_parent_aborts_the_map_run_and_its_children(
    sfn: StepFunctionsBackend,
) -> None:
    waiting_child = {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::local:passthrough.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"},
            "End": True,
        }
    }
    arn = create(sfn, distributed(waiting_child, "Wait", MaxConcurrency=2))
    parent = sfn.start_execution(stateMachineArn=arn, input="[1, 2, 3]")["executionArn"]

    def two_children_running() -> str | None:
        runs = sfn.list_map_runs(executionArn=parent)["mapRuns"]
        if not runs:
            return None
        children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"], statusFilter="RUNNING")
        return runs[0]["mapRunArn"] if len(children["executions"]) == 2 else None

    map_run = wait_for(two_children_running, what="two running children")
    sfn.stop_execution(executionArn=parent, error="Stop.It")
    assert sfn.wait(parent, timeout=20)["status"] == "ABORTED"
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["status"] == "ABORTED"
    assert described["executionCounts"]["aborted"] == 2
    assert described["itemCounts"]["pending"] == 1
    assert "MapRunAborted" in [e["type"] for e in history(sfn, parent)]


def test_a_map_run_interrupted_by_a_restart_is_redriven(tmp_path: Any) -> None:
    from sfn_helpers import registry

    from localaws.runtime import Runtime

    child = {
        "First": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$$.Execution.RedriveCount", "NumericEquals": 0, "Next": "Hang"}
            ],
            "Default": "Done",
        },
        "Hang": {
            "Type": "Task",
            "Resource": "arn:aws:states:::local:passthrough.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"},
            "End": True,
        },
        "Done": {"Type": "Pass", "End": True},
    }
    sfn = StepFunctionsBackend(Runtime(tmp_path / "state"), registry())
    arn = create(sfn, distributed(child, "First"))
    parent = sfn.start_execution(stateMachineArn=arn, input="[1, 2]")["executionArn"]

    def children_waiting() -> bool:
        runs = sfn.list_map_runs(executionArn=parent)["mapRuns"]
        if not runs:
            return False
        running = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"], statusFilter="RUNNING")
        return len(running["executions"]) == 2

    wait_for(children_waiting, what="both children waiting")
    sfn.close()  # a restart: the executions are interrupted
    sfn.db.close()

    sfn = StepFunctionsBackend(Runtime(tmp_path / "state"), registry())
    try:
        sfn.recover()
        assert sfn.describe_execution(executionArn=parent)["status"] == "FAILED"
        map_run = sfn.list_map_runs(executionArn=parent)["mapRuns"][0]["mapRunArn"]
        assert sfn.describe_map_run(mapRunArn=map_run)["status"] in ("FAILED", "ABORTED")
        sfn.redrive_execution(executionArn=parent)
        done = sfn.wait(parent, timeout=20)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == [1, 2]
        assert sfn.describe_map_run(mapRunArn=map_run)["redriveCount"] == 1
    finally:
        sfn.close()
        sfn.db.close()
