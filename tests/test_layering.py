"""The import rules of docs/architecture.md, checked on the source (every import statement,
including those inside functions) and, for the Lambda side, in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from workflows.functions import build_lambda_package

REPO = Path(__file__).resolve().parents[1]
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
AWS_SDK = {"boto3", "botocore"}
LAMBDA_LAYER = {"numpy", "pandas", "pyarrow"}  # the managed pandas layer on AWS (it ships pyarrow)
LAMBDA_OWN = {p.stem for p in (REPO / "lambdas").iterdir() if p.suffix == ".py" or p.is_dir()}


def module_name(path: Path, root: Path = REPO) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path, root: Path = REPO) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def sources(directory: str) -> list[Path]:
    return sorted(p for p in (REPO / directory).rglob("*.py") if "__pycache__" not in p.parts)


def top(name: str) -> str:
    return name.split(".", 1)[0]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(directory: str, allowed: Callable[[str], bool]) -> list[str]:
    found = []
    for path in sources(directory):
        for name in sorted(imports(path)):
            if not allowed(name):
                found.append(f"{path.relative_to(REPO)} imports {name}")
    return found


def test_the_asl_engine_imports_only_itself_and_localaws_errors() -> None:
    def allowed(name: str) -> bool:
        if top(name) != "localaws":
            return True
        return within(name, "localaws.asl") or within(name, "localaws.errors")

    assert violations("localaws/asl", allowed) == []


def test_no_backend_imports_the_server() -> None:
    found = []
    for path in sources("localaws"):
        if within(module_name(path), "localaws.server"):
            continue
        found += [
            f"{path.relative_to(REPO)} imports {name}"
            for name in sorted(imports(path))
            if within(name, "localaws.server")
        ]
    assert found == []


def test_the_runtime_never_imports_workflows_or_lambdas() -> None:
    def allowed(name: str) -> bool:
        return top(name) not in {"workflows", "lambdas", *LAMBDA_OWN}

    assert violations("localaws", allowed) == []


def test_lambdakit_imports_only_the_stdlib_boto3_and_itself() -> None:
    def allowed(name: str) -> bool:
        return (
            top(name) in STDLIB | AWS_SDK
            or within(name, "localaws.lambdakit")
            or name == "localaws"  # `from localaws import lambdakit`
        )

    assert violations("localaws/lambdakit", allowed) == []


def test_lambdas_import_only_lambdakit_their_own_modules_and_the_layer() -> None:
    def allowed(name: str) -> bool:
        if top(name) == "localaws":
            return within(name, "localaws.lambdakit") or name == "localaws"
        return top(name) in STDLIB | AWS_SDK | LAMBDA_LAYER | LAMBDA_OWN

    assert violations("lambdas", allowed) == []


def test_the_import_scan_sees_a_violation(tmp_path: Path) -> None:
    """The scan is not vacuous: a nested, relative import of the server is found."""
    path = tmp_path / "localaws" / "asl" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text("def f():\n    from ..server import app\n    import workflows.cli\n")
    assert {"localaws.server", "localaws.server.app", "workflows.cli"} <= imports(path, tmp_path)


@pytest.mark.slow
def test_the_lambda_package_runs_lambdakit_with_nothing_else_of_localaws(tmp_path: Path) -> None:
    """Extract the real Lambda zip and import the Lambda-side package from it alone: every
    module it loads is the standard library's or its own (boto3 is imported lazily)."""
    with zipfile.ZipFile(build_lambda_package(tmp_path / "lambda.zip")) as zf:
        zf.extractall(tmp_path / "code")
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import localaws.lambdakit.storage, localaws.lambdakit.clients, localaws.lambdakit.config\n"
        "import localaws\n"
        "print(localaws.__file__)\n"
        "for name in sorted(set(sys.modules) - before):\n"
        "    print(name)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path / "code",
        env={"PYTHONPATH": str(tmp_path / "code"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(out[0]).resolve() == (tmp_path / "code" / "localaws" / "__init__.py").resolve()
    loaded = out[1:]
    assert "localaws.lambdakit.storage" in loaded
    others = [
        n
        for n in loaded
        if top(n) not in STDLIB and not within(n, "localaws.lambdakit") and n != "localaws"
    ]
    assert others == []
