"""The movie-recommender state machine (issue 19), built with the Step Functions Data Science SDK.

::

    LoadTables (glue:startJobRun.sync: the DMS-style full load of the CSVs into DynamoDB)
      -> StreamRatings (Lambda: the partial-load ratings into Kinesis; Firehose -> the lake)
      -> DrainStream (Lambda, retried on StreamNotDrainedError until every record is delivered)
      -> StartCrawler (aws-sdk glue:startCrawler) -> WaitForCrawler -> GetCrawler
           -> CrawlerDone? (READY: on; else wait again)
      -> TransformData (glue:startJobRun.sync: the ETL job)
      -> CountStreamed (athena:startQueryExecution.sync) -> CountResults (athena:getQueryResults)
      -> CompareCounts (Pass) -> CountsMatch? (Athena's count = the records delivered)
      -> TrainModel (script-mode FM, .sync) -> EvaluateModel (Lambda) -> BeatsBaseline?
           -> CreateModel -> CreateEndpointConfig -> EndpointExists? -> Create/UpdateEndpoint
           -> Recommend (Lambda, retried on EndpointError until InService) -> Done
      any task fails: RecordFailure -> WorkflowFailed

Each task puts its result under its own key of the state (``$.load``, ``$.stream``,
``$.drain``, ``$.crawl``, ``$.etl``, ``$.count``, ``$.count_results``, ``$.counts``, ``$.train``, ``$.evaluate``,
``$.model``, ``$.endpoint_config``, ``$.endpoint``, ``$.recommend``).  Names and locations
come from the execution input (:func:`example_input`), so one definition serves every run.
Settings are in ``workflows/movie_recommender.yaml`` (:func:`load_settings`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from workflows import step_kit
from workflows.settings import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("movie_recommender.yaml")
FUNCTIONS_FILE = Path(__file__).resolve().parent.parent / "lambdas" / "movie_recommender.yaml"
JOB_DIR = Path(__file__).resolve().parent.parent / "jobs" / "movie_recommender"
TRAIN_PROGRAM = "train.py"
INFERENCE_PROGRAM = "inference.py"
ETL_SCRIPT = "etl.py"
LOAD_SCRIPT = "full_load.py"
SOURCE_FILES = ("fm.py", "recommender.py", TRAIN_PROGRAM, INFERENCE_PROGRAM)

# State names, in the order a successful run visits them, then the failure branches.
LOAD = "LoadTables"
STREAM = "StreamRatings"
DRAIN = "DrainStream"
START_CRAWLER = "StartCrawler"
WAIT_CRAWLER = "WaitForCrawler"
GET_CRAWLER = "GetCrawler"
CRAWLER_DONE = "CrawlerDone"
ETL = "TransformData"
COUNT = "CountStreamed"
COUNT_RESULTS = "CountResults"
COMPARE = "CompareCounts"
COUNTS_MATCH = "CountsMatch"
TRAIN = "TrainModel"
EVALUATE = "EvaluateModel"
BEATS_BASELINE = "BeatsBaseline"
CREATE_MODEL = "CreateModel"
ENDPOINT_CONFIG = "CreateEndpointConfig"
ENDPOINT_EXISTS = "EndpointExists"
CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
RECOMMEND = "Recommend"
DONE = "Done"
COUNT_MISMATCH = "CountMismatch"
MODEL_REJECTED = "ModelRejected"
RECORD_FAILURE = step_kit.RECORD_FAILURE
WORKFLOW_FAILED = step_kit.WORKFLOW_FAILED

TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
FUNCTION_ROLES = ("movie_stream", "movie_drain", "movie_evaluate", "movie_recommend")

EXECUTION_INPUT: dict[str, type] = {
    "RunId": str,
    "RawDataUri": str,
    "MappingUri": str,
    "LoadReportUri": str,
    "StreamLakeUri": str,
    "EtlReportUri": str,
    "TrainingDataUri": str,
    "ModelOutputUri": str,
    "EvaluationUri": str,
    "TrainingJobName": str,
    "ModelName": str,
    "EndpointConfigName": str,
    "EndpointName": str,
    "EndpointExists": bool,
    "SampleUsers": list,
    "NewUserLikes": list,
}


# -- settings ---------------------------------------------------------------------------------


def load_settings(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The shipped defaults, a user's YAML merged over them key by key, then ``overrides``
    (dotted keys, ``"data.users": 50``).  An unknown key is refused with its name."""
    settings: dict[str, Any] = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    if path is not None:
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise ConfigError(f"--config {path}: cannot read it") from e
        _merge(settings, user, where="")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, last = dotted.split(".")
        node = settings
        for key in parents:
            node = node[key]
        if last not in node:
            raise ConfigError(f"{dotted}: no such setting in {DEFAULTS_FILE.name}")
        node[last] = value
    return settings


def _merge(base: dict[str, Any], update: Mapping[str, Any], *, where: str) -> None:
    for key, value in update.items():
        if key not in base:
            raise ConfigError(
                f"{where}{key}: no such setting; known: {', '.join(sorted(base))} "
                f"(see {DEFAULTS_FILE.name})"
            )
        if isinstance(base[key], dict) and isinstance(value, Mapping) and key != "hyperparameters":
            _merge(base[key], value, where=f"{where}{key}.")
        else:
            base[key] = copy.deepcopy(value)


def lake_uri(settings: Mapping[str, Any], prefix_key: str, *parts: str) -> str:
    lake = settings["lake"]
    tail = "/".join(p.strip("/") for p in parts if p)
    return f"s3://{lake['bucket']}/{lake[prefix_key]}{tail}"


def mapping_document(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The DMS table mappings of the full load: the workshop's key design, strings only."""
    t = settings["tables"]

    def rule(n: int, source: str, target: str, pk: str, sk: str, attrs: dict[str, str]) -> Any:
        return {
            "rule-type": "object-mapping",
            "rule-id": str(n),
            "rule-name": source,
            "rule-action": "map-record-to-record",
            "object-locator": {"schema-name": "movielens", "table-name": source},
            "target-table-name": target,
            "mapping-parameters": {
                "partition-key-name": pk,
                "sort-key-name": sk,
                "exclude-columns": ["timestamp"],
                "attribute-mappings": [
                    {
                        "target-attribute-name": name,
                        "attribute-type": "scalar",
                        "attribute-sub-type": "string",
                        "value": value,
                    }
                    for name, value in attrs.items()
                ],
            },
        }

    limit = settings["load"]["max_rejected_rows"]
    return {
        **({} if limit is None else {"max-rejected-rows": limit}),
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": "0",
                "rule-name": "all",
                "object-locator": {"schema-name": "movielens", "table-name": "%"},
                "rule-action": "include",
            },
            rule(1, "ratings", t["ratings"], "Id", "movieId",
                 {"Id": "${userId}X${movieId}", "timestamp_c": "${timestamp}"}),
            rule(2, "movies", t["movies"], "movieId", "genres", {}),
            rule(3, "links", t["links"], "movieId", "imdbId", {}),
            rule(4, "tags", t["tags"], "Id", "movieId",
                 {"Id": "${userId}X${movieId}X${tag}", "timestamp_c": "${timestamp}"}),
        ]
    }  # fmt: skip


def table_keys(settings: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """DynamoDB table -> (partition key, sort key), from the mapping document."""
    return {
        r["target-table-name"]: (
            r["mapping-parameters"]["partition-key-name"],
            r["mapping-parameters"]["sort-key-name"],
        )
        for r in mapping_document(settings)["rules"]
        if r["rule-type"] == "object-mapping"
    }


def example_input(
    settings: Mapping[str, Any],
    run_id: str,
    *,
    endpoint_exists: bool = False,
    new_user_likes: list[str] | None = None,
) -> dict[str, Any]:
    _check_run_id(settings, run_id)
    base = settings["name"]
    return {
        "RunId": run_id,
        "RawDataUri": lake_uri(settings, "raw_prefix", run_id) + "/",
        "MappingUri": lake_uri(settings, "dms_prefix", "table-mappings.json"),
        "LoadReportUri": lake_uri(settings, "dms_prefix", "reports", f"{run_id}.json"),
        "StreamLakeUri": lake_uri(settings, "stream_prefix"),
        "EtlReportUri": lake_uri(settings, "etl_reports_prefix", f"{run_id}.json"),
        "TrainingDataUri": lake_uri(settings, "training_prefix"),
        "ModelOutputUri": lake_uri(settings, "models_prefix"),
        "EvaluationUri": lake_uri(settings, "evaluation_prefix", run_id, "evaluation.json"),
        "TrainingJobName": f"{base}-train-{run_id}",
        "ModelName": f"{base}-model-{run_id}",
        "EndpointConfigName": f"{base}-epc-{run_id}",
        "EndpointName": settings["endpoint"]["name"],
        "EndpointExists": endpoint_exists,
        "SampleUsers": [str(u) for u in settings["recommend"]["sample_users"]],
        "NewUserLikes": list(new_user_likes or []),
    }


def _check_run_id(settings: Mapping[str, Any], run_id: str) -> None:
    longest = f"{settings['name']}-train-{run_id}"
    if not re.fullmatch(r"[A-Za-z0-9](-*[A-Za-z0-9])*", run_id):
        raise ConfigError(
            f"run id {run_id!r}: use letters, digits and single hyphens, e.g. 20240101-120000-ab12"
        )
    if len(longest) > 63:
        raise ConfigError(
            f"run id {run_id!r}: makes the SageMaker name {longest!r} longer than 63 characters"
        )


def function_names() -> dict[str, str]:
    """Handler module -> function name, from lambdas/movie_recommender.yaml."""
    from workflows.functions import load_functions

    names = {spec.role: spec.name for spec in load_functions(FUNCTIONS_FILE)}
    missing = sorted(set(FUNCTION_ROLES) - set(names))
    if missing:
        raise ConfigError(f"{FUNCTIONS_FILE}: no function with handler module {missing}")
    return names


def source_uri(settings: Mapping[str, Any]) -> str:
    return lake_uri(settings, "code_prefix", "sourcedir.tar.gz")


def etl_script_uri(settings: Mapping[str, Any]) -> str:
    return lake_uri(settings, "code_prefix", ETL_SCRIPT)


def load_script_uri(settings: Mapping[str, Any]) -> str:
    return lake_uri(settings, "code_prefix", LOAD_SCRIPT)


def load_job_arguments(settings: Mapping[str, Any]) -> dict[str, str]:
    """The full-load job's DefaultArguments (the run's own are in the state's Arguments)."""
    return {
        "--mapping_uri": lake_uri(settings, "dms_prefix", "table-mappings.json"),
        "--parallel_load_threads": str(settings["load"]["parallel_load_threads"]),
    }


def sklearn_image(settings: Mapping[str, Any]) -> str:
    from workflows import sdk

    return str(
        sdk.sagemaker.image_uris.retrieve(
            "sklearn", settings["region"], version=settings["training"]["sklearn_version"]
        )
    )


# -- the definition ---------------------------------------------------------------------------


def definition(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The Amazon States Language definition, as a dict."""
    from workflows import sdk

    with sdk.region(settings["region"]):
        graph = sdk.steps.Graph(_chain(sdk, settings))
    body: dict[str, Any] = json.loads(graph.to_json())
    comment = (
        "Movie recommender: full load into DynamoDB, stream through Kinesis and Firehose, "
        "crawl, ETL, check counts with Athena, train factorization machines, evaluate against "
        "popularity, deploy, recommend."
    )
    return {"Comment": comment, **body}


def _chain(sdk: Any, s: Mapping[str, Any]) -> Any:
    steps = sdk.steps
    ei = sdk.ExecutionInput(schema=EXECUTION_INPUT)
    fn = function_names()
    failure = _failure_states(sdk)

    def task(step: Any, *retries: Any) -> Any:
        return step_kit.catch_all(sdk, step, failure, retries)

    def retry(errors: tuple[str, ...], policy: Mapping[str, Any]) -> Any:
        return step_kit.retrier(sdk, errors, policy)

    transient = sdk.Retry(
        error_equals=list(TRANSIENT_LAMBDA_ERRORS),
        interval_seconds=1,
        max_attempts=3,
        backoff_rate=2.0,
    )

    def lam(state: str, role: str, payload: dict[str, Any], comment: str, *extra: Any) -> Any:
        step = steps.LambdaStep(
            state,
            comment=comment,
            parameters={"FunctionName": fn[role], "Payload": payload},
            result_path=f"$.{role.removeprefix('movie_')}",
            timeout_seconds=900,
        )
        return task(step, transient, *extra)

    g = s["glue"]

    def glue_job(state: str, job: str, arguments: dict[str, Any], key: str, comment: str) -> Any:
        """``glue:startJobRun.sync`` of one of the lake's Python shell jobs."""
        step = steps.GlueStartJobRunStep(
            state,
            wait_for_completion=True,
            parameters={"JobName": g[job], "Arguments": arguments},
            result_path=f"$.{key}",
            comment=comment,
        )
        return task(step)

    load = glue_job(
        LOAD,
        "load_job",
        {
            "--mapping_uri": ei["MappingUri"],
            "--source_uri": ei["RawDataUri"],
            "--report_uri": ei["LoadReportUri"],
        },
        "load",
        "DMS-style full load (Glue job): the four CSVs into DynamoDB by the mapping document.",
    )
    stream = lam(
        STREAM,
        "movie_stream",
        {
            "source_uri.$": "States.Format('{}ratings-partial-load.csv', $$.Execution.Input.RawDataUri)",
            "stream_name": s["stream"]["kinesis"],
        },
        "Send the partial-load ratings to Kinesis as JSON records (Firehose delivers them).",
    )
    drain = lam(
        DRAIN,
        "movie_drain",
        {
            "lake_uri": ei["StreamLakeUri"],
            "expected.$": "$.stream.Payload.sent",
            "since.$": "$.stream.Payload.started_at",
        },
        "Wait until Firehose has delivered every record under YYYY/MM/DD/HH/.",
        retry(("StreamNotDrainedError",), s["stream"]["drain_retry"]),
    )

    start_crawler = task(
        steps.Task(
            START_CRAWLER,
            resource="arn:aws:states:::aws-sdk:glue:startCrawler",
            parameters={"Name": g["crawler"]},
            result_path=None,
            comment="Catalog the Firehose prefix and the DynamoDB tables into one database.",
        ),
        sdk.Retry(
            error_equals=["Glue.CrawlerRunningException"],
            interval_seconds=5,
            max_attempts=10,
            backoff_rate=1.5,
        ),
    )
    wait_crawler = steps.Wait(WAIT_CRAWLER, seconds=g["crawl_poll_seconds"])
    get_crawler = task(
        steps.Task(
            GET_CRAWLER,
            resource="arn:aws:states:::aws-sdk:glue:getCrawler",
            parameters={"Name": g["crawler"]},
            result_path="$.crawl",
        )
    )
    crawler_done = steps.Choice(CRAWLER_DONE, comment="READY again: the crawl has finished.")

    etl = glue_job(
        ETL,
        "etl_job",
        {"--output_uri": ei["TrainingDataUri"], "--report_uri": ei["EtlReportUri"]},
        "etl",
        "Union batch and streamed ratings, clean, write ml/trainingdata/ with headers.",
    )
    athena_output = lake_uri(s, "athena_prefix")
    count = task(
        steps.Task(
            COUNT,
            resource="arn:aws:states:::athena:startQueryExecution.sync",
            parameters={
                "QueryString": f'SELECT count(*) AS n FROM "{g["database"]}"."{g["stream_table"]}"',
                "QueryExecutionContext": {"Database": g["database"]},
                "ResultConfiguration": {"OutputLocation": athena_output},
            },
            result_path="$.count",
            comment="Athena: the records the crawled stream table holds.",
        )
    )
    count_results = task(
        steps.Task(
            COUNT_RESULTS,
            resource="arn:aws:states:::athena:getQueryResults",
            parameters={"QueryExecutionId.$": "$.count.QueryExecution.QueryExecutionId"},
            result_path="$.count_results",
        )
    )
    compare = steps.Pass(
        COMPARE,
        parameters={
            "streamed.$": "$.count_results.ResultSet.Rows[1].Data[0].VarCharValue",
            "delivered.$": "States.Format('{}', $.drain.Payload.records)",
        },
        result_path="$.counts",
    )
    mismatch = sdk.FailFromPaths(
        COUNT_MISMATCH,
        error="CountMismatch",
        cause_path=(
            "States.Format('Athena counts {} streamed records, Firehose delivered {}', "
            "$.counts.streamed, $.counts.delivered)"
        ),
    )
    counts_match = steps.Choice(COUNTS_MATCH, comment="The lake holds what was delivered.")

    train = _training_step(sdk, s, ei, task)
    evaluate = lam(
        EVALUATE,
        "movie_evaluate",
        {
            "model_artifact_uri.$": "$.train.ModelArtifacts.S3ModelArtifacts",
            "evaluation_uri": ei["EvaluationUri"],
            "k": s["training"]["hyperparameters"]["k"],
        },
        "Record the held-out evaluation; compare precision@k with the popularity baseline.",
    )
    rejected = sdk.FailFromPaths(
        MODEL_REJECTED,
        error="ModelBelowBaseline",
        cause_path=(
            "States.Format('precision@k {} is not above the popularity baseline {}; the model "
            "was not deployed', $.evaluate.Payload.precision_at_10, "
            "$.evaluate.Payload.baseline_precision_at_10)"
        ),
    )
    gate = steps.Choice(BEATS_BASELINE, comment="Deploy only a model that beats popularity.")
    deploy = _deployment_steps(sdk, s, ei, task, lam, retry)

    gate.add_choice(
        steps.ChoiceRule.BooleanEquals("$.evaluate.Payload.beats_baseline", True), deploy
    )
    gate.default_choice(rejected)
    counts_match.add_choice(
        steps.ChoiceRule.StringEqualsPath("$.counts.streamed", "$.counts.delivered"), train
    )
    counts_match.default_choice(mismatch)
    crawler_done.add_choice(steps.ChoiceRule.StringEquals("$.crawl.Crawler.State", "READY"), etl)
    crawler_done.default_choice(wait_crawler)
    for first, second in (
        (load, stream),
        (stream, drain),
        (drain, start_crawler),
        (start_crawler, wait_crawler),
        (wait_crawler, get_crawler),
        (get_crawler, crawler_done),
        (etl, count),
        (count, count_results),
        (count_results, compare),
        (compare, counts_match),
        (train, evaluate),
        (evaluate, gate),
    ):
        first.next(second)
    return load


def _failure_states(sdk: Any) -> Any:
    return step_kit.failure_states(sdk, execution=True)


def _training_step(sdk: Any, s: Mapping[str, Any], ei: Any, task: Any) -> Any:
    t = s["training"]
    hyperparameters = {
        **{k: json.dumps(v) for k, v in t["hyperparameters"].items()},
        "sagemaker_program": json.dumps(TRAIN_PROGRAM),
        "sagemaker_submit_directory": json.dumps(source_uri(s)),
        "sagemaker_region": json.dumps(s["region"]),
    }
    session = _sagemaker_session(s)
    estimator = sdk.sagemaker.estimator.Estimator(
        image_uri=sklearn_image(s),
        role=s["roles"]["sagemaker"],
        instance_count=1,
        instance_type=t["instance_type"],
        volume_size=t["volume_size_gb"],
        max_run=t["max_runtime_seconds"],
        output_path=lake_uri(s, "models_prefix"),
        sagemaker_session=session,
        hyperparameters=hyperparameters,
        debugger_hook_config=False,
    )
    train = sdk.steps.TrainingStep(
        TRAIN,
        estimator=estimator,
        job_name=ei["TrainingJobName"],
        output_data_config_path=ei["ModelOutputUri"],
        result_path="$.train",
        comment="Factorization machines (numpy, script mode): like and watch models, held-out evaluation.",
        parameters={
            "InputDataConfig": [
                _channel(name, f"States.Format('{{}}{name}/', $$.Execution.Input.TrainingDataUri)")
                for name in ("rating", "movies", "links")
            ]
        },
    )
    return task(train)


def _channel(name: str, uri_expression: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri.$": uri_expression,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _deployment_steps(
    sdk: Any, s: Mapping[str, Any], ei: Any, task: Any, lam: Any, retry: Any
) -> Any:
    steps, ep = sdk.steps, s["endpoint"]
    model = sdk.sagemaker.model.Model(
        image_uri=sklearn_image(s),
        model_data="s3://set-by-the-step/model.tar.gz",
        role=s["roles"]["sagemaker"],
        env={
            "SAGEMAKER_PROGRAM": INFERENCE_PROGRAM,
            "SAGEMAKER_SUBMIT_DIRECTORY": source_uri(s),
            "SAGEMAKER_REGION": s["region"],
        },
        sagemaker_session=_sagemaker_session(s),
    )
    create_model = steps.ModelStep(
        CREATE_MODEL, model=model, model_name=ei["ModelName"], result_path="$.model"
    )
    container = create_model.fields["parameters"]["PrimaryContainer"]
    container.pop("ModelDataUrl")
    container["ModelDataUrl.$"] = "$.train.ModelArtifacts.S3ModelArtifacts"
    endpoint_config = steps.EndpointConfigStep(
        ENDPOINT_CONFIG,
        endpoint_config_name=ei["EndpointConfigName"],
        model_name=ei["ModelName"],
        initial_instance_count=ep["initial_instance_count"],
        instance_type=ep["instance_type"],
        result_path="$.endpoint_config",
    )
    endpoint = {
        update: steps.EndpointStep(
            UPDATE_ENDPOINT if update else CREATE_ENDPOINT,
            endpoint_name=ei["EndpointName"],
            endpoint_config_name=ei["EndpointConfigName"],
            update=update,
            result_path="$.endpoint",
        )
        for update in (False, True)
    }
    recommend = lam(
        RECOMMEND,
        "movie_recommend",
        {
            "endpoint_name": ei["EndpointName"],
            "users": ei["SampleUsers"],
            "new_user_likes": ei["NewUserLikes"],
            "k": s["recommend"]["k"],
        },
        "Top titles with IMDb links for sample users and a new user.",
        retry(("EndpointError",), ep["retry"]),
    )
    recommend.next(steps.Succeed(DONE))
    for step in endpoint.values():
        task(step).next(recommend)
    exists = steps.Choice(ENDPOINT_EXISTS, comment="Update the endpoint when it already exists.")
    exists.add_choice(
        steps.ChoiceRule.And(
            [
                steps.ChoiceRule.IsPresent("$.EndpointExists", True),
                steps.ChoiceRule.BooleanEquals("$.EndpointExists", True),
            ]
        ),
        endpoint[True],
    )
    exists.default_choice(endpoint[False])
    task(create_model).next(task(endpoint_config))
    endpoint_config.next(exists)
    return create_model


def _sagemaker_session(s: Mapping[str, Any]) -> Any:
    from workflows.predictive_maintenance import _cached_sagemaker_session

    return _cached_sagemaker_session(s["region"], s["lake"]["bucket"])
