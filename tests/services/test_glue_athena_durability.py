"""A crawl's catalog, a job run's state and a query's results survive ``kill -9`` of the
server: after the restart GetTable, GetJobRun and GetQueryResults answer as before."""

from __future__ import annotations

import signal
from pathlib import Path

from test_durability import clients, start_serve
from test_glue_athena import RATINGS, ROLE, crawl, query, rows
from wiring_support import wait_for


def test_catalog_job_run_and_query_results_survive_kill_9(tmp_path: Path) -> None:
    process, url = start_serve(tmp_path)
    try:
        c = clients(url)
        s3, glue, athena = c("s3"), c("glue"), c("athena")
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="t/r.csv", Body=RATINGS.to_csv(index=False).encode())
        s3.put_object(Bucket="lake", Key="job.py", Body=b"print('done')\n")
        crawl(glue, "c", "db", {"S3Targets": [{"Path": "s3://lake/t/"}]})
        execution = query(athena, "SELECT count(*) AS n FROM t", "db", "s3://lake/out/")
        qid = execution["QueryExecutionId"]
        before = rows(athena, qid)
        glue.create_job(
            Name="j",
            Role=ROLE,
            Command={"Name": "pythonshell", "ScriptLocation": "s3://lake/job.py"},
        )
        run_id = glue.start_job_run(JobName="j")["JobRunId"]
        wait_for(
            "the job run's end",
            lambda: (
                glue.get_job_run(JobName="j", RunId=run_id)["JobRun"]["JobRunState"] == "SUCCEEDED"
            ),
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    process, url = start_serve(tmp_path)
    try:
        c = clients(url)
        glue, athena = c("glue"), c("athena")
        assert (
            glue.get_table(DatabaseName="db", Name="t")["Table"]["Parameters"]["classification"]
            == "csv"
        )
        assert glue.get_crawler(Name="c")["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        assert glue.get_job_run(JobName="j", RunId=run_id)["JobRun"]["JobRunState"] == "SUCCEEDED"
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        assert status["State"] == "SUCCEEDED"
        assert rows(athena, qid) == before == [["n"], [str(len(RATINGS))]]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


WAITING_JOB = b"""
import os, pathlib, sys, time
from awsglue.utils import getResolvedOptions

work = pathlib.Path(getResolvedOptions(sys.argv, ["work"])["work"])
with open(work / "starts", "a") as fh:
    fh.write(f"{os.getpid()}\\n")
while not (work / "go").exists():
    time.sleep(0.05)
with open(work / "ends", "a") as fh:
    fh.write(f"{os.getpid()}\\n")
"""


def _gone(pid: int) -> bool:
    """The process has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_job_run_interrupted_by_kill_9_runs_again_from_the_start(tmp_path: Path) -> None:
    """At least once: the run in flight when the server dies is killed with it (its
    lifeline) and started again, under the same run id, when the server comes back."""
    work = tmp_path / "work"
    work.mkdir()
    state = tmp_path / "state"
    process, url = start_serve(state)
    try:
        c = clients(url)
        s3, glue = c("s3"), c("glue")
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="wait.py", Body=WAITING_JOB)
        glue.create_job(
            Name="w",
            Role=ROLE,
            Command={"Name": "pythonshell", "ScriptLocation": "s3://lake/wait.py"},
            DefaultArguments={"--work": str(work)},
        )
        run_id = glue.start_job_run(JobName="w")["JobRunId"]
        starts = work / "starts"
        wait_for("the first attempt's start", lambda: starts.exists() and starts.read_text())
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    first = int(starts.read_text().split()[0])
    wait_for("the first attempt to die with the server", lambda: _gone(first))
    assert not (work / "ends").exists()

    process, url = start_serve(state)
    try:
        glue = clients(url)("glue")
        assert glue.get_job_run(JobName="w", RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING"
        wait_for("the second attempt's start", lambda: len(starts.read_text().split()) == 2)
        (work / "go").touch()
        run = wait_for(
            "the run's end",
            lambda: (
                found
                if (found := glue.get_job_run(JobName="w", RunId=run_id)["JobRun"])["JobRunState"]
                not in ("STARTING", "RUNNING", "STOPPING")
                else None
            ),
        )
        assert run["JobRunState"] == "SUCCEEDED", run
        second = int(starts.read_text().split()[1])
        assert second != first
        assert (work / "ends").read_text().split() == [str(second)]
        assert [r["Id"] for r in glue.get_job_runs(JobName="w")["JobRuns"]] == [run_id]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
