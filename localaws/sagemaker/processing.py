"""Processing jobs: inputs to local paths, the container's command, outputs back to S3.

Each ``ProcessingInputs[].S3Input`` is downloaded to its ``LocalPath`` and each
``ProcessingOutputConfig.Outputs[].S3Output.LocalPath`` is created empty; both live under
``/opt/ml/processing``, which maps to ``<job dir>/processing``.  The command is
``AppSpecification.ContainerEntrypoint + ContainerArguments`` with ``python``/``python3`` run
as this interpreter, in a mount namespace where ``/opt/ml`` is the job's directory
(:mod:`localaws.sagemaker.sandbox`); without one, every ``/opt/ml/processing`` path in the
arguments is rewritten to the job's directory and the job log says so.  On
a zero exit every file under each output path is uploaded to its ``S3Uri``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localaws.errors import UserError
from localaws.sagemaker import sandbox
from localaws.sagemaker.training import (
    base_environment,
    download_prefix,
    failure_reason,
    interrupt_check,
    job_dir,
    log_path,
    supervise,
)

if TYPE_CHECKING:
    from localaws.runtime import Runtime

CONTAINER_ROOT = "/opt/ml/processing"
ANALYZER_IMAGE = "sagemaker-model-monitor-analyzer"  # the Model Monitor image's repository
CONFIG_PATH = "/opt/ml/config/processingjobconfig.json"
PYTHONS = (
    "python",
    "python3",
    "/usr/bin/python3",
    "/usr/local/bin/python3",
    "/usr/bin/python",
    "/usr/local/bin/python",
)


def local_path(root: Path, container_path: str, where: str) -> Path:
    """``/opt/ml/processing/input/x`` -> ``<root>/processing/input/x``; refuse other paths."""
    clean = container_path.rstrip("/")
    if clean != CONTAINER_ROOT and not clean.startswith(CONTAINER_ROOT + "/"):
        raise UserError(
            f"{where} {container_path!r}: must be under {CONTAINER_ROOT}/ (as on SageMaker)"
        )
    rel = clean[len(CONTAINER_ROOT) :].lstrip("/")
    if ".." in rel.split("/"):
        raise UserError(f"{where} {container_path!r}: '..' is not allowed")
    return root / "processing" / rel


def translate(arg: str, root: Path) -> str:
    """Rewrite container paths inside an argument to the job's directory."""
    return arg.replace(CONTAINER_ROOT, str(root / "processing")).replace(
        "/opt/ml/config", str(root / "config")
    )


def entrypoint(app: Mapping[str, Any]) -> list[str]:
    """The job's ContainerEntrypoint, else the image's own when it runs locally (the Model
    Monitor analyzer)."""
    if app.get("ContainerEntrypoint"):
        return list(app["ContainerEntrypoint"])
    if ANALYZER_IMAGE in (app.get("ImageUri") or ""):
        return ["python3", "-m", "localaws.sagemaker.monitor_analyzer"]
    return []


def default_names(operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A CreateProcessingJob request with each unnamed input and output named as AWS names
    them (``input-1``, ``output-1``...): the Data Science SDK's ProcessingStep sends inputs
    without names and AWS accepts them.  Other operations' requests are returned as they are."""
    out = dict(request)
    if operation != "CreateProcessingJob":
        return out
    if isinstance(out.get("ProcessingInputs"), list):
        out["ProcessingInputs"] = [
            {**item, "InputName": item.get("InputName") or f"input-{i + 1}"}
            if isinstance(item, dict)
            else item
            for i, item in enumerate(out["ProcessingInputs"])
        ]
    config = out.get("ProcessingOutputConfig")
    if isinstance(config, dict) and isinstance(config.get("Outputs"), list):
        out["ProcessingOutputConfig"] = {
            **config,
            "Outputs": [
                {**item, "OutputName": item.get("OutputName") or f"output-{i + 1}"}
                if isinstance(item, dict)
                else item
                for i, item in enumerate(config["Outputs"])
            ],
        }
    return out


def check_entry_script(entry: list[str], arguments: list[str]) -> None:
    """A ``python script.py`` entry point must be a script under /opt/ml/processing (where
    the job's inputs, its code included, are downloaded); ``-m module`` and ``-c`` are fine."""
    command = entry + arguments
    if not command or command[0] not in PYTHONS:
        return
    for i, arg in enumerate(command[1:], start=1):
        if arg in ("-m", "-c"):
            return
        if arg.startswith("-"):
            continue
        field = (
            f"AppSpecification.ContainerEntrypoint[{i}]"
            if i < len(entry)
            else f"AppSpecification.ContainerArguments[{i - len(entry)}]"
        )
        clean = arg.rstrip("/")
        inside = clean.startswith(CONTAINER_ROOT + "/") and ".." not in clean.split("/")
        if not inside:
            raise UserError(
                f"{field} {arg!r}: the script must be under {CONTAINER_ROOT}/ (a ProcessingInput's "
                f"LocalPath, e.g. {CONTAINER_ROOT}/input/code/script.py); other paths and '..' "
                "are refused"
            )
        return


def check_job(job: Mapping[str, Any]) -> None:
    """What CreateProcessingJob refuses up front."""
    app = job["AppSpecification"]
    if not entrypoint(app):
        raise UserError(
            "AppSpecification.ContainerEntrypoint: required locally (the image's own entrypoint "
            "cannot run without Docker); give e.g. ['python3', '/opt/ml/processing/input/code/script.py']"
        )
    check_entry_script(entrypoint(app), list(app.get("ContainerArguments") or []))
    root = Path("/")
    for i, item in enumerate(job.get("ProcessingInputs") or []):
        if item.get("S3Input") is None:
            raise UserError(
                f"ProcessingInputs[{i}]: only S3Input runs locally (input {item.get('InputName')!r})"
            )
        local_path(
            root, item["S3Input"].get("LocalPath") or "", f"ProcessingInputs[{i}].S3Input.LocalPath"
        )
    for i, item in enumerate((job.get("ProcessingOutputConfig") or {}).get("Outputs") or []):
        if item.get("S3Output") is None:
            raise UserError(f"ProcessingOutputConfig.Outputs[{i}]: only S3Output runs locally")
        local_path(
            root,
            item["S3Output"]["LocalPath"],
            f"ProcessingOutputConfig.Outputs[{i}].S3Output.LocalPath",
        )


def upload_dir(runtime: Runtime, directory: Path, uri: str) -> int:
    """Upload every file under ``directory`` to ``uri``/<relative path>; return the count."""
    count = 0
    base = uri.rstrip("/")
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            runtime.storage.upload_from(path, f"{base}/{path.relative_to(directory).as_posix()}")
            count += 1
    return count


def run_processing_job(
    runtime: Runtime,
    job: Mapping[str, Any],
    *,
    cancelled: threading.Event,
    deadline: float | None,
) -> None:
    """Run a CreateProcessingJob request to the end; raise UserError (the FailureReason) on failure."""
    name = job["ProcessingJobName"]
    root = job_dir(runtime, "processing", name)
    log = log_path(runtime, "processing", name)
    log.write_text("")
    check = interrupt_check(cancelled, deadline)
    for i, item in enumerate(job.get("ProcessingInputs") or []):
        s3 = item["S3Input"]
        dest = local_path(
            root, s3.get("LocalPath") or "", f"ProcessingInputs[{i}].S3Input.LocalPath"
        )
        count = download_prefix(
            runtime, s3["S3Uri"], dest, data_type=s3.get("S3DataType", "S3Prefix"), check=check
        )
        if count == 0:
            raise UserError(
                f"ClientError: ProcessingInputs {item['InputName']!r}: no objects under {s3['S3Uri']}"
            )
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for i, item in enumerate(outputs):
        local_path(root, item["S3Output"]["LocalPath"], f"Outputs[{i}]").mkdir(
            parents=True, exist_ok=True
        )
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "processingjobconfig.json").write_text(json.dumps(dict(job), default=str))
    (config_dir / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    app = job["AppSpecification"]
    command = [*entrypoint(app), *(app.get("ContainerArguments") or [])]
    if command[0] in PYTHONS:
        command[0] = sys.executable
    with open(log, "a") as fh:
        fh.write(sandbox.note(root))
    sandboxed = sandbox.available()  # /opt/ml is the job's directory: paths as they are
    if not sandboxed:
        command = [translate(a, root) for a in command]
    env = base_environment(runtime.credentials)
    env.update(job.get("Environment") or {})
    env["PYTHONUNBUFFERED"] = "1"
    code = supervise(
        command,
        env=env,
        cwd=root,
        log_path=log,
        cancelled=cancelled,
        deadline=deadline,
        opt_ml=root if sandboxed else None,
    )
    if code != 0:
        raise UserError(
            failure_reason(
                root / "output", code, log, "AlgorithmError: See job logs for more information"
            )
        )
    for item in outputs:
        s3 = item["S3Output"]
        upload_dir(runtime, local_path(root, s3["LocalPath"], "LocalPath"), s3["S3Uri"])
