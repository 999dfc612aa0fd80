"""Zips of the test handlers, shared by the Lambda tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HANDLERS = Path(__file__).parent / "handlers"
LAMBDAKIT = Path(__file__).resolve().parents[2] / "localaws" / "lambdakit"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def make_zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def handlers_zip() -> bytes:
    """The test handlers at the zip's root, with the Lambda-side package, as Lambdas ship."""
    files: dict[str, bytes | str] = {p.name: p.read_bytes() for p in HANDLERS.glob("*.py")}
    files["localaws/__init__.py"] = ""
    for module in LAMBDAKIT.glob("*.py"):
        files[f"localaws/lambdakit/{module.name}"] = module.read_bytes()
    return make_zip(files)
