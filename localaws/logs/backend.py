"""CloudWatch Logs: log groups, streams and events.

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
What runs: :mod:`.shipper` (Lambda, SageMaker job and endpoint log files become log
streams under AWS's group names), started with the services bridge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localaws.motobridge.backend import MotoBackend

if TYPE_CHECKING:
    from localaws.logs.shipper import LogShipper
    from localaws.motobridge.bridge import MotoBridge


class LogsBackend(MotoBackend):
    service = "logs"
    shipper: LogShipper | None = None

    def attach(self, bridge: MotoBridge) -> None:
        """Called when the services bridge opens: ship the runtime's log files."""
        from localaws.logs.shipper import LogShipper

        self.shipper = LogShipper(self.runtime)
        self.shipper.start()

    def close(self) -> None:
        if self.shipper is not None:
            self.shipper.stop()
            self.shipper.join(timeout=10)
            self.shipper = None
