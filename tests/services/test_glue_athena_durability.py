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
