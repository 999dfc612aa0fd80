"""Running executions: one thread per execution (parked threads reused), and one thread that
flushes their history.

An :class:`~localaws.asl.engine.ExecutionRun` buffers its history events; the flusher hands
them to the run's writer every :data:`FLUSH_INTERVAL_SECONDS`, and the run hands the rest
(with its outcome) when it ends.  :meth:`ExecutionRunner.close` cancels every run, which the
engine records as a failure by interruption (redrivable after a restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from localaws.asl.engine import SHUTDOWN, ExecutionRun, Outcome
from localaws.asl.errors import StatesError
from localaws.asl.history import EventType

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 0.2
IDLE_WORKERS = 8  # parked execution threads kept for the next StartExecution


class _Workers:
    """Threads for executions, reused.  Starting a thread costs about a millisecond (``start``
    waits until the new thread runs), most of StartExecution's time; a parked thread takes
    the next execution at once.  At most :data:`IDLE_WORKERS` stay parked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._closed = False

    def submit(self, name: str, job: Callable[[], None]) -> None:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
            worker.give(name, job)
            worker.thread.start()
        else:
            worker.give(name, job)

    def park(self, worker: _Worker) -> bool:
        """Keep ``worker`` for later (False: there are enough parked, it ends)."""
        with self._lock:
            if self._closed or len(self._idle) >= IDLE_WORKERS:
                return False
            self._idle.append(worker)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.give("", None)


class _Worker:
    def __init__(self, pool: _Workers) -> None:
        self.pool = pool
        self.thread = threading.Thread(target=self._loop, name="execution", daemon=True)
        self._ready = threading.Event()
        self._name = ""
        self._job: Callable[[], None] | None = None

    def give(self, name: str, job: Callable[[], None] | None) -> None:
        self._name, self._job = name, job
        self._ready.set()

    def _loop(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            job = self._job
            if job is None:
                return
            self._job = None
            self.thread.name = self._name
            job()
            self.thread.name = "execution (parked)"
            if not self.pool.park(self):
                return


class ExecutionRunner:
    """The executions running in this process."""

    def __init__(self, map_runner: Callable[..., Any] | None = None) -> None:
        # Runs Distributed Map states (the service's MapRuns.run), given to every run.
        self.map_runner = map_runner
        # Held by the backend around check-then-launch sequences (start, redrive).
        self.lock = threading.RLock()
        self._active: dict[str, ExecutionRun] = {}
        self._workers = _Workers()
        self._closing = threading.Event()
        self._flusher: threading.Thread | None = None

    def active(self, arn: str) -> ExecutionRun | None:
        """The run of this execution, when it runs in this process."""
        with self.lock:
            return self._active.get(arn)

    def reserve(self, run: ExecutionRun) -> ExecutionRun | None:
        """Claim ``run``'s ARN before its row is written; the run already holding it, if any."""
        with self.lock:
            other = self._active.get(run.arn)
            if other is None:
                self._active[run.arn] = run
            return other

    def release(self, run: ExecutionRun) -> None:
        """Give up a reservation whose execution was not started."""
        with self.lock:
            if self._active.get(run.arn) is run:
                del self._active[run.arn]

    def launch(self, run: ExecutionRun) -> None:
        self._track(run)
        self._workers.submit(f"execution {run.arn}", lambda: self._run_thread(run))

    def run_here(self, run: ExecutionRun) -> Outcome:
        """Run in the calling thread (a Distributed Map's child), tracked like the others."""
        self._track(run)
        self._run_thread(run)
        assert run.outcome is not None or run.done.is_set()
        return run.outcome or Outcome("FAILED", error=StatesError.RUNTIME.value)

    def _track(self, run: ExecutionRun) -> None:
        run.map_runner = self.map_runner
        with self.lock:
            if self._closing.is_set():
                run.root.cancel(SHUTDOWN)
            self._active[run.arn] = run
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="sfn history flusher", daemon=True
                )
                self._flusher.start()

    def _run_thread(self, run: ExecutionRun) -> None:
        outcome = Outcome(
            "FAILED", error=StatesError.RUNTIME.value, cause="the execution thread failed"
        )
        try:
            outcome = run.run()
        except Exception as e:  # a bug in the engine: the execution fails, the traceback is logged
            log.exception("execution %s failed unexpectedly", run.arn)
            outcome = Outcome(
                "FAILED", error=StatesError.RUNTIME.value, cause=f"{type(e).__name__}: {e}"
            )
            run.buffer.add(
                EventType.EXECUTION_FAILED,
                0,
                {"error": outcome.error, "cause": outcome.cause},
                time.time(),
            )
        finally:
            try:
                run.flush(outcome)
            finally:
                with self.lock:
                    self._active.pop(run.arn, None)
                run.done.set()

    def _flush_loop(self) -> None:
        while not self._closing.wait(FLUSH_INTERVAL_SECONDS):
            with self.lock:
                runs = list(self._active.values())
            for run in runs:
                if not run.done.is_set():
                    run.flush()

    def close(self) -> None:
        """Cancel every run, wait for their threads, and stop the flusher."""
        self._closing.set()
        with self.lock:
            runs = list(self._active.values())
        for run in runs:
            run.root.cancel(SHUTDOWN)
        deadline = time.monotonic() + 30
        for run in runs:
            run.done.wait(max(0.0, deadline - time.monotonic()))
        self._workers.close()
        if self._flusher is not None:
            self._flusher.join(5)
