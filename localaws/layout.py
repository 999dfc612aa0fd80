"""Every path under the state directory.  Nothing else in the runtime or in ``workflows/``
builds one: they ask a :class:`StateDir`.

::

    <state dir>/
      owner.lock                  who owns the directory (pid, server URL): runtime.py
      runtime.db                  SQLite, every backend's tables: store.py
      s3/<bucket>/<key>           the objects: lambdakit.storage.LocalStorage
      s3-meta/<bucket>/<sha>.json ETag, type and metadata of objects written through the S3 API
      s3-uploads/<upload id>/     multipart uploads in progress
      lambda/<function>/<sha256>/ a function's extracted code
      endpoints/<name>.json       endpoint registry, read by Lambda workers (lambdakit.clients)
      hosting/<endpoint>/<deployment>/  an endpoint's model files
      jobs/<kind>/<name>/         a training / processing job's /opt/ml
      logs/<kind>/<name>.log      job, transform and endpoint logs
      transform/                  batch transform work directories
      featurestore/online.db      the Feature Store's online store and offline queue
      examples/<machine>.json     example execution inputs shown by the console
      web/<site>/                 static pages served next to the console (server.sites)
      services/journal.db         the journal of calls to the services moto serves: motobridge
      services/snapshot.pickle    a snapshot of moto's backends (motobridge.snapshot)
      athena/<query id>.parquet   a query's result rows, paged by GetQueryResults (athena.queries)
      glue/jobs/<run id>/         a Glue job run's script and work directory (glue.jobs)
"""

from __future__ import annotations

import os
from pathlib import Path

from localaws.lambdakit.clients import registry_path


class StateDir:
    """The paths of one state directory.  Methods only name paths; :meth:`made` creates a
    directory for the callers that write into it."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @staticmethod
    def made(directory: Path) -> Path:
        """``directory``, created with its parents when missing."""
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    # -- the runtime -------------------------------------------------------------------

    @property
    def owner_lock(self) -> Path:
        return self.root / "owner.lock"

    @property
    def database(self) -> Path:
        return self.root / "runtime.db"

    @property
    def backups(self) -> Path:
        """``backup/``: the rolling backups of the SQLite files (``localaws.backup``)."""
        return self.root / "backup"

    # -- S3 ----------------------------------------------------------------------------

    @property
    def s3(self) -> Path:
        """The root of ``s3://`` (``s3://bucket/key`` is ``<this>/bucket/key``)."""
        return self.root / "s3"

    @property
    def s3_meta(self) -> Path:
        return self.root / "s3-meta"

    @property
    def s3_uploads(self) -> Path:
        return self.root / "s3-uploads"

    # -- Lambda ------------------------------------------------------------------------

    def lambda_tmp(self, function: str) -> Path:
        """``lambda-tmp/<function>/``: the function's ephemeral /tmp (its workers' TMPDIR)."""
        return self.root / "lambda-tmp" / function

    @property
    def lambda_code(self) -> Path:
        """``lambda/``: one directory per function, one extraction per code sha256 in it."""
        return self.root / "lambda"

    # -- SageMaker ---------------------------------------------------------------------

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints"

    def endpoint_record(self, name: str) -> Path:
        return registry_path(self.endpoints, name)

    def hosting(self, endpoint: str, deployment: str | None = None) -> Path:
        base = self.root / "hosting" / endpoint
        return base if deployment is None else base / deployment

    def jobs(self, kind: str) -> Path:
        """``jobs/<kind>/``: ``training``, ``processing``."""
        return self.root / "jobs" / kind

    def log(self, kind: str, name: str) -> Path:
        """``logs/<kind>/<name>.log``: kind ``training``, ``processing``, ``transform``..."""
        return self.root / "logs" / kind / f"{name}.log"

    @property
    def transform(self) -> Path:
        return self.root / "transform"

    @property
    def featurestore_online(self) -> Path:
        """The Feature Store's online store (latest record per id) and offline-store queue."""
        return self.root / "featurestore" / "online.db"

    # -- the console -------------------------------------------------------------------

    def example(self, state_machine: str) -> Path:
        """The example input the console offers for a state machine."""
        return self.root / "examples" / f"{state_machine}.json"

    def example_per_run(self, state_machine: str) -> Path:
        """Which fields of the example input a new run renames (the console's freshening):
        ``{"runIdField": "RunId", "fields": ["TrainingJobName", ...]}``."""
        return self.root / "examples" / f"{state_machine}.per-run.json"

    def web_site(self, site: str) -> Path:
        """``web/<site>/``: a use case's static page, served at ``/web/<site>/``."""
        return self.root / "web" / site

    # -- the services moto serves (localaws/motobridge) -------------------------------

    @property
    def services(self) -> Path:
        """``services/``: the journal of mutating calls and the snapshot of moto's backends."""
        return self.root / "services"

    @property
    def athena_results(self) -> Path:
        """``athena/``: each query's result rows as Parquet (``<query id>.parquet``), which
        GetQueryResults pages; the CSV AWS writes goes to the query's output location."""
        return self.root / "athena"

    def glue_job_run(self, run_id: str) -> Path:
        """``glue/jobs/<run id>/``: a Glue job run's script and working directory."""
        return self.root / "glue" / "jobs" / run_id
