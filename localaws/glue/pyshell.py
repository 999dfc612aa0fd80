"""Runs one Glue job script in its own process: ``python pyshell.py LIFE_FD SCRIPT ARGS...``.

Started by :mod:`localaws.glue.jobs` with a clean environment; puts the ``awsglue`` shim
(``jobpath/``) on ``sys.path``, kills its process group when the runtime that started it
goes away (EOF on the lifeline pipe), and runs the script as ``__main__`` with ``sys.argv``
as Glue passes it (``[script, --JOB_ID, ..., --JOB_RUN_ID, ..., --key, value, ...]``).
Executed by path, so it imports nothing from ``localaws``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading


def main() -> None:
    life_fd = int(sys.argv[1])
    script = sys.argv[2]

    def lifeline() -> None:
        while os.read(life_fd, 1):
            pass
        os.killpg(os.getpid(), signal.SIGKILL)

    threading.Thread(target=lifeline, name="lifeline", daemon=True).start()
    here = os.path.dirname(os.path.abspath(__file__))
    # The script's folder replaces this file's (nothing of localaws leaks into the job).
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    sys.path.insert(1, os.path.join(here, "jobpath"))
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
