"""Every botocore session in the runtime's process reads service models through one loader:
the server's parsing, moto's region lookups, the in-process clients and the SDK's sessions decoded
the same JSON models again, each in its own session (about 110 MB of a server's memory)."""

from __future__ import annotations

import boto3
import botocore.session

from localaws.botocore_model import share_service_models


def test_sessions_made_after_sharing_hold_one_copy_of_a_model() -> None:
    share_service_models()
    first = botocore.session.get_session().get_service_data("sqs")
    second = boto3.session.Session(region_name="us-east-1")._session.get_service_data("sqs")
    assert first is second


def test_a_client_still_works_over_the_shared_model() -> None:
    share_service_models()
    client = boto3.session.Session(region_name="us-east-1").client(
        "sqs", aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert client.meta.service_model.operation_model("SendMessage").input_shape.required_members
