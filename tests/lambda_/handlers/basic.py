"""Handlers the Lambda tests run in worker processes (zipped by the tests' fixture)."""

import os
import subprocess
import sys
import time

CALLS = {"count": 0}


class ModelNotReadyError(Exception):
    """A handler's own exception class, for Catch by errorType."""


def echo(event, context):
    return {"event": event}


def context_fields(event, context):
    CALLS["count"] += 1
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "calls": CALLS["count"],
        "cwd": os.getcwd(),
        "sys_path_0": sys.path[0],
    }


def environment(event, context):
    print("environment requested")
    return dict(os.environ)


def fail(event, context):
    print("about to fail")
    raise ValueError(f"bad input: {event.get('why', 'no reason')}")


def not_ready(event, context):
    raise ModelNotReadyError("the endpoint is still Creating")


def sleep(event, context):
    if event.get("started_file"):  # tells the test that the handler runs
        with open(event["started_file"], "w") as fh:
            fh.write("started")
    time.sleep(float(event.get("seconds", 60)))
    return {"slept": event.get("seconds")}


def rendezvous(event, context):
    """Wait until ``count`` invocations have arrived in ``dir``: only concurrent ones can."""
    directory = event["dir"]
    with open(os.path.join(directory, str(os.getpid())), "w") as fh:
        fh.write("here")
    deadline = time.monotonic() + float(event.get("timeout", 20))
    while len(os.listdir(directory)) < event["count"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(directory))} invocation(s) arrived")
        time.sleep(0.01)
    return {"pid": os.getpid()}


def spawn_and_sleep(event, context):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(event["pid_file"], "w") as fh:
        fh.write(str(child.pid))
    time.sleep(120)


def crash(event, context):
    sys.stdout.flush()
    os._exit(3)


def unserializable(event, context):
    return {"when": object()}


def third_party(event, context):
    import boto3

    return {"boto3": boto3.__version__}


def storage_roundtrip(event, context):
    from localaws.lambdakit.storage import storage_from_env

    store = storage_from_env()
    store.write(event["uri"], event["body"].encode())
    return {"read": store.read(event["uri"]).decode(), "kind": type(store).__name__}
