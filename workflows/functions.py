"""The Lambda functions of the workflow, read from ``lambdas/functions.yaml``.

That file is the one source of truth: the local registration (``LambdaBackend.create_function``)
and the CloudFormation rendering both take names, handlers, timeouts, memory and environment
from :func:`load_functions`.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localaws.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
FUNCTIONS_FILE = LAMBDAS_DIR / "functions.yaml"
# The Lambda-side package, zipped whole next to the handlers (tests/test_layering.py asserts
# that it and lambdas/ import nothing else of localaws), under a localaws/__init__.py of its own.
LAMBDAKIT_DIR = REPO_ROOT / "localaws" / "lambdakit"
LAMBDA_PACKAGE_EXCLUDE = ("__pycache__", ".pytest_cache", "tests")
LAMBDA_LOCALAWS_INIT = b'"""The part of localaws that ships inside Lambda packages."""\n'
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
PERMISSIONS = (
    "s3_read",
    "s3_write",
    "sagemaker_invoke",
    "dynamodb_write",
    "dynamodb_read",
    "kinesis_write",
    "sqs_send",
)
RUNTIME = "python3.12"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FIELDS = {
    "name",
    "handler",
    "description",
    "timeout",
    "memory",
    "environment",
    "pandas",
    "permissions",
}


class FunctionsFileError(UserError):
    """``lambdas/functions.yaml`` is malformed; the message names the function and the field."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # FunctionName
    handler: str  # Handler, e.g. "prepare.handler", relative to code_dir
    description: str
    timeout: int  # seconds
    memory: int  # MemorySize, MB
    environment: dict[str, str] = field(default_factory=dict)  # Environment.Variables
    pandas: bool = False  # needs pandas/numpy (AWS: the managed pandas layer)
    permissions: tuple[str, ...] = ()  # subset of PERMISSIONS
    code_dir: Path = LAMBDAS_DIR  # zip this directory (plus localaws/lambdakit/)
    runtime: str = RUNTIME

    @property
    def module(self) -> str:
        """The handler's module: ``prepare`` for ``prepare.handler``."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def role(self) -> str:
        """The function's part in the workflow (prepare / evaluate / predict): its module."""
        return self.module


def build_lambda_package(path: Path) -> Path:
    """Zip ``lambdas/`` and ``localaws/lambdakit/``; the same sources give the same bytes."""
    files: dict[str, bytes] = {"localaws/__init__.py": LAMBDA_LOCALAWS_INIT}
    for root, prefix in ((LAMBDAS_DIR, ""), (LAMBDAKIT_DIR, "localaws/lambdakit/")):
        for source in sorted(root.rglob("*")):
            rel = source.relative_to(root)
            if (
                source.is_file()
                and not set(rel.parts) & set(LAMBDA_PACKAGE_EXCLUDE)
                and source.suffix != ".pyc"
            ):
                files[prefix + rel.as_posix()] = source.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    path.write_bytes(buffer.getvalue())
    return path


def load_functions(path: str | os.PathLike[str] | None = None) -> list[FunctionSpec]:
    """Every function in ``path`` (default ``lambdas/functions.yaml``), validated."""
    source = Path(path) if path is not None else FUNCTIONS_FILE
    try:
        body = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as e:
        raise FunctionsFileError(f"{source}: cannot read the functions file") from e
    except yaml.YAMLError as e:
        raise FunctionsFileError(f"{source}: not valid YAML") from e
    entries = body.get("functions") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FunctionsFileError(
            f"{source}: expected a top-level 'functions' list of function entries"
        )
    specs = [_spec(entry, i, source) for i, entry in enumerate(entries)]
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FunctionsFileError(
            f"{source}: function names must be unique; duplicated: {duplicated}"
        )
    return specs


def function(name_or_module: str, path: str | os.PathLike[str] | None = None) -> FunctionSpec:
    """The function with this name, or whose handler module is this (``"prepare"``)."""
    specs = load_functions(path)
    for spec in specs:
        if name_or_module in (spec.name, spec.module):
            return spec
    raise FunctionsFileError(
        f"{name_or_module}: no such function in {path or FUNCTIONS_FILE}; known: {[s.name for s in specs]}"
    )


def _spec(entry: Any, index: int, source: Path) -> FunctionSpec:
    where = f"{source}: functions[{index}]"
    if not isinstance(entry, dict):
        raise FunctionsFileError(f"{where}: expected a mapping of {sorted(_FIELDS)}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise FunctionsFileError(f"{where}: unknown fields {unknown}; known: {sorted(_FIELDS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise FunctionsFileError(
            f"{where}.name: {name!r} is not a function name (1-64 letters, digits, - or _)"
        )
    where = f"{source}: function {name}"
    handler = entry.get("handler")
    if not isinstance(handler, str) or not _HANDLER.match(handler):
        raise FunctionsFileError(
            f"{where}.handler: {handler!r} is not <module>.<function>, e.g. prepare.handler"
        )
    module_file = LAMBDAS_DIR / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    if source.resolve().parent == LAMBDAS_DIR and not module_file.is_file():
        raise FunctionsFileError(
            f"{where}.handler: {handler!r} names no module; {module_file} does not exist"
        )
    timeout = _int(entry, "timeout", 1, 900, where)
    memory = _int(entry, "memory", 128, 10240, where)
    environment = entry.get("environment") or {}
    if not isinstance(environment, dict) or not all(isinstance(k, str) for k in environment):
        raise FunctionsFileError(
            f"{where}.environment: expected a mapping of variable names to values"
        )
    permissions = entry.get("permissions") or []
    bad = (
        [p for p in permissions if p not in PERMISSIONS]
        if isinstance(permissions, list)
        else permissions
    )
    if bad:
        raise FunctionsFileError(f"{where}.permissions: unknown {bad}; known: {list(PERMISSIONS)}")
    pandas = entry.get("pandas", False)
    if not isinstance(pandas, bool):
        raise FunctionsFileError(f"{where}.pandas: expected true or false, got {pandas!r}")
    return FunctionSpec(
        name=name,
        handler=handler,
        description=str(entry.get("description", "")),
        timeout=timeout,
        memory=memory,
        environment={k: str(v) for k, v in environment.items()},
        pandas=pandas,
        permissions=tuple(permissions),
    )


def _int(entry: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FunctionsFileError(
            f"{where}.{key}: expected an integer from {low} to {high}, got {value!r}"
        )
    return value
