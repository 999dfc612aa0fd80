"""API Gateway (REST and HTTP APIs), Glue Data Catalog and Athena (the APIs) through boto3
against the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:score"


def test_rest_api_with_lambda_proxy(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    apigw = client("apigateway")
    api = apigw.create_rest_api(name=name("api"))["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    resource = apigw.create_resource(restApiId=api, parentId=root, pathPart="score")["id"]
    apigw.put_method(
        restApiId=api, resourceId=resource, httpMethod="POST", authorizationType="NONE"
    )
    apigw.put_integration(
        restApiId=api,
        resourceId=resource,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{LAMBDA_ARN}/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="prod")
    assert [s["stageName"] for s in apigw.get_stages(restApiId=api)["item"]] == ["prod"]
    paths = {r["path"] for r in apigw.get_resources(restApiId=api)["items"]}
    assert paths == {"/", "/score"}


def test_http_api(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    apigw = client("apigatewayv2")
    api = apigw.create_api(Name=name("http"), ProtocolType="HTTP")["ApiId"]
    integration = apigw.create_integration(
        ApiId=api,
        IntegrationType="AWS_PROXY",
        IntegrationUri=LAMBDA_ARN,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    apigw.create_route(ApiId=api, RouteKey="POST /score", Target=f"integrations/{integration}")
    apigw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    assert [r["RouteKey"] for r in apigw.get_routes(ApiId=api)["Items"]] == ["POST /score"]
    assert api in [a["ApiId"] for a in apigw.get_apis()["Items"]]


def test_glue_catalog_crawler_and_job(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    glue = client("glue")
    db = name("db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "ratings",
            "StorageDescriptor": {
                "Columns": [{"Name": "user", "Type": "string"}, {"Name": "rating", "Type": "int"}],
                "Location": "s3://lake/ratings/",
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        },
    )
    glue.create_partition(
        DatabaseName=db,
        TableName="ratings",
        PartitionInput={
            "Values": ["2024-01-01"],
            "StorageDescriptor": {"Location": "s3://lake/ratings/dt=2024-01-01/"},
        },
    )
    parts = glue.get_partitions(DatabaseName=db, TableName="ratings")["Partitions"]
    assert [p["Values"] for p in parts] == [["2024-01-01"]]
    crawler = name("crawler")
    glue.create_crawler(
        Name=crawler,
        Role="arn:aws:iam::123456789012:role/glue",
        DatabaseName=db,
        Targets={"S3Targets": [{"Path": "s3://lake/ratings/"}]},
    )
    assert glue.get_crawler(Name=crawler)["Crawler"]["State"] == "READY"
    job = name("job")
    glue.create_job(
        Name=job,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "pythonshell", "ScriptLocation": "s3://lake/scripts/job.py"},
    )
    run = glue.start_job_run(JobName=job, Arguments={"--day": "2024-01-01"})["JobRunId"]
    assert glue.get_job_run(JobName=job, RunId=run)["JobRun"]["Id"] == run


def test_athena_query_api(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    athena = client("athena")
    workgroup = name("wg")
    athena.create_work_group(
        Name=workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/athena/"}},
    )
    query = athena.start_query_execution(
        QueryString="SELECT 1", WorkGroup=workgroup, QueryExecutionContext={"Database": "default"}
    )["QueryExecutionId"]
    execution = athena.get_query_execution(QueryExecutionId=query)["QueryExecution"]
    assert execution["Query"] == "SELECT 1"
    assert execution["WorkGroup"] == workgroup
