"""State machine versions and aliases.

A version (``<state machine ARN>:<n>``, n from 1) is an immutable copy of the definition,
role and type, published with PublishStateMachineVersion (or ``publish=True`` on
Create/UpdateStateMachine).  An alias (``<state machine ARN>:<name>``) routes executions
to one or two versions by weight (``routingConfiguration``).  StartExecution,
DescribeStateMachine and ListExecutions take a version or alias ARN wherever they take a
state machine ARN; :meth:`Versions.resolve` turns one into the row to run.
"""

from __future__ import annotations

import json
import random
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.stepfunctions.backend import StepFunctionsBackend

DDL = """
CREATE TABLE IF NOT EXISTS sfn_versions (
    machine_arn TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL,
    created REAL NOT NULL,
    description TEXT,
    revision_id TEXT,
    PRIMARY KEY (machine_arn, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sfn_aliases (
    arn TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    routing TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
"""

QUALIFIED_ARN = re.compile(
    r"^(?P<machine>arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:#]+):(?P<qualifier>[^:#]+)$"
)
_ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_\-.])[a-zA-Z0-9_\-.]{1,80}$")


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Versions:
    def __init__(self, backend: StepFunctionsBackend):
        self.backend = backend
        self.db = backend.db
        self.db.ensure_schema("stepfunctions_versions", DDL)

    # -- versions ----------------------------------------------------------------------

    def publish(
        self, machine_arn: str, revision_id: str | None, description: str | None
    ) -> dict[str, Any]:
        row = self.backend._machine_row(machine_arn)
        if revision_id is not None and revision_id != row["revision_id"]:
            raise ServiceError(
                "ConflictException",
                f"revisionId {revision_id!r} is not the state machine's current revision "
                f"({row['revision_id']}); describe it again and publish that revision",
            )
        now = time.time()
        with self.db.transaction() as conn:
            latest = conn.execute(
                "SELECT * FROM sfn_versions WHERE machine_arn = ? ORDER BY version DESC LIMIT 1",
                (row["arn"],),
            ).fetchone()
            if latest is not None and latest["revision_id"] == row["revision_id"]:
                return {
                    "stateMachineVersionArn": f"{row['arn']}:{latest['version']}",
                    "creationDate": _dt(latest["created"]),
                }
            number = (latest["version"] if latest is not None else 0) + 1
            conn.execute(
                "INSERT INTO sfn_versions(machine_arn, version, definition, role_arn, type, created, "
                "description, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["arn"],
                    number,
                    row["definition"],
                    row["role_arn"],
                    row["type"],
                    now,
                    description,
                    row["revision_id"],
                ),
            )
        return {"stateMachineVersionArn": f"{row['arn']}:{number}", "creationDate": _dt(now)}

    def list_versions(self, machine_arn: str) -> list[dict[str, Any]]:
        row = self.backend._machine_row(machine_arn)
        return [
            {
                "stateMachineVersionArn": f"{row['arn']}:{r['version']}",
                "creationDate": _dt(r["created"]),
            }
            for r in self.db.query(
                "SELECT version, created FROM sfn_versions WHERE machine_arn = ? ORDER BY version DESC",
                (row["arn"],),
            )
        ]

    def delete_version(self, version_arn: str) -> None:
        machine, qualifier = self._split(version_arn)
        if not qualifier.isdigit():
            raise ServiceError("InvalidArn", f"Invalid Arn: {version_arn!r} is not a version ARN")
        for alias in self.db.query("SELECT * FROM sfn_aliases WHERE machine_arn = ?", (machine,)):
            if version_arn in alias["routing"]:
                raise ServiceError(
                    "ConflictException",
                    f"Version {version_arn} is routed to by alias {alias['arn']}; "
                    "update or delete the alias first",
                )
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM sfn_versions WHERE machine_arn = ? AND version = ?",
                (machine, int(qualifier)),
            )

    @staticmethod
    def _split(arn: Any) -> tuple[str, str]:
        m = QUALIFIED_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise ServiceError(
                "InvalidArn",
                f"Invalid Arn: {str(arn)[:300]!r}; expected <state machine ARN>:<version or alias>",
            )
        return m["machine"], m["qualifier"]

    def _version_row(self, machine: str, number: int, arn: str) -> Any:
        row = self.db.query_one(
            "SELECT * FROM sfn_versions WHERE machine_arn = ? AND version = ?", (machine, number)
        )
        if row is None:
            raise ServiceError("ResourceNotFound", f"State machine version does not exist: '{arn}'")
        return row

    def resolve(self, arn: str) -> dict[str, Any]:
        """The state machine row to run for a version or alias ARN (routing by weight)."""
        machine, qualifier = self._split(arn)
        base = dict(self.backend._machine_row(machine))
        if qualifier.isdigit():
            version = self._version_row(machine, int(qualifier), arn)
            version_arn = arn
        else:
            alias = self._alias_row(arn)
            routes = _routes(alias["routing"])
            pick = random.uniform(0, sum(w for _, w in routes))
            version_arn = routes[-1][0]
            for target, weight in routes:
                if pick < weight:
                    version_arn = target
                    break
                pick -= weight
            base["alias_arn"] = arn
            version = self._version_row(machine, int(version_arn.rsplit(":", 1)[1]), version_arn)
        base.update(
            definition=version["definition"],
            role_arn=version["role_arn"],
            type=version["type"],
            created=version["created"],
            revision_id=version["revision_id"],
            version_arn=version_arn,
            description=version["description"],
        )
        return base

    def delete_machine(self, machine_arn: str) -> None:
        """A deleted state machine's versions and aliases go with it."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sfn_versions WHERE machine_arn = ?", (machine_arn,))
            conn.execute("DELETE FROM sfn_aliases WHERE machine_arn = ?", (machine_arn,))

    # -- aliases -----------------------------------------------------------------------

    def _check_routing(self, routing: Any) -> str:
        if not isinstance(routing, list) or not 1 <= len(routing) <= 2:
            raise ServiceError(
                "ValidationException",
                "routingConfiguration: one or two {stateMachineVersionArn, weight} entries",
            )
        machines = set()
        for route in routing:
            arn = route.get("stateMachineVersionArn") if isinstance(route, dict) else None
            weight = route.get("weight") if isinstance(route, dict) else None
            machine, qualifier = self._split(arn)
            if not qualifier.isdigit():
                raise ServiceError(
                    "ValidationException",
                    f"routingConfiguration: {arn!r} is not a version ARN (an alias cannot route to an alias)",
                )
            self._version_row(machine, int(qualifier), str(arn))
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise ServiceError(
                    "ValidationException", f"routingConfiguration weight {weight!r}: 0 to 100"
                )
            machines.add(machine)
        if len(machines) != 1:
            raise ServiceError(
                "ValidationException",
                "routingConfiguration: the versions must be of the same state machine",
            )
        if sum(r["weight"] for r in routing) != 100:
            raise ServiceError(
                "ValidationException", "routingConfiguration: the weights must add up to 100"
            )
        return json.dumps(routing)

    def create_alias(self, name: str, routing: Any, description: str | None) -> dict[str, Any]:
        if not isinstance(name, str) or not _ALIAS_NAME.match(name):
            raise ServiceError(
                "ValidationException",
                f"name: {name!r}: an alias name is 1-80 letters, digits, '-', '_' or '.', "
                "not only digits",
            )
        text = self._check_routing(routing)
        machine = self._split(routing[0]["stateMachineVersionArn"])[0]
        arn = f"{machine}:{name}"
        now = time.time()
        with self.db.transaction() as conn:
            existing = conn.execute("SELECT * FROM sfn_aliases WHERE arn = ?", (arn,)).fetchone()
            if existing is not None:
                if existing["routing"] == text and existing["description"] == description:
                    return {"stateMachineAliasArn": arn, "creationDate": _dt(existing["created"])}
                raise ServiceError("ConflictException", f"Alias already exists: '{arn}'")
            conn.execute(
                "INSERT INTO sfn_aliases(arn, machine_arn, name, description, routing, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (arn, machine, name, description, text, now, now),
            )
        return {"stateMachineAliasArn": arn, "creationDate": _dt(now)}

    def _alias_row(self, arn: str) -> Any:
        row = self.db.query_one("SELECT * FROM sfn_aliases WHERE arn = ?", (arn,))
        if row is None:
            raise ServiceError("ResourceNotFound", f"State machine alias does not exist: '{arn}'")
        return row

    def describe_alias(self, arn: str) -> dict[str, Any]:
        self._split(arn)
        row = self._alias_row(arn)
        out: dict[str, Any] = {
            "stateMachineAliasArn": row["arn"],
            "name": row["name"],
            "routingConfiguration": [
                {"stateMachineVersionArn": a, "weight": w} for a, w in _routes(row["routing"])
            ],
            "creationDate": _dt(row["created"]),
            "updateDate": _dt(row["updated"]),
        }
        if row["description"] is not None:
            out["description"] = row["description"]
        return out

    def list_aliases(self, machine_arn: str) -> list[dict[str, Any]]:
        row = self.backend._machine_row(machine_arn)
        return [
            {"stateMachineAliasArn": r["arn"], "creationDate": _dt(r["created"])}
            for r in self.db.query(
                "SELECT arn, created FROM sfn_aliases WHERE machine_arn = ? ORDER BY created",
                (row["arn"],),
            )
        ]

    def update_alias(self, arn: str, description: str | None, routing: Any) -> dict[str, Any]:
        self._split(arn)
        row = self._alias_row(arn)
        text = row["routing"] if routing is None else self._check_routing(routing)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_aliases SET description = ?, routing = ?, updated = ? WHERE arn = ?",
                (row["description"] if description is None else description, text, now, arn),
            )
        return {"updateDate": _dt(now)}

    def delete_alias(self, arn: str) -> None:
        self._split(arn)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sfn_aliases WHERE arn = ?", (arn,))


def _routes(text: str) -> list[tuple[str, int]]:
    return [(r["stateMachineVersionArn"], r["weight"]) for r in json.loads(text)]
