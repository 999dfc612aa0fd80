"""Script mode for the XGBoost and scikit-learn framework images.

The SageMaker Python SDK's framework estimators pass the user's code as two hyperparameters:
``sagemaker_submit_directory`` (the S3 URI of ``sourcedir.tar.gz``) and ``sagemaker_program``
(the entry point inside it).  Like the SageMaker training toolkit, :func:`run_script`
extracts the code, JSON-decodes the remaining hyperparameters, and runs the entry point in a
subprocess (this interpreter) with ``--name value`` arguments and the container's ``SM_*``
environment, each ``/opt/ml/...`` location mapped to the job's directory.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from localaws.errors import UserError
from localaws.sagemaker import sandbox
from localaws.sagemaker.training import (
    base_environment,
    extract_archive,
    failure_reason,
    supervise,
    thread_environment,
)

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SAGEMAKER_HPS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_estimator_class_name",
    "sagemaker_estimator_module",
)
CURRENT_HOST = "algo-1"


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """JSON-decode each value as the toolkit does (the SDK JSON-encodes them); raw text otherwise."""
    decoded: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            decoded[name] = json.loads(value)
        except (TypeError, ValueError):
            decoded[name] = value
    return decoded


def to_cmd_args(hps: Mapping[str, Any]) -> list[str]:
    """``{"max_depth": 5}`` -> ``["--max_depth", "5"]`` (sorted, like the toolkit)."""
    args: list[str] = []
    for name in sorted(hps):
        value = hps[name]
        args += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    return args


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def container_environment(
    job: Mapping[str, Any],
    root: Path,
    channels: Mapping[str, Any],
    user_hps: Mapping[str, Any],
    num_cpus: int,
    visible_root: Path | None = None,
) -> dict[str, str]:
    """The ``SM_*`` variables the training toolkit sets; paths under ``visible_root`` (the
    job's directory as the script sees it: /opt/ml in a sandbox), else under ``root``."""
    raw = job.get("HyperParameters") or {}
    decoded = decode_hyperparameters(raw)
    program = decoded["sagemaker_program"]
    input_config = json.loads((root / "input" / "config" / "inputdataconfig.json").read_text())
    resource_config = {
        "current_host": CURRENT_HOST,
        "hosts": [CURRENT_HOST],
        "network_interface_name": "eth0",
    }
    seen = visible_root or root
    channel_dirs = {name: str(seen / "input" / "data" / name) for name in channels}
    paths = {
        "model_dir": str(seen / "model"),
        "input_dir": str(seen / "input"),
        "input_config_dir": str(seen / "input" / "config"),
        "output_dir": str(seen / "output"),
        "output_data_dir": str(seen / "output" / "data"),
        "output_intermediate_dir": str(seen / "output" / "intermediate"),
    }
    module_name = program[:-3] if program.endswith(".py") else program
    training_env = {
        "additional_framework_parameters": {},
        "channel_input_dirs": channel_dirs,
        "current_host": CURRENT_HOST,
        "framework_module": None,
        "hosts": [CURRENT_HOST],
        "hyperparameters": dict(user_hps),
        "input_data_config": input_config,
        "is_master": True,
        "job_name": job["TrainingJobName"],
        "log_level": int(decoded.get("sagemaker_container_log_level", 20)),
        "master_hostname": CURRENT_HOST,
        "module_dir": decoded["sagemaker_submit_directory"],
        "module_name": module_name,
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "resource_config": resource_config,
        "user_entry_point": program,
        **paths,
    }
    env: dict[str, str] = {
        "SM_" + key.upper(): _env_value(value)
        for key, value in training_env.items()
        if value is not None
    }
    env["SM_CHANNELS"] = json.dumps(sorted(channels))
    for name, directory in channel_dirs.items():
        env[f"SM_CHANNEL_{name.upper()}"] = directory
    env["SM_HPS"] = json.dumps(dict(user_hps))
    for name, value in user_hps.items():
        env[f"SM_HP_{name.upper()}"] = _env_value(value)
    env["SM_USER_ARGS"] = json.dumps(to_cmd_args(user_hps))
    env["SM_TRAINING_ENV"] = json.dumps(training_env)
    env["TRAINING_JOB_NAME"] = job["TrainingJobName"]
    env["TRAINING_JOB_ARN"] = job.get("TrainingJobArn", "")
    return env


def program_path(code_dir: Path | None, program: str, field: str) -> Path:
    """The entry point ``program`` inside ``code_dir``; a UserError naming ``field`` when it
    is absolute, climbs out with ``..`` or resolves (through a link) outside the directory."""
    parts = PurePosixPath(program).parts
    refused = UserError(
        f"{field} {program!r}: the entry point must be a relative path inside the source "
        "directory (sourcedir.tar.gz), e.g. 'train.py'; absolute paths and '..' are refused"
    )
    if not program or PurePosixPath(program).is_absolute() or ".." in parts:
        raise refused
    if code_dir is None:
        return Path(program)
    path = (code_dir / program).resolve()
    if not path.is_relative_to(code_dir.resolve()):
        raise refused
    return path


def run_script(
    runtime: Runtime,
    job: Mapping[str, Any],
    root: Path,
    channels: Mapping[str, Any],
    *,
    cancelled: threading.Event,
    deadline: float | None,
    log: Path,
    num_cpus: int,
) -> None:
    """Download and extract the code, run the entry point with ``num_cpus`` CPUs (the job's
    share, :class:`~localaws.sagemaker.training.CpuShare`: ``SM_NUM_CPUS`` and
    ``OMP_NUM_THREADS``); raise UserError on a non-zero exit."""
    decoded = decode_hyperparameters(job.get("HyperParameters") or {})
    program = str(decoded["sagemaker_program"])
    submit = str(decoded["sagemaker_submit_directory"])
    code_dir = root / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    if not runtime.storage.exists(submit):
        raise UserError(
            f"ClientError: HyperParameters.sagemaker_submit_directory {submit!r}: no such object; "
            "upload sourcedir.tar.gz there or fix the URI"
        )
    archive = root / "sourcedir.tar.gz"
    runtime.storage.download_to(submit, archive)
    extract_archive(archive, code_dir)
    entry = program_path(code_dir, program, "ClientError: HyperParameters.sagemaker_program")
    if not entry.is_file():
        raise UserError(
            f"ClientError: HyperParameters.sagemaker_program {program!r}: not found in "
            f"{submit}; check the entry_point name"
        )
    user_hps = {k: v for k, v in decoded.items() if k not in SAGEMAKER_HPS}
    command = [sys.executable, program, *to_cmd_args(user_hps)]
    sandboxed = sandbox.available()  # /opt/ml is the job's directory, as in the container
    visible = Path(sandbox.CONTAINER_ROOT) if sandboxed else root
    env = base_environment(runtime.credentials)
    env.update(thread_environment(num_cpus, job.get("Environment")))
    env.update(job.get("Environment") or {})
    env.update(container_environment(job, root, channels, user_hps, num_cpus, visible))
    env["PYTHONPATH"] = str(visible / "code")
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "a") as fh:
        fh.write(sandbox.note(root))
        fh.write(
            f"Invoking script with the following command:\n\n{sys.executable} {program} {' '.join(to_cmd_args(user_hps))}\n\n"
        )
    code = supervise(
        command,
        env=env,
        cwd=code_dir,
        log_path=log,
        cancelled=cancelled,
        deadline=deadline,
        opt_ml=root if sandboxed else None,
    )
    if code != 0:
        raise UserError(
            failure_reason(
                root / "output",
                code,
                log,
                f'AlgorithmError: ExecuteUserScriptError: Command "{program}"',
            )
        )
