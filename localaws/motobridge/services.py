"""Which AWS services moto serves behind the local server, and how a request finds one.

``MOUNTED`` maps each botocore service name that :mod:`localaws.registry` marks ``moto=True``
to moto's backend name.  Everything else about
a service (protocol, ``X-Amz-Target`` prefix, signing name, endpoint prefix) comes from
botocore's model of it, so routing a request is a lookup, not a parser per service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import botocore.session

from localaws.registry import SERVICES

# botocore service name -> moto backend name (the same for every service moto serves here).
MOUNTED: dict[str, str] = {s.botocore_name: s.botocore_name for s in SERVICES if s.moto}

# Operations that change nothing, told apart by name; every other operation is journaled.
READ_PREFIXES = (
    "Describe",
    "Get",
    "List",
    "Query",
    "Scan",
    "BatchGet",
    "Search",
    "Filter",
    "Lookup",
    "Test",
)
# Named like a read, but changes state.
MUTATING_READS = frozenset({"GetShardIterator", "GetSessionToken", "GetFederationToken"})
# Services whose X-Amz-Target prefix does not follow the model's targetPrefix alone.
_V2_PATH_PREFIX = "/v2/"


@dataclass(frozen=True)
class ServiceInfo:
    name: str  # botocore name
    moto_name: str
    protocol: str  # json, query, rest-json, rest-xml
    target_prefix: str | None
    signing_name: str
    endpoint_prefix: str
    json_version: str | None

    def host(self, region: str) -> str:
        """The service's AWS host for ``region`` (what moto's URL patterns expect)."""
        return f"{self.endpoint_prefix}.{region}.amazonaws.com"


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str):  # type: ignore[no-untyped-def]
    return _session().get_service_model(name)


@cache
def info(name: str) -> ServiceInfo:
    """botocore's metadata for a mounted service."""
    meta = service_model(name).metadata
    return ServiceInfo(
        name=name,
        moto_name=MOUNTED[name],
        protocol=meta["protocol"],
        target_prefix=meta.get("targetPrefix"),
        signing_name=meta.get("signingName") or meta["endpointPrefix"],
        endpoint_prefix=meta["endpointPrefix"],
        json_version=meta.get("jsonVersion"),
    )


@cache
def by_target_prefix() -> dict[str, str]:
    return {i.target_prefix: i.name for i in map(info, MOUNTED) if i.target_prefix is not None}


@cache
def by_signing_name() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for name in MOUNTED:
        index.setdefault(info(name).signing_name, []).append(name)
    return {k: tuple(v) for k, v in index.items()}


def route(target: str | None, signing_name: str | None, path: str) -> str | None:
    """The mounted service a request is for, or None when it is not for one.

    ``X-Amz-Target`` decides first (``DynamoDB_20120810.PutItem`` -> dynamodb,
    ``DynamoDBStreams_20120810.GetRecords`` -> dynamodbstreams); then the SigV4 scope's
    service name, with API Gateway's v1 and v2 (both signed ``apigateway``) told apart by
    the ``/v2/`` path."""
    if target:
        return by_target_prefix().get(target.split(".", 1)[0])
    if not signing_name:
        return None
    names = by_signing_name().get(signing_name, ())
    if len(names) == 1:
        return names[0]
    if signing_name == "apigateway":
        return "apigatewayv2" if path.startswith(_V2_PATH_PREFIX) else "apigateway"
    # Several JSON services share the name and the target was missing: none of them.
    return None


def operation_name(
    name: str, method: str, target: str | None, query: str, body: bytes
) -> str | None:
    """The botocore operation a request calls, when it can be told without moto's router:
    the target (JSON protocol) or the ``Action`` member (query protocol).  None for REST
    protocols, which are told by their HTTP method instead."""
    if target:
        return target.rsplit(".", 1)[-1]
    if info(name).protocol == "query":
        action = parse_qs(query).get("Action") or parse_qs(body.decode("utf-8", "replace")).get(
            "Action"
        )
        return action[0] if action else None
    return None


def is_mutating(operation: str | None, method: str) -> bool:
    """Whether a call may change state (and so is journaled)."""
    if operation is None:  # REST: reads are GET and HEAD
        return method not in ("GET", "HEAD", "OPTIONS")
    if operation in MUTATING_READS:
        return True
    return not operation.startswith(READ_PREFIXES)


def json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
