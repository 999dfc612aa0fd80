"""Batch transform: run a model over every object under an S3 prefix.

``run_transform_job`` implements the CreateTransformJob options:

* every object under ``TransformInput.DataSource.S3DataSource.S3Uri`` (``S3Prefix``);
  the output of ``<prefix>/<path>`` is ``<S3OutputPath>/<path>.out``;
* ``SplitType`` ``None`` (one request per object) or ``Line`` (one record per line);
* ``BatchStrategy`` ``SingleRecord`` or ``MultiRecord`` (records packed up to
  ``MaxPayloadInMB``), ``MaxConcurrentTransforms`` requests in flight at once;
* ``AssembleWith`` ``Line`` (one output record per line) or ``None`` (concatenated);
* ``DataProcessing``: ``InputFilter``, ``JoinSource`` ``Input`` and ``OutputFilter`` on CSV
  records, with the JSONPath subset AWS documents for CSV (a record is the array of its fields:
  ``$``, ``$[1:]`` drops the first column, ``$[0,-1]`` keeps the first and the last, ``$[0,5:]``).

Requests go to a model server (:mod:`localaws.sagemaker.model_server`) started for the job
with ``SAGEMAKER_BATCH=true``, as SageMaker does.  For the built-in XGBoost algorithm on CSV
records by line (with or without ``DataProcessing``), the job predicts in-process instead,
on whole columns: pyarrow splits the fields (verbatim, no quoting) and parses the features as
numbers (as ``float()`` does) in blocks on every core, XGBoost predicts every record at once
with the same :class:`~localaws.sagemaker.model_server.BoosterPredictor`, the join and
filters are column selections, and the records are written from pyarrow's buffers, so the
result is byte-for-byte what the server path writes.  An object that is not plain enough for
that (carriage returns, blank or ragged lines, a number only Python's parser reads) goes
record by record through the container's own decode / predict / encode, in process.
``MaxConcurrentTransforms`` objects are transformed at once.

Outputs are staged locally and written only when every input succeeded; a failed job leaves
no output.  A cancelled job (``cancelled`` set) returns without writing anything.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

import numpy as np

from localaws.errors import UserError
from localaws.lambdakit.storage import NoSuchKey
from localaws.sagemaker import codecs, hosting, model_server

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SPLIT_TYPES = ("None", "Line")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
ASSEMBLE_WITH = ("None", "Line")
JOIN_SOURCES = ("None", "Input")
DEFAULT_MAX_PAYLOAD_MB = 6
MB = 1024 * 1024
REQUEST_TIMEOUT_S = 3600.0  # ModelClientConfig.InvocationsTimeoutInSeconds maximum


class TransformCancelled(Exception):
    """Raised inside the job when ``cancelled`` is set; the job returns quietly."""


# -- JSONPath on CSV records -------------------------------------------------------------------

_INDEX = re.compile(r"^\s*(-?\d+)\s*$")
_SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*$")


@dataclass(frozen=True)
class CsvFilter:
    """A JSONPath filter on a CSV record, which is the array of its fields."""

    expression: str
    items: tuple[int | slice, ...] | None  # None: "$", the whole record

    @classmethod
    def parse(cls, expression: str | None, field_name: str) -> CsvFilter:
        expr = (expression or "$").strip()
        if expr == "$":
            return cls(expr, None)
        match = re.fullmatch(r"\$\[(.+)\]", expr)
        if not match:
            raise UserError(
                f"{field_name}: {expression!r} is not a JSONPath filter for CSV records; "
                "a CSV record is an array of fields: use '$', '$[1:]', '$[0,-1]' or '$[0,5:]'"
            )
        items: list[int | slice] = []
        for part in match.group(1).split(","):
            if m := _INDEX.match(part):
                items.append(int(m.group(1)))
            elif m := _SLICE.match(part):
                start, stop = m.groups()
                items.append(
                    slice(
                        None if start is None else int(start), None if stop is None else int(stop)
                    )
                )
            else:
                raise UserError(
                    f"{field_name}: {part.strip()!r} in {expression!r} is neither an index nor a "
                    "slice; use numbers like 0, -1, 1: or 2:5"
                )
        return cls(expr, tuple(items))

    @property
    def is_identity(self) -> bool:
        return self.items is None

    def apply(self, fields: list[bytes]) -> list[bytes]:
        if self.items is None:
            return fields
        out: list[bytes] = []
        n = len(fields)
        for item in self.items:
            if isinstance(item, slice):
                out.extend(fields[item])
            else:
                if not -n <= item < n:
                    raise IndexError(f"index {item} of a record with {n} fields")
                out.append(fields[item])
        return out

    def columns(self, n: int) -> list[int]:
        """The column indices the filter keeps from records of ``n`` fields."""
        return [int(i) for i in self.apply([str(i).encode() for i in range(n)])]


# -- the job's options --------------------------------------------------------------------------


@dataclass
class TransformPlan:
    name: str
    input_uri: str
    output_path: str
    content_type: str | None
    split_type: str
    batch_strategy: str
    max_payload: int  # bytes, 0 = no limit
    concurrency: int
    accept: str | None
    assemble_with: str
    input_filter: CsvFilter
    join_input: bool
    output_filter: CsvFilter
    environment: dict[str, str]

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> TransformPlan:
        tin = job.get("TransformInput") or {}
        source = (tin.get("DataSource") or {}).get("S3DataSource") or {}
        tout = job.get("TransformOutput") or {}
        processing = job.get("DataProcessing") or {}
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise UserError(
                f"TransformInput.DataSource.S3DataSource.S3DataType: {source.get('S3DataType')!r} "
                "is not supported locally; use S3Prefix"
            )
        if tin.get("CompressionType", "None") not in ("None", None):
            raise UserError(
                f"TransformInput.CompressionType: {tin.get('CompressionType')!r} is not supported "
                "locally; use None with uncompressed input"
            )
        plan = cls(
            name=job.get("TransformJobName", "transform"),
            input_uri=_required(source, "S3Uri", "TransformInput.DataSource.S3DataSource.S3Uri"),
            output_path=_required(tout, "S3OutputPath", "TransformOutput.S3OutputPath").rstrip("/"),
            content_type=tin.get("ContentType"),
            split_type=_choice(
                tin.get("SplitType") or "None", SPLIT_TYPES, "TransformInput.SplitType"
            ),
            batch_strategy=_choice(
                job.get("BatchStrategy") or "MultiRecord", BATCH_STRATEGIES, "BatchStrategy"
            ),
            max_payload=int(job.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)) * MB,
            # Unset or 0: what the container's GET /execution-parameters says (AWS's rule);
            # the local model server says one per CPU.
            concurrency=max(1, int(job.get("MaxConcurrentTransforms") or os.cpu_count() or 1)),
            accept=tout.get("Accept"),
            assemble_with=_choice(
                tout.get("AssembleWith") or "None", ASSEMBLE_WITH, "TransformOutput.AssembleWith"
            ),
            input_filter=CsvFilter.parse(
                processing.get("InputFilter"), "DataProcessing.InputFilter"
            ),
            join_input=_choice(
                processing.get("JoinSource") or "None", JOIN_SOURCES, "DataProcessing.JoinSource"
            )
            == "Input",
            output_filter=CsvFilter.parse(
                processing.get("OutputFilter"), "DataProcessing.OutputFilter"
            ),
            environment=dict(job.get("Environment") or {}),
        )
        filtering = (
            plan.join_input
            or not plan.input_filter.is_identity
            or not plan.output_filter.is_identity
        )
        if filtering and plan.split_type != "Line":
            raise UserError(
                "DataProcessing: InputFilter, JoinSource and OutputFilter work on records; set "
                "TransformInput.SplitType to Line"
            )
        if filtering and codecs.media_type(plan.content_type, codecs.CSV) != codecs.CSV:
            raise UserError(
                f"DataProcessing: filters and joins are supported locally for text/csv input, not "
                f"{plan.content_type}; set TransformInput.ContentType to text/csv"
            )
        if plan.join_input and codecs.media_type(plan.accept, codecs.CSV) != codecs.CSV:
            raise UserError(
                "DataProcessing.JoinSource: Input joins CSV records with CSV predictions; set "
                "TransformOutput.Accept to text/csv"
            )
        return plan

    @property
    def filtering(self) -> bool:
        return (
            self.join_input
            or not self.input_filter.is_identity
            or not self.output_filter.is_identity
        )


def _required(obj: dict[str, Any], key: str, field_name: str) -> str:
    value = obj.get(key)
    if not value:
        raise UserError(f"{field_name}: required")
    return str(value)


def _choice(value: str, allowed: tuple[str, ...], field_name: str) -> str:
    if value not in allowed:
        raise UserError(f"{field_name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def output_uri(input_prefix: str, object_uri: str, output_path: str) -> str:
    """``s3://b/in/a/x.csv`` under prefix ``s3://b/in/`` -> ``<output_path>/a/x.csv.out``."""
    base = input_prefix[: input_prefix.rfind("/") + 1] if "/" in input_prefix[5:] else input_prefix
    relative = (
        object_uri[len(base) :] if object_uri.startswith(base) else object_uri.rsplit("/", 1)[-1]
    )
    return f"{output_path}/{relative.lstrip('/')}.out"


# -- predictors ---------------------------------------------------------------------------------


class ServerPredictor:
    """POSTs mini-batches to a model server started for the job."""

    def __init__(self, server: hosting.ServerProcess):
        self.server = server
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                model_server.HOST, self.server.port, timeout=REQUEST_TIMEOUT_S
            )
        return conn

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> bytes:
        headers = {"Content-Type": content_type or codecs.CSV}
        if accept:
            headers["Accept"] = accept
        conn = self._conn()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            self._local.conn = None
            raise UserError(
                f"the model server stopped answering ({e}); its log: {self.server.log_path}\n"
                f"{self.server.log_tail()}"
            ) from e
        if response.status >= 300:
            raise ModelRequestError(response.status, data.decode("utf-8", "replace"))
        return data


class ModelRequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


# -- record handling (the server path) -------------------------------------------------------------


def _records(data: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def _batches(records: list[bytes], plan: TransformPlan, source: str) -> Iterator[list[bytes]]:
    if plan.batch_strategy == "SingleRecord":
        for record in records:
            _check_size(len(record), plan, source)
            yield [record]
        return
    batch: list[bytes] = []
    size = 0
    for record in records:
        _check_size(len(record), plan, source)
        if batch and plan.max_payload and size + len(record) + 1 > plan.max_payload:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record) + 1
    if batch:
        yield batch


def _check_size(size: int, plan: TransformPlan, source: str) -> None:
    if plan.max_payload and size > plan.max_payload:
        raise UserError(
            f"{source}: a record of {size} bytes is larger than MaxPayloadInMB "
            f"({plan.max_payload // MB} MB); raise MaxPayloadInMB or split the record"
        )


def _split_output(data: bytes, expected: int, source: str, first: int) -> list[bytes]:
    lines = _records(data)
    if len(lines) != expected:
        raise UserError(
            f"{source}: records {first + 1}-{first + expected}: the model returned {len(lines)} "
            f"output records for {expected} input records, so they cannot be joined; the model "
            "must answer one line per record"
        )
    return lines


def _apply_filter(
    flt: CsvFilter, fields: list[bytes], field_name: str, source: str, index: int
) -> list[bytes]:
    try:
        return flt.apply(fields)
    except IndexError as e:
        raise UserError(
            f"{field_name}: {flt.expression} on {source} record {index + 1}: {e}"
        ) from e


def transform_object(
    data: bytes,
    plan: TransformPlan,
    invoke: Callable[[bytes], bytes],
    pool: ThreadPoolExecutor,
    source: str,
    cancelled: threading.Event,
) -> bytes:
    """The output object for one input object, through ``invoke`` (one HTTP request)."""
    if plan.split_type == "None":
        return invoke(data) if data else b""
    originals = _records(data)
    if plan.input_filter.is_identity:
        records = originals
    else:
        records = [
            b",".join(
                _apply_filter(
                    plan.input_filter, r.split(b","), "DataProcessing.InputFilter", source, i
                )
            )
            for i, r in enumerate(originals)
        ]
    batches = list(_batches(records, plan, source))

    def run(batch: list[bytes]) -> bytes:
        if cancelled.is_set():
            raise TransformCancelled
        return invoke(b"\n".join(batch))

    responses = list(pool.map(run, batches))
    if not plan.filtering:
        if plan.assemble_with == "Line":
            return b"".join(r if r.endswith(b"\n") or not r else r + b"\n" for r in responses)
        return b"".join(responses)
    out: list[bytes] = []
    first = 0
    for batch, response in zip(batches, responses, strict=True):
        outputs = _split_output(response, len(batch), source, first)
        for j, output in enumerate(outputs):
            fields = output.split(b",")
            if plan.join_input:
                fields = originals[first + j].split(b",") + fields
            fields = _apply_filter(
                plan.output_filter, fields, "DataProcessing.OutputFilter", source, first + j
            )
            out.append(b",".join(fields))
        first += len(batch)
    sep = b"\n" if plan.assemble_with == "Line" else b""
    return sep.join(out) + (sep if out else b"")


# -- the in-process fast path ---------------------------------------------------------------------------


def fast_path_eligible(plan: TransformPlan, model: dict[str, Any]) -> bool:
    """The built-in XGBoost algorithm alone, CSV in and out, records by line (with or without
    DataProcessing filters and join: the in-process path implements them too)."""
    containers = hosting.model_containers(model)
    if len(containers) != 1:
        return False
    kind, _ = hosting.container_kind(containers[0][1], containers[0][0])
    accept = plan.accept or _default_accept(plan, model)
    return (
        kind == model_server.KIND_XGBOOST
        and codecs.media_type(plan.content_type, codecs.CSV) == codecs.CSV
        and codecs.media_type(accept, codecs.CSV) == codecs.CSV
        and plan.split_type == "Line"
    )


def _default_accept(plan: TransformPlan, model: dict[str, Any]) -> str:
    env = {**(hosting.model_containers(model)[0][1].get("Environment") or {}), **plan.environment}
    return env.get(model_server.ENV_DEFAULT_ACCEPT, codecs.CSV)


_BLANKS = (b" ", b"\t", b"\x0b", b"\x0c")
_BLANK_LINE = re.compile(rb"(?m)^[ \t\x0b\x0c]+$")


def _column_count(data: bytes) -> int:
    """The number of fields of the object's first non-empty line (0: no such line)."""
    start, size = 0, len(data)
    while start < size:
        end = data.find(b"\n", start)
        end = size if end < 0 else end
        if end > start:
            return data.count(b",", start, end) + 1
        start = end + 1
    return 0


def _read_fields(data: bytes, n_cols: int, numbers: frozenset[int] = frozenset()) -> Any:
    """A headerless CSV object as a pyarrow table: the columns in ``numbers`` as float64,
    parsed as the model server's ``float()`` parses them (an empty field is null), the others
    as their raw fields (strings, verbatim); None when the object is not plain enough for the
    vectorised path to treat exactly as the record-by-record path does (carriage returns,
    whitespace-only lines, ragged rows, a field pyarrow does not read as a number).

    Parsed in blocks on every core, as ``pyarrow.csv.read_csv`` does by default."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if b"\r" in data:
        return None
    if (data[:1] in _BLANKS or any(b"\n" + c in data for c in _BLANKS)) and _BLANK_LINE.search(
        data
    ):
        return None
    if n_cols == 0:
        return pa.table({})
    names = [f"f{i}" for i in range(n_cols)]
    types = {n: pa.float64() if i in numbers else pa.string() for i, n in enumerate(names)}
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(
                quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def _features(table: Any, keep: list[int]) -> np.ndarray | None:
    """The kept columns as the model server decodes them: ``float()`` of each field (empty =
    NaN) narrowed to float32; None when a field needs Python's parser (or fails it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    matrix = np.empty((table.num_rows, len(keep)), dtype=np.float32)
    for j, i in enumerate(keep):
        column = table.column(i)
        if not pa.types.is_floating(column.type):  # a text column the output also writes
            try:
                empty = pc.equal(column, "")
                column = pc.cast(
                    pc.if_else(empty, pa.scalar(None, pa.string()), column), pa.float64()
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                return None
        matrix[:, j] = column.to_numpy(zero_copy_only=False)
    return matrix


def _lines_fit(data: bytes, limit: int) -> bool:
    """Whether no line of ``data`` is longer than ``limit`` bytes (its newline not counted):
    from each line start, the last newline within ``limit + 1`` bytes starts the next
    stretch, so the object is crossed in about ``len(data) / limit`` short backward scans."""
    pos, end = 0, len(data)
    while end - pos > limit:
        newline = data.rfind(b"\n", pos, pos + limit + 1)
        if newline < 0:
            return False
        pos = newline + 1
    return True


def _output_text_columns(plan: TransformPlan, n_cols: int) -> frozenset[int] | None:
    """The input columns the output writes verbatim (the join's, through the OutputFilter;
    one score per record); None when the OutputFilter does not fit such records."""
    if not (plan.filtering and plan.join_input):
        return frozenset()
    try:
        chosen = plan.output_filter.columns(n_cols + 1)
    except IndexError:
        return None
    return frozenset(i for i in chosen if i < n_cols)


def _vectorised(
    data: bytes, plan: TransformPlan, predictor: model_server.BoosterPredictor, source: str
) -> list[Any] | bytes | None:
    """The output object, computed on whole columns: pyarrow parses the features as numbers
    and keeps the fields the output writes as text, XGBoost predicts every record at once,
    and the join and filters are column selections.  Byte for byte what the record-by-record
    path writes; None when the object needs that path (it then gives the exact answer or
    error)."""
    import pyarrow.compute as pc

    n_cols = _column_count(data)
    try:
        keep = plan.input_filter.columns(n_cols)
    except IndexError:
        return None
    text = _output_text_columns(plan, n_cols)
    if text is None:
        return None
    table = _read_fields(data, n_cols, frozenset(keep) - text)
    if table is None:
        return None
    if table.num_rows == 0:
        return b""
    if not keep:
        return None
    if plan.max_payload and len(data) > plan.max_payload:
        # A record is its kept fields joined by commas: no longer than its line times the
        # most a field is repeated.  Longer lines go the record path, which names them.
        repeats = max(keep.count(i) for i in set(keep))
        if not _lines_fit(data, plan.max_payload // repeats):
            return None
    matrix = _features(table, keep)
    if matrix is None:
        return None
    if b"(" in data and np.isnan(matrix).any():
        return None  # pyarrow reads 'nan(...)' as NaN, float() refuses it
    try:
        preds = predictor.predict(matrix)
    except model_server.InvocationError as e:
        raise UserError(f"{source}: ClientError: {e.status}: {e.message}") from e
    if preds.ndim != 1:
        return None  # several scores per record: the record path splits them as text
    scores = score_texts(preds)
    if not plan.filtering:
        return list(pc.binary_join_element_wise(scores, "", "\n").chunks)
    # The input columns only the output writes as text (the others were parsed as numbers).
    fields: list[Any] = (
        [table.column(i) if i in text else None for i in range(n_cols)] if plan.join_input else []
    )
    fields.append(scores)
    try:
        picked = [fields[i] for i in plan.output_filter.columns(len(fields))]
    except IndexError:
        return None
    chosen = [f for f in picked if f is not None]
    if not chosen or len(chosen) != len(picked):
        return None
    records = chosen[0] if len(chosen) == 1 else pc.binary_join_element_wise(*chosen, ",")
    if plan.assemble_with == "Line":  # each record followed by a newline
        records = pc.binary_join_element_wise(records, "", "\n")
    return list(records.chunks)


def score_texts(preds: np.ndarray) -> Any:
    """``str()`` of each score as a Python float (the container's text), as a pyarrow string
    array: pyarrow's shortest round-trip text is Python's for non-integral values from 1e-4
    to 1e9; the others (whole numbers, tiny, huge, NaN) are formatted by Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = preds.astype(np.float64)
    texts = pc.cast(pa.array(values), pa.string())
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        other = (
            ~np.isfinite(values)
            | (magnitude < 1e-4)
            | (magnitude >= 1e9)
            | (values == np.trunc(values))
        )
    if other.any():
        python = pa.array([str(v) for v in values[other].tolist()], pa.string())
        texts = pc.replace_with_mask(texts, pa.array(other), python)
    return pa.chunked_array([texts])


def _write_records(chunks: list[Any], out: Any) -> None:
    """Write the concatenated values of string arrays, straight from their data buffers."""
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        _, offsets, values = chunk.buffers()
        starts = np.frombuffer(offsets, dtype=np.int32, count=chunk.offset + len(chunk) + 1)
        out.write(memoryview(values)[starts[chunk.offset] : starts[-1]])


class _PredictorCache:
    """Loaded models of recent in-process transforms, by their archive's file: a workflow
    (or a user) transforms with the same model again and again, and loading it (extract,
    parse, set up) cost more than a small transform.  An object replaced under the same URI
    is a new file (writes are a rename), so its inode and mtime give it a new key."""

    SIZE = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int, int, int], model_server.BoosterPredictor] = (
            OrderedDict()
        )

    def get(
        self, key: tuple[str, int, int, int], load: Callable[[], model_server.BoosterPredictor]
    ) -> model_server.BoosterPredictor:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        predictor = load()  # outside the lock: two first jobs may both load; one is kept
        with self._lock:
            self._items[key] = predictor
            while len(self._items) > self.SIZE:
                self._items.popitem(last=False)
        return predictor


_predictors = _PredictorCache()


def _fast_predictor(
    runtime: Runtime, model: dict[str, Any], workdir: Path
) -> model_server.BoosterPredictor:
    where, container = hosting.model_containers(model)[0]
    url = container.get("ModelDataUrl")
    if not url:
        raise UserError(f"{where}.ModelDataUrl: required by the built-in XGBoost algorithm")
    archive = runtime.storage.path(url)  # read in place: the runtime's storage is local
    try:
        stat = archive.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise NoSuchKey(url) from None
    if not S_ISREG(stat.st_mode):
        raise NoSuchKey(url)

    def load() -> model_server.BoosterPredictor:
        model_dir = workdir / "model"
        hosting._extract(archive, model_dir, f"{where}.ModelDataUrl {url}")
        try:
            return model_server.BoosterPredictor.from_model_dir(
                model_dir, nthread=os.cpu_count() or 1
            )
        except (RuntimeError, OSError) as e:
            raise UserError(f"{where}.ModelDataUrl {url}: the model failed to load: {e}") from e

    key = (str(archive), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return _predictors.get(key, load)


def _container_invoke(
    predictor: model_server.BoosterPredictor, plan: TransformPlan, default_accept: str
) -> Callable[[bytes], bytes]:
    """One request to the built-in container, in process: what the model server answers."""

    def invoke(body: bytes) -> bytes:
        try:
            data = codecs.decode(body, plan.content_type)
            out_type = codecs.negotiate_accept(plan.accept, default_accept)
            return codecs.encode(predictor.predict(data), out_type, batch=True)
        except codecs.CodecError as e:
            raise ModelRequestError(e.status, str(e)) from e
        except model_server.InvocationError as e:
            raise ModelRequestError(e.status, e.message) from e

    return invoke


def _transform_in_process(
    data: bytes,
    out: Path,
    plan: TransformPlan,
    predictor: model_server.BoosterPredictor,
    default_accept: str,
    source: str,
    cancelled: threading.Event,
) -> None:
    result = _vectorised(data, plan, predictor, source)
    if result is None:  # record by record, exactly as through the model server
        container = _container_invoke(predictor, plan, default_accept)

        def invoke(body: bytes) -> bytes:
            try:
                return container(body)
            except ModelRequestError as e:
                raise UserError(f"{source}: ClientError: {e.status}: {e.message}") from e

        with ThreadPoolExecutor(1) as pool:
            result = transform_object(data, plan, invoke, pool, source, cancelled)
    del data
    with open(out, "wb") as fh:
        if isinstance(result, bytes):
            fh.write(result)
        else:
            _write_records(result, fh)


# -- the job ------------------------------------------------------------------------------------------------


def run_transform_job(
    runtime: Runtime,
    job: dict[str, Any],
    model: dict[str, Any],
    cancelled: threading.Event,
    log: Callable[[str], None],
    *,
    in_process: bool | None = None,
) -> None:
    """Run the transform job to completion; :class:`UserError` with the reason on failure.

    ``in_process``: None picks the in-process path when the job allows it; False forces the
    model server (True forces in-process, for jobs that allow it)."""
    plan = TransformPlan.from_job(job)
    storage = runtime.storage
    inputs = sorted(u for u in storage.list(plan.input_uri) if not u.endswith("/"))
    if not inputs:
        raise UserError(
            f"TransformInput.DataSource.S3DataSource.S3Uri: no objects under {plan.input_uri}; "
            "upload the input first"
        )
    fast = fast_path_eligible(plan, model) and in_process is not False
    if in_process and not fast:
        raise UserError(f"transform job {plan.name}: its options need the model server")
    work = Path(
        tempfile.mkdtemp(prefix=f"{plan.name}-", dir=runtime.layout.made(runtime.layout.transform))
    )
    server: hosting.ServerProcess | None = None
    written: list[str] = []
    try:
        log(f"{len(inputs)} input object(s) under {plan.input_uri}; "
            f"{'in-process XGBoost' if fast else 'model server'}, "
            f"{plan.concurrency} concurrent transform(s)")  # fmt: skip
        staged: list[tuple[Path, str]] = []
        if fast:
            predictor = _fast_predictor(runtime, model, work)
            default_accept = _default_accept(plan, model)

            def one(item: tuple[int, str]) -> tuple[Path, str] | None:
                i, uri = item
                if cancelled.is_set():
                    return None
                out = work / f"output-{i}"
                try:
                    _transform_in_process(
                        storage.read(uri), out, plan, predictor, default_accept, uri, cancelled
                    )
                except TransformCancelled:
                    return None
                log(f"{uri}: done")
                return out, output_uri(plan.input_uri, uri, plan.output_path)

            # MaxConcurrentTransforms objects at once (pyarrow and XGBoost release the GIL)
            workers = min(plan.concurrency, len(inputs))
            if workers == 1:  # the job's own thread does it
                results = [one(item) for item in enumerate(inputs)]
            else:
                with ThreadPoolExecutor(
                    workers, thread_name_prefix=f"transform-{plan.name}"
                ) as objects:
                    results = list(objects.map(one, enumerate(inputs)))
            if cancelled.is_set() or any(r is None for r in results):
                return
            staged = [r for r in results if r is not None]
        else:
            env = {**plan.environment, model_server.ENV_BATCH: "true"}
            spec = hosting.prepare_model(runtime, model, work / "model", extra_env=env)
            server = hosting.start_server(spec, work / "server")
            status, message = server.ping()
            if status != 200:
                raise UserError(f"the model failed to load: {message}")
            predictor_http = ServerPredictor(server)
            with ThreadPoolExecutor(
                plan.concurrency, thread_name_prefix=f"transform-{plan.name}"
            ) as pool:
                for i, uri in enumerate(inputs):
                    if cancelled.is_set():
                        return
                    data = storage.read(uri)

                    def invoke(body: bytes) -> bytes:
                        try:
                            return predictor_http.invoke(body, plan.content_type, plan.accept)
                        except ModelRequestError as e:
                            raise UserError(f"{uri}: ClientError: {e.status}: {e.message}") from e  # noqa: B023

                    try:
                        result = transform_object(data, plan, invoke, pool, uri, cancelled)
                    except TransformCancelled:
                        return
                    out = work / f"output-{i}"
                    out.write_bytes(result)
                    staged.append((out, output_uri(plan.input_uri, uri, plan.output_path)))
                    log(f"{uri}: done")
        if cancelled.is_set():
            return
        for path, uri in staged:
            _upload(runtime, path, uri)
            written.append(uri)
        log(f"wrote {len(written)} output object(s) under {plan.output_path}")
        written = []
    finally:
        for uri in written:  # a failure half-way through the upload: take it all back
            with contextlib.suppress(Exception):
                storage.delete(uri)
        if server is not None:
            server.stop(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
        if fast:  # the columns were pyarrow's: hand the runtime's freed buffers back to the OS
            import pyarrow as pa

            pa.default_memory_pool().release_unused()


def _upload(runtime: Runtime, path: Path, uri: str) -> None:
    runtime.storage.upload_from(path, uri)


__all__ = ["CsvFilter", "TransformPlan", "output_uri", "run_transform_job"]
