"""Runs a training job: data in, a worker process, model.tar.gz out.

:func:`run_training_job` is called by the SageMaker backend in a background thread.  It

1. downloads every channel of ``InputDataConfig`` into ``<job dir>/input/data/<channel>``
   (the container's ``/opt/ml/input/data/<channel>``), writes the container's config files;
2. picks a built-in algorithm (image ``sagemaker-xgboost`` without ``sagemaker_program``, or
   ``factorization-machines``: :data:`BUILTIN_ALGORITHMS`) or script mode (``sagemaker_program`` + ``sagemaker_submit_directory``
   on the XGBoost or scikit-learn framework images) and runs it in a worker process that
   :func:`supervise` kills on StopTrainingJob or when ``MaxRuntimeInSeconds`` passes;
3. packages ``<job dir>/model`` as ``model.tar.gz`` and uploads it to
   ``{S3OutputPath}/{TrainingJobName}/output/model.tar.gz`` (and ``output.tar.gz`` from the
   output data directory when the job wrote something there).  Uploads are atomic: a failed
   or stopped job leaves no half-written artifact.

A failure raises :class:`UserError` whose message is the job's FailureReason; a stop or
timeout raises :class:`JobInterrupted`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localaws.errors import PlatformError, UserError
from localaws.sagemaker import forkserver
from localaws.sagemaker.metrics import final_metrics

if TYPE_CHECKING:
    from localaws.runtime import Runtime

Report = Callable[[str, str], None]  # (SecondaryStatus, StatusMessage)

BUILTIN_XGBOOST_REPOSITORY = "sagemaker-xgboost"
BUILTIN_FM_REPOSITORY = "factorization-machines"
# The built-in algorithms that run locally: image repository -> the worker's module.
BUILTIN_ALGORITHMS = {
    BUILTIN_XGBOOST_REPOSITORY: "localaws.sagemaker.xgboost_algorithm",
    BUILTIN_FM_REPOSITORY: "localaws.sagemaker.fm_algorithm",
}
FRAMEWORK_REPOSITORIES = ("sagemaker-xgboost", "sagemaker-scikit-learn")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding ``localaws``


class JobInterrupted(Exception):
    """The job was stopped (``reason='stopped'``) or ran past MaxRuntimeInSeconds ('timeout')."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- images ------------------------------------------------------------------------------


def image_repository(image: str) -> str:
    """``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1`` -> ``sagemaker-xgboost``."""
    path = image.split("@")[0].rsplit("/", 1)[-1]
    return path.split(":")[0]


def training_mode(job: Mapping[str, Any]) -> str:
    """``builtin`` or ``script``; raises UserError for a job that cannot run locally."""
    spec = job.get("AlgorithmSpecification") or {}
    hps = job.get("HyperParameters") or {}
    image = spec.get("TrainingImage")
    if not image:
        raise UserError(
            "AlgorithmSpecification.TrainingImage: required locally (AlgorithmName is not supported); "
            "use sagemaker.image_uris.retrieve('xgboost', ...)"
        )
    repo = image_repository(image)
    if "sagemaker_program" in hps:
        if repo not in FRAMEWORK_REPOSITORIES:
            raise UserError(
                f"AlgorithmSpecification.TrainingImage {image!r}: script mode runs locally only for "
                f"the {' and '.join(FRAMEWORK_REPOSITORIES)} framework images"
            )
        if "sagemaker_submit_directory" not in hps:
            raise UserError(
                "HyperParameters.sagemaker_submit_directory: required with sagemaker_program; "
                "give the S3 URI of sourcedir.tar.gz"
            )
        from localaws.sagemaker.script_mode import program_path

        try:
            program = json.loads(hps["sagemaker_program"])
        except (TypeError, ValueError):
            program = hps["sagemaker_program"]
        program_path(None, str(program), "HyperParameters.sagemaker_program")
        return "script"
    if repo in BUILTIN_ALGORITHMS:
        return "builtin"
    raise UserError(
        f"AlgorithmSpecification.TrainingImage {image!r}: only the built-in XGBoost and "
        "Factorization Machines algorithms (sagemaker-xgboost, factorization-machines) and "
        "script mode (sagemaker_program) run locally"
    )


def algorithm_repository(job: Mapping[str, Any]) -> str:
    """The training image's repository (``sagemaker-xgboost``, ``factorization-machines``...)."""
    return image_repository(job["AlgorithmSpecification"]["TrainingImage"])


def check_job(job: Mapping[str, Any]) -> None:
    """What CreateTrainingJob refuses up front (before any record is written)."""
    mode = training_mode(job)
    channels = job.get("InputDataConfig") or []
    for i, channel in enumerate(channels):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise UserError(
                f"InputDataConfig[{i}].DataSource: only S3DataSource runs locally (channel {channel.get('ChannelName')!r})"
            )
        if source.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
            raise UserError(
                f"InputDataConfig[{i}].DataSource.S3DataSource.S3DataType {source['S3DataType']!r}: "
                "only S3Prefix and ManifestFile run locally"
            )
    if mode == "builtin" and algorithm_repository(job) == BUILTIN_FM_REPOSITORY:
        from localaws.sagemaker import fm_algorithm

        fm_algorithm.parse_hyperparameters(job.get("HyperParameters"))
        fm_algorithm.check_channels(channels)
    elif mode == "builtin":
        from localaws.sagemaker import hyperparameters as hpv
        from localaws.sagemaker.xgboost_algorithm import data_format

        names = {c["ChannelName"] for c in channels}
        if "train" not in names:
            raise UserError(
                "InputDataConfig: the built-in XGBoost algorithm needs a channel named 'train'; add it"
            )
        values = hpv.parse(job.get("HyperParameters"))
        if values.get("early_stopping_rounds") and "validation" not in names:
            raise hpv.HyperparameterError(
                "early_stopping_rounds",
                "needs a validation channel; add a 'validation' channel or remove early_stopping_rounds",
            )
        for channel in channels:
            data_format(channel.get("ContentType"))


# -- storage helpers ------------------------------------------------------------------------


def _relative(prefix: str, uri: str) -> str:
    rel = uri[len(prefix) :].lstrip("/")
    return rel or uri.rsplit("/", 1)[-1]


def download_prefix(
    runtime: Runtime,
    uri: str,
    dest: Path,
    *,
    data_type: str = "S3Prefix",
    check: Callable[[], None] | None = None,
    link: bool = False,
) -> int:
    """Download every object under ``uri`` (or listed by a manifest) into ``dest``; return the count."""
    dest.mkdir(parents=True, exist_ok=True)
    storage = runtime.storage
    if data_type == "ManifestFile":
        manifest = json.loads(storage.read(uri))
        base = manifest[0]["prefix"]
        uris = [base + rel for rel in manifest[1:]]
        prefix = base
    else:
        # As on SageMaker, each object keeps its key relative to the prefix itself: with or
        # without a trailing slash, s3://b/data/train holding data/train/x.csv gives <dest>/x.csv
        # (an S3Uri that names one object gives <dest>/<its name>).
        uris = [u for u in storage.list(uri) if not u.endswith("/")]
        prefix = uri
        if not uris and storage.exists(uri):
            uris = [uri]
    for item in uris:
        if check is not None:
            check()
        target = dest / _relative(prefix, item)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link and hasattr(storage, "path"):
            try:  # read-only consumers share the local object's bytes instead of copying them
                os.link(storage.path(item), target)
                continue
            except OSError:
                pass
        storage.download_to(item, target)
    return len(uris)


def package_dir(directory: Path, archive: Path) -> None:
    """``directory``'s files as a gzipped tar with paths relative to it (as SageMaker packs)."""
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)


def extract_archive(
    archive: Path, dest: Path, *, what: str | None = None, fix: str = "package it with tar czf"
) -> None:
    """Extract a tar.gz, refusing members that would land outside ``dest``; a bad archive is
    a UserError naming ``what`` (default: the archive's file name) and the ``fix``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{what or archive.name}: not a valid tar.gz archive ({e}); {fix}") from e


# -- CPUs ------------------------------------------------------------------------------------


def machine_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CpuShare:
    """Divides the machine's CPUs among the job processes that run at once.

    On SageMaker each training job has its instance to itself and its algorithm uses every
    CPU of it.  Locally the jobs share one machine: two jobs that each start one OpenMP
    thread per CPU run twice as many threads as there are CPUs, in separate processes, and
    OpenMP's busy-waiting threads then take the CPUs from each other (two 2-thread XGBoost
    trainings side by side on 2 CPUs ran 6x slower than the same trainings with one thread
    each).  A job claims its share when its process starts: the CPUs divided by the number
    of jobs running (itself included) or, for a job of a tuning job, by the number of
    trainings its tuning job runs at a time (:meth:`expect`), whichever is larger."""

    def __init__(self, cpus: Callable[[], int] = machine_cpus):
        self._cpus = cpus
        self._lock = threading.Lock()
        self._active = 0
        self._expected: dict[str, int] = {}

    def forget(self, job_name: str) -> None:
        """Drop the expectation of a job that ended before it claimed its share."""
        with self._lock:
            self._expected.pop(job_name, None)

    def expect(self, job_name: str, concurrent: int) -> None:
        """``job_name`` will run alongside up to ``concurrent - 1`` others (a tuning job's
        MaxParallelTrainingJobs); said before its CreateTrainingJob."""
        with self._lock:
            self._expected[job_name] = max(1, concurrent)

    @contextmanager
    def claim(self, job_name: str) -> Iterator[int]:
        """The number of threads the job's process should use, while it runs."""
        with self._lock:
            self._active += 1
            expected = self._expected.pop(job_name, 1)
            threads = max(1, self._cpus() // max(self._active, expected))
        try:
            yield threads
        finally:
            with self._lock:
                self._active -= 1


CPU_SHARE = CpuShare()


def thread_environment(threads: int, user_env: Mapping[str, str] | None) -> dict[str, str]:
    """``OMP_NUM_THREADS`` for a job's process (its share of the CPUs), unless the job's own
    ``Environment`` sets it; a warm worker applies it to its already loaded OpenMP runtime."""
    if user_env and "OMP_NUM_THREADS" in user_env:
        return {}
    return {"OMP_NUM_THREADS": str(threads)}


def environment_threads(env: Mapping[str, str], default: int) -> int:
    """The job's ``OMP_NUM_THREADS`` when it is a positive integer, else ``default``."""
    try:
        value = int(env.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return default
    return value if value > 0 else default


# -- the worker process ----------------------------------------------------------------------


def base_environment(credentials: tuple[str, str] | None = None) -> dict[str, str]:
    """The minimal environment a worker starts from (the venv's bin first on PATH), with the
    access key pair it signs calls to the local server with."""
    env = {k: os.environ[k] for k in ("HOME", "LANG", "TZ", "TMPDIR") if k in os.environ}
    path = os.environ.get("PATH", "/usr/bin:/bin")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    if credentials is not None:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = credentials
    return env


def _kill(proc: subprocess.Popen[bytes] | forkserver.WarmProcess) -> None:
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def supervise(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    cancelled: threading.Event,
    deadline: float | None,
    opt_ml: Path | None = None,
) -> int:
    """Run ``command`` in its own process group, output appended to ``log_path`` (a fork of
    the warm template when it is this interpreter running a module or a script); with
    ``opt_ml``, in a mount namespace where that directory is /opt/ml (``forkserver.spawn``).

    Returns its exit code; kills the whole group and raises JobInterrupted when ``cancelled``
    is set ('stopped') or the monotonic ``deadline`` passes ('timeout').
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            proc = forkserver.spawn(
                command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, opt_ml=opt_ml
            )
        except OSError as e:
            raise UserError(f"could not start {command[0]!r}: {e.strerror}") from e
        try:
            while True:
                try:
                    return proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
                if cancelled.is_set():
                    _kill(proc)
                    raise JobInterrupted("stopped")
                if deadline is not None and time.monotonic() >= deadline:
                    _kill(proc)
                    raise JobInterrupted("timeout")
        except BaseException:
            if proc.poll() is None:
                _kill(proc)
            raise


def interrupt_check(cancelled: threading.Event, deadline: float | None) -> Callable[[], None]:
    def check() -> None:
        if cancelled.is_set():
            raise JobInterrupted("stopped")
        if deadline is not None and time.monotonic() >= deadline:
            raise JobInterrupted("timeout")

    return check


def failure_reason(output_dir: Path, exit_code: int, log_path: Path, default: str) -> str:
    """The container's ``/opt/ml/output/failure`` text, else ``default`` with the log's last line."""
    failure = output_dir / "failure"
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
        if text:
            return text[:1024]
    last = ""
    if log_path.is_file():
        lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else ""
    detail = f': "{last}"' if last else ""
    return f"{default} (exit code {exit_code}){detail}; see the job log {log_path}"[:1024]


# -- the job ---------------------------------------------------------------------------------


def job_dir(runtime: Runtime, kind: str, name: str) -> Path:
    """A fresh working directory for a job (the container's /opt/ml)."""
    root = runtime.layout.jobs(kind) / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


def log_path(runtime: Runtime, kind: str, name: str) -> Path:
    """Where a job's log is kept: ``<state dir>/logs/<kind>/<name>.log``."""
    path = runtime.layout.log(kind, name)
    runtime.layout.made(path.parent)
    return path


def write_config(root: Path, job: Mapping[str, Any]) -> None:
    """The container's /opt/ml/input/config files."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(job.get("HyperParameters") or {}))
    channels = {
        c["ChannelName"]: {
            "ContentType": c.get("ContentType"),
            "TrainingInputMode": c.get("InputMode")
            or job["AlgorithmSpecification"].get("TrainingInputMode", "File"),
            "S3DistributionType": c["DataSource"]["S3DataSource"].get(
                "S3DistributionType", "FullyReplicated"
            ),
            "RecordWrapperType": c.get("RecordWrapperType", "None"),
        }
        for c in job.get("InputDataConfig") or []
    }
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(
        json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
        )
    )


def model_artifact_uri(job: Mapping[str, Any]) -> str:
    return f"{job['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job['TrainingJobName']}/output/model.tar.gz"


def run_training_job(
    runtime: Runtime,
    job: Mapping[str, Any],
    *,
    cancelled: threading.Event,
    deadline: float | None,
    report: Report,
) -> dict[str, Any]:
    """Run a CreateTrainingJob request to the end; return ``{"ModelArtifacts", "FinalMetricDataList"}``."""
    try:
        return _run_training_job(
            runtime, job, cancelled=cancelled, deadline=deadline, report=report
        )
    finally:
        CPU_SHARE.forget(job["TrainingJobName"])


def _run_training_job(
    runtime: Runtime,
    job: Mapping[str, Any],
    *,
    cancelled: threading.Event,
    deadline: float | None,
    report: Report,
) -> dict[str, Any]:
    name = job["TrainingJobName"]
    mode = training_mode(job)
    check = interrupt_check(cancelled, deadline)
    root = job_dir(runtime, "training", name)
    log = log_path(runtime, "training", name)
    log.write_text("")
    report("Downloading", "Downloading input data")
    channels: dict[str, dict[str, Any]] = {}
    for channel in job.get("InputDataConfig") or []:
        cname = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        dest = root / "input" / "data" / cname
        count = download_prefix(
            runtime,
            source["S3Uri"],
            dest,
            data_type=source.get("S3DataType", "S3Prefix"),
            check=check,
            link=mode == "builtin",
        )
        if count == 0:
            raise UserError(
                f"ClientError: channel {cname!r}: no objects under {source['S3Uri']}; upload the data or fix S3Uri"
            )
        channels[cname] = {"dir": str(dest), "content_type": channel.get("ContentType")}
    write_config(root, job)
    for sub in ("model", "output/data", "output/intermediate"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    check()
    report("Training", "Training image download completed. Training in progress.")
    with CPU_SHARE.claim(name) as threads:
        metrics = _train(runtime, job, mode, root, channels, threads, cancelled, deadline, log)
    report("Uploading", "Uploading generated training model")
    artifact = model_artifact_uri(job)
    archive = root / "model.tar.gz"
    package_dir(root / "model", archive)
    check()
    output_data = root / "output" / "data"
    if any(output_data.iterdir()):
        out_archive = root / "output.tar.gz"
        package_dir(output_data, out_archive)
        runtime.storage.upload_from(out_archive, artifact.rsplit("/", 1)[0] + "/output.tar.gz")
    try:
        runtime.storage.upload_from(archive, artifact)
    except OSError as e:
        raise PlatformError(f"could not write {artifact}: {e.strerror}") from e
    return {"ModelArtifacts": {"S3ModelArtifacts": artifact}, "FinalMetricDataList": metrics}


def _train(
    runtime: Runtime,
    job: Mapping[str, Any],
    mode: str,
    root: Path,
    channels: dict[str, dict[str, Any]],
    threads: int,
    cancelled: threading.Event,
    deadline: float | None,
    log: Path,
) -> list[dict[str, Any]]:
    """Run the algorithm or the script with ``threads`` CPUs; return its final metrics."""
    if mode == "script":
        from localaws.sagemaker.script_mode import run_script

        run_script(
            runtime,
            job,
            root,
            channels,
            cancelled=cancelled,
            deadline=deadline,
            log=log,
            num_cpus=threads,
        )
        definitions = job["AlgorithmSpecification"].get("MetricDefinitions") or []
        return final_metrics(log.read_text(errors="replace"), definitions)
    user_env = job.get("Environment") or {}
    env = base_environment(runtime.credentials)
    env["PYTHONPATH"] = str(PACKAGE_ROOT)
    env.update(thread_environment(threads, user_env))
    env.update(user_env)
    spec = {
        "hyperparameters": job.get("HyperParameters") or {},
        "channels": channels,
        "model_dir": str(root / "model"),
        "output_dir": str(root / "output"),
        "metrics_path": str(root / "metrics.json"),
        # the algorithm's default nthread (a nthread hyperparameter still wins)
        "nthread": environment_threads(env, threads),
    }
    (root / "spec.json").write_text(json.dumps(spec))
    module = BUILTIN_ALGORITHMS[algorithm_repository(job)]
    command = [sys.executable, "-m", module, str(root / "spec.json")]
    code = supervise(
        command, env=env, cwd=root, log_path=log, cancelled=cancelled, deadline=deadline
    )
    if code != 0:
        raise UserError(
            failure_reason(root / "output", code, log, "AlgorithmError: the algorithm failed")
        )
    result: list[dict[str, Any]] = json.loads((root / "metrics.json").read_text())["metrics"]
    return result
