"""AWS Signature Version 4 on the server side: parse a request's signature, and verify it.

Every AWS API request carries a SigV4 signature, in the ``Authorization`` header
(``AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/states/aws4_request,
SignedHeaders=host;x-amz-date, Signature=<64 hex>``) or, for presigned URLs, in the query
string (``X-Amz-Credential``, ``X-Amz-Signature``...).  :func:`parse` checks that one is
present and well formed; :func:`verify` recomputes it with botocore's own signer from the
secret of the access key, as AWS does, for a server started with a credentials file
(:func:`load_credentials`, the AWS shared-credentials format).

The payload hash is the signed ``x-amz-content-sha256`` header when there is one (S3 sends
the body's hash, ``UNSIGNED-PAYLOAD`` or ``STREAMING-...`` for aws-chunked bodies), else the
SHA-256 of the body; presigned S3 URLs sign ``UNSIGNED-PAYLOAD``.  Per-chunk signatures of a
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body are not checked: the headers' signature is.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from botocore.auth import HmacV1QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from localaws import config
from localaws.errors import UserError, excerpt

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)  # AWS refuses a signature dated further from now
MAX_PRESIGNED_EXPIRY_S = 7 * 24 * 3600
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{8}$")
_TIMESTAMP = re.compile(r"^\d{8}T\d{6}Z$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


class SignatureError(Exception):
    """A request whose signature is missing, malformed, unknown or wrong.

    ``reason`` is one of ``missing``, ``incomplete``, ``unknown-key``, ``mismatch``,
    ``expired``; the HTTP layer turns it into the protocol's error code.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Signature:
    """A request's SigV4 signature, as sent."""

    access_key: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # X-Amz-Date: YYYYMMDDTHHMMSSZ
    presigned: bool
    expires: int | None = None  # SigV4: seconds after timestamp; SigV2: epoch seconds
    version: int = 4


Headers = list[tuple[str, str]]  # (lower-case name, value), in the order received


def header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _incomplete(message: str) -> SignatureError:
    return SignatureError("incomplete", excerpt(message))


def parse(headers: Headers, query: dict[str, str]) -> Signature:
    """The request's signature; :class:`SignatureError` when it has none or a malformed one."""
    authorization = header(headers, "authorization")
    if authorization is not None:
        return _parse_header(authorization, headers)
    if "X-Amz-Credential" in query or "X-Amz-Signature" in query:
        return _parse_query(query, headers)
    if "AWSAccessKeyId" in query or "Signature" in query:
        return _parse_query_v2(query)
    raise SignatureError(
        "missing",
        "the request is not signed; AWS APIs need an AWS Signature Version 4 (boto3, the "
        "AWS CLI and the SDKs sign every request when credentials are set, any values will do)",
    )


def _parse_header(authorization: str, headers: Headers) -> Signature:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Authorization header uses {algorithm!r}; this server accepts only {ALGORITHM} "
            "(Signature Version 4)"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq:
            raise _incomplete(f"Authorization header: {part.strip()!r} is not KEY=VALUE")
        fields[key] = value
    for key in ("Credential", "SignedHeaders", "Signature"):
        if key not in fields:
            raise _incomplete(f"Authorization header: {key}= is missing")
    timestamp = header(headers, "x-amz-date")
    if timestamp is None:
        date_header = header(headers, "date")
        if date_header is None:
            raise _incomplete("the request has neither an X-Amz-Date nor a Date header")
        try:
            timestamp = (
                parsedate_to_datetime(date_header).astimezone(UTC).strftime(TIMESTAMP_FORMAT)
            )
        except (TypeError, ValueError) as e:
            raise _incomplete(f"Date header {date_header!r} is not an HTTP date") from e
    return _signature(
        fields["Credential"],
        fields["SignedHeaders"],
        fields["Signature"],
        timestamp,
        headers,
        presigned=False,
        expires=None,
    )


def _parse_query(query: dict[str, str], headers: Headers) -> Signature:
    for key in (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ):
        if key not in query:
            raise _incomplete(f"presigned URL: query parameter {key} is missing")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(
            f"presigned URL: X-Amz-Algorithm {query['X-Amz-Algorithm']!r} is not {ALGORITHM}"
        )
    expires = None
    if "X-Amz-Expires" in query:
        raw = query["X-Amz-Expires"]
        if not raw.isdigit() or not 0 < int(raw) <= MAX_PRESIGNED_EXPIRY_S:
            raise _incomplete(
                f"presigned URL: X-Amz-Expires {raw!r} must be 1 to {MAX_PRESIGNED_EXPIRY_S} s"
            )
        expires = int(raw)
    return _signature(
        query["X-Amz-Credential"],
        query["X-Amz-SignedHeaders"],
        query["X-Amz-Signature"],
        query["X-Amz-Date"],
        headers,
        presigned=True,
        expires=expires,
    )


def _parse_query_v2(query: dict[str, str]) -> Signature:
    """An S3 URL presigned with Signature Version 2 (boto3's default for S3 presigning)."""
    for key in ("AWSAccessKeyId", "Signature", "Expires"):
        if not query.get(key):
            raise _incomplete(f"presigned URL: query parameter {key} is missing")
    if not query["Expires"].isdigit():
        raise _incomplete(f"presigned URL: Expires {query['Expires']!r} is not epoch seconds")
    return Signature(
        access_key=query["AWSAccessKeyId"],
        date="",
        region="",
        service="s3",
        signed_headers=(),
        signature=query["Signature"],
        timestamp="",
        presigned=True,
        expires=int(query["Expires"]),
        version=2,
    )


def _signature(
    credential: str,
    signed_headers: str,
    signature: str,
    timestamp: str,
    headers: Headers,
    *,
    presigned: bool,
    expires: int | None,
) -> Signature:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise _incomplete(
            f"Credential {credential!r} is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request"
        )
    access_key, date, region, service, _ = parts
    if not _DATE.match(date):
        raise _incomplete(f"Credential {credential!r}: the date is not YYYYMMDD")
    if not _TIMESTAMP.match(timestamp):
        raise _incomplete(f"X-Amz-Date {timestamp!r} is not YYYYMMDDTHHMMSSZ")
    if timestamp[:8] != date:
        raise _incomplete(
            f"Credential date {date} is not the date of X-Amz-Date {timestamp}; sign again"
        )
    if not _SIGNATURE.match(signature):
        raise _incomplete(f"Signature {signature!r} is not 64 hexadecimal digits")
    names = tuple(signed_headers.split(";"))
    if not all(_HEADER_NAME.match(n) for n in names):
        raise _incomplete(f"SignedHeaders {signed_headers!r} is not lower-case names joined by ;")
    if "host" not in names:
        raise _incomplete(f"SignedHeaders {signed_headers!r} must include host")
    present = {name for name, _ in headers}
    missing = [n for n in names if n not in present]
    if missing:
        raise _incomplete(f"signed header(s) {', '.join(missing)} missing from the request")
    return Signature(
        access_key, date, region, service, names, signature, timestamp, presigned, expires
    )


# -- verification ------------------------------------------------------------------------------


class _ExpectedSigner(SigV4Auth):
    """botocore's SigV4 signer, fed the request's own signed headers and payload hash."""

    def __init__(self, credentials: Credentials, sig: Signature, payload_hash: str):
        super().__init__(credentials, sig.service, sig.region)
        self._sig = sig
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        out = HTTPHeaders()
        for name in self._sig.signed_headers:
            for value in request.headers.get_all(name) or []:
                out[name] = value
        return out

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash

    def _normalize_url_path(self, path: str) -> str:
        if self._sig.service == "s3":
            return path  # S3 signs the path as sent, as botocore's S3 signers do
        return str(super()._normalize_url_path(path))


def expected_signature(
    sig: Signature,
    secret_key: str,
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Headers,
    payload_hash: str,
) -> str:
    """The signature a client holding ``secret_key`` computes for this request."""
    if sig.presigned:
        query_string = "&".join(
            pair
            for pair in query_string.split("&")
            if pair and pair.partition("=")[0] != "X-Amz-Signature"
        )
    host = header(headers, "host") or ""
    url = f"http://{host}{raw_path}" + (f"?{query_string}" if query_string else "")
    request = AWSRequest(method=method, url=url)
    signed = set(sig.signed_headers)
    for name, value in headers:
        if name in signed:
            request.headers[name] = value
    request.context["timestamp"] = sig.timestamp
    signer = _ExpectedSigner(Credentials(sig.access_key, secret_key), sig, payload_hash)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def payload_hash(sig: Signature, headers: Headers, body: bytes | None) -> str:
    """What the client hashed as the payload: the signed ``x-amz-content-sha256`` header,
    ``UNSIGNED-PAYLOAD`` for a presigned S3 URL, else the SHA-256 of ``body``."""
    declared = header(headers, "x-amz-content-sha256")
    if declared is not None and "x-amz-content-sha256" in sig.signed_headers:
        return declared
    if sig.presigned and sig.service == "s3":
        return UNSIGNED_PAYLOAD
    if body is None:
        raise SignatureError(
            "incomplete",
            "the request does not sign x-amz-content-sha256; S3 requests must send it",
        )
    return hashlib.sha256(body).hexdigest()


def verify(
    sig: Signature,
    secrets: dict[str, str],
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Headers,
    body: bytes | None,
    now: datetime | None = None,
) -> None:
    """Check the signature against the secret of its access key; :class:`SignatureError`
    when the key is unknown, the signature differs, or it is out of date."""
    secret = secrets.get(sig.access_key)
    if secret is None:
        raise SignatureError(
            "unknown-key",
            f"access key {excerpt(sig.access_key, 40)!r} is not in the server's credentials "
            "file; use a key listed there",
        )
    now = now or datetime.now(UTC)
    if sig.version == 2:
        _verify_v2(sig, secret, method=method, raw_path=raw_path, query_string=query_string)
        if now.timestamp() > (sig.expires or 0):
            raise SignatureError("expired", "the presigned URL has expired; presign it again")
        return
    signed_at = datetime.strptime(sig.timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    if sig.presigned:
        expires = sig.expires if sig.expires is not None else MAX_PRESIGNED_EXPIRY_S
        if now > signed_at + timedelta(seconds=expires) or signed_at - now > MAX_SKEW:
            raise SignatureError("expired", "the presigned URL has expired; presign it again")
    elif abs(now - signed_at) > MAX_SKEW:
        raise SignatureError(
            "expired",
            f"the signature is dated {sig.timestamp}, more than 15 minutes from the server's "
            "clock; check the clock and sign again",
        )
    expected = expected_signature(
        sig,
        secret,
        method=method,
        raw_path=raw_path,
        query_string=query_string,
        headers=headers,
        payload_hash=payload_hash(sig, headers, body),
    )
    if not hmac.compare_digest(expected, sig.signature):
        raise SignatureError(
            "mismatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )


class _ExpectedV2Signer(HmacV1QueryAuth):
    """botocore's SigV2 query signer, dated with the URL's own ``Expires``."""

    def __init__(self, credentials: Credentials, expires: str):
        super().__init__(credentials)
        self._expires_value = expires

    def _get_date(self) -> str:
        return self._expires_value


_V2_AUTH_PARAMS = frozenset({"AWSAccessKeyId", "Signature", "Expires"})


def _verify_v2(
    sig: Signature, secret: str, *, method: str, raw_path: str, query_string: str
) -> None:
    headers = HTTPHeaders()
    kept = []
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        lower = unquote(name).lower()
        if not pair or name in _V2_AUTH_PARAMS:
            continue
        if lower.startswith("x-amz-") or lower in ("content-md5", "content-type"):
            headers[lower] = unquote(value)
        else:
            kept.append(pair)
    split = urlsplit(f"http://localhost{raw_path}" + ("?" + "&".join(kept) if kept else ""))
    signer = _ExpectedV2Signer(Credentials(sig.access_key, secret), str(sig.expires))
    expected = signer.get_signature(method, split, headers)
    if not hmac.compare_digest(expected, sig.signature):
        raise SignatureError(
            "mismatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )


# -- credentials file --------------------------------------------------------------------------


def load_credentials(path: str | os.PathLike[str]) -> dict[str, str]:
    """Access key -> secret key, from a file in the AWS shared-credentials format::

        [default]
        aws_access_key_id = AKIDEXAMPLE
        aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY

    Every section's pair is accepted.
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except OSError as e:
        raise UserError(
            f"credentials file {path}: cannot be read ({e.strerror}); give a readable file"
        ) from e
    except configparser.Error as e:
        raise UserError(
            f"credentials file {path}: not in the AWS credentials format ([profile] sections "
            f"with aws_access_key_id and aws_secret_access_key): {e.message}"
        ) from e
    secrets: dict[str, str] = {}
    for section in parser.sections():
        key = parser.get(section, "aws_access_key_id", fallback="").strip()
        secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
        if not key or not secret:
            raise UserError(
                f"credentials file {path}: section [{section}] needs both aws_access_key_id "
                "and aws_secret_access_key"
            )
        secrets[key] = secret
    if not secrets:
        raise UserError(
            f"credentials file {path}: no [profile] section with aws_access_key_id and "
            "aws_secret_access_key; add one"
        )
    return secrets


def first_pair(secrets: dict[str, str]) -> tuple[str, str]:
    """The pair the runtime hands its own workers and clients."""
    key = next(iter(secrets))
    return key, secrets[key]


def client_credentials(credentials: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """The key pair a local client signs with: the first of the credentials file
    (``LOCALAWS_CREDENTIALS``) when one is configured, else the runtime's default pair."""
    path = config.credentials_file(credentials)
    if path is None:
        return config.DEFAULT_ACCESS_KEY, config.DEFAULT_SECRET_KEY
    return first_pair(load_credentials(path))
