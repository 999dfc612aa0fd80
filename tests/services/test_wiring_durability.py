"""Wiring keeps what it acknowledged across ``kill -9`` of the server: records buffered by
Firehose (not yet delivered) reach the local S3 after the restart."""

from __future__ import annotations

import signal
from pathlib import Path

from test_durability import clients, start_serve
from wiring_support import wait_for

ROLE = "arn:aws:iam::123456789012:role/firehose"


def test_buffered_firehose_records_survive_kill_9(tmp_path: Path) -> None:
    process, url = start_serve(tmp_path)
    try:
        c = clients(url)
        c("s3").create_bucket(Bucket="lake")
        firehose = c("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="ratings",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": "arn:aws:s3:::lake",
                "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
            },
        )
        for i in range(10):
            firehose.put_record(DeliveryStreamName="ratings", Record={"Data": f"{i}\n".encode()})
        assert "Contents" not in c("s3").list_objects_v2(Bucket="lake")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    process, url = start_serve(tmp_path)
    try:
        c = clients(url)
        firehose = c("firehose")
        described = firehose.describe_delivery_stream(DeliveryStreamName="ratings")
        description = described["DeliveryStreamDescription"]
        firehose.update_destination(
            DeliveryStreamName="ratings",
            CurrentDeliveryStreamVersionId=description["VersionId"],
            DestinationId=description["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate={
                "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 0}
            },
        )
        s3 = c("s3")
        [key] = wait_for(
            "the buffered records' object",
            lambda: [o["Key"] for o in s3.list_objects_v2(Bucket="lake").get("Contents", [])],
        )
        body = s3.get_object(Bucket="lake", Key=key)["Body"].read().decode()
        assert body.splitlines() == [str(i) for i in range(10)]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
