"""ML lineage: artifacts, actions, contexts, trial components and the associations between
them, created by hand (CreateArtifact, AddAssociation, ...) or automatically as AWS does:

* a training job: its trial component ``<job>-aws-training-job`` (Source = the job's ARN);
  an ``Image`` artifact (TrainingImage) and a ``DataSet`` artifact per input channel
  ``ContributedTo`` it; it ``Produced`` a ``Model`` artifact (S3ModelArtifacts);
  a processing job likewise (``<job>-aws-processing-job``, inputs and outputs as DataSets);
* an endpoint: a ``ModelDeployment`` action and an ``Endpoint`` context (Source = the
  endpoint's ARN); each deployed model's ``Model`` artifact (ModelDataUrl) and ``Image``
  artifact ``ContributedTo`` the action, which is ``AssociatedWith`` the context;
* a feature group: a ``FeatureGroup`` context (Source = its ARN);
* a model package: a ``ModelPackage`` context, its ``Model`` artifacts ``ContributedTo`` it
  (:meth:`LineageApi.lineage_model_package`, called by the registry when a package is created).

There is one artifact per SourceUri (AWS reuses them), so a model trained here and deployed
later joins one graph: DataSet -> TrainingJob -> Model -> ModelDeployment -> Endpoint.
:meth:`LineageApi.query_lineage` walks it: ``Ascendants`` against the edges (towards what an
entity came from), ``Descendants`` along them, ``Both`` either way.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.runtime import Runtime

ARTIFACT, ACTION, CONTEXT, TRIAL_COMPONENT, ASSOCIATION = (
    "Artifact",
    "Action",
    "Context",
    "TrialComponent",
    "Association",
)
_auto_lock = threading.Lock()
log = logging.getLogger(__name__)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LineageApi:
    """Lineage operations of the SageMaker backend (mixed into SageMakerBackend)."""

    runtime: Runtime
    records: Any

    if TYPE_CHECKING:

        def _request(self, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...
        def _out(self, operation: str, record: dict[str, Any]) -> dict[str, Any]: ...
        def describe_model(self, **request: Any) -> dict[str, Any]: ...

    # -- entities -------------------------------------------------------------------------

    def _missing(self, what: str, name: str) -> ServiceError:
        return ServiceError("ResourceNotFound", f"{what} {name} does not exist.")

    def create_artifact(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateArtifact", request)
        uri = req["Source"]["SourceUri"]
        arn = self.runtime.arn("sagemaker", f"artifact/{_digest(uri + ':' + uuid.uuid4().hex)}")
        req.pop("Tags", None)
        now = time.time()
        record = {**req, "ArtifactArn": arn, "CreationTime": now, "LastModifiedTime": now}
        self.records.put(ARTIFACT, arn, record, now)
        return {"ArtifactArn": arn}

    def describe_artifact(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeArtifact", request)
        record = self.records.get(ARTIFACT, req["ArtifactArn"])
        if record is None:
            raise self._missing("Artifact", req["ArtifactArn"])
        return self._out("DescribeArtifact", record)

    def delete_artifact(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteArtifact", request)
        arn = req.get("ArtifactArn")
        if not arn and req.get("Source"):
            found = self._artifact_by_uri(req["Source"]["SourceUri"])
            arn = found["ArtifactArn"] if found else None
        if not arn or not self.records.delete(ARTIFACT, arn):
            raise self._missing("Artifact", str(arn or req.get("Source")))
        self._drop_associations(arn)
        return {"ArtifactArn": arn}

    def list_artifacts(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListArtifacts", request)
        items = [
            r
            for r in self.records.list(ARTIFACT)
            if (not req.get("SourceUri") or r["Source"]["SourceUri"] == req["SourceUri"])
            and (not req.get("ArtifactType") or r.get("ArtifactType") == req["ArtifactType"])
        ]
        page, token = _page(items, req, "ArtifactName")
        out = self._out("ListArtifacts", {"ArtifactSummaries": page})
        return {**out, "NextToken": token} if token else out

    def _named(self, kind: str, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        req = self._request(operation, request)
        name = req[f"{kind}Name"]
        req.pop("Tags", None)
        arn = self.runtime.arn("sagemaker", f"{kind.lower()}/{name.lower()}")
        now = time.time()
        record = {**req, f"{kind}Arn": arn, "CreationTime": now, "LastModifiedTime": now}
        if not self.records.insert_new(kind, name, record, now):
            raise ServiceError("ValidationException", f"{kind} {arn} already exists.")
        return {f"{kind}Arn": arn}

    def create_action(self, **request: Any) -> dict[str, Any]:
        return self._named(ACTION, "CreateAction", request)

    def create_context(self, **request: Any) -> dict[str, Any]:
        return self._named(CONTEXT, "CreateContext", request)

    def _describe_named(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        req = self._request(f"Describe{kind}", request)
        record = self.records.get(kind, req[f"{kind}Name"])
        if record is None:
            raise self._missing(kind, req[f"{kind}Name"])
        return self._out(f"Describe{kind}", record)

    def describe_action(self, **request: Any) -> dict[str, Any]:
        return self._describe_named(ACTION, request)

    def describe_context(self, **request: Any) -> dict[str, Any]:
        return self._describe_named(CONTEXT, request)

    def describe_trial_component(self, **request: Any) -> dict[str, Any]:
        return self._describe_named(TRIAL_COMPONENT, request)

    def _delete_named(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        req = self._request(f"Delete{kind}", request)
        record = self.records.get(kind, req[f"{kind}Name"])
        if record is None:
            raise self._missing(kind, req[f"{kind}Name"])
        self.records.delete(kind, req[f"{kind}Name"])
        self._drop_associations(record[f"{kind}Arn"])
        return {f"{kind}Arn": record[f"{kind}Arn"]}

    def delete_action(self, **request: Any) -> dict[str, Any]:
        return self._delete_named(ACTION, request)

    def delete_context(self, **request: Any) -> dict[str, Any]:
        return self._delete_named(CONTEXT, request)

    def _list_named(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        req = self._request(f"List{kind}s", request)
        type_key = f"{kind}Type"
        items = [
            r
            for r in self.records.list(kind)
            if (not req.get("SourceUri") or r["Source"]["SourceUri"] == req["SourceUri"])
            and (not req.get(type_key) or r.get(type_key) == req[type_key])
        ]
        page, token = _page(items, req, f"{kind}Name")
        out = self._out(f"List{kind}s", {f"{kind}Summaries": page})
        return {**out, "NextToken": token} if token else out

    def list_actions(self, **request: Any) -> dict[str, Any]:
        return self._list_named(ACTION, request)

    def list_contexts(self, **request: Any) -> dict[str, Any]:
        return self._list_named(CONTEXT, request)

    # -- associations ------------------------------------------------------------------------

    def _entity(self, arn: str) -> tuple[str, dict[str, Any]] | None:
        """(lineage type, record) of an ARN, or None."""
        resource = arn.split(":", 5)[-1]
        kind, _, name = resource.partition("/")
        if kind == "artifact":
            record = self.records.get(ARTIFACT, arn)
            return (ARTIFACT, record) if record else None
        for lineage, prefix in (
            (ACTION, "action"),
            (CONTEXT, "context"),
            (TRIAL_COMPONENT, "experiment-trial-component"),
        ):
            if kind == prefix:
                record = self.records.get(lineage, name)
                if record is None:  # names keep their case; ARNs are lower case
                    record = next(
                        (r for r in self.records.list(lineage) if r[f"{lineage}Arn"] == arn), None
                    )
                return (lineage, record) if record else None
        return None

    @staticmethod
    def _type_of(lineage: str, record: dict[str, Any]) -> str:
        if lineage == TRIAL_COMPONENT:
            source = (record.get("Source") or {}).get("SourceType", "")
            return source.replace("SageMaker", "") or "TrialComponent"
        return str(record.get(f"{lineage}Type", ""))

    @staticmethod
    def _name_of(lineage: str, record: dict[str, Any]) -> str | None:
        return record.get(f"{lineage}Name")

    def add_association(self, **request: Any) -> dict[str, Any]:
        req = self._request("AddAssociation", request)
        return self._associate(req["SourceArn"], req["DestinationArn"], req.get("AssociationType"))

    def _associate(self, source: str, destination: str, kind: str | None) -> dict[str, Any]:
        ends = []
        for member, arn in (("SourceArn", source), ("DestinationArn", destination)):
            found = self._entity(arn)
            if found is None:
                raise ServiceError(
                    "ResourceNotFound",
                    f"{member}: {arn} is not a lineage entity (artifact, action, context or "
                    "trial component) in this account",
                )
            ends.append(found)
        now = time.time()
        record = {
            "SourceArn": source,
            "DestinationArn": destination,
            "SourceType": self._type_of(*ends[0]),
            "DestinationType": self._type_of(*ends[1]),
            "SourceName": self._name_of(*ends[0]),
            "DestinationName": self._name_of(*ends[1]),
            "AssociationType": kind or "ContributedTo",
            "CreationTime": now,
        }
        self.records.put(ASSOCIATION, f"{source}|{destination}", record, now)
        return {"SourceArn": source, "DestinationArn": destination}

    def delete_association(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteAssociation", request)
        key = f"{req['SourceArn']}|{req['DestinationArn']}"
        if not self.records.delete(ASSOCIATION, key):
            raise self._missing("Association", key)
        return {"SourceArn": req["SourceArn"], "DestinationArn": req["DestinationArn"]}

    def _drop_associations(self, arn: str) -> None:
        for a in self.records.list(ASSOCIATION):
            if arn in (a["SourceArn"], a["DestinationArn"]):
                self.records.delete(ASSOCIATION, f"{a['SourceArn']}|{a['DestinationArn']}")

    def list_associations(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListAssociations", request)
        items = [
            a
            for a in self.records.list(ASSOCIATION)
            if all(
                not req.get(member) or a.get(member) == req[member]
                for member in (
                    "SourceArn",
                    "DestinationArn",
                    "SourceType",
                    "DestinationType",
                    "AssociationType",
                )
            )
        ]
        page, token = _page(items, req, "SourceArn")
        out = self._out("ListAssociations", {"AssociationSummaries": page})
        return {**out, "NextToken": token} if token else out

    # -- queries -------------------------------------------------------------------------------

    def query_lineage(self, **request: Any) -> dict[str, Any]:
        req = self._request("QueryLineage", request)
        direction = req.get("Direction", "Both")
        depth = int(req.get("MaxDepth", 10))
        filters = req.get("Filters") or {}
        edges_out: dict[str, list[dict[str, Any]]] = {}
        edges_in: dict[str, list[dict[str, Any]]] = {}
        for a in self.records.list(ASSOCIATION):
            edges_out.setdefault(a["SourceArn"], []).append(a)
            edges_in.setdefault(a["DestinationArn"], []).append(a)
        starts = req.get("StartArns") or []
        seen = set(starts)
        frontier = list(starts)
        edges: dict[tuple[str, str], dict[str, Any]] = {}
        for _ in range(depth):
            following = []
            for arn in frontier:
                steps = []
                if direction in ("Descendants", "Both"):
                    steps += [(a, a["DestinationArn"]) for a in edges_out.get(arn, [])]
                if direction in ("Ascendants", "Both"):
                    steps += [(a, a["SourceArn"]) for a in edges_in.get(arn, [])]
                for assoc, nxt in steps:
                    edges[(assoc["SourceArn"], assoc["DestinationArn"])] = assoc
                    if nxt not in seen:
                        seen.add(nxt)
                        following.append(nxt)
            frontier = following
            if not frontier:
                break
        vertices = []
        for arn in seen:
            if arn in starts:
                continue
            found = self._entity(arn)
            if found is None:
                continue
            lineage, record = found
            vertex = {"Arn": arn, "Type": self._type_of(lineage, record), "LineageType": lineage}
            if _passes(vertex, record, filters):
                vertices.append(vertex)
        vertices.sort(key=lambda v: v["Arn"])
        out: dict[str, Any] = {"Vertices": vertices, "Edges": []}
        if req.get("IncludeEdges", True):
            out["Edges"] = [
                {
                    "SourceArn": a["SourceArn"],
                    "DestinationArn": a["DestinationArn"],
                    "AssociationType": a["AssociationType"],
                }
                for a in edges.values()
            ]
        return out

    def lineage_graph(
        self, *, model: str | None = None, endpoint: str | None = None
    ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
        """(start ARN, vertices with the start, edges, labels) of the lineage of a model (its
        model data artifact) or of an endpoint (its context), for the console's graph."""
        start = None
        if model:
            described = self.describe_model(ModelName=model)
            containers = [described.get("PrimaryContainer"), *described.get("Containers", [])]
            for container in containers:
                found = self._artifact_by_uri((container or {}).get("ModelDataUrl") or "")
                if found:
                    start = found["ArtifactArn"]
                    break
        elif endpoint:
            arn = self.runtime.arn("sagemaker", f"endpoint/{endpoint.lower()}")
            start = next(
                (
                    c["ContextArn"]
                    for c in self.records.list(CONTEXT)
                    if c["Source"]["SourceUri"] == arn
                ),
                None,
            )
        if start is None:
            raise ServiceError(
                "ResourceNotFound",
                f"no lineage recorded for {'model ' + model if model else 'endpoint ' + str(endpoint)}"
                " (lineage starts when a model's data comes from a training job or an endpoint is deployed)",
            )
        result = self.query_lineage(StartArns=[start], Direction="Both", IncludeEdges=True)
        vertices = list(result["Vertices"])
        found_start = self._entity(start)
        assert found_start is not None
        vertices.append(
            {"Arn": start, "Type": self._type_of(*found_start), "LineageType": found_start[0]}
        )
        labels: dict[str, str] = {}
        for v in vertices:
            entity = self._entity(v["Arn"])
            if entity is None:
                continue
            lineage, record = entity
            source = record.get("Source") or {}
            labels[v["Arn"]] = str(
                record.get(f"{lineage}Name")
                if lineage in (ACTION, TRIAL_COMPONENT)
                else source.get("SourceUri") or record.get(f"{lineage}Name") or v["Arn"]
            )
        return start, vertices, result["Edges"], labels

    # -- automatic lineage --------------------------------------------------------------------

    def _artifact_by_uri(self, uri: str) -> dict[str, Any] | None:
        return next(
            (r for r in self.records.list(ARTIFACT) if r["Source"]["SourceUri"] == uri), None
        )

    def _auto_artifact(self, uri: str, artifact_type: str) -> str:
        with _auto_lock:
            found = self._artifact_by_uri(uri)
            if found is not None:
                return str(found["ArtifactArn"])
            return str(
                self.create_artifact(Source={"SourceUri": uri}, ArtifactType=artifact_type)[
                    "ArtifactArn"
                ]
            )

    def _auto_named(self, kind: str, name: str, body: dict[str, Any]) -> str:
        record = self.records.get(kind, name)
        if record is not None:
            return str(record[f"{kind}Arn"])
        if kind == TRIAL_COMPONENT:
            arn = self.runtime.arn("sagemaker", f"experiment-trial-component/{name.lower()}")
            now = time.time()
            full = {
                **body,
                "TrialComponentName": name,
                "TrialComponentArn": arn,
                "DisplayName": name,
                "CreationTime": now,
                "LastModifiedTime": now,
            }
            self.records.put(TRIAL_COMPONENT, name, full, now)
            return arn
        return str(self._named(kind, f"Create{kind}", {f"{kind}Name": name, **body})[f"{kind}Arn"])

    def record_lineage(
        self, kind: str, name: str, variants: list[dict[str, Any]] | None = None
    ) -> None:
        """Lineage of a finished job or a deployed endpoint (called by the backend).  A failure
        here is a bug of the runtime; the job or endpoint it describes stays as it is."""
        record = self.records.get(kind, name)
        if record is None:
            return
        try:
            if kind == "TrainingJob":
                self.lineage_training_job(record)
            elif kind == "ProcessingJob":
                self.lineage_processing_job(record)
            elif kind == "Endpoint":
                self.lineage_endpoint(record, variants or [])
            elif kind == "ModelPackage":
                self.lineage_model_package(record)
        except (ServiceError, KeyError):
            log.exception("lineage of %s %s could not be recorded", kind, name)

    def lineage_training_job(self, job: dict[str, Any]) -> str:
        """Trial component, Image, DataSet and Model artifacts of a finished training job."""
        name = job["TrainingJobName"]
        tc = self._auto_named(
            TRIAL_COMPONENT,
            f"{name}-aws-training-job",
            {
                "Source": {
                    "SourceArn": job["TrainingJobArn"],
                    "SourceType": "SageMakerTrainingJob",
                },
                "Status": {"PrimaryStatus": job["TrainingJobStatus"]},
                "StartTime": job.get("TrainingStartTime"),
                "EndTime": job.get("TrainingEndTime"),
            },
        )
        image = (job.get("AlgorithmSpecification") or {}).get("TrainingImage")
        if image:
            self._associate(self._auto_artifact(image, "Image"), tc, "ContributedTo")
        for channel in job.get("InputDataConfig") or []:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            if uri:
                self._associate(self._auto_artifact(uri, "DataSet"), tc, "ContributedTo")
        model = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if model:
            self._associate(tc, self._auto_artifact(model, "Model"), "Produced")
        return tc

    def lineage_processing_job(self, job: dict[str, Any]) -> str:
        name = job["ProcessingJobName"]
        tc = self._auto_named(
            TRIAL_COMPONENT,
            f"{name}-aws-processing-job",
            {
                "Source": {
                    "SourceArn": job["ProcessingJobArn"],
                    "SourceType": "SageMakerProcessingJob",
                },
                "Status": {"PrimaryStatus": job["ProcessingJobStatus"]},
            },
        )
        image = (job.get("AppSpecification") or {}).get("ImageUri")
        if image:
            self._associate(self._auto_artifact(image, "Image"), tc, "ContributedTo")
        for item in job.get("ProcessingInputs") or []:
            uri = (item.get("S3Input") or {}).get("S3Uri")
            if uri:
                self._associate(self._auto_artifact(uri, "DataSet"), tc, "ContributedTo")
        for item in (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            uri = (item.get("S3Output") or {}).get("S3Uri")
            if uri:
                self._associate(tc, self._auto_artifact(uri, "DataSet"), "Produced")
        return tc

    def lineage_endpoint(self, endpoint: dict[str, Any], variants: list[dict[str, Any]]) -> str:
        """The Endpoint context and a ModelDeployment action fed by the models' artifacts."""
        name = endpoint["EndpointName"]
        suffix = _digest(endpoint["EndpointArn"])[:8]
        context = self._auto_named(
            CONTEXT,
            f"{name}-{suffix}",
            {"Source": {"SourceUri": endpoint["EndpointArn"]}, "ContextType": "Endpoint"},
        )
        config_arn = self.runtime.arn(
            "sagemaker", f"endpoint-config/{endpoint['EndpointConfigName'].lower()}"
        )
        action = self._auto_named(
            ACTION,
            f"{name}-{_digest(config_arn)[:8]}-deployment",
            {
                "Source": {"SourceUri": config_arn},
                "ActionType": "ModelDeployment",
                "Status": "Completed",
            },
        )
        self._associate(action, context, "AssociatedWith")
        for variant in variants:
            model = variant.get("Model") or {}
            containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else []
            for container in containers or model.get("Containers") or []:
                if container.get("ModelDataUrl"):
                    model_artifact = self._auto_artifact(container["ModelDataUrl"], "Model")
                    self._associate(model_artifact, action, "ContributedTo")
                if container.get("Image"):
                    image_artifact = self._auto_artifact(container["Image"], "Image")
                    self._associate(image_artifact, action, "ContributedTo")
        return context

    def lineage_feature_group(self, group: dict[str, Any]) -> str:
        return self._auto_named(
            CONTEXT,
            f"{group['FeatureGroupName']}-{int(group['CreationTime'])}-feature-group",
            {"Source": {"SourceUri": group["FeatureGroupArn"]}, "ContextType": "FeatureGroup"},
        )

    def lineage_model_package(self, package: dict[str, Any]) -> str:
        """A ModelPackage context; the package's model artifacts ContributedTo it."""
        arn = package["ModelPackageArn"]
        context = self._auto_named(
            CONTEXT,
            f"{arn.rsplit('/', 1)[-1].replace('/', '-')}-{_digest(arn)[:8]}",
            {"Source": {"SourceUri": arn}, "ContextType": "ModelPackage"},
        )
        spec = package.get("InferenceSpecification") or {}
        for container in spec.get("Containers") or []:
            if container.get("ModelDataUrl"):
                model = self._auto_artifact(container["ModelDataUrl"], "Model")
                self._associate(model, context, "ContributedTo")
        return context


def _passes(vertex: dict[str, Any], record: dict[str, Any], filters: dict[str, Any]) -> bool:
    if filters.get("Types") and vertex["Type"] not in filters["Types"]:
        return False
    if filters.get("LineageTypes") and vertex["LineageType"] not in filters["LineageTypes"]:
        return False
    created = record.get("CreationTime", 0)
    modified = record.get("LastModifiedTime", created)
    for member, value, before in (
        ("CreatedBefore", created, True),
        ("CreatedAfter", created, False),
        ("ModifiedBefore", modified, True),
        ("ModifiedAfter", modified, False),
    ):
        bound = filters.get(member)
        if bound is not None and (value >= bound if before else value <= bound):
            return False
    wanted = filters.get("Properties") or {}
    props = record.get("Properties") or {}
    return all(props.get(k) == v for k, v in wanted.items())


def _page(
    items: list[dict[str, Any]], req: dict[str, Any], name_key: str
) -> tuple[list[dict[str, Any]], str | None]:
    for member, test in (
        ("CreatedAfter", lambda r, t: r["CreationTime"] > t),
        ("CreatedBefore", lambda r, t: r["CreationTime"] < t),
    ):
        if req.get(member) is not None:
            items = [r for r in items if test(r, req[member])]
    key = name_key if req.get("SortBy") == "Name" else "CreationTime"
    items.sort(
        key=lambda r: r.get(key) or 0, reverse=req.get("SortOrder", "Descending") == "Descending"
    )
    try:
        start = int(req.get("NextToken") or 0)
    except ValueError:
        raise ServiceError(
            "ValidationException", f"Invalid pagination token {req['NextToken']!r}"
        ) from None
    limit = int(req.get("MaxResults") or 10)
    token = str(start + limit) if start + limit < len(items) else None
    return items[start : start + limit], token
