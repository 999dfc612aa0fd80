"""The worker entry point every built-in algorithm shares (``python -m <algorithm> <spec.json>``).

The spec names the algorithm's channels, model and output directories and where its metrics
go; the algorithm's ``train(spec)`` returns ``{"metrics": [...]}``. A refusal of the user's
input (:class:`~localaws.errors.UserError`) ends as ``ClientError`` with exit 1, anything else
as ``AlgorithmError`` with exit 2, each written to ``output/failure`` as SageMaker does.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localaws.errors import UserError


def run(train: Callable[[dict[str, Any]], dict[str, Any]], argv: list[str] | None = None) -> int:
    """Read the spec named by ``argv[0]``, run ``train`` on it, write its metrics or failure."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    output_dir = Path(spec["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train(spec)
    except UserError as e:
        print(f"ClientError: {e}", file=sys.stderr, flush=True)
        (output_dir / "failure").write_text(f"ClientError: {e}")
        return 1
    except Exception as e:
        traceback.print_exc()
        (output_dir / "failure").write_text(f"AlgorithmError: {type(e).__name__}: {e}")
        return 2
    Path(spec["metrics_path"]).write_text(json.dumps(result))
    return 0
