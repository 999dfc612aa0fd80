"""``getResolvedOptions`` as AWS Glue's ``awsglue.utils`` defines it."""

from __future__ import annotations

import argparse

# Arguments Glue always passes to a job run (its script may ask for them).
GLUE_ARGUMENTS = ("JOB_ID", "JOB_RUN_ID", "JOB_NAME", "SECURITY_CONFIGURATION", "TempDir")


class GlueArgumentError(Exception):
    """A requested option is missing from the job run's arguments."""


def getResolvedOptions(args: list[str], options: list[str]) -> dict[str, str]:
    """The values of ``options`` (names without ``--``) in ``args`` (``sys.argv``).

    A missing option raises ``GlueArgumentError``, as on AWS; ``JOB_NAME`` and the other
    arguments Glue passes are answered when asked for."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for option in dict.fromkeys([*options]):
        parser.add_argument(f"--{option}", required=option not in GLUE_ARGUMENTS)
    try:
        known, _ = parser.parse_known_args(args[1:])
    except SystemExit as e:
        missing = [o for o in options if f"--{o}" not in args]
        raise GlueArgumentError(
            f"the following arguments are required: {', '.join('--' + o for o in missing)}"
        ) from e
    return dict(vars(known))
