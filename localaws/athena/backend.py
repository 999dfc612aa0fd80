"""Athena: work groups, query executions (the API; running SQL is wiring).

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
What runs: :mod:`.queries` (``StartQueryExecution`` runs the SQL on DuckDB over the Glue
catalog's tables, :mod:`.engine`), started with the services bridge; the queries' state and
rows are overlaid on moto's answers (``MotoBridge.overlay``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from localaws.motobridge.backend import MotoBackend

if TYPE_CHECKING:
    from localaws.athena.queries import Queries
    from localaws.motobridge.bridge import MotoBridge


class AthenaBackend(MotoBackend):
    service = "athena"

    @cached_property
    def queries(self) -> Queries:
        from localaws.athena.queries import Queries

        return Queries(self.runtime)

    def attach(self, bridge: MotoBridge) -> None:
        """Called when the services bridge opens: queries run when started."""
        queries = self.queries
        bridge.observe(queries.observe)
        bridge.overlay("athena", "GetQueryExecution", queries.overlay_one)
        bridge.overlay("athena", "BatchGetQueryExecution", queries.overlay_many)
        bridge.overlay("athena", "GetQueryResults", queries.get_query_results)
        queries.outbox.start()

    def close(self) -> None:
        if "queries" in self.__dict__:
            self.queries.close()
