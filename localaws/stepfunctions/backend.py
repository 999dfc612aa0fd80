"""The Step Functions API over the engine: state machines, executions, history, callbacks.

Method names, request members (keyword arguments) and response shapes are those of
botocore's ``stepfunctions`` service model; errors are :class:`ServiceError` with AWS's
codes.  State machines, executions, their history and redrive progress live in the
runtime's SQLite database (:mod:`.persistence`), so a restart loses nothing: :meth:`recover`
continues executions left RUNNING by a dead process from their checkpoint, and
:meth:`redrive_execution` resumes failed ones from the unfinished state.  Executions run in
threads (:mod:`.runner`); Task states reach services through :mod:`.integrations`.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.asl.engine import (
    INTERRUPTED_CAUSE,
    ExecutionRun,
    Outcome,
    TaskTokens,
)
from localaws.asl.errors import StatesError
from localaws.asl.history import EventBuffer, in_flight_tasks, last_entry, row_to_event
from localaws.asl.integrations import IntegrationRegistry
from localaws.asl.mock_config import MockConfig, MockConfigError
from localaws.asl.states import Machine, parse_machine
from localaws.asl.validate import InvalidDefinition, validate_definition
from localaws.errors import ServiceError, UserError
from localaws.stepfunctions import teststate
from localaws.stepfunctions.activities import Activities
from localaws.stepfunctions.map_runs import MapRuns
from localaws.stepfunctions.persistence import StepFunctionsStore
from localaws.stepfunctions.runner import ExecutionRunner
from localaws.stepfunctions.versions import QUALIFIED_ARN, Versions

if TYPE_CHECKING:
    import os

    from localaws.runtime import Runtime


TAGS_DDL = """
CREATE TABLE IF NOT EXISTS sfn_tags (
    resource_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
) WITHOUT ROWID;
"""
MAX_TAGS = 50
SYNC_EXECUTION_TIMEOUT_SECONDS = 5 * 60  # AWS: an Express execution runs at most 5 minutes
_EXPRESS_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:express:")

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
REDRIVABLE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
REDRIVE_WINDOW_SECONDS = 14 * 24 * 3600
TYPES = ("STANDARD", "EXPRESS")
MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

# AWS: 1-80 characters; no whitespace, brackets, wildcards, special or control characters.
_NAME = re.compile(r"""^[^\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$""")
_MACHINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:([^:#]+)(?:#(.+))?$"
)
_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:([^:]+):([^:]+)$")
# The task tokens this runtime issues (secrets.token_urlsafe(48)).
_TASK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceError(
            "InvalidName",
            f"Invalid Name: {name!r}: a {what} name is 1-80 characters without whitespace, "
            'brackets, wildcards or any of " # % \\ ^ | ~ ` $ & , ; : /',
        )
    return name


def _max_results(value: Any) -> int:
    if value is None or value == 0:
        return DEFAULT_MAX_RESULTS
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RESULTS:
        raise ServiceError(
            "ValidationException",
            f"maxResults: {value!r} must be an integer from 0 to {MAX_RESULTS}",
        )
    return value


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as e:
        raise ServiceError(
            "InvalidToken", f"nextToken {token!r} was not returned by this API"
        ) from e


class StepFunctionsBackend:
    """AWS Step Functions, locally."""

    def __init__(
        self,
        runtime: Runtime,
        registry: IntegrationRegistry | None = None,
        *,
        mock_config: MockConfig | str | os.PathLike[str] | dict[str, Any] | None = None,
    ):
        self.runtime = runtime
        if registry is None:
            from localaws.stepfunctions.integrations import default_registry

            registry = default_registry(runtime)
        self.registry = registry
        self.db = runtime.db
        self.store = StepFunctionsStore(self.db)
        self.mock_config = None if mock_config is None else self._load_mocks(mock_config)
        self.tokens = TaskTokens()
        self._machines: dict[str, Machine] = {}  # definition text -> parsed
        self.map_runs = MapRuns(self)
        self.runner = ExecutionRunner(map_runner=self.map_runs.run)
        self.activities = Activities(self)
        self.versions = Versions(self)
        self.db.ensure_schema("stepfunctions_tags", TAGS_DDL)
        for integration in self.registry.services():
            bind = getattr(integration, "bind_backend", None)
            if bind is not None:
                bind(self)

    @staticmethod
    def _load_mocks(source: MockConfig | str | os.PathLike[str] | dict[str, Any]) -> MockConfig:
        return source if isinstance(source, MockConfig) else MockConfig.load(source)

    def set_mock_config(
        self, source: MockConfig | str | os.PathLike[str] | dict[str, Any] | None
    ) -> None:
        """Use a MockConfigFile (path, dict or MockConfig) for executions started from now on."""
        self.mock_config = None if source is None else self._load_mocks(source)

    # -- definitions ---------------------------------------------------------------

    def _parse_definition(self, definition: Any) -> Machine:
        if not isinstance(definition, str):
            raise ServiceError(
                "ValidationException", "definition: must be the state machine's JSON text"
            )
        machine = self._machines.get(definition)
        if machine is not None:
            return machine
        try:
            parsed = validate_definition(definition, resolve_resource=self.registry.resolve)
            machine = parse_machine(parsed, self.registry.resolve)
        except InvalidDefinition as e:
            raise ServiceError("InvalidDefinition", str(e)) from e
        except UserError as e:
            raise ServiceError("InvalidDefinition", f"Invalid State Machine Definition: {e}") from e
        self._machines[definition] = machine
        return machine

    def _machine_arn(self, name: str) -> str:
        return self.runtime.arn("states", f"stateMachine:{name}")

    def _machine_row(self, arn: Any) -> Any:
        if isinstance(arn, str) and QUALIFIED_ARN.match(arn):
            return self.versions.resolve(arn)
        if not isinstance(arn, str) or not _MACHINE_ARN.match(arn):
            raise ServiceError("InvalidArn", f"Invalid Arn: {arn!r} is not a state machine ARN")
        row = self.store.machine(arn.split("#", 1)[0])
        if row is None:
            raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return row

    # -- state machines ------------------------------------------------------------

    def create_state_machine(
        self,
        *,
        name: str,
        definition: str,
        roleArn: str,
        type: str = "STANDARD",
        loggingConfiguration: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        _check_name(name, "state machine")
        if type not in TYPES:
            raise ServiceError(
                "ValidationException", f"type: {type!r} must be one of {', '.join(TYPES)}"
            )
        if not isinstance(roleArn, str) or not _ROLE_ARN.match(roleArn):
            raise ServiceError(
                "InvalidArn",
                f"Invalid Role Arn: {roleArn!r}; expected arn:aws:iam::<account>:role/<name>",
            )
        self._parse_definition(definition)
        arn = self._machine_arn(name)
        now = time.time()
        extra = {
            "loggingConfiguration": loggingConfiguration
            or {"level": "OFF", "includeExecutionData": False},
            "tracingConfiguration": tracingConfiguration or {"enabled": False},
            "tags": tags or [],
        }
        existing = self.store.create_machine(
            arn=arn,
            name=name,
            definition=definition,
            role_arn=roleArn,
            type=type,
            created=now,
            revision_id=str(uuid.uuid4()),
            extra=extra,
        )
        if existing is not None:
            if (
                existing["definition"] == definition
                and existing["role_arn"] == roleArn
                and existing["type"] == type
            ):
                return {
                    "stateMachineArn": existing["arn"],
                    "creationDate": _dt(existing["created"]),
                }
            raise ServiceError(
                "StateMachineAlreadyExists",
                f"State Machine Already Exists: '{existing['arn']}' (with another definition or role)",
            )
        if tags:
            self.tag_resource(resourceArn=arn, tags=tags)
        out: dict[str, Any] = {"stateMachineArn": arn, "creationDate": _dt(now)}
        if publish:
            version = self.versions.publish(arn, None, versionDescription)
            out["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return out

    def describe_state_machine(
        self, *, stateMachineArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        row = self._machine_row(stateMachineArn)
        extra = json.loads(row["extra"])
        out: dict[str, Any] = {
            "stateMachineArn": row["arn"],
            "name": row["name"],
            "status": "ACTIVE",
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "type": row["type"],
            "creationDate": _dt(row["created"]),
            "loggingConfiguration": extra["loggingConfiguration"],
            "tracingConfiguration": extra["tracingConfiguration"],
            "revisionId": row["revision_id"],
        }
        if isinstance(row, dict) and "version_arn" in row and "alias_arn" not in row:
            out["stateMachineArn"] = row["version_arn"]
            if row["description"] is not None:
                out["description"] = row["description"]
        return out

    def update_state_machine(
        self,
        *,
        stateMachineArn: str,
        definition: str | None = None,
        roleArn: str | None = None,
        loggingConfiguration: dict[str, Any] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        row = self._machine_row(stateMachineArn)
        if (
            definition is None
            and roleArn is None
            and loggingConfiguration is None
            and tracingConfiguration is None
        ):
            raise ServiceError(
                "MissingRequiredParameter",
                "Either the definition, the roleArn, loggingConfiguration or tracingConfiguration must be specified",
            )
        if definition is not None:
            self._parse_definition(definition)
        if roleArn is not None and not _ROLE_ARN.match(roleArn):
            raise ServiceError("InvalidArn", f"Invalid Role Arn: {roleArn!r}")
        extra = json.loads(row["extra"])
        if loggingConfiguration is not None:
            extra["loggingConfiguration"] = loggingConfiguration
        if tracingConfiguration is not None:
            extra["tracingConfiguration"] = tracingConfiguration
        now = time.time()
        revision = str(uuid.uuid4())
        self.store.update_machine(
            row["arn"],
            definition=definition or row["definition"],
            role_arn=roleArn or row["role_arn"],
            revision_id=revision,
            extra=extra,
        )
        out: dict[str, Any] = {"updateDate": _dt(now), "revisionId": revision}
        if publish:
            version = self.versions.publish(row["arn"], revision, versionDescription)
            out["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return out

    def list_state_machines(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        rows = self.store.machines(limit + 1, offset)
        out: dict[str, Any] = {
            "stateMachines": [
                {
                    "stateMachineArn": r["arn"],
                    "name": r["name"],
                    "type": r["type"],
                    "creationDate": _dt(r["created"]),
                }
                for r in rows[:limit]
            ]
        }
        if len(rows) > limit:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def delete_state_machine(self, *, stateMachineArn: str) -> dict[str, Any]:
        if not isinstance(stateMachineArn, str) or not _MACHINE_ARN.match(stateMachineArn):
            raise ServiceError(
                "InvalidArn", f"Invalid Arn: {stateMachineArn!r} is not a state machine ARN"
            )
        self.store.delete_machine(stateMachineArn)
        self.versions.delete_machine(stateMachineArn)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sfn_tags WHERE resource_arn = ?", (stateMachineArn,))
        return {}

    # -- executions ----------------------------------------------------------------

    def _execution_row(self, arn: Any) -> Any:
        if isinstance(arn, str) and _EXPRESS_ARN.match(arn):
            raise ServiceError(
                "InvalidArn",
                f"Invalid Arn: {arn!r} is an EXPRESS execution, which this API does not take "
                "(as on AWS); StartSyncExecution returns an Express execution's result",
            )
        if not isinstance(arn, str) or not _EXECUTION_ARN.match(arn):
            raise ServiceError("InvalidArn", f"Invalid Arn: {arn!r} is not an execution ARN")
        row = self.store.execution(arn)
        if row is None:
            raise ServiceError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return row

    def start_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
    ) -> dict[str, Any]:
        sm = self._machine_row(stateMachineArn)
        case = stateMachineArn.split("#", 1)[1] if "#" in stateMachineArn else None
        name = _check_name(name, "execution") if name is not None else str(uuid.uuid4())
        input_text = "{}" if input is None else input
        try:
            json.loads(input_text)
        except (TypeError, ValueError) as e:
            raise ServiceError(
                "InvalidExecutionInput", f"Invalid execution input: not valid JSON ({e})"
            ) from e
        mocks = self._session(sm["name"], case)  # refuses an unknown test case now
        machine = self._parse_definition(sm["definition"])
        arn = self._new_execution_arn(sm, name)
        now = time.time()
        run = ExecutionRun(
            arn=arn,
            name=name,
            state_machine_arn=sm["arn"],
            state_machine_name=sm["name"],
            role_arn=sm["role_arn"],
            machine=machine,
            input_text=input_text,
            start_time=now,
            region=self.runtime.region,
            buffer=EventBuffer(1),
            tokens=self.tokens,
            flush=self._write,
            mocks=mocks,
        )
        # The ARN is reserved in memory (a short lock, no I/O under it), so that a
        # StopExecution between the INSERT and the thread's start finds the run; the INSERT
        # is atomic in its own transaction, so executions start in parallel.
        other = self.runner.reserve(run)
        if other is not None:  # this name is starting or running in this process
            if other.input_text == input_text:
                return {"executionArn": arn, "startDate": _dt(other.start_time)}
            raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        try:
            existing = self.store.create_execution(
                arn=arn,
                machine=sm,
                name=name,
                start=now,
                input_text=input_text,
                test_case=case,
                trace_header=traceHeader,
            )
        except BaseException:
            self.runner.release(run)
            raise
        if existing is not None:
            self.runner.release(run)
            if existing["status"] == "RUNNING" and existing["input"] == input_text:
                return {"executionArn": arn, "startDate": _dt(existing["start"])}
            raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        self.runner.launch(run)
        return {"executionArn": arn, "startDate": _dt(now)}

    def _new_execution_arn(self, sm: Any, name: str) -> str:
        if sm["type"] == "EXPRESS":  # AWS: express:<machine>:<name>:<run id>
            return self.runtime.arn("states", f"express:{sm['name']}:{name}:{uuid.uuid4()}")
        return self.runtime.arn("states", f"execution:{sm['name']}:{name}")

    def _session(self, machine_name: str, case: str | None) -> Any:
        if case is None:
            return None
        if self.mock_config is None:
            raise ServiceError(
                "ValidationException",
                f"stateMachineArn: test case '#{case}' given but no mock config is loaded; "
                "load one with set_mock_config(path) (AWS Step Functions Local's MockConfigFile format)",
            )
        try:
            return self.mock_config.session(machine_name, case)
        except MockConfigError as e:
            raise ServiceError("ValidationException", str(e)) from e

    def _write(self, run: ExecutionRun, final: Outcome | None) -> None:
        """Write a run's buffered events and redrive progress (and, at the end, its outcome)."""
        self.store.write_progress(run.arn, *run.take_progress(), final)

    def describe_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        row = self._execution_row(executionArn)
        out: dict[str, Any] = {
            "executionArn": row["arn"],
            "stateMachineArn": row["state_machine_arn"],
            "name": row["name"],
            "status": row["status"],
            "startDate": _dt(row["start"]),
            "input": row["input"],
            "inputDetails": {"included": True},
        }
        if row["stop"] is not None:
            out["stopDate"] = _dt(row["stop"])
        if row["output"] is not None:
            out["output"] = row["output"]
            out["outputDetails"] = {"included": True}
        if row["trace_header"] is not None:
            out["traceHeader"] = row["trace_header"]
        for key in ("error", "cause"):
            if row[key] is not None:
                out[key] = row[key]
        out["redriveCount"] = row["redrive_count"]
        if row["redrive_date"] is not None:
            out["redriveDate"] = _dt(row["redrive_date"])
        reason = self._not_redrivable(row)
        out["redriveStatus"] = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
        if reason:
            out["redriveStatusReason"] = reason
        return out

    def _not_redrivable(self, row: Any) -> str | None:
        """Why the execution cannot be redriven, or None when it can."""
        if row["status"] not in REDRIVABLE_STATUSES:
            return f"Execution is {row['status']} and cannot be redriven"
        if row["type"] != "STANDARD":
            return "Executions of EXPRESS state machines cannot be redriven"
        if row["checkpoint"] is None:
            return "Execution failed before any state started; start a new execution instead"
        if row["stop"] is not None and time.time() - row["stop"] > REDRIVE_WINDOW_SECONDS:
            return "Execution stopped more than 14 days ago and can no longer be redriven"
        return None

    def list_executions(
        self,
        *,
        stateMachineArn: str | None = None,
        statusFilter: str | None = None,
        maxResults: int | None = None,
        nextToken: str | None = None,
        mapRunArn: str | None = None,
        redriveFilter: str | None = None,
    ) -> dict[str, Any]:
        if (mapRunArn is None) == (stateMachineArn is None):
            raise ServiceError(
                "ValidationException", "give either stateMachineArn or mapRunArn, not both"
            )
        if mapRunArn is None:
            sm = self._machine_row(stateMachineArn)
        if statusFilter is not None and statusFilter not in STATUSES:
            raise ServiceError(
                "ValidationException",
                f"statusFilter: {statusFilter!r} must be one of {', '.join(STATUSES)}",
            )
        if redriveFilter not in (None, "REDRIVEN", "NOT_REDRIVEN"):
            raise ServiceError(
                "ValidationException",
                f"redriveFilter: {redriveFilter!r} must be REDRIVEN or NOT_REDRIVEN",
            )
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        redriven = None if redriveFilter is None else redriveFilter == "REDRIVEN"
        if mapRunArn is not None:
            rows = self.map_runs.executions(
                mapRunArn, status=statusFilter, redriven=redriven, limit=limit + 1, offset=offset
            )
        else:
            rows = self.store.executions(
                sm["arn"], status=statusFilter, redriven=redriven, limit=limit + 1, offset=offset
            )
        items = []
        for r in rows[:limit]:
            item: dict[str, Any] = {
                "executionArn": r["arn"],
                "stateMachineArn": r["state_machine_arn"],
                "name": r["name"],
                "status": r["status"],
                "startDate": _dt(r["start"]),
            }
            if r["stop"] is not None:
                item["stopDate"] = _dt(r["stop"])
            item["redriveCount"] = r["redrive_count"]
            if r["redrive_date"] is not None:
                item["redriveDate"] = _dt(r["redrive_date"])
            if mapRunArn is not None:
                item["mapRunArn"] = mapRunArn
            items.append(item)
        out: dict[str, Any] = {"executions": items}
        if len(rows) > limit:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def stop_execution(
        self,
        *,
        executionArn: str,
        error: str | None = None,
        cause: str | None = None,
    ) -> dict[str, Any]:
        row = self._execution_row(executionArn)
        run = self.runner.active(executionArn)
        if run is not None:
            run.stop(error, cause)
            run.done.wait(30)
        elif row["status"] == "RUNNING":  # left RUNNING by another process (recover() not run)
            self.store.close_interrupted(executionArn, "ABORTED", error, cause)
        row = self._execution_row(executionArn)
        return {"stopDate": _dt(row["stop"] if row["stop"] is not None else time.time())}

    def get_execution_history(
        self,
        *,
        executionArn: str,
        maxResults: int | None = None,
        reverseOrder: bool = False,
        nextToken: str | None = None,
        includeExecutionData: bool = True,
    ) -> dict[str, Any]:
        self._execution_row(executionArn)
        run = self.runner.active(executionArn)
        if run is not None:
            run.flush()
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        rows = self.store.history(
            executionArn, reverse=reverseOrder, limit=limit + 1, offset=offset
        )
        out: dict[str, Any] = {
            "events": [
                row_to_event(
                    r["id"],
                    r["previous_id"],
                    r["ts"],
                    r["type"],
                    r["details"],
                    includeExecutionData,
                )
                for r in rows[:limit]
            ]
        }
        if len(rows) > limit:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def redrive_execution(
        self, *, executionArn: str, clientToken: str | None = None
    ) -> dict[str, Any]:
        with self.runner.lock:
            row = self._execution_row(executionArn)
            if self.runner.active(executionArn) is not None:
                raise ServiceError(
                    "ExecutionNotRedrivable",
                    f"Execution is RUNNING and cannot be redriven: '{executionArn}'",
                )
            reason = self._not_redrivable(row)
            if reason:
                raise ServiceError("ExecutionNotRedrivable", f"{reason}: '{executionArn}'")
            checkpoint = json.loads(row["checkpoint"])
            machine = self._parse_definition(row["definition"])
            memo, last = self.store.progress(executionArn)
            now = time.time()
            count = row["redrive_count"] + 1
            self.store.mark_redriven(executionArn, count, now)
            run = self._stored_run(
                row,
                machine,
                memo,
                last,
                checkpoint,
                redrive_count=count,
                redrive_time=now,
            )
            self.runner.launch(run)
        return {"redriveDate": _dt(now)}

    def _stored_run(
        self,
        row: Any,
        machine: Any,
        memo: Any,
        last: int,
        checkpoint: dict[str, Any] | None,
        recorded: list[Any] | None = None,
        **more: Any,
    ) -> ExecutionRun:
        """The run of a stored execution (redriven or resumed), its history continuing at
        event ``last + 1`` from ``checkpoint``; ``recorded``: the events of the state it
        continues from that a crash left (replayed, not recorded again)."""
        return ExecutionRun(
            arn=row["arn"],
            name=row["name"],
            state_machine_arn=row["state_machine_arn"],
            state_machine_name=row["state_machine_name"],
            role_arn=row["role_arn"],
            machine=machine,
            input_text=row["input"],
            start_time=row["start"],
            region=self.runtime.region,
            buffer=EventBuffer(last + 1, recorded),
            tokens=self.tokens,
            flush=self._write,
            mocks=self._session(row["state_machine_name"], row["test_case"]),
            resume=checkpoint,
            memo=memo,
            last_event_id=last,
            **more,
        )

    def start_sync_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
        includedData: str | None = None,
    ) -> dict[str, Any]:
        sm = self._machine_row(stateMachineArn)
        if sm["type"] != "EXPRESS":
            raise ServiceError(
                "StateMachineTypeNotSupported",
                f"StartSyncExecution runs EXPRESS state machines; '{stateMachineArn}' is "
                f"{sm['type']}: use StartExecution",
            )
        started = self.start_execution(
            stateMachineArn=stateMachineArn, name=name, input=input, traceHeader=traceHeader
        )
        arn = started["executionArn"]
        run = self.runner.active(arn)
        if run is not None and not run.done.wait(SYNC_EXECUTION_TIMEOUT_SECONDS):
            run.root.cancel("timed out")
            run.done.wait(30)
        row = self.db.query_one("SELECT * FROM sfn_executions WHERE arn = ?", (arn,))
        assert row is not None
        out: dict[str, Any] = {
            "executionArn": arn,
            "stateMachineArn": row["state_machine_arn"],
            "name": row["name"],
            "startDate": _dt(row["start"]),
            "stopDate": _dt(row["stop"] if row["stop"] is not None else time.time()),
            "status": row["status"] if row["status"] != "ABORTED" else "FAILED",
            "input": row["input"],
            "inputDetails": {"included": True},
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(
                    100, int(((row["stop"] or time.time()) - row["start"]) * 1000)
                ),
            },
        }
        if row["output"] is not None:
            out["output"] = row["output"]
            out["outputDetails"] = {"included": True}
        for key in ("error", "cause"):
            if row[key] is not None:
                out[key] = row[key]
        if row["trace_header"] is not None:
            out["traceHeader"] = row["trace_header"]
        return out

    def describe_state_machine_for_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        row = self._execution_row(executionArn)
        machine = self.db.query_one(
            "SELECT * FROM sfn_state_machines WHERE arn = ?", (row["state_machine_arn"],)
        )
        extra = json.loads(machine["extra"]) if machine is not None else {}
        out: dict[str, Any] = {
            "stateMachineArn": row["state_machine_arn"],
            "name": row["state_machine_name"],
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "updateDate": _dt(machine["created"] if machine is not None else row["start"]),
            "loggingConfiguration": extra.get(
                "loggingConfiguration", {"level": "OFF", "includeExecutionData": False}
            ),
            "tracingConfiguration": extra.get("tracingConfiguration", {"enabled": False}),
        }
        if machine is not None:
            out["revisionId"] = machine["revision_id"]
        map_run = self.map_runs.map_run_of(executionArn)
        if map_run is not None:
            out["mapRunArn"] = map_run["arn"]
            out["label"] = map_run["state_machine_arn"].rsplit("/", 1)[1]
        return out

    def test_state(
        self,
        *,
        definition: str,
        roleArn: str | None = None,
        input: str | None = None,
        inspectionLevel: str | None = None,
        revealSecrets: bool = False,
        variables: str | None = None,
        stateName: str | None = None,
        mock: dict[str, Any] | None = None,
        context: str | None = None,
        stateConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return teststate.test_state(
            self, definition, roleArn, input, inspectionLevel, stateName, mock
        )

    # -- validation ----------------------------------------------------------------

    def validate_state_machine_definition(
        self,
        *,
        definition: str,
        type: str | None = None,
        severity: str | None = None,
        maxResults: int | None = None,
    ) -> dict[str, Any]:
        """AWS's diagnostics: every problem the engine finds is an ERROR at its location."""
        limit = maxResults or 100
        try:
            parsed = validate_definition(definition, resolve_resource=self.registry.resolve)
            parse_machine(parsed, self.registry.resolve)
        except InvalidDefinition as e:
            code = "INVALID_JSON_DESCRIPTION" if e.not_json else "SCHEMA_VALIDATION_FAILED"
            diagnostics = [
                {"severity": "ERROR", "code": code, "message": message, "location": location}
                for location, message in e.located
            ]
            return {
                "result": "FAIL",
                "diagnostics": diagnostics[:limit],
                "truncated": len(diagnostics) > limit,
            }
        except UserError as e:
            return {
                "result": "FAIL",
                "diagnostics": [
                    {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(e)}
                ],
                "truncated": False,
            }
        return {"result": "OK", "diagnostics": [], "truncated": False}

    # -- tags ----------------------------------------------------------------------

    def _taggable(self, arn: Any) -> str:
        if isinstance(arn, str) and _MACHINE_ARN.match(arn):
            self._machine_row(arn)
        elif isinstance(arn, str) and arn.split(":")[5:6] == ["activity"]:
            self.activities.describe(arn)
        else:
            raise ServiceError(
                "InvalidArn", f"Invalid Arn: {str(arn)[:300]!r}: tag a state machine or an activity"
            )
        return arn

    def tag_resource(self, *, resourceArn: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        arn = self._taggable(resourceArn)
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO sfn_tags(resource_arn, key, value) VALUES (?, ?, ?)",
                [(arn, t["key"], t.get("value", "")) for t in tags],
            )
            count = conn.execute(
                "SELECT COUNT(*) FROM sfn_tags WHERE resource_arn = ?", (arn,)
            ).fetchone()[0]
            if count > MAX_TAGS:
                raise ServiceError(
                    "TooManyTags", f"Too many tags on {arn}: a resource has at most {MAX_TAGS}"
                )
        return {}

    def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        arn = self._taggable(resourceArn)
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM sfn_tags WHERE resource_arn = ? AND key = ?",
                [(arn, key) for key in tagKeys],
            )
        return {}

    def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]:
        arn = self._taggable(resourceArn)
        rows = self.db.query(
            "SELECT key, value FROM sfn_tags WHERE resource_arn = ? ORDER BY key", (arn,)
        )
        return {"tags": [{"key": r["key"], "value": r["value"]} for r in rows]}

    # -- versions and aliases (see versions.py) ----------------------------------------

    def publish_state_machine_version(
        self,
        *,
        stateMachineArn: str,
        revisionId: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        return self.versions.publish(stateMachineArn, revisionId, description)

    def list_state_machine_versions(
        self, *, stateMachineArn: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        versions = self.versions.list_versions(stateMachineArn)
        out: dict[str, Any] = {"stateMachineVersions": versions[offset : offset + limit]}
        if len(versions) > offset + limit:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def delete_state_machine_version(self, *, stateMachineVersionArn: str) -> dict[str, Any]:
        self.versions.delete_version(stateMachineVersionArn)
        return {}

    def create_state_machine_alias(
        self,
        *,
        name: str,
        routingConfiguration: list[dict[str, Any]],
        description: str | None = None,
    ) -> dict[str, Any]:
        return self.versions.create_alias(name, routingConfiguration, description)

    def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        return self.versions.describe_alias(stateMachineAliasArn)

    def list_state_machine_aliases(
        self, *, stateMachineArn: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        aliases = self.versions.list_aliases(stateMachineArn)
        out: dict[str, Any] = {"stateMachineAliases": aliases[offset : offset + limit]}
        if len(aliases) > offset + limit:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def update_state_machine_alias(
        self,
        *,
        stateMachineAliasArn: str,
        description: str | None = None,
        routingConfiguration: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return self.versions.update_alias(stateMachineAliasArn, description, routingConfiguration)

    def delete_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        self.versions.delete_alias(stateMachineAliasArn)
        return {}

    # -- Map Runs (Distributed Map; see map_runs.py) ------------------------------------

    def list_map_runs(
        self, *, executionArn: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        runs, more = self.map_runs.list_map_runs(executionArn, limit, offset)
        out: dict[str, Any] = {"mapRuns": runs}
        if more:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def describe_map_run(self, *, mapRunArn: str) -> dict[str, Any]:
        return self.map_runs.describe_map_run(mapRunArn)

    def update_map_run(
        self,
        *,
        mapRunArn: str,
        maxConcurrency: int | None = None,
        toleratedFailurePercentage: float | None = None,
        toleratedFailureCount: int | None = None,
    ) -> dict[str, Any]:
        self.map_runs.update_map_run(
            mapRunArn, maxConcurrency, toleratedFailurePercentage, toleratedFailureCount
        )
        return {}

    # -- callbacks -----------------------------------------------------------------

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        try:
            value = json.loads(output)
        except (TypeError, ValueError) as e:
            raise ServiceError("InvalidOutput", f"Invalid output: not valid JSON ({e})") from e
        self.tokens.succeed(self._token(taskToken), value)
        return {}

    def send_task_failure(
        self,
        *,
        taskToken: str,
        error: str | None = None,
        cause: str | None = None,
    ) -> dict[str, Any]:
        self.tokens.fail(self._token(taskToken), error or "", cause or "")
        return {}

    def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        self.tokens.heartbeat(self._token(taskToken))
        return {}

    @staticmethod
    def _token(token: Any) -> str:
        if not isinstance(token, str) or not _TASK_TOKEN.match(token):
            raise ServiceError(
                "InvalidToken",
                f"Invalid Token: {str(token)[:80]!r} is not a task token; pass the token the "
                "task received ($$.Task.Token, or GetActivityTask's taskToken) unchanged",
            )
        return token

    # -- activities (see activities.py) ----------------------------------------------

    def create_activity(
        self,
        *,
        name: str,
        tags: list[dict[str, str]] | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        _check_name(name, "activity")
        return self.activities.create(name)

    def describe_activity(self, *, activityArn: str) -> dict[str, Any]:
        return self.activities.describe(activityArn)

    def list_activities(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        limit, offset = _max_results(maxResults), _decode_token(nextToken)
        items, more = self.activities.list(limit, offset)
        out: dict[str, Any] = {"activities": items}
        if more:
            out["nextToken"] = _encode_token(offset + limit)
        return out

    def delete_activity(self, *, activityArn: str) -> dict[str, Any]:
        self.activities.delete(activityArn)
        return {}

    def get_activity_task(
        self, *, activityArn: str, workerName: str | None = None
    ) -> dict[str, Any]:
        return self.activities.take(activityArn, workerName)

    # -- lifecycle -----------------------------------------------------------------

    def recover(self) -> None:
        """Continue every execution a dead process left RUNNING from its last recorded state.

        Only a runtime that owns the state directory alone (``Runtime.resumes``: a server, a
        program's Runtime) continues them; a CLI command sharing it leaves them RUNNING for
        the next owner.  Children of a Distributed Map's Map Run end as interrupted: their
        parent, continuing, takes the Map Run over and runs them again."""
        if not getattr(self.runtime, "resumes", True):
            return
        children = self.store.map_run_children_running()
        for arn in self.store.running():
            if self.runner.active(arn) is not None:
                continue
            if arn in children:
                self.store.close_interrupted(
                    arn, "FAILED", StatesError.RUNTIME.value, INTERRUPTED_CAUSE
                )
        self.map_runs.recover()
        for arn in self.store.running():
            if self.runner.active(arn) is None and arn not in children:
                self._continue(arn)

    def _continue(self, arn: str) -> None:
        """Run an interrupted execution on from its checkpoint (the top-level state it was
        in, with that state's input), as the same run: no redrive, no new events before it."""
        row = self.store.execution(arn)
        if row is None or row["type"] == "EXPRESS":
            if row is not None:  # AWS does not keep Express executions across failures either
                self.store.close_interrupted(
                    arn, "FAILED", StatesError.RUNTIME.value, INTERRUPTED_CAUSE
                )
            return
        machine = self._parse_definition(row["definition"])
        memo, last = self.store.progress(arn)
        checkpoint = json.loads(row["checkpoint"]) if row["checkpoint"] else None
        if checkpoint is None and last > 0:  # started, no state reached yet
            checkpoint = {"state": machine.start_at, "input": json.loads(row["input"])}
        in_flight: dict[str, int] = {}
        recorded: list[Any] = []
        chain_from = last
        if checkpoint is not None:
            events = self.store.events(arn)
            in_flight = in_flight_tasks(events, checkpoint["state"])
            # The state is run again from its entry: the events it had recorded are
            # replayed (not recorded twice), its thread chaining on from the event before it.
            entry = last_entry(events, checkpoint["state"])
            if entry is not None:
                chain_from = entry[1]
                recorded = [e for e in events if e[0] >= entry[0]]
        run = self._stored_run(
            row,
            machine,
            memo,
            last,
            checkpoint,
            recorded,
            redrive_count=row["redrive_count"],
            redrive_time=row["redrive_date"],
            continued=checkpoint is not None,
            in_flight=in_flight,
            chain_from=chain_from,
        )
        self.runner.launch(run)

    def wait(self, execution_arn: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the execution ends; return describe_execution's response."""
        self._execution_row(execution_arn)
        run = self.runner.active(execution_arn)
        if run is not None and not run.done.wait(timeout):
            raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
        return self.describe_execution(executionArn=execution_arn)

    def close(self) -> None:
        """Stop running executions (left FAILED by interruption, redrivable) and the flusher."""
        self.runner.close()
