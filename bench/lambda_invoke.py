"""A warm Lambda invocation (LambdaBackend.invoke) against a bare pipe round trip.

    python -m bench.lambda_invoke            # 2,000 calls each
    python -m bench.lambda_invoke --quick    # smoke run: 50 calls each

The baseline, measured in the same run, is the floor of any worker-process design: a child
Python process echoing length-prefixed JSON over a pair of pipes, the framing the Lambda
workers use.  The table gives the median per-call time of ``--repeats`` rounds and how many
times the floor a warm invocation costs.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable

from bench.report import median_seconds, print_table
from localaws.runtime import Runtime

ROLE = "arn:aws:iam::123456789012:role/bench"
HANDLER = "def handler(event, context):\n    return event\n"
ECHO = (
    "import struct, sys\n"
    "r, w = sys.stdin.buffer, sys.stdout.buffer\n"
    "while head := r.read(4):\n"
    "    body = r.read(struct.unpack('>I', head)[0])\n"
    "    w.write(head + body); w.flush()\n"
)
PAYLOAD = b'{"a": 1}'


def per_call_ms(call: Callable[[], object], calls: int, repeats: int) -> float:
    def round_of_calls() -> None:
        for _ in range(calls):
            call()

    return median_seconds(round_of_calls, repeats) / calls * 1000


def pipe_floor(calls: int, repeats: int) -> float:
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    def call() -> object:
        body = json.dumps({"payload": PAYLOAD.decode()}).encode()
        stdin.write(struct.pack(">I", len(body)) + body)
        stdin.flush()
        size = struct.unpack(">I", stdout.read(4))[0]
        return json.loads(stdout.read(size))

    try:
        return per_call_ms(call, calls, repeats)
    finally:
        stdin.close()
        child.wait(10)


def warm_invoke(calls: int, repeats: int) -> float:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("echo.py", HANDLER)
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as tmp, Runtime(tmp) as rt:
        rt.lambda_.create_function(
            FunctionName="echo",
            Runtime="python3.12",
            Role=ROLE,
            Handler="echo.handler",
            Code={"ZipFile": buffer.getvalue()},
        )
        return per_call_ms(
            lambda: rt.lambda_.invoke(FunctionName="echo", Payload=PAYLOAD), calls, repeats
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 calls, one round")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    calls = args.calls or (50 if args.quick else 2000)
    repeats = args.repeats or (1 if args.quick else 3)

    floor = pipe_floor(calls, repeats)
    ours = warm_invoke(calls, repeats)
    print_table(
        f"{calls} calls per round, median of {repeats} round(s)",
        [("call", 32), ("ms/call", 8), ("vs floor", 9)],
        [
            [name, f"{ms:.3f}", f"{ms / floor:.1f}x"]
            for name, ms in (
                ("LambdaBackend.invoke (warm)", ours),
                ("pipe round trip (baseline)", floor),
            )
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
