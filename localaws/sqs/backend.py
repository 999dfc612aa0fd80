"""SQS: standard and FIFO queues, visibility, delay, long polling, dead-letter redrive.

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
"""

from __future__ import annotations

from typing import Any

from localaws.errors import ServiceError
from localaws.motobridge.backend import MotoBackend


class SQSBackend(MotoBackend):
    service = "sqs"

    def queued_message(self, queue_url: str, body: str) -> dict[str, Any] | None:
        """SendMessage's response for a message with this body still in the queue (sent,
        not yet deleted), None when there is none.  Not an AWS operation: Step Functions
        asks it when a task interrupted between its send and the record of the send goes
        on, so that a message that went out is not sent twice."""
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:  # through the bridge first: it loads moto (once, under its lock) and its state
            self.get_queue_url(QueueName=name)
        except ServiceError:
            return None  # no such queue: the send will say so
        from moto.sqs.models import sqs_backends

        bridge = self.runtime.motobridge
        with bridge._lock:
            queue = sqs_backends[bridge.account_id][bridge.region].queues.get(name)
            if queue is None:
                return None
            for message in queue._messages:
                if message.body == body:
                    return {"MessageId": message.id, "MD5OfMessageBody": message.body_md5}
        return None
