"""STS: GetCallerIdentity, AssumeRole.

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
"""

from __future__ import annotations

from localaws.motobridge.backend import MotoBackend


class STSBackend(MotoBackend):
    service = "sts"
