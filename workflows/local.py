"""Run the workflow on a target: register the Lambdas, upload data, execute, follow.

Everything here talks to a :class:`workflows.target.Target` (the runtime in this process,
a local server, or AWS), which :func:`workflows.target.open_target` chooses for the CLI.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws.errors import ServiceError
from workflows.settings import Settings
from workflows.target import ExecutionView, LocalTarget, Target
from workflows.target import new_run_id as new_run_id  # the notebook's run ids

LAMBDA_ROLE = "arn:aws:iam::123456789012:role/predictive-maintenance-lambda"
RAW_OBJECT = "ai4i2020.csv"


# -- the pieces of a run ----------------------------------------------------------------


def state_machine_arn(target: Target, name: str) -> str:
    return target.arn("states", f"stateMachine:{name}")


def deploy_state_machine(target: Target, settings: Settings, definition: dict[str, Any]) -> str:
    """Create the state machine, or update it when it exists; return its ARN."""
    return target.put_state_machine(settings.name, definition, settings.roles.state_machine)


def lambda_zip() -> bytes:
    """The deployment package, the same one AWS gets: ``lambdas/`` at the root and
    ``localaws/lambdakit/`` (:func:`workflows.functions.build_lambda_package`)."""
    from workflows.functions import build_lambda_package

    with tempfile.TemporaryDirectory(prefix="lambda-package-") as tmp:
        return build_lambda_package(Path(tmp) / "lambda.zip").read_bytes()


def register_lambdas(target: Target, *, functions_file: str | Path | None = None) -> list[str]:
    """Create every function of ``functions_file`` (default lambdas/functions.yaml), or
    update it when it exists."""
    from workflows.functions import load_functions

    code = lambda_zip()
    names = []
    for spec in load_functions(functions_file):
        put_function(target, spec, code, LAMBDA_ROLE, dict(spec.environment))
        names.append(spec.name)
    return names


def put_function(
    target: Target, spec: Any, code: bytes, role: str, environment: dict[str, str]
) -> None:
    """Create the function of ``spec`` (a :class:`workflows.functions.FunctionSpec`) with
    this code, or update its code and configuration when it exists."""
    config: dict[str, Any] = {
        "Runtime": spec.runtime,
        "Role": role,
        "Handler": spec.handler,
        "Description": spec.description,
        "Timeout": spec.timeout,
        "MemorySize": spec.memory,
        "Environment": {"Variables": environment},
    }
    try:
        target.lambda_.get_function(FunctionName=spec.name)
    except ServiceError as e:
        if e.code != "ResourceNotFoundException":
            raise
        try:
            target.lambda_.create_function(FunctionName=spec.name, Code={"ZipFile": code}, **config)
            return
        except ServiceError as e:  # created meanwhile (serve's start hook, another run)
            if e.code != "ResourceConflictException":
                raise
    target.lambda_.update_function_code(FunctionName=spec.name, ZipFile=code)
    target.lambda_.update_function_configuration(FunctionName=spec.name, **config)


PREDICTIONS_KEY = "prediction_id"  # the predict Lambda's key (lambdas/common/predictions.py)


def ensure_predictions_table(target: Target, name: str) -> None:
    """Create the predictions table in the local DynamoDB when missing (on AWS the stack
    creates it, with the same key)."""
    dynamodb = target.backend("dynamodb")
    try:
        dynamodb.describe_table(TableName=name)
        return
    except ServiceError as e:
        if e.code != "ResourceNotFoundException":
            raise
    try:
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": PREDICTIONS_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PREDICTIONS_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ServiceError as e:  # created meanwhile (serve's start hook, another run)
        if e.code != "ResourceInUseException":
            raise


def upload_raw(target: Target, uri_prefix: str, body: bytes | Path) -> str:
    """Put the raw CSV (bytes, or a file streamed without being read into memory) under
    ``uri_prefix``; returns its URI."""
    uri = uri_prefix + RAW_OBJECT
    target.ensure_bucket(uri.removeprefix("s3://").split("/", 1)[0])
    if isinstance(body, Path):
        target.storage.upload_from(body, uri)
    else:
        target.storage.write(uri, body)
    return uri


def upload_raw_data(
    target: Target, uri_prefix: str, *, data_file: str | Path | None, rows: int, seed: int
) -> tuple[str, int]:
    """Upload the user's file, or generated rows, as the raw CSV; returns (URI, bytes).

    Neither is held in memory while the workflow runs: the file is streamed, and generated
    rows are written to a temporary file (as ``DataFrame.to_csv(index=False)`` writes them)
    whose frame is freed and given back to the OS before the upload (at 1,000,000 rows the
    frame and its text held ~300 MB in this process, the runtime's, for the whole run).
    """
    if data_file is not None:
        path = Path(data_file)
        return upload_raw(target, uri_prefix, path), path.stat().st_size
    with tempfile.TemporaryDirectory(prefix="raw-") as tmp:
        path = Path(tmp) / RAW_OBJECT
        _write_generated(path, rows, seed)
        give_back_memory()
        return upload_raw(target, uri_prefix, path), path.stat().st_size


def _write_generated(path: Path, rows: int, seed: int) -> None:
    from workflows import ai4i_data

    ai4i_data.generate(rows, seed).to_csv(path, index=False)


def give_back_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise), so that a large frame
    built in this long-lived process stops counting against the run."""
    import contextlib
    import ctypes
    import gc
    import sys

    gc.collect()
    if "pyarrow" in sys.modules:  # pandas' string columns live in pyarrow's own pool
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def ensure_model_package_group(target: Target, name: str) -> None:
    """Create the model registry's group when missing (on AWS the stack creates it)."""
    try:
        target.sagemaker.describe_model_package_group(ModelPackageGroupName=name)
        return
    except ServiceError as e:
        if e.code != "ValidationException":
            raise
    try:
        target.sagemaker.create_model_package_group(
            ModelPackageGroupName=name,
            ModelPackageGroupDescription="Predictive maintenance: featurizer + XGBoost pipelines",
        )
    except ServiceError:  # created meanwhile (serve's start hook, another run)?
        target.sagemaker.describe_model_package_group(ModelPackageGroupName=name)


def upload_featurizer(target: Target, settings: Settings) -> str:
    """Put the featurizer job's script where the FeaturizeData state reads it."""
    from workflows import predictive_maintenance_pipeline as pipeline

    uri = pipeline.code_uri(settings)
    target.ensure_bucket(settings.data.bucket)
    target.storage.write(uri, pipeline.FEATURIZER_SCRIPT.read_bytes())
    return uri


def prepare_pipeline(target: Target, settings: Settings) -> Any:
    """What the inference-pipeline variant needs before it starts: the HTTP API, the model
    package group and the featurizer's script.  Returns the HTTP API."""
    from workflows.http_api import ensure_http_api

    api = ensure_http_api(target, settings)
    ensure_model_package_group(target, settings.registry.group)
    upload_featurizer(target, settings)
    return api


def endpoint_exists(target: Target, name: str) -> bool:
    try:
        target.sagemaker.describe_endpoint(EndpointName=name)
    except ServiceError as e:
        if e.code in ("ValidationException", "ResourceNotFound"):
            return False
        raise
    return True


def prepare_console(target: LocalTarget, settings: Settings) -> str:
    """What a fresh ``serve`` offers in the console: the state machine, its Lambdas and
    table, raw data and an example input with its per-run fields, so that the console's
    Start button runs the use case (and again, with fresh names).  Nothing is done when the
    state machine and its example input are already there.  Returns the machine's ARN."""
    import json

    from localaws.store import atomic_write
    from workflows import predictive_maintenance as pm

    layout = target.runtime.layout
    arn = state_machine_arn(target, settings.name)
    try:
        target.stepfunctions.describe_state_machine(stateMachineArn=arn)
        if layout.example(settings.name).is_file():
            return arn
    except ServiceError as e:
        if e.code != "StateMachineDoesNotExist":
            raise
    # Never replaces a machine a run has put meanwhile (its variant may be another one: the
    # run would then start the definition this hook put); the run writes its own example.
    definition = pm.definition(settings)
    arn = target.put_state_machine(
        settings.name, definition, settings.roles.state_machine, replace=False
    )
    described = target.stepfunctions.describe_state_machine(stateMachineArn=arn)
    if json.loads(described["definition"]) != definition:
        return arn
    register_lambdas(target)
    ensure_predictions_table(target, settings.prediction.table)
    if pm.pipeline_mode(settings):
        prepare_pipeline(target, settings)
    example = pm.example_input(
        settings, new_run_id(), endpoint_exists=endpoint_exists(target, settings.endpoint.name)
    )
    upload_raw_data(
        target,
        example["RawDataUri"],
        data_file=None,
        rows=settings.data.rows,
        seed=settings.data.seed,
    )
    atomic_write(layout.example(settings.name), json.dumps(example, indent=2).encode())
    atomic_write(layout.example_per_run(settings.name), json.dumps(pm.per_run(settings)).encode())
    return arn


# -- one whole run ----------------------------------------------------------------------


@dataclass
class RunResult:
    run_id: str
    execution_arn: str
    input: dict[str, Any]
    view: ExecutionView
    seconds: dict[str, float]  # setup phases: register, upload, execute
    api: Any = None  # workflows.http_api.HttpApi of a pipeline run

    @property
    def succeeded(self) -> bool:
        return self.view.status == "SUCCEEDED"


def run_workflow(
    target: Target,
    settings: Settings,
    *,
    data_file: str | Path | None = None,
    rows: int | None = None,
    seed: int | None = None,
    run_id: str | None = None,
    on_update: Callable[[ExecutionView], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> RunResult:
    """Deploy the state machine and the Lambdas, upload the data, run once, follow it."""
    from workflows import predictive_maintenance as pm

    def phase(text: str) -> None:
        if on_phase is not None:
            on_phase(text)

    timings: dict[str, float] = {}
    run_id = run_id or new_run_id()
    t0 = time.perf_counter()
    phase("building the state machine")
    arn = deploy_state_machine(target, settings, pm.definition(settings))
    phase("registering the Lambda functions")
    register_lambdas(target)
    ensure_predictions_table(target, settings.prediction.table)
    api = None
    if pm.pipeline_mode(settings):
        phase("creating the HTTP API")
        api = prepare_pipeline(target, settings)
    timings["deploy"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    execution_input = pm.example_input(
        settings, run_id, endpoint_exists=endpoint_exists(target, settings.endpoint.name)
    )
    phase("generating the raw data" if data_file is None else "uploading the raw data")
    _uri, size = upload_raw_data(
        target,
        execution_input["RawDataUri"],
        data_file=data_file,
        rows=rows or settings.data.rows,
        seed=settings.data.seed if seed is None else seed,
    )
    phase(f"uploaded {size:,} bytes of raw data")
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    execution_arn = target.start(arn, execution_input, name=run_id)
    view = target.follow(execution_arn, on_update)
    timings["execution"] = time.perf_counter() - t0
    return RunResult(run_id, execution_arn, execution_input, view, timings, api)
