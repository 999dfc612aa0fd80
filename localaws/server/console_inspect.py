"""What the console reads from one state visit (:class:`localaws.asl.fold.Visit`): the data
stage by stage through a state's paths (the state inspector), the resource a Task made or
called, and a run's input with fresh per-run names.  Pure functions over the fold and the
definition; :mod:`localaws.server.console` serves them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localaws.asl.errors import StateFailure
from localaws.asl.fold import Visit
from localaws.asl.paths import (
    apply_input_path,
    apply_output_path,
    apply_result_path,
    payload_template,
)

# Task resources (``arn:aws:states:::sagemaker:<action>``) -> (resource kind, name member).
SAGEMAKER_RESOURCES = {
    "createTrainingJob": ("trainingJob", "TrainingJobName"),
    "createModel": ("model", "ModelName"),
    "createTransformJob": ("transformJob", "TransformJobName"),
    "createEndpointConfig": ("endpointConfig", "EndpointConfigName"),
    "createEndpoint": ("endpoint", "EndpointName"),
    "updateEndpoint": ("endpoint", "EndpointName"),
    "createProcessingJob": ("processingJob", "ProcessingJobName"),
    "createHyperParameterTuningJob": ("tuningJob", "HyperParameterTuningJobName"),
}


def new_run_id() -> str:
    """Like ``workflows.target.new_run_id``: ``20240131-235959-1a2b``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def freshen(value: Any, spec: dict[str, Any]) -> Any:
    """``value`` with a new run id in ``spec["runIdField"]``, replacing the old one inside
    each of ``spec["fields"]`` (job and model names, per-run prefixes); other fields (the
    raw data the run reads, thresholds) are kept."""
    field_name = spec["runIdField"]
    if not isinstance(value, dict) or not isinstance(value.get(field_name), str):
        return value
    old, new = value[field_name], new_run_id()
    out = dict(value)
    out[field_name] = new
    for name in spec.get("fields", []):
        if isinstance(out.get(name), str) and old:
            out[name] = out[name].replace(old, new)
    return out


def state_definition(definition: dict[str, Any], visit: Visit) -> dict[str, Any]:
    """The definition of the state a visit ran, found through its Map/Parallel path."""
    scope = definition
    for container, index in visit.path:
        outer = scope.get("States", {}).get(container, {})
        if outer.get("Type") == "Parallel":
            scope = (outer.get("Branches") or [{}])[index]
        else:
            scope = outer.get("ItemProcessor") or outer.get("Iterator") or {}
    state: dict[str, Any] = scope.get("States", {}).get(visit.name, {})
    return state


def inspect_stages(state: dict[str, Any], visit: Visit) -> list[dict[str, Any]]:
    """(stage, value) of the data through a state, as AWS's console's inspector shows it.

    The input and the request sent come from the history; the JSONPath stages after the
    result are recomputed from the state's fields (the same functions the engine runs),
    and the last one is checked against the history's output."""
    out: list[dict[str, Any]] = [{"stage": "Input", "value": visit.input_value}]
    jsonata = state.get("QueryLanguage") == "JSONata"
    if not jsonata and "InputPath" in state:
        out.append(
            {
                "stage": f"After InputPath ({state['InputPath']})",
                "value": _try(lambda: apply_input_path(visit.input_value, state["InputPath"])),
            }
        )
    if visit.parameters is not None:
        label = "Arguments as sent" if jsonata else "Parameters as sent"
        out.append({"stage": label, "value": parse_json(visit.parameters)})
    result_text = visit.result
    if result_text is None and visit.type in ("Map", "Parallel") and visit.children:
        result_text = _container_result(visit)
    if result_text is not None:
        result = parse_json(result_text)
        out.append({"stage": "Result", "value": result})
        if not jsonata and visit.exited is not None and visit.status.value == "succeeded":
            selected = result
            if isinstance(state.get("ResultSelector"), dict):
                selected = _try(lambda: payload_template(state["ResultSelector"], result))
                out.append({"stage": "After ResultSelector", "value": selected})
            if selected is not None:
                path = state.get("ResultPath", "$")
                after = _try(lambda: apply_result_path(visit.input_value, path, selected))
                out.append({"stage": f"After ResultPath ({path})", "value": after})
                if "OutputPath" in state:
                    out.append(
                        {
                            "stage": f"After OutputPath ({state['OutputPath']})",
                            "value": _try(
                                lambda: apply_output_path(after, state["OutputPath"], None, None)
                            ),
                        }
                    )
    if visit.assigned:
        out.append(
            {
                "stage": "Variables assigned",
                "value": {k: parse_json(v) for k, v in visit.assigned.items()},
            }
        )
    if visit.output is not None:
        out.append({"stage": "Output", "value": visit.output_value})
    return out


def _container_result(visit: Visit) -> str | None:
    """A Map's or Parallel's result: each iteration's or branch's last output, in order."""
    last: dict[int, Visit] = {}
    for child in visit.children:
        if len(child.path) == len(visit.path) + 1:
            last[child.path[-1][1]] = child
    if not last or any(v.output is None for v in last.values()):
        return None
    return json.dumps([last[i].output_value for i in sorted(last)])


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (StateFailure, ValueError) as e:  # a stage that cannot be recomputed says why
        return f"(not recomputed: {type(e).__name__})"


def made_by(visit: Visit) -> dict[str, str] | None:
    """The resource a Task visit created or called, ``{"kind": ..., "name": ...}``: a
    SageMaker job, model or endpoint by its name member, a Lambda function by its name."""
    if visit.resource is None or visit.parameters is None:
        return None
    resource_type, _, resource = visit.resource.partition(":")
    params = parse_json(visit.parameters)
    if not isinstance(params, dict):
        return None
    action = resource.split(".", 1)[0]
    if resource_type == "sagemaker" and action in SAGEMAKER_RESOURCES:
        kind, member = SAGEMAKER_RESOURCES[action]
        if isinstance(params.get(member), str):
            return {"kind": kind, "name": params[member]}
    if resource_type == "lambda" and isinstance(params.get("FunctionName"), str):
        return {"kind": "function", "name": params["FunctionName"].split(":function:")[-1]}
    return None
