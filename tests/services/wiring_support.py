"""Shared by the wiring tests: the handlers' zip, a function factory, a table, and waiting
for an outcome (polling the service that shows it, never a fixed sleep)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HANDLERS = Path(__file__).parent / "handlers" / "wiring.py"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"
T = TypeVar("T")


def handlers_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("wiring.py", HANDLERS.read_bytes())
    return buf.getvalue()


def create_function(lam: Any, name: str, handler: str, table: str, timeout: int = 30) -> str:
    return str(
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler=f"wiring.{handler}",
            Code={"ZipFile": handlers_zip()},
            Timeout=timeout,
            Environment={"Variables": {"TABLE": table}},
        )["FunctionArn"]
    )


def create_table(ddb: Any, name: str, **extra: Any) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def items(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    rows = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {row["id"]["S"]: row for row in rows}


def rows_when(ddb: Any, table: str, count: int) -> Callable[[], dict[str, dict[str, Any]] | None]:
    """A probe: the table's rows once it holds at least ``count``."""

    def probe() -> dict[str, dict[str, Any]] | None:
        rows = items(ddb, table)
        return rows if len(rows) >= count else None

    return probe
