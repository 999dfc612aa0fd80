"""Warm job workers: forks of a template with the ML stack imported, that keep the
lifeline to the runtime and the process-group kill semantics of a fresh process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from localaws.sagemaker import forkserver
from localaws.sagemaker.training import JobInterrupted, supervise

ROOT = Path(__file__).resolve().parents[2]


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_script_runs_as_a_fork_with_its_own_argv_env_cwd_and_exit_code(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import json, os, sys
        import xgboost  # already imported by the template
        print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("JOB"),
                          "leader": os.getpgid(0) == os.getpid(), "main": __name__}))
        sys.exit(3)
        """,
    )
    log = tmp_path / "log"
    with open(log, "ab") as out:
        proc = forkserver.spawn(
            [sys.executable, str(path), "--x", "1"],
            env={"JOB": "yes", "PATH": os.environ["PATH"]},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert isinstance(proc, forkserver.WarmProcess)
    assert proc.wait(60) == 3
    seen = json.loads(log.read_text().strip().splitlines()[-1])
    assert seen == {
        "argv": [str(path), "--x", "1"],
        "cwd": str(tmp_path),
        "env": "yes",
        "leader": True,
        "main": "__main__",
    }


def test_a_module_with_a_pipe_and_an_uncaught_exception(tmp_path: Path) -> None:
    (tmp_path / "jobmod.py").write_text(
        "import sys\nprint('ready', flush=True)\nraise RuntimeError('boom')\n"
    )
    err = tmp_path / "err"
    with open(err, "ab") as log:
        proc = forkserver.spawn(
            [sys.executable, "-m", "jobmod"],
            env={"PYTHONPATH": str(tmp_path)},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    assert proc.wait(60) == 1
    assert "RuntimeError: boom" in err.read_text()


def test_supervise_kills_the_whole_group_when_stopped(tmp_path: Path) -> None:
    """A job's own children die with it, as when the job was a fresh process."""
    path = script(
        tmp_path,
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open("grandchild", "w").write(str(child.pid))
        time.sleep(600)
        """,
    )
    cancelled = threading.Event()
    result: list[BaseException] = []

    def run() -> None:
        try:
            supervise(
                [sys.executable, str(path)],
                env={"PATH": os.environ["PATH"]},
                cwd=tmp_path,
                log_path=tmp_path / "job.log",
                cancelled=cancelled,
                deadline=None,
            )
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    marker = tmp_path / "grandchild"
    _wait(lambda: marker.is_file() and marker.read_text())
    grandchild = psutil.Process(int(marker.read_text()))
    cancelled.set()
    thread.join(30)
    assert isinstance(result[0], JobInterrupted) and result[0].reason == "stopped"
    _, alive = psutil.wait_procs([grandchild], timeout=30)
    assert not alive


def test_jobs_die_with_the_runtime(tmp_path: Path) -> None:
    """kill -9 of the runtime process: its template and the template's jobs follow."""
    runtime = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import subprocess, sys, time
                from localaws.sagemaker import forkserver
                job = forkserver.spawn([sys.executable, "-m", "http.server", "0"],
                                       env={{}}, cwd={str(tmp_path)!r},
                                       stdout=subprocess.PIPE, stderr=None)
                print(job.pid, flush=True)
                time.sleep(600)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert runtime.stdout is not None
    job = psutil.Process(int(runtime.stdout.readline()))
    template = job.parent()
    assert template is not None and forkserver.MODULE in " ".join(template.cmdline())
    runtime.send_signal(signal.SIGKILL)
    runtime.wait()
    _, alive = psutil.wait_procs([job, template], timeout=30)
    assert not alive


def test_disabled_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCALAWS_WARM_WORKERS", "0")
    with open(tmp_path / "log", "ab") as log:
        proc = forkserver.spawn(
            [sys.executable, "-c", "pass"], env={}, cwd=tmp_path, stdout=log, stderr=log
        )
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(60) == 0


def _wait(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_preloaded_module_runs_without_runpy_warning_in_the_job_log(tmp_path: Path) -> None:
    """The built-in algorithm is preloaded by the template; running it as ``-m`` must not
    put runpy's "found in sys.modules" warning in the job's log."""
    log = tmp_path / "log"
    with open(log, "ab") as out:
        proc = forkserver.spawn(
            [sys.executable, "-m", "localaws.sagemaker.xgboost_algorithm", "--help"],
            env={"PATH": os.environ["PATH"]},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert isinstance(proc, forkserver.WarmProcess)
    proc.wait(60)
    assert "found in sys.modules" not in log.read_text()


def test_a_fork_applies_its_omp_num_threads_to_the_loaded_openmp_runtime(tmp_path: Path) -> None:
    """The template loaded libgomp (with xgboost) before the job's environment existed; the
    job's OMP_NUM_THREADS still sets its OpenMP thread count, as in a fresh process."""
    path = script(
        tmp_path,
        """
        import ctypes, os, xgboost
        from localaws.sagemaker.forkserver import _openmp_libraries
        libs = _openmp_libraries()
        lib = ctypes.CDLL(libs[0], mode=os.RTLD_NOLOAD)
        print(len(libs) > 0, lib.omp_get_max_threads(), flush=True)
        """,
    )
    for threads in ("1", "3"):
        log = tmp_path / f"log{threads}"
        with open(log, "ab") as out:
            proc = forkserver.spawn(
                [sys.executable, str(path)],
                env={"OMP_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)},
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        assert isinstance(proc, forkserver.WarmProcess)
        assert proc.wait(60) == 0, log.read_text()
        assert log.read_text().split() == ["True", threads]


def _run_job(tmp_path: Path, body: str, env: dict[str, str]) -> tuple[Any, str]:
    path = script(tmp_path, body)
    log = tmp_path / "log"
    with open(log, "wb") as out:
        proc = forkserver.spawn(
            [sys.executable, str(path)],
            env={"PATH": os.environ["PATH"], **env},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert proc.wait(60) == 0, log.read_text()
    return proc, log.read_text()


def test_openmp_waits_passively_in_every_job_unless_the_job_says_otherwise(
    tmp_path: Path,
) -> None:
    """Jobs share the CPUs: a spinning OpenMP thread would take one from the job beside it.
    The template (a warm job's parent) loaded OpenMP with the jobs' wait policy; a job that
    sets another one starts as a fresh process, which reads it."""
    body = """
        import os
        parent = dict(
            line.split("=", 1)
            for line in open(f"/proc/{os.getppid()}/environ").read().split("\\0")
            if "=" in line
        )
        print(os.environ.get("OMP_WAIT_POLICY"), parent.get("OMP_WAIT_POLICY"), flush=True)
        """
    warm, seen = _run_job(tmp_path, body, {})
    assert isinstance(warm, forkserver.WarmProcess)
    assert seen.split() == ["PASSIVE", "PASSIVE"]
    cold, seen = _run_job(tmp_path, body, {"OMP_WAIT_POLICY": "ACTIVE"})
    assert isinstance(cold, subprocess.Popen)
    assert seen.split()[0] == "ACTIVE"


def test_a_jobs_collections_leave_the_templates_objects_alone(tmp_path: Path) -> None:
    """What the template imported is frozen: a job's collector neither walks it nor writes to
    its pages (which would copy them into the job); the job's own objects are collected."""
    _, seen = _run_job(
        tmp_path,
        """
        import gc, weakref
        class Cycle:
            pass
        a = Cycle(); a.me = a; alive = weakref.ref(a); del a
        gc.collect()
        print(gc.isenabled(), gc.get_freeze_count() > 100_000, alive() is None, flush=True)
        """,
        {},
    )
    assert seen.split() == ["True", "True", "True"]
