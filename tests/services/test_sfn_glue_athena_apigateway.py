"""Step Functions' Glue, Athena and API Gateway integrations in one state machine, run by
the local engine through the server: glue:startJobRun.sync runs a Python shell job,
athena:startQueryExecution.sync queries the table the crawler made, apigateway:invoke calls
an HTTP API's Lambda; a failing job fails the task with States.TaskFailed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from test_apigateway_serving import make_function
from test_glue_athena import RATINGS, ROLE, crawl
from test_stepfunctions_integrations import run, task

SCRIPT = b"""
import sys
import boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["bucket", "mode"])
if args["mode"] == "fail":
    raise RuntimeError("asked to fail")
boto3.client("s3").put_object(Bucket=args["bucket"], Key="etl/ratings.csv", Body=sys.stdin.read() or b"")
"""


def test_glue_job_athena_query_and_api_call_in_a_state_machine(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, glue = client("s3"), client("glue")
    bucket = name("sfn-data")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="scripts/etl.py", Body=SCRIPT)
    s3.put_object(Bucket=bucket, Key="src/ratings.csv", Body=RATINGS.to_csv(index=False).encode())
    job = name("etl")
    glue.create_job(
        Name=job,
        Role=ROLE,
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/scripts/etl.py"},
        DefaultArguments={"--bucket": bucket},
    )
    database = name("db").replace("-", "_")
    crawl(glue, name("crawler"), database, {"S3Targets": [{"Path": f"s3://{bucket}/src/"}]})
    gw = client("apigatewayv2")
    api = gw.create_api(Name=name("api"), ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api,
        IntegrationType="AWS_PROXY",
        IntegrationUri=make_function(client("lambda"), name("fn")),
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    gw.create_route(ApiId=api, RouteKey="POST /score", Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api, StageName="$default")

    definition = {
        "StartAt": "Job",
        "States": {
            "Job": task(
                "glue:startJobRun.sync",
                {"JobName": job, "Arguments": {"--mode": "ok"}},
                ResultSelector={"state.$": "$.JobRunState", "args.$": "$.Arguments"},
                ResultPath="$.job",
                Next="Query",
            ),
            "Query": task(
                "athena:startQueryExecution.sync",
                {
                    "QueryString": "SELECT count(*) AS n FROM src",
                    "QueryExecutionContext": {"Database": database},
                    "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena/"},
                },
                ResultSelector={
                    "id.$": "$.QueryExecution.QueryExecutionId",
                    "state.$": "$.QueryExecution.Status.State",
                },
                ResultPath="$.query",
                Next="Rows",
            ),
            "Rows": task(
                "athena:getQueryResults",
                {"QueryExecutionId.$": "$.query.id"},
                ResultSelector={"n.$": "$.ResultSet.Rows[1].Data[0].VarCharValue"},
                ResultPath="$.rows",
                Next="Call",
            ),
            "Call": task(
                "apigateway:invoke",
                {
                    "ApiEndpoint": f"{api}.execute-api.us-east-1.amazonaws.com",
                    "Method": "POST",
                    "Path": "score",
                    "RequestBody": {"n.$": "$.rows.n"},
                },
                ResultSelector={
                    "status.$": "$.StatusCode",
                    "body.$": "$.ResponseBody.event.body",
                },
                ResultPath="$.api",
                End=True,
            ),
        },
    }
    sfn = client("stepfunctions")
    done = run(sfn, name("sm"), definition)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["job"] == {"state": "SUCCEEDED", "args": {"--bucket": bucket, "--mode": "ok"}}
    assert output["query"]["state"] == "SUCCEEDED"
    assert output["rows"] == {"n": str(len(RATINGS))}
    assert output["api"]["status"] == 201
    assert json.loads(output["api"]["body"]) == {"n": str(len(RATINGS))}

    failing = {
        "StartAt": "Job",
        "States": {
            "Job": task(
                "glue:startJobRun.sync", {"JobName": job, "Arguments": {"--mode": "fail"}}, End=True
            )
        },
    }
    failed = run(sfn, name("sm-fail"), failing)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert cause["JobRunState"] == "FAILED"
    assert cause["ErrorMessage"] == "RuntimeError: asked to fail"


def test_crawler_started_and_awaited_through_aws_sdk(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, glue = client("s3"), client("glue")
    bucket = name("sdk-crawl")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="t/r.csv", Body=RATINGS.to_csv(index=False).encode())
    crawler, database = name("crawler"), name("db").replace("-", "_")
    glue.create_crawler(
        Name=crawler,
        Role=ROLE,
        DatabaseName=database,
        Targets={"S3Targets": [{"Path": f"s3://{bucket}/t/"}]},
    )
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": task("aws-sdk:glue:startCrawler", {"Name": crawler}, Next="Check"),
            "Check": task(
                "aws-sdk:glue:getCrawler",
                {"Name": crawler},
                ResultSelector={"state.$": "$.Crawler.State"},
                Next="Ready?",
            ),
            "Ready?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.state", "StringEquals": "READY", "Next": "Table"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Check"},
            "Table": task(
                "aws-sdk:glue:getTable",
                {"DatabaseName": database, "Name": "t"},
                ResultSelector={"columns.$": "$.Table.StorageDescriptor.Columns[*].Name"},
                End=True,
            ),
        },
    }
    done = run(client("stepfunctions"), name("sm"), definition)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["columns"] == list(RATINGS.columns)
