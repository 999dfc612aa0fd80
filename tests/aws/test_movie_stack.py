"""The movie recommender's CloudFormation stack: current, cfn-lint and checkov clean, its
definition accepted by asl-validator, and deployed to moto."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from workflows import aws, movie_aws
from workflows import aws_template as tpl
from workflows import movie_recommender as mr


@pytest.fixture(scope="module")
def movie_template() -> dict[str, Any]:
    return movie_aws.render(mr.load_settings())


@pytest.fixture(scope="module")
def packaged(movie_template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("movie-cfn") / "packaged.yaml"
    body = aws.with_code_location(movie_template, "deploy-bucket", "stack/lambda-0123.zip")
    path.write_text(tpl.dump_template(body), encoding="utf-8")
    return path


def test_committed_movie_template_is_current(movie_template: dict[str, Any]) -> None:
    committed = movie_aws.CFN_TEMPLATE.read_text(encoding="utf-8")
    assert committed == tpl.dump_template(movie_template), (
        "cfn/movie-recommender.yaml is stale: run "
        "`python -m workflows build movie-recommender --target aws` and commit it"
    )


def test_cfn_lint_passes(packaged: Path) -> None:
    matches = lint_all(packaged.read_text(encoding="utf-8"))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []


def test_checkov_finds_no_unsuppressed_failure(checkov: Path, packaged: Path) -> None:
    result = subprocess.run(
        [str(checkov), "-f", str(packaged), "--framework", "cloudformation",
         "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(packaged.parent), "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]] == []
    assert report["summary"]["passed"] > 30
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_asl_validator_accepts_the_definition(
    asl_validator: Path, movie_template: dict[str, Any], tmp_path: Path
) -> None:
    props = movie_template["Resources"]["StateMachine"]["Properties"]
    text = props["DefinitionString"]
    for name in props["DefinitionSubstitutions"]:
        text = text.replace("${" + name + "}", f"concrete-{name.lower()}")
    (tmp_path / "definition.json").write_text(text, encoding="utf-8")
    result = subprocess.run(
        [str(asl_validator), "--json-path", str(tmp_path / "definition.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_the_stack_deploys_to_moto(moto: Any, tmp_path: Path) -> None:
    settings = mr.load_settings()
    written = movie_aws.build(
        settings,
        template_path=tmp_path / "movie-recommender.yaml",
        out_dir=tmp_path / "bucket",
        package_path=tmp_path / "lambda.zip",
    )
    assert {p.name for p in written} == {
        "movie-recommender.yaml", "sourcedir.tar.gz", "etl.py", "full_load.py", "table-mappings.json", "lambda.zip",
    }  # fmt: skip
    s3, cfn = moto.client("s3"), moto.client("cloudformation")
    s3.create_bucket(Bucket="deploy")
    s3.put_object(Bucket="deploy", Key="lambda.zip", Body=(tmp_path / "lambda.zip").read_bytes())
    body = aws.with_code_location(movie_aws.render(settings), "deploy", "lambda.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips the Glue and Firehose resources, saying so
        cfn.create_stack(
            StackName="movies",
            TemplateBody=tpl.dump_template(body),
            Capabilities=["CAPABILITY_IAM"],
        )
    stack = cfn.describe_stacks(StackName="movies")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    tables = set(moto.client("dynamodb").list_tables()["TableNames"])
    assert {"ratings_t", "movies_t", "links_t", "tags_t"} <= tables
    key = moto.client("dynamodb").describe_table(TableName="ratings_t")["Table"]["KeySchema"]
    assert key == [
        {"AttributeName": "Id", "KeyType": "HASH"},
        {"AttributeName": "movieId", "KeyType": "RANGE"},
    ]
    assert moto.client("kinesis").describe_stream_summary(StreamName="movie-ratings")
    functions = {f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]}
    assert {
        spec.name
        for spec in __import__("workflows.functions", fromlist=["x"]).load_functions(
            mr.FUNCTIONS_FILE
        )
    } <= functions
    machine = moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"]
    )
    assert json.loads(machine["definition"])["StartAt"] == mr.LOAD
