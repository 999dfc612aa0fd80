"""The CLI's error boundary: exit codes, and the one translation of errors into them.

Every expected failure leaves ``python -m workflows`` as one line on stderr and an exit code
from :class:`ExitCode` (the README's table is this enum); only a bug prints a traceback.
:func:`translate` turns botocore's exceptions into ours, once, for the target's clients
(:mod:`workflows.target`) and for the AWS commands' own boto3 calls.
"""

from __future__ import annotations

from enum import IntEnum

from localaws.errors import PlatformError, ServiceError, UserError


class ExitCode(IntEnum):
    OK = 0  # the command did what it was asked; a run or execution SUCCEEDED
    FAILED = 1  # the execution FAILED / TIMED_OUT / was ABORTED, or a service refused a request
    USAGE = 2  # bad usage, configuration, input file or template: the message names the fix
    STATE_DIR_BUSY = 3  # another process (not a server) owns the state directory
    STILL_RUNNING = 4  # --timeout passed while the execution was still running
    UNREACHABLE = 5  # the local server (or AWS's endpoint) does not answer
    AWS_CREDENTIALS = 6  # no AWS credentials or region for the AWS commands
    DEPLOY_FAILED = 7  # CloudFormation did not create or update the stack
    PLATFORM = 8  # the machine: a port taken, a disk full, a worker that died
    STATE_CORRUPT = 9  # runtime.db or the services journal is empty or damaged: restore it
    INTERRUPTED = 130  # Ctrl-C


class Unreachable(PlatformError):
    """Where the workflow runs does not answer."""


class ServerUnreachable(Unreachable):
    """The local server does not answer (never started, or gone mid-run)."""

    def __init__(self, url: str, during: str = ""):
        what = f" during {during}" if during else ""
        super().__init__(
            f"lost the connection to the local server at {url}{what}; "
            "is `python -m workflows serve` still running? Start it again, or stop it and "
            "run without a server"
        )
        self.url = url


class AwsCredentialsError(UserError):
    """No AWS credentials (or region) for a command that talks to AWS."""


class DeployError(PlatformError):
    """CloudFormation could not create or update the stack; the message has its reasons."""


class AwsUnreachable(Unreachable):
    """An AWS endpoint could not be reached (network, proxy, region)."""


def translate(error: Exception, *, url: str | None = None, during: str = "") -> Exception:
    """botocore's exception -> ours (ServiceError, ServerUnreachable, AwsCredentialsError).

    ``url`` is the local server's address when the call went to one (a lost connection
    then names it); an exception that is not botocore's comes back unchanged.
    """
    from botocore import exceptions as bx

    if isinstance(error, bx.ClientError):
        body = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        return ServiceError(
            str(body.get("Code", "Unknown")), str(body.get("Message", "")), status=int(status)
        )
    if isinstance(error, bx.ParamValidationError):
        return UserError(f"{error}; fix the value named above")
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AwsCredentialsError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, run "
            "`aws configure`, or pass --profile"
        )
    if isinstance(error, bx.NoRegionError):
        return AwsCredentialsError(
            "no AWS region: pass --region, or set AWS_DEFAULT_REGION / a profile's region"
        )
    if isinstance(error, bx.ProfileNotFound):
        return AwsCredentialsError(f"{error}; pass an existing --profile (see ~/.aws/config)")
    # botocore's ConnectionError (refused, connect timeout, proxy, TLS) and HTTPClientError
    # (closed mid-response, read timeout, whatever else urllib3 raised on the way)
    if isinstance(error, bx.ConnectionError | bx.HTTPClientError):
        if url is not None:
            return ServerUnreachable(url, during)
        return AwsUnreachable(f"cannot reach AWS: {error}; check the network and the region")
    if isinstance(error, bx.WaiterError):
        return DeployError(str(error))
    return error


def exit_code(error: BaseException) -> ExitCode | None:
    """The exit code of an expected failure; None for a bug (which keeps its traceback)."""
    from workflows.aws_template import TemplateError

    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, Unreachable):
        return ExitCode.UNREACHABLE
    if isinstance(error, AwsCredentialsError):
        return ExitCode.AWS_CREDENTIALS
    if isinstance(error, DeployError):
        return ExitCode.DEPLOY_FAILED
    from localaws.runtime import StateDirBusy

    if isinstance(error, StateDirBusy):
        return ExitCode.STATE_DIR_BUSY
    if isinstance(error, UserError | TemplateError | FileNotFoundError):
        return ExitCode.USAGE
    from localaws.backup import StateCorrupt

    if isinstance(error, StateCorrupt):
        return ExitCode.STATE_CORRUPT
    if isinstance(error, PlatformError):
        return ExitCode.PLATFORM
    if isinstance(error, ServiceError):
        return ExitCode.FAILED
    return None


def one_line(error: BaseException) -> str:
    """The message a user sees: one line, the error's own words."""
    if isinstance(error, ServiceError):
        text = f"{error.code}: {error.message}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())
