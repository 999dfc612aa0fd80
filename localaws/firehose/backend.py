"""Firehose: delivery streams (the API; delivery to the local S3 is wiring).

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
What runs: :mod:`.delivery` (buffered records become objects in the local S3), started
with the services bridge.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from localaws.motobridge.backend import MotoBackend

if TYPE_CHECKING:
    from localaws.firehose.delivery import FirehoseDelivery
    from localaws.motobridge.bridge import MotoBridge


class FirehoseBackend(MotoBackend):
    service = "firehose"

    @cached_property
    def delivery(self) -> FirehoseDelivery:
        from localaws.firehose.delivery import FirehoseDelivery

        return FirehoseDelivery(self.runtime)

    def attach(self, bridge: MotoBridge) -> None:
        """Called when the services bridge opens: buffer accepted records, deliver them."""
        bridge.observe(self.delivery.observe)
        self.delivery.start()

    def close(self) -> None:
        if "delivery" in self.__dict__:
            self.delivery.stop()
