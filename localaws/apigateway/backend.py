"""API Gateway: REST APIs (v1) and HTTP APIs (v2).

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
"""

from __future__ import annotations

from localaws.motobridge.backend import MotoBackend


class APIGatewayBackend(MotoBackend):
    service = "apigateway"


class APIGatewayV2Backend(MotoBackend):
    service = "apigatewayv2"
