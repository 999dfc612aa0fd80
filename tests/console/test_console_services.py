"""The console's service pages in headless Chromium, over resources made with boto3 against
the local server: approving a model package (and its EventBridge event reaching a rule's
queue), an Athena query typed over a crawled table, an EventBridge rule's last deliveries,
API Gateway's local serving URLs.  Screenshots: ``test-artifacts/console/``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from browser_support import launch, open_page, shot
from playwright.sync_api import Browser, Page, expect

from localaws.events.deliveries import DeliveryLog
from localaws.runtime import read_owner
from localaws.server.serve import LocalServer

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::123456789012:role/console-test"
ROOT = Path(__file__).resolve().parents[2]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("console-services")) as running:
        yield running


def boto_client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def client(server: LocalServer) -> Callable[[str], Any]:
    return lambda service: boto_client(server.url, service)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from open_page(browser)


def until(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_approve_a_model_package_from_the_registry_page(
    page: Page, server: LocalServer, client: Callable[[str], Any]
) -> None:
    sqs, events, sm, s3 = client("sqs"), client("events"), client("sagemaker"), client("s3")
    queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="on-approval",
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelApprovalStatus": ["Approved"]},
            }
        ),
    )
    events.put_targets(Rule="on-approval", Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3.create_bucket(Bucket="registry")
    s3.put_object(
        Bucket="registry", Key="eval/v1.json", Body=b'{"binary_classification_metrics": {}}'
    )
    sm.create_model_package_group(
        ModelPackageGroupName="churn", ModelPackageGroupDescription="churn models"
    )
    arns = [
        sm.create_model_package(
            ModelPackageGroupName="churn",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://registry/m{i}.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": "s3://registry/eval/v1.json",
                    }
                }
            },
            CustomerMetadataProperties={"auc": f"0.8{i}"},
        )["ModelPackageArn"]
        for i in (1, 2)
    ]
    page.goto(f"{server.url}/#/sm/modelPackageGroup/churn")
    versions = page.locator("#model-packages tbody tr")
    expect(versions).to_have_count(2)
    row = versions.filter(has=page.locator("td:first-child", has_text="2"))
    expect(row.locator(".approval")).to_have_text("PendingManualApproval")
    expect(row).to_contain_text("auc = 0.82")
    expect(row.get_by_role("link", name="ModelQuality Statistics")).to_have_attribute(
        "href", "/console/api/object?uri=s3%3A%2F%2Fregistry%2Feval%2Fv1.json"
    )
    row.get_by_role("button", name="Approve").click()
    row = page.locator("#model-packages tbody tr").filter(
        has=page.locator("td:first-child", has_text="2")
    )
    expect(row.locator(".approval")).to_have_text("Approved")
    expect(row.get_by_role("button", name="Approve")).to_be_disabled()
    shot(page, "20-model-package-approved")
    assert sm.describe_model_package(ModelPackageName=arns[1])["ModelApprovalStatus"] == "Approved"
    assert (
        sm.describe_model_package(ModelPackageName=arns[0])["ModelApprovalStatus"]
        == "PendingManualApproval"
    )
    # The approval's state-change event reached the rule's queue (the creations did not match).
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    assert [b["detail"]["ModelPackageArn"] for b in bodies] == [arns[1]]
    assert bodies[0]["detail-type"] == "SageMaker Model Package State Change"
    # ... and the rule's page lists that delivery.
    page.goto(f"{server.url}/#/services")
    page.locator("#event-rules").get_by_role("link", name="on-approval").click()
    deliveries = page.locator("#rule-delivery-table tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_contain_text(queue_arn)
    expect(deliveries.first).to_contain_text(bodies[0]["id"])
    expect(deliveries.first.locator(".outcome")).to_have_text("Delivered")
    shot(page, "21-rule-deliveries")


def test_rule_page_shows_failed_deliveries_and_the_dead_letter(
    page: Page, server: LocalServer, client: Callable[[str], Any]
) -> None:
    sqs, events = client("sqs"), client("events")
    dlq = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:not-there"
    events.put_rule(Name="to-nowhere", EventPattern=json.dumps({"source": ["shop.orders"]}))
    events.put_targets(
        Rule="to-nowhere",
        Targets=[
            {
                "Id": "machine",
                "Arn": missing,
                "RoleArn": ROLE,
                "RetryPolicy": {"MaximumRetryAttempts": 1},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    put = events.put_events(
        Entries=[{"Source": "shop.orders", "DetailType": "Order", "Detail": '{"id": 1}'}]
    )
    event_id = put["Entries"][0]["EventId"]
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=20, MessageAttributeNames=["All"])
    assert json.loads(dead["Messages"][0]["Body"])["id"] == event_id
    page.goto(f"{server.url}/#/rule/default/to-nowhere")
    rows = page.locator("#rule-delivery-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".outcome")).to_have_text("DeadLettered")  # newest first
    expect(rows.nth(1).locator(".outcome")).to_have_text("Retrying")
    expect(rows.nth(0)).to_contain_text("StateMachineDoesNotExist")
    expect(page.locator("#rule-target-table")).to_contain_text(dlq_arn)
    shot(page, "22-rule-dead-lettered")


def test_rule_delivery_history_is_bounded(server: LocalServer) -> None:
    log = DeliveryLog(server.runtime.db, keep=3)
    rule = "arn:aws:events:us-east-1:123456789012:rule/bounded"
    for i in range(5):
        log.record(rule, "arn:aws:sqs:us-east-1:123456789012:q", f"e{i}", 0, "Delivered")
    assert [d["eventId"] for d in log.recent(rule)] == ["e4", "e3", "e2"]
    with pytest.raises(ValueError, match="outcome 'Lost': one of Delivered"):
        log.record(rule, "t", "e", 0, "Lost")


def start_serve(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--state-dir", str(state_dir), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        owner = until(
            "the server's URL",
            lambda: (o := read_owner(state_dir)) and o.get("pid") == process.pid and o.get("url"),
            timeout=120,
        )
    except AssertionError:
        process.kill()
        raise
    return process, str(owner)


def test_rule_deliveries_survive_kill_9(tmp_path: Path) -> None:
    process, url = start_serve(tmp_path)
    try:
        sqs, events = boto_client(url, "sqs"), boto_client(url, "events")
        queue = sqs.create_queue(QueueName="orders")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}))
        events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
        put = events.put_events(Entries=[{"Source": "shop", "DetailType": "Order", "Detail": "{}"}])
        assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20).get("Messages")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    process, url = start_serve(tmp_path)
    try:
        answer = httpx.get(
            f"{url}/console/api/rule-deliveries",
            params={"rule": "orders"},
            headers={"X-Localaws-Console": "1"},
            timeout=120,  # the first call after a restart opens the services bridge
        )
        answer.raise_for_status()
        deliveries = answer.json()["deliveries"]
        assert [(d["eventId"], d["target"], d["outcome"]) for d in deliveries] == [
            (put["Entries"][0]["EventId"], arn, "Delivered")
        ]
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_athena_query_typed_over_a_crawled_table(
    page: Page, server: LocalServer, client: Callable[[str], Any]
) -> None:
    s3, glue = client("s3"), client("glue")
    s3.create_bucket(Bucket="lake")
    s3.put_object(
        Bucket="lake",
        Key="orders/part-0.csv",
        Body=b"order_id,customer,amount\n1,ada,12.5\n2,bob,3.0\n3,ada,7.25\n",
    )
    glue.create_database(DatabaseInput={"Name": "shop"})
    glue.create_crawler(
        Name="orders",
        Role=ROLE,
        DatabaseName="shop",
        Targets={"S3Targets": [{"Path": "s3://lake/orders/"}]},
    )
    glue.start_crawler(Name="orders")
    until(
        "the crawler's table",
        lambda: glue.get_tables(DatabaseName="shop")["TableList"],
    )
    page.goto(f"{server.url}/#/glue/shop")
    expect(page.locator("#glue-table-list")).to_contain_text("orders")
    expect(page.locator("#athena-sql")).to_have_value('SELECT * FROM "shop"."orders" LIMIT 10')
    page.locator("#athena-sql").fill(
        "SELECT customer, sum(amount) AS total FROM orders GROUP BY customer ORDER BY customer"
    )
    page.locator("#athena-output").fill("s3://lake/athena-results/")
    page.locator("#athena-run").click()
    result = page.locator("#athena-rows")
    expect(result.locator("thead th")).to_have_text(["customer", "total"])
    expect(result.locator("tbody tr")).to_have_count(2)
    cells = [result.locator("tbody tr").nth(i).locator("td").all_text_contents() for i in (0, 1)]
    assert [c[0] for c in cells] == ["ada", "bob"]
    assert [float(c[1]) for c in cells] == [19.75, 3.0]
    expect(page.locator("#athena-status")).to_contain_text("SUCCEEDED")
    shot(page, "23-athena-query")
    # A broken query shows Athena's reason, not rows.
    page.locator("#athena-sql").fill("SELECT nope FROM orders")
    page.locator("#athena-run").click()
    expect(page.locator("#athena-status")).to_have_class("error")
    expect(page.locator("#athena-status")).to_contain_text("nope")


def test_api_gateway_page_shows_the_local_serving_urls(
    page: Page, server: LocalServer, client: Callable[[str], Any]
) -> None:
    v1, v2 = client("apigateway"), client("apigatewayv2")
    rest = v1.create_rest_api(name="scores")
    root = v1.get_resources(restApiId=rest["id"])["items"][0]["id"]
    v1.put_method(restApiId=rest["id"], resourceId=root, httpMethod="GET", authorizationType="NONE")
    v1.put_integration(
        restApiId=rest["id"],
        resourceId=root,
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    v1.create_deployment(restApiId=rest["id"], stageName="prod")
    http_api = v2.create_api(Name="predict", ProtocolType="HTTP")
    v2.create_stage(ApiId=http_api["ApiId"], StageName="$default")
    page.goto(f"{server.url}/#/services")
    apis = page.locator("#apis tbody tr")
    expect(apis).to_have_count(2, timeout=60_000)
    rest_url = f"{server.url}/restapis/{rest['id']}/prod/_user_request_/"
    http_url = f"{server.url}/restapis/{http_api['ApiId']}/$default/_user_request_/"
    rest_row = apis.filter(has_text="scores")
    expect(rest_row.locator("a.local-url")).to_have_text(rest_url)
    expect(rest_row.locator("a.local-url")).to_have_attribute("href", rest_url)
    expect(rest_row).to_contain_text(
        f"https://{rest['id']}.execute-api.us-east-1.amazonaws.com/prod/"
    )
    expect(apis.filter(has_text="predict").locator("a.local-url")).to_have_text(http_url)
    shot(page, "24-api-urls")
    # The URL shown is the one the server answers at: no route on the HTTP API -> API
    # Gateway's own 404, not the console's page.
    answer = httpx.get(http_url + "anything")
    assert answer.status_code == 404 and answer.json() == {"message": "Not Found"}
